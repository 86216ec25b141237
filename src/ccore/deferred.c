/* Record mode's deferred numbers: see deferred.h. */
#include "deferred.h"
#include "eventlog.h"
#include "records.h"

/* ---- the replay stack ------------------------------------------------- */

/* Push the frame of record `index` begun at `time` (a new call when
 * `is_call`) on `ts`'s replay stack, accounted as the live path would. */
static inline void
replay_push(MtTracer *tr, MtThreadState *ts, uint32_t index, uint64_t time,
            int is_call)
{
    if ((Py_ssize_t)index >= tr->records.count) {
        mt_fail(&tr->failures, MT_ERR_INTERNAL, "a logged record unknown");
        return;
    }
    MtRecord *rec = tr->records.items[index];
    MtStats *st = rec->index < ts->nrows ? ts->rows[rec->index] : NULL;
    if (st == NULL && (st = mt_stack_row_new(ts, rec)) == NULL) {
        return;
    }
    if (ts->replay_depth == ts->replay_capacity
        && mt_stack_frames_grow(ts, &ts->replay, &ts->replay_capacity) < 0) {
        return;
    }
    MtFrame *f = &ts->replay[ts->replay_depth++];
    mt_frame_begin(ts, f, ts->replay_depth > 1 ? f - 1 : NULL, rec, st, time,
                   is_call);
    if (rec->generator) {
        /* Its segments are accounted here, its activation was live. */
        f->suspends = MT_SUSPENDS_UNBORN;
    }
}

/* Pop `ts`'s replay stack down to `depth` frames at `time`. */
static inline void
replay_pop_to(MtThreadState *ts, size_t depth, uint64_t time)
{
    while (ts->replay_depth > depth) {
        MtFrame *f = &ts->replay[--ts->replay_depth];
        mt_frame_end(ts, f, ts->replay_depth > 0 ? f - 1 : NULL, time, 0);
    }
}

/* ---- code objects that died ------------------------------------------ */

typedef struct MtDeferRetire {
    Py_ssize_t index;
    MtStats *into; /* Borrowed: the retired totals of its name, or NULL */
} MtDeferRetire;

int
mt_deferred_retire_later(MtTracer *tr, Py_ssize_t index, MtStats *into)
{
    if (!tr->defer) {
        return 0;
    }
    if (tr->nretires == tr->retires_cap) {
        size_t cap = tr->retires_cap ? tr->retires_cap * 2 : 16;
        MtDeferRetire *r = PyMem_Realloc(tr->retires, cap * sizeof(*r));
        if (r == NULL) {
            mt_deferred_fold(tr); /* retired now instead */
            return 0;
        }
        tr->retires = r;
        tr->retires_cap = cap;
    }
    tr->retires[tr->nretires++] = (MtDeferRetire){index, into};
    return 1;
}

/* The log is folded: the dead code objects' rows can go. */
static void
retire_rows(MtTracer *tr)
{
    for (size_t i = 0; i < tr->nretires; i++) {
        for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
            if (!ts->finished) {
                mt_stack_retire_row(ts, tr->retires[i].index,
                                    &tr->records.sink, tr->retires[i].into);
            }
        }
    }
    tr->nretires = 0;
}

/* ---- folding ---------------------------------------------------------- */

/* The live thread states by log index (finished ones left out): a
 * PyMem array of `*n`, or NULL with `*n` 0 (none, or memory ran out:
 * noted, and the events are skipped). */
static MtThreadState **
threads_by_index(MtTracer *tr, size_t *n)
{
    size_t count = 0;
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        if ((size_t)ts->index + 1 > count) {
            count = (size_t)ts->index + 1;
        }
    }
    *n = 0;
    if (count == 0) {
        return NULL;
    }
    MtThreadState **by = PyMem_Calloc(count, sizeof(*by));
    if (by == NULL) {
        mt_fail(&tr->failures, MT_ERR_NOMEM, "deferred statistics");
        return NULL;
    }
    *n = count;
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        if (!ts->finished) {
            by[ts->index] = ts;
        }
    }
    return by;
}

/* The stop at `stop` emptied every stack. */
static void
fold_stop(MtTracer *tr, const MtDeferStop *stop)
{
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        replay_pop_to(ts, 0, stop->time);
    }
}

/* One logged event: a push to its depth, or a pop down to it. */
static void
fold_event(MtTracer *tr, MtThreadState *ts, const MtLogEvent *e)
{
    switch ((MtLogKind)e->kind) {
    case MT_LOG_CALL:
    case MT_LOG_C_CALL:
    case MT_LOG_RESUME:
    case MT_LOG_THROW:
        /* The stack below it is the one the log told (a deeper replay
         * would mean a lost exit: ended here, as the live path would). */
        replay_pop_to(ts, e->depth, e->time);
        replay_push(tr, ts, e->record, e->time,
                    e->kind == MT_LOG_CALL || e->kind == MT_LOG_C_CALL);
        break;
    case MT_LOG_RETURN:
    case MT_LOG_RAISE:
    case MT_LOG_YIELD:
    case MT_LOG_C_RETURN:
    case MT_LOG_C_RAISE:
        replay_pop_to(ts, e->depth, e->time);
        break;
    default:
        break; /* LINE: no stack change */
    }
}

void
mt_deferred_fold(MtTracer *tr)
{
    uint64_t count = tr->log.count;
    if (!tr->defer
        || (tr->folded >= count && tr->nstops == 0 && tr->nretires == 0)) {
        return;
    }
    size_t nthreads = 0;
    MtThreadState **by = threads_by_index(tr, &nthreads);
    size_t s = 0;
    uint64_t seq = tr->folded;
    while (seq < count) {
        for (; s < tr->nstops && tr->stops[s].seq <= seq; s++) {
            fold_stop(tr, &tr->stops[s]);
        }
        /* A run of events up to the next stop or the chunk's end, read
         * straight from the chunk. */
        uint64_t end = seq - seq % MT_LOG_CHUNK + MT_LOG_CHUNK;
        if (end > count) {
            end = count;
        }
        if (s < tr->nstops && tr->stops[s].seq < end) {
            end = tr->stops[s].seq;
        }
        const MtLogEvent *e = mt_eventlog_event_at(&tr->log, seq);
        for (; seq < end; seq++, e++) {
            MtThreadState *ts = e->thread < nthreads ? by[e->thread] : NULL;
            if (ts != NULL) {
                fold_event(tr, ts, e);
            }
        }
    }
    for (; s < tr->nstops; s++) {
        fold_stop(tr, &tr->stops[s]);
    }
    PyMem_Free(by);
    tr->folded = count;
    tr->nstops = 0;
    retire_rows(tr);
}

/* ---- settling --------------------------------------------------------- */

/* Fold, then hand each live frame the numbers its replay twin holds, and
 * stop deferring: from here on the callbacks account as stats mode
 * does. */
static void
settle(MtTracer *tr)
{
    mt_deferred_fold(tr);
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        if (ts->finished) {
            continue;
        }
        size_t same =
            ts->depth < ts->replay_depth ? ts->depth : ts->replay_depth;
        /* They agree unless a push was never logged: a thread inside
         * the recorder's slow path (a coroutine's start asking asyncio
         * for its task runs Python code) when another thread filled the
         * log. Its extra frame counts into the sink. */
        if (same != ts->depth || same != ts->replay_depth) {
            mt_fail(&tr->failures, MT_ERR_INTERNAL,
                    "a stack and its log disagree");
        }
        for (size_t d = 0; d < ts->depth; d++) {
            MtFrame *f = &ts->stack[d];
            if (d < same) {
                const MtFrame *r = &ts->replay[d];
                f->stats = r->stats;
                f->edge = r->edge;
                f->start = r->start;
                f->children = r->children;
            }
            else {
                /* Not in the log: counted from here on, in the sink. */
                f->stats = &tr->records.sink;
                f->edge = NULL;
                f->children = 0;
            }
        }
        ts->replay_depth = 0;
    }
    tr->defer = 0;
}

int
mt_deferred_room(MtTracer *tr)
{
    if (!mt_eventlog_make_room(&tr->log, &tr->failures)) {
        settle(tr);
    }
    return tr->defer;
}

void
mt_deferred_start(MtTracer *tr)
{
    const MtEventLog *log = &tr->log;
    int want = log->lean && !log->lines && log->count < log->limit;
    if (!want && tr->defer) {
        settle(tr);
    }
    if (want && !tr->defer) {
        /* What the log holds so far was counted as it happened. */
        tr->folded = log->count;
        tr->nstops = 0;
    }
    tr->defer = want;
}

void
mt_deferred_stop(MtTracer *tr, uint64_t now)
{
    if (!tr->defer) {
        return;
    }
    if (tr->nstops == tr->stops_cap) {
        size_t cap = tr->stops_cap ? tr->stops_cap * 2 : 4;
        MtDeferStop *stops = PyMem_Realloc(tr->stops, cap * sizeof(*stops));
        if (stops == NULL) {
            /* Fold now instead: the stacks are not emptied yet. */
            mt_fail(&tr->failures, MT_ERR_NOMEM, "deferred statistics");
            settle(tr);
            return;
        }
        tr->stops = stops;
        tr->stops_cap = cap;
    }
    tr->stops[tr->nstops++] = (MtDeferStop){tr->log.count, now};
}

void
mt_deferred_thread_end(MtTracer *tr, MtThreadState *ts, uint64_t now)
{
    if (!tr->defer) {
        return;
    }
    mt_deferred_fold(tr);
    replay_pop_to(ts, 0, now);
    while (ts->depth > 0) {
        mt_stack_pop_deferred(ts, now, 0);
    }
}

void
mt_deferred_forget(MtTracer *tr)
{
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        ts->replay_depth = 0;
    }
    tr->folded = 0;
    tr->nstops = 0;
    tr->nretires = 0; /* their rows go with every other row */
}

void
mt_deferred_free(MtTracer *tr)
{
    PyMem_Free(tr->stops);
    tr->stops = NULL;
    tr->nstops = tr->stops_cap = 0;
    PyMem_Free(tr->retires);
    tr->retires = NULL;
    tr->nretires = tr->retires_cap = 0;
    tr->defer = 0;
}
