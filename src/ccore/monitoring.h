/* sys.monitoring itself, for every layer: the events we use, numbered once,
 * its attributes, and a code object's local events as a union of what each
 * feature asks for. Knows nothing about sessions (monitor.h registers one).
 */
#ifndef MT_MONITORING_H
#define MT_MONITORING_H

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

/* Each event's attribute name in sys.monitoring.events. */
extern const char *const mt_event_names[MT_EV_COUNT];

/* sys.monitoring: a new reference, or NULL with an exception set. */
PyObject *mt_monitoring_module(void);

/* sys.monitoring.<name>: a new reference, or NULL with an exception set. */
PyObject *mt_monitoring_attr(const char *name);

/* Switch `on` bits on and `off` bits off among `code`'s local events for
 * `tool`, leaving the other bits as they are: every feature that turns
 * local events on (lines=True, breakpoints and the error snooper, watch=)
 * goes through here, so each sees the union. 0, or -1 with an exception
 * set. */
int mt_local_events_change(int tool, PyObject *code, long on, long off);

#endif /* MT_MONITORING_H */
