/* Dynamic filters: the per-thread decisions behind mt_scope_enter and
 * mt_scope_exit, and Tracer.set_scope(). */
#include "scope.h"
#include "guard.h"

/* A thread not yet registered with threading has no name; threads= asks
 * again on each of its events, up to this many, then decides without. */
#define MT_SCOPE_NAME_POLLS 256

static uint64_t next_generation = 1;

static void
config_decref(MtScopeConfig *cfg)
{
    if (cfg != NULL && --cfg->refs == 0) {
        Py_CLEAR(cfg->thread_filter);
        Py_CLEAR(cfg->root);
        PyMem_Free(cfg);
    }
}

/* Start the thread's state over for `cfg` (the config changed). */
static void
reset_thread(MtScopeThread *sc, const MtScopeConfig *cfg)
{
    sc->generation = cfg->generation;
    sc->verdict = cfg->thread_filter != NULL ? -1 : 1;
    sc->polls = 0;
    sc->nhidden = 0;
}

static MtScopeThread *
thread_scope(MtTracer *tr, MtThreadState *ts)
{
    MtScopeThread *sc = ts->scope;
    if (MT_LIKELY(sc != NULL)) {
        if (MT_UNLIKELY(sc->generation != tr->scope->generation)) {
            reset_thread(sc, tr->scope);
        }
        return sc;
    }
    sc = PyMem_Calloc(1, sizeof(*sc));
    if (sc == NULL) {
        mt_fail(&tr->failures, MT_ERR_NOMEM, "scope");
        return NULL;
    }
    reset_thread(sc, tr->scope);
    ts->scope = sc;
    return sc;
}

/* Ask the threads= callable about this thread: 1 record it, 0 ignore it,
 * -1 undecided (it answered None while the name is unknown), or -2 when
 * the tracer was stopped, cleared or dropped while the callable ran (see
 * guard.h: then `ts` and `sc` may be gone), or its scope was replaced
 * (then the answer is for settings no longer in force). Runs Python code;
 * the caller's in-flight exception is preserved. */
static int
decide_thread(MtTracer *tr, MtThreadState *ts, MtScopeThread *sc)
{
    PyObject *name = mt_thread_name(tr, ts);
    int last = name != NULL || ++sc->polls >= MT_SCOPE_NAME_POLLS;
    int verdict = 1;
    PyObject *res = NULL;
    PyObject *ident = PyLong_FromUnsignedLong(ts->ident);
    MtScopeConfig *cfg = tr->scope;
    cfg->refs++; /* kept alive across the call, whatever set_scope() does */
    PyObject *filter = Py_NewRef(cfg->thread_filter);
    Py_XINCREF(name); /* `ts` may go while the filter runs */
    MtGuard g;
    mt_guard_open(&g, tr, MT_GUARD_SIGNALS);
    if (ident != NULL) {
        res = PyObject_CallFunctionObjArgs(
            filter, ident, name != NULL ? name : Py_None, NULL);
    }
    if (res == NULL) {
        mt_guard_fail(&g, MT_ERR_FILTER, "threads filter");
    }
    else if (res == Py_None) {
        verdict = last ? 0 : -1;
    }
    else {
        verdict = PyObject_IsTrue(res);
        if (verdict < 0) {
            mt_guard_fail(&g, MT_ERR_FILTER, "threads filter result");
            verdict = 1;
        }
    }
    Py_XDECREF(res);
    Py_XDECREF(ident);
    Py_XDECREF(name);
    Py_DECREF(filter);
    /* Compared by address while our reference keeps `cfg` allocated. */
    if (!mt_guard_close(&g) || tr->scope != cfg) {
        verdict = -2;
    }
    config_decref(cfg);
    return verdict;
}

/* Leave the activation of `id` out, with everything it calls. */
static void
hide(MtTracer *tr, MtScopeThread *sc, const void *id)
{
    if (MT_UNLIKELY(sc->nhidden == sc->capacity)) {
        size_t cap = sc->capacity ? sc->capacity * 2 : 32;
        const void **hidden =
            PyMem_Realloc((void *)sc->hidden, cap * sizeof(*hidden));
        if (hidden == NULL) {
            mt_fail(&tr->failures, MT_ERR_NOMEM, "scope stack");
            return;
        }
        sc->hidden = hidden;
        sc->capacity = cap;
    }
    sc->hidden[sc->nhidden++] = id;
}

int
mt_scope_enter_slow(MtTracer *tr, MtThreadState *ts, MtRecord *rec)
{
    MtScopeThread *sc = thread_scope(tr, ts);
    if (MT_UNLIKELY(sc == NULL)) {
        return 1;
    }
    if (MT_UNLIKELY(sc->verdict < 0)) {
        int verdict = decide_thread(tr, ts, sc);
        if (verdict == -2) {
            return 0; /* the tracer changed meanwhile: drop the event */
        }
        sc->verdict = verdict;
    }
    /* Read only now: the thread filter may have run set_scope(). */
    const MtScopeConfig *cfg = tr->scope;
    if (sc->verdict != 1) {
        return 0;
    }
    /* Depth counts recorded activations on this thread: the first level
     * below where tracing started (or below the code outside a within=
     * target, or below the root) is 1. */
    size_t depth = ts->depth;
    if (cfg->root != NULL && depth > 0
        && ts->stack[0].id == (const void *)cfg->root) {
        depth--;
    }
    if (sc->nhidden > 0
        || (cfg->exclude_within && (rec->scope & MT_VERDICT_EXCLUDE_WITHIN))
        || (cfg->max_depth != 0 && depth >= cfg->max_depth)) {
        hide(tr, sc, rec->id);
        return 0;
    }
    /* Outside every within= target nothing is on the shadow stack, and
     * what runs there is not tracked at all: its exits match nothing. */
    if (cfg->within && ts->depth == 0 && !(rec->scope & MT_VERDICT_WITHIN)) {
        return 0;
    }
    return 1;
}

int
mt_scope_exit_slow(MtTracer *tr, MtThreadState *ts, const void *id)
{
    MtScopeThread *sc = ts->scope;
    if (sc == NULL) {
        return 1;
    }
    if (sc->generation != tr->scope->generation) {
        reset_thread(sc, tr->scope);
    }
    if (sc->verdict != 1) {
        return 0;
    }
    size_t n = sc->nhidden;
    if (n == 0) {
        return 1;
    }
    while (n > 0 && sc->hidden[n - 1] != id) {
        n--;
    }
    if (n > 0) {
        /* Entries above the match lost their exits: drop them too. */
        sc->nhidden = n - 1;
        return 0;
    }
    /* Not left out, so it began below every left-out activation, which
     * therefore all ended without an exit event. */
    sc->nhidden = 0;
    return 1;
}

void
mt_scope_free(MtTracer *tr)
{
    MtScopeConfig *cfg = tr->scope;
    if (cfg == NULL) {
        return;
    }
    tr->scope = NULL;
    config_decref(cfg);
}

int
mt_scope_traverse(MtTracer *tr, visitproc visit, void *arg)
{
    if (tr->scope != NULL) {
        Py_VISIT(tr->scope->thread_filter);
        Py_VISIT(tr->scope->root);
    }
    return 0;
}

const char mt_scope_set_doc[] =
    "set_scope($self, /, *, max_depth=0, within=False, exclude_within=False,\n"
    "          thread_filter=None, root=None)\n"
    "--\n\n"
    "Set the dynamic filters (the tracer must be stopped). Activations of\n"
    "traced code are recorded only on threads for which\n"
    "thread_filter(ident, name) is true (None means 'ask again once the\n"
    "name is known'); only down to max_depth levels of recorded calls\n"
    "(0: no limit); with within=True only inside activations of records\n"
    "whose filter verdict has the within bit (2); with exclude_within=True\n"
    "never inside activations of records with the exclude_within bit (4).\n"
    "An activation of the code object root at the bottom of a thread's\n"
    "stack is recorded but is not a level: max_depth counts below it.";

PyObject *
mt_scope_set(PyObject *self, PyObject *args, PyObject *kwargs)
{
    MtTracer *tr = (MtTracer *)self;
    static char *kwlist[] = {"max_depth",     "within", "exclude_within",
                             "thread_filter", "root",   NULL};
    Py_ssize_t max_depth = 0;
    int within = 0, exclude_within = 0;
    PyObject *thread_filter = Py_None, *root = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$nppOO:set_scope", kwlist,
                                     &max_depth, &within, &exclude_within,
                                     &thread_filter, &root)) {
        return NULL;
    }
    if (mt_guard_refuse(tr, "set_scope", 1) < 0) {
        return NULL;
    }
    if (max_depth < 0) {
        PyErr_Format(PyExc_ValueError,
                     "max_depth must be 0 (no limit) or more, not %zd",
                     max_depth);
        return NULL;
    }
    if (thread_filter != Py_None && !PyCallable_Check(thread_filter)) {
        PyErr_Format(PyExc_TypeError,
                     "thread_filter must be a callable or None, not %.100s",
                     Py_TYPE(thread_filter)->tp_name);
        return NULL;
    }
    if (root != Py_None && !PyCode_Check(root)) {
        PyErr_Format(PyExc_TypeError,
                     "root must be a code object or None, not %.100s",
                     Py_TYPE(root)->tp_name);
        return NULL;
    }
    /* Threads' states start afresh from the new generation on their next
     * event; the old config lives on while a thread filter call uses it. */
    mt_scope_free(tr);
    if (max_depth == 0 && !within && !exclude_within
        && thread_filter == Py_None) {
        Py_RETURN_NONE;
    }
    MtScopeConfig *cfg = PyMem_Calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        return PyErr_NoMemory();
    }
    cfg->refs = 1;
    cfg->generation = next_generation++;
    cfg->max_depth = (size_t)max_depth;
    cfg->within = within;
    cfg->exclude_within = exclude_within;
    cfg->thread_filter =
        thread_filter == Py_None ? NULL : Py_NewRef(thread_filter);
    cfg->root = root == Py_None ? NULL : Py_NewRef(root);
    tr->scope = cfg;
    Py_RETURN_NONE;
}

PyObject *
mt_scope_get(PyObject *self, void *Py_UNUSED(closure))
{
    const MtScopeConfig *cfg = ((MtTracer *)self)->scope;
    if (cfg == NULL) {
        Py_RETURN_NONE;
    }
    return Py_BuildValue(
        "{s:n,s:O,s:O,s:O,s:O}", "max_depth", (Py_ssize_t)cfg->max_depth,
        "within", cfg->within ? Py_True : Py_False, "exclude_within",
        cfg->exclude_within ? Py_True : Py_False, "thread_filter",
        cfg->thread_filter != NULL ? cfg->thread_filter : Py_None, "root",
        cfg->root != NULL ? cfg->root : Py_None);
}
