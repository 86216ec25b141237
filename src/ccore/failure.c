/* Internal failures of a session: see failure.h. */
#include "failure.h"

int
mt_failures_init(MtFailures *f)
{
    f->flags = 0;
    f->messages = PyList_New(0);
    return f->messages == NULL ? -1 : 0;
}

void
mt_fail(MtFailures *f, uint32_t flag, const char *where)
{
    f->flags |= flag;
    PyObject *exc = PyErr_GetRaisedException();
    if (f->messages == NULL
        || PyList_GET_SIZE(f->messages) >= MT_FAILURE_MAX) {
        Py_XDECREF(exc);
        return;
    }
    PyObject *msg = exc != NULL
                        ? PyUnicode_FromFormat("%s: %R", where, exc)
                        : PyUnicode_FromFormat("%s: out of memory", where);
    Py_XDECREF(exc);
    if (msg == NULL || PyList_Append(f->messages, msg) < 0) {
        PyErr_Clear();
    }
    Py_XDECREF(msg);
}

PyObject *
mt_failures_take(MtFailures *f)
{
    PyObject *fresh = PyList_New(0);
    if (fresh == NULL) {
        return NULL;
    }
    PyObject *taken = f->messages;
    f->messages = fresh;
    f->flags = 0;
    if (taken == NULL) {
        return PyList_New(0);
    }
    return taken;
}

void
mt_failures_clear(MtFailures *f)
{
    Py_CLEAR(f->messages);
    f->flags = 0;
}
