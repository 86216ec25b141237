/* Dynamic filters: which activations of traced code are recorded.
 *
 * The static filter (discover.c) decides once per code object whether its
 * events reach us at all. The scope decides per activation, from per-thread
 * state: the thread filter (threads=), the depth below where tracing (or a
 * within= target) started (max_depth=), the subtree of a within= target,
 * and the subtree of an exclude_within= target. An activation left out is
 * pushed on the thread's "hidden" stack instead of the shadow stack, so
 * its callees are left out too and its exit finds it again.
 *
 * With no dynamic filter the tracer has no scope and each hook costs one
 * pointer test.
 */
#ifndef MT_SCOPE_H
#define MT_SCOPE_H

#include "common.h"
#include "records.h"
#include "threadstate.h"
#include "session.h"

typedef struct MtScopeConfig MtScopeConfig;

/* Per tracer; NULL when no dynamic filter is set. (min_duration= only
 * shapes trees and event reads, so it is applied in Python, events.py.)
 *
 * set_scope() replaces the config while other threads may be inside the
 * thread filter (Python code, the GIL released): a config is refcounted,
 * the tracer holding one reference and each running thread filter call
 * another, and it carries a generation that per-thread states compare
 * with theirs, so set_scope() frees no thread's state under it. */
struct MtScopeConfig {
    Py_ssize_t refs;         /* the tracer's + thread filter calls' */
    uint64_t generation;     /* unique per set_scope() */
    size_t max_depth;        /* deepest recorded level, 0: no limit */
    int within;              /* record only inside within= targets */
    int exclude_within;      /* leave exclude_within= subtrees out */
    PyObject *thread_filter; /* Owned or NULL: callable(ident, name) */
    /* Owned or NULL: a code object whose activation at the bottom of a
     * thread's shadow stack is not a level (the program the command runs:
     * depth counts the calls its module code makes). */
    PyObject *root;
};

int mt_scope_enter_slow(MtTracer *tr, MtThreadState *ts, MtRecord *rec);
int mt_scope_exit_slow(MtTracer *tr, MtThreadState *ts, const void *id);

/* 1 if the activation of `rec` starting now on `ts` is recorded (push it on
 * the shadow stack), 0 if it is left out (already accounted here). */
static inline int
mt_scope_enter(MtTracer *tr, MtThreadState *ts, MtRecord *rec)
{
    if (MT_LIKELY(tr->scope == NULL)) {
        return 1;
    }
    return mt_scope_enter_slow(tr, ts, rec);
}

/* 1 if the activation of `id` ending now belongs to the shadow stack, 0 if
 * it was left out by mt_scope_enter (already accounted here). */
static inline int
mt_scope_exit(MtTracer *tr, MtThreadState *ts, const void *id)
{
    if (MT_LIKELY(tr->scope == NULL)) {
        return 1;
    }
    return mt_scope_exit_slow(tr, ts, id);
}

/* Tracer.set_scope(); see its docstring in scope.c. */
PyObject *mt_scope_set(PyObject *self, PyObject *args, PyObject *kwargs);
extern const char mt_scope_set_doc[];
/* Tracer.scope: the current settings as a dict, or None. */
PyObject *mt_scope_get(PyObject *self, void *closure);

/* The tracer's scope config goes with the tracer. */
void mt_scope_free(MtTracer *tr);
int mt_scope_traverse(MtTracer *tr, visitproc visit, void *arg);

#endif /* MT_SCOPE_H */
