/* _core.selfcheck(): walk a tracer's records, thread states, stacks and
 * rows and report every broken invariant. Never on the hot path; the tests
 * call it after hostile scenarios (threads, forks, generators, deep
 * recursion) to prove the tables stayed consistent. */
#include "selfcheck.h"
#include "deferred.h"
#include "records.h"
#include "threadstate.h"
#include "session.h"

static int
problem(PyObject *list, const char *fmt, ...)
{
    va_list va;
    va_start(va, fmt);
    PyObject *msg = PyUnicode_FromFormatV(fmt, va);
    va_end(va);
    if (msg == NULL) {
        return -1;
    }
    int rc = PyList_Append(list, msg);
    Py_DECREF(msg);
    return rc;
}

static int
check_records(MtTracer *tr, PyObject *out)
{
    MtRecordSet *set = &tr->records;
    if (set->count > set->capacity) {
        return problem(out, "records: count %zd > capacity %zd", set->count,
                       set->capacity);
    }
    for (Py_ssize_t i = 0; i < set->count; i++) {
        MtRecord *rec = set->items[i];
        if (rec->index != i || rec->tracer != tr || rec->key == NULL) {
            if (problem(out, "record %zd: bad index, owner or key", i) < 0) {
                return -1;
            }
            continue;
        }
        if (rec->kind == MT_KIND_C) {
            if (mt_records_cfunc_find(set, rec->id, rec->cls) != rec
                && problem(out, "record %zd: not in the C table", i) < 0) {
                return -1;
            }
            continue;
        }
        if (!tr->running || rec->retired) {
            continue;
        }
        MtCodeExtra *extra = NULL;
        if (PyUnstable_Code_GetExtra(rec->key, mt_records_extra_index,
                                     (void **)&extra)
            < 0) {
            return -1;
        }
        if ((extra == NULL || extra->slot[tr->tool] != rec)
            && problem(out, "record %zd: co_extra slot %d points elsewhere", i,
                       tr->tool)
                   < 0) {
            return -1;
        }
    }
    return 0;
}

/* The frames a row's numbers count: the replay's while deferring
 * (deferred.h), else the stack's. */
static const MtFrame *
counted_frames(const MtTracer *tr, const MtThreadState *ts, size_t *depth)
{
    *depth = tr->defer ? ts->replay_depth : ts->depth;
    return tr->defer ? ts->replay : ts->stack;
}

static int
check_row(MtTracer *tr, MtThreadState *ts, Py_ssize_t i, PyObject *out)
{
    MtStats *st = ts->rows[i];
    uint64_t hist = 0;
    for (unsigned b = 0; b < MT_HIST_BUCKETS; b++) {
        hist += st->hist[b];
    }
    uint32_t on_stack = 0;
    size_t depth;
    const MtFrame *frames = counted_frames(tr, ts, &depth);
    for (size_t d = 0; d < depth; d++) {
        on_stack += frames[d].stats == st;
    }
    unsigned long id = ts->ident;
    if (hist != st->samples) {
        return problem(out,
                       "thread %lu row %zd: histogram %llu != samples "
                       "%llu",
                       id, i, (unsigned long long)hist,
                       (unsigned long long)st->samples);
    }
    if (st->samples > 0 && st->min > st->max) {
        return problem(out, "thread %lu row %zd: min > max", id, i);
    }
    if (st->primitive_calls > st->calls) {
        return problem(out, "thread %lu row %zd: primitive > calls", id, i);
    }
    if (st->active != on_stack) {
        return problem(out,
                       "thread %lu row %zd: active %u but %u frames on "
                       "the stack",
                       id, i, (unsigned)st->active, (unsigned)on_stack);
    }
    return 0;
}

static int
check_thread(MtTracer *tr, MtThreadState *ts, PyObject *out)
{
    if (ts->finished) {
        if (ts->depth != 0 || ts->nrows != 0 || ts->watcher != NULL) {
            return problem(out, "thread %lu: finished but has data",
                           ts->ident);
        }
        return 0;
    }
    if (ts->depth > ts->capacity || (ts->capacity && ts->stack == NULL)) {
        return problem(out, "thread %lu: depth %zu > capacity %zu", ts->ident,
                       ts->depth, ts->capacity);
    }
    size_t depth;
    const MtFrame *frames = counted_frames(tr, ts, &depth);
    for (size_t d = 0; d < depth; d++) {
        MtStats *st = frames[d].stats;
        int found = st == &tr->records.sink; /* a dead code object's */
        for (Py_ssize_t i = 0; i < ts->nrows && !found; i++) {
            found = ts->rows[i] == st;
        }
        if (!found) {
            return problem(out, "thread %lu frame %zu: row not owned",
                           ts->ident, d);
        }
    }
    for (Py_ssize_t i = 0; i < ts->nrows; i++) {
        if (ts->rows[i] != NULL && check_row(tr, ts, i, out) < 0) {
            return -1;
        }
    }
    return 0;
}

PyObject *
mt_selfcheck(PyObject *module, PyObject *tracer)
{
    MtModuleState *state = PyModule_GetState(module);
    if (!PyObject_TypeCheck(tracer, state->tracer_type)) {
        PyErr_Format(PyExc_TypeError, "selfcheck() needs a Tracer, not %.100s",
                     Py_TYPE(tracer)->tp_name);
        return NULL;
    }
    MtTracer *tr = (MtTracer *)tracer;
    mt_deferred_fold(tr);
    PyObject *problems = PyList_New(0), *depths = PyList_New(0);
    if (problems == NULL || depths == NULL) {
        goto error;
    }
    if (check_records(tr, problems) < 0) {
        goto error;
    }
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        if (check_thread(tr, ts, problems) < 0) {
            goto error;
        }
        PyObject *pair =
            Py_BuildValue("(kn)", ts->ident, (Py_ssize_t)ts->depth);
        if (pair == NULL || PyList_Append(depths, pair) < 0) {
            Py_XDECREF(pair);
            goto error;
        }
        Py_DECREF(pair);
    }
    /* What the tracer holds (memory follows live code and threads). */
    Py_ssize_t rows = 0, slots = 0, done = 0, finished = 0;
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        slots += ts->nrows;
        for (Py_ssize_t i = 0; i < ts->nrows; i++) {
            rows += ts->rows[i] != NULL;
        }
        finished += ts->finished;
    }
    for (Py_ssize_t i = 0; i < tr->ndone_rows; i++) {
        done += tr->done_rows[i] != NULL;
    }
    const MtRecordSet *set = &tr->records;
    Py_ssize_t names =
        set->retired_keys != NULL ? PyList_GET_SIZE(set->retired_keys) : 0;
    return Py_BuildValue(
        "{s:N,s:N,s:n,s:n,s:n,s:n,s:n,s:n,s:n,s:n}", "problems", problems,
        "depths", depths, "records", set->count, "live_records",
        set->count - set->nretired, "retired_records", set->nretired,
        "retired_names", names, "rows", rows, "row_slots", slots,
        "finished_rows", done, "finished_threads", finished);

error:
    Py_XDECREF(problems);
    Py_XDECREF(depths);
    return NULL;
}
