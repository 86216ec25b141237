/* Where the tracer's C data becomes Python objects: the statistics
 * snapshot, and the record list it shares with Tracer.log_info(). The
 * event log's events and threads become tuples in logview.c. */
#ifndef MT_SNAPSHOT_H
#define MT_SNAPSHOT_H

#include "common.h"
#include "records.h"

/* Make the Row, Segments and Edge struct sequence types and add them to
 * the module (module.c, once per import). */
int mt_snapshot_types_init(PyObject *module);

/* A dict describing everything recorded so far (see Tracer.snapshot);
 * its records from index `from` on. */
PyObject *mt_snapshot(MtTracer *tr, Py_ssize_t from);

/* (kind, key, module) for every record, by record index, and with
 * `with_traced` a fourth item, whether the record is traced: the records
 * of snapshot() and of Tracer.log_info(). */
PyObject *mt_snapshot_records(const MtRecordSet *set, int with_traced,
                              Py_ssize_t from);

#endif /* MT_SNAPSHOT_H */
