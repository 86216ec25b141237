/* Breakpoints and the error snooper through local events (see
 * breakpoints.h). */
#include "breakpoints.h"
#include "guard.h"
#include "monitoring.h"
#include "records.h"
#include "sigdefer.h"
#include "session.h"

#include <stdlib.h>

/* Lines kept per frame for the error snooper. */
#define MT_SNOOP_LINES 10
/* Frames followed at once by the snooper (a direct-mapped table keyed by
 * the interpreter frame's address: live frames are a stack, so a few
 * dozen slots hold the frames an exception can leave). */
#define MT_SNOOP_SLOTS 128

typedef struct {
    int32_t line;
    uint8_t spent;      /* a temporary breakpoint that fired */
    PyObject *cond;     /* Owned: the condition as a function, or NULL */
    PyObject *argnames; /* Owned tuple of str: the condition's parameters,
                           fetched from the frame; or NULL */
    PyObject *bp;       /* Owned: the Python breakpoint, handed to fire() */
} MtBreakSite;

typedef struct {
    Py_ssize_t n;
    MtBreakSite sites[]; /* sorted by line */
} MtBreakCode;

typedef struct {
    MtBreakCode *brk; /* Owned, or NULL: no breakpoint in the code */
    long local_on;    /* local event bits this tracer switched on */
} MtTargetRec;

typedef struct {
    const void *frame; /* identity only */
    const void *code;  /* identity only */
    uint32_t count;    /* lines seen, the last MT_SNOOP_LINES kept */
    int32_t lines[MT_SNOOP_LINES];
} MtSnoopFrame;

struct MtTargets {
    PyObject *planner;  /* Owned, or NULL: no breakpoints */
    PyObject *fire;     /* Owned, or NULL */
    PyObject *on_error; /* Owned, or NULL: no error snooper */
    int started;        /* between mt_targets_start and _stop */
    long line_bit;      /* sys.monitoring.events.LINE */
    MtTargetRec *recs;  /* Owned array, by record index */
    Py_ssize_t nrecs;
    MtSnoopFrame snoop[MT_SNOOP_SLOTS];
};

static MtTargetRec *
target_rec(MtTracer *tr, const MtRecord *rec)
{
    MtTargets *t = tr->targets;
    if (rec->index >= t->nrecs) {
        Py_ssize_t n = t->nrecs ? t->nrecs : 64;
        while (n <= rec->index) {
            n *= 2;
        }
        MtTargetRec *recs = PyMem_Realloc(t->recs, n * sizeof(*recs));
        if (recs == NULL) {
            mt_fail(&tr->failures, MT_ERR_NOMEM, "breakpoint tables");
            return NULL;
        }
        memset(recs + t->nrecs, 0, (n - t->nrecs) * sizeof(*recs));
        t->recs = recs;
        t->nrecs = n;
    }
    return &t->recs[rec->index];
}

static void
free_break_code(MtBreakCode *bc)
{
    if (bc == NULL) {
        return;
    }
    for (Py_ssize_t i = 0; i < bc->n; i++) {
        Py_XDECREF(bc->sites[i].cond);
        Py_XDECREF(bc->sites[i].argnames);
        Py_XDECREF(bc->sites[i].bp);
    }
    PyMem_Free(bc);
}

long
mt_targets_local_events(MtTracer *tr, MtRecord *rec)
{
    MtTargets *t = tr->targets;
    if (t == NULL || rec->kind != MT_KIND_PY || !mt_records_alive(rec)) {
        return 0;
    }
    long bits = 0;
    if (rec->index < t->nrecs && t->recs[rec->index].brk != NULL) {
        bits |= t->line_bit;
    }
    if (t->on_error != NULL && rec->traced) {
        bits |= t->line_bit;
    }
    return bits;
}

/* Bring `rec`'s local events in line with mt_targets_local_events. */
static void
sync_local(MtTracer *tr, MtRecord *rec, int on)
{
    MtTargets *t = tr->targets;
    if (!t->started || tr->tool < 0 || rec->kind != MT_KIND_PY
        || !mt_records_alive(rec)) {
        return;
    }
    MtTargetRec *tg = target_rec(tr, rec);
    if (tg == NULL) {
        return;
    }
    long want = on ? mt_targets_local_events(tr, rec) : 0;
    if (want == tg->local_on) {
        return;
    }
    if (mt_guard_local_events(tr, rec->key, want & ~tg->local_on,
                              tg->local_on & ~want, "set_local_events")
        == 0) {
        tg->local_on = want;
    }
}

/* ---- the plan of one code object -------------------------------------- */

static int
site_order(const void *a, const void *b)
{
    int32_t x = ((const MtBreakSite *)a)->line;
    int32_t y = ((const MtBreakSite *)b)->line;
    return (x > y) - (x < y);
}

/* The planner's list as a table; NULL with an exception set, or NULL
 * without one for an empty plan. */
static MtBreakCode *
build_plan(PyObject *plan)
{
    PyObject *seq = PySequence_Fast(plan, "breakpoint plan must be a list");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n == 0) {
        Py_DECREF(seq);
        return NULL;
    }
    MtBreakCode *bc =
        PyMem_Calloc(1, sizeof(*bc) + (size_t)n * sizeof(MtBreakSite));
    if (bc == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        long line;
        PyObject *cond, *names, *bp;
        if (!PyTuple_Check(item)
            || !PyArg_ParseTuple(item, "lOOO", &line, &cond, &names, &bp)) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError,
                                "breakpoint plan items are tuples");
            }
            goto error;
        }
        if (line < 0 || line > INT32_MAX
            || (cond != Py_None && !PyCallable_Check(cond))
            || (names != Py_None && !PyTuple_Check(names))) {
            PyErr_SetString(PyExc_ValueError, "bad breakpoint plan item");
            goto error;
        }
        MtBreakSite *s = &bc->sites[bc->n++];
        s->line = (int32_t)line;
        s->cond = cond == Py_None ? NULL : Py_NewRef(cond);
        s->argnames = names == Py_None ? NULL : Py_NewRef(names);
        s->bp = Py_NewRef(bp);
    }
    Py_DECREF(seq);
    qsort(bc->sites, (size_t)bc->n, sizeof(MtBreakSite), site_order);
    return bc;

error:
    Py_DECREF(seq);
    free_break_code(bc);
    return NULL;
}

int
mt_targets_code_seen(MtTracer *tr, MtRecord *rec)
{
    MtTargets *t = tr->targets;
    if (t == NULL || rec->kind != MT_KIND_PY || !mt_records_alive(rec)) {
        return 0;
    }
    if (t->planner != NULL) {
        PyObject *code = Py_NewRef(rec->key);
        PyObject *module = rec->module != NULL ? rec->module : Py_None;
        Py_INCREF(module);
        PyObject *planner = Py_NewRef(t->planner);
        MtGuard g;
        mt_guard_open(&g, tr, MT_GUARD_SIGNALS);
        PyObject *globals = mt_compat_frame_globals_new();
        if (globals == NULL) {
            PyErr_Clear();
            globals = Py_NewRef(Py_None);
        }
        PyObject *plan =
            PyObject_CallFunctionObjArgs(planner, code, module, globals, NULL);
        Py_DECREF(planner);
        Py_DECREF(globals);
        Py_DECREF(module);
        Py_DECREF(code);
        MtBreakCode *bc = NULL;
        if (plan != NULL && plan != Py_None) {
            bc = build_plan(plan);
        }
        Py_XDECREF(plan);
        if (PyErr_Occurred()) {
            mt_guard_fail(&g, MT_ERR_FILTER, "breakpoint planner");
        }
        /* The tracer may have been stopped or cleared meanwhile: then
         * `rec` is gone, and so is the plan. */
        if (!mt_guard_close(&g) || tr->targets != t) {
            free_break_code(bc);
            return -1;
        }
        MtTargetRec *tg = bc != NULL ? target_rec(tr, rec) : NULL;
        if (tg != NULL) {
            free_break_code(tg->brk);
            tg->brk = bc;
        }
        else {
            free_break_code(bc);
        }
    }
    sync_local(tr, rec, 1);
    return 0;
}

/* ---- LINE -------------------------------------------------------------- */

static MtBreakSite *
find_site(MtBreakCode *bc, int32_t line)
{
    Py_ssize_t lo = 0, hi = bc->n;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (bc->sites[mid].line < line) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo < bc->n && bc->sites[lo].line == line ? &bc->sites[lo] : NULL;
}

static inline MtSnoopFrame *
snoop_slot(MtTargets *t, const void *frame)
{
    uintptr_t h = (uintptr_t)frame;
    h ^= h >> 7;
    h ^= h >> 13;
    return &t->snoop[h & (MT_SNOOP_SLOTS - 1)];
}

static void
snoop_line(MtTargets *t, const void *code, int32_t line)
{
    const void *frame = mt_compat_frame_key();
    MtSnoopFrame *f = snoop_slot(t, frame);
    if (f->frame != frame || f->code != code) {
        f->frame = frame;
        f->code = code;
        f->count = 0;
    }
    f->lines[f->count % MT_SNOOP_LINES] = line;
    f->count++;
}

/* Evaluate the condition of `s` in `frame`: 1 true, 0 false, -1 with an
 * exception set. Python code runs: the caller holds the guard. */
static int
check_condition(PyObject *cond, PyObject *names, PyFrameObject *frame)
{
    PyObject *argv[8];
    PyObject **args = argv;
    Py_ssize_t n = names != NULL ? PyTuple_GET_SIZE(names) : 0;
    if (n > (Py_ssize_t)(sizeof(argv) / sizeof(argv[0]))) {
        args = PyMem_Malloc((size_t)n * sizeof(PyObject *));
        if (args == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    Py_ssize_t got = 0;
    int rc = -1;
    for (; got < n; got++) {
        args[got] = PyFrame_GetVar(frame, PyTuple_GET_ITEM(names, got));
        if (args[got] == NULL) {
            goto done;
        }
    }
    PyObject *res = PyObject_Vectorcall(cond, args, (size_t)n, NULL);
    if (res != NULL) {
        rc = PyObject_IsTrue(res);
        Py_DECREF(res);
    }
done:
    for (Py_ssize_t i = 0; i < got; i++) {
        Py_DECREF(args[i]);
    }
    if (args != argv) {
        PyMem_Free(args);
    }
    return rc;
}

/* A breakpoint site was reached: evaluate its condition, then fire. */
static MT_NOINLINE int
hit(MtTracer *tr, MtBreakSite *s)
{
    MtTargets *t = tr->targets;
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed */
    if (frame == NULL) {
        return MT_TARGET_WANTED;
    }
    PyObject *fire = Py_NewRef(t->fire);
    PyObject *bp = Py_NewRef(s->bp);
    PyObject *cond = Py_XNewRef(s->cond);
    PyObject *names = Py_XNewRef(s->argnames);
    Py_INCREF(frame);
    MtGuard g;
    mt_guard_open(&g, tr, 0); /* no signal bracket: see the condition */
    int truth = 1;
    PyObject *error = NULL;
    PyObject *res = NULL;
    if (cond != NULL && PyErr_CheckSignals() < 0) {
        /* A signal already pending: its Python handler runs now, at the
         * start of this line of the program, as it would at the
         * program's next check, and what it raises reaches the program
         * instead of passing for the condition's error. */
        truth = -2;
    }
    else if (cond != NULL) {
        /* No signal bracket here (sigdefer.h): it would cost more than
         * the condition itself, on every pass of a loop. Handlers due
         * before the condition ran just above; only a signal landing
         * while it runs is seen there. What SIGINT's handler raises in
         * the condition reaches the program below. */
        truth = check_condition(cond, names, frame);
        if (truth < 0 && PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
            truth = -2;
        }
        else if (truth < 0) {
            error = PyErr_GetRaisedException();
        }
    }
    if (truth == -2) {
        /* KeyboardInterrupt, or a pending handler's exception: to the
         * program, as pdb lets them through. */
        res = NULL;
    }
    else if (truth != 0) {
        /* fire() runs the action (pdb reads the terminal: signals are not
         * deferred here, so Ctrl-C reaches pdb as it would). */
        res = PyObject_CallFunctionObjArgs(fire, bp, (PyObject *)frame,
                                           error != NULL ? error : Py_None,
                                           NULL);
    }
    else {
        res = Py_NewRef(Py_None);
    }
    Py_XDECREF(error);
    Py_DECREF(frame);
    Py_XDECREF(names);
    Py_XDECREF(cond);
    Py_DECREF(bp);
    Py_DECREF(fire);
    int spent = 0;
    if (res != NULL) {
        spent = PyObject_IsTrue(res) > 0;
        Py_DECREF(res);
        PyErr_Clear();
    }
    if (res == NULL) {
        /* fire() lets through only what must reach the program, as under
         * pdb: its quit (BdbQuit, SystemExit) and KeyboardInterrupt. */
        mt_guard_close_raising(&g);
        return MT_TARGET_RAISE;
    }
    if (!mt_guard_close(&g) || tr->targets != t) {
        return MT_TARGET_GONE;
    }
    if (spent) {
        s->spent = 1;
    }
    return MT_TARGET_WANTED;
}

int
mt_targets_line(MtTracer *tr, MtRecord *rec, PyObject *const *args)
{
    MtTargets *t = tr->targets;
    if (rec->index >= t->nrecs) {
        return MT_TARGET_UNWANTED;
    }
    MtBreakCode *bc = t->recs[rec->index].brk;
    int wanted = MT_TARGET_UNWANTED;
    int32_t line = -1;
    if (bc != NULL || (t->on_error != NULL && rec->traced)) {
        long l = PyLong_AsLong(args[1]);
        if (l < 0 || l > INT32_MAX) {
            PyErr_Clear();
            return MT_TARGET_WANTED;
        }
        line = (int32_t)l;
    }
    if (t->on_error != NULL && rec->traced) {
        snoop_line(t, rec->id, line);
        wanted = MT_TARGET_WANTED;
    }
    if (bc != NULL) {
        /* Several breakpoints may share the line: each one is checked;
         * once all of them are spent the line may go quiet. */
        MtBreakSite *s = find_site(bc, line);
        MtBreakSite *end = bc->sites + bc->n;
        for (; s != NULL && s < end && s->line == line; s++) {
            if (s->spent) {
                continue;
            }
            int r = hit(tr, s);
            if (r != MT_TARGET_WANTED) {
                return r;
            }
            if (!s->spent) {
                wanted = MT_TARGET_WANTED;
            }
        }
    }
    return wanted;
}

/* ---- calls and exceptions ----------------------------------------------- */

PyObject *
mt_targets_enter(MtTracer *tr, MtRecord *rec, int ev)
{
    MtTargets *t = tr->targets;
    int snooped = t != NULL && t->on_error != NULL && rec->traced;
    if (snooped && ev == MT_EV_PY_START) {
        /* A new activation: whatever its frame's address saw before
         * belongs to another one. */
        MtSnoopFrame *f = snoop_slot(t, mt_compat_frame_key());
        f->frame = NULL;
        f->code = NULL;
        f->count = 0;
    }
    if (tr->profile) {
        return NULL;
    }
    if (ev == MT_EV_PY_THROW || snooped) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(tr->disable);
}

int
mt_targets_snooping(MtTracer *tr)
{
    return tr->targets != NULL && tr->targets->on_error != NULL;
}

int
mt_targets_unwind(MtTracer *tr, MtRecord *rec, PyObject *const *args)
{
    MtTargets *t = tr->targets;
    if (t == NULL || t->on_error == NULL || !rec->traced) {
        return MT_TARGET_WANTED;
    }
    const void *key = mt_compat_frame_key();
    MtSnoopFrame *f = snoop_slot(t, key);
    PyObject *lines = NULL;
    if (f->frame == key && f->code == rec->id) {
        uint32_t n = f->count < MT_SNOOP_LINES ? f->count : MT_SNOOP_LINES;
        lines = PyTuple_New(n);
        for (uint32_t i = 0; lines != NULL && i < n; i++) {
            uint32_t at = (f->count - n + i) % MT_SNOOP_LINES;
            PyObject *v = PyLong_FromLong(f->lines[at]);
            if (v == NULL) {
                Py_CLEAR(lines);
                break;
            }
            PyTuple_SET_ITEM(lines, i, v);
        }
        f->frame = NULL;
        f->code = NULL;
        f->count = 0;
    }
    else {
        lines = PyTuple_New(0);
    }
    if (lines == NULL) {
        mt_fail(&tr->failures, MT_ERR_NOMEM, "error lines");
        return MT_TARGET_WANTED;
    }
    PyFrameObject *frame = PyEval_GetFrame();
    PyObject *on_error = Py_NewRef(t->on_error);
    PyObject *frame_arg =
        Py_NewRef(frame != NULL ? (PyObject *)frame : Py_None);
    MtGuard g;
    mt_guard_open(&g, tr, MT_GUARD_SIGNALS);
    PyObject *res = PyObject_CallFunctionObjArgs(on_error, frame_arg, lines,
                                                 args[2], NULL);
    Py_DECREF(frame_arg);
    Py_DECREF(lines);
    Py_DECREF(on_error);
    if (res == NULL) {
        mt_guard_fail(&g, MT_ERR_FILTER, "error snooper");
    }
    Py_XDECREF(res);
    if (!mt_guard_close(&g) || tr->targets != t) {
        return MT_TARGET_GONE;
    }
    return MT_TARGET_WANTED;
}

/* ---- control ------------------------------------------------------------ */

const char mt_targets_set_doc[] =
    "set_targets($self, /, planner=None, fire=None, on_error=None)\n--\n\n"
    "Breakpoints and the error snooper (the tracer must be stopped).\n"
    "planner(code, module, globals) returns None or a list of (line,\n"
    "condition or None, the condition's parameter names or None, bp);\n"
    "fire(bp, frame, error) runs when a breakpoint's condition holds (error\n"
    "None) or raised (error the exception), and returns true once `bp` is\n"
    "spent; whatever it raises reaches the program. on_error(frame, lines,\n"
    "exc) runs when an exception leaves a traced frame, with the last lines\n"
    "that ran there.";

static int
check_callable(PyObject *obj, const char *name)
{
    if (obj != Py_None && !PyCallable_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be callable or None", name);
        return -1;
    }
    return 0;
}

PyObject *
mt_targets_set(PyObject *self, PyObject *args, PyObject *kwargs)
{
    MtTracer *tr = (MtTracer *)self;
    static char *kwlist[] = {"planner", "fire", "on_error", NULL};
    PyObject *planner = Py_None, *fire = Py_None, *on_error = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOO:set_targets", kwlist,
                                     &planner, &fire, &on_error)) {
        return NULL;
    }
    if (mt_guard_refuse(tr, "set_targets", 1) < 0
        || check_callable(planner, "planner") < 0
        || check_callable(fire, "fire") < 0
        || check_callable(on_error, "on_error") < 0) {
        return NULL;
    }
    if ((planner == Py_None) != (fire == Py_None)) {
        PyErr_SetString(PyExc_ValueError, "planner and fire go together");
        return NULL;
    }
    mt_targets_free(tr);
    if (planner == Py_None && on_error == Py_None) {
        tr->targeted = !tr->profile;
        Py_RETURN_NONE;
    }
    MtTargets *t = PyMem_Calloc(1, sizeof(*t));
    if (t == NULL) {
        return PyErr_NoMemory();
    }
    t->planner = planner == Py_None ? NULL : Py_NewRef(planner);
    t->fire = fire == Py_None ? NULL : Py_NewRef(fire);
    t->on_error = on_error == Py_None ? NULL : Py_NewRef(on_error);
    tr->targets = t;
    tr->targeted = !tr->profile || t->on_error != NULL;
    Py_RETURN_NONE;
}

void
mt_targets_start(MtTracer *tr)
{
    MtTargets *t = tr->targets;
    if (t == NULL) {
        return;
    }
    PyObject *saved = PyErr_GetRaisedException();
    PyObject *events = mt_monitoring_attr("events");
    PyObject *bit = events ? PyObject_GetAttrString(events, "LINE") : NULL;
    Py_XDECREF(events);
    t->line_bit = bit ? PyLong_AsLong(bit) : -1;
    Py_XDECREF(bit);
    if (t->line_bit < 0) {
        mt_fail(&tr->failures, MT_ERR_INTERNAL, "local events");
    }
    else {
        t->started = 1;
        memset(t->snoop, 0, sizeof(t->snoop));
        for (Py_ssize_t i = 0; i < tr->records.count; i++) {
            sync_local(tr, tr->records.items[i], 1);
        }
    }
    PyErr_SetRaisedException(saved);
}

void
mt_targets_stop(MtTracer *tr)
{
    MtTargets *t = tr->targets;
    if (t == NULL || !t->started) {
        return;
    }
    PyObject *saved = PyErr_GetRaisedException();
    for (Py_ssize_t i = 0; i < tr->records.count && i < t->nrecs; i++) {
        if (t->recs[i].local_on) {
            sync_local(tr, tr->records.items[i], 0);
        }
    }
    t->started = 0;
    PyErr_SetRaisedException(saved);
}

void
mt_targets_clear(MtTracer *tr)
{
    MtTargets *t = tr->targets;
    if (t == NULL) {
        return;
    }
    MtTargetRec *recs = t->recs;
    Py_ssize_t n = t->nrecs;
    t->recs = NULL;
    t->nrecs = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        free_break_code(recs[i].brk);
    }
    PyMem_Free(recs);
}

void
mt_targets_free(MtTracer *tr)
{
    MtTargets *t = tr->targets;
    if (t == NULL) {
        return;
    }
    mt_targets_clear(tr);
    tr->targets = NULL;
    Py_CLEAR(t->planner);
    Py_CLEAR(t->fire);
    Py_CLEAR(t->on_error);
    PyMem_Free(t);
}

int
mt_targets_traverse(MtTracer *tr, visitproc visit, void *arg)
{
    MtTargets *t = tr->targets;
    if (t == NULL) {
        return 0;
    }
    Py_VISIT(t->planner);
    Py_VISIT(t->fire);
    Py_VISIT(t->on_error);
    for (Py_ssize_t i = 0; i < t->nrecs; i++) {
        MtBreakCode *bc = t->recs[i].brk;
        for (Py_ssize_t j = 0; bc != NULL && j < bc->n; j++) {
            Py_VISIT(bc->sites[j].cond);
            Py_VISIT(bc->sites[j].argnames);
            Py_VISIT(bc->sites[j].bp);
        }
    }
    return 0;
}
