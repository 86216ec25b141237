/* Routing a process-directed signal to the main thread, so that a
 * Python-level handler runs even when the main thread is blocked in a
 * call that only a signal interrupts (a lock, a semaphore, a read) and
 * the kernel picked another thread to take the signal, or the signal
 * came just before the main thread blocked. */
#ifndef MT_SIGROUTE_H
#define MT_SIGROUTE_H

#include "common.h"

/* _core.route_signal(signum): wrap the signal's current C handler (the
 * one signal.signal() installed) so that any other thread receiving
 * `signum` passes it on to the main thread. Call it from the main thread,
 * right after signal.signal(). Returns True when routing is in place. */
PyObject *mt_sigroute_install(PyObject *module, PyObject *arg);

/* _core.signal_taken(signum): the Python handler of a routed signal has
 * run; stop delivering it again to wake the main thread. */
PyObject *mt_sigroute_taken(PyObject *module, PyObject *arg);

/* _core.signal_later(signum): a handler that cannot act now (it ran
 * inside a tracer callback) has the signal delivered again after it
 * returns, without running itself again at once. */
PyObject *mt_sigroute_later(PyObject *module, PyObject *arg);

#endif /* MT_SIGROUTE_H */
