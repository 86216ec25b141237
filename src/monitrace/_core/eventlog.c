/* Record mode: appending events to the chunked log, opt-in captures (safe
 * bounded reprs, call-site lines, caller files), live delivery to Python,
 * LINE events on traced code, and the Tracer methods that read it all. */
#include "eventlog.h"
#include "capture.h"
#include "clock.h"
#include "guard.h"
#include "records.h"
#include "threadstate.h"
#include "tracer.h"

#include <limits.h>

_Static_assert(sizeof(MtLogEvent) == 24, "a log event is 24 bytes");

/* ---- storage ---------------------------------------------------------- */

/* Room for one more event; 0 if the limit is reached or memory ran out
 * (the event is then counted as dropped). */
static int
reserve(MtTracer *tr)
{
    MtEventLog *log = &tr->log;
    if (log->count >= log->limit) {
        return 0;
    }
    size_t c = (size_t)(log->count / MT_LOG_CHUNK);
    if (c < log->nchunks) {
        return 1;
    }
    if (log->nchunks == log->chunks_cap) {
        size_t cap = log->chunks_cap ? log->chunks_cap * 2 : 16;
        MtLogEvent **chunks =
            PyMem_Realloc(log->chunks, cap * sizeof(*chunks));
        if (chunks == NULL) {
            mt_tracer_fail(tr, MT_ERR_NOMEM, "event log");
            return 0;
        }
        log->chunks = chunks;
        log->chunks_cap = cap;
    }
    MtLogEvent *chunk = PyMem_Malloc(MT_LOG_CHUNK * sizeof(*chunk));
    if (chunk == NULL) {
        mt_tracer_fail(tr, MT_ERR_NOMEM, "event log");
        return 0;
    }
    log->chunks[log->nchunks++] = chunk;
    return 1;
}

/* Store `e`; its sequence number, or -1 when it was dropped. */
static int64_t
append(MtTracer *tr, const MtLogEvent *e)
{
    MtEventLog *log = &tr->log;
    if (!log->record) {
        return -1;
    }
    if (!reserve(tr)) {
        log->dropped++;
        return -1;
    }
    uint64_t seq = log->count++;
    log->chunks[seq / MT_LOG_CHUNK][seq % MT_LOG_CHUNK] = *e;
    return (int64_t)seq;
}

static inline const MtLogEvent *
event_at(const MtEventLog *log, uint64_t seq)
{
    return &log->chunks[seq / MT_LOG_CHUNK][seq % MT_LOG_CHUNK];
}

/* Attach `obj` (a new reference, stolen; NULL is ignored) to event seq. */
static void
add_note(MtTracer *tr, int64_t seq, uint32_t what, PyObject *obj)
{
    MtEventLog *log = &tr->log;
    if (obj == NULL || seq < 0) {
        Py_XDECREF(obj);
        return;
    }
    if (log->nnotes == log->notes_cap) {
        size_t cap = log->notes_cap ? log->notes_cap * 2 : 256;
        MtLogNote *notes = PyMem_Realloc(log->notes, cap * sizeof(*notes));
        if (notes == NULL) {
            mt_tracer_fail(tr, MT_ERR_NOMEM, "event notes");
            Py_DECREF(obj);
            return;
        }
        log->notes = notes;
        log->notes_cap = cap;
    }
    MtLogNote *n = &log->notes[log->nnotes++];
    n->seq = (uint64_t)seq;
    n->what = what;
    n->obj = obj;
}

MtLogRecInfo *
mt_eventlog_rec_info(MtTracer *tr, const MtRecord *rec)
{
    MtEventLog *log = &tr->log;
    if (rec->index >= log->nrecs) {
        Py_ssize_t n = log->nrecs ? log->nrecs : 64;
        while (n <= rec->index) {
            n *= 2;
        }
        MtLogRecInfo *recs = PyMem_Realloc(log->recs, n * sizeof(*recs));
        if (recs == NULL) {
            mt_tracer_fail(tr, MT_ERR_NOMEM, "event log records");
            return NULL;
        }
        memset(recs + log->nrecs, 0, (n - log->nrecs) * sizeof(*recs));
        log->recs = recs;
        log->nrecs = n;
    }
    return &log->recs[rec->index];
}

/* ---- building Python tuples ------------------------------------------- */

static PyObject *
time_ns(const MtTracer *tr, uint64_t ticks)
{
    const MtEventLog *log = &tr->log;
    double scale = mt_clock_ns_per_tick(tr->clock);
    double delta = ticks >= log->base_ticks
                       ? (double)(ticks - log->base_ticks) * scale
                       : -(double)(log->base_ticks - ticks) * scale;
    return PyLong_FromLongLong((long long)log->base_ns
                               + (long long)(delta + 0.5));
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

/* Hand one event to the live callable (GIL held, inside a callback). */
static void
deliver_live(MtTracer *tr, MtThreadState *ts, MtRecord *rec,
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
    res = PyObject_Vectorcall(log->live, argv, 5, NULL);
    if (res == NULL) {
        goto error;
    }
    Py_DECREF(res);
    Py_DECREF(tuple);
    Py_DECREF(ident);
    return;

error:
    if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        /* Re-armed for the program; keep printing. */
        mt_capture_discard_error();
    }
    else {
        log->live_broken = 1;
        mt_tracer_fail(tr, MT_ERR_INTERNAL, "live output");
    }
    Py_XDECREF(tuple);
    Py_XDECREF(ident);
}

/* Store and/or deliver one event with its notes (owned references,
 * consumed here). Runs with the user's exception saved by the caller. */
static void
drop_notes(PyObject **notes)
{
    for (uint32_t i = 0; i < MT_NOTE_KINDS; i++) {
        Py_CLEAR(notes[i]);
    }
}

/* Store the event and its notes, and show it live. Reprs and the live
 * printer are Python code: `serial` (from mt_guard_enter) tells whether
 * the tracer is still the one the event belongs to. */
static void
emit(MtTracer *tr, MtThreadState *ts, MtRecord *rec, const MtLogEvent *e,
     PyObject **notes, uint64_t serial)
{
    if (tr->serial != serial || !tr->active) {
        /* A repr let another thread stop or clear the tracer: `ts` and
         * `rec` may be gone (guard.h). */
        drop_notes(notes);
        return;
    }
    int64_t seq = append(tr, e);
    if (tr->log.live != NULL && !tr->log.live_broken) {
        deliver_live(tr, ts, rec, e, notes);
        if (tr->serial != serial || !tr->active) {
            drop_notes(notes);
            return;
        }
    }
    for (uint32_t i = 0; i < MT_NOTE_KINDS; i++) {
        if (notes[i] != NULL) {
            add_note(tr, seq, i, notes[i]);
            notes[i] = NULL;
        }
    }
}

/* Whether an event would go anywhere; counts it as dropped if not. */
static int
wanted(MtTracer *tr)
{
    MtEventLog *log = &tr->log;
    if (log->live != NULL && !log->live_broken) {
        return 1;
    }
    if (!log->record) {
        return 0;
    }
    if (log->count >= log->limit) {
        log->dropped++;
        return 0;
    }
    return 1;
}

/* True when logging this event can run no Python code and create no
 * Python object (so no finalizer can run either): no repr capture, no live
 * printing, and call sites found without frame objects. Such events skip
 * the exception save/restore and the guard (guard.h), which cost as much
 * as the logging itself. */
static inline int
plain(const MtEventLog *log)
{
    return MT_HAVE_FRAME_PEEK && log->live == NULL && !log->args
           && !log->retval;
}

static inline uint32_t
clamp_depth(size_t depth)
{
    return depth > MT_LOG_DEPTH_MAX ? MT_LOG_DEPTH_MAX : (uint32_t)depth;
}

/* ---- hooks ------------------------------------------------------------ */

void
mt_eventlog_enter(MtTracer *tr, MtThreadState *ts, MtRecord *rec, MtEvent ev,
                  PyObject *const *args, uint64_t now, size_t depth0)
{
    if (ts->depth <= depth0 || !wanted(tr)) {
        return;
    }
    MtEventLog *log = &tr->log;
    MtLogEvent e = {.time = now,
                    .record = (uint32_t)rec->index,
                    .line = 0,
                    .depth = clamp_depth(ts->depth - 1),
                    .thread = ts->index};
#if MT_HAVE_FRAME_PEEK
    /* The common case, kept lean: a Python call or resume with nothing
     * to note (see plain()). */
    if ((ev == MT_EV_PY_START || ev == MT_EV_PY_RESUME) && plain(log)
        && !log->caller_files) {
        e.kind = ev == MT_EV_PY_START ? MT_LOG_CALL : MT_LOG_RESUME;
        mt_callsite_peek(&log->sites, args[0], &e.line, NULL);
        append(tr, &e);
        return;
    }
#endif
    PyObject *notes[MT_NOTE_KINDS] = {NULL};
    int quiet = plain(log);
    PyObject *saved = NULL;
    uint64_t serial = tr->serial;
    if (!quiet) {
        saved = PyErr_GetRaisedException();
        serial = mt_guard_enter(tr);
    }
    if (ev == MT_EV_CALL) {
        e.kind = MT_LOG_C_CALL;
        long offset = PyLong_AsLong(args[1]);
        if (offset < 0 || offset > INT_MAX) {
            PyErr_Clear();
        }
        else {
            e.line = PyCode_Addr2Line((PyCodeObject *)args[0], (int)offset);
        }
        if (log->caller_files) {
            notes[MT_NOTE_CALLER_FILE] =
                Py_NewRef(((PyCodeObject *)args[0])->co_filename);
        }
    }
    else {
        e.kind = ev == MT_EV_PY_START    ? MT_LOG_CALL
                 : ev == MT_EV_PY_RESUME ? MT_LOG_RESUME
                                         : MT_LOG_THROW;
        PyFrameObject *callee = NULL;
        PyObject **file =
            log->caller_files ? &notes[MT_NOTE_CALLER_FILE] : NULL;
#if MT_HAVE_FRAME_PEEK
        /* Argument capture needs the callee's frame object anyway. */
        if (!(e.kind == MT_LOG_CALL && log->args)) {
            mt_callsite_peek(&log->sites, args[0], &e.line, file);
        }
        else
#endif
        mt_callsite_find(args[0], &callee, &e.line, file);
        if (e.kind == MT_LOG_CALL && log->args && callee != NULL) {
            notes[MT_NOTE_ARGS] = mt_capture_args(tr, rec, callee);
        }
        if (e.kind == MT_LOG_THROW) {
            notes[MT_NOTE_EXC_TYPE] = Py_NewRef(Py_TYPE(args[2]));
            if (log->retval) {
                notes[MT_NOTE_EXC_REPR] =
                    mt_capture_repr(args[2], log->repr_limit);
            }
        }
    }
    emit(tr, ts, rec, &e, notes, serial);
    if (quiet) {
        return;
    }
    mt_guard_leave(tr, serial); /* may free tr: touch it no more */
    PyErr_Clear();
    PyErr_SetRaisedException(saved);
}

void
mt_eventlog_leave(MtTracer *tr, MtThreadState *ts, MtRecord *rec, MtEvent ev,
                  PyObject *const *args, uint64_t now, size_t depth0)
{
    if (ts->depth >= depth0 || !wanted(tr)) {
        return; /* not on the stack: an exit we never saw start */
    }
    MtEventLog *log = &tr->log;
    MtLogEvent e = {.time = now,
                    .record = (uint32_t)rec->index,
                    .line = 0,
                    .depth = clamp_depth(ts->depth),
                    .thread = ts->index};
    if ((ev == MT_EV_PY_RETURN || ev == MT_EV_PY_YIELD) && plain(log)) {
        e.kind = ev == MT_EV_PY_RETURN ? MT_LOG_RETURN : MT_LOG_YIELD;
        append(tr, &e);
        return;
    }
    PyObject *notes[MT_NOTE_KINDS] = {NULL};
    int quiet = plain(log);
    PyObject *saved = NULL;
    uint64_t serial = tr->serial;
    if (!quiet) {
        saved = PyErr_GetRaisedException();
        serial = mt_guard_enter(tr);
    }
    switch (ev) {
    case MT_EV_PY_RETURN:
    case MT_EV_PY_YIELD:
        e.kind = ev == MT_EV_PY_RETURN ? MT_LOG_RETURN : MT_LOG_YIELD;
        if (log->retval) {
            notes[MT_NOTE_RETVAL] = mt_capture_repr(args[2], log->repr_limit);
        }
        break;
    case MT_EV_PY_UNWIND:
        e.kind = MT_LOG_RAISE;
        notes[MT_NOTE_EXC_TYPE] = Py_NewRef(Py_TYPE(args[2]));
        if (log->retval) {
            notes[MT_NOTE_EXC_REPR] =
                mt_capture_repr(args[2], log->repr_limit);
        }
        break;
    case MT_EV_C_RAISE:
        e.kind = MT_LOG_C_RAISE;
        break;
    default:
        e.kind = MT_LOG_C_RETURN;
        break;
    }
    emit(tr, ts, rec, &e, notes, serial);
    if (quiet) {
        return;
    }
    mt_guard_leave(tr, serial); /* may free tr: touch it no more */
    PyErr_Clear();
    PyErr_SetRaisedException(saved);
}

static void
count_line(MtTracer *tr, MtRecord *rec, int32_t line)
{
    MtLogRecInfo *info = mt_eventlog_rec_info(tr, rec);
    if (info == NULL) {
        return;
    }
    if (info->nlines == 0 || line < info->first
        || line >= info->first + (int32_t)info->nlines) {
        int32_t lo = info->nlines ? info->first : line;
        int32_t hi =
            info->nlines ? info->first + (int32_t)info->nlines : line + 1;
        if (line < lo) {
            lo = line;
        }
        if (line >= hi) {
            hi = line + 1;
        }
        /* Grow with some slack: a function's lines arrive one by one. */
        if (info->nlines) {
            hi += 16;
        }
        uint64_t *hits = PyMem_Calloc((size_t)(hi - lo), sizeof(*hits));
        if (hits == NULL) {
            mt_tracer_fail(tr, MT_ERR_NOMEM, "line counts");
            return;
        }
        if (info->nlines) {
            memcpy(hits + (info->first - lo), info->hits,
                   info->nlines * sizeof(*hits));
        }
        PyMem_Free(info->hits);
        info->hits = hits;
        info->first = lo;
        info->nlines = (uint32_t)(hi - lo);
    }
    info->hits[line - info->first]++;
}

PyObject *
mt_eventlog_line(MtTracer *tr, MtRecord *rec, PyObject *const *args,
                 uint64_t now)
{
    long line = PyLong_AsLong(args[1]);
    if (line < 0 || line > INT32_MAX) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    count_line(tr, rec, (int32_t)line);
    if (!wanted(tr)) {
        Py_RETURN_NONE;
    }
    MtThreadState *ts = mt_thread_current(tr);
    if (ts == NULL) {
        Py_RETURN_NONE;
    }
    /* The executing activation is normally the top frame; a frame that
     * began before tracing did is not on the stack: it sits above. */
    size_t depth = ts->depth;
    if (depth > 0 && ts->stack[depth - 1].id == rec->id) {
        depth--;
    }
    MtLogEvent e = {.time = now,
                    .record = (uint32_t)rec->index,
                    .line = (int32_t)line,
                    .depth = clamp_depth(depth),
                    .kind = MT_LOG_LINE,
                    .thread = ts->index};
    PyObject *notes[MT_NOTE_KINDS] = {NULL};
    PyObject *saved = PyErr_GetRaisedException();
    uint64_t serial = mt_guard_enter(tr);
    emit(tr, ts, rec, &e, notes, serial);
    mt_guard_leave(tr, serial); /* may free tr: touch it no more */
    PyErr_Clear();
    PyErr_SetRaisedException(saved);
    Py_RETURN_NONE;
}

/* ---- LINE events through local events --------------------------------- */

static void
set_lines(MtTracer *tr, MtRecord *rec, int on)
{
    MtEventLog *log = &tr->log;
    MtLogRecInfo *info = mt_eventlog_rec_info(tr, rec);
    if (info == NULL || log->set_local == NULL || tr->tool < 0
        || info->lines_on == on) {
        return;
    }
    PyObject *saved = PyErr_GetRaisedException();
    tr->in_callback++;
    PyObject *res = PyObject_CallFunction(log->set_local, "iOl", tr->tool,
                                          rec->key, on ? log->line_bit : 0L);
    tr->in_callback--;
    if (res == NULL) {
        mt_tracer_fail(tr, MT_ERR_INTERNAL, "set_local_events");
    }
    else {
        info->lines_on = (uint8_t)on;
        Py_DECREF(res);
    }
    PyErr_SetRaisedException(saved);
}

void
mt_eventlog_code_seen(MtTracer *tr, MtRecord *rec)
{
    if (tr->log.lines && rec->traced && rec->kind == MT_KIND_PY) {
        set_lines(tr, rec, 1);
    }
}

static PyObject *
monitoring_attr(const char *name)
{
    PyObject *sys = PyImport_ImportModule("sys");
    if (sys == NULL) {
        return NULL;
    }
    PyObject *mon = PyObject_GetAttrString(sys, "monitoring");
    Py_DECREF(sys);
    if (mon == NULL) {
        return NULL;
    }
    PyObject *attr = PyObject_GetAttrString(mon, name);
    Py_DECREF(mon);
    return attr;
}

void
mt_eventlog_start(MtTracer *tr)
{
    mt_callsite_reset(&tr->log.sites);
    MtEventLog *log = &tr->log;
    if (!log->enabled) {
        return;
    }
    if (!log->based) {
        log->base_ticks = mt_clock_now(tr->clock);
        log->base_ns = mt_clock_monotonic_ns();
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        log->wall_offset_ns = (int64_t)wall.tv_sec * 1000000000
                              + (int64_t)wall.tv_nsec - (int64_t)log->base_ns;
        log->based = 1;
    }
    log->live_broken = 0;
    if (!log->lines) {
        return;
    }
    PyObject *saved = PyErr_GetRaisedException();
    PyObject *events = monitoring_attr("events");
    PyObject *bit = events ? PyObject_GetAttrString(events, "LINE") : NULL;
    Py_XDECREF(events);
    log->line_bit = bit ? PyLong_AsLong(bit) : -1;
    Py_XDECREF(bit);
    Py_XSETREF(log->set_local, monitoring_attr("set_local_events"));
    if (log->set_local == NULL || log->line_bit < 0) {
        Py_CLEAR(log->set_local);
        mt_tracer_fail(tr, MT_ERR_INTERNAL, "line events");
    }
    else {
        for (Py_ssize_t i = 0; i < tr->records.count; i++) {
            mt_eventlog_code_seen(tr, tr->records.items[i]);
        }
    }
    PyErr_SetRaisedException(saved);
}

void
mt_eventlog_stop(MtTracer *tr)
{
    MtEventLog *log = &tr->log;
    if (log->set_local == NULL) {
        return;
    }
    for (Py_ssize_t i = 0; i < tr->records.count && i < log->nrecs; i++) {
        if (log->recs[i].lines_on) {
            set_lines(tr, tr->records.items[i], 0);
        }
    }
    Py_CLEAR(log->set_local);
}

/* ---- lifetime --------------------------------------------------------- */

void
mt_eventlog_clear(MtEventLog *log)
{
    for (size_t i = 0; i < log->nchunks; i++) {
        PyMem_Free(log->chunks[i]);
    }
    PyMem_Free(log->chunks);
    log->chunks = NULL;
    log->nchunks = log->chunks_cap = 0;
    for (size_t i = 0; i < log->nnotes; i++) {
        Py_CLEAR(log->notes[i].obj);
    }
    PyMem_Free(log->notes);
    log->notes = NULL;
    log->nnotes = log->notes_cap = 0;
    for (Py_ssize_t i = 0; i < log->nrecs; i++) {
        Py_CLEAR(log->recs[i].argnames);
        PyMem_Free(log->recs[i].hits);
    }
    PyMem_Free(log->recs);
    log->recs = NULL;
    log->nrecs = 0;
    log->count = log->dropped = 0;
    log->based = 0;
    log->live_broken = 0;
}

void
mt_eventlog_free(MtEventLog *log)
{
    mt_eventlog_clear(log);
    Py_CLEAR(log->live);
    Py_CLEAR(log->set_local);
}

int
mt_eventlog_traverse(MtEventLog *log, visitproc visit, void *arg)
{
    Py_VISIT(log->live);
    Py_VISIT(log->set_local);
    for (size_t i = 0; i < log->nnotes; i++) {
        Py_VISIT(log->notes[i].obj);
    }
    for (Py_ssize_t i = 0; i < log->nrecs; i++) {
        Py_VISIT(log->recs[i].argnames);
    }
    return 0;
}

/* ---- Tracer methods --------------------------------------------------- */

static int
refuse(MtTracer *tr, const char *what, int when_running)
{
    if (mt_guard_reentered(tr)) {
        PyErr_Format(PyExc_RuntimeError,
                     "monitrace: %s() cannot be called from code that runs "
                     "inside a tracer callback",
                     what);
        return -1;
    }
    if (when_running && tr->running) {
        PyErr_Format(PyExc_RuntimeError,
                     "monitrace: stop the tracer before %s()", what);
        return -1;
    }
    return 0;
}

const char mt_eventlog_configure_doc[] =
    "log_configure($self, /, *, record=False, limit=0, args=False,\n"
    "              retval=False, lines=False, caller_files=False,\n"
    "              repr_limit=80, live=None)\n--\n\n"
    "Set up record mode (the tracer must be stopped). `record` stores\n"
    "events, at most `limit` of them (0: no limit; later ones are counted\n"
    "as dropped); `live(event, key, module, thread_ident, thread_name)`\n"
    "is called for each event as it happens; `lines` turns on LINE events\n"
    "for traced code; `args`/`retval` capture reprs cut to `repr_limit`\n"
    "characters; `caller_files` notes the calling frame's file name.";

PyObject *
mt_eventlog_configure_method(PyObject *self, PyObject *args, PyObject *kwargs)
{
    MtTracer *tr = (MtTracer *)self;
    static char *kwlist[] = {"record",     "limit", "args",
                             "retval",     "lines", "caller_files",
                             "repr_limit", "live",  NULL};
    int record = 0, cargs = 0, retval = 0, lines = 0, caller_files = 0;
    unsigned long long limit = 0;
    Py_ssize_t repr_limit = 80;
    PyObject *live = Py_None;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "|$pKppppnO:log_configure", kwlist, &record, &limit,
            &cargs, &retval, &lines, &caller_files, &repr_limit, &live)) {
        return NULL;
    }
    if (refuse(tr, "log_configure", 1) < 0) {
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
    MtEventLog *log = &tr->log;
    log->record = record;
    log->limit = limit == 0 ? UINT64_MAX : (uint64_t)limit;
    log->args = cargs;
    log->retval = retval;
    log->lines = lines;
    log->caller_files = caller_files;
    log->repr_limit = repr_limit;
    Py_XSETREF(log->live, live == Py_None ? NULL : Py_NewRef(live));
    log->enabled = record || lines || log->live != NULL;
    Py_RETURN_NONE;
}

const char mt_eventlog_batch_doc[] =
    "log_batch($self, start, count, /)\n--\n\n"
    "Up to `count` recorded events from sequence number `start`, each\n"
    "(kind, time_ns, thread, record, depth, line, args, retval, exc_type,\n"
    "exc_repr, caller_file); an empty list past the end.";

PyObject *
mt_eventlog_batch_method(PyObject *self, PyObject *args)
{
    MtTracer *tr = (MtTracer *)self;
    unsigned long long start, count;
    if (!PyArg_ParseTuple(args, "KK:log_batch", &start, &count)) {
        return NULL;
    }
    if (refuse(tr, "log_batch", 0) < 0) {
        return NULL;
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
        PyObject *item = event_tuple(tr, event_at(log, seq), notes);
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

static PyObject *
record_list(const MtRecordSet *set)
{
    PyObject *out = PyList_New(set->count);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < set->count; i++) {
        const MtRecord *rec = set->items[i];
        PyObject *item =
            Py_BuildValue("(sOO)", rec->kind == MT_KIND_PY ? "py" : "c",
                          rec->key, rec->module ? rec->module : Py_None);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, item);
    }
    return out;
}

const char mt_eventlog_info_doc[] =
    "log_info($self, /)\n--\n\n"
    "A dict about the event log: 'count' (events kept), 'dropped',\n"
    "'limit' (None: no limit), 'record', 'base_ns' (CLOCK_MONOTONIC ns at\n"
    "the first start), 'wall_offset_ns' (add to a time_ns for Unix time\n"
    "in ns), 'records' ((kind, key, module) by record index) and\n"
    "'threads' ((ident, native_id, name) by thread index).";

PyObject *
mt_eventlog_info_method(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    MtTracer *tr = (MtTracer *)self;
    if (refuse(tr, "log_info", 0) < 0) {
        return NULL;
    }
    const MtEventLog *log = &tr->log;
    PyObject *records = record_list(&tr->records);
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
    return Py_BuildValue("{s:K,s:K,s:N,s:O,s:K,s:L,s:N,s:N}", "count",
                         (unsigned long long)log->count, "dropped",
                         (unsigned long long)log->dropped, "limit", limit,
                         "record", log->record ? Py_True : Py_False, "base_ns",
                         (unsigned long long)log->base_ns, "wall_offset_ns",
                         (long long)log->wall_offset_ns, "records", records,
                         "threads", threads);
}

const char mt_eventlog_lines_doc[] =
    "line_counts($self, /)\n--\n\n"
    "LINE hits since the last clear(): a list of (code, line, hits).";

PyObject *
mt_eventlog_lines_method(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    MtTracer *tr = (MtTracer *)self;
    if (refuse(tr, "line_counts", 0) < 0) {
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
