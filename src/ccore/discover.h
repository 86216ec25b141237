/* First and last sight of a function in a session: see discover.c. */
#ifndef MT_DISCOVER_H
#define MT_DISCOVER_H

#include "common.h"

/* Slow paths of the callbacks: find or make the record, asking the
 * filter first; NULL (no exception set) on failure, noted in the
 * session's failures, or when the session changed while the filter ran
 * (then touch it no more). */
MtRecord *mt_discover_code(MtTracer *tr, PyObject *code);
MtRecord *mt_discover_cfunc(MtTracer *tr, PyObject *callable,
                            const PyMethodDef *def, const void *cls);

/* The record's code object is being freed (records.c's co_extra free
 * function calls this, through mt_records_init's hook). */
void mt_discover_retire(MtRecord *rec);

#endif /* MT_DISCOVER_H */
