/* Signals that land while monitrace runs Python code of its own.
 *
 * CPython runs a Python signal handler on the main thread at its next
 * check (an eval-breaker check, or a C function calling
 * PyErr_CheckSignals), whatever code runs there. A callback's Python code
 * (the filter, the threads= callable, a repr, the live printer) is such
 * code; an exception from the handler would surface inside it, and the
 * callback, which must not raise, could only drop it.
 *
 * So while that code runs on the main thread, every Python-level handler
 * in CPython's table (sigtable.h) is replaced by a stand-in that only
 * notes its signal. When the code is done, the real handlers are back and
 * the noted signals are tripped again, as if they had just arrived; a
 * pending call makes the interpreter look at them at its next check, in
 * the program's code. A handler therefore runs once, in the program, with
 * the program's frame, and what it raises reaches the program.
 *
 * Every such call is bracketed with mt_sigdefer_enter() and
 * mt_sigdefer_leave() (inside the guard of guard.h), as tightly as it can
 * be: a bracket costs a look at every entry of the table, and callbacks
 * that run no Python code should not pay it. Brackets nest. Both need the
 * GIL and no exception set; elsewhere than on the main thread, and when
 * the table could not be verified at import, they do nothing
 * (mt_sigdefer_active() is then 0).
 */
#ifndef MT_SIGDEFER_H
#define MT_SIGDEFER_H

#include "common.h"

/* Locate and verify CPython's handler table (module init). Never fails:
 * a table that does not match signal.getsignal() is simply not used. */
int mt_sigdefer_init(PyObject *module);

/* 1 when signals landing in monitrace's Python code are deferred to the
 * program; 0 when that code may see the handlers' exceptions itself. */
int mt_sigdefer_active(void);

void mt_sigdefer_enter(void);
void mt_sigdefer_leave(void);

/* Drop the exception raised by Python code we ran (a repr, the live
 * printer). A KeyboardInterrupt is not ours to swallow: it is re-armed so
 * that the program sees it at its next check. */
void mt_sigdefer_discard_error(void);

#endif /* MT_SIGDEFER_H */
