/* Talking to sys.monitoring: the event table, tool-id ownership, callback
 * registration, and their symmetric teardown. */
#ifndef MT_MONITOR_H
#define MT_MONITOR_H

#include "common.h"

typedef enum {
    MT_EV_PY_START,
    MT_EV_PY_RESUME,
    MT_EV_PY_THROW,
    MT_EV_PY_RETURN,
    MT_EV_PY_YIELD,
    MT_EV_PY_UNWIND,
    MT_EV_CALL,
    MT_EV_C_RETURN,
    MT_EV_C_RAISE,
    MT_EV_LINE,
    MT_EV_INSTRUCTION,
    MT_EV_COUNT
} MtEvent;

typedef struct {
    const char *name;       /* attribute of sys.monitoring.events */
    vectorcallfunc handler; /* callbacks.c */
    int c_calls_only;       /* registered only when tracing C functions */
    int lines_only;         /* registered only with lines on, and enabled
                               per code object (set_local_events), never
                               in the global mask */
    int watch_only;         /* the same, for statement snapshots (watch.h) */
} MtEventSpec;

extern const MtEventSpec mt_event_specs[MT_EV_COUNT];

/* sys.monitoring.<name>: a new reference, or NULL with an exception set. */
PyObject *mt_monitoring_attr(const char *name);

/* Switch `on` bits on and `off` bits off among `code`'s local events for
 * `tool`, leaving the other bits as they are: every feature that turns
 * local events on (lines=True, breakpoints and the error snooper, watch=)
 * goes through here, so each sees the union. 0, or -1 with an exception
 * set. */
int mt_local_events_change(int tool, PyObject *code, long on, long off);

/* Take a tool id (`requested`, or the first free of 3 and 4 when it is -1),
 * register the callbacks and enable the events. On failure nothing stays
 * registered and an exception is set. */
int mt_monitor_start(MtTracer *tr, MtModuleState *state, int requested);
/* Disable the events, unregister every callback, free the tool id. Goes
 * through every step even if one fails; -1 with the first error set. */
int mt_monitor_stop(MtTracer *tr);

#endif /* MT_MONITOR_H */
