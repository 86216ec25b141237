/* The only place where the tracer's C data becomes Python objects. */
#ifndef MT_SNAPSHOT_H
#define MT_SNAPSHOT_H

#include "common.h"

/* A dict describing everything recorded so far (see Tracer.snapshot). */
PyObject *mt_snapshot(MtTracer *tr);

#endif /* MT_SNAPSHOT_H */
