/* sys.monitoring itself: see monitoring.h. */
#include "monitoring.h"

const char *const mt_event_names[MT_EV_COUNT] = {
    [MT_EV_PY_START] = "PY_START",
    [MT_EV_PY_RESUME] = "PY_RESUME",
    [MT_EV_PY_THROW] = "PY_THROW",
    [MT_EV_PY_RETURN] = "PY_RETURN",
    [MT_EV_PY_YIELD] = "PY_YIELD",
    [MT_EV_PY_UNWIND] = "PY_UNWIND",
    [MT_EV_CALL] = "CALL",
    [MT_EV_C_RETURN] = "C_RETURN",
    [MT_EV_C_RAISE] = "C_RAISE",
    [MT_EV_LINE] = "LINE",
    [MT_EV_INSTRUCTION] = "INSTRUCTION",
};

PyObject *
mt_monitoring_module(void)
{
    PyObject *sys = PyImport_ImportModule("sys");
    if (sys == NULL) {
        return NULL;
    }
    PyObject *mon = PyObject_GetAttrString(sys, "monitoring");
    Py_DECREF(sys);
    return mon;
}

PyObject *
mt_monitoring_attr(const char *name)
{
    PyObject *mon = mt_monitoring_module();
    PyObject *attr = mon != NULL ? PyObject_GetAttrString(mon, name) : NULL;
    Py_XDECREF(mon);
    return attr;
}

int
mt_local_events_change(int tool, PyObject *code, long on, long off)
{
    PyObject *get_local = mt_monitoring_attr("get_local_events");
    PyObject *set_local =
        get_local != NULL ? mt_monitoring_attr("set_local_events") : NULL;
    PyObject *cur = NULL, *res = NULL;
    int rc = -1;
    if (set_local == NULL) {
        goto done;
    }
    cur = PyObject_CallFunction(get_local, "iO", tool, code);
    if (cur == NULL) {
        goto done;
    }
    long bits = PyLong_AsLong(cur);
    if (bits == -1 && PyErr_Occurred()) {
        goto done;
    }
    long want = (bits | on) & ~off;
    if (want != bits) {
        res = PyObject_CallFunction(set_local, "iOl", tool, code, want);
        if (res == NULL) {
            goto done;
        }
    }
    rc = 0;
done:
    Py_XDECREF(res);
    Py_XDECREF(cur);
    Py_XDECREF(set_local);
    Py_XDECREF(get_local);
    return rc;
}
