/* Consistency checks over a tracer's C data, for the test suite. */
#ifndef MT_SELFCHECK_H
#define MT_SELFCHECK_H

#include "common.h"

/* _core.selfcheck(tracer): a dict with 'problems' (a list of str, empty
 * when every invariant holds), 'depths' (a list of (ident, stack depth),
 * one per thread state, newest first) and 'records' (how many). */
PyObject *mt_selfcheck(PyObject *module, PyObject *tracer);

#endif /* MT_SELFCHECK_H */
