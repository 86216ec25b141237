/* A session's registration with sys.monitoring: the event table, tool-id
 * ownership, callback registration, and their symmetric teardown. */
#ifndef MT_MONITOR_H
#define MT_MONITOR_H

#include "common.h"
#include "monitoring.h"

typedef struct {
    vectorcallfunc handler; /* callbacks.c */
    int c_calls_only;       /* registered only when tracing C functions */
    int lines_only;         /* registered only with lines on, and enabled
                               per code object (set_local_events), never
                               in the global mask */
    int watch_only;         /* the same, for statement snapshots (watch.h) */
} MtEventSpec;

extern const MtEventSpec mt_event_specs[MT_EV_COUNT];

/* Take a tool id (`requested`, or the first free of 3 and 4 when it is -1),
 * register the callbacks and enable the events. On failure nothing stays
 * registered and an exception is set. */
int mt_monitor_start(MtTracer *tr, MtModuleState *state, int requested);
/* Disable the events, unregister every callback, free the tool id. Goes
 * through every step even if one fails; -1 with the first error set. */
int mt_monitor_stop(MtTracer *tr);

#endif /* MT_MONITOR_H */
