/* Shared definitions for every file of monitrace._core.
 *
 * Conventions: int functions return 0 or -1 with an exception set; PyObject *
 * functions return NULL with an exception set. The hot path (callbacks.c and
 * the inline helpers it calls) never raises and never leaves an exception
 * set: it records a failure in the tracer's error flags instead.
 */
#ifndef MT_COMMON_H
#define MT_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "compat.h"

/* sys.monitoring tool ids are 0..5; we index per-tool tables by tool id. */
#define MT_TOOL_SLOTS 6

#define MT_LIKELY(x) __builtin_expect(!!(x), 1)
#define MT_UNLIKELY(x) __builtin_expect(!!(x), 0)

#if defined(__GNUC__)
#define MT_HOT __attribute__((hot))
#define MT_NOINLINE __attribute__((noinline))
/* A global read on the hot path: declared hidden, it is addressed
 * directly rather than through the GOT (setup.py also builds with
 * -fvisibility=hidden; only PyInit__core is exported). */
#define MT_INTERNAL __attribute__((visibility("hidden")))
#else
#define MT_HOT
#define MT_NOINLINE
#define MT_INTERNAL
#endif

/* Internal failures seen on the hot path, reported by Tracer.stop(). */
enum {
    MT_ERR_NOMEM = 1 << 0,    /* an allocation failed; data may be missing */
    MT_ERR_FILTER = 1 << 1,   /* the filter callable raised */
    MT_ERR_INTERNAL = 1 << 2, /* a Python API call failed on a slow path */
};

typedef struct MtTracer MtTracer;
typedef struct MtRecord MtRecord;
typedef struct MtStats MtStats;
typedef struct MtThreadState MtThreadState;

/* Per-interpreter module state. The module declares that it does not
 * support sub-interpreters, so there is exactly one. */
typedef struct {
    PyTypeObject *tracer_type;   /* Owned */
    PyTypeObject *callback_type; /* Owned */
    PyTypeObject *watcher_type;  /* Owned: thread-end watcher */
} MtModuleState;

#endif /* MT_COMMON_H */
