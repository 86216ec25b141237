/* The event log seen from Python: the Tracer methods that configure and
 * read record mode (log_configure, log_batch, log_info, line_counts) and
 * live delivery, which hands each event to a Python callable as it
 * happens. Events become (kind, time_ns, thread, record, depth, line,
 * args, retval, exc_type, exc_repr, caller_file) tuples here. */
#include "logview.h"
#include "capture.h"
#include "clock.h"
#include "eventlog.h"
#include "guard.h"
#include "records.h"
#include "sigdefer.h"
#include "snapshot.h"
#include "threadstate.h"
#include "session.h"
#include "treefmt.h"

static PyObject *
time_ns(const MtTracer *tr, uint64_t ticks)
{
    return PyLong_FromLongLong((long long)mt_eventlog_ns(
        &tr->log, mt_clock_ns_per_tick(tr->clock), ticks));
}

/* (kind, time_ns, thread, record, depth, line, args, retval, exc_type,
 * exc_repr, caller_file); notes[] holds borrowed objects or NULL. */
static PyObject *
event_tuple(const MtTracer *tr, const MtLogEvent *e, PyObject **notes)
{
    PyObject *t = time_ns(tr, e->time);
    if (t == NULL) {
        return NULL;
    }
#define NOTE(i) (notes[i] != NULL ? notes[i] : Py_None)
    return Py_BuildValue(
        "(iNIIIiOOOOO)", (int)e->kind, t, (unsigned int)e->thread,
        (unsigned int)e->record, (unsigned int)e->depth, (int)e->line,
        NOTE(MT_NOTE_ARGS), NOTE(MT_NOTE_RETVAL), NOTE(MT_NOTE_EXC_TYPE),
        NOTE(MT_NOTE_EXC_REPR), NOTE(MT_NOTE_CALLER_FILE));
#undef NOTE
}

void
mt_logview_deliver(MtTracer *tr, MtThreadState *ts, MtRecord *rec,
                   const MtLogEvent *e, PyObject **notes)
{
    MtEventLog *log = &tr->log;
    PyObject *ident = NULL, *res = NULL;
    PyObject *tuple = event_tuple(tr, e, notes);
    if (tuple == NULL) {
        goto error;
    }
    ident = PyLong_FromUnsignedLong(ts->ident);
    if (ident == NULL) {
        goto error;
    }
    PyObject *argv[5] = {tuple, rec->key, rec->module ? rec->module : Py_None,
                         ident, ts->name ? ts->name : Py_None};
    mt_sigdefer_enter();
    res = PyObject_Vectorcall(log->live, argv, 5, NULL);
    Py_XDECREF(res);
    PyObject *exc = res == NULL ? PyErr_GetRaisedException() : NULL;
    mt_sigdefer_leave();
    PyErr_SetRaisedException(exc);
    if (res == NULL) {
        goto error;
    }
    Py_DECREF(tuple);
    Py_DECREF(ident);
    return;

error:
    if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        /* Re-armed for the program; keep printing. */
        mt_sigdefer_discard_error();
    }
    else {
        log->live_broken = 1;
        mt_fail(&tr->failures, MT_ERR_INTERNAL, "live output");
    }
    Py_XDECREF(tuple);
    Py_XDECREF(ident);
}

/* The live tree's output failed (its exception set, or taken from the
 * buffer): stop printing and report it at stop. */
static void
tree_failed(MtTracer *tr, MtOutBuf *out)
{
    if (out != NULL && !PyErr_Occurred()) {
        PyObject *err = mt_outbuf_take_error(out);
        if (err != NULL) {
            PyErr_SetRaisedException(err);
        }
    }
    tr->log.live_broken = 1;
    mt_fail(&tr->failures, MT_ERR_INTERNAL, "live output");
}

void
mt_logview_tree(MtTracer *tr, MtThreadState *ts, MtRecord *rec,
                const MtLogEvent *e, PyObject **notes)
{
    MtEventLog *log = &tr->log;
    uint64_t serial = tr->serial;
    /* Held across the Python code prepare() may run (the namer, ...),
     * which may reconfigure the log from another thread. */
    PyObject *capsule = Py_NewRef(log->tree);
    MtTreeFmt *f = mt_treefmt_from_capsule(capsule);
    int rc = 0;
    MtTreeRefs refs;
    if (!mt_treefmt_ready(f, e, notes, ts->name, &refs)) {
        mt_sigdefer_enter();
        rc = mt_treefmt_prepare(f, e, rec->key, rec->module, notes, ts->name,
                                ts->ident, &refs);
        PyObject *exc = rc < 0 ? PyErr_GetRaisedException() : NULL;
        mt_sigdefer_leave();
        PyErr_SetRaisedException(exc);
    }
    if (rc < 0) {
        if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
            mt_sigdefer_discard_error(); /* re-armed for the program */
        }
        else if (tr->serial == serial && log->tree == capsule) {
            tree_failed(tr, NULL);
        }
        else {
            PyErr_Clear();
        }
        Py_DECREF(capsule);
        return;
    }
    if (tr->serial != serial || !tr->active || log->tree != capsule) {
        Py_DECREF(capsule);
        return;
    }
    mt_treefmt_event(
        f, e, mt_eventlog_ns(log, mt_clock_ns_per_tick(tr->clock), e->time),
        notes, &refs);
    MtOutBuf *out = mt_treefmt_out(f);
    out->defer_signals = 1;
    mt_outbuf_maybe_flush(out);
    out->defer_signals = 0;
    if (out->failed && tr->serial == serial && log->tree == capsule
        && !log->live_broken) {
        tree_failed(tr, out);
    }
    Py_DECREF(capsule);
}

void
mt_logview_tree_flush(MtTracer *tr)
{
    MtEventLog *log = &tr->log;
    MtTreeFmt *f = mt_treefmt_from_capsule(log->tree);
    if (f == NULL) {
        return;
    }
    PyObject *capsule = Py_NewRef(log->tree);
    PyObject *saved = PyErr_GetRaisedException();
    MtOutBuf *out = mt_treefmt_out(f);
    mt_treefmt_release(f);
    if (!out->failed) {
        mt_outbuf_flush(out);
        if (out->failed && log->tree == capsule && !log->live_broken) {
            tree_failed(tr, out);
        }
    }
    else {
        mt_outbuf_discard(out);
    }
    PyErr_SetRaisedException(saved);
    Py_DECREF(capsule);
}

const char mt_logview_configure_doc[] =
    "log_configure($self, /, *, record=False, limit=0, args=False,\n"
    "              retval=False, lines=False, caller_files=False,\n"
    "              repr_limit=80, live=None, tree=None)\n--\n\n"
    "Set up record mode (the tracer must be stopped). `record` stores\n"
    "events, at most `limit` of them (0: no limit; later ones are counted\n"
    "as dropped); `live(event, key, module, thread_ident, thread_name)`\n"
    "is called for each event as it happens; `lines` turns on LINE events\n"
    "for traced code; `args`/`retval` capture reprs cut to `repr_limit`\n"
    "characters; `caller_files` notes the calling frame's file name;\n"
    "`tree` (a spec dict, see treefmt.h) prints the call tree as events\n"
    "happen, to the target log_tree_target() sets.";

PyObject *
mt_logview_configure_method(PyObject *self, PyObject *args, PyObject *kwargs)
{
    MtTracer *tr = (MtTracer *)self;
    static char *kwlist[] = {
        "record",       "limit",      "args", "retval", "lines",
        "caller_files", "repr_limit", "live", "tree",   NULL};
    int record = 0, cargs = 0, retval = 0, lines = 0, caller_files = 0;
    PyObject *limit_obj = NULL;
    unsigned long long limit = 0;
    Py_ssize_t repr_limit = 80;
    PyObject *live = Py_None, *tree = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$pOppppnOO:log_configure",
                                     kwlist, &record, &limit_obj, &cargs,
                                     &retval, &lines, &caller_files,
                                     &repr_limit, &live, &tree)) {
        return NULL;
    }
    if (limit_obj != NULL) {
        /* Checked: "K" would silently wrap 2**64 + 5 to 5. */
        limit = PyLong_AsUnsignedLongLong(limit_obj);
        if (limit == (unsigned long long)-1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    if (mt_guard_refuse(tr, "log_configure", 1) < 0) {
        return NULL;
    }
    if (live != Py_None && !PyCallable_Check(live)) {
        PyErr_SetString(PyExc_TypeError, "live must be a callable or None");
        return NULL;
    }
    if (repr_limit < 0) {
        PyErr_SetString(PyExc_ValueError, "repr_limit must be >= 0");
        return NULL;
    }
    PyObject *capsule = NULL;
    if (tree != Py_None) {
        capsule = mt_treefmt_capsule_new(tree);
        if (capsule == NULL) {
            return NULL;
        }
    }
    MtEventLog *log = &tr->log;
    mt_logview_tree_flush(tr);
    Py_XSETREF(log->tree, capsule);
    log->record = record;
    log->limit = limit == 0 ? UINT64_MAX : (uint64_t)limit;
    log->args = cargs;
    log->retval = retval;
    log->lines = lines;
    log->caller_files = caller_files;
    log->repr_limit = repr_limit;
    Py_XSETREF(log->live, live == Py_None ? NULL : Py_NewRef(live));
    log->enabled = record || lines || log->live != NULL || log->tree != NULL;
    Py_RETURN_NONE;
}

const char mt_logview_batch_doc[] =
    "log_batch($self, start, count, generation=None, /)\n--\n\n"
    "Up to `count` recorded events from sequence number `start`, each\n"
    "(kind, time_ns, thread, record, depth, line, args, retval, exc_type,\n"
    "exc_repr, caller_file); an empty list past the end. With `generation`\n"
    "(log_info()['generation'] when reading began), raise RuntimeError if\n"
    "the log was cleared since: its sequence numbers and record indexes\n"
    "then name other events and functions.";

PyObject *
mt_logview_batch_method(PyObject *self, PyObject *args)
{
    MtTracer *tr = (MtTracer *)self;
    unsigned long long start, count;
    PyObject *generation = Py_None;
    if (!PyArg_ParseTuple(args, "KK|O:log_batch", &start, &count,
                          &generation)) {
        return NULL;
    }
    if (mt_guard_refuse(tr, "log_batch", 0) < 0) {
        return NULL;
    }
    if (generation != Py_None) {
        unsigned long long gen = PyLong_AsUnsignedLongLong(generation);
        if (gen == (unsigned long long)-1 && PyErr_Occurred()) {
            return NULL;
        }
        if (gen != tr->serial) {
            PyErr_SetString(PyExc_RuntimeError,
                            "monitrace: the recorded events were cleared "
                            "(clear() or a fork) while being read; start "
                            "reading again");
            return NULL;
        }
    }
    const MtEventLog *log = &tr->log;
    uint64_t end = start >= log->count          ? start
                   : count > log->count - start ? log->count
                                                : start + count;
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    /* First note at or after `start`. */
    size_t lo = 0, hi = log->nnotes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->notes[mid].seq < start) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    for (uint64_t seq = start; seq < end; seq++) {
        PyObject *notes[MT_NOTE_KINDS] = {NULL};
        while (lo < log->nnotes && log->notes[lo].seq == seq) {
            notes[log->notes[lo].what] = log->notes[lo].obj;
            lo++;
        }
        PyObject *item =
            event_tuple(tr, mt_eventlog_event_at(log, seq), notes);
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
thread_list(const MtTracer *tr)
{
    Py_ssize_t n = tr->threads ? (Py_ssize_t)tr->threads->index + 1 : 0;
    PyObject *out = PyList_New(n);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyList_SET_ITEM(out, i, Py_NewRef(Py_None));
    }
    for (const MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        PyObject *item = Py_BuildValue("(kkO)", ts->ident, ts->native_id,
                                       ts->name ? ts->name : Py_None);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SetItem(out, (Py_ssize_t)ts->index, item);
    }
    return out;
}

const char mt_logview_info_doc[] =
    "log_info($self, /)\n--\n\n"
    "A dict about the event log: 'count' (events kept), 'dropped',\n"
    "'limit' (None: no limit), 'record', 'base_ns' (CLOCK_MONOTONIC ns at\n"
    "the first start), 'wall_offset_ns' (add to a time_ns for Unix time\n"
    "in ns), 'records' ((kind, key, module) by record index),\n"
    "'threads' ((ident, native_id, name) by thread index) and\n"
    "'generation' (changes when the log is cleared; see log_batch) and\n"
    "'deferred' (the numbers of the log's events are worked out from it\n"
    "when read, not as they happen: record mode's lean case) and 'folded'\n"
    "(how many of the events that reading has taken in so far).";

PyObject *
mt_logview_info_method(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    MtTracer *tr = (MtTracer *)self;
    if (mt_guard_refuse(tr, "log_info", 0) < 0) {
        return NULL;
    }
    const MtEventLog *log = &tr->log;
    PyObject *records = mt_snapshot_records(&tr->records, 0, 0);
    if (records == NULL) {
        return NULL;
    }
    PyObject *threads = thread_list(tr);
    if (threads == NULL) {
        Py_DECREF(records);
        return NULL;
    }
    PyObject *limit = log->limit == UINT64_MAX
                          ? Py_NewRef(Py_None)
                          : PyLong_FromUnsignedLongLong(log->limit);
    if (limit == NULL) {
        Py_DECREF(records);
        Py_DECREF(threads);
        return NULL;
    }
    return Py_BuildValue("{s:K,s:K,s:N,s:O,s:K,s:L,s:N,s:N,s:K,s:O,s:K}",
                         "count", (unsigned long long)log->count, "dropped",
                         (unsigned long long)log->dropped, "limit", limit,
                         "record", log->record ? Py_True : Py_False, "base_ns",
                         (unsigned long long)log->base_ns, "wall_offset_ns",
                         (long long)log->wall_offset_ns, "records", records,
                         "threads", threads, "generation",
                         (unsigned long long)tr->serial, "deferred",
                         tr->defer ? Py_True : Py_False, "folded",
                         (unsigned long long)tr->folded);
}

const char mt_logview_activations_doc[] =
    "log_activations($self, /)\n--\n\n"
    "The coroutine activations the log's events enter: a list of\n"
    "(seq, activation, task) ordered by seq, one per start, resume or\n"
    "throw of a coroutine; `task` indexes the second item, a list of the\n"
    "asyncio tasks' (name, id) found at their root coroutine's start, or\n"
    "is -1 (run by the task of the coroutine that started or awaits it)\n"
    "or -2 (a root coroutine no asyncio task runs).";

PyObject *
mt_logview_activations_method(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    MtTracer *tr = (MtTracer *)self;
    if (mt_guard_refuse(tr, "log_activations", 0) < 0) {
        return NULL;
    }
    const MtEventLog *log = &tr->log;
    size_t n = log->nacts;
    PyObject *acts = PyList_New((Py_ssize_t)n);
    if (acts == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const MtLogActivation *a = &log->acts[i];
        PyObject *item =
            Py_BuildValue("(KIi)", (unsigned long long)a->seq,
                          (unsigned int)a->activation, (int)a->task);
        if (item == NULL) {
            Py_DECREF(acts);
            return NULL;
        }
        PyList_SET_ITEM(acts, (Py_ssize_t)i, item);
    }
    PyObject *tasks = log->tasks != NULL
                          ? PyList_GetSlice(log->tasks, 0, PY_SSIZE_T_MAX)
                          : PyList_New(0);
    if (tasks == NULL) {
        Py_DECREF(acts);
        return NULL;
    }
    return Py_BuildValue("(NN)", acts, tasks);
}

const char mt_logview_lines_doc[] =
    "line_counts($self, /)\n--\n\n"
    "LINE hits since the last clear(): a list of (code, line, hits).";

PyObject *
mt_logview_lines_method(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    MtTracer *tr = (MtTracer *)self;
    if (mt_guard_refuse(tr, "line_counts", 0) < 0) {
        return NULL;
    }
    const MtEventLog *log = &tr->log;
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < log->nrecs && i < tr->records.count; i++) {
        const MtLogRecInfo *info = &log->recs[i];
        for (uint32_t j = 0; j < info->nlines; j++) {
            if (info->hits[j] == 0) {
                continue;
            }
            PyObject *item = Py_BuildValue("(OiK)", tr->records.items[i]->key,
                                           (int)(info->first + (int32_t)j),
                                           (unsigned long long)info->hits[j]);
            if (item == NULL || PyList_Append(out, item) < 0) {
                Py_XDECREF(item);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(item);
        }
    }
    return out;
}

const char mt_logview_tree_target_doc[] =
    "log_tree_target($self, /, fd=-1, write=None, text=True,\n"
    "                line_flush=False)\n--\n\n"
    "Where the live tree goes: the file descriptor `fd` (write(2)), or\n"
    "`write(chunk)` (a str when `text`, else bytes). Text is buffered and\n"
    "handed on in chunks of whole lines, or at every event with\n"
    "`line_flush`. What is buffered goes to the old target first.";

PyObject *
mt_logview_tree_target_method(PyObject *self, PyObject *args, PyObject *kwargs)
{
    MtTracer *tr = (MtTracer *)self;
    static char *kwlist[] = {"fd", "write", "text", "line_flush", NULL};
    int fd = -1, text = 1, line_flush = 0;
    PyObject *write = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|iOpp:log_tree_target",
                                     kwlist, &fd, &write, &text,
                                     &line_flush)) {
        return NULL;
    }
    if (mt_guard_refuse(tr, "log_tree_target", 1) < 0) {
        return NULL;
    }
    if (write != Py_None && !PyCallable_Check(write)) {
        PyErr_SetString(PyExc_TypeError, "write must be a callable or None");
        return NULL;
    }
    MtTreeFmt *f = mt_treefmt_from_capsule(tr->log.tree);
    if (f == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no live tree configured");
        return NULL;
    }
    mt_logview_tree_flush(tr);
    MtOutBuf *out = mt_treefmt_out(f);
    mt_outbuf_target(out, fd, write == Py_None ? NULL : write, text,
                     line_flush);
    Py_RETURN_NONE;
}

const char mt_logview_tree_flush_doc[] =
    "log_tree_flush($self, /)\n--\n\n"
    "Write out what the live tree holds (min_duration= text included)\n"
    "and return the number of calls into library code it did not show.";

PyObject *
mt_logview_tree_flush_method(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    MtTracer *tr = (MtTracer *)self;
    if (mt_guard_refuse(tr, "log_tree_flush", 0) < 0) {
        return NULL;
    }
    MtTreeFmt *f = mt_treefmt_from_capsule(tr->log.tree);
    if (f == NULL) {
        return PyLong_FromLong(0);
    }
    if (!tr->running) {
        mt_logview_tree_flush(tr);
    }
    else {
        /* Running: only whole output, never held-back text. */
        MtOutBuf *out = mt_treefmt_out(f);
        if (!out->failed) {
            mt_outbuf_flush(out);
        }
    }
    return PyLong_FromUnsignedLongLong(mt_treefmt_hidden_calls(f));
}

static const MtThreadState *
thread_at(const MtTracer *tr, uint32_t index)
{
    for (const MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        if (ts->index == index) {
            return ts;
        }
    }
    return NULL;
}

const char mt_logview_write_tree_doc[] =
    "log_write_tree($self, spec, write, /, text=True)\n--\n\n"
    "Replay the recorded events through the tree formatter made from\n"
    "`spec` (as for log_configure's tree), handing its text to\n"
    "`write(chunk)` (str when `text`, else bytes) in chunks of whole\n"
    "lines. Returns the number of library calls not shown, or with\n"
    "write=None (that number, the whole text as a str). Raises what\n"
    "`write` or the spec's callables raise, and RuntimeError if the log\n"
    "is cleared meanwhile.";

PyObject *
mt_logview_write_tree_method(PyObject *self, PyObject *args, PyObject *kwargs)
{
    MtTracer *tr = (MtTracer *)self;
    static char *kwlist[] = {"spec", "write", "text", NULL};
    PyObject *spec, *write;
    int text = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|p:log_write_tree",
                                     kwlist, &spec, &write, &text)) {
        return NULL;
    }
    /* write=None: the whole text is kept here and returned as one str
     * (one copy, where chunks would be joined and decoded). */
    int keep = write == Py_None;
    if (mt_guard_refuse(tr, "log_write_tree", 0) < 0) {
        return NULL;
    }
    PyObject *capsule = mt_treefmt_capsule_new(spec);
    if (capsule == NULL) {
        return NULL;
    }
    MtTreeFmt *f = mt_treefmt_from_capsule(capsule);
    MtOutBuf *out = mt_treefmt_out(f);
    mt_outbuf_target(out, -1, keep ? NULL : write, text, 0);
    uint64_t serial = tr->serial;
    double scale = mt_clock_ns_per_tick(tr->clock);
    size_t note = 0;
    for (uint64_t seq = 0; seq < tr->log.count; seq++) {
        const MtEventLog *log = &tr->log;
        PyObject *notes[MT_NOTE_KINDS] = {NULL};
        while (note < log->nnotes && log->notes[note].seq < seq) {
            note++;
        }
        size_t mine = note;
        while (mine < log->nnotes && log->notes[mine].seq == seq) {
            notes[log->notes[mine].what] = Py_NewRef(log->notes[mine].obj);
            mine++;
        }
        MtLogEvent e = *mt_eventlog_event_at(log, seq);
        int rc = -1;
        MtTreeRefs refs;
        if ((Py_ssize_t)e.record < tr->records.count) {
            const MtRecord *rec = tr->records.items[e.record];
            const MtThreadState *ts = thread_at(tr, e.thread);
            rc = mt_treefmt_prepare(f, &e, rec->key, rec->module, notes,
                                    ts ? ts->name : NULL, ts ? ts->ident : 0,
                                    &refs);
        }
        else {
            PyErr_SetString(PyExc_RuntimeError,
                            "monitrace: an event names an unknown function");
        }
        if (rc == 0 && tr->serial != serial) {
            PyErr_SetString(PyExc_RuntimeError,
                            "monitrace: the recorded events were cleared "
                            "(clear() or a fork) while being read; start "
                            "reading again");
            rc = -1;
        }
        if (rc == 0) {
            mt_treefmt_event(f, &e, mt_eventlog_ns(log, scale, e.time), notes,
                             &refs);
            if (!keep) {
                mt_outbuf_maybe_flush(out);
            }
        }
        for (int i = 0; i < MT_NOTE_KINDS; i++) {
            Py_XDECREF(notes[i]);
        }
        if (rc < 0) {
            Py_DECREF(capsule);
            return NULL;
        }
        if (out->failed) {
            break;
        }
    }
    mt_treefmt_release(f);
    PyObject *whole = NULL;
    if (keep && !out->failed) {
        whole = PyUnicode_DecodeUTF8(out->data ? out->data : "",
                                     (Py_ssize_t)out->len, "strict");
        if (whole == NULL) {
            Py_DECREF(capsule);
            return NULL;
        }
    }
    else {
        mt_outbuf_flush(out);
    }
    if (out->failed) {
        PyObject *err = mt_outbuf_take_error(out);
        if (err != NULL) {
            PyErr_SetRaisedException(err);
        }
        else {
            PyErr_NoMemory();
        }
        Py_DECREF(capsule);
        return NULL;
    }
    PyObject *hidden = PyLong_FromUnsignedLongLong(mt_treefmt_hidden_calls(f));
    Py_DECREF(capsule);
    if (whole == NULL || hidden == NULL) {
        return hidden;
    }
    return Py_BuildValue("(NN)", hidden, whole);
}
