/* Event callbacks. Each worker checks its argument count with one compare,
 * reads its arguments borrowed, allocates nothing once warm, calls no
 * Python code (except the filter, once per code object, in discover.c),
 * and returns None or DISABLE, never NULL.
 *
 * DISABLE is returned only from events that accept it (PY_START, PY_RESUME,
 * PY_RETURN, PY_YIELD) and only for code the filter excluded. */
#include "callbacks.h"
#include "discover.h"
#include "recorder.h"
#include "breakpoints.h"
#include "clock.h"
#include "deferred.h"
#include "eventlog.h"
#include "eventlog_lean.h"
#include "records.h"
#include "scope.h"
#include "threadstate.h"
#include "session.h"
#include "watch.h"

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    MtTracer *tracer; /* Owned */
} MtCallback;

#define TRACER(self) (((MtCallback *)(self))->tracer)

static inline MtRecord *
code_record(MtTracer *tr, PyObject *code)
{
    MtCodeExtra *extra = mt_records_code_extra(code);
    if (MT_LIKELY(extra != NULL)) {
        MtRecord *rec = extra->slot[tr->tool];
        if (MT_LIKELY(rec != NULL && rec->tracer == tr)) {
            return rec;
        }
    }
    return mt_discover_code(tr, code);
}

#define RETURN_DISABLE(tr) return Py_NewRef((tr)->disable)

/* An event while the tracer is not active. Paused, code the filter
 * already excluded answers DISABLE as it would while active (the decision
 * is for good), so a session paused between measurements (the pytest
 * plugin between tests) does not keep paying for the code that runs
 * between them. Nothing else is decided or recorded while paused. */
static MT_NOINLINE PyObject *
idle(MtTracer *tr, PyObject *const *args, size_t nargsf, Py_ssize_t want,
     int may_disable)
{
    if (tr->paused && may_disable && PyVectorcall_NARGS(nargsf) == want
        && PyCode_Check(args[0])) {
        MtCodeExtra *extra = mt_records_code_extra(args[0]);
        MtRecord *rec = extra != NULL ? extra->slot[tr->tool] : NULL;
        if (rec != NULL && rec->tracer == tr && !rec->traced) {
            RETURN_DISABLE(tr);
        }
    }
    Py_RETURN_NONE;
}

/* A Python enter while the log is on: pushed as deferred or accounted
 * (deferred.h), then stored inline (the lean case) or by the recorder. */
static inline void
enter_logged(MtTracer *tr, MtThreadState *ts, MtRecord *rec, MtEvent ev,
             PyObject *const *args, uint64_t now, int is_call)
{
    size_t depth0 = ts->depth;
    if (mt_deferred_now(tr)) {
        mt_thread_enter_deferred(tr, ts, rec, now, is_call);
    }
    else {
        mt_thread_enter(tr, ts, rec, now, is_call);
    }
    if (!((ev == MT_EV_PY_START || ev == MT_EV_PY_RESUME)
          && mt_eventlog_enter_lean(&tr->log, ts, rec, ev == MT_EV_PY_RESUME,
                                    args[0], now, depth0))) {
        mt_recorder_enter(tr, ts, rec, ev, args, now, depth0);
    }
}

/* A Python exit while the log is on (enter_logged's other half). */
static inline void
leave_logged(MtTracer *tr, MtThreadState *ts, MtRecord *rec, MtEvent ev,
             PyObject *const *args, uint64_t now)
{
    size_t depth0 = ts->depth;
    int suspend = ev == MT_EV_PY_YIELD;
    if (mt_deferred_now(tr)) {
        mt_stack_exit_deferred(ts, rec->id, now, suspend);
    }
    else {
        mt_stack_exit(ts, rec->id, now, suspend);
    }
    if (!((ev == MT_EV_PY_RETURN || ev == MT_EV_PY_YIELD)
          && mt_eventlog_leave_lean(&tr->log, ts, rec, suspend, now,
                                    depth0))) {
        mt_recorder_leave(tr, ts, rec, ev, args, now, depth0);
    }
}

static inline PyObject *
enter(PyObject *self, PyObject *const *args, size_t nargsf, Py_ssize_t want,
      MtEvent ev, int is_call)
{
    MtTracer *tr = TRACER(self);
    if (MT_UNLIKELY(PyVectorcall_NARGS(nargsf) != want || !tr->active
                    || !PyCode_Check(args[0]))) {
        return idle(tr, args, nargsf, want, ev != MT_EV_PY_THROW);
    }
    tr->event_counts[ev]++;
    uint64_t now = mt_clock_now(tr->clock);
    MtRecord *rec = code_record(tr, args[0]);
    if (MT_UNLIKELY(rec == NULL)) {
        Py_RETURN_NONE;
    }
    if (MT_UNLIKELY(tr->targeted)) {
        /* profile=False decides here; the error snooper notes a call. */
        PyObject *res = mt_targets_enter(tr, rec, ev);
        if (res != NULL) {
            return res;
        }
    }
    if (!rec->traced) {
        if (ev == MT_EV_PY_THROW) {
            Py_RETURN_NONE;
        }
        RETURN_DISABLE(tr);
    }
    if (MT_UNLIKELY(rec->watched)) {
        mt_watch_enter(tr, rec, ev);
    }
    MtThreadState *ts = mt_thread_current(tr);
    if (MT_LIKELY(ts != NULL) && mt_scope_enter(tr, ts, rec)) {
        if (MT_LIKELY(!tr->log.enabled)) {
            mt_thread_enter(tr, ts, rec, now, is_call);
        }
        else {
            enter_logged(tr, ts, rec, ev, args, now, is_call);
        }
    }
    Py_RETURN_NONE;
}

static inline PyObject *
leave(PyObject *self, PyObject *const *args, size_t nargsf, MtEvent ev,
      int may_disable)
{
    MtTracer *tr = TRACER(self);
    if (MT_UNLIKELY(PyVectorcall_NARGS(nargsf) != 3 || !tr->active
                    || !PyCode_Check(args[0]))) {
        return idle(tr, args, nargsf, 3, may_disable);
    }
    tr->event_counts[ev]++;
    uint64_t now = mt_clock_now(tr->clock);
    MtRecord *rec = code_record(tr, args[0]);
    if (MT_UNLIKELY(rec == NULL)) {
        Py_RETURN_NONE;
    }
    if (MT_UNLIKELY(tr->targeted) && ev == MT_EV_PY_UNWIND) {
        if (mt_targets_unwind(tr, rec, args) == MT_TARGET_GONE
            || !tr->profile) {
            Py_RETURN_NONE;
        }
    }
    if (!rec->traced) {
        if (may_disable) {
            RETURN_DISABLE(tr);
        }
        Py_RETURN_NONE;
    }
    if (MT_UNLIKELY(rec->watched) && !mt_watch_leave(tr, rec, ev)) {
        Py_RETURN_NONE; /* the tracer went away while a repr ran */
    }
    MtThreadState *ts = mt_thread_current(tr);
    if (MT_LIKELY(ts != NULL) && mt_scope_exit(tr, ts, rec->id)) {
        if (MT_LIKELY(!tr->log.enabled)) {
            mt_stack_exit(ts, rec->id, now, ev == MT_EV_PY_YIELD);
        }
        else {
            leave_logged(tr, ts, rec, ev, args, now);
        }
    }
    Py_RETURN_NONE;
}

MT_HOT PyObject *
mt_on_py_start(PyObject *self, PyObject *const *args, size_t nargsf,
               PyObject *kwnames)
{
    (void)kwnames;
    return enter(self, args, nargsf, 2, MT_EV_PY_START, 1);
}

MT_HOT PyObject *
mt_on_py_resume(PyObject *self, PyObject *const *args, size_t nargsf,
                PyObject *kwnames)
{
    (void)kwnames;
    return enter(self, args, nargsf, 2, MT_EV_PY_RESUME, 0);
}

PyObject *
mt_on_py_throw(PyObject *self, PyObject *const *args, size_t nargsf,
               PyObject *kwnames)
{
    (void)kwnames;
    return enter(self, args, nargsf, 3, MT_EV_PY_THROW, 0);
}

MT_HOT PyObject *
mt_on_py_return(PyObject *self, PyObject *const *args, size_t nargsf,
                PyObject *kwnames)
{
    (void)kwnames;
    return leave(self, args, nargsf, MT_EV_PY_RETURN, 1);
}

MT_HOT PyObject *
mt_on_py_yield(PyObject *self, PyObject *const *args, size_t nargsf,
               PyObject *kwnames)
{
    (void)kwnames;
    return leave(self, args, nargsf, MT_EV_PY_YIELD, 1);
}

PyObject *
mt_on_py_unwind(PyObject *self, PyObject *const *args, size_t nargsf,
                PyObject *kwnames)
{
    (void)kwnames;
    return leave(self, args, nargsf, MT_EV_PY_UNWIND, 0);
}

static inline MtRecord *
c_record(MtTracer *tr, PyObject *callable, const PyMethodDef *def,
         const void *cls)
{
    MtRecord *rec = mt_records_cfunc_find(&tr->records, def, cls);
    if (MT_LIKELY(rec != NULL)) {
        return rec;
    }
    return mt_discover_cfunc(tr, callable, def, cls);
}

/* CALL fires for every call site, Python callees included; only C
 * callables start a frame here. A site in traced code is never disabled:
 * it may call a C function next time, and disabling CALL also silences
 * C_RETURN/C_RAISE there. */
PyObject *
mt_on_call(PyObject *self, PyObject *const *args, size_t nargsf,
           PyObject *kwnames)
{
    (void)kwnames;
    MtTracer *tr = TRACER(self);
    if (MT_UNLIKELY(PyVectorcall_NARGS(nargsf) != 4 || !tr->active
                    || !PyCode_Check(args[0]))) {
        Py_RETURN_NONE;
    }
    tr->event_counts[MT_EV_CALL]++;
    uint64_t now = mt_clock_now(tr->clock);
    MtRecord *caller = code_record(tr, args[0]);
    if (MT_UNLIKELY(caller == NULL)) {
        /* Failed, or the tracer went away while the filter ran: `tr`
         * may be gone. */
        Py_RETURN_NONE;
    }
    if (!caller->traced) {
        /* A call site in excluded code: whatever it calls from C is
         * excluded with it, and the site goes quiet for good. */
        RETURN_DISABLE(tr);
    }
    const void *cls;
    const PyMethodDef *def = mt_records_cfunc_key(args[2], &cls);
    if (def == NULL) {
        Py_RETURN_NONE;
    }
    MtRecord *rec = c_record(tr, args[2], def, cls);
    if (rec == NULL || !rec->traced) {
        Py_RETURN_NONE;
    }
    MtThreadState *ts = mt_thread_current(tr);
    if (MT_LIKELY(ts != NULL) && mt_scope_enter(tr, ts, rec)) {
        size_t depth0 = ts->depth;
        if (mt_deferred_now(tr)) {
            mt_thread_enter_deferred(tr, ts, rec, now, 1);
        }
        else {
            mt_thread_enter(tr, ts, rec, now, 1);
        }
        if (MT_UNLIKELY(tr->log.enabled)) {
            mt_recorder_enter(tr, ts, rec, MT_EV_CALL, args, now, depth0);
        }
    }
    Py_RETURN_NONE;
}

static inline PyObject *
c_leave(PyObject *self, PyObject *const *args, size_t nargsf, MtEvent ev)
{
    MtTracer *tr = TRACER(self);
    if (MT_UNLIKELY(PyVectorcall_NARGS(nargsf) != 4 || !tr->active)) {
        Py_RETURN_NONE;
    }
    tr->event_counts[ev]++;
    const void *cls;
    const PyMethodDef *def = mt_records_cfunc_key(args[2], &cls);
    if (def == NULL) {
        Py_RETURN_NONE;
    }
    uint64_t now = mt_clock_now(tr->clock);
    MtRecord *rec = mt_records_cfunc_find(&tr->records, def, cls);
    if (rec == NULL || !rec->traced) {
        Py_RETURN_NONE;
    }
    MtThreadState *ts = mt_thread_current(tr);
    if (MT_LIKELY(ts != NULL) && mt_scope_exit(tr, ts, def)) {
        size_t depth0 = ts->depth;
        if (mt_deferred_now(tr)) {
            mt_stack_exit_deferred(ts, def, now, 0);
        }
        else {
            mt_stack_exit(ts, def, now, 0);
        }
        if (MT_UNLIKELY(tr->log.enabled)) {
            mt_recorder_leave(tr, ts, rec, ev, args, now, depth0);
        }
    }
    Py_RETURN_NONE;
}

PyObject *
mt_on_c_return(PyObject *self, PyObject *const *args, size_t nargsf,
               PyObject *kwnames)
{
    (void)kwnames;
    return c_leave(self, args, nargsf, MT_EV_C_RETURN);
}

PyObject *
mt_on_c_raise(PyObject *self, PyObject *const *args, size_t nargsf,
              PyObject *kwnames)
{
    (void)kwnames;
    return c_leave(self, args, nargsf, MT_EV_C_RAISE);
}

/* LINE is enabled only through local events: on traced code for
 * lines=True (recorder.c), on code with breakpoints or snooped for errors
 * (breakpoints.c). A line none of them wants answers DISABLE. */
PyObject *
mt_on_line(PyObject *self, PyObject *const *args, size_t nargsf,
           PyObject *kwnames)
{
    (void)kwnames;
    MtTracer *tr = TRACER(self);
    if (MT_UNLIKELY(PyVectorcall_NARGS(nargsf) != 2 || !tr->active
                    || !PyCode_Check(args[0]))) {
        Py_RETURN_NONE;
    }
    tr->event_counts[MT_EV_LINE]++;
    uint64_t now = mt_clock_now(tr->clock);
    MtRecord *rec = code_record(tr, args[0]);
    if (MT_UNLIKELY(rec == NULL)) {
        Py_RETURN_NONE;
    }
    int counted = tr->log.lines && rec->traced;
    if (tr->targets != NULL) {
        switch (mt_targets_line(tr, rec, args)) {
        case MT_TARGET_RAISE:
            return NULL;
        case MT_TARGET_GONE:
            Py_RETURN_NONE;
        case MT_TARGET_WANTED:
            if (!counted) {
                Py_RETURN_NONE;
            }
            break;
        default:
            break;
        }
    }
    if (!counted) {
        RETURN_DISABLE(tr);
    }
    return mt_recorder_line(tr, rec, args, now);
}

/* INSTRUCTION is enabled only on watched code (set_local_events,
 * watch.c): statement snapshots. */
PyObject *
mt_on_instruction(PyObject *self, PyObject *const *args, size_t nargsf,
                  PyObject *kwnames)
{
    (void)kwnames;
    MtTracer *tr = TRACER(self);
    if (MT_UNLIKELY(PyVectorcall_NARGS(nargsf) != 2 || !tr->active
                    || !PyCode_Check(args[0]))) {
        Py_RETURN_NONE;
    }
    tr->event_counts[MT_EV_INSTRUCTION]++;
    return mt_watch_instruction(tr, args);
}

/* ---- the callback type ---- */

static PyObject *
callback_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return PyVectorcall_Call(self, args, kwargs);
}

static int
callback_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(TRACER(self));
    return 0;
}

static int
callback_clear(PyObject *self)
{
    Py_CLEAR(TRACER(self));
    return 0;
}

static void
callback_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    callback_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMemberDef callback_members[] = {
    {"__vectorcalloffset__", Py_T_PYSSIZET, offsetof(MtCallback, vectorcall),
     Py_READONLY, NULL},
    {NULL},
};

static PyType_Slot callback_slots[] = {
    {Py_tp_doc, "A monitrace event callback registered with sys.monitoring."},
    {Py_tp_call, callback_call},
    {Py_tp_traverse, callback_traverse},
    {Py_tp_clear, callback_clear},
    {Py_tp_dealloc, callback_dealloc},
    {Py_tp_members, callback_members},
    {0, NULL},
};

static PyType_Spec callback_spec = {
    .name = "monitrace._core.Callback",
    .basicsize = sizeof(MtCallback),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_DISALLOW_INSTANTIATION
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = callback_slots,
};

PyObject *
mt_callback_new(MtModuleState *state, MtTracer *tr, vectorcallfunc handler)
{
    MtCallback *cb = PyObject_GC_New(MtCallback, state->callback_type);
    if (cb == NULL) {
        return NULL;
    }
    cb->vectorcall = handler;
    cb->tracer = (MtTracer *)Py_NewRef((PyObject *)tr);
    PyObject_GC_Track(cb);
    return (PyObject *)cb;
}

int
mt_callback_type_init(PyObject *module, MtModuleState *state)
{
    state->callback_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &callback_spec, NULL);
    return state->callback_type == NULL ? -1 : 0;
}
