/* Internal failures of a session, kept for stop() to report.
 *
 * The hot path never raises: what goes wrong on a slow path (an allocation,
 * a filter that raised, a failed C API call) is noted here and reported
 * when the session stops. Storage code below the tracer takes a pointer to
 * this report rather than the whole tracer.
 */
#ifndef MT_FAILURE_H
#define MT_FAILURE_H

#include "common.h"

typedef struct {
    uint32_t flags;     /* MT_ERR_* seen since the last stop */
    PyObject *messages; /* Owned list of str (at most MT_FAILURE_MAX), or
                           NULL before init and after a failed reset */
} MtFailures;

#define MT_FAILURE_MAX 20

/* 0, or -1 with an exception set. */
int mt_failures_init(MtFailures *f);

/* Note failure `flag` seen at `where` (GIL held). Clears any Python
 * exception, keeping its text. */
void mt_fail(MtFailures *f, uint32_t flag, const char *where);

/* The messages seen so far (a new reference) and a fresh, empty report;
 * NULL with an exception set (the report is then unchanged). */
PyObject *mt_failures_take(MtFailures *f);

void mt_failures_clear(MtFailures *f);

#endif /* MT_FAILURE_H */
