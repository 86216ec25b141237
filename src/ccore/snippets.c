/* Offset -> snippet tables of watched code (see snippets.h). Slow path
 * only: built once per code object, read by watch.c on every
 * instruction. */
#include "snippets.h"

static int
int_item(PyObject *tuple, Py_ssize_t i, int *out)
{
    long v = PyLong_AsLong(PyTuple_GET_ITEM(tuple, i));
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int
read_spans(MtSnippetGroup *g, PyObject *spans)
{
    if (!PyTuple_Check(spans)) {
        PyErr_SetString(PyExc_TypeError, "watch group: spans must be a tuple");
        return -1;
    }
    g->nspans = PyTuple_GET_SIZE(spans);
    g->spans = PyMem_Calloc((size_t)g->nspans + 1, sizeof(MtSpan));
    g->line = PyMem_Calloc((size_t)g->nsnip + 1, sizeof(int));
    if (g->spans == NULL || g->line == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < g->nspans; i++) {
        PyObject *s = PyTuple_GET_ITEM(spans, i);
        int v[6];
        if (!PyTuple_Check(s) || PyTuple_GET_SIZE(s) != 6) {
            PyErr_SetString(PyExc_TypeError,
                            "watch group: a span is a 6-tuple");
            return -1;
        }
        for (int k = 0; k < 6; k++) {
            if (int_item(s, k, &v[k]) < 0) {
                return -1;
            }
        }
        if (v[4] < 0 || v[4] >= g->nsnip) {
            PyErr_SetString(PyExc_ValueError, "watch group: bad snippet id");
            return -1;
        }
        g->spans[i] = (MtSpan){v[0], v[1], v[2], v[3], v[4], (uint8_t) !!v[5]};
        g->line[v[4]] = v[0];
    }
    return 0;
}

static int
read_names(MtSnippetGroup *g)
{
    g->base = PyMem_Calloc((size_t)g->nsnip + 1, sizeof(Py_ssize_t));
    if (g->base == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t slot = 0;
    for (Py_ssize_t i = 0; i < g->nsnip; i++) {
        PyObject *names = PyTuple_GET_ITEM(g->names, i);
        if (!PyTuple_Check(names)) {
            PyErr_SetString(PyExc_TypeError,
                            "watch group: names must be tuples");
            return -1;
        }
        g->base[i] = slot;
        slot += PyTuple_GET_SIZE(names);
    }
    g->base[g->nsnip] = slot;
    g->nslots = slot;
    return 0;
}

MtSnippetGroup *
mt_snippets_group_new(PyObject *obj)
{
    PyObject *spans = NULL, *ops = NULL, *mode = NULL;
    MtSnippetGroup *g = PyMem_Calloc(1, sizeof(*g));
    if (g == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    g->obj = Py_NewRef(obj);
    g->keys = PyObject_GetAttrString(obj, "keys");
    g->names = g->keys ? PyObject_GetAttrString(obj, "names") : NULL;
    g->anchor = g->names ? PyObject_GetAttrString(obj, "anchor") : NULL;
    if (g->anchor == NULL) {
        goto error;
    }
    if (!PyTuple_Check(g->keys) || !PyTuple_Check(g->names)
        || PyTuple_GET_SIZE(g->keys) != PyTuple_GET_SIZE(g->names)) {
        PyErr_SetString(PyExc_TypeError,
                        "watch group: keys and names must be tuples of "
                        "the same length");
        goto error;
    }
    g->nsnip = PyTuple_GET_SIZE(g->keys);
    mode = PyObject_GetAttrString(obj, "stack_mode");
    if (mode == NULL) {
        goto error;
    }
    g->stack_mode = (int)PyLong_AsLong(mode);
    if (g->stack_mode == -1 && PyErr_Occurred()) {
        goto error;
    }
    if (read_names(g) < 0) {
        goto error;
    }
    spans = PyObject_GetAttrString(obj, "spans");
    if (spans == NULL || read_spans(g, spans) < 0) {
        goto error;
    }
    ops = PyObject_GetAttrString(obj, "iter_ops");
    if (ops == NULL) {
        goto error;
    }
    if (!PyBytes_Check(ops) || PyBytes_GET_SIZE(ops) != 256) {
        PyErr_SetString(PyExc_TypeError,
                        "watch group: iter_ops must be 256 bytes");
        goto error;
    }
    memcpy(g->iter_op, PyBytes_AS_STRING(ops), 256);
    Py_DECREF(spans);
    Py_DECREF(ops);
    Py_DECREF(mode);
    return g;

error:
    Py_XDECREF(spans);
    Py_XDECREF(ops);
    Py_XDECREF(mode);
    mt_snippets_group_free(g);
    return NULL;
}

void
mt_snippets_group_free(MtSnippetGroup *g)
{
    if (g == NULL) {
        return;
    }
    Py_XDECREF(g->obj);
    Py_XDECREF(g->keys);
    Py_XDECREF(g->names);
    Py_XDECREF(g->anchor);
    PyMem_Free(g->base);
    PyMem_Free(g->spans);
    PyMem_Free(g->line);
    PyMem_Free(g);
}

static int
span_holds(const MtSpan *s, int ln, int col)
{
    return !(ln < s->sline || ln > s->eline
             || (ln == s->sline && col < s->scol)
             || (ln == s->eline && col >= s->ecol));
}

/* The smallest span of the wanted kind holding (ln, col), or -1. */
static int32_t
lookup(const MtSnippetGroup *g, int ln, int col, int comp)
{
    for (Py_ssize_t i = 0; i < g->nspans; i++) {
        const MtSpan *s = &g->spans[i];
        if (s->comp == comp && span_holds(s, ln, col)) {
            return s->id;
        }
    }
    return -1;
}

/* Start line and column of one co_positions() entry; 0 when either is
 * None (no position: the unit belongs to no snippet). */
static int
position_start(PyObject *pos, int *ln, int *col)
{
    if (!PyTuple_Check(pos) || PyTuple_GET_SIZE(pos) != 4) {
        PyErr_SetString(PyExc_TypeError, "co_positions: bad entry");
        return -1;
    }
    PyObject *l = PyTuple_GET_ITEM(pos, 0), *c = PyTuple_GET_ITEM(pos, 2);
    if (l == Py_None || c == Py_None) {
        return 0;
    }
    if (int_item(pos, 0, ln) < 0 || int_item(pos, 2, col) < 0) {
        return -1;
    }
    return 1;
}

MtSnippetTable *
mt_snippets_table_new(MtSnippetGroup *group, PyObject *code, int is_root,
                      int comp_code)
{
    PyObject *bytes = NULL, *it = NULL, *pos = NULL;
    MtSnippetTable *t = PyMem_Calloc(1, sizeof(*t));
    if (t == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    t->group = group;
    t->is_root = (uint8_t)is_root;
    t->comp_code = comp_code ? -1 : -2;
    t->generator = (((PyCodeObject *)code)->co_flags
                    & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR))
                   != 0;
    bytes = PyCode_GetCode((PyCodeObject *)code);
    if (bytes == NULL) {
        goto error;
    }
    t->nunits = PyBytes_GET_SIZE(bytes) / 2;
    t->units = PyMem_Calloc((size_t)t->nunits + 1, sizeof(MtSnippetUnit));
    if (t->units == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    const unsigned char *ops = (const unsigned char *)PyBytes_AS_STRING(bytes);
    it = PyObject_CallMethod(code, "co_positions", NULL);
    if (it == NULL) {
        goto error;
    }
    Py_ssize_t i = 0;
    while ((pos = PyIter_Next(it)) != NULL) {
        if (i >= t->nunits) {
            Py_CLEAR(pos);
            break;
        }
        MtSnippetUnit *u = &t->units[i];
        u->stmt = u->comp = -1;
        u->iter = group->iter_op[ops[2 * i]];
        int ln = 0, col = 0;
        int have = position_start(pos, &ln, &col);
        Py_CLEAR(pos);
        if (have < 0) {
            goto error;
        }
        if (have) {
            u->comp = lookup(group, ln, col, 1);
            u->stmt = lookup(group, ln, col, 0);
            if (t->comp_code == -1 && u->comp >= 0) {
                t->comp_code = u->comp;
            }
        }
        i++;
    }
    if (PyErr_Occurred()) {
        goto error;
    }
    for (; i < t->nunits; i++) {
        t->units[i].stmt = t->units[i].comp = -1;
    }
    Py_DECREF(it);
    Py_DECREF(bytes);
    return t;

error:
    Py_XDECREF(it);
    Py_XDECREF(bytes);
    mt_snippets_table_free(t);
    return NULL;
}

void
mt_snippets_table_free(MtSnippetTable *t)
{
    if (t != NULL) {
        PyMem_Free(t->units);
        PyMem_Free(t);
    }
}
