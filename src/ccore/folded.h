/* Collapsed stacks (flamegraph.pl's input) from the event log, in C:
 * self time summed per distinct stack in a trie of (parent, function)
 * nodes, so memory follows the number of distinct stacks, not calls. */
#ifndef MT_FOLDED_H
#define MT_FOLDED_H

#include "common.h"

/* Tracer.log_write_collapsed(write, names) (tracer.c lists it). */
PyObject *mt_folded_write_method(PyObject *self, PyObject *args);
extern const char mt_folded_write_doc[];

#endif /* MT_FOLDED_H */
