/* Record mode's hooks: what the callbacks hand over becomes log events
 * (eventlog.c stores them), with call sites (callsite.c), reprs
 * (capture.c), coroutine activations and their tasks (asynctask.c), and
 * the live tree or printer (logview.c); LINE events turned on for traced
 * code. */
#include "recorder.h"
#include "asynctask.h"
#include "breakpoints.h"
#include "capture.h"
#include "clock.h"
#include "eventlog.h"
#include "guard.h"
#include "logview.h"
#include "records.h"
#include "session.h"
#include "threadstate.h"
#include "treefmt.h"

#include <limits.h>

/* Whether the coroutine just pushed on `ts` was started by another
 * coroutine (awaited by it, so run by the same task): the frame below
 * it is a coroutine's. */
static int
under_coroutine(MtTracer *tr, const MtThreadState *ts)
{
    if (ts->depth < 2) {
        return 0;
    }
    const MtFrame *below = &ts->stack[ts->depth - 2];
    return below->suspends != MT_SUSPENDS_NO && below->index >= 0
           && below->index < tr->records.count
           && tr->records.items[below->index]->generator == MT_GEN_COROUTINE;
}

/* Store the event and its notes (owned references, consumed here), and
 * show it live. Runs with the user's exception saved by the caller. Reprs
 * and the live printer are Python code: `serial` (the guard's, guard.h)
 * tells whether the tracer is still the one the event belongs to. */
static int64_t
emit(MtTracer *tr, MtThreadState *ts, MtRecord *rec, const MtLogEvent *e,
     PyObject **notes, uint64_t serial)
{
    if (tr->serial != serial || !tr->active) {
        /* A repr let another thread stop or clear the tracer: `ts` and
         * `rec` may be gone (guard.h). */
        mt_eventlog_drop_notes(notes);
        return -1;
    }
    int64_t seq = mt_eventlog_append(&tr->log, &tr->failures, e);
    if (tr->log.tree != NULL && !tr->log.live_broken) {
        mt_logview_tree(tr, ts, rec, e, notes);
        if (tr->serial != serial || !tr->active) {
            mt_eventlog_drop_notes(notes);
            return -1;
        }
    }
    if (tr->log.live != NULL && !tr->log.live_broken) {
        mt_logview_deliver(tr, ts, rec, e, notes);
        if (tr->serial != serial || !tr->active) {
            mt_eventlog_drop_notes(notes);
            return -1;
        }
    }
    for (uint32_t i = 0; i < MT_NOTE_KINDS; i++) {
        if (notes[i] != NULL) {
            mt_eventlog_add_note(&tr->log, &tr->failures, seq, i, notes[i]);
            notes[i] = NULL;
        }
    }
    return seq;
}

/* Whether an event would go anywhere; counts it as dropped if not. */
static int
wanted(MtTracer *tr)
{
    MtEventLog *log = &tr->log;
    if (mt_eventlog_live(log)) {
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
    return MT_HAVE_FRAME_PEEK && mt_callsite_peek_ok && log->live == NULL
           && log->tree == NULL && !log->args && !log->retval;
}

void
mt_recorder_enter(MtTracer *tr, MtThreadState *ts, MtRecord *rec, MtEvent ev,
                  PyObject *const *args, uint64_t now, size_t depth0)
{
    MtEventLog *log = &tr->log;
    /* The lean case (a plain Python call or resume) is stored inline by
     * the callbacks (eventlog_lean.h); it arrives here only when the
     * current chunk is full or the limit is reached. */
    if (ts->depth <= depth0 || !wanted(tr)) {
        return;
    }
    MtLogEvent e = {.time = now,
                    .record = (uint32_t)rec->index,
                    .line = 0,
                    .depth = mt_eventlog_depth(ts->depth - 1),
                    .thread = ts->index};
    PyObject *notes[MT_NOTE_KINDS] = {NULL};
    /* A coroutine's entry names its activation; the start of one that no
     * coroutine awaits (a task's root) asks asyncio for its task. */
    uint32_t activation = 0;
    int root = 0;
    if (rec->generator == MT_GEN_COROUTINE && log->record) {
        const MtFrame *top = &ts->stack[ts->depth - 1];
        if (top->suspends == MT_SUSPENDS_BORN) {
            activation = top->act_id;
            root = ev == MT_EV_PY_START && !under_coroutine(tr, ts);
        }
    }
    int quiet = plain(log) && !root;
    MtGuard g;
    uint64_t serial = tr->serial;
    if (!quiet) {
        mt_guard_open(&g, tr, 0);
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
        if (mt_callsite_peek_ok && !(e.kind == MT_LOG_CALL && log->args)) {
            mt_callsite_peek(&log->sites, args[0], &e.line, file);
        }
        else {
            mt_callsite_find(args[0], &callee, &e.line, file);
        }
#else
        mt_callsite_find(args[0], &callee, &e.line, file);
#endif
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
    /* Last: what it runs may let another thread clear the tracer, which
     * emit() notices. */
    PyObject *task = root ? mt_asynctask_current() : NULL;
    int64_t seq = emit(tr, ts, rec, &e, notes, serial);
    if (seq >= 0 && activation != 0) {
        mt_eventlog_add_activation(&tr->log, &tr->failures, (uint64_t)seq,
                                   activation, task,
                                   root ? MT_TASK_NONE : MT_TASK_INHERIT);
    }
    else {
        Py_XDECREF(task);
    }
    if (!quiet) {
        mt_guard_close(&g); /* may free tr: touch it no more */
    }
}

void
mt_recorder_leave(MtTracer *tr, MtThreadState *ts, MtRecord *rec, MtEvent ev,
                  PyObject *const *args, uint64_t now, size_t depth0)
{
    if (ts->depth >= depth0) {
        return; /* not on the stack: an exit we never saw start */
    }
    MtEventLog *log = &tr->log;
    MtLogEvent e = {.time = now,
                    .record = (uint32_t)rec->index,
                    .line = 0,
                    .depth = mt_eventlog_depth(ts->depth),
                    .thread = ts->index};
    if (!wanted(tr)) {
        return;
    }
    PyObject *notes[MT_NOTE_KINDS] = {NULL};
    int quiet = plain(log);
    MtGuard g;
    uint64_t serial = tr->serial;
    if (!quiet) {
        mt_guard_open(&g, tr, 0);
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
    if (!quiet) {
        mt_guard_close(&g); /* may free tr: touch it no more */
    }
}

static void
count_line(MtTracer *tr, MtRecord *rec, int32_t line)
{
    MtLogRecInfo *info = mt_eventlog_rec_info(&tr->log, &tr->failures, rec);
    if (info == NULL) {
        return;
    }
    /* The counted range is [first, end); `end` may be INT32_MAX + 1, so
     * bounds are computed in 64 bits. */
    int64_t first = info->first;
    int64_t end = first + (int64_t)info->nlines;
    if (info->nlines == 0 || line < first || line >= end) {
        int64_t lo = info->nlines ? first : line;
        int64_t hi = info->nlines ? end : (int64_t)line + 1;
        if (line < lo) {
            lo = line;
        }
        if (line >= hi) {
            hi = (int64_t)line + 1;
        }
        /* Grow with some slack: a function's lines arrive one by one. */
        if (info->nlines) {
            hi += 16;
            if (hi > (int64_t)INT32_MAX + 1) {
                hi = (int64_t)INT32_MAX + 1;
            }
        }
        uint64_t *hits = PyMem_Calloc((size_t)(hi - lo), sizeof(*hits));
        if (hits == NULL) {
            mt_fail(&tr->failures, MT_ERR_NOMEM, "line counts");
            return;
        }
        if (info->nlines) {
            memcpy(hits + (first - lo), info->hits,
                   info->nlines * sizeof(*hits));
        }
        PyMem_Free(info->hits);
        info->hits = hits;
        info->first = (int32_t)lo;
        info->nlines = (uint32_t)(hi - lo);
    }
    info->hits[(int64_t)line - info->first]++;
}

PyObject *
mt_recorder_line(MtTracer *tr, MtRecord *rec, PyObject *const *args,
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
                    .depth = mt_eventlog_depth(depth),
                    .kind = MT_LOG_LINE,
                    .thread = ts->index};
    PyObject *notes[MT_NOTE_KINDS] = {NULL};
    MtGuard g;
    mt_guard_open(&g, tr, 0);
    emit(tr, ts, rec, &e, notes, g.serial);
    mt_guard_close(&g); /* may free tr: touch it no more */
    Py_RETURN_NONE;
}

int
mt_recorder_statement(MtTracer *tr, MtRecord *rec, int32_t line,
                      PyObject *text)
{
    MtThreadState *ts = wanted(tr) ? mt_thread_current(tr) : NULL;
    if (ts == NULL) {
        Py_DECREF(text);
        return 1;
    }
    size_t depth = ts->depth;
    if (depth > 0 && ts->stack[depth - 1].id == rec->id) {
        depth--;
    }
    MtLogEvent e = {.time = mt_clock_now(tr->clock),
                    .record = (uint32_t)rec->index,
                    .line = line,
                    .depth = mt_eventlog_depth(depth),
                    .kind = MT_LOG_LINE,
                    .thread = ts->index};
    PyObject *notes[MT_NOTE_KINDS] = {NULL};
    notes[MT_NOTE_RETVAL] = text;
    MtGuard g;
    mt_guard_open(&g, tr, 0);
    emit(tr, ts, rec, &e, notes, g.serial);
    return mt_guard_close(&g); /* may free tr */
}

/* ---- LINE events through local events --------------------------------- */

static void
set_lines(MtTracer *tr, MtRecord *rec, int on)
{
    MtEventLog *log = &tr->log;
    MtLogRecInfo *info = mt_eventlog_rec_info(&tr->log, &tr->failures, rec);
    if (info == NULL || log->set_local == NULL || tr->tool < 0
        || info->lines_on == on) {
        return;
    }
    /* Only our LINE bit: breakpoints may want LINE here too (they keep
     * it on), and other features other events. */
    long off = on || mt_targets_local_events(tr, rec) ? 0L : log->line_bit;
    if (mt_guard_local_events(tr, rec->key, on ? log->line_bit : 0L, off,
                              "set_local_events")
        == 0) {
        info->lines_on = (uint8_t)on;
    }
}

void
mt_recorder_code_seen(MtTracer *tr, MtRecord *rec)
{
    if (tr->log.lines && rec->traced && rec->kind == MT_KIND_PY
        && mt_records_alive(rec)) {
        set_lines(tr, rec, 1);
    }
}

void
mt_recorder_start(MtTracer *tr)
{
    mt_callsite_reset(&tr->log.sites);
    MtEventLog *log = &tr->log;
    /* The configuration is fixed while running: decide once whether plain
     * Python events can skip straight to the store (no notes, no Python
     * code, no frame objects). */
    log->lean = MT_HAVE_FRAME_PEEK && mt_callsite_peek_ok && log->enabled
                && log->record && log->live == NULL && log->tree == NULL
                && !log->args && !log->retval && !log->caller_files;
    mt_eventlog_cursor_sync(
        log); /* the limit may have changed while stopped */
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
    PyObject *events = mt_monitoring_attr("events");
    PyObject *bit = events ? PyObject_GetAttrString(events, "LINE") : NULL;
    Py_XDECREF(events);
    log->line_bit = bit ? PyLong_AsLong(bit) : -1;
    Py_XDECREF(bit);
    Py_XSETREF(log->set_local, mt_monitoring_attr("set_local_events"));
    if (log->set_local == NULL || log->line_bit < 0) {
        Py_CLEAR(log->set_local);
        mt_fail(&tr->failures, MT_ERR_INTERNAL, "line events");
    }
    else {
        for (Py_ssize_t i = 0; i < tr->records.count; i++) {
            mt_recorder_code_seen(tr, tr->records.items[i]);
        }
    }
    PyErr_SetRaisedException(saved);
}

void
mt_recorder_stop(MtTracer *tr)
{
    MtEventLog *log = &tr->log;
    mt_logview_tree_flush(tr);
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

void
mt_recorder_clear(MtEventLog *log)
{
    mt_eventlog_clear(log);
    MtTreeFmt *f = mt_treefmt_from_capsule(log->tree);
    if (f != NULL) {
        /* Record indexes and thread indexes start again. */
        mt_treefmt_reset(f);
    }
}

void
mt_recorder_forked(MtEventLog *log)
{
    MtTreeFmt *f = mt_treefmt_from_capsule(log->tree);
    if (f != NULL) {
        mt_outbuf_discard(mt_treefmt_out(f));
    }
}
