/* Thread states: creation on a thread's first event, stack growth, stack
 * repair, and teardown. */
#include "threadstate.h"
#include "scope.h"

__thread MtTls mt_tls[MT_TOOL_SLOTS]
    __attribute__((tls_model("initial-exec")));

/* Look the thread's name up in threading._active without running Python
 * code: the Thread object's `_name`, read from its instance dict. The
 * `name` property is Python code, which may release the GIL in the middle
 * of a callback (and a subclass may override it); threading.
 * current_thread() would create a _DummyThread for a thread that is still
 * bootstrapping. */
static void
resolve_name(MtTracer *tr, MtThreadState *ts)
{
    if (ts->name != NULL || tr->thread_table == NULL) {
        return;
    }
    PyObject *saved = PyErr_GetRaisedException();
    PyObject *key = PyLong_FromUnsignedLong(ts->ident);
    PyObject *thread = NULL, *dict = NULL;
    if (key != NULL && PyDict_Check(tr->thread_table)) {
        thread = PyDict_GetItemWithError(tr->thread_table, key);
    }
    if (thread != NULL && Py_TYPE(thread)->tp_dictoffset != 0) {
        dict = PyObject_GenericGetDict(thread, NULL);
    }
    if (dict != NULL && PyDict_Check(dict)) {
        PyObject *name = PyDict_GetItemString(dict, "_name");
        if (name != NULL && PyUnicode_Check(name)) {
            ts->name = Py_NewRef(name);
        }
    }
    Py_XDECREF(dict);
    Py_XDECREF(key);
    PyErr_Clear();
    PyErr_SetRaisedException(saved);
}

MtThreadState *
mt_thread_slow(MtTracer *tr)
{
    MtThreadState *ts = PyMem_Calloc(1, sizeof(*ts));
    if (ts == NULL) {
        mt_tracer_fail(tr, MT_ERR_NOMEM, "thread state");
        return NULL;
    }
    ts->ident = PyThread_get_thread_ident();
    ts->native_id = PyThread_get_thread_native_id();
    ts->index = tr->threads ? tr->threads->index + 1 : 0;
    ts->next = tr->threads;
    tr->threads = ts;
    mt_tls[tr->tool].serial = tr->serial;
    mt_tls[tr->tool].ts = ts;
    resolve_name(tr, ts);
    return ts;
}

MtStats *
mt_thread_row_slow(MtTracer *tr, MtThreadState *ts, MtRecord *rec)
{
    if (rec->index >= ts->nrows) {
        Py_ssize_t n = ts->nrows ? ts->nrows : 64;
        while (n <= rec->index) {
            n *= 2;
        }
        MtStats **rows = PyMem_Realloc(ts->rows, n * sizeof(*rows));
        if (rows == NULL) {
            mt_tracer_fail(tr, MT_ERR_NOMEM, "stats rows");
            return NULL;
        }
        memset(rows + ts->nrows, 0, (n - ts->nrows) * sizeof(*rows));
        ts->rows = rows;
        ts->nrows = n;
    }
    MtStats *st = PyMem_Calloc(1, sizeof(*st));
    if (st == NULL) {
        mt_tracer_fail(tr, MT_ERR_NOMEM, "stats row");
        return NULL;
    }
    ts->rows[rec->index] = st;
    /* A thread's first rows come while it starts up; by the time it runs
     * its target it is registered with threading and has a name. */
    resolve_name(tr, ts);
    return st;
}

int
mt_thread_grow(MtTracer *tr, MtThreadState *ts)
{
    size_t cap = ts->capacity ? ts->capacity * 2 : 128;
    MtFrame *stack = PyMem_Realloc(ts->stack, cap * sizeof(*stack));
    if (stack == NULL) {
        mt_tracer_fail(tr, MT_ERR_NOMEM, "stack");
        return -1;
    }
    ts->stack = stack;
    ts->capacity = cap;
    return 0;
}

void
mt_thread_exit_repair(MtThreadState *ts, const void *id, uint64_t now)
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
    while (ts->depth >= i) {
        mt_thread_pop(ts, now);
    }
}

void
mt_thread_flush_all(MtTracer *tr, uint64_t now)
{
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        while (ts->depth > 0) {
            mt_thread_pop(ts, now);
        }
        mt_scope_thread_flush(ts->scope);
    }
}

void
mt_thread_clear_all(MtTracer *tr)
{
    MtThreadState *ts = tr->threads;
    tr->threads = NULL;
    while (ts != NULL) {
        MtThreadState *next = ts->next;
        for (Py_ssize_t i = 0; i < ts->nrows; i++) {
            PyMem_Free(ts->rows[i]);
        }
        PyMem_Free(ts->rows);
        mt_edges_clear(&ts->edges);
        PyMem_Free(ts->stack);
        Py_CLEAR(ts->name);
        mt_scope_thread_free(ts->scope);
        PyMem_Free(ts);
        ts = next;
    }
}

int
mt_thread_traverse(MtTracer *tr, visitproc visit, void *arg)
{
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        Py_VISIT(ts->name);
    }
    return 0;
}

PyObject *
mt_thread_name(MtTracer *tr, MtThreadState *ts)
{
    resolve_name(tr, ts);
    return ts->name;
}
