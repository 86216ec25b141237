/* Caller -> callee edges, per thread: what pstats calls "callers".
 *
 * An edge counts the calls one traced function made to another, on one
 * thread, with the same semantics as a function's own row: a call is
 * primitive when no activation of the same edge is already on the stack,
 * inclusive time counts only the outermost activation of the edge, and
 * self time counts every activation. That is how cProfile accounts its
 * sub-entries, so a pstats export can give the same numbers.
 *
 * The thread's stack frames hold a borrowed pointer to their edge, found
 * once on entry through an open-addressing table keyed by the pair of
 * record indexes. Edges are allocated one by one on the slow path (first
 * sight of a pair) so their addresses never move; the table of pointers is
 * rehashed when it fills up. Once warm, nothing allocates.
 */
#ifndef MT_EDGES_H
#define MT_EDGES_H

#include "common.h"
#include "failure.h"

typedef struct {
    Py_ssize_t caller;        /* record index of the calling function */
    Py_ssize_t callee;        /* record index of the called function */
    uint64_t calls;           /* new calls (not resumes) along the edge */
    uint64_t primitive_calls; /* calls while the edge was not active */
    uint64_t total;           /* inclusive ticks, outermost activation */
    uint64_t self;            /* exclusive ticks of the callee */
    uint32_t active;          /* activations of the edge on the stack */
} MtEdge;

typedef struct {
    MtEdge **slots;       /* Owned array of owned edges, or NULL */
    MtFailures *failures; /* Borrowed: where a failed allocation is noted */
    size_t mask;          /* capacity - 1 (a power of two) */
    size_t used;
} MtEdgeTable;

MtEdge *mt_edges_find_slow(MtEdgeTable *t, Py_ssize_t caller,
                           Py_ssize_t callee);

static inline size_t
mt_edges_hash(Py_ssize_t caller, Py_ssize_t callee)
{
    uint64_t x = ((uint64_t)caller << 32) ^ (uint64_t)callee;
    x *= 0x9e3779b97f4a7c15ull;
    return (size_t)(x >> 29);
}

/* The edge `caller` -> `callee`, counted as entered. `caller` is -1 for a
 * frame with nothing traced below it: no edge, NULL. NULL also when memory
 * ran out (the tracer's error flag says so). */
static inline MtEdge *
mt_edges_enter(MtEdgeTable *t, Py_ssize_t caller, Py_ssize_t callee,
               int is_call)
{
    if (caller < 0) {
        return NULL;
    }
    MtEdge *e = NULL;
    if (MT_LIKELY(t->slots != NULL)) {
        size_t i = mt_edges_hash(caller, callee) & t->mask;
        while ((e = t->slots[i]) != NULL
               && (e->caller != caller || e->callee != callee)) {
            i = (i + 1) & t->mask;
        }
    }
    if (MT_UNLIKELY(e == NULL)) {
        e = mt_edges_find_slow(t, caller, callee);
        if (e == NULL) {
            return NULL;
        }
    }
    if (is_call) {
        e->calls++;
        e->primitive_calls += (e->active == 0);
    }
    e->active++;
    return e;
}

/* An activation along `e` (may be NULL) lasted `elapsed` ticks, of which
 * `children` were spent in traced callees. */
static inline void
mt_edges_leave(MtEdge *e, uint64_t elapsed, uint64_t children)
{
    if (e == NULL) {
        return;
    }
    e->self += elapsed > children ? elapsed - children : 0;
    if (--e->active == 0) {
        e->total += elapsed;
    }
}

/* Free every edge and the table. */
void mt_edges_clear(MtEdgeTable *t);

#endif /* MT_EDGES_H */
