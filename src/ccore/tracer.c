/* The Tracer type: control methods (start, stop, pause, resume, clear,
 * snapshot) around the state that callbacks.c fills in. */
#include "tracer.h"
#include "recorder.h"
#include "session.h"
#include "breakpoints.h"
#include "guard.h"
#include "chrome.h"
#include "clock.h"
#include "deferred.h"
#include "eventlog.h"
#include "folded.h"
#include "logview.h"
#include "monitor.h"
#include "monitoring.h"
#include "records.h"
#include "scope.h"
#include "snapshot.h"
#include "threadstate.h"
#include "watch.h"

static uint64_t next_serial = 1;

static PyObject *
tracer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"filter",        "c_calls", "clock",
                             "filter_module", "profile", NULL};
    PyObject *filter = Py_None;
    int c_calls = 0;
    const char *clock_name = "auto";
    int filter_module = 0;
    int profile = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$Opspp:Tracer", kwlist,
                                     &filter, &c_calls, &clock_name,
                                     &filter_module, &profile)) {
        return NULL;
    }
    if (filter != Py_None && !PyCallable_Check(filter)) {
        PyErr_Format(PyExc_TypeError,
                     "filter must be a callable or None, not %.100s",
                     Py_TYPE(filter)->tp_name);
        return NULL;
    }
    MtClockKind clock;
    if (mt_clock_parse(clock_name, &clock) < 0) {
        return NULL;
    }
    PyObject *disable = mt_monitoring_attr("DISABLE");
    if (disable == NULL) {
        return NULL;
    }
    MtTracer *tr = (MtTracer *)type->tp_alloc(type, 0);
    if (tr == NULL) {
        Py_DECREF(disable);
        return NULL;
    }
    tr->tool = -1;
    tr->clock = clock;
    tr->serial = next_serial++;
    tr->disable = disable;
    tr->c_calls = c_calls;
    tr->filter = filter == Py_None ? NULL : Py_NewRef(filter);
    tr->filter_module = filter_module;
    tr->profile = profile;
    tr->targeted = !profile;
    tr->done_edges.failures = &tr->failures;
    if (mt_failures_init(&tr->failures) < 0) {
        Py_DECREF(tr);
        return NULL;
    }
    return (PyObject *)tr;
}

static PyObject *
thread_table(void)
{
    PyObject *threading = PyImport_ImportModule("threading");
    if (threading == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *active = PyObject_GetAttrString(threading, "_active");
    Py_DECREF(threading);
    if (active == NULL || !PyDict_Check(active)) {
        PyErr_Clear();
        Py_XDECREF(active);
        return NULL;
    }
    return active;
}

PyDoc_STRVAR(
    start_doc,
    "start($self, /, tool_id=-1)\n--\n\n"
    "Take a sys.monitoring tool id (the first free of 3 and 4 unless tool_id\n"
    "is given) and start receiving events. Data accumulates across start and\n"
    "stop until clear().");

static PyObject *
tracer_start(PyObject *self, PyObject *args, PyObject *kwargs)
{
    MtTracer *tr = (MtTracer *)self;
    static char *kwlist[] = {"tool_id", NULL};
    int tool = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|i:start", kwlist,
                                     &tool)) {
        return NULL;
    }
    if (mt_guard_refuse(tr, "start", 0) < 0) {
        return NULL;
    }
    if (tr->running) {
        PyErr_SetString(PyExc_RuntimeError,
                        "monitrace: this tracer is already running");
        return NULL;
    }
    if (tool < -1 || tool >= MT_TOOL_SLOTS) {
        PyErr_Format(PyExc_ValueError,
                     "tool_id must be between 0 and 5, not %d", tool);
        return NULL;
    }
    MtModuleState *state = PyType_GetModuleState(Py_TYPE(self));
    if (state == NULL) {
        return NULL;
    }
    Py_XSETREF(tr->thread_table, thread_table());
    if (mt_monitor_start(tr, state, tool) < 0) {
        return NULL;
    }
    mt_recorder_start(tr);
    mt_deferred_start(tr);
    mt_watch_start(tr);
    mt_targets_start(tr);
    tr->running = 1;
    tr->paused = 0;
    tr->run_ns0 = mt_clock_monotonic_ns();
    tr->run_ticks0 = mt_clock_now(tr->clock);
    tr->active = 1;
    Py_RETURN_NONE;
}

static uint64_t
running_ticks(MtTracer *tr, uint64_t now)
{
    return tr->running && now > tr->run_ticks0 ? now - tr->run_ticks0 : 0;
}

PyDoc_STRVAR(
    stop_doc,
    "stop($self, /)\n--\n\n"
    "Stop receiving events, end the activations still on the stacks, and\n"
    "give the tool id back. Returns the internal errors seen while running\n"
    "(a list of str, empty when all went well).");

static PyObject *
tracer_stop(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    MtTracer *tr = (MtTracer *)self;
    if (mt_guard_refuse(tr, "stop", 0) < 0) {
        return NULL;
    }
    if (!tr->running) {
        return PyList_New(0);
    }
    tr->active = 0;
    uint64_t now = mt_clock_now(tr->clock);
    uint64_t now_ns = mt_clock_monotonic_ns();
    mt_deferred_stop(tr, now);
    mt_thread_flush_all(tr, now);
    tr->total_ticks += running_ticks(tr, now);
    if (tr->clock == MT_CLOCK_TSC) {
        mt_clock_refine(tr->run_ticks0, tr->run_ns0, now, now_ns);
    }
    tr->running = 0;
    tr->paused = 0;
    if (tr->ignoring) {
        /* Undo ignore_thread(): every thread-local pointer goes stale. */
        tr->ignoring = 0;
        tr->serial = next_serial++;
        tr->rebind = 1;
    }
    mt_recorder_stop(tr);
    mt_watch_stop(tr);
    mt_targets_stop(tr);
    int rc = mt_monitor_stop(tr);
    Py_CLEAR(tr->thread_table);
    if (rc < 0) {
        return NULL;
    }
    return mt_failures_take(&tr->failures);
}

static PyObject *
tracer_pause(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    MtTracer *tr = (MtTracer *)self;
    if (mt_guard_refuse(tr, "pause", 0) < 0) {
        return NULL;
    }
    tr->paused = tr->running;
    tr->active = 0;
    Py_RETURN_NONE;
}

static PyObject *
tracer_ignore_thread(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    MtTracer *tr = (MtTracer *)self;
    if (mt_guard_refuse(tr, "ignore_thread", 0) < 0) {
        return NULL;
    }
    if (!tr->running) {
        PyErr_SetString(PyExc_RuntimeError,
                        "ignore_thread() needs a running tracer");
        return NULL;
    }
    mt_thread_ignore_current(tr);
    Py_RETURN_NONE;
}

static PyObject *
tracer_resume(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    MtTracer *tr = (MtTracer *)self;
    if (mt_guard_refuse(tr, "resume", 0) < 0) {
        return NULL;
    }
    tr->paused = 0;
    tr->active = tr->running;
    Py_RETURN_NONE;
}

static void
clear_data(MtTracer *tr)
{
    MtRecordSet old = mt_records_detach(&tr->records);
    mt_thread_clear_all(tr);
    mt_recorder_clear(&tr->log);
    mt_watch_clear(tr);
    mt_targets_clear(tr);
    memset(tr->event_counts, 0, sizeof(tr->event_counts));
    tr->total_ticks = 0;
    /* Thread-local pointers tagged with the old serial are now stale. */
    tr->serial = next_serial++;
    tr->rebind = 0;
    /* Last: releasing the records' objects may run Python code that calls
     * back into this tracer, which is empty and consistent by now. */
    mt_records_release(&old);
}

PyDoc_STRVAR(
    reset_doc,
    "reset($self, /)\n--\n\n"
    "Forget the numbers and events recorded so far, keeping the records:\n"
    "what the filter decided about each function, and (while running) the\n"
    "instrumentation that goes with it. The tracer must be stopped or\n"
    "paused. Between measurements this costs far less than stop(), clear()\n"
    "and start(), which make every function decide and instrument again.\n"
    "Activations open at the reset are forgotten: their ends, if they come,\n"
    "count as ends never seen starting.");

static PyObject *
tracer_reset_method(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    MtTracer *tr = (MtTracer *)self;
    if (mt_guard_refuse(tr, "reset", 0) < 0) {
        return NULL;
    }
    if (tr->active) {
        PyErr_SetString(PyExc_RuntimeError,
                        "monitrace: pause or stop the tracer before reset()");
        return NULL;
    }
    mt_thread_reset_all(tr);
    mt_records_forget_retired(&tr->records);
    mt_eventlog_reset(&tr->log);
    memset(tr->event_counts, 0, sizeof(tr->event_counts));
    tr->total_ticks = 0;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(clear_doc,
             "clear($self, /)\n--\n\n"
             "Forget everything recorded (the tracer must be stopped).");

static PyObject *
tracer_clear_method(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    MtTracer *tr = (MtTracer *)self;
    if (mt_guard_refuse(tr, "clear", 1) < 0) {
        return NULL;
    }
    clear_data(tr);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(
    after_fork_doc,
    "_after_fork_child($self, /, keep)\n--\n\n"
    "Call in a child process right after os.fork() (monitrace registers it\n"
    "with os.register_at_fork). The parent's data is forgotten, other\n"
    "threads' states with it (those threads do not exist here); then the\n"
    "tracer keeps tracing the child into its own empty tables if `keep` is\n"
    "true, else it stops and gives the child's tool id back.");

static PyObject *
tracer_after_fork_child(PyObject *self, PyObject *args, PyObject *kwargs)
{
    MtTracer *tr = (MtTracer *)self;
    static char *kwlist[] = {"keep", NULL};
    int keep = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "p:_after_fork_child",
                                     kwlist, &keep)) {
        return NULL;
    }
    /* No refusal inside a callback: a fork from a filter lands here with
     * the filter still on this thread's stack, and its slow path will see
     * the new serial and abandon its event (guard.h). */
    int was_active = tr->active;
    tr->active = 0;
    int rc = 0;
    if (tr->running && !keep) {
        /* Give the id back before forgetting the records: it re-arms the
         * locations they disabled (monitor.c). */
        tr->running = 0;
        tr->paused = 0;
        rc = mt_monitor_stop(tr);
        Py_CLEAR(tr->thread_table);
    }
    PyObject *saved = PyErr_GetRaisedException();
    mt_recorder_forked(&tr->log);
    clear_data(tr);
    mt_failures_clear(&tr->failures);
    if (mt_failures_init(&tr->failures) < 0) {
        Py_XDECREF(saved);
        return NULL;
    }
    if (rc < 0) {
        PyErr_SetRaisedException(saved);
        return NULL;
    }
    if (!tr->running) {
        Py_RETURN_NONE;
    }
    tr->run_ns0 = mt_clock_monotonic_ns();
    tr->run_ticks0 = mt_clock_now(tr->clock);
    tr->active = was_active;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(
    snapshot_doc,
    "snapshot($self, /, *, records_from=0)\n--\n\n"
    "A dict of everything recorded so far: 'clock', 'ns_per_tick',\n"
    "'records' (kind, code object or C function key, module, traced, from\n"
    "index records_from on: a reader that keeps the earlier ones, which\n"
    "never change until clear(), need not have them again; the\n"
    "key of a dead code object is its (name, qualname, filename,\n"
    "firstlineno, module)), 'threads' (ident, native_id, name, finished,\n"
    "rows of (record index, calls, primitive calls, total, self, min, max,\n"
    "samples, histogram), edges of (caller, callee, calls, primitive calls,\n"
    "total, self); a finished thread keeps counts and times only),\n"
    "'finished' (the finished threads' latency rows, counts 0, and their\n"
    "edges), 'retired' (rows of dead code objects, by name tuple instead\n"
    "of index), 'event_counts' and 'total_ns'. Times in rows and edges are\n"
    "clock ticks: sum them, then multiply by ns_per_tick. Histogram bounds\n"
    "are in ns. Activations still running are not included.");

static PyObject *
tracer_snapshot(PyObject *self, PyObject *args, PyObject *kwargs)
{
    MtTracer *tr = (MtTracer *)self;
    static char *kwlist[] = {"records_from", NULL};
    Py_ssize_t from = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$n:snapshot", kwlist,
                                     &from)) {
        return NULL;
    }
    if (from < 0) {
        PyErr_SetString(PyExc_ValueError, "records_from must be >= 0");
        return NULL;
    }
    if (mt_guard_refuse(tr, "snapshot", 0) < 0) {
        return NULL;
    }
    return mt_snapshot(tr, from);
}

static PyObject *
get_running(PyObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(((MtTracer *)self)->running);
}

static PyObject *
get_paused(PyObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(((MtTracer *)self)->paused);
}

static PyObject *
get_tool_id(PyObject *self, void *Py_UNUSED(closure))
{
    MtTracer *tr = (MtTracer *)self;
    if (tr->tool < 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLong(tr->tool);
}

static PyObject *
get_clock(PyObject *self, void *Py_UNUSED(closure))
{
    return PyUnicode_FromString(mt_clock_name(((MtTracer *)self)->clock));
}

static PyObject *
get_c_calls(PyObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(((MtTracer *)self)->c_calls);
}

static PyGetSetDef tracer_getset[] = {
    {"running", get_running, NULL, "True between start() and stop().", NULL},
    {"paused", get_paused, NULL, "True while paused.", NULL},
    {"tool_id", get_tool_id, NULL, "The sys.monitoring tool id, or None.",
     NULL},
    {"clock", get_clock, NULL, "'tsc' or 'monotonic'.", NULL},
    {"c_calls", get_c_calls, NULL, "Whether C functions are traced.", NULL},
    {"scope", mt_scope_get, NULL, "The dynamic filters (set_scope()).", NULL},
    {NULL},
};

static PyMethodDef tracer_methods[] = {
    {"start", (PyCFunction)(void (*)(void))tracer_start,
     METH_VARARGS | METH_KEYWORDS, start_doc},
    {"stop", tracer_stop, METH_NOARGS, stop_doc},
    {"pause", tracer_pause, METH_NOARGS,
     "pause($self, /)\n--\n\nIgnore events until resume() (a C flag)."},
    {"ignore_thread", tracer_ignore_thread, METH_NOARGS,
     "ignore_thread($self, /)\n--\n\nRecord nothing more of the calling "
     "thread until stop(); the\nother threads are traced on (the tracer "
     "must be running)."},
    {"resume", tracer_resume, METH_NOARGS,
     "resume($self, /)\n--\n\nTake events again after pause()."},
    {"clear", tracer_clear_method, METH_NOARGS, clear_doc},
    {"reset", tracer_reset_method, METH_NOARGS, reset_doc},
    {"snapshot", (PyCFunction)(void (*)(void))tracer_snapshot,
     METH_VARARGS | METH_KEYWORDS, snapshot_doc},
    {"set_targets", (PyCFunction)(void (*)(void))mt_targets_set,
     METH_VARARGS | METH_KEYWORDS, mt_targets_set_doc},
    {"set_scope", (PyCFunction)(void (*)(void))mt_scope_set,
     METH_VARARGS | METH_KEYWORDS, mt_scope_set_doc},
    {"log_configure", (PyCFunction)(void (*)(void))mt_logview_configure_method,
     METH_VARARGS | METH_KEYWORDS, mt_logview_configure_doc},
    {"log_batch", mt_logview_batch_method, METH_VARARGS, mt_logview_batch_doc},
    {"log_info", mt_logview_info_method, METH_NOARGS, mt_logview_info_doc},
    {"log_activations", mt_logview_activations_method, METH_NOARGS,
     mt_logview_activations_doc},
    {"log_tree_target",
     (PyCFunction)(void (*)(void))mt_logview_tree_target_method,
     METH_VARARGS | METH_KEYWORDS, mt_logview_tree_target_doc},
    {"log_tree_flush", mt_logview_tree_flush_method, METH_NOARGS,
     mt_logview_tree_flush_doc},
    {"log_write_tree",
     (PyCFunction)(void (*)(void))mt_logview_write_tree_method,
     METH_VARARGS | METH_KEYWORDS, mt_logview_write_tree_doc},
    {"log_write_chrome", mt_chrome_write_method, METH_VARARGS,
     mt_chrome_write_doc},
    {"log_write_collapsed", mt_folded_write_method, METH_VARARGS,
     mt_folded_write_doc},
    {"watch_configure", (PyCFunction)(void (*)(void))mt_watch_configure_method,
     METH_VARARGS | METH_KEYWORDS, mt_watch_configure_doc},
    {"watch_results", mt_watch_results_method, METH_NOARGS,
     mt_watch_results_doc},
    {"line_counts", mt_logview_lines_method, METH_NOARGS,
     mt_logview_lines_doc},
    {"_after_fork_child", (PyCFunction)(void (*)(void))tracer_after_fork_child,
     METH_VARARGS | METH_KEYWORDS, after_fork_doc},
    {NULL},
};

static int
tracer_traverse(PyObject *self, visitproc visit, void *arg)
{
    MtTracer *tr = (MtTracer *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(tr->filter);
    Py_VISIT(tr->disable);
    Py_VISIT(tr->thread_table);
    Py_VISIT(tr->failures.messages);
    if (mt_scope_traverse(tr, visit, arg) < 0) {
        return -1;
    }
    for (int ev = 0; ev < MT_EV_COUNT; ev++) {
        Py_VISIT(tr->callbacks[ev]);
    }
    if (mt_records_traverse(&tr->records, visit, arg) < 0) {
        return -1;
    }
    if (mt_eventlog_traverse(&tr->log, visit, arg) < 0
        || mt_targets_traverse(tr, visit, arg) < 0) {
        return -1;
    }
    if (mt_watch_traverse(tr, visit, arg) < 0) {
        return -1;
    }
    return mt_thread_traverse(tr, visit, arg);
}

static int
tracer_clear(PyObject *self)
{
    MtTracer *tr = (MtTracer *)self;
    /* A running tracer is kept alive by its registered callbacks, so
     * reaching here while running means interpreter teardown: stop
     * delivering before anything is freed. */
    tr->active = 0;
    if (tr->running) {
        tr->running = 0;
        PyObject *saved = PyErr_GetRaisedException();
        mt_recorder_stop(tr);
        mt_watch_stop(tr);
        mt_targets_stop(tr);
        if (mt_monitor_stop(tr) < 0) {
            PyErr_Clear();
        }
        PyErr_SetRaisedException(saved);
    }
    for (int ev = 0; ev < MT_EV_COUNT; ev++) {
        Py_CLEAR(tr->callbacks[ev]);
    }
    Py_CLEAR(tr->filter);
    mt_scope_free(tr);
    Py_CLEAR(tr->thread_table);
    mt_failures_clear(&tr->failures);
    clear_data(tr);
    mt_deferred_free(tr);
    mt_targets_free(tr);
    mt_eventlog_free(&tr->log);
    mt_watch_free(tr);
    return 0;
}

static void
tracer_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    tracer_clear(self);
    Py_CLEAR(((MtTracer *)self)->disable);
    tp->tp_free(self);
    Py_DECREF(tp);
}

PyDoc_STRVAR(
    tracer_doc,
    "Tracer(*, filter=None, c_calls=False, clock='auto', "
    "filter_module=False, profile=True)\n"
    "--\n\n"
    "The C engine of one monitrace session. `filter(code_or_callable)` is\n"
    "called once per code object (or C function) and decides, for good,\n"
    "whether it is traced; excluded code answers sys.monitoring.DISABLE.\n"
    "With filter_module=True it is called as filter(key, module), module\n"
    "being the defining module's __name__ (None for C functions). It returns\n"
    "a bool, or an int of bits: 1 trace, 2 within= target, 4 exclude_within=\n"
    "target (targets are always traced; see set_scope()). With\n"
    "profile=False no statistics are kept: only PY_START is enabled, it\n"
    "answers DISABLE, and breakpoints (set_targets()) work alone.");

static PyType_Slot tracer_slots[] = {
    {Py_tp_doc, (void *)tracer_doc}, {Py_tp_new, tracer_new},
    {Py_tp_dealloc, tracer_dealloc}, {Py_tp_traverse, tracer_traverse},
    {Py_tp_clear, tracer_clear},     {Py_tp_methods, tracer_methods},
    {Py_tp_getset, tracer_getset},   {0, NULL},
};

static PyType_Spec tracer_spec = {
    .name = "monitrace._core.Tracer",
    .basicsize = sizeof(MtTracer),
    .flags =
        Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = tracer_slots,
};

int
mt_tracer_type_init(PyObject *module, MtModuleState *state)
{
    state->tracer_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &tracer_spec, NULL);
    if (state->tracer_type == NULL) {
        return -1;
    }
    return PyModule_AddType(module, state->tracer_type);
}
