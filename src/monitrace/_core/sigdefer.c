/* Deferring Python signal handlers out of monitrace's own Python code
 * (sigdefer.h). */
#include "sigdefer.h"
#include "sigtable.h"

/* CPython keeps one signal table per process (handlers run in the main
 * interpreter only), so this state is per process too. It is read and
 * written with the GIL held, on the thread that handles signals, except
 * where a comment says otherwise. */
static MtSigTable table;     /* entries NULL: not verified, never used */
static int depth;            /* guard brackets open on that thread */
static PyObject **installed; /* [nsig]: Owned stand-ins now in the table */
static char *noted;          /* [nsig]: signals a stand-in held back */
static int check_queued;     /* a pending call will check signals */
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
    __atomic_store_n((PyObject **)(entry(signum) + table.func_offset),
                     handler, __ATOMIC_RELEASE);
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
        noted[s->signum] = 1;
        Py_RETURN_NONE;
    }
    return PyObject_Vectorcall(s->handler, args, nargsf, kwnames);
}

static PyObject *
standin_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<monitrace stand-in for %R>",
                                ((MtStandIn *)self)->handler);
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

/* Put a stand-in in place of `signum`'s handler, if it has a Python one. */
static void
stand_in(int signum)
{
    PyObject *handler = load_handler(signum);
    if (!is_python_handler(handler) || Py_IS_TYPE(handler, standin_type)) {
        return;
    }
    MtStandIn *s = PyObject_GC_New(MtStandIn, standin_type);
    if (s == NULL) {
        PyErr_Clear(); /* this signal is then not deferred */
        return;
    }
    s->handler = NULL;
    s->signum = signum;
    s->vectorcall = standin_vectorcall;
    PyObject_GC_Track(s);
    /* The allocation may have run a collection, and a finalizer may have
     * installed another handler meanwhile. */
    if (load_handler(signum) != handler) {
        Py_DECREF(s);
        return;
    }
    s->handler = handler; /* the table's reference moves here */
    installed[signum] = Py_NewRef(s);
    store_handler(signum, (PyObject *)s); /* and ours into the table */
}

/* Put the real handler back, unless code inside the bracket installed a
 * handler of its own since (signal.signal() then handed the stand-in out
 * as the old handler; it keeps the real one alive). */
static void
restore(int signum)
{
    PyObject *s = installed[signum];
    installed[signum] = NULL;
    if (load_handler(signum) == s) {
        store_handler(signum, Py_NewRef(((MtStandIn *)s)->handler));
        Py_DECREF(s); /* the table's reference */
    }
    Py_DECREF(s);
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
    installed = PyMem_Calloc((size_t)t.nsig, sizeof(*installed));
    noted = PyMem_Calloc((size_t)t.nsig, sizeof(*noted));
    if (standin_type == NULL || installed == NULL || noted == NULL) {
        PyErr_Clear();
        PyMem_Free(installed);
        PyMem_Free(noted);
        installed = NULL;
        noted = NULL;
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
    for (int i = 1; i < table.nsig; i++) {
        if (installed[i] != NULL) {
            restore(i);
        }
    }
    depth = 0;
    int first = 0;
    for (int i = 1; i < table.nsig; i++) {
        if (noted[i]) {
            noted[i] = 0;
            retrip(i);
            first = first ? first : i;
        }
    }
    if (first) {
        queue_check(first);
    }
}
