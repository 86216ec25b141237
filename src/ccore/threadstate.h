/* Per-thread states in a session (the stacks and rows themselves are
 * stack.h's).
 *
 * Each thread that delivers an event gets an MtThreadState, found through a
 * thread-local pointer tagged with the tracer's serial, and named once
 * threading knows it.
 *
 * When a thread ends, its state is finished: the rows (a row array sized
 * by the highest record index the thread touched, and a histogram per
 * function) are folded into the tracer's totals of finished threads, the
 * caller edges likewise, and the thread keeps only its per-function
 * counts and times (MtThreadTotal). A small watcher object in the thread's
 * own dict (PyThreadState_GetDict) notices the end: CPython releases that
 * dict when it clears the thread's state.
 */
#ifndef MT_THREADSTATE_H
#define MT_THREADSTATE_H

#include "common.h"
#include "records.h"
#include "session.h"
#include "stack.h"

typedef struct {
    uint64_t serial;   /* the tracer's serial when ts was made */
    MtThreadState *ts; /* Borrowed from that tracer */
} MtTls;

extern __thread MtTls mt_tls[MT_TOOL_SLOTS]
    __attribute__((tls_model("initial-exec")));

MtThreadState *mt_thread_slow(MtTracer *tr);
/* From now until the tracer stops, the calling thread's events are not
 * recorded: its thread-local pointer says "no state" under the current
 * serial, and stop() moves the serial on (the thread, like all others,
 * then finds its state again by ident). The tracer must be running. */
void mt_thread_ignore_current(MtTracer *tr);
MtStats *mt_thread_row_slow(MtTracer *tr, MtThreadState *ts, MtRecord *rec);

/* The calling thread's state for `tr`, or NULL on failure. */
static inline MtThreadState *
mt_thread_current(MtTracer *tr)
{
    MtTls *tls = &mt_tls[tr->tool];
    if (MT_LIKELY(tls->serial == tr->serial)) {
        return tls->ts;
    }
    return mt_thread_slow(tr);
}

/* Push an activation of `rec`. `is_call` is 1 for a new call (PY_START or
 * a C call), 0 for re-entering a suspended frame (PY_RESUME, PY_THROW). */
static inline void
mt_thread_enter(MtTracer *tr, MtThreadState *ts, MtRecord *rec, uint64_t now,
                int is_call)
{
    MtStats *st = rec->index < ts->nrows ? ts->rows[rec->index] : NULL;
    if (MT_UNLIKELY(st == NULL)) {
        st = mt_thread_row_slow(tr, ts, rec);
        if (st == NULL) {
            return;
        }
    }
    mt_stack_push(ts, rec, st, now, is_call);
}

/* No row is made while deferring, where a thread's name is asked for on
 * the way: ask on a push instead (threadstate.c). */
void mt_thread_name_pending(MtTracer *tr, MtThreadState *ts);

/* mt_thread_enter while deferring (deferred.h): only a generator needs
 * its row now, for its activation. */
static inline void
mt_thread_enter_deferred(MtTracer *tr, MtThreadState *ts, MtRecord *rec,
                         uint64_t now, int is_call)
{
    if (MT_UNLIKELY(ts->name == NULL)) {
        mt_thread_name_pending(tr, ts);
    }
    MtStats *st = NULL;
    if (MT_UNLIKELY(rec->generator)) {
        st = rec->index < ts->nrows ? ts->rows[rec->index] : NULL;
        if (st == NULL && (st = mt_thread_row_slow(tr, ts, rec)) == NULL) {
            return;
        }
    }
    mt_stack_push_deferred(ts, rec, st, now, is_call);
}

/* The thread's name (borrowed), looked up once known, or NULL. */
PyObject *mt_thread_name(MtTracer *tr, MtThreadState *ts);

/* End every activation still on the stacks (at stop). */
void mt_thread_flush_all(MtTracer *tr, uint64_t now);
/* Free every thread state of the tracer, and the finished threads'
 * totals. */
void mt_thread_clear_all(MtTracer *tr);
int mt_thread_traverse(MtTracer *tr, visitproc visit, void *arg);

/* The thread of `ts` ended: fold its rows and edges into the tracer's
 * totals of finished threads and keep its per-function totals only. */
void mt_thread_finish(MtTracer *tr, MtThreadState *ts);

/* The code object of record `index` (identity `id`) died: merge every
 * live thread's row of it, and the finished threads' latency, into
 * `into` (dropped when NULL), free those rows, and send the stack frames
 * still pointing at them to the record set's sink. */
void mt_thread_retire_rows(MtTracer *tr, Py_ssize_t index, const void *id,
                           MtStats *into);

/* The type of the thread-end watcher (module state). */
int mt_thread_watcher_type_init(PyObject *module, MtModuleState *state);

/* Zero every thread's numbers in place, empty its stacks and forget
 * finished threads' totals (Tracer.reset(), paused or stopped). */
void mt_thread_reset_all(MtTracer *tr);

#endif /* MT_THREADSTATE_H */
