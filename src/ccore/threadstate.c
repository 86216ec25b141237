/* Thread states: creation on a thread's first event, stack growth, stack
 * repair, and teardown. */
#include "threadstate.h"
#include "deferred.h"

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

void
mt_thread_name_pending(MtTracer *tr, MtThreadState *ts)
{
    /* On each of a thread's first pushes (it registers with threading
     * early in its start-up), then ever more rarely: a thread threading
     * never knows costs a lookup per doubling of its pushes. */
    uint32_t n = ++ts->name_tries;
    if (n <= 256 || (n & (n - 1)) == 0) {
        resolve_name(tr, ts);
    }
}

/* ---- the thread-end watcher ------------------------------------------ */

/* Lives in the thread's dict (PyThreadState_GetDict), as a key. CPython
 * releases that dict when it clears the thread's state, right after the
 * thread's last Python code ran (or, for threads that vanished, at fork
 * or exit); the watcher's deallocation then finishes the thread state. */
typedef struct {
    PyObject_HEAD
    MtTracer *tracer;  /* Borrowed: detaches us before it goes, or NULL */
    MtThreadState *ts; /* Borrowed from the tracer */
    PyObject *dict;    /* Borrowed: the thread's dict, which owns us */
} MtThreadWatcher;

static void
watcher_dealloc(PyObject *self)
{
    MtThreadWatcher *w = (MtThreadWatcher *)self;
    PyTypeObject *tp = Py_TYPE(self);
    MtTracer *tr = w->tracer;
    if (tr != NULL) {
        w->tracer = NULL;
        w->ts->watcher = NULL;
        /* Once finalizing, the thread's data simply stays as it is. */
        if (!mt_compat_finalizing()) {
            PyObject *saved = PyErr_GetRaisedException();
            mt_thread_finish(tr, w->ts);
            PyErr_SetRaisedException(saved);
        }
    }
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot watcher_slots[] = {
    {Py_tp_doc, "Finishes a monitrace thread state when its thread ends."},
    {Py_tp_dealloc, watcher_dealloc},
    {0, NULL},
};

static PyType_Spec watcher_spec = {
    .name = "monitrace._core.ThreadWatcher",
    .basicsize = sizeof(MtThreadWatcher),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = watcher_slots,
};

int
mt_thread_watcher_type_init(PyObject *module, MtModuleState *state)
{
    state->watcher_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &watcher_spec, NULL);
    return state->watcher_type == NULL ? -1 : 0;
}

/* Put a watcher for `ts` in the calling thread's dict. Without one (no
 * memory) the thread's rows simply stay until clear(). */
static void
watch_thread(MtTracer *tr, MtThreadState *ts)
{
    PyObject *saved = PyErr_GetRaisedException();
    MtModuleState *state = PyType_GetModuleState(Py_TYPE(tr));
    PyObject *dict = PyThreadState_GetDict(); /* borrowed */
    MtThreadWatcher *w = NULL;
    if (state != NULL && dict != NULL) {
        w = PyObject_New(MtThreadWatcher, state->watcher_type);
    }
    if (w != NULL) {
        w->tracer = tr;
        w->ts = ts;
        w->dict = dict;
        if (PyDict_SetItem(dict, (PyObject *)w, Py_None) == 0) {
            ts->watcher = (PyObject *)w;
        }
        else {
            w->tracer = NULL;
        }
        Py_DECREF(w); /* the dict holds it, or it goes now */
    }
    PyErr_Clear();
    PyErr_SetRaisedException(saved);
}

/* Take the watcher of `ts` out of its thread's dict, so that it never
 * calls back (the thread state is about to be freed). */
static void
unwatch_thread(MtThreadState *ts)
{
    MtThreadWatcher *w = (MtThreadWatcher *)ts->watcher;
    if (w == NULL) {
        return;
    }
    ts->watcher = NULL;
    w->tracer = NULL;
    w->ts = NULL;
    /* A dict being deallocated (refcount 0) is dropping us already. */
    if (Py_REFCNT(w->dict) > 0) {
        PyObject *saved = PyErr_GetRaisedException();
        Py_INCREF(w);
        if (PyDict_DelItem(w->dict, (PyObject *)w) < 0) {
            PyErr_Clear();
        }
        Py_DECREF(w);
        PyErr_SetRaisedException(saved);
    }
}

void
mt_thread_ignore_current(MtTracer *tr)
{
    mt_tls[tr->tool].serial = tr->serial;
    mt_tls[tr->tool].ts = NULL;
    tr->ignoring = 1;
}

MtThreadState *
mt_thread_slow(MtTracer *tr)
{
    if (tr->rebind) {
        unsigned long ident = PyThread_get_thread_ident();
        for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
            if (!ts->finished && ts->ident == ident) {
                mt_tls[tr->tool].serial = tr->serial;
                mt_tls[tr->tool].ts = ts;
                return ts;
            }
        }
    }
    MtThreadState *ts = PyMem_Calloc(1, sizeof(*ts));
    if (ts == NULL) {
        mt_fail(&tr->failures, MT_ERR_NOMEM, "thread state");
        return NULL;
    }
    ts->ident = PyThread_get_thread_ident();
    ts->failures = &tr->failures;
    ts->edges.failures = &tr->failures;
    ts->next_activation = &tr->next_activation;
    ts->native_id = PyThread_get_thread_native_id();
    ts->index = tr->threads ? tr->threads->index + 1 : 0;
    ts->next = tr->threads;
    tr->threads = ts;
    mt_tls[tr->tool].serial = tr->serial;
    mt_tls[tr->tool].ts = ts;
    resolve_name(tr, ts);
    watch_thread(tr, ts);
    return ts;
}

MtStats *
mt_thread_row_slow(MtTracer *tr, MtThreadState *ts, MtRecord *rec)
{
    MtStats *st = mt_stack_row_new(ts, rec);
    if (st == NULL) {
        return NULL;
    }
    /* A thread's first rows come while it starts up; by the time it runs
     * its target it is registered with threading and has a name. */
    resolve_name(tr, ts);
    return st;
}

/* The finished threads' row for record `index`, made on demand; NULL
 * when memory ran out. */
static MtStats *
done_row(MtTracer *tr, Py_ssize_t index)
{
    if (index >= tr->ndone_rows) {
        Py_ssize_t n = tr->ndone_rows ? tr->ndone_rows : 64;
        while (n <= index) {
            n *= 2;
        }
        MtStats **rows = PyMem_Realloc(tr->done_rows, n * sizeof(*rows));
        if (rows == NULL) {
            return NULL;
        }
        memset(rows + tr->ndone_rows, 0, (n - tr->ndone_rows) * sizeof(*rows));
        tr->done_rows = rows;
        tr->ndone_rows = n;
    }
    if (tr->done_rows[index] == NULL) {
        tr->done_rows[index] = mt_stats_new(0);
    }
    return tr->done_rows[index];
}

static void
free_rows(MtThreadState *ts)
{
    for (Py_ssize_t i = 0; i < ts->nrows; i++) {
        mt_stats_free(ts->rows[i]);
    }
    PyMem_Free(ts->rows);
    ts->rows = NULL;
    ts->nrows = 0;
}

void
mt_thread_finish(MtTracer *tr, MtThreadState *ts)
{
    if (ts->finished) {
        return;
    }
    /* Activations left on the stack lost their exits with the thread. */
    uint64_t now = mt_clock_now(tr->clock);
    mt_deferred_thread_end(tr, ts, now);
    while (ts->depth > 0) {
        mt_stack_pop(ts, now, 0);
    }
    mt_stack_end_suspended(ts, -1);
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < ts->nrows; i++) {
        n += ts->rows[i] != NULL;
    }
    MtThreadTotal *totals = PyMem_Malloc((n ? n : 1) * sizeof(*totals));
    if (totals == NULL) {
        mt_fail(&tr->failures, MT_ERR_NOMEM, "finished thread");
        return; /* keeps its full rows instead */
    }
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < ts->nrows; i++) {
        const MtStats *st = ts->rows[i];
        if (st == NULL) {
            continue;
        }
        totals[k++] = (MtThreadTotal){
            i, st->calls, st->primitive_calls, st->total, st->self, st->wall};
        MtStats *into = done_row(tr, i);
        if (into == NULL) {
            mt_fail(&tr->failures, MT_ERR_NOMEM, "finished threads' latency");
            continue;
        }
        if (mt_stats_merge(into, st) < 0) {
            mt_fail(&tr->failures, MT_ERR_NOMEM, "finished threads' segments");
        }
    }
    for (size_t i = 0; ts->edges.slots != NULL && i <= ts->edges.mask; i++) {
        const MtEdge *e = ts->edges.slots[i];
        if (e == NULL) {
            continue;
        }
        MtEdge *into =
            mt_edges_find_slow(&tr->done_edges, e->caller, e->callee);
        if (into != NULL) {
            into->calls += e->calls;
            into->primitive_calls += e->primitive_calls;
            into->total += e->total;
            into->self += e->self;
        }
    }
    free_rows(ts);
    mt_stack_forget_suspended(ts);
    mt_edges_clear(&ts->edges);
    PyMem_Free(ts->stack);
    ts->stack = NULL;
    ts->capacity = 0;
    PyMem_Free(ts->replay);
    ts->replay = NULL;
    ts->replay_depth = ts->replay_capacity = 0;
    mt_scope_thread_free(ts->scope);
    ts->scope = NULL;
    if (ts->watch != NULL) {
        ts->watch_free(ts->watch);
        ts->watch = NULL;
    }
    ts->totals = totals;
    ts->ntotals = k;
    ts->finished = 1;
    /* Events this thread still delivers (finalizers run as its state is
     * cleared) start a new state. */
    for (int t = 0; t < MT_TOOL_SLOTS; t++) {
        if (mt_tls[t].ts == ts) {
            mt_tls[t].serial = 0;
            mt_tls[t].ts = NULL;
        }
    }
}

void
mt_thread_retire_rows(MtTracer *tr, Py_ssize_t index, const void *id,
                      MtStats *into)
{
    MtStats *sink = &tr->records.sink;
    /* The log's events of the dying function count before its rows go:
     * while deferring, the rows stay until the next fold. */
    int later = mt_deferred_retire_later(tr, index, into);
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        /* A finished thread's totals keep their counts under the
         * record's index, which goes on naming the function. */
        if (ts->finished) {
            continue;
        }
        /* The code object's address may be reused: forget it. */
        for (size_t d = 0; ts->scope != NULL && d < ts->scope->nhidden; d++) {
            if (ts->scope->hidden[d] == id) {
                ts->scope->hidden[d] = sink;
            }
        }
        /* Its suspended generators died with it (each held the code
         * object): they end at their last yield. */
        mt_stack_end_suspended(ts, index);
        if (!later) {
            mt_stack_retire_row(ts, index, sink, into);
        }
        else if (index < ts->nrows && ts->rows[index] != NULL) {
            mt_stack_frames_redirect(ts->stack, ts->depth, ts->rows[index],
                                     sink);
        }
    }
    MtStats *done = index < tr->ndone_rows ? tr->done_rows[index] : NULL;
    if (done != NULL) {
        /* Latency only: the counts are in the finished threads' totals. */
        if (into != NULL) {
            MtStats latency = *done;
            latency.calls = latency.primitive_calls = 0;
            latency.total = latency.self = latency.wall = 0;
            if (mt_stats_merge(into, &latency) < 0) {
                mt_fail(&tr->failures, MT_ERR_NOMEM,
                        "totals of a dead code object");
            }
        }
        mt_stats_free(done);
        tr->done_rows[index] = NULL;
    }
}

void
mt_thread_flush_all(MtTracer *tr, uint64_t now)
{
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        while (ts->depth > 0) {
            if (tr->defer) {
                mt_stack_pop_deferred(ts, now, 0);
            }
            else {
                mt_stack_pop(ts, now, 0);
            }
        }
        mt_stack_end_suspended(ts, -1);
        mt_scope_thread_flush(ts->scope);
    }
}

/* Forget the finished threads' latency rows and edges. */
static void
free_done(MtTracer *tr)
{
    for (Py_ssize_t i = 0; i < tr->ndone_rows; i++) {
        mt_stats_free(tr->done_rows[i]);
    }
    PyMem_Free(tr->done_rows);
    tr->done_rows = NULL;
    tr->ndone_rows = 0;
    mt_edges_clear(&tr->done_edges);
}

void
mt_thread_clear_all(MtTracer *tr)
{
    mt_deferred_forget(tr);
    MtThreadState *ts = tr->threads;
    tr->threads = NULL;
    while (ts != NULL) {
        MtThreadState *next = ts->next;
        unwatch_thread(ts);
        free_rows(ts);
        PyMem_Free(ts->suspended);
        PyMem_Free(ts->totals);
        mt_edges_clear(&ts->edges);
        PyMem_Free(ts->stack);
        PyMem_Free(ts->replay);
        Py_CLEAR(ts->name);
        mt_scope_thread_free(ts->scope);
        if (ts->watch != NULL) {
            ts->watch_free(ts->watch);
            ts->watch = NULL;
        }
        PyMem_Free(ts);
        ts = next;
    }
    free_done(tr);
}

void
mt_thread_reset_all(MtTracer *tr)
{
    /* Every state stays where it is (thread-local pointers, watchers and
     * event-log thread indexes keep naming it); only numbers go. The
     * tracer is paused or stopped: no callback uses a stack now. */
    mt_deferred_forget(tr);
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        free_rows(ts);
        mt_stack_forget_suspended(ts);
        mt_edges_clear(&ts->edges);
        ts->depth = 0;
        mt_scope_thread_free(ts->scope);
        ts->scope = NULL;
        PyMem_Free(ts->totals);
        ts->totals = NULL;
        ts->ntotals = 0;
    }
    free_done(tr);
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
