/* Finding the line (and file) an activation was called from: the
 * frame-object path, and the cache misses of the frame-peek path (whose
 * hit path is inline in callsite.h). */
#include "callsite.h"

void
mt_callsite_find(PyObject *code, PyFrameObject **callee, int32_t *line,
                 PyObject **file)
{
    PyFrameObject *frame = PyEval_GetFrame();
    PyFrameObject *caller = NULL;
    *callee = NULL;
    if (frame == NULL) {
        return;
    }
    PyCodeObject *fcode = PyFrame_GetCode(frame);
    if ((PyObject *)fcode == code) {
        *callee = frame;
        caller = PyFrame_GetBack(frame);
    }
    else {
        /* The new frame is not visible yet: the current one called it. */
        caller = (PyFrameObject *)Py_NewRef(frame);
    }
    Py_DECREF(fcode);
    if (caller == NULL) {
        return;
    }
    *line = PyFrame_GetLineNumber(caller);
    if (file != NULL) {
        PyCodeObject *ccode = PyFrame_GetCode(caller);
        *file = Py_NewRef(ccode->co_filename);
        Py_DECREF(ccode);
    }
    Py_DECREF(caller);
}

#if MT_HAVE_FRAME_PEEK
int32_t
mt_callsite_fill(MtCallSiteCache *cache, size_t slot, PyCodeObject *code,
                 int offset)
{
    int32_t line = PyCode_Addr2Line(code, offset);
    cache->slots[slot].code = code;
    cache->slots[slot].offset = offset;
    cache->slots[slot].line = line;
    cache->slots[slot].firstlineno = code->co_firstlineno;
    return line;
}
#endif

int mt_callsite_peek_ok = 0;

#if MT_HAVE_FRAME_PEEK
/* Walk the interpreter frames through compat.h's mirrored layout and the
 * frame objects through the API side by side, from the current frame to
 * the bottom of the stack. PyEval_GetFrame and PyFrame_GetBack make a frame
 * object for every complete frame, and a frame object is recorded in its
 * interpreter frame, so each step must agree on frame object, code and
 * offset, shims must be skipped where the API skips them, and both walks
 * must end together. A first check on the current frame, whose address
 * comes from the public thread state, compares pointers only, so a wrong
 * layout is caught before any link read through it is followed. */
static int
frame_peek_matches(void)
{
    struct _PyInterpreterFrame *f = mt_compat_current_frame();
    PyFrameObject *frame = (PyFrameObject *)Py_XNewRef(PyEval_GetFrame());
    int ok = f != NULL && frame != NULL;
    if (ok) {
        PyObject *code = PyUnstable_InterpreterFrame_GetCode(f);
        ok = code != NULL && code == mt_compat_frame_code(f);
        Py_XDECREF(code);
    }
    while (ok && frame != NULL) {
        while (f != NULL && mt_compat_frame_offset(f) < 0) {
            f = mt_compat_frame_back(f);
        }
        PyCodeObject *code = PyFrame_GetCode(frame);
        ok = f != NULL && mt_compat_frame_object(f) == frame
             && mt_compat_frame_code(f) == (PyObject *)code
             && mt_compat_frame_offset(f) == PyFrame_GetLasti(frame);
        Py_DECREF(code);
        Py_SETREF(frame, PyFrame_GetBack(frame));
        if (ok) {
            f = mt_compat_frame_back(f);
        }
    }
    while (ok && f != NULL && mt_compat_frame_offset(f) < 0) {
        f = mt_compat_frame_back(f);
    }
    ok = ok && f == NULL;
    Py_XDECREF(frame);
    if (PyErr_Occurred()) { /* a frame object could not be made */
        PyErr_Clear();
        ok = 0;
    }
    return ok;
}
#endif

int
mt_callsite_init(void)
{
#if MT_HAVE_FRAME_PEEK
    mt_callsite_peek_ok = frame_peek_matches();
#endif
    return 0;
}

void
mt_callsite_reset(MtCallSiteCache *cache)
{
    memset(cache->slots, 0, sizeof(cache->slots));
}
