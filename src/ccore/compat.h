/* Every Python-version branch of monitrace._core lives here. */
#ifndef MT_COMPAT_H
#define MT_COMPAT_H

#if PY_VERSION_HEX < 0x030C0000
#error "monitrace needs CPython 3.12 or newer (sys.monitoring, PEP 669)"
#endif

/* The globals of the frame that delivered the current event (borrowed). */
#if PY_VERSION_HEX >= 0x030D0000
/* 3.13 returns a new reference from PyEval_GetFrameGlobals. */
static inline PyObject *
mt_compat_frame_globals_new(void)
{
    return PyEval_GetFrameGlobals();
}
#else
static inline PyObject *
mt_compat_frame_globals_new(void)
{
    return Py_XNewRef(PyEval_GetGlobals());
}
#endif

/* Peeking at the interpreter's frame chain, to find a call site without
 * materializing frame objects (PyEval_GetFrame + PyFrame_GetBack cost ~100
 * ns per call). The current _PyInterpreterFrame is public (PyThreadState's
 * current_frame); the `previous` link, the code pointer, the instruction
 * pointer and the `owner` tag need the layout below, which mirrors the
 * leading fields of CPython's _PyInterpreterFrame (3.12/3.13:
 * Include/internal/pycore_frame.h; 3.14/3.15:
 * pycore_interpframe_structs.h). callsite.c checks it against the running
 * interpreter's frame objects at import and uses frame objects instead
 * when they disagree. Free-threaded builds add fields, and versions not
 * listed here are unknown: both take the frame-object path. */
#if PY_VERSION_HEX < 0x03100000 && !defined(Py_GIL_DISABLED)
#define MT_HAVE_FRAME_PEEK 1

#if PY_VERSION_HEX >= 0x030E0000
/* 3.14+: the code and function are _PyStackRef, a pointer whose low two
 * bits tag how the reference is counted. */
typedef uintptr_t MtFrameRef;
#define MT_FRAME_REF_OBJECT(ref) ((PyObject *)((ref) & ~(uintptr_t)3))
#else
typedef PyObject *MtFrameRef;
#define MT_FRAME_REF_OBJECT(ref) (ref)
#endif

typedef struct {
    MtFrameRef executable; /* f_code (3.12) / f_executable: borrowed */
    struct _PyInterpreterFrame *previous;
    MtFrameRef funcobj;
    PyObject *globals;
    PyObject *builtins;
    PyObject *locals;
    PyFrameObject *frame_obj;
    void *instr;
#if PY_VERSION_HEX >= 0x030E0000
    void *stackpointer;
#else
    int stacktop;
#endif
    uint16_t return_offset;
    char owner;
} MtFramePeek;

#define MT_FRAME_OWNED_BY_GENERATOR 1
/* From here on, frames the interpreter pushes for itself: the shim when C
 * calls Python (FRAME_OWNED_BY_CSTACK, 3 in 3.12/3.13), and 3.14's
 * FRAME_OWNED_BY_INTERPRETER (3) and FRAME_OWNED_BY_CSTACK (4). */
#define MT_FRAME_FIRST_SHIM_OWNER 3

/* The frame's code object (borrowed), or whatever it holds instead. */
static inline PyObject *
mt_compat_frame_code(struct _PyInterpreterFrame *f)
{
    return MT_FRAME_REF_OBJECT(((const MtFramePeek *)f)->executable);
}

static inline struct _PyInterpreterFrame *
mt_compat_frame_back(struct _PyInterpreterFrame *f)
{
    return ((const MtFramePeek *)f)->previous;
}

/* The frame object of `f` if one was made (borrowed), else NULL. */
static inline PyFrameObject *
mt_compat_frame_object(struct _PyInterpreterFrame *f)
{
    return ((const MtFramePeek *)f)->frame_obj;
}

/* The instruction offset (bytes) of frame `f`, or -1 if CPython's
 * _PyFrame_IsIncomplete holds for it: shims, and frames that have not
 * reached their first traceable instruction (3.13's __init__ clean-up shim
 * among them). Walking to a caller skips those, as PyFrame_GetBack does. */
static inline int
mt_compat_frame_offset(struct _PyInterpreterFrame *f)
{
    const MtFramePeek *p = (const MtFramePeek *)f;
    PyObject *code = mt_compat_frame_code(f);
    if (p->owner >= MT_FRAME_FIRST_SHIM_OWNER || !PyCode_Check(code)) {
        return -1;
    }
    /* PyUnstable_InterpreterFrame_GetLasti's own arithmetic, without its
     * call: the instruction pointer (3.12's prev_instr, later instr_ptr)
     * minus the start of the code's bytecode, in bytes. Free-threaded
     * builds, where the bytecode may be a thread's copy, never get here;
     * the check at import compares the result with PyFrame_GetLasti. */
    int offset = (int)((const char *)p->instr
                       - ((PyCodeObject *)code)->co_code_adaptive);
    if (p->owner != MT_FRAME_OWNED_BY_GENERATOR
        && offset / 2 < ((PyCodeObject *)code)->_co_firsttraceable) {
        return -1; /* bytes vs 16-bit code units */
    }
    return offset < 0 ? 0 : offset;
}

static inline struct _PyInterpreterFrame *
mt_compat_current_frame(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyThreadState *ts = PyThreadState_GetUnchecked();
    return ts != NULL ? ts->current_frame : NULL;
#else
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    return ts != NULL && ts->cframe != NULL ? ts->cframe->current_frame : NULL;
#endif
}
#else
#define MT_HAVE_FRAME_PEEK 0
#endif

/* The address of the interpreter frame that delivered the current event,
 * as an identity only (never read). A generator's or coroutine's frame
 * lives inside its object, so the address stays the same across its
 * suspensions. PyThreadState's current frame is public in the cpython/
 * headers: through cframe in 3.12, directly from 3.13. */
static inline const void *
mt_compat_frame_key(void)
{
    /* The unchecked read (no fatal-error test; no thread state, no key):
     * it runs per generator event. */
#if PY_VERSION_HEX >= 0x030D0000
    PyThreadState *ts = PyThreadState_GetUnchecked();
    return ts != NULL ? ts->current_frame : NULL;
#else
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    return ts != NULL && ts->cframe != NULL ? ts->cframe->current_frame : NULL;
#endif
}

/* True once the interpreter is finalizing: deallocations that run then
 * touch nothing they do not have to. */
static inline int
mt_compat_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

/* True while the calling thread runs a sys.monitoring (or settrace)
 * callback, including any Python code that callback calls. The field is
 * public in the cpython/ headers of 3.12 to 3.15. */
static inline int
mt_compat_thread_in_callback(void)
{
    return PyThreadState_GET()->tracing > 0;
}

/* co_extra read in place. On 3.12-3.15 the block behind a code object's
 * co_extra is CPython's internal _PyCodeObjectExtra: a slot count followed
 * by the slots. Reading it directly saves PyUnstable_Code_GetExtra's call
 * and checks on every event; records.c verifies the layout against the API
 * once at import and uses the API when they disagree. Other versions always
 * use the API. */
#if PY_VERSION_HEX < 0x03100000
#define MT_COMPAT_DIRECT_EXTRA 1
typedef struct {
    Py_ssize_t size;
    void *slots[1];
} MtCompatCodeExtra;

static inline void *
mt_compat_code_extra(PyObject *code, Py_ssize_t index)
{
    const MtCompatCodeExtra *ce =
        (const MtCompatCodeExtra *)((PyCodeObject *)code)->co_extra;
    return (ce != NULL && index < ce->size) ? ce->slots[index] : NULL;
}
#else
#define MT_COMPAT_DIRECT_EXTRA 0
#endif

/* Free-threaded builds (3.13+) ask every extension module whether it
 * needs the GIL. Ours does: tables shared between threads are not locked,
 * so on such a build CPython re-enables the GIL at import and says so.
 * Older versions know no such slot and refuse a module that names it. */
#if PY_VERSION_HEX >= 0x030D0000
#define MT_COMPAT_HAVE_MOD_GIL 1
#else
#define MT_COMPAT_HAVE_MOD_GIL 0
#endif

#endif /* MT_COMPAT_H */
