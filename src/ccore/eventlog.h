/* Record mode: a bounded log of fixed-size, plain C event records.
 *
 * Every entry or exit of a traced activation (and every LINE event when
 * lines are on) becomes one 24-byte MtLogEvent, appended to chunks of
 * MT_LOG_CHUNK events; an enter/exit pair costs 48 bytes. No Python object
 * is made per event. Opt-in captures (argument, return value and exception
 * reprs, caller file names) go to a side table of notes, each tagged with
 * the sequence number of its event, so readers merge them in one pass.
 *
 * Limit policy: the first `limit` events are kept; later events are
 * counted in `dropped` and otherwise ignored (statistics are unaffected).
 *
 * The same hooks serve live printing: the live tree is formatted in C as
 * events happen (treefmt.h, fed by logview.c), or, with a `live` callable,
 * each event is handed to Python (the opt-in slow path); and line hit
 * counts for lines=True. Call sites come from callsite.h, reprs
 * from capture.h; logview.h holds the Tracer methods that read the log.
 */
#ifndef MT_EVENTLOG_H
#define MT_EVENTLOG_H

#include "common.h"
#include "callsite.h"
#include "failure.h"
#include "monitoring.h"

/* Event kinds as stored and as exposed to Python (events.py). */
typedef enum {
    MT_LOG_CALL = 0,     /* PY_START */
    MT_LOG_RETURN = 1,   /* PY_RETURN */
    MT_LOG_RAISE = 2,    /* PY_UNWIND: an exception left the function */
    MT_LOG_YIELD = 3,    /* PY_YIELD */
    MT_LOG_RESUME = 4,   /* PY_RESUME */
    MT_LOG_THROW = 5,    /* PY_THROW: resumed by throw() */
    MT_LOG_C_CALL = 6,   /* CALL of a C function */
    MT_LOG_C_RETURN = 7, /* C_RETURN */
    MT_LOG_C_RAISE = 8,  /* C_RAISE */
    MT_LOG_LINE = 9,     /* LINE */
} MtLogKind;
#define MT_LOG_KINDS 10

/* Their names, in MtLogKind's order: the module exposes them as
 * EVENT_KINDS and model.py checks its numbering against them at import. */
#define MT_LOG_KIND_NAMES                                                     \
    {                                                                         \
        "call", "return", "raise", "yield", "resume", "throw", "c_call",      \
            "c_return", "c_raise", "line"                                     \
    }

#define MT_LOG_DEPTH_MAX 0xFFFFFFu

typedef struct {
    uint64_t time;       /* clock ticks */
    uint32_t record;     /* index of the function's MtRecord */
    int32_t line;        /* call site (enters), line (LINE), else 0 */
    uint32_t depth : 24; /* frames below this activation, saturated */
    uint32_t kind : 8;   /* MtLogKind */
    uint32_t thread;     /* MtThreadState.index */
} MtLogEvent;

#define MT_LOG_CHUNK 4096

/* What a note holds. */
enum {
    MT_NOTE_ARGS = 0,        /* tuple of (name, repr) pairs */
    MT_NOTE_RETVAL = 1,      /* str: repr of the returned/yielded value */
    MT_NOTE_EXC_TYPE = 2,    /* type of the exception */
    MT_NOTE_EXC_REPR = 3,    /* str: repr of the exception */
    MT_NOTE_CALLER_FILE = 4, /* str: co_filename of the calling frame */
    MT_NOTE_KINDS = 5
};

typedef struct {
    uint64_t seq;  /* the event it belongs to */
    uint32_t what; /* MT_NOTE_* */
    PyObject *obj; /* Owned */
} MtLogNote;

/* A coroutine's entry (start, resume or throw) in the log: which
 * activation it is (suspensions do not say), and at a start the asyncio
 * task that runs it. */
typedef struct {
    uint64_t seq;        /* the event */
    uint32_t activation; /* MtFrame.act_id */
    int32_t task;        /* index into MtEventLog.tasks, or MT_TASK_* */
} MtLogActivation;

/* MtLogActivation.task: a resume, or a start under another coroutine
 * (awaited: it runs in that coroutine's task); a start that asked and
 * found no task running. */
enum { MT_TASK_INHERIT = -1, MT_TASK_NONE = -2 };

/* Per-record extras, indexed like the tracer's record list. */
typedef struct {
    PyObject *argnames; /* Owned tuple of parameter names, or NULL */
    uint64_t *hits;     /* Owned array: LINE hits for lines [first, +n) */
    int32_t first;
    uint32_t nlines;
    uint8_t lines_on; /* LINE enabled on this code via local events */
} MtLogRecInfo;

typedef struct {
    /* Configuration (Tracer.log_configure, while stopped). */
    int enabled;      /* any of record, live, lines: hooks run */
    int record;       /* store events */
    uint64_t limit;   /* events kept at most */
    int args;         /* capture argument reprs */
    int retval;       /* capture return value / exception reprs */
    int lines;        /* LINE events on traced code */
    int caller_files; /* note the caller's file name on enters */
    Py_ssize_t repr_limit;
    PyObject *live;  /* Owned: callable(event, key, module, ident,
                        name), or NULL */
    PyObject *tree;  /* Owned capsule of the live tree formatter
                        (treefmt.h), or NULL */
    int live_broken; /* the live callable or tree output failed: stop */
    int lean; /* set at start: plain Python events are stored inline by the
                 callbacks (eventlog_lean.h) */

    /* Data. */
    MtLogEvent **chunks; /* Owned array of owned chunks */
    size_t nchunks;
    size_t chunks_cap;
    uint64_t count; /* events kept */
    /* Where event `count` goes in its chunk, and the end of what may be
     * written from there without a check (the chunk's end, or the limit):
     * the lean store's fast path. Both NULL when the next event needs the
     * general path (a new chunk, the limit); eventlog.c keeps them in
     * step with count, chunks and limit. */
    MtLogEvent *cursor;
    MtLogEvent *cursor_end;
    uint64_t dropped; /* events not kept (limit reached) */
    MtLogNote *notes; /* Owned array, ordered by seq */
    size_t nnotes;
    size_t notes_cap;
    MtLogActivation *acts; /* Owned array, ordered by seq */
    size_t nacts;
    size_t acts_cap;
    PyObject *tasks;    /* Owned list of (name, id) tuples, by task index, or
                           NULL */
    MtLogRecInfo *recs; /* Owned array, by record index */
    Py_ssize_t nrecs;
    uint64_t base_ticks;    /* clock at the first start since clear() */
    uint64_t base_ns;       /* CLOCK_MONOTONIC at the same moment */
    int64_t wall_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC then */
    int based;

    /* While running with lines=True. */
    PyObject *set_local; /* Owned: sys.monitoring.set_local_events */
    long line_bit;

    MtCallSiteCache sites; /* emptied at every start */
} MtEventLog;

/* A stack depth as the log stores it (24 bits, saturated). */
static inline uint32_t
mt_eventlog_depth(size_t depth)
{
    return depth > MT_LOG_DEPTH_MAX ? MT_LOG_DEPTH_MAX : (uint32_t)depth;
}

/* Event `seq` (< count) as stored. */
static inline const MtLogEvent *
mt_eventlog_event_at(const MtEventLog *log, uint64_t seq)
{
    return &log->chunks[seq / MT_LOG_CHUNK][seq % MT_LOG_CHUNK];
}

/* The time of `ticks` in ns on CLOCK_MONOTONIC's scale (`scale`: the
 * clock's ns per tick), as every reader of the log converts it. */
static inline int64_t
mt_eventlog_ns(const MtEventLog *log, double scale, uint64_t ticks)
{
    double delta = ticks >= log->base_ticks
                       ? (double)(ticks - log->base_ticks) * scale
                       : -(double)(log->base_ticks - ticks) * scale;
    return (int64_t)log->base_ns + (int64_t)(delta + 0.5);
}

/* Whether events are shown as they happen. */
static inline int
mt_eventlog_live(const MtEventLog *log)
{
    return (log->live != NULL || log->tree != NULL) && !log->live_broken;
}

/* Whether an event now would be stored or shown. */
static inline int
mt_eventlog_wants(const MtEventLog *log)
{
    return log->enabled
           && (mt_eventlog_live(log)
               || (log->record && log->count < log->limit));
}

/* Point the lean store's cursor at event `count`'s slot, up to the end of
 * its chunk or the limit, whichever comes first; NULL when that slot is
 * not allocated yet or the limit is reached. */
void mt_eventlog_cursor_sync(MtEventLog *log);
/* Make sure event `count` has its slot (allocated, under the limit) and
 * point the cursor at it: 1, or 0 when the limit is reached or memory
 * ran out (noted in `fail`). */
int mt_eventlog_make_room(MtEventLog *log, MtFailures *fail);
/* Store `e`: its sequence number, or -1 when it was dropped (not
 * recording, the limit reached, or memory ran out: counted as dropped). */
int64_t mt_eventlog_append(MtEventLog *log, MtFailures *fail,
                           const MtLogEvent *e);
/* Attach `obj` (a new reference, stolen; NULL is ignored) to event `seq`
 * (-1: a dropped event, whose note is released). */
void mt_eventlog_add_note(MtEventLog *log, MtFailures *fail, int64_t seq,
                          uint32_t what, PyObject *obj);
/* Release an event's notes (owned references) when it is not kept. */
void mt_eventlog_drop_notes(PyObject **notes);
/* Note which activation event `seq` (kept) enters, and the task that
 * runs it (`task`: a new reference, stolen, or NULL: `fallback`). */
void mt_eventlog_add_activation(MtEventLog *log, MtFailures *fail,
                                uint64_t seq, uint32_t activation,
                                PyObject *task, int32_t fallback);
/* The log's extras for `rec`, grown on demand; NULL (a failure noted)
 * when memory ran out. */
MtLogRecInfo *mt_eventlog_rec_info(MtEventLog *log, MtFailures *fail,
                                   const MtRecord *rec);

/* Forget the events and line hits, keeping what is known per record
 * (Tracer.reset(): the records stay). */
void mt_eventlog_reset(MtEventLog *log);
/* Forget the recorded data (configuration stays). */
void mt_eventlog_clear(MtEventLog *log);
/* Release everything, configuration included. */
void mt_eventlog_free(MtEventLog *log);
int mt_eventlog_traverse(MtEventLog *log, visitproc visit, void *arg);

#endif /* MT_EVENTLOG_H */
