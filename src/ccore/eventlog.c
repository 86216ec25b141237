/* Record mode's log as storage: events and their notes in chunks, per
 * record extras, coroutine activations, and the log's lifetime. What fills
 * it is recorder.c; what reads it logview.c and the writers. */
#include "eventlog.h"
#include "records.h"
#include "failure.h"

#include <limits.h>

_Static_assert(sizeof(MtLogEvent) == 24, "a log event is 24 bytes");

/* Room for one more event; 0 if the limit is reached or memory ran out
 * (the event is then counted as dropped). */
static int
reserve(MtEventLog *log, MtFailures *fail)
{
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
            mt_fail(fail, MT_ERR_NOMEM, "event log");
            return 0;
        }
        log->chunks = chunks;
        log->chunks_cap = cap;
    }
    MtLogEvent *chunk = PyMem_Malloc(MT_LOG_CHUNK * sizeof(*chunk));
    if (chunk == NULL) {
        mt_fail(fail, MT_ERR_NOMEM, "event log");
        return 0;
    }
    log->chunks[log->nchunks++] = chunk;
    return 1;
}

void
mt_eventlog_cursor_sync(MtEventLog *log)
{
    uint64_t seq = log->count;
    size_t c = (size_t)(seq / MT_LOG_CHUNK);
    if (seq >= log->limit || c >= log->nchunks) {
        log->cursor = log->cursor_end = NULL;
        return;
    }
    uint64_t room = MT_LOG_CHUNK - seq % MT_LOG_CHUNK;
    if (room > log->limit - seq) {
        room = log->limit - seq;
    }
    log->cursor = &log->chunks[c][seq % MT_LOG_CHUNK];
    log->cursor_end = log->cursor + room;
}

int
mt_eventlog_make_room(MtEventLog *log, MtFailures *fail)
{
    if (!log->record || !reserve(log, fail)) {
        return 0;
    }
    mt_eventlog_cursor_sync(log);
    return log->cursor != NULL;
}

int64_t
mt_eventlog_append(MtEventLog *log, MtFailures *fail, const MtLogEvent *e)
{
    if (!log->record) {
        return -1;
    }
    if (!reserve(log, fail)) {
        log->dropped++;
        return -1;
    }
    uint64_t seq = log->count++;
    log->chunks[seq / MT_LOG_CHUNK][seq % MT_LOG_CHUNK] = *e;
    mt_eventlog_cursor_sync(log);
    return (int64_t)seq;
}

void
mt_eventlog_add_note(MtEventLog *log, MtFailures *fail, int64_t seq,
                     uint32_t what, PyObject *obj)
{
    if (obj == NULL || seq < 0) {
        Py_XDECREF(obj);
        return;
    }
    if (log->nnotes == log->notes_cap) {
        size_t cap = log->notes_cap ? log->notes_cap * 2 : 256;
        MtLogNote *notes = PyMem_Realloc(log->notes, cap * sizeof(*notes));
        if (notes == NULL) {
            mt_fail(fail, MT_ERR_NOMEM, "event notes");
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
mt_eventlog_rec_info(MtEventLog *log, MtFailures *fail, const MtRecord *rec)
{
    if (rec->index >= log->nrecs) {
        Py_ssize_t n = log->nrecs ? log->nrecs : 64;
        while (n <= rec->index) {
            n *= 2;
        }
        MtLogRecInfo *recs = PyMem_Realloc(log->recs, n * sizeof(*recs));
        if (recs == NULL) {
            mt_fail(fail, MT_ERR_NOMEM, "event log records");
            return NULL;
        }
        memset(recs + log->nrecs, 0, (n - log->nrecs) * sizeof(*recs));
        log->recs = recs;
        log->nrecs = n;
    }
    return &log->recs[rec->index];
}

void
mt_eventlog_add_activation(MtEventLog *log, MtFailures *fail, uint64_t seq,
                           uint32_t activation, PyObject *task,
                           int32_t fallback)
{
    int32_t index = fallback;
    if (task != NULL) {
        if (log->tasks == NULL) {
            log->tasks = PyList_New(0);
        }
        if (log->tasks != NULL && PyList_GET_SIZE(log->tasks) < INT32_MAX
            && PyList_Append(log->tasks, task) == 0) {
            index = (int32_t)(PyList_GET_SIZE(log->tasks) - 1);
        }
        else {
            mt_fail(fail, MT_ERR_NOMEM, "asyncio tasks");
        }
        Py_DECREF(task);
    }
    if (log->nacts == log->acts_cap) {
        size_t cap = log->acts_cap ? log->acts_cap * 2 : 256;
        MtLogActivation *acts = PyMem_Realloc(log->acts, cap * sizeof(*acts));
        if (acts == NULL) {
            mt_fail(fail, MT_ERR_NOMEM, "coroutine activations");
            return;
        }
        log->acts = acts;
        log->acts_cap = cap;
    }
    log->acts[log->nacts++] = (MtLogActivation){seq, activation, index};
}

void
mt_eventlog_drop_notes(PyObject **notes)
{
    for (uint32_t i = 0; i < MT_NOTE_KINDS; i++) {
        Py_CLEAR(notes[i]);
    }
}

/* ---- lifetime --------------------------------------------------------- */

/* Drop the events and notes: what both clear and reset forget. */
static void
drop_events(MtEventLog *log)
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
    PyMem_Free(log->acts);
    log->acts = NULL;
    log->nacts = log->acts_cap = 0;
    Py_CLEAR(log->tasks);
    log->count = log->dropped = 0;
    log->cursor = log->cursor_end = NULL;
    log->based = 0;
}

void
mt_eventlog_reset(MtEventLog *log)
{
    /* The per-record extras stay: they say where LINE events are on
     * (stop turns them off) and name parameters; only hits go. */
    drop_events(log);
    for (Py_ssize_t i = 0; i < log->nrecs; i++) {
        if (log->recs[i].hits != NULL) {
            memset(log->recs[i].hits, 0,
                   log->recs[i].nlines * sizeof(*log->recs[i].hits));
        }
    }
}

void
mt_eventlog_clear(MtEventLog *log)
{
    drop_events(log);
    for (Py_ssize_t i = 0; i < log->nrecs; i++) {
        Py_CLEAR(log->recs[i].argnames);
        PyMem_Free(log->recs[i].hits);
    }
    PyMem_Free(log->recs);
    log->recs = NULL;
    log->nrecs = 0;
    log->live_broken = 0;
}

void
mt_eventlog_free(MtEventLog *log)
{
    mt_eventlog_clear(log);
    Py_CLEAR(log->live);
    Py_CLEAR(log->tree);
    Py_CLEAR(log->set_local);
}

int
mt_eventlog_traverse(MtEventLog *log, visitproc visit, void *arg)
{
    Py_VISIT(log->live);
    Py_VISIT(log->tree);
    Py_VISIT(log->set_local);
    Py_VISIT(log->tasks);
    for (size_t i = 0; i < log->nnotes; i++) {
        Py_VISIT(log->notes[i].obj);
    }
    for (Py_ssize_t i = 0; i < log->nrecs; i++) {
        Py_VISIT(log->recs[i].argnames);
    }
    return 0;
}
