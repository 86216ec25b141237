/* Tracer.snapshot(): records, per-thread rows and edges, and the record
 * list that Tracer.log_info() shares with it. Times in rows and edges stay
 * in clock ticks, so that readers sum exact integers and convert once
 * (ns_per_tick); histogram bounds are in ns. */
#include "snapshot.h"
#include "deferred.h"
#include "clock.h"
#include "monitoring.h"
#include "records.h"
#include "threadstate.h"
#include "session.h"

#include <math.h>

/* ---- typed rows ----------------------------------------------------------
 * Rows, segments and edges are struct sequences: tuples (readers may
 * unpack them) whose fields also have names (readers may not need to know
 * the order). One interpreter per process (module.c), so the types are
 * made once and kept here. */

static PyTypeObject *row_type, *segments_type, *edge_type;

static PyStructSequence_Field row_fields[] = {
    {"function", "record index, or a dead code object's name tuple"},
    {"calls", "calls (generators: once, when they start)"},
    {"primitive_calls", "calls not already active on the thread's stack"},
    {"total", "inclusive ticks, outermost activations only"},
    {"self", "exclusive ticks"},
    {"min", "shortest activation, ticks"},
    {"max", "longest activation, ticks"},
    {"samples", "activations measured"},
    {"histogram", "[(low ns, high ns, count)] of activation times"},
    {"segments", "a generator's Segments, else None"},
    {"wall", "generators: ticks from start to finish, summed"},
    {NULL, NULL}};

static PyStructSequence_Field segments_fields[] = {
    {"samples", "segments measured (start or resume to yield or finish)"},
    {"min", "shortest segment, ticks"},
    {"max", "longest segment, ticks"},
    {"histogram", "[(low ns, high ns, count)] of segment times"},
    {NULL, NULL}};

static PyStructSequence_Field edge_fields[] = {
    {"caller", "record index of the caller"},
    {"callee", "record index of the callee"},
    {"calls", "calls along this edge"},
    {"primitive_calls", "of which not recursive"},
    {"total", "inclusive ticks of the callee under this caller"},
    {"self", "exclusive ticks"},
    {NULL, NULL}};

static PyTypeObject *
new_type(PyObject *module, const char *name, const char *doc,
         PyStructSequence_Field *fields, int n)
{
    PyStructSequence_Desc desc = {name, doc, fields, n};
    PyTypeObject *type = PyStructSequence_NewType(&desc);
    if (type != NULL
        && PyModule_AddObjectRef(module, strrchr(name, '.') + 1,
                                 (PyObject *)type)
               < 0) {
        Py_CLEAR(type);
    }
    return type;
}

int
mt_snapshot_types_init(PyObject *module)
{
    if (row_type != NULL) {
        return PyModule_AddObjectRef(module, "Row", (PyObject *)row_type) < 0
                       || PyModule_AddObjectRef(module, "Segments",
                                                (PyObject *)segments_type)
                              < 0
                       || PyModule_AddObjectRef(module, "Edge",
                                                (PyObject *)edge_type)
                              < 0
                   ? -1
                   : 0;
    }
    row_type =
        new_type(module, "monitrace._core.Row",
                 "One function's statistics on one thread.", row_fields, 11);
    segments_type =
        row_type == NULL
            ? NULL
            : new_type(module, "monitrace._core.Segments",
                       "A generator's segments.", segments_fields, 4);
    edge_type = segments_type == NULL
                    ? NULL
                    : new_type(module, "monitrace._core.Edge",
                               "A caller -> callee edge of one thread.",
                               edge_fields, 6);
    if (edge_type == NULL) {
        Py_CLEAR(row_type);
        Py_CLEAR(segments_type);
        return -1;
    }
    return 0;
}

/* A struct sequence of `type` from `n` new references (stolen; NULL when
 * making one failed: the others are released and NULL returned). */
static PyObject *
typed(PyTypeObject *type, PyObject **items, Py_ssize_t n)
{
    PyObject *out = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (items[i] == NULL) {
            goto done;
        }
    }
    out = PyStructSequence_New(type);
    if (out == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyStructSequence_SetItem(out, i, items[i]);
        items[i] = NULL;
    }
done:
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_XDECREF(items[i]);
    }
    return out;
}

static PyObject *
u64(uint64_t v)
{
    return PyLong_FromUnsignedLongLong((unsigned long long)v);
}

static PyObject *
ns(uint64_t ticks, double scale)
{
    return PyLong_FromUnsignedLongLong(
        (unsigned long long)llround((double)ticks * scale));
}

static PyObject *
histogram(const MtStats *st, double scale)
{
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    for (unsigned b = 0; b < MT_HIST_BUCKETS; b++) {
        if (st->hist[b] == 0) {
            continue;
        }
        uint64_t lo, hi;
        mt_hist_bounds(b, &lo, &hi);
        double hi_ns = hi == UINT64_MAX ? INFINITY : (double)hi * scale;
        PyObject *item = Py_BuildValue("(ddI)", (double)lo * scale, hi_ns,
                                       (unsigned int)st->hist[b]);
        if (item == NULL || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(item);
    }
    return out;
}

/* A generator row's segments: (samples, min, max, histogram), times in
 * ticks; None for other rows. */
static PyObject *
segments(const MtStats *st, double scale)
{
    const MtStats *seg = st->segments;
    if (seg == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *hist = histogram(seg, scale);
    if (hist == NULL) {
        return NULL;
    }
    PyObject *items[4] = {u64(seg->samples), u64(seg->min), u64(seg->max),
                          hist};
    return typed(segments_type, items, 4);
}

/* (first, calls, primitive calls, total, self, min, max, samples,
 * histogram, segments, wall), times in ticks; `first` (stolen) is the
 * record index or, for dead code, its name tuple. Without `counts` the
 * counts and sums are 0 (the finished threads' latency: their counts are
 * per thread). */
static PyObject *
row_of(PyObject *first, const MtStats *st, double scale, int counts)
{
    PyObject *hist = first != NULL ? histogram(st, scale) : NULL;
    PyObject *seg = hist != NULL ? segments(st, scale) : NULL;
    if (seg == NULL) {
        Py_XDECREF(first);
        Py_XDECREF(hist);
        return NULL;
    }
    PyObject *items[11] = {first,
                           u64(counts ? st->calls : 0),
                           u64(counts ? st->primitive_calls : 0),
                           u64(counts ? st->total : 0),
                           u64(counts ? st->self : 0),
                           u64(st->min),
                           u64(st->max),
                           u64(st->samples),
                           hist,
                           seg,
                           u64(counts ? st->wall : 0)};
    return typed(row_type, items, 11);
}

static PyObject *
row(Py_ssize_t index, const MtStats *st, double scale)
{
    return row_of(PyLong_FromSsize_t(index), st, scale, 1);
}

/* A finished thread's row: its counts and times (ticks), no latency. */
static PyObject *
total_row(const MtThreadTotal *t)
{
    PyObject *items[11] = {PyLong_FromSsize_t(t->index),
                           u64(t->calls),
                           u64(t->primitive_calls),
                           u64(t->total),
                           u64(t->self),
                           u64(0),
                           u64(0),
                           u64(0),
                           PyList_New(0),
                           Py_NewRef(Py_None),
                           u64(t->wall)};
    return typed(row_type, items, 11);
}

static int
append_new(PyObject *list, PyObject *item)
{
    if (item == NULL || PyList_Append(list, item) < 0) {
        Py_XDECREF(item);
        return -1;
    }
    Py_DECREF(item);
    return 0;
}

/* (caller index, callee index, calls, primitive calls, total ticks, self
 * ticks) for every caller -> callee edge of the thread. */
static PyObject *
edges(const MtEdgeTable *t)
{
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; t->slots != NULL && i <= t->mask; i++) {
        const MtEdge *e = t->slots[i];
        if (e == NULL) {
            continue;
        }
        PyObject *fields[6] = {PyLong_FromSsize_t(e->caller),
                               PyLong_FromSsize_t(e->callee),
                               u64(e->calls),
                               u64(e->primitive_calls),
                               u64(e->total),
                               u64(e->self)};
        PyObject *item = typed(edge_type, fields, 6);
        if (item == NULL || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(item);
    }
    return out;
}

static PyObject *
thread(const MtThreadState *ts, double scale)
{
    PyObject *rows = PyList_New(0);
    if (rows == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < ts->ntotals; i++) {
        if (append_new(rows, total_row(&ts->totals[i])) < 0) {
            Py_DECREF(rows);
            return NULL;
        }
    }
    for (Py_ssize_t i = 0; i < ts->nrows; i++) {
        if (ts->rows[i] == NULL) {
            continue;
        }
        PyObject *r = row(i, ts->rows[i], scale);
        if (r == NULL || PyList_Append(rows, r) < 0) {
            Py_XDECREF(r);
            Py_DECREF(rows);
            return NULL;
        }
        Py_DECREF(r);
    }
    PyObject *calls = edges(&ts->edges);
    if (calls == NULL) {
        Py_DECREF(rows);
        return NULL;
    }
    return Py_BuildValue("{s:k,s:k,s:O,s:N,s:N,s:O}", "ident", ts->ident,
                         "native_id", ts->native_id, "name",
                         ts->name ? ts->name : Py_None, "rows", rows, "edges",
                         calls, "finished", ts->finished ? Py_True : Py_False);
}

/* The finished threads' latency rows and their merged edges. */
static PyObject *
finished(const MtTracer *tr, double scale)
{
    PyObject *rows = PyList_New(0);
    if (rows == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < tr->ndone_rows; i++) {
        if (tr->done_rows[i] != NULL
            && append_new(rows, row_of(PyLong_FromSsize_t(i), tr->done_rows[i],
                                       scale, 0))
                   < 0) {
            Py_DECREF(rows);
            return NULL;
        }
    }
    PyObject *calls = edges(&tr->done_edges);
    if (calls == NULL) {
        Py_DECREF(rows);
        return NULL;
    }
    return Py_BuildValue("{s:N,s:N}", "rows", rows, "edges", calls);
}

/* Totals of dead code objects, one row per name tuple. */
static PyObject *
retired(const MtRecordSet *set, double scale)
{
    PyObject *out = PyList_New(0);
    for (Py_ssize_t i = 0; out != NULL && set->retired_keys != NULL
                           && i < PyList_GET_SIZE(set->retired_keys);
         i++) {
        PyObject *name = Py_NewRef(PyList_GET_ITEM(set->retired_keys, i));
        if (append_new(out, row_of(name, set->retired[i], scale, 1)) < 0) {
            Py_CLEAR(out);
        }
    }
    return out;
}

PyObject *
mt_snapshot_records(const MtRecordSet *set, int with_traced, Py_ssize_t from)
{
    /* Building items can run a finalizer that lets another thread add
     * records: fill exactly the slots the list was made with. */
    Py_ssize_t n = set->count > from ? set->count - from : 0;
    PyObject *out = PyList_New(n);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const MtRecord *rec = set->items[from + i];
        const char *kind = rec->kind == MT_KIND_PY ? "py" : "c";
        PyObject *module = rec->module ? rec->module : Py_None;
        PyObject *item = with_traced
                             ? Py_BuildValue("(sOOO)", kind, rec->key, module,
                                             rec->traced ? Py_True : Py_False)
                             : Py_BuildValue("(sOO)", kind, rec->key, module);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, item);
    }
    return out;
}

PyObject *
mt_snapshot(MtTracer *tr, Py_ssize_t from)
{
    mt_deferred_fold(tr);
    double scale = mt_clock_ns_per_tick(tr->clock);
    PyObject *threads = NULL, *recs = NULL, *counts = NULL;
    PyObject *done = NULL, *dead = NULL;
    threads = PyList_New(0);
    if (threads == NULL) {
        goto error;
    }
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        PyObject *t = thread(ts, scale);
        if (t == NULL || PyList_Append(threads, t) < 0) {
            Py_XDECREF(t);
            goto error;
        }
        Py_DECREF(t);
    }
    /* Oldest thread first. */
    if (PyList_Reverse(threads) < 0) {
        goto error;
    }
    recs = mt_snapshot_records(&tr->records, 1, from);
    if (recs == NULL) {
        goto error;
    }
    counts = PyDict_New();
    if (counts == NULL) {
        goto error;
    }
    for (int ev = 0; ev < MT_EV_COUNT; ev++) {
        PyObject *v = PyLong_FromUnsignedLongLong(tr->event_counts[ev]);
        if (v == NULL
            || PyDict_SetItemString(counts, mt_event_names[ev], v) < 0) {
            Py_XDECREF(v);
            goto error;
        }
        Py_DECREF(v);
    }
    done = finished(tr, scale);
    dead = done != NULL ? retired(&tr->records, scale) : NULL;
    if (dead == NULL) {
        goto error;
    }
    return Py_BuildValue("{s:s,s:d,s:N,s:N,s:N,s:N,s:N,s:N}", "clock",
                         mt_clock_name(tr->clock), "ns_per_tick", scale,
                         "records", recs, "threads", threads, "event_counts",
                         counts, "total_ns", ns(tr->total_ticks, scale),
                         "finished", done, "retired", dead);

error:
    Py_XDECREF(threads);
    Py_XDECREF(recs);
    Py_XDECREF(counts);
    Py_XDECREF(done);
    return NULL;
}
