/* First and last sight of a function: the filter's verdict when a code
 * object or C function is first seen, the record made in the session's
 * set, and every feature told (LINE events, breakpoints, watch=); when a
 * code object dies, its rows folded into the totals of its name. */
#include "discover.h"
#include "breakpoints.h"
#include "guard.h"
#include "recorder.h"
#include "records.h"
#include "session.h"
#include "threadstate.h"
#include "watch.h"

/* The record's code object is being freed: fold its rows into the totals
 * under its name and keep only the name. Runs inside a deallocation, with
 * the GIL, maybe with an exception in flight; runs no Python code. Once
 * the interpreter is finalizing nothing is read any more: the record just
 * lets go of the code object. */
void
mt_discover_retire(MtRecord *rec)
{
    MtTracer *tr = rec->tracer;
    rec->retired = 1;
    if (rec->index < tr->log.nrecs) {
        tr->log.recs[rec->index].lines_on = 0; /* gone with the code */
    }
    tr->records.nretired++;
    if (mt_compat_finalizing()) {
        rec->key = Py_NewRef(Py_None);
        return;
    }
    PyObject *saved = PyErr_GetRaisedException();
    MtStats *into = NULL;
    PyObject *name = mt_records_retired_totals(&tr->records, rec, &into);
    if (name == NULL || (rec->traced && into == NULL)) {
        mt_fail(&tr->failures, MT_ERR_NOMEM, "totals of a dead code object");
    }
    /* Without a row the numbers are dropped, never left behind. */
    mt_thread_retire_rows(tr, rec->index, rec->id, into);
    rec->key = name != NULL ? name : Py_NewRef(Py_None);
    PyErr_SetRaisedException(saved);
}

/* Ask the user's filter (a Python callable) whether to trace `key`: a bool,
 * or an int of MT_VERDICT_* bits; -1 when the tracer was stopped, cleared
 * or dropped while the filter ran (see guard.h; then touch nothing of the
 * tracer). Control methods refuse to run from the filter itself, and any
 * in-flight exception is preserved. */
static int
ask_filter(MtTracer *tr, PyObject *key, PyObject *module)
{
    if (tr->filter == NULL) {
        return MT_VERDICT_TRACE;
    }
    MtGuard g;
    mt_guard_open(&g, tr, MT_GUARD_SIGNALS);
    PyObject *res =
        tr->filter_module ? PyObject_CallFunctionObjArgs(
            tr->filter, key, module != NULL ? module : Py_None, NULL)
                          : PyObject_CallOneArg(tr->filter, key);
    int verdict = MT_VERDICT_TRACE;
    if (res == NULL) {
        mt_guard_fail(&g, MT_ERR_FILTER, "filter");
    }
    else if (PyLong_CheckExact(res)) {
        long bits = PyLong_AsLong(res);
        if (bits == -1 && PyErr_Occurred()) {
            mt_guard_fail(&g, MT_ERR_FILTER, "filter result");
        }
        else {
            verdict =
                (int)(bits
                      & (MT_VERDICT_TRACE | MT_VERDICT_WITHIN
                         | MT_VERDICT_EXCLUDE_WITHIN | MT_VERDICT_WATCH));
        }
        Py_DECREF(res);
    }
    else {
        verdict = PyObject_IsTrue(res);
        Py_DECREF(res);
        if (verdict < 0) {
            mt_guard_fail(&g, MT_ERR_FILTER, "filter result");
            verdict = MT_VERDICT_TRACE;
        }
    }
    return mt_guard_close(&g) ? verdict : -1;
}

/* Store a verdict on the record: subtree targets always get events. */
static void
set_verdict(MtRecord *rec, int verdict)
{
    rec->scope =
        (uint8_t)(verdict & (MT_VERDICT_WITHIN | MT_VERDICT_EXCLUDE_WITHIN));
    rec->traced = (uint8_t)(verdict != 0);
}

static PyObject *
current_module_name(void)
{
    PyObject *globals = mt_compat_frame_globals_new();
    if (globals == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *name = NULL;
    if (PyDict_Check(globals)) {
        name = PyDict_GetItemString(globals, "__name__");
    }
    Py_XINCREF(name);
    Py_DECREF(globals);
    if (name != NULL && !PyUnicode_Check(name)) {
        Py_CLEAR(name);
    }
    PyErr_Clear();
    return name;
}

MtRecord *
mt_discover_code(MtTracer *tr, PyObject *code)
{
    /* The filter runs first: it is Python code, and no pointer into the
     * tracer's data may be held across it. */
    PyObject *module = current_module_name();
    int verdict = ask_filter(tr, code, module);
    PyObject *watch = NULL;
    if (verdict > 0 && (verdict & MT_VERDICT_WATCH)
        && mt_watch_describe(tr, code, &watch) < 0) {
        verdict = -1;
    }
    if (verdict < 0) {
        Py_XDECREF(module);
        return NULL;
    }
    int made;
    MtRecord *rec = mt_records_code_add(&tr->records, &tr->failures, tr,
                                        tr->tool, code, &made);
    if (rec == NULL || !made) {
        Py_XDECREF(module);
        Py_XDECREF(watch);
        return rec;
    }
    rec->module = module;
    set_verdict(rec, verdict);
    mt_recorder_code_seen(tr, rec);
    if (mt_targets_code_seen(tr, rec) < 0) {
        /* The tracer changed while the planner ran: `tr` may be gone. */
        Py_XDECREF(watch);
        return NULL;
    }
    if (watch != NULL) {
        mt_watch_attach(tr, rec, watch); /* after LINE: it ORs its bit in */
    }
    return rec;
}

MtRecord *
mt_discover_cfunc(MtTracer *tr, PyObject *callable, const PyMethodDef *def,
                  const void *cls)
{
    PyObject *ident = mt_records_cfunc_identity(callable, def);
    if (ident == NULL) {
        mt_fail(&tr->failures, MT_ERR_INTERNAL, "C function name");
        return NULL;
    }
    int verdict = ask_filter(tr, ident, NULL);
    if (verdict < 0) {
        Py_DECREF(ident);
        return NULL;
    }
    int made;
    MtRecord *rec = mt_records_cfunc_add(&tr->records, &tr->failures, tr,
                                         ident, def, cls, &made);
    Py_DECREF(ident);
    if (rec != NULL && made) {
        set_verdict(rec, verdict);
    }
    return rec;
}
