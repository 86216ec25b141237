/* A byte buffer for formatted output, emptied into a file descriptor with
 * write(2) or handed to a Python callable (a text stream's write(), a
 * binary file's write()).
 *
 * Writers append with the inline helpers; the owner calls
 * mt_outbuf_maybe_flush() between whole records, so a chunk handed on
 * never splits a line (nor a UTF-8 sequence). The first failure is kept
 * (errno, or the callable's exception) and later output is dropped: a
 * failure never reaches the traced program; whoever owns the buffer
 * reports it (mt_outbuf_take_error).
 */
#ifndef MT_OUTBUF_H
#define MT_OUTBUF_H

#include "common.h"

#define MT_OUTBUF_FLUSH_AT (64 * 1024)

typedef struct {
    char *data; /* Owned */
    size_t len;
    size_t cap;
    int fd;            /* >= 0: write(2) here */
    PyObject *sink;    /* Owned callable(chunk), or NULL */
    int sink_text;     /* hand the sink str (else bytes) */
    int line_flush;    /* flush at every record (a terminal) */
    int defer_signals; /* the sink runs inside a tracer callback */
    int failed;        /* output stopped */
    int err_no;        /* errno of a failed write(2), or 0 */
    PyObject *error;   /* Owned: the sink's exception, or NULL */
    int nomem;         /* the buffer could not grow */
} MtOutBuf;

/* An empty buffer with no target (output is dropped until one is set). */
void mt_outbuf_init(MtOutBuf *b);
/* Set the target (flush first if you care about what is buffered). */
void mt_outbuf_target(MtOutBuf *b, int fd, PyObject *sink, int sink_text,
                      int line_flush);
/* Hand everything buffered on; 0, or -1 once output has failed (no
 * exception is left set). Needs the GIL when a sink is set. */
int mt_outbuf_flush(MtOutBuf *b);
/* Forget what is buffered (a forked child's copy of its parent's). */
void mt_outbuf_discard(MtOutBuf *b);
/* The failure as a new exception object (NULL if none) and reset it. */
PyObject *mt_outbuf_take_error(MtOutBuf *b);
void mt_outbuf_free(MtOutBuf *b);
/* End a whole write (a writer's last step): free `b`; None, or NULL with
 * its first failure set (MemoryError when `nomem` and nothing else). */
PyObject *mt_outbuf_finish(MtOutBuf *b, int nomem);
int mt_outbuf_traverse(MtOutBuf *b, visitproc visit, void *arg);

/* Room for `n` more bytes; 0 when memory ran out (output then stops). */
int mt_outbuf_grow(MtOutBuf *b, size_t n);

static inline void
mt_outbuf_write(MtOutBuf *b, const char *s, size_t n)
{
    if (MT_UNLIKELY(b->len + n > b->cap) && !mt_outbuf_grow(b, n)) {
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static inline void
mt_outbuf_puts(MtOutBuf *b, const char *s)
{
    mt_outbuf_write(b, s, strlen(s));
}

static inline void
mt_outbuf_putc(MtOutBuf *b, char c)
{
    if (MT_UNLIKELY(b->len + 1 > b->cap) && !mt_outbuf_grow(b, 1)) {
        return;
    }
    b->data[b->len++] = c;
}

/* Decimal integers. */
void mt_outbuf_u64(MtOutBuf *b, uint64_t v);
void mt_outbuf_i64(MtOutBuf *b, int64_t v);

/* After a whole record: flush if the buffer is full enough (or at every
 * record for a terminal). */
static inline void
mt_outbuf_maybe_flush(MtOutBuf *b)
{
    if (b->len >= MT_OUTBUF_FLUSH_AT || (b->line_flush && b->len > 0)) {
        mt_outbuf_flush(b);
    }
}

#endif /* MT_OUTBUF_H */
