/* Per-thread shadow stacks and statistics rows, as storage: see stack.h. */
#include "stack.h"

int
mt_stack_frames_grow(MtThreadState *ts, MtFrame **frames, size_t *capacity)
{
    size_t cap = *capacity ? *capacity * 2 : 128;
    MtFrame *grown = PyMem_Realloc(*frames, cap * sizeof(*grown));
    if (grown == NULL) {
        mt_fail(ts->failures, MT_ERR_NOMEM, "stack");
        return -1;
    }
    *frames = grown;
    *capacity = cap;
    return 0;
}

int
mt_stack_grow(MtThreadState *ts)
{
    return mt_stack_frames_grow(ts, &ts->stack, &ts->capacity);
}

/* ---- generator activations across suspensions ----------------------- */

/* Linear probing on the frame address, with backward-shift deletion (no
 * tombstones), so lookups stay short however many generators come and
 * go. */
static size_t
suspended_home(const void *frame, size_t mask)
{
    uint64_t h = (uint64_t)(uintptr_t)frame * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & mask;
}

static MtSuspended *
suspended_find(MtThreadState *ts, const void *frame)
{
    if (ts->suspended == NULL) {
        return NULL;
    }
    size_t mask = ts->suspended_mask;
    for (size_t i = suspended_home(frame, mask);; i = (i + 1) & mask) {
        MtSuspended *e = &ts->suspended[i];
        if (e->frame == frame) {
            return e;
        }
        if (e->frame == NULL) {
            return NULL;
        }
    }
}

static void
suspended_remove(MtThreadState *ts, MtSuspended *e)
{
    MtSuspended *t = ts->suspended;
    size_t mask = ts->suspended_mask;
    size_t i = (size_t)(e - t);
    for (size_t j = (i + 1) & mask; t[j].frame != NULL; j = (j + 1) & mask) {
        size_t k = suspended_home(t[j].frame, mask);
        /* t[j] may fill the hole unless its home lies in (i, j]. */
        int stays = i <= j ? (k > i && k <= j) : (k > i || k <= j);
        if (!stays) {
            t[i] = t[j];
            i = j;
        }
    }
    t[i].frame = NULL;
    ts->suspended_used--;
}

/* A slot for `frame` (an empty one, or its own), growing the table when
 * it is three quarters full; NULL when memory ran out. */
static MtSuspended *
suspended_slot(MtThreadState *ts, const void *frame)
{
    if (ts->suspended == NULL
        || (ts->suspended_used + 1) * 4 > (ts->suspended_mask + 1) * 3) {
        size_t cap = ts->suspended ? (ts->suspended_mask + 1) * 2 : 64;
        MtSuspended *t = PyMem_Calloc(cap, sizeof(*t));
        if (t == NULL) {
            mt_fail(ts->failures, MT_ERR_NOMEM, "suspended generators");
            return NULL;
        }
        MtSuspended *old = ts->suspended;
        size_t old_cap = old ? ts->suspended_mask + 1 : 0;
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i].frame == NULL) {
                continue;
            }
            size_t j = suspended_home(old[i].frame, cap - 1);
            while (t[j].frame != NULL) {
                j = (j + 1) & (cap - 1);
            }
            t[j] = old[i];
        }
        PyMem_Free(old);
        ts->suspended = t;
        ts->suspended_mask = cap - 1;
    }
    size_t mask = ts->suspended_mask;
    size_t i = suspended_home(frame, mask);
    while (ts->suspended[i].frame != NULL && ts->suspended[i].frame != frame) {
        i = (i + 1) & mask;
    }
    return &ts->suspended[i];
}

/* A generator's activation of `ticks`, start to finish, ended. */
void
mt_stack_gen_done(MtStats *st, uint64_t ticks)
{
    mt_stats_sample(st, ticks);
    st->wall += ticks;
}

/* A suspended activation ended without an event of its own: closed or
 * collected where CPython runs none of its code (3.13 closes a
 * generator suspended outside any try block that way), or still
 * suspended when the thread or the session ends. What the tracer saw of
 * it ran from its start to its last yield. */
static void
end_one(MtThreadState *ts, const MtSuspended *e)
{
    MtStats *st = e->index < ts->nrows ? ts->rows[e->index] : NULL;
    if (st != NULL) {
        mt_stack_gen_done(st, e->last > e->born ? e->last - e->born : 0);
    }
}

void
mt_stack_end_suspended(MtThreadState *ts, Py_ssize_t index)
{
    if (ts->parked.frame != NULL && (index < 0 || ts->parked.index == index)) {
        end_one(ts, &ts->parked);
        ts->parked.frame = NULL;
    }
    size_t cap = ts->suspended ? ts->suspended_mask + 1 : 0;
    for (size_t i = 0; i < cap;) {
        MtSuspended *e = &ts->suspended[i];
        if (e->frame == NULL || (index >= 0 && e->index != index)) {
            i++;
            continue;
        }
        end_one(ts, e);
        if (index < 0) {
            e->frame = NULL;
            i++;
        }
        else {
            suspended_remove(ts, e); /* may shift another entry into i */
        }
    }
    if (index < 0) {
        ts->suspended_used = 0;
    }
}

void
mt_stack_forget_suspended(MtThreadState *ts)
{
    ts->parked.frame = NULL;
    PyMem_Free(ts->suspended);
    ts->suspended = NULL;
    ts->suspended_mask = 0;
    ts->suspended_used = 0;
}

/* A new activation starts in `frame` while others are suspended: one
 * suspended there died without an event, and its memory was reused. */
void
mt_stack_gen_start_slow(MtThreadState *ts, const void *frame)
{
    if (frame == NULL) {
        return;
    }
    if (ts->parked.frame == frame) {
        end_one(ts, &ts->parked);
        ts->parked.frame = NULL;
    }
    MtSuspended *e = suspended_find(ts, frame);
    if (e != NULL) {
        end_one(ts, e);
        suspended_remove(ts, e);
    }
}

void
mt_stack_gen_resume_slow(MtThreadState *ts, MtFrame *f, const void *frame)
{
    f->suspends = MT_SUSPENDS_UNBORN;
    if (frame == NULL) {
        return;
    }
    if (ts->parked.frame == frame) {
        /* Another function's activation: the frame's memory was reused
         * by a generator whose start was missed. */
        end_one(ts, &ts->parked);
        ts->parked.frame = NULL;
        return;
    }
    MtSuspended *e = suspended_find(ts, frame);
    if (e == NULL) {
        return; /* suspended before tracing began, or on another thread */
    }
    if (e->index != f->index) {
        end_one(ts, e);
    }
    else {
        f->born = e->born;
        f->suspends = MT_SUSPENDS_BORN;
        f->act_id = e->act_id;
    }
    suspended_remove(ts, e);
}

/* Put `e` in the table, ending the stale activation it replaces; ended
 * there and then when memory ran out. */
static void
suspended_put(MtThreadState *ts, const MtSuspended *e)
{
    MtSuspended *slot = suspended_slot(ts, e->frame);
    if (slot == NULL) {
        end_one(ts, e);
        return;
    }
    if (slot->frame == NULL) {
        ts->suspended_used++;
    }
    else {
        end_one(ts, slot);
    }
    *slot = *e;
}

void
mt_stack_gen_park_slow(MtThreadState *ts, MtFrame *f, uint64_t now,
                       const void *frame)
{
    if (frame == NULL) {
        /* No frame to find it by: as good as finished now. */
        mt_stack_gen_done(f->stats, now > f->born ? now - f->born : 0);
        return;
    }
    if (ts->parked.frame == frame) {
        end_one(ts, &ts->parked); /* a dead generator's, never resumed */
    }
    else {
        suspended_put(ts, &ts->parked);
    }
    ts->parked = (MtSuspended){frame, f->born, now, f->index, f->act_id};
}

void
mt_stack_exit_repair(MtThreadState *ts, const void *id, uint64_t now,
                     int suspend, int deferred)
{
    size_t i = ts->depth;
    while (i > 0 && ts->stack[i - 1].id != id) {
        i--;
    }
    if (i == 0) {
        return; /* began before tracing did: not ours */
    }
    /* Frames above the match ended without an event (a lost exit): end
     * them now, then the match itself. */
    while (ts->depth > i) {
        if (deferred) {
            mt_stack_pop_deferred(ts, now, 0);
        }
        else {
            mt_stack_pop(ts, now, 0);
        }
    }
    if (deferred) {
        mt_stack_pop_deferred(ts, now, suspend);
    }
    else {
        mt_stack_pop(ts, now, suspend);
    }
}

void
mt_stack_frames_redirect(MtFrame *frames, size_t depth, const MtStats *st,
                         MtStats *sink)
{
    for (size_t d = 0; d < depth; d++) {
        if (frames[d].stats == st) {
            frames[d].stats = sink;
            frames[d].id = sink;
        }
    }
}

void
mt_stack_retire_row(MtThreadState *ts, Py_ssize_t index, MtStats *sink,
                    MtStats *into)
{
    MtStats *st = index < ts->nrows ? ts->rows[index] : NULL;
    if (st == NULL) {
        return;
    }
    mt_stack_frames_redirect(ts->stack, ts->depth, st, sink);
    mt_stack_frames_redirect(ts->replay, ts->replay_depth, st, sink);
    if (into != NULL && mt_stats_merge(into, st) < 0) {
        mt_fail(ts->failures, MT_ERR_NOMEM, "totals of a dead code object");
    }
    mt_stats_free(st);
    ts->rows[index] = NULL;
}

MtStats *
mt_stack_row_new(MtThreadState *ts, const MtRecord *rec)
{
    if (rec->index >= ts->nrows) {
        Py_ssize_t n = ts->nrows ? ts->nrows : 64;
        while (n <= rec->index) {
            n *= 2;
        }
        MtStats **rows = PyMem_Realloc(ts->rows, n * sizeof(*rows));
        if (rows == NULL) {
            mt_fail(ts->failures, MT_ERR_NOMEM, "stats rows");
            return NULL;
        }
        memset(rows + ts->nrows, 0, (n - ts->nrows) * sizeof(*rows));
        ts->rows = rows;
        ts->nrows = n;
    }
    MtStats *st = mt_stats_new(rec->generator);
    if (st == NULL) {
        mt_fail(ts->failures, MT_ERR_NOMEM, "stats row");
        return NULL;
    }
    ts->rows[rec->index] = st;
    return st;
}

void
mt_scope_thread_flush(MtScopeThread *sc)
{
    if (sc != NULL) {
        sc->nhidden = 0;
    }
}

void
mt_scope_thread_free(MtScopeThread *sc)
{
    if (sc != NULL) {
        PyMem_Free((void *)sc->hidden);
        PyMem_Free(sc);
    }
}
