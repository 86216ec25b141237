/* Per-function records as storage: the set, co_extra bookkeeping, the
 * C-function table, totals of dead code, and teardown. Which functions get
 * a record, and what a dead one's rows become, is discover.c's. */
#include "records.h"

#include <stdlib.h>

Py_ssize_t mt_records_extra_index = -1;
int mt_records_direct_extra = 0;
/* A pointer into the interpreter's static data, never a Python object. */
const PyMethodDef *mt_records_new_def = NULL;

static MtRetireHook retire_hook;

/* co_extra free function: the code object is being freed (its fields are
 * still intact). Every record still linked here belongs to a live tracer
 * (a tracer unlinks its records when it clears them), so it can retire
 * them; nothing else is touched. */
static void
free_code_extra(void *ptr)
{
    MtCodeExtra *extra = ptr;
    MtRecord *rec = extra != NULL ? extra->records : NULL;
    while (rec != NULL) {
        MtRecord *next = rec->next_of_code;
        rec->next_of_code = NULL;
        retire_hook(rec);
        rec = next;
    }
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

/* Every type's `__new__` is a builtin bound to the type, made from one
 * PyMethodDef the interpreter keeps private: take it from object's. */
static int
find_new_def(void)
{
    PyObject *wrapper =
        PyObject_GetAttrString((PyObject *)&PyBaseObject_Type, "__new__");
    if (wrapper == NULL) {
        return -1;
    }
    if (PyCFunction_Check(wrapper)) {
        mt_records_new_def = ((PyCFunctionObject *)wrapper)->m_ml;
    }
    Py_DECREF(wrapper);
    return 0;
}

int
mt_records_init(MtRetireHook hook)
{
    retire_hook = hook;
    if (mt_records_extra_index >= 0) {
        return 0;
    }
    if (find_new_def() < 0) {
        return -1;
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

MtStats *
mt_stats_new(int generator)
{
    MtStats *st = PyMem_Calloc(1, sizeof(*st));
    if (st != NULL && generator) {
        st->segments = PyMem_Calloc(1, sizeof(*st));
        if (st->segments == NULL) {
            PyMem_Free(st);
            return NULL;
        }
    }
    return st;
}

void
mt_stats_free(MtStats *st)
{
    if (st != NULL) {
        PyMem_Free(st->segments);
        PyMem_Free(st);
    }
}

int
mt_stats_merge(MtStats *into, const MtStats *from)
{
    into->calls += from->calls;
    into->primitive_calls += from->primitive_calls;
    into->total += from->total;
    into->self += from->self;
    into->wall += from->wall;
    if (from->samples > 0) {
        if (into->samples == 0 || from->min < into->min) {
            into->min = from->min;
        }
        if (from->max > into->max) {
            into->max = from->max;
        }
    }
    into->samples += from->samples;
    for (unsigned b = 0; b < MT_HIST_BUCKETS; b++) {
        into->hist[b] += from->hist[b];
    }
    if (from->segments == NULL) {
        return 0;
    }
    if (into->segments == NULL) {
        into->segments = mt_stats_new(0);
        if (into->segments == NULL) {
            return -1;
        }
    }
    return mt_stats_merge(into->segments, from->segments);
}

/* The totals row for `name` in the retired table, made on first use;
 * NULL with an exception set on failure. */
static MtStats *
retired_row(MtRecordSet *set, PyObject *name)
{
    if (set->retired_names == NULL) {
        set->retired_names = PyDict_New();
        set->retired_keys = PyList_New(0);
        if (set->retired_names == NULL || set->retired_keys == NULL) {
            Py_CLEAR(set->retired_names);
            Py_CLEAR(set->retired_keys);
            return NULL;
        }
    }
    PyObject *found = PyDict_GetItemWithError(set->retired_names, name);
    if (found != NULL) {
        return set->retired[PyLong_AsSsize_t(found)];
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(set->retired_keys);
    MtStats **rows = PyMem_Realloc(set->retired, (n + 1) * sizeof(*rows));
    if (rows == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    set->retired = rows;
    MtStats *st = mt_stats_new(0);
    if (st == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    PyObject *index = PyLong_FromSsize_t(n);
    if (index == NULL || PyDict_SetItem(set->retired_names, name, index) < 0
        || PyList_Append(set->retired_keys, name) < 0) {
        Py_XDECREF(index);
        mt_stats_free(st);
        PyDict_DelItem(set->retired_names, name);
        return NULL;
    }
    Py_DECREF(index);
    rows[n] = st;
    return st;
}

/* The name tuple of a dying code object (its fields are still intact),
 * the retired table's own copy when it has one. */
static PyObject *
retired_name(MtRecordSet *set, MtRecord *rec)
{
    PyCodeObject *code = (PyCodeObject *)rec->key;
    PyObject *name = Py_BuildValue(
        "(OOOiO)", code->co_name, code->co_qualname, code->co_filename,
        code->co_firstlineno, rec->module != NULL ? rec->module : Py_None);
    if (name != NULL && set->retired_names != NULL) {
        PyObject *index = PyDict_GetItemWithError(set->retired_names, name);
        if (index != NULL) {
            Py_SETREF(name, Py_NewRef(PyList_GET_ITEM(
                                set->retired_keys, PyLong_AsSsize_t(index))));
        }
    }
    return name;
}

static int
append_record(MtRecordSet *set, MtRecord *rec)
{
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

PyObject *
mt_records_retired_totals(MtRecordSet *set, MtRecord *rec, MtStats **into)
{
    PyObject *name = retired_name(set, rec);
    /* Excluded code has no numbers, so no row of totals either. */
    *into = name != NULL && rec->traced ? retired_row(set, name) : NULL;
    return name;
}

/* A new record appended to `set` (`owner` only tags it); NULL when
 * memory ran out (nothing set). A C record owns `key`, a Python record
 * borrows its code object. */
static MtRecord *
new_record(MtRecordSet *set, MtTracer *owner, PyObject *key, const void *id,
           int kind)
{
    MtRecord *rec = PyMem_Calloc(1, sizeof(*rec));
    if (rec == NULL) {
        return NULL;
    }
    rec->tracer = owner;
    /* A Python record borrows its code object (see records.h). */
    rec->key = kind == MT_KIND_C ? Py_NewRef(key) : key;
    rec->id = id;
    rec->kind = (uint8_t)kind;
    if (append_record(set, rec) < 0) {
        if (kind == MT_KIND_C) {
            Py_DECREF(rec->key);
        }
        PyMem_Free(rec);
        return NULL;
    }
    return rec;
}

MtRecord *
mt_records_code_add(MtRecordSet *set, MtFailures *fail, MtTracer *owner,
                    int tool, PyObject *code, int *made)
{
    *made = 0;
    MtCodeExtra *extra = NULL;
    if (PyUnstable_Code_GetExtra(code, mt_records_extra_index, (void **)&extra)
        < 0) {
        mt_fail(fail, MT_ERR_INTERNAL, "code extra");
        return NULL;
    }
    /* Another thread may have made the record meanwhile. */
    if (extra != NULL && extra->slot[tool] != NULL
        && extra->slot[tool]->tracer == owner) {
        return extra->slot[tool];
    }
    if (extra == NULL) {
        extra = calloc(1, sizeof(*extra));
        if (extra == NULL) {
            mt_fail(fail, MT_ERR_NOMEM, "code extra");
            return NULL;
        }
        if (PyUnstable_Code_SetExtra(code, mt_records_extra_index, extra)
            < 0) {
            free(extra);
            mt_fail(fail, MT_ERR_INTERNAL, "code extra");
            return NULL;
        }
    }
    /* Another live tracer may own the slot (it used this tool id before
     * and is stopped now); it reinstalls its records when it restarts. */
    MtRecord *rec = new_record(set, owner, code, code, MT_KIND_PY);
    if (rec == NULL) {
        mt_fail(fail, MT_ERR_NOMEM, "record");
        return NULL;
    }
    int flags = ((PyCodeObject *)code)->co_flags;
    rec->generator = MT_GEN_NO;
    if (flags & CO_COROUTINE) {
        rec->generator = MT_GEN_COROUTINE;
    }
    else if (flags & (CO_GENERATOR | CO_ASYNC_GENERATOR)) {
        rec->generator = MT_GEN_GENERATOR;
    }
    extra->slot[tool] = rec;
    rec->next_of_code = extra->records;
    extra->records = rec;
    *made = 1;
    return rec;
}

static size_t
hash_key(const void *def, const void *cls)
{
    uintptr_t x = (uintptr_t)def ^ ((uintptr_t)cls * 0x9e3779b9u);
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
            size_t j = hash_key(rec->id, rec->cls) & (cap - 1);
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
mt_records_cfunc_find(MtRecordSet *set, const PyMethodDef *def,
                      const void *cls)
{
    if (set->ctable == NULL) {
        return NULL;
    }
    size_t i = hash_key(def, cls) & set->ctable_mask;
    for (;;) {
        MtRecord *rec = set->ctable[i];
        if (rec == NULL || (rec->id == def && rec->cls == cls)) {
            return rec;
        }
        i = (i + 1) & set->ctable_mask;
    }
}

/* The type in `start`'s MRO whose dict holds a method (or class method)
 * descriptor of `def`: the type that defines it. Borrowed (the MRO keeps
 * it alive), or NULL with no exception set when none does. */
static PyObject *
defining_type(PyTypeObject *start, const PyMethodDef *def)
{
    PyObject *mro = start->tp_mro; /* Borrowed */
    PyObject *name = PyUnicode_FromString(def->ml_name);
    PyObject *found = NULL;
    if (mro == NULL || !PyTuple_Check(mro) || name == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro) && found == NULL; i++) {
        PyObject *base = PyTuple_GET_ITEM(mro, i);
        if (!PyType_Check(base)) {
            continue;
        }
        PyObject *dict = PyType_GetDict((PyTypeObject *)base);
        if (dict == NULL) {
            break;
        }
        PyObject *attr = PyDict_GetItemWithError(dict, name); /* Borrowed */
        if ((attr != NULL && Py_IS_TYPE(attr, &PyMethodDescr_Type))
            || (attr != NULL && Py_IS_TYPE(attr, &PyClassMethodDescr_Type))) {
            if (((PyMethodDescrObject *)attr)->d_method == def) {
                found = base;
            }
        }
        Py_DECREF(dict);
    }
done:
    Py_XDECREF(name);
    PyErr_Clear();
    return found;
}

/* What names a C function, without its callable or bound self: a tuple
 * (name, owner, module, binding) that report.py turns into cProfile's
 * label and a readable name.
 *   name     the PyMethodDef's name
 *   owner    the type that defines it, or None (module-level functions)
 *   module   the builtin's __module__ as a str, or None
 *   binding  "class" (bound to a type: class and static methods,
 *            `__new__`), "method" (a method of `owner`'s instances),
 *            "module" (bound to a module, or to an object whose type does
 *            not list it), "unbound" (bound to nothing)
 * New reference, or NULL with an exception set. */
PyObject *
mt_records_cfunc_identity(PyObject *callable, const PyMethodDef *def)
{
    PyObject *owner = NULL;  /* Borrowed */
    PyObject *module = NULL; /* Owned */
    const char *binding = "method";
    if (PyCFunction_Check(callable)) {
        PyCFunctionObject *f = (PyCFunctionObject *)callable;
        PyObject *self = f->m_self;
        if (f->m_module != NULL && PyUnicode_Check(f->m_module)) {
            module = Py_NewRef(f->m_module);
        }
        else if (f->m_module != NULL && PyModule_Check(f->m_module)) {
            module = PyModule_GetNameObject(f->m_module);
            if (module == NULL) {
                PyErr_Clear();
            }
        }
        if (self == NULL) {
            binding = "unbound";
        }
        else if (PyType_Check(self)
                 && ((def->ml_flags & (METH_CLASS | METH_STATIC))
                     || def == mt_records_new_def)) {
            binding = "class";
            owner = def->ml_flags & METH_CLASS
                        ? defining_type((PyTypeObject *)self, def)
                        : NULL;
            if (owner == NULL) {
                owner = self;
            }
        }
        else {
            owner = defining_type(Py_TYPE(self), def);
            if (owner == NULL) {
                binding = "module";
            }
        }
    }
    else {
        owner = (PyObject *)PyDescr_TYPE(callable);
    }
    PyObject *out =
        Py_BuildValue("(sOOs)", def->ml_name, owner ? owner : Py_None,
                      module ? module : Py_None, binding);
    Py_XDECREF(module);
    return out;
}

PyObject *
mt_records_cfunc_name(PyObject *callable)
{
    const void *cls;
    const PyMethodDef *def = mt_records_cfunc_key(callable, &cls);
    if (def == NULL) {
        Py_RETURN_NONE;
    }
    return mt_records_cfunc_identity(callable, def);
}

MtRecord *
mt_records_cfunc_add(MtRecordSet *set, MtFailures *fail, MtTracer *owner,
                     PyObject *ident, const PyMethodDef *def, const void *cls,
                     int *made)
{
    *made = 0;
    /* Another thread may have made the record meanwhile. */
    MtRecord *rec = mt_records_cfunc_find(set, def, cls);
    if (rec != NULL) {
        return rec;
    }
    if ((set->ctable_used + 1) * 2 > set->ctable_mask + 1) {
        if (ctable_grow(set) < 0) {
            mt_fail(fail, MT_ERR_NOMEM, "C function table");
            return NULL;
        }
    }
    rec = new_record(set, owner, ident, def, MT_KIND_C);
    if (rec == NULL) {
        mt_fail(fail, MT_ERR_NOMEM, "record");
        return NULL;
    }
    rec->cls = cls;
    size_t i = hash_key(def, cls) & set->ctable_mask;
    while (set->ctable[i] != NULL) {
        i = (i + 1) & set->ctable_mask;
    }
    set->ctable[i] = rec;
    set->ctable_used++;
    *made = 1;
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
mt_records_install(MtRecordSet *set, int tool)
{
    for (Py_ssize_t i = 0; i < set->count; i++) {
        MtRecord *rec = set->items[i];
        if (rec->kind != MT_KIND_PY || rec->retired) {
            continue;
        }
        MtCodeExtra *extra = code_extra(rec->key);
        if (extra != NULL) {
            extra->slot[tool] = rec;
        }
    }
}

/* Take a live Python record off its code object's block. */
static void
unlink_record(MtRecord *rec)
{
    MtCodeExtra *extra = code_extra(rec->key);
    if (extra == NULL) {
        return;
    }
    for (int t = 0; t < MT_TOOL_SLOTS; t++) {
        if (extra->slot[t] == rec) {
            extra->slot[t] = NULL;
        }
    }
    for (MtRecord **p = &extra->records; *p != NULL; p = &(*p)->next_of_code) {
        if (*p == rec) {
            *p = rec->next_of_code;
            break;
        }
    }
    rec->next_of_code = NULL;
}

/* Whether the record owns its key (see MtRecord.key). */
static int
owns_key(const MtRecord *rec)
{
    return rec->kind == MT_KIND_C || rec->retired;
}

MtRecordSet
mt_records_detach(MtRecordSet *set)
{
    MtRecordSet old = *set;
    memset(set, 0, sizeof(*set));
    /* No code object may lead a callback, or its free function, to these
     * records any more. */
    for (Py_ssize_t i = 0; i < old.count; i++) {
        MtRecord *rec = old.items[i];
        if (rec->kind == MT_KIND_PY && !rec->retired) {
            unlink_record(rec);
            rec->key = NULL; /* borrowed */
        }
    }
    return old;
}

void
mt_records_forget_retired(MtRecordSet *set)
{
    /* Name tuples (str and int items) run no Python code when freed. */
    for (Py_ssize_t i = 0;
         set->retired_keys != NULL && i < PyList_GET_SIZE(set->retired_keys);
         i++) {
        mt_stats_free(set->retired[i]);
    }
    PyMem_Free(set->retired);
    set->retired = NULL;
    Py_CLEAR(set->retired_names);
    Py_CLEAR(set->retired_keys);
}

void
mt_records_release(MtRecordSet *old)
{
    /* Dropping a reference can run Python code (a weakref callback, a
     * finalizer) that calls back into the tracer: the set was detached
     * first, so that code finds an empty tracer and nothing freed. */
    for (Py_ssize_t i = 0; i < old->count; i++) {
        MtRecord *rec = old->items[i];
        if (rec->key != NULL && owns_key(rec)) {
            Py_CLEAR(rec->key);
        }
        Py_CLEAR(rec->module);
        PyMem_Free(rec);
    }
    for (Py_ssize_t i = 0;
         old->retired_keys != NULL && i < PyList_GET_SIZE(old->retired_keys);
         i++) {
        mt_stats_free(old->retired[i]);
    }
    PyMem_Free(old->retired);
    Py_CLEAR(old->retired_names);
    Py_CLEAR(old->retired_keys);
    PyMem_Free(old->items);
    PyMem_Free(old->ctable);
    memset(old, 0, sizeof(*old));
}

int
mt_records_traverse(MtRecordSet *set, visitproc visit, void *arg)
{
    for (Py_ssize_t i = 0; i < set->count; i++) {
        if (owns_key(set->items[i])) {
            Py_VISIT(set->items[i]->key);
        }
        Py_VISIT(set->items[i]->module);
    }
    Py_VISIT(set->retired_names);
    Py_VISIT(set->retired_keys);
    return 0;
}
