/* Record mode's hooks: the events the callbacks hand over, made into log
 * events (stored by eventlog.c) with their call sites, reprs and tasks,
 * and shown live; LINE events for traced code. */
#ifndef MT_RECORDER_H
#define MT_RECORDER_H

#include "common.h"
#include "eventlog.h"
#include "monitoring.h"

/* Called from callbacks.c only when log.enabled. `depth0` is the thread's
 * stack depth before the stack was updated for this event; the log checks
 * from it whether the stack really changed. */
void mt_recorder_enter(MtTracer *tr, MtThreadState *ts, MtRecord *rec,
                       MtEvent ev, PyObject *const *args, uint64_t now,
                       size_t depth0);
void mt_recorder_leave(MtTracer *tr, MtThreadState *ts, MtRecord *rec,
                       MtEvent ev, PyObject *const *args, uint64_t now,
                       size_t depth0);

/* The work of the LINE callback (callbacks.c checks its arguments and
 * finds the record); returns None or DISABLE as a new reference. */
PyObject *mt_recorder_line(MtTracer *tr, MtRecord *rec, PyObject *const *args,
                           uint64_t now);

/* A watched statement finished (watch.c): a LINE event at `line` whose
 * note (MT_NOTE_RETVAL) is `text`, the statement and the variables it
 * changed (an owned str, consumed). Runs Python code (the live tree): 0
 * when the tracer went away meanwhile (touch it no more), else 1. */
int mt_recorder_statement(MtTracer *tr, MtRecord *rec, int32_t line,
                          PyObject *text);

/* A traced code object seen for the first time (discover.c). */
void mt_recorder_code_seen(MtTracer *tr, MtRecord *rec);
/* After the callbacks are registered: enable LINE on known code. */
void mt_recorder_start(MtTracer *tr);
/* Before the tool id is given back: clear every local event we set, and
 * write out what the live tree still holds. */
void mt_recorder_stop(MtTracer *tr);

/* Forget the recorded data (configuration stays), and the live tree's
 * record and thread numbering with it. */
void mt_recorder_clear(MtEventLog *log);
/* In a forked child: forget the live tree's buffered text (the parent
 * writes it). */
void mt_recorder_forked(MtEventLog *log);

#endif /* MT_RECORDER_H */
