/* Per-thread shadow stacks and statistics rows, as storage: see stack.h. */
#include "stack.h"

int
mt_stack_grow(MtThreadState *ts)
{
    size_t cap = ts->capacity ? ts->capacity * 2 : 128;
    MtFrame *stack = PyMem_Realloc(ts->stack, cap * sizeof(*stack));
    if (stack == NULL) {
        mt_fail(ts->failures, MT_ERR_NOMEM, "stack");
        return -1;
    }
    ts->stack = stack;
    ts->capacity = cap;
    return 0;
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
static void
activation_done(MtStats *st, uint64_t ticks)
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
        activation_done(st, e->last > e->born ? e->last - e->born : 0);
    }
}

void
mt_stack_end_suspended(MtThreadState *ts, Py_ssize_t index)
{
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
mt_stack_gen_enter(MtThreadState *ts, MtFrame *f, int is_call)
{
    const void *frame = mt_compat_frame_key();
    MtSuspended *e = frame != NULL ? suspended_find(ts, frame) : NULL;
    if (e != NULL && (is_call || e->index != f->index)) {
        /* The frame's memory belongs to a new generator: the one
         * suspended there died without an event. */
        end_one(ts, e);
        suspended_remove(ts, e);
        e = NULL;
    }
    if (is_call) {
        f->born = f->start;
        f->suspends = MT_SUSPENDS_BORN;
        /* 0 means "none": skipped when the counter wraps. */
        f->act_id = ++*ts->next_activation;
        if (f->act_id == 0) {
            f->act_id = ++*ts->next_activation;
        }
    }
    else if (e != NULL) {
        f->born = e->born;
        f->suspends = MT_SUSPENDS_BORN;
        f->act_id = e->act_id;
        suspended_remove(ts, e);
    }
    else {
        f->suspends = MT_SUSPENDS_UNBORN;
    }
}

void
mt_stack_gen_leave(MtThreadState *ts, MtFrame *f, uint64_t now,
                   uint64_t elapsed, int suspend)
{
    MtStats *st = f->stats;
    if (st->segments != NULL) {
        mt_stats_sample(st->segments, elapsed);
    }
    if (f->suspends != MT_SUSPENDS_BORN) {
        return; /* its start was missed: no activation to measure */
    }
    const void *frame = suspend ? mt_compat_frame_key() : NULL;
    MtSuspended *e = frame != NULL ? suspended_slot(ts, frame) : NULL;
    if (e == NULL) {
        /* Finished (or, out of memory, as good as finished now). */
        activation_done(st, now > f->born ? now - f->born : 0);
        return;
    }
    if (e->frame == NULL) {
        ts->suspended_used++;
    }
    *e = (MtSuspended){frame, f->born, now, f->index, f->act_id};
}

void
mt_stack_exit_repair(MtThreadState *ts, const void *id, uint64_t now,
                     int suspend)
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
        mt_stack_pop(ts, now, 0);
    }
    mt_stack_pop(ts, now, suspend);
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
