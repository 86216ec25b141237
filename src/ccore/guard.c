/* Running Python code from a callback: the one bracket (guard.h). */
#include "guard.h"
#include "monitoring.h"
#include "sigdefer.h"

void
mt_guard_open(MtGuard *g, MtTracer *tr, unsigned flags)
{
    g->tr = (MtTracer *)Py_NewRef((PyObject *)tr);
    g->saved = PyErr_GetRaisedException();
    g->flags = flags;
    g->interrupted = 0;
    g->serial = tr->serial;
    tr->in_callback++;
    if (flags & MT_GUARD_SIGNALS) {
        mt_sigdefer_enter();
    }
}

void
mt_guard_caught(MtGuard *g)
{
    /* A KeyboardInterrupt is the user's Ctrl-C (or a raise_signal) that
     * happened to land in our code: it goes back to the program once
     * everything else is done, since any C API call in between may
     * consume a pending signal. */
    if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        g->interrupted = 1;
    }
}

void
mt_guard_fail(MtGuard *g, uint32_t flag, const char *where)
{
    mt_guard_caught(g);
    mt_fail(&g->tr->failures, flag, where);
}

/* Leave the bracket with no exception set (the DECREF may run code):
 * whether the tracer is the same as at open. */
static int
release(MtGuard *g)
{
    MtTracer *tr = g->tr;
    if (g->flags & MT_GUARD_SIGNALS) {
        mt_sigdefer_leave();
    }
    tr->in_callback--;
    int same = tr->serial == g->serial && tr->active;
    g->tr = NULL;
    Py_DECREF(tr); /* may free it */
    return same;
}

int
mt_guard_close(MtGuard *g)
{
    PyErr_Clear(); /* nothing of ours reaches the program */
    int same = release(g);
    PyErr_SetRaisedException(g->saved);
    g->saved = NULL;
    if (g->interrupted) {
        PyErr_SetInterrupt();
    }
    return same;
}

int
mt_guard_close_raising(MtGuard *g)
{
    PyObject *exc = PyErr_GetRaisedException();
    int same = release(g);
    Py_CLEAR(g->saved); /* replaced by what the program gets now */
    PyErr_SetRaisedException(exc);
    return same;
}

int
mt_guard_local_events(MtTracer *tr, PyObject *code, long on, long off,
                      const char *where)
{
    /* Also runs in control methods (start, stop), where the tracer is not
     * active: marked as our own code (reentrancy), not a full bracket. */
    PyObject *saved = PyErr_GetRaisedException();
    tr->in_callback++;
    int rc = mt_local_events_change(tr->tool, code, on, off);
    tr->in_callback--;
    if (rc < 0) {
        mt_fail(&tr->failures, MT_ERR_INTERNAL, where);
    }
    PyErr_SetRaisedException(saved);
    return rc;
}

/* True when the calling thread is itself inside Python code that one of
 * `tr`'s callbacks runs: control methods refuse to run then. Other threads
 * may be inside such code at the same time; that is no reason to refuse. */
static int
reentered(MtTracer *tr)
{
    return tr->in_callback > 0 && mt_compat_thread_in_callback();
}

int
mt_guard_refuse(MtTracer *tr, const char *what, int when_running)
{
    if (reentered(tr)) {
        PyErr_Format(PyExc_RuntimeError,
                     "monitrace: %s() cannot be called from code that runs "
                     "inside a tracer callback (a filter or a repr)",
                     what);
        return -1;
    }
    if (when_running && tr->running) {
        PyErr_Format(PyExc_RuntimeError,
                     "monitrace: stop the tracer before %s()", what);
        return -1;
    }
    return 0;
}
