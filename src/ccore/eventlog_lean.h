/* The lean record path, inline in the callbacks (callbacks.c only).
 *
 * Measured with callgrind on generator-heavy code: the out-of-line hooks'
 * calls and prologues cost about as much as storing the event, so the
 * common case (a Python call, resume, return or yield with nothing to
 * capture) is stored right here and everything else goes to
 * mt_recorder_enter/leave. */
#ifndef MT_EVENTLOG_LEAN_H
#define MT_EVENTLOG_LEAN_H

#include "common.h"
#include "callsite.h"
#include "eventlog.h"
#include "records.h"
#include "threadstate.h"

/* `log->lean` (decided at start) means: record mode, nothing to capture,
 * no live output, call sites found by peeking at interpreter frames. Each
 * returns 1 when it handled the event, 0 to take the general hook. */
static inline int
mt_eventlog_store_lean(MtEventLog *log, const MtLogEvent *e)
{
    uint64_t seq = log->count;
    size_t c = (size_t)(seq / MT_LOG_CHUNK);
    if (MT_LIKELY(seq < log->limit && c < log->nchunks)) {
        log->chunks[c][seq % MT_LOG_CHUNK] = *e;
        log->count = seq + 1;
        return 1;
    }
    return 0; /* a new chunk, or the limit: the general path */
}

static inline int
mt_eventlog_enter_lean(MtEventLog *log, MtThreadState *ts, MtRecord *rec,
                       int resume, PyObject *code, uint64_t now,
                       size_t depth0)
{
#if MT_HAVE_FRAME_PEEK
    if (!log->lean || rec->generator == MT_GEN_COROUTINE) {
        return 0; /* coroutines also note their activation and task */
    }
    if (ts->depth <= depth0) {
        return 1; /* the stack did not grow: nothing to log */
    }
    MtLogEvent e = {.time = now,
                    .record = (uint32_t)rec->index,
                    .line = 0,
                    .depth = mt_eventlog_depth(ts->depth - 1),
                    .kind = resume ? MT_LOG_RESUME : MT_LOG_CALL,
                    .thread = ts->index};
    mt_callsite_peek(&log->sites, code, &e.line, NULL);
    return mt_eventlog_store_lean(log, &e);
#else
    (void)log, (void)ts, (void)rec, (void)resume, (void)code, (void)now;
    (void)depth0;
    return 0;
#endif
}

static inline int
mt_eventlog_leave_lean(MtEventLog *log, MtThreadState *ts, MtRecord *rec,
                       int yield, uint64_t now, size_t depth0)
{
    if (!log->lean || ts->depth >= depth0) {
        return 0;
    }
    MtLogEvent e = {.time = now,
                    .record = (uint32_t)rec->index,
                    .line = 0,
                    .depth = mt_eventlog_depth(ts->depth),
                    .kind = yield ? MT_LOG_YIELD : MT_LOG_RETURN,
                    .thread = ts->index};
    return mt_eventlog_store_lean(log, &e);
}

#endif /* MT_EVENTLOG_LEAN_H */
