/* monitrace._core: module init and state; each concern initialises
 * itself. */
#include "common.h"
#include "callbacks.h"
#include "discover.h"
#include "callsite.h"
#include "clock.h"
#include "eventlog.h"
#include "records.h"
#include "selfcheck.h"
#include "snapshot.h"
#include "threadstate.h"
#include "sigdefer.h"
#include "sigroute.h"
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

static PyObject *
c_function_key(PyObject *Py_UNUSED(module), PyObject *callable)
{
    return mt_records_cfunc_name(callable);
}

static PyMethodDef module_methods[] = {
    {"c_function_key", c_function_key, METH_O,
     "c_function_key($module, callable, /)\n--\n\n"
     "The (name, owner, module, binding) tuple that names `callable` in "
     "snapshots, as a C function record would; None if it is not a C "
     "function."},
    {"hist_bucket", hist_bucket, METH_O,
     "hist_bucket($module, ticks, /)\n--\n\n"
     "(bucket, low, high) of the latency histogram bucket holding `ticks`."},
    {"route_signal", mt_sigroute_install, METH_O,
     "route_signal($module, signum, /)\n--\n\n"
     "Pass `signum` on to the main thread when another thread receives it,\n"
     "so that its Python handler runs; call right after signal.signal()\n"
     "in the main thread. True when routing is in place."},
    {"signal_later", mt_sigroute_later, METH_O,
     "signal_later($module, signum, /)\n--\n\n"
     "Deliver `signum` to the main thread again after the running handler\n"
     "returns (a handler that cannot act yet)."},
    {"signal_taken", mt_sigroute_taken, METH_O,
     "signal_taken($module, signum, /)\n--\n\n"
     "The Python handler of routed `signum` has run: stop sending it to\n"
     "the main thread again."},
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
    if (mt_records_init(mt_discover_retire) < 0 || mt_callsite_init() < 0) {
        return -1;
    }
    if (mt_callback_type_init(module, state) < 0) {
        return -1;
    }
    if (mt_tracer_type_init(module, state) < 0) {
        return -1;
    }
    if (mt_thread_watcher_type_init(module, state) < 0) {
        return -1;
    }
    if (mt_sigdefer_init(module) < 0) {
        return -1;
    }
    if (mt_snapshot_types_init(module) < 0) {
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
    {
        static const char *const names[MT_LOG_KINDS] = MT_LOG_KIND_NAMES;
        PyObject *kinds = PyTuple_New(MT_LOG_KINDS);
        if (kinds == NULL) {
            return -1;
        }
        for (Py_ssize_t i = 0; i < MT_LOG_KINDS; i++) {
            PyObject *name = PyUnicode_FromString(names[i]);
            if (name == NULL) {
                Py_DECREF(kinds);
                return -1;
            }
            PyTuple_SET_ITEM(kinds, i, name);
        }
        int rc = PyModule_AddObjectRef(module, "EVENT_KINDS", kinds);
        Py_DECREF(kinds);
        if (rc < 0) {
            return -1;
        }
    }
    /* 1 when co_extra is read in place on the hot path (benchmarks/). */
    if (PyModule_AddIntConstant(module, "DIRECT_CODE_EXTRA",
                                mt_records_direct_extra)
        < 0) {
        return -1;
    }
    /* 1 when signal handlers are kept out of monitrace's own Python code
     * (sigdefer.h); tests check it is so on every supported version. */
    if (PyModule_AddIntConstant(module, "SIGNALS_DEFERRED",
                                mt_sigdefer_active())
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
    Py_VISIT(state->watcher_type);
    return 0;
}

static int
module_clear(PyObject *module)
{
    MtModuleState *state = get_state(module);
    Py_CLEAR(state->tracer_type);
    Py_CLEAR(state->callback_type);
    Py_CLEAR(state->watcher_type);
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
