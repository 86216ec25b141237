/* Per-thread shadow stacks and statistics rows.
 *
 * Each thread that delivers an event gets an MtThreadState, found through a
 * thread-local pointer tagged with the tracer's serial. The stack holds one
 * frame per active traced function; it trusts nothing: an exit that does not
 * match the top pops down to the matching frame, and an exit that matches no
 * frame (tracing began mid-stack) is ignored.
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
#include "edges.h"
#include "records.h"
#include "session.h"

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
    MtThreadState *next;     /* Owned by the tracer's list */
    unsigned long ident;     /* threading.get_ident() */
    unsigned long native_id; /* threading.get_native_id() */
    uint32_t index;          /* creation order, 0 first (event log) */
    PyObject *name;          /* Owned: thread name once known, or NULL */
    MtFrame *stack;          /* Owned array */
    size_t depth;
    size_t capacity;
    MtStats **rows; /* Owned array of owned rows, by record index */
    Py_ssize_t nrows;
    MtScopeThread *scope;        /* Owned (scope.c), or NULL */
    struct MtWatchThread *watch; /* Owned (watch.c), or NULL */
    void (*watch_free)(struct MtWatchThread *); /* frees `watch` */
    MtEdgeTable edges;           /* caller -> callee edges (edges.h) */
    MtSuspended *suspended;      /* Owned open-addressing table, or NULL */
    size_t suspended_mask;       /* capacity - 1 (a power of two) */
    size_t suspended_used;
    PyObject *watcher;      /* Borrowed: the thread's dict owns it; NULL
                               once it is gone or detached */
    int finished;           /* the thread ended: only totals are left */
    MtThreadTotal *totals;  /* Owned array, once finished */
    Py_ssize_t ntotals;
};

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
int mt_thread_grow(MtTracer *tr, MtThreadState *ts);
void mt_thread_gen_enter(MtTracer *tr, MtThreadState *ts, MtFrame *f,
                         int is_call);
void mt_thread_gen_leave(MtTracer *tr, MtThreadState *ts, MtFrame *f,
                         uint64_t now, uint64_t elapsed, int suspend);

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
    if (MT_UNLIKELY(ts->depth == ts->capacity)) {
        if (mt_thread_grow(tr, ts) < 0) {
            return;
        }
    }
    MtFrame *f = &ts->stack[ts->depth++];
    f->edge = mt_edges_enter(&tr->failures, &ts->edges, ts->depth > 1 ? f[-1].index : -1,
                             rec->index, is_call);
    f->index = rec->index;
    f->id = rec->id;
    f->stats = st;
    f->start = now;
    f->children = 0;
    f->suspends = MT_SUSPENDS_NO;
    if (MT_UNLIKELY(rec->generator)) {
        mt_thread_gen_enter(tr, ts, f, is_call);
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
mt_thread_pop(MtTracer *tr, MtThreadState *ts, uint64_t now, int suspend)
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
        mt_thread_gen_leave(tr, ts, f, now, elapsed, suspend);
    }
    mt_edges_leave(f->edge, elapsed, f->children);
    if (ts->depth > 0) {
        ts->stack[ts->depth - 1].children += elapsed;
    }
}

/* The thread's name (borrowed), looked up once known, or NULL. */
PyObject *mt_thread_name(MtTracer *tr, MtThreadState *ts);

void mt_thread_exit_repair(MtTracer *tr, MtThreadState *ts, const void *id,
                           uint64_t now, int suspend);

/* An activation of `id` left the stack at `now`: it ended, or it was
 * suspended (`suspend`: PY_YIELD). */
static inline void
mt_thread_exit(MtTracer *tr, MtThreadState *ts, const void *id, uint64_t now,
               int suspend)
{
    if (MT_LIKELY(ts->depth > 0 && ts->stack[ts->depth - 1].id == id)) {
        mt_thread_pop(tr, ts, now, suspend);
        return;
    }
    mt_thread_exit_repair(tr, ts, id, now, suspend);
}

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

/* Forget the activations left out on one thread (at stop). */
void mt_scope_thread_flush(MtScopeThread *sc);
/* Free one thread's scope state; NULL is fine. */
void mt_scope_thread_free(MtScopeThread *sc);

/* The type of the thread-end watcher (module state). */
int mt_thread_watcher_type_init(PyObject *module, MtModuleState *state);

/* Zero every thread's numbers in place, empty its stacks and forget
 * finished threads' totals (Tracer.reset(), paused or stopped). */
void mt_thread_reset_all(MtTracer *tr);

#endif /* MT_THREADSTATE_H */
