/* Deferring Python signal handlers out of monitrace's own Python code
 * (sigdefer.h). */
#include "sigdefer.h"
#include "sigtable.h"

#include <signal.h>

/* CPython keeps one signal table per process (handlers run in the main
 * interpreter only), so this state is per process too. It is read and
 * written with the GIL held, on the thread that handles signals, except
 * where a comment says otherwise. */
typedef struct {
    /* Borrowed, only ever compared: the handler found at the last look,
     * and whether it was a Python one. A bracket re-examines only entries
     * that changed (the type test is what makes a look at all of them
     * cost). Only a callable can replace a callable at the same address
     * (SIG_DFL and SIG_IGN are cached ints), so a stale verdict holds. */
    PyObject *seen;
    int python;
    int noted;       /* a stand-in held this signal back */
    PyObject *spare; /* Owned: a stand-in kept for reuse, or NULL */
} MtSigSlot;

static MtSigTable table; /* entries NULL: not verified, never used */
static MtSigSlot *slots; /* [nsig] */
static int *placed;      /* [nsig]: signals the open bracket stood in for */
static int nplaced;
static int any_noted;
static int depth;        /* guard brackets open on that thread */
static int check_queued; /* a pending call will check signals */
/* Owned for the life of the process: stand-ins may outlive the module
 * (signal.signal() hands them out as the previous handler). */
static PyTypeObject *standin_type;

/* ---- the table -------------------------------------------------------- */

static inline char *
entry(int signum)
{
    return table.entries + (size_t)signum * table.stride;
}

/* CPython reads and writes these fields atomically: a handler may be
 * looked up by PyErr_SetInterruptEx() on any thread, and `tripped` is set
 * by the C signal handler. */
static inline PyObject *
load_handler(int signum)
{
    return __atomic_load_n((PyObject **)(entry(signum) + table.func_offset),
                           __ATOMIC_ACQUIRE);
}

static inline void
store_handler(int signum, PyObject *handler)
{
    __atomic_store_n((PyObject **)(entry(signum) + table.func_offset), handler,
                     __ATOMIC_RELEASE);
}

static inline int
load_tripped(int signum)
{
    return __atomic_load_n((int *)(entry(signum) + table.tripped_offset),
                           __ATOMIC_ACQUIRE);
}

/* Mark `signum` as arrived, as CPython's trip_signal() does: the entry
 * first, then the flag that makes PyErr_CheckSignals() look at entries.
 * (No byte to a wakeup fd: it was written when the signal arrived.) */
static void
retrip(int signum)
{
    __atomic_store_n((int *)(entry(signum) + table.tripped_offset), 1,
                     __ATOMIC_SEQ_CST);
    __atomic_store_n(table.is_tripped, 1, __ATOMIC_SEQ_CST);
}

/* A handler object that CPython calls: not SIG_DFL or SIG_IGN (ints),
 * not unset. */
static inline int
is_python_handler(PyObject *handler)
{
    return handler != NULL && handler != Py_None
           && !PyLong_CheckExact(handler);
}

/* ---- stand-ins -------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *handler; /* Owned: the handler it stands in for */
    int signum;
    vectorcallfunc vectorcall;
} MtStandIn;

/* Inside a bracket, on the signal-handling thread, CPython is dispatching
 * the signal into monitrace's code: note it for later. Anywhere else
 * (a stand-in that signal.signal() returned and the program installed
 * again, or called itself) behave as the handler. `depth` may be read on
 * another thread here; there the second test fails anyway. */
static PyObject *
standin_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                   PyObject *kwnames)
{
    MtStandIn *s = (MtStandIn *)self;
    if (depth > 0 && mt_sigtable_handles_signals()) {
        slots[s->signum].noted = 1;
        any_noted = 1;
        Py_RETURN_NONE;
    }
    return PyObject_Vectorcall(s->handler, args, nargsf, kwnames);
}

static PyObject *
standin_repr(PyObject *self)
{
    PyObject *handler = ((MtStandIn *)self)->handler;
    if (handler == NULL) {
        return PyUnicode_FromString("<monitrace signal handler stand-in, "
                                    "unused>");
    }
    return PyUnicode_FromFormat("<monitrace stand-in for %R>", handler);
}

static int
standin_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((MtStandIn *)self)->handler);
    return 0;
}

static int
standin_clear(PyObject *self)
{
    Py_CLEAR(((MtStandIn *)self)->handler);
    return 0;
}

static void
standin_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    standin_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyMemberDef standin_members[] = {
    {"__vectorcalloffset__", Py_T_PYSSIZET, offsetof(MtStandIn, vectorcall),
     Py_READONLY},
    {NULL},
};

static PyType_Slot standin_slots[] = {
    {Py_tp_doc, "Stands in for a signal handler while monitrace runs Python "
                "code of its own; calls the handler otherwise."},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_repr, standin_repr},
    {Py_tp_traverse, standin_traverse},
    {Py_tp_clear, standin_clear},
    {Py_tp_dealloc, standin_dealloc},
    {Py_tp_members, standin_members},
    {0, NULL},
};

static PyType_Spec standin_spec = {
    .name = "monitrace._core.SignalHandlerStandIn",
    .basicsize = sizeof(MtStandIn),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_DISALLOW_INSTANTIATION
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = standin_slots,
};

/* A stand-in for `signum` holding no handler: the spare, unless the
 * program got hold of it (signal.getsignal() in a bracket). Borrowed from
 * the slot, or NULL with no exception set. */
static MtStandIn *
spare(int signum)
{
    PyObject *s = slots[signum].spare;
    if (s != NULL && Py_REFCNT(s) == 1) {
        return (MtStandIn *)s;
    }
    Py_CLEAR(slots[signum].spare); /* the program's now, handler and all */
    MtStandIn *fresh = PyObject_GC_New(MtStandIn, standin_type);
    if (fresh == NULL) {
        PyErr_Clear(); /* this signal is then not deferred */
        return NULL;
    }
    fresh->handler = NULL;
    fresh->signum = signum;
    fresh->vectorcall = standin_vectorcall;
    PyObject_GC_Track(fresh);
    slots[signum].spare = (PyObject *)fresh;
    return fresh;
}

/* Put a stand-in in place of `signum`'s handler, if it has a Python one
 * (a stand-in the program installed again stands in for itself). */
static void
stand_in(int signum)
{
    MtSigSlot *slot = &slots[signum];
    PyObject *handler = load_handler(signum);
    if (handler != slot->seen) {
        slot->seen = handler;
        slot->python =
            is_python_handler(handler) && !Py_IS_TYPE(handler, standin_type);
    }
    if (!slot->python) {
        return;
    }
    MtStandIn *s = spare(signum);
    /* An allocation may have run a collection, and a finalizer may have
     * installed another handler meanwhile. */
    if (s == NULL || load_handler(signum) != handler) {
        return;
    }
    s->handler = handler; /* the table's reference moves here */
    store_handler(signum, Py_NewRef(s));
    placed[nplaced++] = signum;
}

/* Put the real handler back, unless code inside the bracket installed a
 * handler of its own since (signal.signal() then handed the stand-in out
 * as the old handler: it keeps the real one, and is no longer ours). */
static void
restore(int signum)
{
    MtSigSlot *slot = &slots[signum];
    MtStandIn *s = (MtStandIn *)slot->spare;
    if (load_handler(signum) != (PyObject *)s) {
        Py_CLEAR(slot->spare);
        return;
    }
    if (Py_REFCNT(s) > 2) {
        /* Still in the table, but the program holds it too (from
         * signal.getsignal()): it must go on calling the handler. */
        store_handler(signum, Py_NewRef(s->handler));
        Py_DECREF(s); /* the table's reference */
        Py_CLEAR(slot->spare);
        return;
    }
    store_handler(signum, s->handler); /* the reference moves back */
    s->handler = NULL;
    Py_DECREF(s); /* the table's reference; the spare stays */
}

/* ---- handing the signals back ----------------------------------------- */

static void queue_check(int signum);

/* A pending call: the interpreter runs it on the main thread at its next
 * check, in the program's code, and raises what it returns -1 with. */
static int
run_check(void *Py_UNUSED(arg))
{
    check_queued = 0;
    if (PyErr_CheckSignals() < 0) {
        /* A handler raised; CPython looks at the signals after it at its
         * next check (handle_signals), and so do we. */
        queue_check(0);
        return -1;
    }
    return 0;
}

/* Have the interpreter call PyErr_CheckSignals() at its next check. */
static void
queue_check(int signum)
{
    if (check_queued) {
        return;
    }
    if (Py_AddPendingCall(run_check, NULL) == 0) {
        check_queued = 1;
    }
    else if (signum > 0) {
        /* The queue of pending calls is full: trip the signal the public
         * way, which also makes the interpreter look (and writes a second
         * byte to a wakeup fd, the lesser evil). */
        PyErr_SetInterruptEx(signum);
    }
}

/* ---- the interface ---------------------------------------------------- */

/* The table as located must hold what signal.getsignal() reports, for
 * every signal, and at least one handler must be set (a table read at the
 * wrong place is most likely all zeros). */
static int
verify(const MtSigTable *t)
{
    PyObject *mod = PyImport_ImportModule("_signal");
    PyObject *getsignal =
        mod != NULL ? PyObject_GetAttrString(mod, "getsignal") : NULL;
    Py_XDECREF(mod);
    if (getsignal == NULL) {
        PyErr_Clear();
        return 0;
    }
    MtSigTable saved = table;
    table = *t;
    int ok = t->nsig > 1 && t->nsig <= 1024, seen = 0;
    for (int i = 1; ok && i < t->nsig; i++) {
        PyObject *expected = PyObject_CallFunction(getsignal, "i", i);
        if (expected == NULL) {
            PyErr_Clear();
            ok = 0;
            break;
        }
        PyObject *found = load_handler(i);
        int tripped = load_tripped(i);
        ok = (found != NULL ? found == expected : expected == Py_None)
             && (tripped == 0 || tripped == 1);
        seen |= found != NULL;
        Py_DECREF(expected);
    }
    table = saved;
    Py_DECREF(getsignal);
    return ok && seen && (*t->is_tripped == 0 || *t->is_tripped == 1);
}

int
mt_sigdefer_init(PyObject *Py_UNUSED(module))
{
    if (table.entries != NULL) {
        return 0; /* the module was imported before */
    }
    MtSigTable t;
    mt_sigtable_locate(&t);
    if (!verify(&t)) {
        return 0;
    }
    if (standin_type == NULL) {
        standin_type = (PyTypeObject *)PyType_FromSpec(&standin_spec);
    }
    slots = PyMem_Calloc((size_t)t.nsig, sizeof(*slots));
    placed = PyMem_Calloc((size_t)t.nsig, sizeof(*placed));
    if (standin_type == NULL || slots == NULL || placed == NULL) {
        PyErr_Clear();
        PyMem_Free(slots);
        PyMem_Free(placed);
        slots = NULL;
        placed = NULL;
        return 0;
    }
    table = t;
    return 0;
}

int
mt_sigdefer_active(void)
{
    return table.entries != NULL;
}

void
mt_sigdefer_enter(void)
{
    if (table.entries == NULL || !mt_sigtable_handles_signals()) {
        return;
    }
    if (depth++ > 0) {
        return;
    }
    for (int i = 1; i < table.nsig; i++) {
        stand_in(i);
    }
}

void
mt_sigdefer_leave(void)
{
    if (table.entries == NULL || depth == 0
        || !mt_sigtable_handles_signals()) {
        return;
    }
    if (depth > 1) {
        depth--;
        return;
    }
    /* Restore with the bracket still open: a finalizer run by a release
     * below still has its signals held back. */
    for (int k = 0; k < nplaced; k++) {
        restore(placed[k]);
    }
    nplaced = 0;
    depth = 0;
    if (!any_noted) {
        return;
    }
    any_noted = 0;
    int first = 0;
    for (int i = 1; i < table.nsig; i++) {
        if (slots[i].noted) {
            slots[i].noted = 0;
            retrip(i);
            first = first ? first : i;
        }
    }
    if (first) {
        queue_check(first);
    }
}

void
mt_sigdefer_discard_error(void)
{
    PyObject *exc = PyErr_GetRaisedException();
    if (exc != NULL
        && PyErr_GivenExceptionMatches(exc, PyExc_KeyboardInterrupt)) {
        PyErr_SetInterruptEx(SIGINT);
    }
    Py_XDECREF(exc);
}
