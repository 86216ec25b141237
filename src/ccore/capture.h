/* Captures: the Python code record and live modes run from a callback
 * (argument, return value and exception reprs), kept bounded and unable
 * to raise into the traced program.
 *
 * Callers save the in-flight exception and open a guard (guard.h) first:
 * a repr may run any code, release the GIL, or raise.
 */
#ifndef MT_CAPTURE_H
#define MT_CAPTURE_H

#include "common.h"

/* repr(obj) cut to `limit` characters (0: no cut); a repr that raises
 * gives a placeholder naming the exception. A new reference, or NULL with
 * no exception set when memory ran out. */
PyObject *mt_capture_repr(PyObject *obj, Py_ssize_t limit);

/* A tuple of (name, repr) pairs for the parameters of `rec`'s code as
 * bound in `frame`, in signature order; the names are cached in the
 * event log's per-record extras. NULL, no exception set, on failure. */
PyObject *mt_capture_args(MtTracer *tr, MtRecord *rec, PyFrameObject *frame);

#endif /* MT_CAPTURE_H */
