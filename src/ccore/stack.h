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
    MtFrame *stack;            /* Owned array */
    size_t depth;
    size_t capacity;
    MtStats **rows; /* Owned array of owned rows, by record index */
    Py_ssize_t nrows;
    MtScopeThread *scope;                       /* Owned (scope.c), or NULL */
    struct MtWatchThread *watch;                /* Owned (watch.c), or NULL */
    void (*watch_free)(struct MtWatchThread *); /* frees `watch` */
    MtEdgeTable edges;      /* caller -> callee edges (edges.h) */
    MtSuspended *suspended; /* Owned open-addressing table, or NULL */
    size_t suspended_mask;  /* capacity - 1 (a power of two) */
    size_t suspended_used;
    PyObject *watcher;     /* Borrowed: the thread's dict owns it; NULL
                              once it is gone or detached */
    int finished;          /* the thread ended: only totals are left */
    MtThreadTotal *totals; /* Owned array, once finished */
    Py_ssize_t ntotals;
};

int mt_stack_grow(MtThreadState *ts);
void mt_stack_gen_enter(MtThreadState *ts, MtFrame *f, int is_call);
void mt_stack_gen_leave(MtThreadState *ts, MtFrame *f, uint64_t now,
                        uint64_t elapsed, int suspend);
/* End the suspended activations of record `index` (all when -1). */
void mt_stack_end_suspended(MtThreadState *ts, Py_ssize_t index);

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
    f->edge = mt_edges_enter(&ts->edges, ts->depth > 1 ? f[-1].index : -1,
                             rec->index, is_call);
    f->index = rec->index;
    f->id = rec->id;
    f->stats = st;
    f->start = now;
    f->children = 0;
    f->suspends = MT_SUSPENDS_NO;
    if (MT_UNLIKELY(rec->generator)) {
        mt_stack_gen_enter(ts, f, is_call);
    }
    if (is_call) {
        st->calls++;
        st->primitive_calls += (st->active == 0);
    }
    st->active++;
}

/* Pop the top frame, accounting it as ended at `now`: the activation
 * finished, or (`suspend`, a generator's PY_YIELD) it left the stack to
 * come back later. */
static inline void
mt_stack_pop(MtThreadState *ts, uint64_t now, int suspend)
{
    MtFrame *f = &ts->stack[--ts->depth];
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
    if (ts->depth > 0) {
        ts->stack[ts->depth - 1].children += elapsed;
    }
}

void mt_stack_exit_repair(MtThreadState *ts, const void *id, uint64_t now,
                          int suspend);

/* An activation of `id` left the stack at `now`: it ended, or it was
 * suspended (`suspend`: PY_YIELD). */
static inline void
mt_stack_exit(MtThreadState *ts, const void *id, uint64_t now, int suspend)
{
    if (MT_LIKELY(ts->depth > 0 && ts->stack[ts->depth - 1].id == id)) {
        mt_stack_pop(ts, now, suspend);
        return;
    }
    mt_stack_exit_repair(ts, id, now, suspend);
}

/* Forget the activations left out on one thread (at stop). */
void mt_scope_thread_flush(MtScopeThread *sc);
/* Free one thread's scope state; NULL is fine. */
void mt_scope_thread_free(MtScopeThread *sc);

#endif /* MT_STACK_H */
