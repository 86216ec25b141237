/* Captures: bounded reprs of arguments, return values and exceptions,
 * run from a callback without letting an error escape (capture.h). */
#include "capture.h"
#include "eventlog.h"
#include "records.h"
#include "sigdefer.h"
#include "session.h"

/* repr(obj), with signals held back while it runs (sigdefer.h). */
static PyObject *
repr_deferring_signals(PyObject *obj)
{
    mt_sigdefer_enter();
    PyObject *text = PyObject_Repr(obj);
    PyObject *exc = text == NULL ? PyErr_GetRaisedException() : NULL;
    mt_sigdefer_leave();
    PyErr_SetRaisedException(exc);
    return text;
}

PyObject *
mt_capture_repr(PyObject *obj, Py_ssize_t limit)
{
    PyObject *text = repr_deferring_signals(obj);
    if (text == NULL) {
        PyObject *exc = PyErr_GetRaisedException();
        const char *exc_name =
            exc != NULL ? Py_TYPE(exc)->tp_name : "an error";
        text = PyUnicode_FromFormat("<%s object; repr raised %s>",
                                    Py_TYPE(obj)->tp_name, exc_name);
        PyErr_SetRaisedException(exc);
        mt_sigdefer_discard_error();
        if (text == NULL) {
            PyErr_Clear();
            return NULL;
        }
        return text;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    if (limit > 0 && len > limit) {
        Py_ssize_t keep = limit > 3 ? limit - 3 : limit;
        PyObject *head = PyUnicode_Substring(text, 0, keep);
        Py_DECREF(text);
        if (head == NULL) {
            PyErr_Clear();
            return NULL;
        }
        if (limit <= 3) {
            return head;
        }
        text = PyUnicode_FromFormat("%U...", head);
        Py_DECREF(head);
        if (text == NULL) {
            PyErr_Clear();
        }
    }
    return text;
}

/* The parameter names of `code` (positional, keyword-only, *args,
 * **kwargs), cached per record. Borrowed; NULL on failure. */
static PyObject *
arg_names(MtTracer *tr, MtRecord *rec)
{
    MtLogRecInfo *info = mt_eventlog_rec_info(&tr->log, &tr->failures, rec);
    if (info == NULL) {
        return NULL;
    }
    if (info->argnames != NULL) {
        return info->argnames;
    }
    /* co_varnames holds positional, keyword-only, *args, **kwargs; show
     * them in signature order: positional, *args, keyword-only, **kwargs. */
    PyCodeObject *code = (PyCodeObject *)rec->key;
    Py_ssize_t npos = code->co_argcount;
    Py_ssize_t nkw = code->co_kwonlyargcount;
    Py_ssize_t nstar = (code->co_flags & CO_VARARGS) != 0;
    Py_ssize_t nstar2 = (code->co_flags & CO_VARKEYWORDS) != 0;
    Py_ssize_t n = npos + nkw + nstar + nstar2;
    PyObject *all = PyCode_GetVarnames(code);
    if (all == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *names = n <= PyTuple_GET_SIZE(all) ? PyTuple_New(n) : NULL;
    if (names == NULL) {
        PyErr_Clear();
        Py_DECREF(all);
        return NULL;
    }
    Py_ssize_t j = 0;
    for (Py_ssize_t i = 0; i < npos; i++) {
        PyTuple_SET_ITEM(names, j++, Py_NewRef(PyTuple_GET_ITEM(all, i)));
    }
    if (nstar) {
        PyTuple_SET_ITEM(names, j++,
                         Py_NewRef(PyTuple_GET_ITEM(all, npos + nkw)));
    }
    for (Py_ssize_t i = npos; i < npos + nkw; i++) {
        PyTuple_SET_ITEM(names, j++, Py_NewRef(PyTuple_GET_ITEM(all, i)));
    }
    if (nstar2) {
        PyTuple_SET_ITEM(names, j++,
                         Py_NewRef(PyTuple_GET_ITEM(all, npos + nkw + nstar)));
    }
    Py_DECREF(all);
    info->argnames = names;
    return names;
}

PyObject *
mt_capture_args(MtTracer *tr, MtRecord *rec, PyFrameObject *frame)
{
    /* Owned here: a repr may release the GIL, and another thread may
     * clear the tracer (and the record's names) meanwhile. */
    PyObject *names = Py_XNewRef(arg_names(tr, rec));
    if (names == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    PyObject *out = PyTuple_New(n);
    if (out == NULL) {
        PyErr_Clear();
        Py_DECREF(names);
        return NULL;
    }
    mt_sigdefer_enter(); /* one bracket for all the reprs */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        PyObject *value = PyFrame_GetVar(frame, name);
        PyObject *text;
        if (value == NULL) {
            mt_sigdefer_discard_error();
            text = PyUnicode_FromString("<unbound>");
        }
        else {
            text = mt_capture_repr(value, tr->log.repr_limit);
            Py_DECREF(value);
        }
        PyObject *pair = text ? PyTuple_Pack(2, name, text) : NULL;
        Py_XDECREF(text);
        if (pair == NULL) {
            PyErr_Clear();
            Py_DECREF(out);
            Py_DECREF(names);
            mt_sigdefer_leave();
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, pair);
    }
    Py_DECREF(names);
    mt_sigdefer_leave();
    return out;
}
