/* The hot path: one callable object per event kind, each with its own
 * vectorcall worker. */
#ifndef MT_CALLBACKS_H
#define MT_CALLBACKS_H

#include "common.h"

PyObject *mt_on_py_start(PyObject *, PyObject *const *, size_t, PyObject *);
PyObject *mt_on_py_resume(PyObject *, PyObject *const *, size_t, PyObject *);
PyObject *mt_on_py_throw(PyObject *, PyObject *const *, size_t, PyObject *);
PyObject *mt_on_py_return(PyObject *, PyObject *const *, size_t, PyObject *);
PyObject *mt_on_py_yield(PyObject *, PyObject *const *, size_t, PyObject *);
PyObject *mt_on_py_unwind(PyObject *, PyObject *const *, size_t, PyObject *);
PyObject *mt_on_call(PyObject *, PyObject *const *, size_t, PyObject *);
PyObject *mt_on_c_return(PyObject *, PyObject *const *, size_t, PyObject *);
PyObject *mt_on_c_raise(PyObject *, PyObject *const *, size_t, PyObject *);
PyObject *mt_on_line(PyObject *, PyObject *const *, size_t, PyObject *);
PyObject *mt_on_instruction(PyObject *, PyObject *const *, size_t, PyObject *);

/* A new callback object bound to `tr` that runs `handler`. */
PyObject *mt_callback_new(MtModuleState *state, MtTracer *tr,
                          vectorcallfunc handler);
int mt_callback_type_init(PyObject *module, MtModuleState *state);

#endif /* MT_CALLBACKS_H */
