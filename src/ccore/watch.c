/* Statement snapshots of watched code (see watch.h). */
#include "watch.h"
#include "recorder.h"
#include "eventlog.h"
#include "guard.h"
#include "monitoring.h"
#include "records.h"
#include "sigdefer.h"
#include "snippets.h"
#include "threadstate.h"
#include "session.h"

#include <frameobject.h>

typedef struct {
    MtSnippetGroup *group; /* Borrowed: the watch owns groups */
    uint64_t *counts;      /* Owned: hits by snippet */
    PyObject **lists;      /* Owned array of owned lists (or NULL), by slot */
    PyObject **last;       /* Owned array of owned reprs (or NULL), by
                              slot: what the tree showed last */
    PyObject *stack;       /* Owned tuple of (qualname, filename, line), or
                              NULL */
    unsigned long thread;  /* ident of the thread that made the call */
} MtWatchCall;

typedef struct {
    PyObject *code;        /* Borrowed: the running frame holds it */
    MtRecord *rec;         /* Borrowed: the tracer owns records */
    PyObject *frame;       /* Borrowed, identity only: the frame object of
                              a generator (to find it again at resume) */
    MtSnippetTable *table; /* Borrowed: the watch owns tables */
    MtWatchCall *call;     /* Borrowed: the watch owns calls; NULL when
                              this frame records nothing */
    int32_t cur;           /* snippet running now, or -1 */
} MtWatchFrame;

struct MtWatchThread {
    MtWatchFrame *frames; /* Owned: watched frames running, innermost last */
    size_t depth;
    size_t capacity;
    MtWatchFrame *parked; /* Owned: suspended generators and coroutines */
    size_t nparked;
    size_t parked_capacity;
};

/* Suspended generators kept per thread; older ones are forgotten. */
#define MT_WATCH_MAX_PARKED 4096

struct MtWatch {
    PyObject *describe;  /* Owned: callable(code) -> (group, is_root,
                            comp_code) or None (watch.py) */
    PyObject *get_local; /* Owned while running: get_local_events */
    PyObject *set_local; /* Owned while running: set_local_events */
    long instruction_bit;
    Py_ssize_t max_calls;
    Py_ssize_t max_samples;
    Py_ssize_t max_values;
    Py_ssize_t repr_limit;
    MtSnippetGroup **groups; /* Owned array of owned groups */
    Py_ssize_t ngroups;
    MtSnippetTable **tables; /* Owned array of owned tables (or NULL), by
                                record index */
    Py_ssize_t ntables;
    MtWatchCall **calls; /* Owned array of owned calls, in call order */
    Py_ssize_t ncalls;
    Py_ssize_t calls_capacity;
    uint64_t values;         /* samples stored */
    uint64_t dropped_calls;  /* calls past max_calls */
    uint64_t dropped_values; /* samples past max_values */
    uint64_t dropped_frames; /* suspended frames forgotten */
};

/* ---- local events: ours OR'ed into whatever else is on ---------------- */

/* Switch `on` bits on and `off` bits off among `code`'s local events for
 * the tracer's tool id, leaving the bits other features of the tracer
 * (lines, breakpoints) set as they are. */
static int
local_events_update(MtTracer *tr, MtWatch *w, PyObject *code, long on,
                    long off)
{
    if (w->get_local == NULL || w->set_local == NULL || tr->tool < 0) {
        return 0;
    }
    return mt_guard_local_events(tr, code, on, off,
                                 "set_local_events (watch)");
}

static void
switch_table(MtTracer *tr, MtWatch *w, MtRecord *rec, MtSnippetTable *t,
             int on)
{
    if (t == NULL || t->events_on == on || !mt_records_alive(rec)) {
        return;
    }
    if (local_events_update(tr, w, rec->key, on ? w->instruction_bit : 0,
                            on ? 0 : w->instruction_bit)
            == 0
        && w->set_local != NULL) {
        t->events_on = (uint8_t)on;
    }
}

/* ---- slow path: describing and attaching code objects ------------------ */

int
mt_watch_describe(MtTracer *tr, PyObject *code, PyObject **desc)
{
    *desc = NULL;
    MtWatch *w = tr->watch;
    if (w == NULL || w->describe == NULL) {
        return 0;
    }
    PyObject *fn = Py_NewRef(w->describe);
    MtGuard g;
    mt_guard_open(&g, tr, MT_GUARD_SIGNALS);
    PyObject *res = PyObject_CallOneArg(fn, code);
    if (res == NULL) {
        mt_guard_fail(&g, MT_ERR_FILTER, "watch description");
    }
    Py_DECREF(fn);
    if (!mt_guard_close(&g)) {
        Py_XDECREF(res);
        return -1;
    }
    if (res == Py_None) {
        Py_CLEAR(res);
    }
    *desc = res;
    return 0;
}

static MtSnippetGroup *
group_for(MtWatch *w, PyObject *obj)
{
    for (Py_ssize_t i = 0; i < w->ngroups; i++) {
        if (w->groups[i]->obj == obj) {
            return w->groups[i];
        }
    }
    MtSnippetGroup **grown =
        PyMem_Realloc(w->groups, sizeof(*grown) * (size_t)(w->ngroups + 1));
    if (grown == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    w->groups = grown;
    MtSnippetGroup *g = mt_snippets_group_new(obj);
    if (g != NULL) {
        w->groups[w->ngroups++] = g;
    }
    return g;
}

static int
store_table(MtWatch *w, Py_ssize_t index, MtSnippetTable *t)
{
    if (index >= w->ntables) {
        Py_ssize_t n = index + 1 > 2 * w->ntables ? index + 1 : 2 * w->ntables;
        MtSnippetTable **grown =
            PyMem_Realloc(w->tables, sizeof(*grown) * (size_t)n);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memset(grown + w->ntables, 0,
               sizeof(*grown) * (size_t)(n - w->ntables));
        w->tables = grown;
        w->ntables = n;
    }
    mt_snippets_table_free(w->tables[index]);
    w->tables[index] = t;
    return 0;
}

void
mt_watch_attach(MtTracer *tr, MtRecord *rec, PyObject *desc)
{
    MtWatch *w = tr->watch;
    PyObject *saved = PyErr_GetRaisedException();
    MtSnippetTable *t = NULL;
    int is_root = 0, comp_code = 0;
    PyObject *obj = NULL;
    if (w == NULL || rec->kind != MT_KIND_PY) {
        goto done;
    }
    if (!PyArg_ParseTuple(desc, "Opp", &obj, &is_root, &comp_code)) {
        goto fail;
    }
    MtSnippetGroup *g = group_for(w, obj);
    if (g == NULL) {
        goto fail;
    }
    t = mt_snippets_table_new(g, rec->key, is_root, comp_code);
    if (t == NULL || store_table(w, rec->index, t) < 0) {
        mt_snippets_table_free(t);
        goto fail;
    }
    rec->watched = 1;
    switch_table(tr, w, rec, t, 1);
    goto done;
fail:
    mt_fail(&tr->failures, MT_ERR_INTERNAL, "watch table");
done:
    Py_XDECREF(desc);
    PyErr_SetRaisedException(saved);
}

static inline MtSnippetTable *
table_of(MtWatch *w, const MtRecord *rec)
{
    return rec->index < w->ntables ? w->tables[rec->index] : NULL;
}

/* ---- values ------------------------------------------------------------ */

/* The value `name` has in `frame`, as tracefunc looks it up: locals (and
 * cells), then globals, then builtins. New reference, or NULL (no
 * exception set) when it has none. Runs no Python code. */
static PyObject *
lookup_name(PyFrameObject *frame, PyObject *name)
{
    if (frame == NULL) {
        return NULL;
    }
    PyObject *v = PyFrame_GetVar(frame, name);
    if (v != NULL) {
        return v;
    }
    PyErr_Clear();
    PyObject *ns[2] = {PyFrame_GetGlobals(frame), PyFrame_GetBuiltins(frame)};
    for (int i = 0; i < 2 && v == NULL; i++) {
        if (ns[i] != NULL && PyDict_Check(ns[i])) {
            v = PyDict_GetItemWithError(ns[i], name);
            Py_XINCREF(v);
        }
        PyErr_Clear();
    }
    Py_XDECREF(ns[0]);
    Py_XDECREF(ns[1]);
    return v;
}

static PyObject *
clip(PyObject *s, Py_ssize_t limit)
{
    if (s == NULL || PyUnicode_GET_LENGTH(s) <= limit) {
        return s;
    }
    PyObject *head = PyUnicode_Substring(s, 0, limit > 3 ? limit - 3 : 0);
    Py_DECREF(s);
    if (head == NULL) {
        return NULL;
    }
    PyObject *out = PyUnicode_FromFormat("%U...", head);
    Py_DECREF(head);
    return out;
}

/* "<repr-error Type: message>" for the exception repr() raised (set). */
static PyObject *
repr_error(void)
{
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *tname = PyType_GetName(Py_TYPE(exc));
    PyObject *msg = tname != NULL ? PyObject_Str(exc) : NULL;
    PyObject *out =
        msg != NULL ? PyUnicode_FromFormat("<repr-error %U: %U>", tname, msg)
                    : NULL;
    if (out == NULL) {
        PyErr_Clear();
        out = PyUnicode_FromString("<repr-error>");
    }
    Py_XDECREF(tname);
    Py_XDECREF(msg);
    Py_DECREF(exc);
    return out;
}

/* (type name, bounded repr) of `value` (stolen; NULL: no value). repr()
 * is the user's code: it runs inside the guard. `*alive` is 0 when the
 * tracer went away meanwhile. NULL on failure (no exception set). */
static PyObject *
sample(MtTracer *tr, PyObject *value, Py_ssize_t limit, int *alive)
{
    *alive = 1;
    if (value == NULL) {
        PyObject *item = Py_BuildValue("(ss)", "NameError", "<unavailable>");
        PyErr_Clear();
        return item;
    }
    PyObject *tname = PyType_GetName(Py_TYPE(value));
    if (tname == NULL) {
        PyErr_Clear();
        Py_DECREF(value);
        return NULL;
    }
    MtGuard g;
    mt_guard_open(&g, tr, MT_GUARD_SIGNALS);
    PyObject *r = PyObject_Repr(value);
    if (r == NULL) {
        mt_guard_caught(&g);
        r = repr_error();
    }
    Py_DECREF(value);
    r = clip(r, limit);
    PyObject *item = r != NULL ? PyTuple_Pack(2, tname, r) : NULL;
    Py_XDECREF(r);
    Py_DECREF(tname);
    *alive = mt_guard_close(&g);
    return item;
}

/* "statement  name=repr ..." for the tree: the statement's first line
 * and the names whose repr differs from the last time it ran in this
 * call. New reference, or NULL (no exception set). */
#define MT_WATCH_TEXT_COLUMN 20

static PyObject *
statement_text(MtSnippetGroup *g, int32_t snip, PyObject *changes)
{
    PyObject *key = PyTuple_GET_ITEM(g->keys, snip);
    Py_ssize_t nl =
        PyUnicode_FindChar(key, '\n', 0, PyUnicode_GET_LENGTH(key), 1);
    PyObject *head =
        nl >= 0 ? PyUnicode_Substring(key, 0, nl) : Py_NewRef(key);
    PyObject *sep = head ? PyUnicode_FromString(" ") : NULL;
    PyObject *tail = sep ? PyUnicode_Join(sep, changes) : NULL;
    /* The changes start in one column for statements up to
     * MT_WATCH_TEXT_COLUMN characters long, two spaces after longer ones. */
    Py_ssize_t len = head ? PyUnicode_GET_LENGTH(head) : 0;
    PyObject *gap =
        tail ? PySequence_Repeat(sep, len < MT_WATCH_TEXT_COLUMN
                                          ? MT_WATCH_TEXT_COLUMN - len + 2
                                          : 2)
             : NULL;
    PyObject *out =
        gap ? (PyUnicode_GET_LENGTH(tail)
                   ? PyUnicode_FromFormat("%U%U%U", head, gap, tail)
                   : Py_NewRef(head))
            : NULL;
    Py_XDECREF(head);
    Py_XDECREF(sep);
    Py_XDECREF(tail);
    Py_XDECREF(gap);
    PyErr_Clear();
    return out;
}

/* Note a name's new repr for the tree: "name=repr" joins `changes` when
 * it differs from the last one shown for this slot. */
static void
note_change(MtWatchCall *call, Py_ssize_t slot, PyObject *name, PyObject *item,
            PyObject *changes)
{
    PyObject *r = PyTuple_GET_ITEM(item, 1);
    PyObject *prev = call->last[slot];
    if (prev != NULL && PyUnicode_Compare(prev, r) == 0) {
        return;
    }
    PyErr_Clear();
    Py_XSETREF(call->last[slot], Py_NewRef(r));
    PyObject *pair = PyUnicode_FromFormat("%U=%U", name, r);
    if (pair == NULL || PyList_Append(changes, pair) < 0) {
        PyErr_Clear();
    }
    Py_XDECREF(pair);
}

/* Count one finished run of snippet `snip` and sample the names it
 * mentions; when the session records or shows a tree, also tell it the
 * statement and what changed (`rec`: the frame's record). 0 when the
 * tracer went away while a repr (or the live tree) ran: touch nothing
 * then. Else 1. */
static int
snapshot(MtTracer *tr, MtWatchCall *call, int32_t snip, MtRecord *rec)
{
    MtWatch *w = tr->watch;
    int keep = (uint64_t)++call->counts[snip] <= (uint64_t)w->max_samples;
    int tell = rec != NULL && mt_eventlog_wants(&tr->log);
    if (!keep && !tell) {
        return 1;
    }
    MtSnippetGroup *g = call->group;
    PyObject *names = PyTuple_GET_ITEM(g->names, snip);
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    if (n == 0 && !tell) {
        return 1;
    }
    Py_ssize_t limit = w->repr_limit;
    PyObject *saved = PyErr_GetRaisedException();
    PyFrameObject *frame = PyEval_GetFrame(); /* Borrowed */
    Py_XINCREF(frame);
    PyObject *changes = tell ? PyList_New(0) : NULL;
    PyErr_Clear();
    int alive = 1;
    for (Py_ssize_t k = 0; k < n; k++) {
        int store = keep;
        if (store && (uint64_t)w->max_values <= w->values) {
            w->dropped_values++;
            store = 0;
        }
        if (!store && changes == NULL) {
            continue;
        }
        Py_ssize_t slot = g->base[snip] + k;
        PyObject *name = PyTuple_GET_ITEM(names, k);
        PyObject *item = sample(tr, lookup_name(frame, name), limit, &alive);
        if (!alive) {
            Py_XDECREF(item);
            break;
        }
        if (item == NULL) {
            mt_fail(&tr->failures, MT_ERR_NOMEM, "watch sample");
            continue;
        }
        if (changes != NULL) {
            note_change(call, slot, name, item, changes);
        }
        if (store) {
            if (call->lists[slot] == NULL) {
                call->lists[slot] = PyList_New(0);
            }
            if (call->lists[slot] == NULL
                || PyList_Append(call->lists[slot], item) < 0) {
                PyErr_Clear();
                mt_fail(&tr->failures, MT_ERR_NOMEM, "watch sample");
            }
            else {
                w->values++;
            }
        }
        Py_DECREF(item);
    }
    Py_XDECREF(frame);
    if (alive && changes != NULL) {
        PyObject *text = statement_text(g, snip, changes);
        if (text != NULL) {
            alive = mt_recorder_statement(tr, rec, g->line[snip], text);
        }
    }
    Py_XDECREF(changes);
    PyErr_SetRaisedException(saved);
    return alive;
}

/* ---- calls and frames --------------------------------------------------- */

/* (qualname, filename, line) of each frame from the watched call outward,
 * outermost first, cut at the outermost frame of the group's anchor. NULL
 * when the group keeps no stack or on failure. */
static PyObject *
capture_stack(MtSnippetGroup *g)
{
    if (g->stack_mode == 0) {
        return NULL;
    }
    PyObject *items = PyList_New(0);
    PyFrameObject *f = PyEval_GetFrame();
    Py_XINCREF(f);
    Py_ssize_t cut = -1;
    while (f != NULL && items != NULL) {
        PyCodeObject *co = PyFrame_GetCode(f);
        PyObject *item =
            Py_BuildValue("(OOi)", co->co_qualname, co->co_filename,
                          PyFrame_GetLineNumber(f));
        if (item == NULL || PyList_Append(items, item) < 0) {
            Py_CLEAR(items);
        }
        else if ((PyObject *)co == g->anchor) {
            cut = PyList_GET_SIZE(items);
        }
        Py_XDECREF(item);
        Py_DECREF(co);
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_SETREF(f, back);
    }
    Py_XDECREF(f);
    if (items == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (g->stack_mode == 1) {
        if (cut < 0) {
            cut = 0;
        }
        if (PyList_SetSlice(items, cut, PyList_GET_SIZE(items), NULL) < 0) {
            PyErr_Clear();
        }
    }
    if (PyList_Reverse(items) < 0) {
        PyErr_Clear();
    }
    PyObject *out = PyList_AsTuple(items);
    Py_DECREF(items);
    PyErr_Clear();
    return out;
}

static void
call_free(MtWatchCall *c)
{
    if (c == NULL) {
        return;
    }
    for (Py_ssize_t i = 0; c->lists != NULL && i < c->group->nslots; i++) {
        Py_XDECREF(c->lists[i]);
    }
    for (Py_ssize_t i = 0; c->last != NULL && i < c->group->nslots; i++) {
        Py_XDECREF(c->last[i]);
    }
    PyMem_Free(c->lists);
    PyMem_Free(c->last);
    PyMem_Free(c->counts);
    Py_XDECREF(c->stack);
    PyMem_Free(c);
}

static MtWatchCall *
new_call(MtTracer *tr, MtWatch *w, MtSnippetGroup *g)
{
    if (w->ncalls >= w->max_calls) {
        w->dropped_calls++;
        return NULL;
    }
    PyObject *saved = PyErr_GetRaisedException();
    MtWatchCall *c = PyMem_Calloc(1, sizeof(*c));
    if (c == NULL) {
        goto nomem;
    }
    c->group = g;
    c->counts = PyMem_Calloc((size_t)g->nsnip + 1, sizeof(uint64_t));
    c->lists = PyMem_Calloc((size_t)g->nslots + 1, sizeof(PyObject *));
    c->last = PyMem_Calloc((size_t)g->nslots + 1, sizeof(PyObject *));
    if (c->counts == NULL || c->lists == NULL || c->last == NULL) {
        goto nomem;
    }
    if (w->ncalls == w->calls_capacity) {
        Py_ssize_t n = w->calls_capacity ? 2 * w->calls_capacity : 16;
        MtWatchCall **grown =
            PyMem_Realloc(w->calls, sizeof(*grown) * (size_t)n);
        if (grown == NULL) {
            goto nomem;
        }
        w->calls = grown;
        w->calls_capacity = n;
    }
    c->stack = capture_stack(g);
    c->thread = PyThread_get_thread_ident();
    w->calls[w->ncalls++] = c;
    PyErr_SetRaisedException(saved);
    return c;

nomem:
    call_free(c);
    mt_fail(&tr->failures, MT_ERR_NOMEM, "watch call");
    PyErr_SetRaisedException(saved);
    return NULL;
}

/* A thread's watch state goes with the thread (threadstate.c). */
static void
thread_free(MtWatchThread *wt)
{
    PyMem_Free(wt->frames);
    PyMem_Free(wt->parked);
    PyMem_Free(wt);
}

static MtWatchThread *
thread_watch(MtTracer *tr, MtThreadState *ts)
{
    if (ts->watch == NULL) {
        ts->watch = PyMem_Calloc(1, sizeof(MtWatchThread));
        ts->watch_free = thread_free;
        if (ts->watch == NULL) {
            mt_fail(&tr->failures, MT_ERR_NOMEM, "watch thread");
        }
    }
    return ts->watch;
}

static int
push(MtTracer *tr, MtWatchThread *wt, MtWatchFrame f)
{
    if (wt->depth == wt->capacity) {
        size_t n = wt->capacity ? 2 * wt->capacity : 16;
        MtWatchFrame *grown = PyMem_Realloc(wt->frames, sizeof(*grown) * n);
        if (grown == NULL) {
            mt_fail(&tr->failures, MT_ERR_NOMEM, "watch stack");
            return -1;
        }
        wt->frames = grown;
        wt->capacity = n;
    }
    wt->frames[wt->depth++] = f;
    return 0;
}

static void
park(MtTracer *tr, MtWatch *w, MtWatchThread *wt, MtWatchFrame f)
{
    if (wt->nparked == MT_WATCH_MAX_PARKED) {
        memmove(wt->parked, wt->parked + 1,
                sizeof(*wt->parked) * (wt->nparked - 1));
        wt->nparked--;
        w->dropped_frames++;
    }
    if (wt->nparked == wt->parked_capacity) {
        size_t n = wt->parked_capacity ? 2 * wt->parked_capacity : 8;
        MtWatchFrame *grown = PyMem_Realloc(wt->parked, sizeof(*grown) * n);
        if (grown == NULL) {
            mt_fail(&tr->failures, MT_ERR_NOMEM, "watch generators");
            return;
        }
        wt->parked = grown;
        wt->parked_capacity = n;
    }
    wt->parked[wt->nparked++] = f;
}

/* Take the parked frame `frame` out (found: 1, into *out). */
static int
unpark(MtWatchThread *wt, PyObject *frame, MtWatchFrame *out)
{
    for (size_t i = wt->nparked; i-- > 0;) {
        if (wt->parked[i].frame == frame) {
            if (out != NULL) {
                *out = wt->parked[i];
            }
            memmove(wt->parked + i, wt->parked + i + 1,
                    sizeof(*wt->parked) * (wt->nparked - i - 1));
            wt->nparked--;
            return 1;
        }
    }
    return 0;
}

void
mt_watch_enter(MtTracer *tr, MtRecord *rec, MtEvent ev)
{
    MtWatch *w = tr->watch;
    MtSnippetTable *t = w != NULL ? table_of(w, rec) : NULL;
    MtThreadState *ts = t != NULL ? mt_thread_current(tr) : NULL;
    MtWatchThread *wt = ts != NULL ? thread_watch(tr, ts) : NULL;
    if (wt == NULL) {
        return;
    }
    MtWatchFrame f = {rec->key, rec, NULL, t, NULL, -1};
    if (t->generator) {
        f.frame = (PyObject *)PyEval_GetFrame();
    }
    if (ev != MT_EV_PY_START) {
        /* A generator or coroutine goes on where it stopped. */
        if (f.frame != NULL && unpark(wt, f.frame, &f)) {
            f.code = rec->key;
            f.rec = rec;
        }
        push(tr, wt, f);
        return;
    }
    if (f.frame != NULL) {
        /* A new frame at the address of one never finished. */
        (void)unpark(wt, f.frame, NULL);
    }
    if (t->is_root) {
        f.call = new_call(tr, w, t->group);
    }
    else {
        /* Inner code runs as part of the call of its group that runs. */
        for (size_t i = wt->depth; i-- > 0;) {
            if (wt->frames[i].table->group == t->group) {
                f.call = wt->frames[i].call;
                break;
            }
        }
    }
    push(tr, wt, f);
}

int
mt_watch_leave(MtTracer *tr, MtRecord *rec, MtEvent ev)
{
    MtWatch *w = tr->watch;
    MtSnippetTable *t = w != NULL ? table_of(w, rec) : NULL;
    MtThreadState *ts = t != NULL ? mt_thread_current(tr) : NULL;
    MtWatchThread *wt = ts != NULL ? ts->watch : NULL;
    if (wt == NULL) {
        return 1;
    }
    size_t i = wt->depth;
    while (i > 0 && wt->frames[i - 1].code != rec->key) {
        i--;
    }
    if (i == 0) {
        return 1; /* began before we watched */
    }
    MtWatchFrame f = wt->frames[i - 1];
    wt->depth = i - 1; /* frames above it lost their ends */
    if (ev == MT_EV_PY_YIELD && t->generator && f.frame != NULL) {
        park(tr, w, wt, f);
        return 1;
    }
    if (f.call != NULL && f.cur >= 0) {
        return snapshot(tr, f.call, f.cur, f.rec);
    }
    return 1;
}

PyObject *
mt_watch_instruction(MtTracer *tr, PyObject *const *args)
{
    MtThreadState *ts = mt_thread_current(tr);
    MtWatchThread *wt = ts != NULL ? ts->watch : NULL;
    if (MT_UNLIKELY(wt == NULL || wt->depth == 0)) {
        Py_RETURN_NONE;
    }
    MtWatchFrame *f = &wt->frames[wt->depth - 1];
    if (f->code != args[0] || f->call == NULL) {
        Py_RETURN_NONE;
    }
    Py_ssize_t unit = PyLong_AsSsize_t(args[1]) / 2;
    const MtSnippetTable *t = f->table;
    if (MT_UNLIKELY(unit < 0 || unit >= t->nunits)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    const MtSnippetUnit *u = &t->units[unit];
    MtWatchCall *call = f->call;
    if (t->comp_code != -2) {
        /* A comprehension's own frame: one snapshot per element. */
        if (t->comp_code >= 0 && u->iter) {
            snapshot(tr, call, t->comp_code, f->rec);
        }
        Py_RETURN_NONE;
    }
    if (u->iter && u->comp >= 0 && !snapshot(tr, call, u->comp, f->rec)) {
        Py_RETURN_NONE;
    }
    int32_t stmt = u->stmt;
    if (MT_LIKELY(stmt < 0 || stmt == f->cur)) {
        Py_RETURN_NONE;
    }
    int32_t prev = f->cur;
    MtRecord *rec = f->rec;
    f->cur = stmt; /* before any Python code runs: f may move after */
    if (prev >= 0) {
        snapshot(tr, call, prev, rec);
    }
    Py_RETURN_NONE;
}

/* ---- lifetime ----------------------------------------------------------- */

void
mt_watch_start(MtTracer *tr)
{
    MtWatch *w = tr->watch;
    if (w == NULL) {
        return;
    }
    PyObject *saved = PyErr_GetRaisedException();
    PyObject *events = mt_monitoring_attr("events");
    PyObject *bit =
        events ? PyObject_GetAttrString(events, "INSTRUCTION") : NULL;
    w->instruction_bit = bit ? PyLong_AsLong(bit) : -1;
    Py_XDECREF(bit);
    Py_XDECREF(events);
    Py_XSETREF(w->get_local, mt_monitoring_attr("get_local_events"));
    Py_XSETREF(w->set_local, mt_monitoring_attr("set_local_events"));
    if (w->get_local == NULL || w->set_local == NULL
        || w->instruction_bit <= 0) {
        Py_CLEAR(w->get_local);
        Py_CLEAR(w->set_local);
        mt_fail(&tr->failures, MT_ERR_INTERNAL, "instruction events");
    }
    else {
        for (Py_ssize_t i = 0; i < tr->records.count && i < w->ntables; i++) {
            switch_table(tr, w, tr->records.items[i], w->tables[i], 1);
        }
    }
    PyErr_SetRaisedException(saved);
}

static void
forget_frames(MtTracer *tr)
{
    for (MtThreadState *ts = tr->threads; ts != NULL; ts = ts->next) {
        if (ts->watch != NULL) {
            ts->watch->depth = 0;
            ts->watch->nparked = 0;
        }
    }
}

void
mt_watch_stop(MtTracer *tr)
{
    MtWatch *w = tr->watch;
    if (w == NULL) {
        return;
    }
    for (Py_ssize_t i = 0; i < tr->records.count && i < w->ntables; i++) {
        switch_table(tr, w, tr->records.items[i], w->tables[i], 0);
    }
    Py_CLEAR(w->get_local);
    Py_CLEAR(w->set_local);
    /* Frames still running when we stopped: their ends will not come. */
    forget_frames(tr);
}

void
mt_watch_clear(MtTracer *tr)
{
    MtWatch *w = tr->watch;
    if (w == NULL) {
        return;
    }
    for (Py_ssize_t i = 0; i < w->ncalls; i++) {
        call_free(w->calls[i]);
    }
    PyMem_Free(w->calls);
    w->calls = NULL;
    w->ncalls = w->calls_capacity = 0;
    for (Py_ssize_t i = 0; i < w->ntables; i++) {
        mt_snippets_table_free(w->tables[i]);
    }
    PyMem_Free(w->tables);
    w->tables = NULL;
    w->ntables = 0;
    for (Py_ssize_t i = 0; i < w->ngroups; i++) {
        mt_snippets_group_free(w->groups[i]);
    }
    PyMem_Free(w->groups);
    w->groups = NULL;
    w->ngroups = 0;
    w->values = w->dropped_calls = w->dropped_values = w->dropped_frames = 0;
}

void
mt_watch_free(MtTracer *tr)
{
    MtWatch *w = tr->watch;
    if (w == NULL) {
        return;
    }
    mt_watch_clear(tr);
    tr->watch = NULL;
    Py_CLEAR(w->describe);
    Py_CLEAR(w->get_local);
    Py_CLEAR(w->set_local);
    PyMem_Free(w);
}

int
mt_watch_traverse(MtTracer *tr, visitproc visit, void *arg)
{
    MtWatch *w = tr->watch;
    if (w == NULL) {
        return 0;
    }
    Py_VISIT(w->describe);
    Py_VISIT(w->get_local);
    Py_VISIT(w->set_local);
    for (Py_ssize_t i = 0; i < w->ngroups; i++) {
        Py_VISIT(w->groups[i]->obj);
        Py_VISIT(w->groups[i]->keys);
        Py_VISIT(w->groups[i]->names);
        Py_VISIT(w->groups[i]->anchor);
    }
    for (Py_ssize_t i = 0; i < w->ncalls; i++) {
        MtWatchCall *c = w->calls[i];
        Py_VISIT(c->stack);
        for (Py_ssize_t k = 0; k < c->group->nslots; k++) {
            Py_VISIT(c->lists[k]);
            Py_VISIT(c->last[k]);
        }
    }
    return 0;
}

/* ---- Python methods ----------------------------------------------------- */

const char mt_watch_configure_doc[] =
    "watch_configure($self, /, describe, *, max_calls=10, max_samples=10,\n"
    "                max_values=1000000, repr_limit=80)\n--\n\n"
    "Watch the code objects the filter marks with the WATCH bit (8): each\n"
    "gets INSTRUCTION events and a snippet table from describe(code), which\n"
    "returns (group, is_root, is_comprehension_code) or None. The tracer\n"
    "must be stopped. Forgets the snapshots taken so far.";

PyObject *
mt_watch_configure_method(PyObject *self, PyObject *args, PyObject *kwargs)
{
    MtTracer *tr = (MtTracer *)self;
    static char *kwlist[] = {"describe",   "max_calls",  "max_samples",
                             "max_values", "repr_limit", NULL};
    PyObject *describe;
    Py_ssize_t max_calls = 10, max_samples = 10, max_values = 1000000,
               repr_limit = 80;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$nnnn:watch_configure",
                                     kwlist, &describe, &max_calls,
                                     &max_samples, &max_values, &repr_limit)) {
        return NULL;
    }
    if (mt_guard_refuse(tr, "watch_configure", 1) < 0) {
        return NULL;
    }
    if (!PyCallable_Check(describe)) {
        PyErr_SetString(PyExc_TypeError, "watch: describe must be callable");
        return NULL;
    }
    if (max_calls < 0 || max_samples < 0 || max_values < 0 || repr_limit < 1) {
        PyErr_SetString(PyExc_ValueError,
                        "watch: max_calls, max_samples and max_values must "
                        "be >= 0 and repr_limit >= 1");
        return NULL;
    }
    if (tr->watch == NULL) {
        tr->watch = PyMem_Calloc(1, sizeof(MtWatch));
        if (tr->watch == NULL) {
            return PyErr_NoMemory();
        }
    }
    MtWatch *w = tr->watch;
    mt_watch_clear(tr);
    Py_XSETREF(w->describe, Py_NewRef(describe));
    w->max_calls = max_calls;
    w->max_samples = max_samples;
    w->max_values = max_values;
    w->repr_limit = repr_limit;
    Py_RETURN_NONE;
}

const char mt_watch_results_doc[] =
    "watch_results($self, /)\n--\n\n"
    "(calls, info): one (group, stack, counts, samples, thread) tuple per\n"
    "recorded call, in call order (stack: tuple of (qualname, filename,\n"
    "line) outermost first, or None; counts: hits by snippet; samples: a\n"
    "list of (type name, repr) or None by (snippet, name) slot), and a dict\n"
    "of the values stored and what the caps dropped.";

static PyObject *
call_result(const MtWatchCall *c)
{
    const MtSnippetGroup *g = c->group;
    PyObject *counts = PyTuple_New(g->nsnip);
    PyObject *samples = counts ? PyTuple_New(g->nslots) : NULL;
    if (samples == NULL) {
        Py_XDECREF(counts);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < g->nsnip; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(c->counts[i]);
        if (v == NULL) {
            Py_DECREF(counts);
            Py_DECREF(samples);
            return NULL;
        }
        PyTuple_SET_ITEM(counts, i, v);
    }
    for (Py_ssize_t i = 0; i < g->nslots; i++) {
        PyObject *l = c->lists[i]
                          ? PyList_GetSlice(c->lists[i], 0, PY_SSIZE_T_MAX)
                          : Py_NewRef(Py_None);
        if (l == NULL) {
            Py_DECREF(counts);
            Py_DECREF(samples);
            return NULL;
        }
        PyTuple_SET_ITEM(samples, i, l);
    }
    return Py_BuildValue("(OONNk)", g->obj, c->stack ? c->stack : Py_None,
                         counts, samples, c->thread);
}

PyObject *
mt_watch_results_method(PyObject *self, PyObject *Py_UNUSED(unused))
{
    MtTracer *tr = (MtTracer *)self;
    MtWatch *w = tr->watch;
    PyObject *calls = PyList_New(0);
    if (calls == NULL) {
        return NULL;
    }
    Py_ssize_t n = w != NULL ? w->ncalls : 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = call_result(w->calls[i]);
        if (item == NULL || PyList_Append(calls, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(calls);
            return NULL;
        }
        Py_DECREF(item);
    }
    return Py_BuildValue("(N{sKsKsKsK})", calls, "values",
                         w ? w->values : 0ULL, "dropped_calls",
                         w ? w->dropped_calls : 0ULL, "dropped_values",
                         w ? w->dropped_values : 0ULL, "dropped_frames",
                         w ? w->dropped_frames : 0ULL);
}
