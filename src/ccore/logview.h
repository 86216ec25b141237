/* The event log seen from Python: live delivery and the Tracer methods
 * that configure and read record mode. With snapshot.c, the place where
 * the event log's C data becomes Python objects. */
#ifndef MT_LOGVIEW_H
#define MT_LOGVIEW_H

#include "common.h"
#include "eventlog.h"

/* Hand one event to the live callable (GIL held, inside a callback, the
 * user's exception saved and a guard open); `notes` are borrowed. A
 * callable that raises is not called again until the next start. */
void mt_logview_deliver(MtTracer *tr, MtThreadState *ts, MtRecord *rec,
                        const MtLogEvent *e, PyObject **notes);

/* Feed one event to the live tree (same context as above). */
void mt_logview_tree(MtTracer *tr, MtThreadState *ts, MtRecord *rec,
                     const MtLogEvent *e, PyObject **notes);
/* Write out what the live tree holds (at stop); failures are reported at
 * stop, never raised. */
void mt_logview_tree_flush(MtTracer *tr);

/* Tracer methods (tracer.c lists them in its method table). */
PyObject *mt_logview_configure_method(PyObject *self, PyObject *args,
                                      PyObject *kwargs);
PyObject *mt_logview_batch_method(PyObject *self, PyObject *args);
PyObject *mt_logview_info_method(PyObject *self, PyObject *ignored);
PyObject *mt_logview_lines_method(PyObject *self, PyObject *ignored);
PyObject *mt_logview_activations_method(PyObject *self, PyObject *ignored);
PyObject *mt_logview_tree_target_method(PyObject *self, PyObject *args,
                                        PyObject *kwargs);
PyObject *mt_logview_tree_flush_method(PyObject *self, PyObject *ignored);
PyObject *mt_logview_write_tree_method(PyObject *self, PyObject *args,
                                       PyObject *kwargs);

extern const char mt_logview_configure_doc[];
extern const char mt_logview_batch_doc[];
extern const char mt_logview_info_doc[];
extern const char mt_logview_lines_doc[];
extern const char mt_logview_activations_doc[];
extern const char mt_logview_tree_target_doc[];
extern const char mt_logview_tree_flush_doc[];
extern const char mt_logview_write_tree_doc[];

#endif /* MT_LOGVIEW_H */
