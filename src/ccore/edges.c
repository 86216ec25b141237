/* Caller -> callee edges: the slow path (creation, table growth) and
 * teardown. */
#include "edges.h"

static void
place(MtEdge **slots, size_t mask, MtEdge *e)
{
    size_t i = mt_edges_hash(e->caller, e->callee) & mask;
    while (slots[i] != NULL) {
        i = (i + 1) & mask;
    }
    slots[i] = e;
}

static int
grow(MtEdgeTable *t)
{
    size_t cap = t->slots != NULL ? (t->mask + 1) * 2 : 64;
    MtEdge **slots = PyMem_Calloc(cap, sizeof(*slots));
    if (slots == NULL) {
        return -1;
    }
    if (t->slots != NULL) {
        for (size_t i = 0; i <= t->mask; i++) {
            if (t->slots[i] != NULL) {
                place(slots, cap - 1, t->slots[i]);
            }
        }
        PyMem_Free(t->slots);
    }
    t->slots = slots;
    t->mask = cap - 1;
    return 0;
}

MtEdge *
mt_edges_find_slow(MtEdgeTable *t, Py_ssize_t caller, Py_ssize_t callee)
{
    if (t->slots != NULL) {
        size_t i = mt_edges_hash(caller, callee) & t->mask;
        for (MtEdge *e; (e = t->slots[i]) != NULL; i = (i + 1) & t->mask) {
            if (e->caller == caller && e->callee == callee) {
                return e;
            }
        }
    }
    if (t->slots == NULL || (t->used + 1) * 2 > t->mask + 1) {
        if (grow(t) < 0) {
            mt_fail(t->failures, MT_ERR_NOMEM, "caller edges");
            return NULL;
        }
    }
    MtEdge *e = PyMem_Calloc(1, sizeof(*e));
    if (e == NULL) {
        mt_fail(t->failures, MT_ERR_NOMEM, "caller edge");
        return NULL;
    }
    e->caller = caller;
    e->callee = callee;
    place(t->slots, t->mask, e);
    t->used++;
    return e;
}

void
mt_edges_clear(MtEdgeTable *t)
{
    if (t->slots != NULL) {
        for (size_t i = 0; i <= t->mask; i++) {
            PyMem_Free(t->slots[i]);
        }
        PyMem_Free(t->slots);
    }
    t->slots = NULL;
    t->mask = 0;
    t->used = 0;
}
