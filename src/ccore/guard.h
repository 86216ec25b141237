/* Running Python code from inside a callback (a filter, a thread name
 * lookup, a repr) without trusting anything across the call.
 *
 * Python code may release the GIL. Meanwhile another thread can stop,
 * clear, restart or drop the tracer, which frees records, thread states
 * and stacks, and changes the tool id. So a slow path brackets each call:
 *
 *     uint64_t serial = mt_guard_enter(tr);
 *     ... call Python, keep the result in locals ...
 *     if (!mt_guard_leave(tr, serial)) {
 *         return NULL;   (touch neither tr nor anything it owned)
 *     }
 *
 * and takes no pointer into the tracer's data across the call. While the
 * bracket is open, this thread's calls to the tracer's control methods are
 * refused (reentrancy); other threads' calls are not. The Python call
 * itself is bracketed by mt_sigdefer_enter() and mt_sigdefer_leave(), so
 * that signals landing in it reach the program's handlers only afterwards
 * (sigdefer.h).
 */
#ifndef MT_GUARD_H
#define MT_GUARD_H

#include "common.h"
#include "session.h"

/* True when the calling thread is itself inside Python code that one of
 * `tr`'s callbacks runs: control methods refuse to run then. Other threads
 * may be inside such code at the same time; that is no reason to refuse. */
static inline int
mt_guard_reentered(MtTracer *tr)
{
    return tr->in_callback > 0 && mt_compat_thread_in_callback();
}

static inline uint64_t
mt_guard_enter(MtTracer *tr)
{
    Py_INCREF(tr);
    tr->in_callback++;
    return tr->serial;
}

/* 1 if the tracer is still running with the same data as at
 * mt_guard_enter(); 0 if it was stopped, paused, cleared or is being
 * freed: the caller abandons the event and must not touch `tr` again. */
static inline int
mt_guard_leave(MtTracer *tr, uint64_t serial)
{
    tr->in_callback--;
    int same = tr->serial == serial && tr->active;
    Py_DECREF(tr);
    return same;
}

/* Python code run from a callback failed: was it a KeyboardInterrupt?
 * That is the user's Ctrl-C (or a raise_signal) that happened to land in
 * our code. The callback cannot raise it, so once everything else is done
 * (any C API call in between may consume a pending signal), it hands the
 * signal back with mt_guard_redeliver(), and the interpreter raises it in
 * the user's code at its next check. */
static inline int
mt_guard_interrupted(void)
{
    return PyErr_ExceptionMatches(PyExc_KeyboardInterrupt);
}

static inline void
mt_guard_redeliver(int interrupted)
{
    if (interrupted) {
        PyErr_SetInterrupt();
    }
}

/* Refuse a control method `what` called from Python code that one of
 * this tracer's callbacks runs on this thread (a filter, a repr; other
 * threads may be inside such code meanwhile: the slow paths cope, see
 * guard.h), or, with `when_running`, while the tracer runs. -1 with a
 * RuntimeError set, else 0. */
int mt_guard_refuse(MtTracer *tr, const char *what, int when_running);

#endif /* MT_GUARD_H */
