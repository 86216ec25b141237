/* Record mode's deferred numbers.
 *
 * In record mode every push and pop of a thread's stack is also an event
 * in the log, with its time, its function and the depth it left. The
 * statistics of those activations (a row's calls, times and latency, the
 * caller edges) can then be worked out from the log instead of on every
 * event: the callbacks keep only each thread's stack (for matching exits
 * and the depths the log stores) and generators' activations across
 * suspensions (which the log does not name); everything else waits
 * until something reads the numbers.
 *
 * Folding replays the log's events from `folded` on through each thread's
 * replay stack (MtThreadState.replay), with the same accounting as the
 * live path (mt_frame_begin/mt_frame_end), so the numbers come out the
 * same as stats mode's. It runs before anything reads or moves rows or
 * edges: a snapshot, the self-check, a thread's end. A code object's
 * death only queues its rows for the next fold to retire. It calls no
 * Python code.
 *
 * Deferral holds only while every push and pop is logged: it is chosen at
 * start for the lean log (no captures, no live output, no LINE events),
 * and each event first makes sure the log has room for it. When the log
 * is full (its limit) or memory runs out, the tracer settles: it folds,
 * gives the live frames the numbers the replay worked out, and goes on as
 * stats mode does. */
#ifndef MT_DEFERRED_H
#define MT_DEFERRED_H

#include "common.h"
#include "session.h"
#include "stack.h"

/* A stop() while deferring: every stack was emptied at `time`, after
 * `seq` events of the log. */
typedef struct MtDeferStop {
    uint64_t seq;
    uint64_t time;
} MtDeferStop;

/* Make room in the log for one more event, or settle; returns whether
 * the tracer still defers. */
int mt_deferred_room(MtTracer *tr);

/* Whether this event's push or pop is deferred: the tracer defers and the
 * log will take the event. Per event. */
static inline int
mt_deferred_now(MtTracer *tr)
{
    return MT_UNLIKELY(tr->defer)
           && (MT_LIKELY(tr->log.cursor != tr->log.cursor_end)
               || mt_deferred_room(tr));
}

/* At start (after the recorder's): defer when the log's settings allow,
 * else settle what an earlier run left deferred. */
void mt_deferred_start(MtTracer *tr);
/* At stop, before the stacks are emptied at `now`. */
void mt_deferred_stop(MtTracer *tr, uint64_t now);
/* Bring every row and edge up to date with the log. */
void mt_deferred_fold(MtTracer *tr);
/* The thread of `ts` ended at `now` (before its rows become totals):
 * fold, then end what is left on both of its stacks. */
void mt_deferred_thread_end(MtTracer *tr, MtThreadState *ts, uint64_t now);
/* The code object of record `index` died while deferring: its rows are
 * merged into `into` (NULL: dropped) at the end of the next fold, once
 * the log's events of it are counted, so a death does not fold the whole
 * log there and then (its time would land in whatever frames are open).
 * 0 when not deferring, or no memory to note it: retire now. */
int mt_deferred_retire_later(MtTracer *tr, Py_ssize_t index, MtStats *into);
/* Forget the log's unfolded events and the replay stacks, with the
 * numbers (reset, clear). */
void mt_deferred_forget(MtTracer *tr);
/* Release what deferring holds (the tracer goes away). */
void mt_deferred_free(MtTracer *tr);

#endif /* MT_DEFERRED_H */
