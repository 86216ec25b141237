/* Per-function records: creation on first sight, co_extra bookkeeping, the
 * C-function table, and teardown. */
#include "records.h"
#include "eventlog.h"
#include "guard.h"
#include "sigdefer.h"
#include "tracer.h"

#include <stdlib.h>

Py_ssize_t mt_records_extra_index = -1;
int mt_records_direct_extra = 0;

/* co_extra free function: may run at any time, even during interpreter
 * finalization, so it touches nothing but the block itself. Records keep
 * their code object alive, so no slot can point at a live record here. */
static void
free_code_extra(void *ptr)
{
    free(ptr);
}

/* Decide whether co_extra may be read in place: store a block through the
 * API on a fresh code object and read it back both ways. */
static int
check_direct_extra(void)
{
#if MT_COMPAT_DIRECT_EXTRA
    PyObject *code = NULL;     /* Owned */
    MtCodeExtra *extra = NULL; /* Owned until the code object takes it */
    void *probe = NULL;
    void *via_api = NULL;
    code = (PyObject *)PyCode_NewEmpty("<monitrace>", "<probe>", 1);
    if (code == NULL) {
        goto error;
    }
    extra = calloc(1, sizeof(*extra));
    if (extra == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    probe = extra;
    if (PyUnstable_Code_SetExtra(code, mt_records_extra_index, extra) < 0) {
        goto error;
    }
    extra = NULL; /* freed with the code object, by free_code_extra */
    if (PyUnstable_Code_GetExtra(code, mt_records_extra_index, &via_api) < 0) {
        goto error;
    }
    mt_records_direct_extra =
        via_api == probe
        && mt_compat_code_extra(code, mt_records_extra_index) == probe;
    Py_DECREF(code);
    return 0;
error:
    free(extra);
    Py_XDECREF(code);
    return -1;
#else
    return 0;
#endif
}

int
mt_records_init(void)
{
    if (mt_records_extra_index >= 0) {
        return 0;
    }
    mt_records_extra_index =
        PyUnstable_Eval_RequestCodeExtraIndex(free_code_extra);
    if (mt_records_extra_index < 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "monitrace: no code-object extra slot left");
        return -1;
    }
    return check_direct_extra();
}

void
mt_hist_bounds(unsigned b, uint64_t *lo, uint64_t *hi)
{
    if (b < MT_HIST_LINEAR) {
        *lo = b;
        *hi = (uint64_t)b + 1;
        return;
    }
    unsigned k = b - MT_HIST_LINEAR;
    unsigned msb = 4 + k / 8;
    uint64_t sub = k % 8;
    *lo = (8 + sub) << (msb - 3);
    *hi = (9 + sub) << (msb - 3);
    if (b == MT_HIST_BUCKETS - 1) {
        *hi = UINT64_MAX;
    }
}

static int
append_record(MtTracer *tr, MtRecord *rec)
{
    MtRecordSet *set = &tr->records;
    if (set->count == set->capacity) {
        Py_ssize_t cap = set->capacity ? set->capacity * 2 : 64;
        MtRecord **items = PyMem_Realloc(set->items, cap * sizeof(*items));
        if (items == NULL) {
            return -1;
        }
        set->items = items;
        set->capacity = cap;
    }
    rec->index = set->count;
    set->items[set->count++] = rec;
    return 0;
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
    PyObject *saved = PyErr_GetRaisedException();
    uint64_t serial = mt_guard_enter(tr);
    mt_sigdefer_enter();
    PyObject *res =
        tr->filter_module ? PyObject_CallFunctionObjArgs(
            tr->filter, key, module != NULL ? module : Py_None, NULL)
                          : PyObject_CallOneArg(tr->filter, key);
    int verdict = MT_VERDICT_TRACE, interrupted = 0;
    if (res == NULL) {
        interrupted = mt_guard_interrupted();
        mt_tracer_fail(tr, MT_ERR_FILTER, "filter");
    }
    else if (PyLong_CheckExact(res)) {
        long bits = PyLong_AsLong(res);
        if (bits == -1 && PyErr_Occurred()) {
            mt_tracer_fail(tr, MT_ERR_FILTER, "filter result");
        }
        else {
            verdict = (int)(bits
                            & (MT_VERDICT_TRACE | MT_VERDICT_WITHIN
                               | MT_VERDICT_EXCLUDE_WITHIN));
        }
        Py_DECREF(res);
    }
    else {
        verdict = PyObject_IsTrue(res);
        Py_DECREF(res);
        if (verdict < 0) {
            interrupted = mt_guard_interrupted();
            mt_tracer_fail(tr, MT_ERR_FILTER, "filter result");
            verdict = MT_VERDICT_TRACE;
        }
    }
    mt_sigdefer_leave();
    if (!mt_guard_leave(tr, serial)) {
        verdict = -1;
    }
    PyErr_SetRaisedException(saved);
    mt_guard_redeliver(interrupted);
    return verdict;
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

static MtRecord *
new_record(MtTracer *tr, PyObject *key, const void *id, int kind)
{
    MtRecord *rec = PyMem_Calloc(1, sizeof(*rec));
    if (rec == NULL) {
        mt_tracer_fail(tr, MT_ERR_NOMEM, "record");
        return NULL;
    }
    rec->tracer = tr;
    rec->key = Py_NewRef(key);
    rec->id = id;
    rec->kind = (uint8_t)kind;
    if (append_record(tr, rec) < 0) {
        Py_DECREF(rec->key);
        PyMem_Free(rec);
        mt_tracer_fail(tr, MT_ERR_NOMEM, "record list");
        return NULL;
    }
    return rec;
}

MtRecord *
mt_records_code_slow(MtTracer *tr, PyObject *code)
{
    /* The filter runs first: it is Python code, and no pointer into the
     * tracer's data may be held across it. */
    PyObject *module = current_module_name();
    int verdict = ask_filter(tr, code, module);
    if (verdict < 0) {
        Py_XDECREF(module);
        return NULL;
    }
    MtCodeExtra *extra = NULL;
    if (PyUnstable_Code_GetExtra(code, mt_records_extra_index, (void **)&extra)
        < 0) {
        Py_XDECREF(module);
        mt_tracer_fail(tr, MT_ERR_INTERNAL, "code extra");
        return NULL;
    }
    /* Another thread may have made the record while the filter ran. */
    if (extra != NULL && extra->slot[tr->tool] != NULL
        && extra->slot[tr->tool]->tracer == tr) {
        Py_XDECREF(module);
        return extra->slot[tr->tool];
    }
    if (extra == NULL) {
        extra = calloc(1, sizeof(*extra));
        if (extra == NULL) {
            Py_XDECREF(module);
            mt_tracer_fail(tr, MT_ERR_NOMEM, "code extra");
            return NULL;
        }
        if (PyUnstable_Code_SetExtra(code, mt_records_extra_index, extra)
            < 0) {
            free(extra);
            Py_XDECREF(module);
            mt_tracer_fail(tr, MT_ERR_INTERNAL, "code extra");
            return NULL;
        }
    }
    /* Another live tracer may own the slot (it used this tool id before
     * and is stopped now); it reinstalls its records when it restarts. */
    MtRecord *rec = new_record(tr, code, code, MT_KIND_PY);
    if (rec == NULL) {
        Py_XDECREF(module);
        return NULL;
    }
    rec->module = module;
    set_verdict(rec, verdict);
    extra->slot[tr->tool] = rec;
    mt_eventlog_code_seen(tr, rec);
    return rec;
}

static size_t
hash_ptr(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= 0xed5ad4bbu;
    x ^= x >> 11;
    return (size_t)x;
}

static int
ctable_grow(MtRecordSet *set)
{
    size_t cap = set->ctable_mask ? (set->ctable_mask + 1) * 2 : 64;
    MtRecord **table = PyMem_Calloc(cap, sizeof(*table));
    if (table == NULL) {
        return -1;
    }
    if (set->ctable != NULL) {
        for (size_t i = 0; i <= set->ctable_mask; i++) {
            MtRecord *rec = set->ctable[i];
            if (rec == NULL) {
                continue;
            }
            size_t j = hash_ptr(rec->id) & (cap - 1);
            while (table[j] != NULL) {
                j = (j + 1) & (cap - 1);
            }
            table[j] = rec;
        }
        PyMem_Free(set->ctable);
    }
    set->ctable = table;
    set->ctable_mask = cap - 1;
    return 0;
}

MtRecord *
mt_records_cfunc_find(MtRecordSet *set, const PyMethodDef *def)
{
    if (set->ctable == NULL) {
        return NULL;
    }
    size_t i = hash_ptr(def) & set->ctable_mask;
    for (;;) {
        MtRecord *rec = set->ctable[i];
        if (rec == NULL || rec->id == def) {
            return rec;
        }
        i = (i + 1) & set->ctable_mask;
    }
}

MtRecord *
mt_records_cfunc_slow(MtTracer *tr, PyObject *callable, const PyMethodDef *def)
{
    int verdict = ask_filter(tr, callable, NULL);
    if (verdict < 0) {
        return NULL;
    }
    MtRecordSet *set = &tr->records;
    /* Another thread may have made the record while the filter ran. */
    MtRecord *rec = mt_records_cfunc_find(set, def);
    if (rec != NULL) {
        return rec;
    }
    if ((set->ctable_used + 1) * 2 > set->ctable_mask + 1) {
        if (ctable_grow(set) < 0) {
            mt_tracer_fail(tr, MT_ERR_NOMEM, "C function table");
            return NULL;
        }
    }
    rec = new_record(tr, callable, def, MT_KIND_C);
    if (rec == NULL) {
        return NULL;
    }
    set_verdict(rec, verdict);
    size_t i = hash_ptr(def) & set->ctable_mask;
    while (set->ctable[i] != NULL) {
        i = (i + 1) & set->ctable_mask;
    }
    set->ctable[i] = rec;
    set->ctable_used++;
    return rec;
}

static MtCodeExtra *
code_extra(PyObject *code)
{
    MtCodeExtra *extra = NULL;
    if (PyUnstable_Code_GetExtra(code, mt_records_extra_index, (void **)&extra)
        < 0) {
        PyErr_Clear();
        return NULL;
    }
    return extra;
}

void
mt_records_install(MtTracer *tr, int tool)
{
    MtRecordSet *set = &tr->records;
    for (Py_ssize_t i = 0; i < set->count; i++) {
        MtRecord *rec = set->items[i];
        if (rec->kind != MT_KIND_PY) {
            continue;
        }
        MtCodeExtra *extra = code_extra(rec->key);
        if (extra != NULL) {
            extra->slot[tool] = rec;
        }
    }
}

void
mt_records_clear(MtRecordSet *set)
{
    for (Py_ssize_t i = 0; i < set->count; i++) {
        MtRecord *rec = set->items[i];
        if (rec->kind == MT_KIND_PY) {
            MtCodeExtra *extra = code_extra(rec->key);
            for (int t = 0; extra != NULL && t < MT_TOOL_SLOTS; t++) {
                if (extra->slot[t] == rec) {
                    extra->slot[t] = NULL;
                }
            }
        }
        Py_CLEAR(rec->key);
        Py_CLEAR(rec->module);
        PyMem_Free(rec);
    }
    PyMem_Free(set->items);
    PyMem_Free(set->ctable);
    memset(set, 0, sizeof(*set));
}

int
mt_records_traverse(MtRecordSet *set, visitproc visit, void *arg)
{
    for (Py_ssize_t i = 0; i < set->count; i++) {
        Py_VISIT(set->items[i]->key);
        Py_VISIT(set->items[i]->module);
    }
    return 0;
}
