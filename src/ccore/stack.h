/* Per-thread shadow stacks and statistics rows, as storage.
 *
 * A thread's state (MtThreadState) holds one frame per active traced
 * function, a row of numbers per function it ran, its caller edges and its
 * suspended generator activations. The stack trusts nothing: an exit that
 * does not match the top pops down to the matching frame, and an exit that
 * matches no frame (tracing began mid-stack) is ignored. How a thread finds
 * its state, and what happens when it ends, is threadstate.h's.
 */
#ifndef MT_STACK_H
#define MT_STACK_H

#include "common.h"
#include "compat.h"
#include "edges.h"
#include "failure.h"
#include "records.h"

typedef struct {
    const void *id;    /* code object or PyMethodDef: identity only */
    MtStats *stats;    /* Borrowed: row owned by the thread state */
    uint64_t start;    /* clock at entry */
    uint64_t children; /* ticks spent in traced callees */
    Py_ssize_t index;  /* the record's index */
    MtEdge *edge;      /* Borrowed from ts->edges, or NULL: caller -> me */
    uint64_t born;     /* generators: clock at the activation's PY_START */
    uint8_t suspends;  /* MT_SUSPENDS_*: a generator frame? */
    uint32_t act_id;   /* MT_SUSPENDS_BORN: the activation's serial (the
                          tracer's next_activation), else unset */
} MtFrame;

/* MtFrame.suspends: a plain frame; a generator frame whose activation
 * started under tracing (born is set); one whose start was missed (it
 * was resumed on another thread, or started before tracing did). */
enum { MT_SUSPENDS_NO = 0, MT_SUSPENDS_BORN = 1, MT_SUSPENDS_UNBORN = 2 };

/* A generator activation off the stack between a yield and its resume,
 * found again by its interpreter frame's address. */
typedef struct {
    const void *frame; /* identity only; NULL marks a free slot */
    uint64_t born;     /* clock at its PY_START */
    uint64_t last;     /* clock at its last yield */
    Py_ssize_t index;  /* its record's index */
    uint32_t act_id;   /* its activation's serial (MtFrame.act_id) */
} MtSuspended;

/* A finished thread's numbers for one function (no latency: that went to
 * the tracer's totals of finished threads). */
typedef struct {
    Py_ssize_t index; /* record index */
    uint64_t calls;
    uint64_t primitive_calls;
    uint64_t total;
    uint64_t self;
    uint64_t wall;
} MtThreadTotal;

typedef struct MtScopeThread MtScopeThread;
/* A thread's part of the dynamic filters (MtThreadState.scope; scope.c
 * decides, this is where it keeps the thread's answer and the activations
 * it left out), made on the first event and started afresh when the
 * config's generation moved on. */
struct MtScopeThread {
    uint64_t generation; /* of the config the state below was made for */
    int verdict;         /* 1 recorded, 0 ignored, -1 undecided */
    unsigned polls;      /* events seen while undecided */
    const void **hidden; /* Owned array: ids left out, innermost last */
    size_t nhidden;
    size_t capacity;
};

struct MtThreadState {
    MtFailures *failures;      /* Borrowed: where its failures are noted */
    uint32_t *next_activation; /* Borrowed: the session's activation count */
    MtThreadState *next;       /* Owned by the tracer's list */
    unsigned long ident;       /* threading.get_ident() */
    unsigned long native_id;   /* threading.get_native_id() */
    uint32_t index;            /* creation order, 0 first (event log) */
    PyObject *name;            /* Owned: thread name once known, or NULL */
    uint32_t name_tries;       /* pushes that asked for it (deferring) */
    MtFrame *stack;            /* Owned array */
    size_t depth;
    size_t capacity;
    MtStats **rows; /* Owned array of owned rows, by record index */
    Py_ssize_t nrows;
    MtScopeThread *scope;                       /* Owned (scope.c), or NULL */
    struct MtWatchThread *watch;                /* Owned (watch.c), or NULL */
    void (*watch_free)(struct MtWatchThread *); /* frees `watch` */
    MtEdgeTable edges; /* caller -> callee edges (edges.h) */
    /* Suspended generator activations: the latest one to suspend in
     * `parked` (frame NULL: none), the others in the table. A generator
     * is most often resumed before another one suspends (a consumer
     * pulling from it), so the common yield and resume touch `parked`
     * only. A frame is in one of the two at most. */
    MtSuspended parked;
    MtSuspended *suspended; /* Owned open-addressing table, or NULL */
    size_t suspended_mask;  /* capacity - 1 (a power of two) */
    size_t suspended_used;
    MtFrame *replay; /* Owned array, or NULL: the stack as the event log
                        has told it so far (deferred.h) */
    size_t replay_depth;
    size_t replay_capacity;
    PyObject *watcher;     /* Borrowed: the thread's dict owns it; NULL
                              once it is gone or detached */
    int finished;          /* the thread ended: only totals are left */
    MtThreadTotal *totals; /* Owned array, once finished */
    Py_ssize_t ntotals;
};

/* Double one of `ts`'s frame arrays (its stack or its replay stack);
 * -1, a failure noted, when memory ran out. */
int mt_stack_frames_grow(MtThreadState *ts, MtFrame **frames,
                         size_t *capacity);
int mt_stack_grow(MtThreadState *ts);
/* End the suspended activations of record `index` (all when -1). */
void mt_stack_end_suspended(MtThreadState *ts, Py_ssize_t index);
/* Forget the suspended activations without ending them, and free the
 * table (a reset, a finished thread). */
void mt_stack_forget_suspended(MtThreadState *ts);

/* The generator paths' uncommon cases, out of line (stack.c). */
void mt_stack_gen_start_slow(MtThreadState *ts, const void *frame);
void mt_stack_gen_resume_slow(MtThreadState *ts, MtFrame *f,
                              const void *frame);
void mt_stack_gen_park_slow(MtThreadState *ts, MtFrame *f, uint64_t now,
                            const void *frame);
void mt_stack_gen_done(MtStats *st, uint64_t ticks);

/* A generator's frame `f` was pushed: a new activation (`is_call`) or
 * the resumption of one, found again by its interpreter frame. */
static inline void
mt_stack_gen_enter(MtThreadState *ts, MtFrame *f, int is_call)
{
    if (is_call) {
        f->born = f->start;
        f->suspends = MT_SUSPENDS_BORN;
        /* 0 means "none": skipped when the counter wraps. */
        f->act_id = ++*ts->next_activation;
        if (MT_UNLIKELY(f->act_id == 0)) {
            f->act_id = ++*ts->next_activation;
        }
        if (MT_UNLIKELY(ts->parked.frame != NULL || ts->suspended_used)) {
            /* The frame's memory may be a dead generator's. */
            mt_stack_gen_start_slow(ts, mt_compat_frame_key());
        }
        return;
    }
    const void *frame = mt_compat_frame_key();
    if (MT_LIKELY(frame != NULL && ts->parked.frame == frame
                  && ts->parked.index == f->index)) {
        f->born = ts->parked.born;
        f->suspends = MT_SUSPENDS_BORN;
        f->act_id = ts->parked.act_id;
        ts->parked.frame = NULL;
        return;
    }
    mt_stack_gen_resume_slow(ts, f, frame);
}

/* A generator's activation left the stack at `now`: it suspended
 * (`suspend`: parked until resumed) or it ended. `f` is BORN. */
static inline void
mt_stack_gen_park(MtThreadState *ts, MtFrame *f, uint64_t now, int suspend)
{
    if (suspend) {
        const void *frame = mt_compat_frame_key();
        if (MT_LIKELY(frame != NULL && ts->parked.frame == NULL)) {
            ts->parked =
                (MtSuspended){frame, f->born, now, f->index, f->act_id};
            return;
        }
        mt_stack_gen_park_slow(ts, f, now, frame);
        return;
    }
    mt_stack_gen_done(f->stats, now > f->born ? now - f->born : 0);
}

/* A generator's frame `f` left the stack after `elapsed` ticks: it
 * suspended (`suspend`) or its activation ended. */
static inline void
mt_stack_gen_leave(MtThreadState *ts, MtFrame *f, uint64_t now,
                   uint64_t elapsed, int suspend)
{
    MtStats *st = f->stats;
    if (st->segments != NULL) {
        mt_stats_sample(st->segments, elapsed);
    }
    if (f->suspends == MT_SUSPENDS_BORN) {
        mt_stack_gen_park(ts, f, now, suspend);
    }
    /* else its start was missed: no activation to measure */
}

/* Account `f` (in a stack whose frame below it is `below`, or NULL) as
 * an activation of `rec` begun at `now`, whose row on this thread is
 * `st`: its edge, its row's calls and activations. Generator bookkeeping
 * is the caller's. */
static inline void
mt_frame_begin(MtThreadState *ts, MtFrame *f, const MtFrame *below,
               MtRecord *rec, MtStats *st, uint64_t now, int is_call)
{
    f->edge = mt_edges_enter(&ts->edges, below != NULL ? below->index : -1,
                             rec->index, is_call);
    f->index = rec->index;
    f->id = rec->id;
    f->stats = st;
    f->start = now;
    f->children = 0;
    f->suspends = MT_SUSPENDS_NO;
    if (is_call) {
        st->calls++;
        st->primitive_calls += (st->active == 0);
    }
    st->active++;
}

/* Account `f` (the frame below it `below`, or NULL) as ended at `now`:
 * the activation finished, or (`suspend`, a generator's PY_YIELD) it left
 * the stack to come back later. */
static inline void
mt_frame_end(MtThreadState *ts, MtFrame *f, MtFrame *below, uint64_t now,
             int suspend)
{
    uint64_t elapsed = now > f->start ? now - f->start : 0;
    MtStats *st = f->stats;
    st->self += elapsed > f->children ? elapsed - f->children : 0;
    if (--st->active == 0) {
        st->total += elapsed;
    }
    if (MT_LIKELY(f->suspends == MT_SUSPENDS_NO)) {
        mt_stats_sample(st, elapsed);
    }
    else {
        mt_stack_gen_leave(ts, f, now, elapsed, suspend);
    }
    mt_edges_leave(f->edge, elapsed, f->children);
    if (below != NULL) {
        below->children += elapsed;
    }
}

/* Push an activation of `rec`, whose row on this thread is `st`. `is_call`
 * is 1 for a new call (PY_START or a C call), 0 for re-entering a
 * suspended frame (PY_RESUME, PY_THROW); a generator's new activation
 * takes the next number of the session's (ts->next_activation). */
static inline void
mt_stack_push(MtThreadState *ts, MtRecord *rec, MtStats *st, uint64_t now,
              int is_call)
{
    if (MT_UNLIKELY(ts->depth == ts->capacity)) {
        if (mt_stack_grow(ts) < 0) {
            return;
        }
    }
    MtFrame *f = &ts->stack[ts->depth++];
    mt_frame_begin(ts, f, ts->depth > 1 ? f - 1 : NULL, rec, st, now, is_call);
    if (MT_UNLIKELY(rec->generator)) {
        mt_stack_gen_enter(ts, f, is_call);
    }
}

/* Pop the top frame, accounting it as ended at `now` (mt_frame_end). */
static inline void
mt_stack_pop(MtThreadState *ts, uint64_t now, int suspend)
{
    MtFrame *f = &ts->stack[--ts->depth];
    mt_frame_end(ts, f, ts->depth > 0 ? f - 1 : NULL, now, suspend);
}

void mt_stack_exit_repair(MtThreadState *ts, const void *id, uint64_t now,
                          int suspend, int deferred);

/* An activation of `id` left the stack at `now`: it ended, or it was
 * suspended (`suspend`: PY_YIELD). */
static inline void
mt_stack_exit(MtThreadState *ts, const void *id, uint64_t now, int suspend)
{
    if (MT_LIKELY(ts->depth > 0 && ts->stack[ts->depth - 1].id == id)) {
        mt_stack_pop(ts, now, suspend);
        return;
    }
    mt_stack_exit_repair(ts, id, now, suspend, 0);
}

/* ---- the deferred stack (record mode, deferred.h) -------------------- */

/* Push an activation of `rec` that the event log records: only what
 * the log cannot tell later is kept (the frame's identity, and a
 * generator's activation with its row `st`); its numbers come from the
 * log when read (deferred.h). `st` is NULL unless `rec` is a generator. */
static inline void
mt_stack_push_deferred(MtThreadState *ts, MtRecord *rec, MtStats *st,
                       uint64_t now, int is_call)
{
    if (MT_UNLIKELY(ts->depth == ts->capacity)) {
        if (mt_stack_grow(ts) < 0) {
            return;
        }
    }
    MtFrame *f = &ts->stack[ts->depth++];
    f->index = rec->index;
    f->id = rec->id;
    f->start = now; /* a generator's birth; a settle's frame not logged */
    f->suspends = MT_SUSPENDS_NO;
    f->stats = st;
    if (MT_UNLIKELY(st != NULL)) {
        mt_stack_gen_enter(ts, f, is_call);
    }
}

/* Pop the top deferred frame at `now`: only a generator's activation is
 * accounted here. */
static inline void
mt_stack_pop_deferred(MtThreadState *ts, uint64_t now, int suspend)
{
    MtFrame *f = &ts->stack[--ts->depth];
    if (MT_UNLIKELY(f->suspends == MT_SUSPENDS_BORN)) {
        mt_stack_gen_park(ts, f, now, suspend);
    }
}

/* mt_stack_exit for a deferred frame. */
static inline void
mt_stack_exit_deferred(MtThreadState *ts, const void *id, uint64_t now,
                       int suspend)
{
    if (MT_LIKELY(ts->depth > 0 && ts->stack[ts->depth - 1].id == id)) {
        mt_stack_pop_deferred(ts, now, suspend);
        return;
    }
    mt_stack_exit_repair(ts, id, now, suspend, 1);
}

/* Send the frames counting into `st` to `sink`, their identity with
 * them: the code object died and its address may be reused. */
void mt_stack_frames_redirect(MtFrame *frames, size_t depth, const MtStats *st,
                              MtStats *sink);
/* Record `index`'s code object died: send the frames (stack and replay)
 * counting into its row on `ts` to `sink`, merge the row into `into`
 * (dropped when NULL) and free it. */
void mt_stack_retire_row(MtThreadState *ts, Py_ssize_t index, MtStats *sink,
                         MtStats *into);

/* A zeroed row for `rec` on `ts` (storage only: threadstate.h names the
 * thread on the way); NULL, a failure noted, when memory ran out. */
MtStats *mt_stack_row_new(MtThreadState *ts, const MtRecord *rec);

/* Forget the activations left out on one thread (at stop). */
void mt_scope_thread_flush(MtScopeThread *sc);
/* Free one thread's scope state; NULL is fine. */
void mt_scope_thread_free(MtScopeThread *sc);

#endif /* MT_STACK_H */
