/* Targeted work: breakpoints and the error snooper, paid for only in the
 * code objects that need it.
 *
 * Python hands the tracer three callables (Tracer.set_targets):
 *   planner(code, module, globals) -> None or a list of
 *       (line, condition or None, condition's parameter names, bp),
 *       called once per code object, when the tracer first meets it;
 *   fire(bp, frame, error) -> true when `bp` is spent (a temporary one);
 *       called when a breakpoint's condition holds (error None), or with
 *       the exception its condition raised;
 *   on_error(frame, lines, exc), called when an exception leaves a traced
 *       frame (errors mode), with the last lines that ran in it.
 *
 * A code object with breakpoints gets LINE events through local events;
 * a LINE at a line without a breakpoint answers DISABLE (unless lines=True
 * counting or the error snooper wants it). Conditions are functions of the
 * frame's variables they name, fetched with PyFrame_GetVar: no locals dict.
 *
 * With profile=False the session keeps no statistics: PY_START decides per
 * code object and answers DISABLE (callbacks.c asks mt_targets_enter). */
#ifndef MT_BREAKPOINTS_H
#define MT_BREAKPOINTS_H

#include "common.h"

typedef struct MtTargets MtTargets;

/* What mt_targets_line decided about one LINE event. */
enum {
    MT_TARGET_UNWANTED = 0, /* no breakpoint on this line: may DISABLE */
    MT_TARGET_WANTED = 1,   /* a breakpoint or the snooper uses this line */
    MT_TARGET_GONE = 2,     /* the tracer changed under Python code: return
                               None and touch nothing */
    MT_TARGET_RAISE = 3,    /* an exception (pdb's quit, Ctrl-C) must reach
                               the program: return NULL */
};

/* The local events (a mask of sys.monitoring event bits) that `rec`'s code
 * object needs from this tracer: the one place features add theirs. */
long mt_targets_local_events(MtTracer *tr, MtRecord *rec);

/* A new record: ask the planner about it, switch its local events on.
 * -1 when the tracer changed while the planner ran (it may be gone: touch
 * neither it nor `rec`), else 0. */
int mt_targets_code_seen(MtTracer *tr, MtRecord *rec);

/* Hot path hooks; see callbacks.c. */
int mt_targets_line(MtTracer *tr, MtRecord *rec, PyObject *const *args);
/* PY_START/PY_RESUME/PY_THROW of a targeted tracer: NULL to go on with
 * the usual statistics, else the (new) reference to return. */
PyObject *mt_targets_enter(MtTracer *tr, MtRecord *rec, int ev);
/* Whether the error snooper is on (it needs PY_UNWIND). */
int mt_targets_snooping(MtTracer *tr);
/* PY_UNWIND: MT_TARGET_GONE when the tracer changed (return None). */
int mt_targets_unwind(MtTracer *tr, MtRecord *rec, PyObject *const *args);

/* Tracer.set_targets(); see its docstring. */
PyObject *mt_targets_set(PyObject *self, PyObject *args, PyObject *kwargs);
extern const char mt_targets_set_doc[];

void mt_targets_start(MtTracer *tr);
void mt_targets_stop(MtTracer *tr);
/* Forget per-record tables (records are cleared). */
void mt_targets_clear(MtTracer *tr);
void mt_targets_free(MtTracer *tr);
int mt_targets_traverse(MtTracer *tr, visitproc visit, void *arg);

#endif /* MT_BREAKPOINTS_H */
