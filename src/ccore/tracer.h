/* The Tracer type: one profiling session as a Python object.
 *
 * Python's Session owns one Tracer. start() takes a tool id and registers
 * the callbacks (monitor.c); events land in callbacks.c, which updates the
 * per-thread stacks (threadstate.c) and the per-function rows (records.c);
 * snapshot() (snapshot.c) turns it all into Python objects. The state
 * itself is session.h.
 */
#ifndef MT_TRACER_H
#define MT_TRACER_H

#include "common.h"

int mt_tracer_type_init(PyObject *module, MtModuleState *state);

#endif /* MT_TRACER_H */
