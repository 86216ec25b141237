/* The Tracer object: one profiling session's state in C.
 *
 * Python's Session owns one Tracer. start() takes a tool id and registers
 * the callbacks (monitor.c); events land in callbacks.c, which updates the
 * per-thread stacks (threadstate.c) and the per-function rows (records.c);
 * snapshot() (snapshot.c) turns it all into Python objects.
 */
#ifndef MT_TRACER_H
#define MT_TRACER_H

#include "common.h"
#include "clock.h"
#include "edges.h"
#include "eventlog.h"
#include "monitor.h"
#include "records.h"

struct MtTracer {
    PyObject_HEAD
    /* Read on every event. */
    int active; /* running and not paused */
    int tool;   /* tool id while running, else -1 */
    MtClockKind clock;
    uint64_t serial;                    /* unique per tracer and per clear() */
    PyObject *disable;                  /* Owned: sys.monitoring.DISABLE */
    uint64_t event_counts[MT_EV_COUNT]; /* callback invocations, by event */
    uint32_t errors;                    /* MT_ERR_* seen since the last stop */
    int profile;  /* keep statistics (profile=True); else only targets */
    int targeted; /* PY_START/PY_UNWIND go through mt_targets_enter/
                     _unwind: profile=False, or the error snooper */
    struct MtTargets *targets; /* Owned (breakpoints.c), or NULL */

    /* Control state. */
    int running;
    int paused;
    int in_callback;  /* Python code called from a callback runs */
    int c_calls;      /* trace C functions too */
    PyObject *filter; /* Owned or NULL: callable(code_or_cfunc) */
    PyObject *callbacks[MT_EV_COUNT]; /* Owned while running, else NULL */
    PyObject *thread_table;           /* Owned: threading._active, or NULL */
    PyObject *error_messages;         /* Owned list of str */
    MtRecordSet records;
    MtEventLog log;         /* record mode, live output, lines */
    MtThreadState *threads; /* Owned list, newest first */
    uint64_t run_ticks0;    /* clock at start(), for calibration */
    uint64_t run_ns0;
    uint64_t total_ticks;        /* time spent running, all starts */
    int filter_module;           /* call filter(key, module) */
    struct MtScopeConfig *scope; /* Owned (scope.c), or NULL */
    int ignoring; /* a thread ignores its events until stop (ignore_thread) */
    int rebind;   /* the serial moved on at a stop: a thread that meets the
                     tracer again finds its state in the list by ident */
    /* Finished threads, folded (threadstate.c): their latency by record
     * index (the counts stay with each thread) and their edges. */
    MtStats **done_rows; /* Owned array of owned rows, or NULL */
    Py_ssize_t ndone_rows;
    MtEdgeTable done_edges;
    struct MtWatch *watch; /* Owned (watch.c), or NULL: no watch= */
    /* The serial of the last generator activation that started (0 none
     * yet): names activations across suspensions in the event log. */
    uint32_t next_activation;
};

/* Record an internal failure seen on a slow path (GIL held). Clears any
 * Python exception, keeping its text for stop() to report. */
void mt_tracer_fail(MtTracer *tr, uint32_t flag, const char *where);

/* Refuse a control method `what` called from Python code that one of
 * this tracer's callbacks runs on this thread (a filter, a repr; other
 * threads may be inside such code meanwhile: the slow paths cope, see
 * guard.h), or, with `when_running`, while the tracer runs. -1 with a
 * RuntimeError set, else 0. */
int mt_tracer_refuse(MtTracer *tr, const char *what, int when_running);

int mt_tracer_type_init(PyObject *module, MtModuleState *state);

#endif /* MT_TRACER_H */
