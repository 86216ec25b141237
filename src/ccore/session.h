/* One session's state in C: the struct behind the Tracer type.
 *
 * Everything a session owns hangs off this struct; the code that works on
 * a session (callbacks, recording, watch, breakpoints, the log's readers)
 * includes this header. The plain storage it embeds (records, edges, the
 * event log, the clock, the failure report) sits below it and knows
 * nothing about sessions. The Python type and its methods are tracer.c.
 */
#ifndef MT_SESSION_H
#define MT_SESSION_H

#include "common.h"
#include "clock.h"
#include "edges.h"
#include "eventlog.h"
#include "failure.h"
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
    MtFailures failures; /* MT_ERR_* and their messages, for stop() */
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
    /* Record mode's deferred numbers (deferred.h): while `defer` is set,
     * the callbacks keep only the stacks and the log, and the rows, edges
     * and latency of the log's events are worked out from it when read:
     * up to event `folded` so far. `stops` are the stop() calls since,
     * where every stack was emptied. */
    int defer;
    uint64_t folded;
    struct MtDeferStop *stops; /* Owned array, or NULL */
    size_t nstops;
    size_t stops_cap;
    /* Records whose code object died while deferring: their rows wait
     * for the next fold (deferred.h). */
    struct MtDeferRetire *retires; /* Owned array, or NULL */
    size_t nretires;
    size_t retires_cap;
};

#endif /* MT_SESSION_H */
