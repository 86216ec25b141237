/* monitrace._core: module init and state; each concern initialises
 * itself. */
#include "common.h"
#include "callbacks.h"
#include "callsite.h"
#include "clock.h"
#include "eventlog.h"
#include "records.h"
#include "selfcheck.h"
#include "tracer.h"

static MtModuleState *
get_state(PyObject *module)
{
    return (MtModuleState *)PyModule_GetState(module);
}

static PyObject *
tsc_usable(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(mt_clock_tsc_usable());
}

static PyObject *
hist_bucket(PyObject *Py_UNUSED(module), PyObject *arg)
{
    unsigned long long ticks = PyLong_AsUnsignedLongLong(arg);
    if (ticks == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    unsigned b = mt_hist_bucket(ticks);
    uint64_t lo, hi;
    mt_hist_bounds(b, &lo, &hi);
    return Py_BuildValue("(IKK)", b, (unsigned long long)lo,
                         (unsigned long long)hi);
}

static PyMethodDef module_methods[] = {
    {"hist_bucket", hist_bucket, METH_O,
     "hist_bucket($module, ticks, /)\n--\n\n"
     "(bucket, low, high) of the latency histogram bucket holding `ticks`."},
    {"selfcheck", mt_selfcheck, METH_O,
     "selfcheck($module, tracer, /)\n--\n\n"
     "Check the tracer's tables (for tests): {'problems': [...], "
     "'depths': [(ident, depth), ...], 'records': n}."},
    {"tsc_usable", tsc_usable, METH_NOARGS,
     "tsc_usable($module, /)\n--\n\n"
     "True if this CPU has an invariant TSC, so clock='auto' uses it."},
    {NULL},
};

static int
module_exec(PyObject *module)
{
    MtModuleState *state = get_state(module);
    if (mt_records_init() < 0 || mt_callsite_init() < 0) {
        return -1;
    }
    if (mt_callback_type_init(module, state) < 0) {
        return -1;
    }
    if (mt_tracer_type_init(module, state) < 0) {
        return -1;
    }
    if (PyModule_AddIntConstant(module, "HIST_BUCKETS", MT_HIST_BUCKETS) < 0) {
        return -1;
    }
    if (PyModule_AddIntConstant(module, "LOG_EVENT_BYTES",
                                (long)sizeof(MtLogEvent))
        < 0) {
        return -1;
    }
    /* 1 when co_extra is read in place on the hot path (benchmarks/). */
    if (PyModule_AddIntConstant(module, "DIRECT_CODE_EXTRA",
                                mt_records_direct_extra)
        < 0) {
        return -1;
    }
    /* 1 when record mode finds call sites by walking interpreter frames,
     * without frame objects (benchmarks/, tests). */
    if (PyModule_AddIntConstant(module, "FRAME_PEEK", mt_callsite_peek_ok)
        < 0) {
        return -1;
    }
    return 0;
}

static int
module_traverse(PyObject *module, visitproc visit, void *arg)
{
    MtModuleState *state = get_state(module);
    Py_VISIT(state->tracer_type);
    Py_VISIT(state->callback_type);
    return 0;
}

static int
module_clear(PyObject *module)
{
    MtModuleState *state = get_state(module);
    Py_CLEAR(state->tracer_type);
    Py_CLEAR(state->callback_type);
    return 0;
}

static void
module_free(void *module)
{
    module_clear((PyObject *)module);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    /* State such as the co_extra index and thread-local pointers is
     * process-wide; one interpreter only, as _lsprof declares. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#if MT_COMPAT_HAVE_MOD_GIL
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "monitrace._core",
    .m_doc = "The C engine of monitrace: sys.monitoring callbacks, "
             "per-thread stacks and per-function statistics.",
    .m_size = sizeof(MtModuleState),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&module_def);
}
