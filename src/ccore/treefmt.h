/* The call tree as text, in C: one formatter used by the live tree (fed
 * from the event log's hooks as events happen) and by the post-hoc tree
 * (fed by replaying the log). Line for line what tree.py's docstring
 * shows:
 *
 *     Called foo:1 from line 8
 *         Called bar:5 from line 2
 *         Returning bar-> 20
 *     Returning foo-> 10
 *
 * Policy comes from Python once: a spec dict (mt_treefmt_new) with the
 * style and callables that name things. They run once per new record
 * (namer), per new (record, line) (source_line), per new exception type
 * (exc_name) and per new caller file (shorten), never per event; their
 * results are kept and read as UTF-8 from then on.
 *
 * Feeding an event takes two steps: mt_treefmt_prepare() may run that
 * Python code (so the caller re-checks its own state afterwards), then
 * mt_treefmt_event() is plain C that appends the event's text to `out`
 * (or holds it back while min_duration= cannot decide yet).
 */
#ifndef MT_TREEFMT_H
#define MT_TREEFMT_H

#include "common.h"
#include "eventlog.h"
#include "outbuf.h"

typedef struct MtTreeFmt MtTreeFmt;

/* What mt_treefmt_prepare() found for one event (borrowed: the formatter
 * keeps them alive). On the caller's stack: another thread may prepare
 * its own event while this one's Python code runs. */
typedef struct {
    PyObject *exc;    /* the exception type's name, or NULL */
    PyObject *source; /* a line event's source text, or NULL */
    PyObject *caller; /* the caller's file as shown, or NULL */
} MtTreeRefs;

/* A formatter from `spec`, a dict with keys: namer, source_line,
 * exc_name, shorten (callables or None), path, elapsed, color,
 * library_first (bools), depth (int, 0: no limit), prefix (None: once a
 * second thread shows up, else a bool), min_ns (int). NULL with an
 * exception set. The result is wrapped in a capsule (mt_treefmt_capsule)
 * so that code holding it across Python calls can keep it alive. */
PyObject *mt_treefmt_capsule_new(PyObject *spec);
/* The formatter in a capsule made above, or NULL (no exception). */
MtTreeFmt *mt_treefmt_from_capsule(PyObject *capsule);

/* The output buffer (where text goes; its target is the caller's). */
MtOutBuf *mt_treefmt_out(MtTreeFmt *f);

/* Everything event `e` needs from Python: its record's names (`key`,
 * `module`: borrowed, passed to the namer the first time), its line's
 * source, its exception's and caller file's names, its thread's name
 * (`thread_name` borrowed or NULL, then "Thread-<ident>"). -1 with an
 * exception set on failure. Runs Python code. */
int mt_treefmt_prepare(MtTreeFmt *f, const MtLogEvent *e, PyObject *key,
                       PyObject *module, PyObject *const *notes,
                       PyObject *thread_name, unsigned long ident,
                       MtTreeRefs *refs);

/* True when mt_treefmt_prepare() would run no Python code for `e`
 * (everything it needs is known): then `e` counts as prepared, and the
 * caller skips bracketing Python code it does not run. */
int mt_treefmt_ready(const MtTreeFmt *f, const MtLogEvent *e,
                     PyObject *const *notes, PyObject *thread_name,
                     MtTreeRefs *refs);

/* Format `e` (prepared) at `time_ns`; `notes` borrowed. Plain C. */
void mt_treefmt_event(MtTreeFmt *f, const MtLogEvent *e, int64_t time_ns,
                      PyObject *const *notes, const MtTreeRefs *refs);

/* Pass on all text held back for min_duration= (at stop and at the end
 * of a replay): the activations still open are kept. */
void mt_treefmt_release(MtTreeFmt *f);

/* Forget stacks, names and held-back text (the log was cleared). */
void mt_treefmt_reset(MtTreeFmt *f);

/* Calls into library code not shown (library_first). */
uint64_t mt_treefmt_hidden_calls(const MtTreeFmt *f);

int mt_treefmt_traverse(MtTreeFmt *f, visitproc visit, void *arg);

#endif /* MT_TREEFMT_H */
