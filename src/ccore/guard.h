/* Running Python code from inside a callback (a filter, a thread name
 * lookup, a repr, a breakpoint condition, the live printer) without
 * trusting anything across the call.
 *
 * Python code may release the GIL. Meanwhile another thread can stop,
 * clear, restart or drop the tracer, which frees records, thread states
 * and stacks, and changes the tool id. So every such call sits inside one
 * bracket, written once here:
 *
 *     MtGuard g;
 *     mt_guard_open(&g, tr, MT_GUARD_SIGNALS);
 *     ... call Python, keep the result in locals;
 *         on failure mt_guard_fail(&g, MT_ERR_..., "what") ...
 *     if (!mt_guard_close(&g)) {
 *         return ...;   (touch neither tr nor anything it owned)
 *     }
 *
 * and takes no pointer into the tracer's data across the call. The bracket
 * keeps the tracer object alive, saves the program's in-flight exception
 * and gives it back at close, and hands a KeyboardInterrupt that landed in
 * our code back to the program (the callback cannot raise it). While it is
 * open, this thread's calls to the tracer's control methods are refused
 * (reentrancy); other threads' calls are not. With MT_GUARD_SIGNALS, the
 * program's signal handlers wait until the bracket closes (sigdefer.h).
 */
#ifndef MT_GUARD_H
#define MT_GUARD_H

#include "common.h"
#include "session.h"

/* Hold the program's Python signal handlers back while the bracket is
 * open (sigdefer.h). Without it, a handler may run inside our call. */
#define MT_GUARD_SIGNALS 1u

typedef struct {
    MtTracer *tr;    /* Owned while open */
    uint64_t serial; /* the tracer's data at open */
    PyObject *saved; /* Owned: the program's in-flight exception, or NULL */
    unsigned flags;  /* MT_GUARD_* */
    int interrupted; /* a KeyboardInterrupt landed in our code */
} MtGuard;

void mt_guard_open(MtGuard *g, MtTracer *tr, unsigned flags);

/* The Python code raised (the exception is set, and stays for the caller
 * to read and clear): a KeyboardInterrupt goes back to the program at
 * close. */
void mt_guard_caught(MtGuard *g);

/* The Python code failed (an exception is set): note it in the tracer's
 * failures as `flag` at `where`, and clear it; a KeyboardInterrupt goes
 * back to the program at close. */
void mt_guard_fail(MtGuard *g, uint32_t flag, const char *where);

/* Close the bracket. 1 if the tracer is still running with the same data
 * as at open; 0 if it was stopped, paused, cleared or is being freed: the
 * caller abandons the event and must not touch the tracer again. */
int mt_guard_close(MtGuard *g);

/* Close the bracket, leaving the exception set now for the program to
 * get (a breakpoint action's quit, or Ctrl-C in pdb) in place of the one
 * it had in flight. Returns as mt_guard_close(). */
int mt_guard_close_raising(MtGuard *g);

/* mt_local_events_change() for the tracer's tool, marked as our own code
 * (control methods are refused meanwhile); a failure is noted as
 * MT_ERR_INTERNAL at `where`, and the program's exception kept. 0, or -1
 * on failure. */
int mt_guard_local_events(MtTracer *tr, PyObject *code, long on, long off,
                          const char *where);

/* Refuse a control method `what` called from Python code that one of
 * this tracer's callbacks runs on this thread (a filter, a repr; other
 * threads may be inside such code meanwhile: the slow paths cope), or,
 * with `when_running`, while the tracer runs. -1 with a RuntimeError set,
 * else 0. */
int mt_guard_refuse(MtTracer *tr, const char *what, int when_running);

#endif /* MT_GUARD_H */
