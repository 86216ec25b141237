/* Per-function records and their per-thread statistics rows.
 *
 * A record names one traced function: a code object (Python) or a
 * PyMethodDef (C). It belongs to one tracer and caches the filter verdict.
 * Python records are found in O(1) through the code object's co_extra slot
 * (one pointer per tool id). C records are found through a small
 * open-addressing table keyed as cProfile keys C functions, by PyMethodDef,
 * plus the type for the one definition every type shares (the `__new__`
 * wrapper); they never hold the callable or what it is bound to, only a
 * description of the function (see mt_records_cfunc_slow), so tracing
 * never keeps a program's object alive.
 *
 * A Python record does not keep its code object alive either: the program
 * owns it. The co_extra block links every tracer's record of the code
 * object, and when the code object dies its free function retires them:
 * each record's rows are folded into its tracer's totals by name (the
 * retired table below), and the record stays behind, small, as the name of
 * its index (recorded events and caller edges name functions by index).
 *
 * The numbers live in MtStats rows, one per (thread, record), so threads
 * never share a counter and per-thread results come for free.
 */
#ifndef MT_RECORDS_H
#define MT_RECORDS_H

#include "common.h"
#include "failure.h"

enum { MT_KIND_PY = 0, MT_KIND_C = 1 };

/* Bits of a filter verdict: a bool, or an int made of these. A within= or
 * exclude_within= target always gets its events (it is traced). */
enum {
    MT_VERDICT_TRACE = 1 << 0,
    MT_VERDICT_WITHIN = 1 << 1,
    MT_VERDICT_EXCLUDE_WITHIN = 1 << 2,
    MT_VERDICT_WATCH = 1 << 3, /* statement snapshots (watch.h) */
};

struct MtRecord {
    MtTracer *tracer; /* Borrowed: the owner, which frees the record */
    /* C: Owned (name, owner, module, binding) tuple. Python: Borrowed code
     * object while it lives (its death retires the record first), then
     * Owned name tuple. */
    PyObject *key;
    PyObject *module; /* Owned: __name__ of the defining module, or NULL */
    const void *id;   /* the code object or its PyMethodDef: identity */
    const void *cls;  /* C: the type completing the key, or NULL; kept
                         alive by `key` (it is the owner) */
    MtRecord *next_of_code; /* Borrowed: the next record (another tracer's)
                               of the same code object, or NULL */
    Py_ssize_t index;       /* position in the tracer's record list */
    uint8_t kind;           /* MT_KIND_PY or MT_KIND_C */
    uint8_t traced;         /* filter verdict: 0 = excluded */
    uint8_t scope;          /* MT_VERDICT_WITHIN, _EXCLUDE_WITHIN bits */
    uint8_t retired;        /* Python: the code object died; key is the
                               tuple (name, qualname, filename, firstlineno,
                               module) */
    uint8_t generator;      /* Python: MT_GEN_* (co_flags): nonzero for
                               code that suspends */
    uint8_t watched;        /* Python: has a snippet table (watch.h) */
};

/* MtRecord.generator: a plain function; a generator or async generator;
 * a coroutine (an asyncio task runs its activations). */
enum { MT_GEN_NO = 0, MT_GEN_GENERATOR = 1, MT_GEN_COROUTINE = 2 };

/* True while a Python record's code object lives (always for C). */
static inline int
mt_records_alive(const MtRecord *rec)
{
    return !rec->retired;
}

/* Log-scale latency histogram: exact below 16 ticks, then 8 buckets per
 * power of two (bucket width <= 1/8 of its lower bound, so the geometric
 * middle of a bucket is within 6.25% of any value in it). */
#define MT_HIST_LINEAR 16
#define MT_HIST_MAX_MSB 47
#define MT_HIST_BUCKETS (MT_HIST_LINEAR + (MT_HIST_MAX_MSB - 3) * 8)

/* An activation runs from its call to its end. A generator's (or a
 * coroutine's) spans its suspensions: PY_START to the PY_RETURN or
 * PY_UNWIND that finishes it, wall time; it is on the stack in segments
 * (start or resume to yield or finish), which a generator row counts on
 * the side. `total` and `self` add up time on the stack only; `wall` adds
 * up a generator's activations, suspensions included. */
struct MtStats {
    uint64_t calls;           /* PY_START (or CALL of a C function) */
    uint64_t primitive_calls; /* calls not already active on the stack */
    uint64_t total;           /* inclusive ticks, outermost activation */
    uint64_t self;            /* exclusive ticks */
    uint64_t wall;            /* generators: ticks from start to finish,
                                 summed over activations */
    uint64_t min;             /* shortest activation, ticks */
    uint64_t max;             /* longest activation, ticks */
    uint64_t samples;         /* activations measured (min/max/hist) */
    uint32_t active;          /* activations now on this thread's stack */
    uint32_t hist[MT_HIST_BUCKETS];
    /* Owned, generator rows only, or NULL: one sample (samples, min,
     * max, hist) per segment; its other fields stay 0. */
    struct MtStats *segments;
};

static inline unsigned
mt_hist_bucket(uint64_t ticks)
{
    if (ticks < MT_HIST_LINEAR) {
        return (unsigned)ticks;
    }
    unsigned msb = 63u - (unsigned)__builtin_clzll(ticks);
    if (msb > MT_HIST_MAX_MSB) {
        return MT_HIST_BUCKETS - 1;
    }
    unsigned sub = (unsigned)(ticks >> (msb - 3)) & 7u;
    return MT_HIST_LINEAR + (msb - 4) * 8 + sub;
}

/* [lo, hi) in ticks of bucket `b`. */
void mt_hist_bounds(unsigned b, uint64_t *lo, uint64_t *hi);

static inline void
mt_stats_sample(MtStats *st, uint64_t ticks)
{
    if (ticks < st->min || st->samples == 0) {
        st->min = ticks;
    }
    if (ticks > st->max) {
        st->max = ticks;
    }
    st->samples++;
    st->hist[mt_hist_bucket(ticks)]++;
}

/* Add `from`'s numbers to `into` (the activation counter aside); -1 when
 * `into` needed segment numbers and memory ran out (those are dropped). */
int mt_stats_merge(MtStats *into, const MtStats *from);
/* A zeroed row, with segment numbers when `generator`; NULL when memory
 * ran out (no exception set). */
MtStats *mt_stats_new(int generator);
/* Free a row made by mt_stats_new (NULL is fine). */
void mt_stats_free(MtStats *st);

/* The tracer's collection of records (embedded in MtTracer). */
typedef struct {
    MtRecord **items; /* Owned array of owned records */
    Py_ssize_t count;
    Py_ssize_t capacity;
    MtRecord **ctable;  /* Owned array of borrowed records, by PyMethodDef */
    size_t ctable_mask; /* capacity - 1 (a power of two), 0 when empty */
    size_t ctable_used;
    /* Totals of dead code objects, by name: the rows of every retired
     * record with the same name tuple, merged. */
    PyObject *retired_names; /* Owned dict: name tuple -> int index, or NULL */
    PyObject *retired_keys;  /* Owned list of name tuples, by index, or NULL */
    MtStats **retired;       /* Owned array of owned rows, by index */
    Py_ssize_t nretired;     /* records retired (not names) */
    /* Where stack frames of a dead code object account from then on (a
     * frame whose exit was lost): never reported. */
    MtStats sink;
} MtRecordSet;

/* What becomes of a record whose code object is being freed (discover.c):
 * called from the co_extra free function, inside a deallocation. */
typedef void (*MtRetireHook)(MtRecord *rec);

/* Request the co_extra index; once per process, at module exec. */
int mt_records_init(MtRetireHook hook);

/* The record of `owner` for `code` under `tool`: found on the code
 * object, or made, linked there and appended (`*made` set). NULL, with a
 * failure noted, when that failed. */
MtRecord *mt_records_code_add(MtRecordSet *set, MtFailures *fail,
                              MtTracer *owner, int tool, PyObject *code,
                              int *made);
/* The same for a C function named `ident`: found in the table or made. */
MtRecord *mt_records_cfunc_add(MtRecordSet *set, MtFailures *fail,
                               MtTracer *owner, PyObject *ident,
                               const PyMethodDef *def, const void *cls,
                               int *made);
/* The name tuple of a dying Python record (a new reference, or NULL with
 * an exception set), and in `*into` its totals row in the retired table
 * (NULL for an excluded record, or with an exception set on failure). */
PyObject *mt_records_retired_totals(MtRecordSet *set, MtRecord *rec,
                                    MtStats **into);

/* The definition shared by every type's `__new__` wrapper (found at
 * init): the one C function whose key needs its type. */
extern MT_INTERNAL const PyMethodDef *mt_records_new_def;

/* The key of a C callable: its PyMethodDef, and in `*cls` the type a
 * `__new__` wrapper is bound to (NULL otherwise). NULL for anything but a
 * builtin function or method descriptor: Python functions get PY_START,
 * and classes or partials have no C_RETURN pairing of their own worth
 * timing. Reads only: no binding, no allocation, nothing owned. */
static inline const PyMethodDef *
mt_records_cfunc_key(PyObject *callable, const void **cls)
{
    *cls = NULL;
    if (PyCFunction_Check(callable)) {
        PyCFunctionObject *f = (PyCFunctionObject *)callable;
        if (f->m_ml == mt_records_new_def) {
            *cls = f->m_self;
        }
        return f->m_ml;
    }
    if (Py_IS_TYPE(callable, &PyMethodDescr_Type)) {
        return ((PyMethodDescrObject *)callable)->d_method;
    }
    return NULL;
}

/* The (name, owner, module, binding) tuple a C record of `callable` is
 * named by (see cfunc_identity in records.c), None if `callable` is not a
 * C function; NULL with an exception set on failure. */
PyObject *mt_records_cfunc_name(PyObject *callable);
/* The same for a callable whose key is `def`. */
PyObject *mt_records_cfunc_identity(PyObject *callable,
                                    const PyMethodDef *def);

/* The C record for (`def`, `cls`), or NULL if none yet (hot path, no
 * errors). */
MtRecord *mt_records_cfunc_find(MtRecordSet *set, const PyMethodDef *def,
                                const void *cls);

/* Point every record's co_extra slot for `tool` back at it (after the
 * tracer changes tool id). */
void mt_records_install(MtRecordSet *set, int tool);
/* Take every record out of `set` (left empty) and clear the co_extra
 * slots that point at them; runs no Python code. */
MtRecordSet mt_records_detach(MtRecordSet *set);
/* Free records taken out by mt_records_detach(). May run Python code, so
 * call it last, once the tracer is consistent without them. */
void mt_records_release(MtRecordSet *old);
int mt_records_traverse(MtRecordSet *set, visitproc visit, void *arg);

extern MT_INTERNAL Py_ssize_t mt_records_extra_index;
/* 1 when co_extra may be read in place (layout verified at init). */
extern MT_INTERNAL int mt_records_direct_extra;

/* One co_extra block per code object: a borrowed record per tool id (the
 * tracer running on it, or the last one that did) for the hot path, and
 * every tracer's record, linked through next_of_code. */
typedef struct {
    MtRecord *slot[MT_TOOL_SLOTS];
    MtRecord *records; /* Borrowed */
} MtCodeExtra;

/* The code object's block, or NULL (hot path: `code` is a code object). */
static inline MtCodeExtra *
mt_records_code_extra(PyObject *code)
{
#if MT_COMPAT_DIRECT_EXTRA
    if (MT_LIKELY(mt_records_direct_extra)) {
        return mt_compat_code_extra(code, mt_records_extra_index);
    }
#endif
    void *extra = NULL;
    PyUnstable_Code_GetExtra(code, mt_records_extra_index, &extra);
    return extra;
}

/* Forget the totals of dead code (Tracer.reset()): the records stay. */
void mt_records_forget_retired(MtRecordSet *set);

#endif /* MT_RECORDS_H */
