/* Call sites: the line (and file) a traced activation was called from.
 *
 * Record and live modes note, on every enter, the line the calling frame
 * is at. Two ways to find it: through frame objects (portable, but
 * PyEval_GetFrame + PyFrame_GetBack materialize frames, ~100 ns a call),
 * and, where compat.h can peek at the interpreter's frame chain, by
 * reading the caller's instruction offset and mapping it to a line
 * through a small cache that allocates nothing.
 */
#ifndef MT_CALLSITE_H
#define MT_CALLSITE_H

#include "common.h"

#define MT_CALLSITE_CACHE 512 /* a power of two */

/* Call-site lines already computed, by (code, offset): direct mapped.
 * A code pointer is only compared, never dereferenced, so an entry for a
 * freed code object is harmless; the first line guards against a new
 * code object at a reused address. The owner empties it at every start. */
typedef struct {
    struct {
        const void *code;
        int offset;
        int firstlineno;
        int32_t line;
    } slots[MT_CALLSITE_CACHE];
} MtCallSiteCache;

/* Empty the cache (at every start: code objects may have been freed and
 * their addresses reused). */
void mt_callsite_reset(MtCallSiteCache *cache);

/* The call site of an activation of `code` entered now, through frame
 * objects: sets *line (left alone when there is no caller) and, when
 * `file` is not NULL, *file to a new reference to the caller's
 * co_filename. *callee is the activation's own frame (borrowed) when it
 * is already visible, else NULL. */
void mt_callsite_find(PyObject *code, PyFrameObject **callee, int32_t *line,
                      PyObject **file);

/* 1 when mt_callsite_peek may be used: compat.h mirrors this version's
 * frame layout and the check at import (mt_callsite_init) confirmed it on
 * the running interpreter. */
extern MT_INTERNAL int mt_callsite_peek_ok;

/* Decide mt_callsite_peek_ok. Called once, at import, from Python code
 * (the import machinery), whose frames the check walks. */
int mt_callsite_init(void);

#if MT_HAVE_FRAME_PEEK
/* The line of instruction `offset` of `code`, computed on a cache miss and
 * stored in `slot`. */
int32_t mt_callsite_fill(MtCallSiteCache *cache, size_t slot,
                         PyCodeObject *code, int offset);

/* The same as mt_callsite_find without frame objects (and without
 * *callee): walk the interpreter frames, skipping the shims C pushes when
 * it calls Python, read the caller's instruction offset and map it to a
 * line through the cache. 0 when there is no caller, *line and *file then
 * left alone. Only where mt_callsite_peek_ok. Inline: the plain record
 * path runs it on every enter. */
static inline int
mt_callsite_peek(MtCallSiteCache *cache, PyObject *code, int32_t *line,
                 PyObject **file)
{
    struct _PyInterpreterFrame *f = mt_compat_current_frame();
    if (f != NULL && mt_compat_frame_code(f) == code) {
        f = mt_compat_frame_back(f);
    }
    int offset = -1;
    while (f != NULL && (offset = mt_compat_frame_offset(f)) < 0) {
        f = mt_compat_frame_back(f);
    }
    if (f == NULL) {
        return 0;
    }
    PyCodeObject *ccode = (PyCodeObject *)mt_compat_frame_code(f);
    uintptr_t h = ((uintptr_t)ccode >> 4) ^ (uintptr_t)offset * 0x9E37u;
    size_t slot = (size_t)(h & (MT_CALLSITE_CACHE - 1));
    if (cache->slots[slot].code == ccode && cache->slots[slot].offset == offset
        && cache->slots[slot].firstlineno == ccode->co_firstlineno) {
        *line = cache->slots[slot].line;
    }
    else {
        *line = mt_callsite_fill(cache, slot, ccode, offset);
    }
    if (file != NULL) {
        *file = Py_NewRef(ccode->co_filename);
    }
    return 1;
}
#endif

#endif /* MT_CALLSITE_H */
