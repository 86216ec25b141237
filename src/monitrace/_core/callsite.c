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
