/* sys.monitoring registration, driven by the event table. */
#include "monitor.h"
#include "monitoring.h"
#include "breakpoints.h"
#include "callbacks.h"
#include "records.h"
#include "session.h"

const MtEventSpec mt_event_specs[MT_EV_COUNT] = {
    [MT_EV_PY_START] = {mt_on_py_start, 0},
    [MT_EV_PY_RESUME] = {mt_on_py_resume, 0},
    [MT_EV_PY_THROW] = {mt_on_py_throw, 0},
    [MT_EV_PY_RETURN] = {mt_on_py_return, 0},
    [MT_EV_PY_YIELD] = {mt_on_py_yield, 0},
    [MT_EV_PY_UNWIND] = {mt_on_py_unwind, 0},
    [MT_EV_CALL] = {mt_on_call, 1},
    [MT_EV_C_RETURN] = {mt_on_c_return, 1},
    [MT_EV_C_RAISE] = {mt_on_c_raise, 1},
    [MT_EV_LINE] = {mt_on_line, 0, 1},
    [MT_EV_INSTRUCTION] = {mt_on_instruction, 0, 0, 1},
};

/* The name holding `tool`, or None; NULL on error. */
static PyObject *
tool_holder(PyObject *mon, int tool)
{
    return PyObject_CallMethod(mon, "get_tool", "i", tool);
}

static int
choose_tool(PyObject *mon, int requested)
{
    if (requested >= 0) {
        PyObject *holder = tool_holder(mon, requested);
        if (holder == NULL) {
            return -1;
        }
        if (holder != Py_None) {
            PyErr_Format(PyExc_ValueError,
                         "monitrace: sys.monitoring tool id %d is already "
                         "held by %R",
                         requested, holder);
            Py_DECREF(holder);
            return -1;
        }
        Py_DECREF(holder);
        return requested;
    }
    PyObject *h3 = tool_holder(mon, 3);
    if (h3 == NULL) {
        return -1;
    }
    if (h3 == Py_None) {
        Py_DECREF(h3);
        return 3;
    }
    PyObject *h4 = tool_holder(mon, 4);
    if (h4 == NULL) {
        Py_DECREF(h3);
        return -1;
    }
    if (h4 == Py_None) {
        Py_DECREF(h3);
        Py_DECREF(h4);
        return 4;
    }
    PyErr_Format(PyExc_ValueError,
                 "monitrace needs a free sys.monitoring tool id (3 or 4), "
                 "but 3 is held by %R and 4 by %R; stop one of them or pass "
                 "tool_id= with a free id (0-5)",
                 h3, h4);
    Py_DECREF(h3);
    Py_DECREF(h4);
    return -1;
}

static int
event_bit(PyObject *events, const char *name, long *bit)
{
    PyObject *v = PyObject_GetAttrString(events, name);
    if (v == NULL) {
        return -1;
    }
    *bit = PyLong_AsLong(v);
    Py_DECREF(v);
    return (*bit == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* Undo registration of whatever callbacks are set; keeps the first error. */
static int
unregister_all(MtTracer *tr, PyObject *mon, PyObject *events, int tool)
{
    int rc = 0;
    PyObject *saved = NULL;
    for (int ev = 0; ev < MT_EV_COUNT; ev++) {
        if (tr->callbacks[ev] == NULL) {
            continue;
        }
        long bit = 0;
        PyObject *old = NULL;
        if (event_bit(events, mt_event_names[ev], &bit) == 0) {
            old = PyObject_CallMethod(mon, "register_callback", "ilO", tool,
                                      bit, Py_None);
        }
        if (old == NULL) {
            rc = -1;
            if (saved == NULL) {
                saved = PyErr_GetRaisedException();
            }
            else {
                PyErr_Clear();
            }
        }
        Py_XDECREF(old);
        Py_CLEAR(tr->callbacks[ev]);
    }
    if (saved != NULL) {
        PyErr_SetRaisedException(saved);
    }
    return rc;
}

/* Drop every callback and event of `tool`, then our callback objects.
 * Where sys.monitoring has clear_tool_id (3.14+), it does that in one call,
 * local events included; elsewhere free_tool_id would leave callbacks
 * registered, so unregister each one ourselves. Keeps the first error. */
static int
release_callbacks(MtTracer *tr, PyObject *mon, PyObject *events, int tool)
{
    PyObject *clear = PyObject_GetAttrString(mon, "clear_tool_id");
    if (clear == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return -1;
        }
        PyErr_Clear();
        return unregister_all(tr, mon, events, tool);
    }
    PyObject *res = PyObject_CallFunction(clear, "i", tool);
    Py_DECREF(clear);
    if (res == NULL) {
        PyObject *saved = PyErr_GetRaisedException();
        unregister_all(tr, mon, events, tool);
        PyErr_Clear();
        PyErr_SetRaisedException(saved);
        return -1;
    }
    Py_DECREF(res);
    for (int ev = 0; ev < MT_EV_COUNT; ev++) {
        Py_CLEAR(tr->callbacks[ev]);
    }
    return 0;
}

int
mt_monitor_start(MtTracer *tr, MtModuleState *state, int requested)
{
    int tool = -1, owned = 0;
    PyObject *events = NULL, *res = NULL;
    PyObject *mon = mt_monitoring_module();
    if (mon == NULL) {
        goto error;
    }
    events = PyObject_GetAttrString(mon, "events");
    if (events == NULL) {
        goto error;
    }
    tool = choose_tool(mon, requested);
    if (tool < 0) {
        goto error;
    }
    res = PyObject_CallMethod(mon, "use_tool_id", "is", tool, "monitrace");
    if (res == NULL) {
        goto error;
    }
    Py_CLEAR(res);
    owned = 1;
    tr->tool = tool;
    mt_records_install(&tr->records, tool);

    long mask = 0;
    for (int ev = 0; ev < MT_EV_COUNT; ev++) {
        const MtEventSpec *spec = &mt_event_specs[ev];
        if (spec->c_calls_only && !tr->c_calls) {
            continue;
        }
        if (spec->lines_only && !tr->log.lines && tr->targets == NULL) {
            continue;
        }
        /* profile=False: PY_START decides per code object; PY_UNWIND only
         * for the error snooper; LINE through local events. */
        if (!tr->profile && ev != MT_EV_PY_START && !spec->lines_only
            && !(ev == MT_EV_PY_UNWIND && mt_targets_snooping(tr))) {
            continue;
        }
        if (spec->watch_only && tr->watch == NULL) {
            continue;
        }
        long bit;
        if (event_bit(events, mt_event_names[ev], &bit) < 0) {
            goto error;
        }
        PyObject *cb = mt_callback_new(state, tr, spec->handler);
        if (cb == NULL) {
            goto error;
        }
        tr->callbacks[ev] = cb;
        res = PyObject_CallMethod(mon, "register_callback", "ilO", tool, bit,
                                  cb);
        if (res == NULL) {
            goto error;
        }
        Py_CLEAR(res);
        if (!spec->lines_only && !spec->watch_only) {
            mask |= bit;
        }
    }
    /* No restart_events() here: it would re-arm every location any tool
     * disabled (coverage.py relies on its DISABLEs staying). Ours are
     * undone when we give the id back (rearm_disabled), and verdicts stay
     * cached in records, so code this tracer excluded before costs one
     * callback per location to disable again. */
    res = PyObject_CallMethod(mon, "set_events", "il", tool, mask);
    if (res == NULL) {
        goto error;
    }
    Py_CLEAR(res);
    Py_DECREF(events);
    Py_DECREF(mon);
    return 0;

error:
    if (owned) {
        PyObject *saved = PyErr_GetRaisedException();
        res = PyObject_CallMethod(mon, "set_events", "ii", tool, 0);
        Py_XDECREF(res);
        PyErr_Clear();
        if (events != NULL) {
            release_callbacks(tr, mon, events, tool);
        }
        PyErr_Clear();
        res = PyObject_CallMethod(mon, "free_tool_id", "i", tool);
        Py_XDECREF(res);
        PyErr_Clear();
        PyErr_SetRaisedException(saved);
    }
    for (int ev = 0; ev < MT_EV_COUNT; ev++) {
        Py_CLEAR(tr->callbacks[ev]);
    }
    tr->tool = -1;
    Py_XDECREF(events);
    Py_XDECREF(mon);
    return -1;
}

/* DISABLE is sticky per tool id and location, even across owners of the
 * id; CPython forgets it only where a code object is re-instrumented while
 * the tool's events are off. Before giving the id back (its events off),
 * force that on every code object this tracer answered DISABLE for, by
 * switching a local event of ours on and off again: the next owner of the
 * id starts clean, and other tools' DISABLEs stay as they are. Best
 * effort: a failure only leaves a location quiet. */
static void
rearm_disabled(MtTracer *tr, PyObject *mon, PyObject *events, int tool)
{
    long bit = 0;
    PyObject *set_local = PyObject_GetAttrString(mon, "set_local_events");
    if (set_local == NULL || event_bit(events, "PY_START", &bit) < 0) {
        Py_XDECREF(set_local);
        PyErr_Clear();
        return;
    }
    const MtRecordSet *set = &tr->records;
    for (Py_ssize_t i = 0; i < set->count; i++) {
        const MtRecord *rec = set->items[i];
        /* profile=False answered DISABLE to traced code too. */
        if (rec->kind != MT_KIND_PY || (rec->traced && tr->profile)
            || !mt_records_alive(rec)) {
            continue;
        }
        for (int k = 0; k < 2; k++) {
            PyObject *res = PyObject_CallFunction(set_local, "iOl", tool,
                                                  rec->key, k ? 0L : bit);
            if (res == NULL) {
                PyErr_Clear();
                break;
            }
            Py_DECREF(res);
        }
    }
    Py_DECREF(set_local);
}

int
mt_monitor_stop(MtTracer *tr)
{
    int tool = tr->tool;
    PyObject *saved = NULL;
    PyObject *events = NULL;
    PyObject *mon = mt_monitoring_module();
    if (mon != NULL) {
        events = PyObject_GetAttrString(mon, "events");
    }
    if (mon == NULL || events == NULL) {
        /* Interpreter teardown: nothing left to talk to. */
        for (int ev = 0; ev < MT_EV_COUNT; ev++) {
            Py_CLEAR(tr->callbacks[ev]);
        }
        Py_XDECREF(mon);
        tr->tool = -1;
        return -1;
    }
    PyObject *res = PyObject_CallMethod(mon, "set_events", "ii", tool, 0);
    if (res == NULL) {
        saved = PyErr_GetRaisedException();
    }
    Py_XDECREF(res);
    if (release_callbacks(tr, mon, events, tool) < 0 && saved == NULL) {
        saved = PyErr_GetRaisedException();
    }
    PyErr_Clear();
    rearm_disabled(tr, mon, events, tool);
    res = PyObject_CallMethod(mon, "free_tool_id", "i", tool);
    if (res == NULL && saved == NULL) {
        saved = PyErr_GetRaisedException();
    }
    Py_XDECREF(res);
    PyErr_Clear();
    Py_DECREF(events);
    Py_DECREF(mon);
    tr->tool = -1;
    if (saved != NULL) {
        PyErr_SetRaisedException(saved);
        return -1;
    }
    return 0;
}
