/* Statement snapshots of watched functions (trace(watch=...) and
 * monitrace.snapshot()).
 *
 * The filter marks a watched code object with MT_VERDICT_WATCH; the
 * record's code object then gets INSTRUCTION events as a local event
 * (nothing else does), and a snippet table (snippets.h). Each thread keeps
 * a stack of the watched frames it runs, pushed and popped by the frame
 * events callbacks.c already receives; the INSTRUCTION callback compares
 * the instruction's snippet with the frame's current one and, when the
 * statement changed, takes a snapshot of the names the finished statement
 * mentions: hit count, and a bounded sample of (type name, repr) per name.
 * One result per call of a group's function, in call order.
 */
#ifndef MT_WATCH_H
#define MT_WATCH_H

#include "common.h"
#include "monitoring.h"

typedef struct MtWatch MtWatch;
typedef struct MtWatchThread MtWatchThread;

/* The INSTRUCTION callback's work (callbacks.c checks the arguments and
 * that the tracer is active). Returns None. */
PyObject *mt_watch_instruction(MtTracer *tr, PyObject *const *args);

/* records.c, on the slow path of a code object the filter marked
 * MT_VERDICT_WATCH: ask Python for the description of `code` (a guarded
 * call). 0 with `*desc` (owned, or NULL when the code is not watched
 * after all), -1 when the tracer went away meanwhile. */
int mt_watch_describe(MtTracer *tr, PyObject *code, PyObject **desc);
/* Then, once the record exists: build its table and switch its
 * INSTRUCTION events on. Steals `desc`; failures are reported at stop. */
void mt_watch_attach(MtTracer *tr, MtRecord *rec, PyObject *desc);

/* callbacks.c: a watched record's frame starts or resumes / ends or
 * suspends. mt_watch_leave returns 0 when the tracer went away while a
 * repr ran (the caller must not touch it again), else 1. */
void mt_watch_enter(MtTracer *tr, MtRecord *rec, MtEvent ev);
int mt_watch_leave(MtTracer *tr, MtRecord *rec, MtEvent ev);

/* tracer.c: lifetime. */
void mt_watch_start(MtTracer *tr);
void mt_watch_stop(MtTracer *tr);
void mt_watch_clear(MtTracer *tr);
void mt_watch_free(MtTracer *tr);
int mt_watch_traverse(MtTracer *tr, visitproc visit, void *arg);

extern const char mt_watch_configure_doc[];
PyObject *mt_watch_configure_method(PyObject *self, PyObject *args,
                                    PyObject *kwargs);
extern const char mt_watch_results_doc[];
PyObject *mt_watch_results_method(PyObject *self, PyObject *unused);

#endif /* MT_WATCH_H */
