/* Where CPython keeps its Python-level signal handlers: the table in
 * _PyRuntime.signals (Modules/signalmodule.c) that signal.signal() writes
 * and PyErr_CheckSignals() reads, one {tripped, func} entry per signal,
 * plus the is_tripped flag that says some entry is tripped.
 *
 * Only sigtable.c sees CPython's internal headers. This header hands out
 * addresses, sizes and offsets, no internal types; sigdefer.c checks the
 * table against signal.getsignal() before it trusts it.
 */
#ifndef MT_SIGTABLE_H
#define MT_SIGTABLE_H

#include <stddef.h>

typedef struct {
    char *entries;         /* &handlers[0] */
    size_t stride;         /* sizeof(handlers[0]) */
    size_t func_offset;    /* of `func` (the handler object) in an entry */
    size_t tripped_offset; /* of `tripped` (an int) in an entry */
    int *is_tripped;
    int nsig; /* entries; signal numbers are 1 .. nsig - 1 */
} MtSigTable;

void mt_sigtable_locate(MtSigTable *table);

/* True on the thread that runs Python signal handlers: CPython's own test
 * (the main thread of the main interpreter). Needs the GIL. */
int mt_sigtable_handles_signals(void);

#endif /* MT_SIGTABLE_H */
