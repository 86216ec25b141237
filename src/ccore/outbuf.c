/* Buffered output to a file descriptor or a Python callable. */
#include "outbuf.h"
#include "sigdefer.h"

#include <errno.h>
#include <unistd.h>

void
mt_outbuf_init(MtOutBuf *b)
{
    memset(b, 0, sizeof(*b));
    b->fd = -1;
}

void
mt_outbuf_target(MtOutBuf *b, int fd, PyObject *sink, int sink_text,
                 int line_flush)
{
    b->fd = fd;
    Py_XSETREF(b->sink, Py_XNewRef(sink));
    b->sink_text = sink_text;
    b->line_flush = line_flush;
}

int
mt_outbuf_grow(MtOutBuf *b, size_t n)
{
    if (b->failed) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : MT_OUTBUF_FLUSH_AT + 4096;
    while (cap < b->len + n) {
        cap *= 2;
    }
    char *data = PyMem_RawRealloc(b->data, cap);
    if (data == NULL) {
        b->failed = 1;
        b->nomem = 1;
        return 0;
    }
    b->data = data;
    b->cap = cap;
    return 1;
}

static int
write_fd(MtOutBuf *b)
{
    size_t done = 0;
    while (done < b->len) {
        ssize_t n = write(b->fd, b->data + done, b->len - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            b->err_no = errno;
            return -1;
        }
        if (n == 0) {
            b->err_no = EIO;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int
write_sink(MtOutBuf *b)
{
    PyObject *saved = PyErr_GetRaisedException();
    PyObject *chunk =
        b->sink_text ? PyUnicode_DecodeUTF8(b->data, (Py_ssize_t)b->len,
                                            "surrogateescape")
                     : PyBytes_FromStringAndSize(b->data, (Py_ssize_t)b->len);
    /* Emptied before the call: another thread may append meanwhile. */
    b->len = 0;
    PyObject *res = NULL;
    if (chunk != NULL) {
        if (b->defer_signals) {
            mt_sigdefer_enter();
        }
        res = PyObject_CallOneArg(b->sink, chunk);
        PyObject *exc = res == NULL ? PyErr_GetRaisedException() : NULL;
        if (b->defer_signals) {
            mt_sigdefer_leave();
        }
        PyErr_SetRaisedException(exc);
        Py_DECREF(chunk);
    }
    int rc = 0;
    if (res == NULL) {
        if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
            /* Re-armed for the program; this chunk is lost, output goes
             * on. */
            mt_sigdefer_discard_error();
        }
        else {
            Py_XSETREF(b->error, PyErr_GetRaisedException());
            rc = -1;
        }
    }
    Py_XDECREF(res);
    PyErr_SetRaisedException(saved);
    return rc;
}

int
mt_outbuf_flush(MtOutBuf *b)
{
    if (b->failed) {
        b->len = 0;
        return -1;
    }
    if (b->len == 0) {
        return 0;
    }
    int rc = 0;
    if (b->fd >= 0) {
        rc = write_fd(b); /* keeps the GIL: nothing else writes meanwhile */
        b->len = 0;
    }
    else if (b->sink != NULL) {
        rc = write_sink(b); /* empties the buffer before calling */
    }
    else {
        b->len = 0; /* no target: dropped */
    }
    if (rc < 0) {
        b->failed = 1;
    }
    return rc;
}

void
mt_outbuf_discard(MtOutBuf *b)
{
    b->len = 0;
}

PyObject *
mt_outbuf_take_error(MtOutBuf *b)
{
    PyObject *err = NULL;
    if (b->error != NULL) {
        err = b->error;
        b->error = NULL;
    }
    else if (b->err_no != 0) {
        err = PyObject_CallFunction(PyExc_OSError, "is", b->err_no,
                                    strerror(b->err_no));
        if (err == NULL) {
            PyErr_Clear();
        }
    }
    else if (b->nomem) {
        err = PyObject_CallNoArgs(PyExc_MemoryError);
        if (err == NULL) {
            PyErr_Clear();
        }
    }
    b->err_no = 0;
    b->nomem = 0;
    return err;
}

void
mt_outbuf_free(MtOutBuf *b)
{
    PyMem_RawFree(b->data);
    Py_CLEAR(b->sink);
    Py_CLEAR(b->error);
    mt_outbuf_init(b);
}

PyObject *
mt_outbuf_finish(MtOutBuf *b, int nomem)
{
    PyObject *err = mt_outbuf_take_error(b);
    int failed = b->failed;
    mt_outbuf_free(b);
    if (!failed && !nomem) {
        Py_XDECREF(err);
        Py_RETURN_NONE;
    }
    if (err != NULL) {
        PyErr_SetRaisedException(err);
    }
    else {
        PyErr_NoMemory();
    }
    return NULL;
}

int
mt_outbuf_traverse(MtOutBuf *b, visitproc visit, void *arg)
{
    Py_VISIT(b->sink);
    Py_VISIT(b->error);
    return 0;
}

void
mt_outbuf_u64(MtOutBuf *b, uint64_t v)
{
    char tmp[24];
    int i = (int)sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    mt_outbuf_write(b, tmp + i, sizeof(tmp) - (size_t)i);
}

void
mt_outbuf_i64(MtOutBuf *b, int64_t v)
{
    if (v < 0) {
        mt_outbuf_putc(b, '-');
        mt_outbuf_u64(b, (uint64_t)0 - (uint64_t)v);
        return;
    }
    mt_outbuf_u64(b, (uint64_t)v);
}
