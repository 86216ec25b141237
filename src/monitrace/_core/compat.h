/* Every Python-version branch of monitrace._core lives here. */
#ifndef MT_COMPAT_H
#define MT_COMPAT_H

#if PY_VERSION_HEX < 0x030C0000
#error "monitrace needs CPython 3.12 or newer (sys.monitoring, PEP 669)"
#endif

/* The globals of the frame that delivered the current event (borrowed). */
#if PY_VERSION_HEX >= 0x030D0000
/* 3.13 returns a new reference from PyEval_GetFrameGlobals. */
static inline PyObject *
mt_compat_frame_globals_new(void)
{
    return PyEval_GetFrameGlobals();
}
#else
static inline PyObject *
mt_compat_frame_globals_new(void)
{
    return Py_XNewRef(PyEval_GetGlobals());
}
#endif

#endif /* MT_COMPAT_H */
