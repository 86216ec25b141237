/* Well-nested activations from the event log (see walk.h). */
#include "walk.h"

void
mt_walk_init(MtWalker *w, MtWalkBegin on_begin, MtWalkEnd on_end, void *ctx)
{
    memset(w, 0, sizeof(*w));
    w->on_begin = on_begin;
    w->on_end = on_end;
    w->ctx = ctx;
}

void
mt_walk_free(MtWalker *w)
{
    for (size_t i = 0; i < w->nthreads; i++) {
        PyMem_RawFree(w->threads[i].acts);
    }
    PyMem_RawFree(w->threads);
    PyMem_RawFree(w->order);
    w->threads = NULL;
    w->order = NULL;
    w->nthreads = 0;
}

static MtWalkThread *
thread_of(MtWalker *w, uint32_t index)
{
    if (index >= w->nthreads) {
        size_t n = w->nthreads ? w->nthreads : 8;
        while (n <= index) {
            n *= 2;
        }
        MtWalkThread *t = PyMem_RawRealloc(w->threads, n * sizeof(*t));
        uint32_t *order =
            t ? PyMem_RawRealloc(w->order, n * sizeof(*order)) : NULL;
        if (t != NULL) {
            w->threads = t;
        }
        if (order == NULL) {
            w->nomem = 1;
            return NULL;
        }
        w->order = order;
        memset(t + w->nthreads, 0, (n - w->nthreads) * sizeof(*t));
        w->nthreads = n;
    }
    MtWalkThread *t = &w->threads[index];
    if (!t->seen) {
        t->seen = 1;
        t->order = w->nseen;
        w->order[w->nseen++] = index;
    }
    return t;
}

static int
is_enter(unsigned kind)
{
    return kind == MT_LOG_CALL || kind == MT_LOG_RESUME || kind == MT_LOG_THROW
           || kind == MT_LOG_C_CALL;
}

static void
end_top(MtWalker *w, uint32_t thread, MtWalkThread *t, int64_t now,
        const MtLogEvent *e, uint64_t seq)
{
    MtWalkAct *a = &t->acts[--t->depth];
    a->end_ns = now > a->start_ns ? now : a->start_ns;
    if (t->depth > 0) {
        t->acts[t->depth - 1].child_ns += a->end_ns - a->start_ns;
    }
    w->on_end(w, thread, a, e, seq);
}

void
mt_walk_event(MtWalker *w, const MtLogEvent *e, uint64_t seq, int64_t now)
{
    MtWalkThread *t = thread_of(w, e->thread);
    if (t == NULL) {
        return;
    }
    t->last_ns = now;
    if (is_enter(e->kind)) {
        if (t->depth == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 64;
            MtWalkAct *acts = PyMem_RawRealloc(t->acts, cap * sizeof(*acts));
            if (acts == NULL) {
                w->nomem = 1;
                return;
            }
            t->acts = acts;
            t->cap = cap;
        }
        MtWalkAct *a = &t->acts[t->depth];
        memset(a, 0, sizeof(*a));
        a->function = e->record;
        a->is_call = e->kind == MT_LOG_CALL || e->kind == MT_LOG_C_CALL;
        a->start_ns = now;
        a->seq = seq;
        w->on_begin(w, e->thread, a, t->depth ? a - 1 : NULL, e);
        t->depth++;
        return;
    }
    if (e->kind == MT_LOG_LINE || t->depth == 0) {
        return;
    }
    size_t i = t->depth;
    while (i > 0 && t->acts[i - 1].function != e->record) {
        i--;
    }
    if (i == 0) {
        return; /* began before recording did */
    }
    while (t->depth > i) {
        end_top(w, e->thread, t, now, NULL, 0);
    }
    end_top(w, e->thread, t, now, e, seq);
}

void
mt_walk_finish(MtWalker *w)
{
    for (uint32_t k = 0; k < w->nseen; k++) {
        uint32_t thread = w->order[k];
        MtWalkThread *t = &w->threads[thread];
        while (t->depth > 0) {
            end_top(w, thread, t, t->last_ns, NULL, 0);
        }
    }
}

/* ---- min_duration ------------------------------------------------------ */

typedef struct {
    uint64_t seq; /* its enter event */
    int64_t start_ns;
} Open;

typedef struct {
    uint64_t first; /* enter event */
    uint64_t last;  /* exit event */
} Span;

typedef struct {
    Open *open; /* MinDuration's stack, by depth */
    size_t nopen;
    size_t open_cap;
    Span *spans; /* dropped spans, nested or apart, in exit order */
    size_t nspans;
    size_t spans_cap;
} ShortThread;

static int
grow(void **items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return 0;
    }
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need) {
        n *= 2;
    }
    void *p = PyMem_RawRealloc(*items, n * size);
    if (p == NULL) {
        return -1;
    }
    *items = p;
    *cap = n;
    return 0;
}

uint8_t *
mt_walk_short(const MtEventLog *log, uint64_t end, double scale,
              int64_t min_ns)
{
    uint8_t *bits = PyMem_RawCalloc((size_t)(end / 8 + 1), 1);
    ShortThread *threads = NULL;
    size_t nthreads = 0;
    int failed = bits == NULL;
    for (uint64_t seq = 0; seq < end && !failed; seq++) {
        const MtLogEvent *e = mt_eventlog_event_at(log, seq);
        if (e->thread >= nthreads) {
            size_t n = nthreads ? nthreads * 2 : 8;
            while (n <= e->thread) {
                n *= 2;
            }
            ShortThread *t = PyMem_RawRealloc(threads, n * sizeof(*t));
            if (t == NULL) {
                failed = 1;
                break;
            }
            memset(t + nthreads, 0, (n - nthreads) * sizeof(*t));
            threads = t;
            nthreads = n;
        }
        ShortThread *t = &threads[e->thread];
        size_t depth = e->depth;
        if (is_enter(e->kind)) {
            if (t->nopen > depth) {
                t->nopen = depth;
            }
            if (grow((void **)&t->open, &t->open_cap, t->nopen + 1,
                     sizeof(Open))
                < 0) {
                failed = 1;
                break;
            }
            t->open[t->nopen++] =
                (Open){seq, mt_eventlog_ns(log, scale, e->time)};
            continue;
        }
        if (e->kind == MT_LOG_LINE || t->nopen <= depth) {
            continue;
        }
        t->nopen = depth;
        Open o = t->open[depth];
        if (mt_eventlog_ns(log, scale, e->time) - o.start_ns >= min_ns) {
            continue;
        }
        /* Short: it swallows the spans dropped inside it. */
        while (t->nspans > 0 && t->spans[t->nspans - 1].first >= o.seq) {
            t->nspans--;
        }
        if (grow((void **)&t->spans, &t->spans_cap, t->nspans + 1,
                 sizeof(Span))
            < 0) {
            failed = 1;
            break;
        }
        t->spans[t->nspans++] = (Span){o.seq, seq};
    }
    for (size_t i = 0; i < nthreads; i++) {
        ShortThread *t = &threads[i];
        for (size_t k = 0; k < t->nspans && !failed; k++) {
            for (uint64_t seq = t->spans[k].first; seq <= t->spans[k].last;
                 seq++) {
                if (mt_eventlog_event_at(log, seq)->thread == i) {
                    bits[seq >> 3] |= (uint8_t)(1u << (seq & 7));
                }
            }
        }
        PyMem_RawFree(t->open);
        PyMem_RawFree(t->spans);
    }
    PyMem_RawFree(threads);
    if (failed) {
        PyMem_RawFree(bits);
        return NULL;
    }
    return bits;
}
