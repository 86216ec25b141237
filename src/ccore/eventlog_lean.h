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
mt_eventlog_store_lean(MtEventLog *log, uint64_t time, uint32_t record,
                       int32_t line, size_t depth, uint32_t kind,
                       uint32_t thread)
{
    MtLogEvent *slot = log->cursor;
    if (MT_LIKELY(slot != log->cursor_end)) {
        /* Written in place: no event built aside and copied. */
        *slot = (MtLogEvent){.time = time,
                             .record = record,
                             .line = line,
                             .depth = mt_eventlog_depth(depth),
                             .kind = kind,
                             .thread = thread};
        log->cursor = slot + 1;
        log->count++;
        return 1;
    }
    return 0; /* a new chunk, or the limit: the general path */
}

static inline int
mt_eventlog_enter_lean(MtEventLog *log, MtThreadState *ts, MtRecord *rec,
                       int resume, PyObject *code, uint64_t now, size_t depth0)
{
#if MT_HAVE_FRAME_PEEK
    if (!log->lean || rec->generator == MT_GEN_COROUTINE) {
        return 0; /* coroutines also note their activation and task */
    }
    if (ts->depth <= depth0) {
        return 1; /* the stack did not grow: nothing to log */
    }
    int32_t line = 0;
    mt_callsite_peek(&log->sites, code, &line, NULL);
    return mt_eventlog_store_lean(
        log, now, (uint32_t)rec->index, line, ts->depth - 1,
        resume ? MT_LOG_RESUME : MT_LOG_CALL, ts->index);
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
    return mt_eventlog_store_lean(log, now, (uint32_t)rec->index, 0, ts->depth,
                                  yield ? MT_LOG_YIELD : MT_LOG_RETURN,
                                  ts->index);
}

#endif /* MT_EVENTLOG_LEAN_H */
