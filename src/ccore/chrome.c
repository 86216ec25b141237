/* Chrome Trace Event JSON from the event log, in C. */
#include "chrome.h"
#include "clock.h"
#include "eventlog.h"
#include "guard.h"
#include "session.h"
#include "walk.h"

static const char HEX[] = "0123456789abcdef";

static void
put_utf8(MtOutBuf *b, Py_UCS4 c)
{
    char u[4];
    size_t n;
    if (c < 0x80) {
        u[0] = (char)c;
        n = 1;
    }
    else if (c < 0x800) {
        u[0] = (char)(0xC0 | (c >> 6));
        u[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    }
    else if (c < 0x10000) {
        u[0] = (char)(0xE0 | (c >> 12));
        u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    }
    else {
        u[0] = (char)(0xF0 | (c >> 18));
        u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    mt_outbuf_write(b, u, n);
}

static void
put_escape_u(MtOutBuf *b, Py_UCS4 c)
{
    char u[6] = {'\\',
                 'u',
                 HEX[(c >> 12) & 0xF],
                 HEX[(c >> 8) & 0xF],
                 HEX[(c >> 4) & 0xF],
                 HEX[c & 0xF]};
    mt_outbuf_write(b, u, 6);
}

void
mt_chrome_json_str(MtOutBuf *b, PyObject *s)
{
    if (s == NULL || !PyUnicode_Check(s)) {
        mt_outbuf_puts(b, "null");
        return;
    }
    mt_outbuf_putc(b, '"');
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (PyUnicode_IS_ASCII(s)) {
        /* The common case: copy runs that need no escape. */
        const char *p = (const char *)PyUnicode_DATA(s);
        Py_ssize_t run = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c >= 0x20 && c != '"' && c != '\\') {
                continue;
            }
            mt_outbuf_write(b, p + run, (size_t)(i - run));
            run = i + 1;
            switch (c) {
            case '"':
                mt_outbuf_write(b, "\\\"", 2);
                break;
            case '\\':
                mt_outbuf_write(b, "\\\\", 2);
                break;
            case '\n':
                mt_outbuf_write(b, "\\n", 2);
                break;
            case '\r':
                mt_outbuf_write(b, "\\r", 2);
                break;
            case '\t':
                mt_outbuf_write(b, "\\t", 2);
                break;
            case '\b':
                mt_outbuf_write(b, "\\b", 2);
                break;
            case '\f':
                mt_outbuf_write(b, "\\f", 2);
                break;
            default:
                put_escape_u(b, c);
            }
        }
        mt_outbuf_write(b, p + run, (size_t)(n - run));
        mt_outbuf_putc(b, '"');
        return;
    }
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        switch (c) {
        case '"':
            mt_outbuf_write(b, "\\\"", 2);
            continue;
        case '\\':
            mt_outbuf_write(b, "\\\\", 2);
            continue;
        case '\n':
            mt_outbuf_write(b, "\\n", 2);
            continue;
        case '\r':
            mt_outbuf_write(b, "\\r", 2);
            continue;
        case '\t':
            mt_outbuf_write(b, "\\t", 2);
            continue;
        case '\b':
            mt_outbuf_write(b, "\\b", 2);
            continue;
        case '\f':
            mt_outbuf_write(b, "\\f", 2);
            continue;
        default:
            break;
        }
        if (c < 0x20 || (c >= 0xD800 && c <= 0xDFFF)) {
            put_escape_u(b, c);
        }
        else {
            put_utf8(b, c);
        }
    }
    mt_outbuf_putc(b, '"');
}

/* ns as a JSON number of microseconds, exact (chrome.py's _us). */
static void
put_us(MtOutBuf *b, int64_t ns)
{
    uint64_t a = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (ns < 0) {
        mt_outbuf_putc(b, '-');
    }
    mt_outbuf_u64(b, a / 1000);
    unsigned frac = (unsigned)(a % 1000);
    char d[4] = {'.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                 (char)('0' + frac % 10)};
    mt_outbuf_write(b, d, 4);
}

/* What every begin event of one function says the same way: its name,
 * category and where it is defined, escaped once. */
typedef struct {
    char *text; /* Owned: "name":...,"cat":...,"args":{ members */
    size_t len;
    uint8_t members; /* the args object has members already */
    uint8_t made;
} Head;

typedef struct {
    MtWalker walk;
    Head *heads; /* Owned array, by record index */
    size_t nheads;
    MtOutBuf *out;
    const MtEventLog *log;
    PyObject *names;   /* Borrowed list: (full_name, cat, file, line) */
    PyObject *threads; /* Borrowed list: (native_id, name) by index */
    long pid;
    uint8_t *meta_done; /* Owned: thread metadata written, by index */
    size_t nmeta;
    size_t note; /* notes cursor */
    int failed;
    /* Coroutine activations as async slices ("b"/"e"), one async track
     * per asyncio task: log->acts up to nacts, read from the cursor. */
    size_t nacts;
    size_t act_cursor;
    PyObject *tasks;    /* Borrowed (kept alive by the writer): log->tasks */
    struct Life *lives; /* Owned array, by activation - life_base */
    uint32_t life_base;
    size_t nlives;
    int64_t last_ns; /* the latest event time seen */
} ChromeCtx;

/* One coroutine activation's async slice. */
struct Life {
    uint64_t track; /* its async track's id: task index + 1, or for a
                       coroutine no task runs, 2^32 + its root's
                       activation */
    long long tid;  /* the thread it started on */
    uint32_t record;
    uint8_t open; /* "b" written, "e" not yet */
};

static PyObject *
note_of(ChromeCtx *c, uint64_t seq, uint32_t what)
{
    const MtEventLog *log = c->log;
    /* Events are visited in order, ends of earlier begins aside: search
     * from the cursor, or from the start for an older event. */
    size_t lo = 0, hi = log->nnotes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->notes[mid].seq < seq) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    for (size_t i = lo; i < log->nnotes && log->notes[i].seq == seq; i++) {
        if (log->notes[i].what == what) {
            return log->notes[i].obj;
        }
    }
    return NULL;
}

static void
thread_meta(ChromeCtx *c, uint32_t thread, long long *tid)
{
    PyObject *th = (Py_ssize_t)thread < PyList_GET_SIZE(c->threads)
                       ? PyList_GET_ITEM(c->threads, thread)
                       : NULL;
    long long native = thread;
    PyObject *name = NULL;
    if (th != NULL && PyTuple_Check(th) && PyTuple_GET_SIZE(th) == 2) {
        native = PyLong_AsLongLong(PyTuple_GET_ITEM(th, 0));
        if (native == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            native = thread;
        }
        name = PyTuple_GET_ITEM(th, 1);
    }
    *tid = native;
    if (thread >= c->nmeta) {
        size_t n = c->nmeta ? c->nmeta : 8;
        while (n <= thread) {
            n *= 2;
        }
        uint8_t *done = PyMem_RawRealloc(c->meta_done, n);
        if (done == NULL) {
            c->failed = 1;
            return;
        }
        memset(done + c->nmeta, 0, n - c->nmeta);
        c->meta_done = done;
        c->nmeta = n;
    }
    if (c->meta_done[thread]) {
        return;
    }
    c->meta_done[thread] = 1;
    MtOutBuf *b = c->out;
    mt_outbuf_puts(b, ",\n{\"ph\":\"M\",\"pid\":");
    mt_outbuf_i64(b, c->pid);
    mt_outbuf_puts(b, ",\"tid\":");
    mt_outbuf_i64(b, native);
    mt_outbuf_puts(b, ",\"name\":\"thread_name\",\"args\":{\"name\":");
    mt_chrome_json_str(b, name);
    mt_outbuf_puts(b, "}},\n{\"ph\":\"M\",\"pid\":");
    mt_outbuf_i64(b, c->pid);
    mt_outbuf_puts(b, ",\"tid\":");
    mt_outbuf_i64(b, native);
    mt_outbuf_puts(b, ",\"name\":\"thread_sort_index\",\"args\":{"
                      "\"sort_index\":");
    mt_outbuf_u64(b, c->walk.threads[thread].order);
    mt_outbuf_puts(b, "}}");
}

/* The head of record `record`'s begin events, made the first time. */
static const Head *
head_of(ChromeCtx *c, uint32_t record)
{
    if (record >= c->nheads) {
        size_t n = c->nheads ? c->nheads : 64;
        while (n <= record) {
            n *= 2;
        }
        Head *heads = PyMem_RawRealloc(c->heads, n * sizeof(*heads));
        if (heads == NULL) {
            c->failed = 1;
            return NULL;
        }
        memset(heads + c->nheads, 0, (n - c->nheads) * sizeof(*heads));
        c->heads = heads;
        c->nheads = n;
    }
    Head *h = &c->heads[record];
    if (h->made) {
        return h;
    }
    PyObject *nm = (Py_ssize_t)record < PyList_GET_SIZE(c->names)
                       ? PyList_GET_ITEM(c->names, record)
                       : NULL;
    int ok = nm != NULL && PyTuple_Check(nm) && PyTuple_GET_SIZE(nm) == 4;
    MtOutBuf b;
    mt_outbuf_init(&b);
    mt_outbuf_puts(&b, ",\"name\":");
    mt_chrome_json_str(&b, ok ? PyTuple_GET_ITEM(nm, 0) : NULL);
    mt_outbuf_puts(&b, ",\"cat\":");
    mt_chrome_json_str(&b, ok ? PyTuple_GET_ITEM(nm, 1) : NULL);
    mt_outbuf_puts(&b, ",\"args\":{");
    if (ok && PyTuple_GET_ITEM(nm, 2) != Py_None) {
        mt_outbuf_puts(&b, "\"file\":");
        mt_chrome_json_str(&b, PyTuple_GET_ITEM(nm, 2));
        mt_outbuf_puts(&b, ",\"line\":");
        long line = PyLong_AsLong(PyTuple_GET_ITEM(nm, 3));
        if (line == -1 && PyErr_Occurred()) {
            PyErr_Clear();
        }
        mt_outbuf_i64(&b, line);
        h->members = 1;
    }
    if (b.failed) {
        mt_outbuf_free(&b);
        c->failed = 1;
        return NULL;
    }
    h->text = b.data; /* taken over from the scratch buffer */
    h->len = b.len;
    h->made = 1;
    return h;
}

/* ---- coroutine activations as async slices ---------------------------- */

/* The activation entry of event `seq`, or NULL: entries come in seq
 * order, and so do begin events. */
static const MtLogActivation *
activation_at(ChromeCtx *c, uint64_t seq)
{
    /* `write` may have cleared the log since the walk began. */
    size_t n = c->nacts < c->log->nacts ? c->nacts : c->log->nacts;
    while (c->act_cursor < n && c->log->acts[c->act_cursor].seq < seq) {
        c->act_cursor++;
    }
    if (c->act_cursor < n && c->log->acts[c->act_cursor].seq == seq) {
        return &c->log->acts[c->act_cursor];
    }
    return NULL;
}

static struct Life *
life_of(ChromeCtx *c, uint32_t activation)
{
    if (activation < c->life_base
        || (size_t)(activation - c->life_base) >= c->nlives) {
        return NULL;
    }
    return &c->lives[activation - c->life_base];
}

/* Room for every activation the log names (between the lowest and the
 * highest serial in its entries); 0 when there is none or no memory. */
static int
lives_init(ChromeCtx *c)
{
    if (c->nacts == 0) {
        return 0;
    }
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t i = 0; i < c->nacts; i++) {
        uint32_t a = c->log->acts[i].activation;
        lo = a < lo ? a : lo;
        hi = a > hi ? a : hi;
    }
    size_t n = (size_t)(hi - lo) + 1;
    c->lives = PyMem_RawCalloc(n, sizeof(*c->lives));
    if (c->lives == NULL) {
        c->failed = 1;
        return 0;
    }
    c->life_base = lo;
    c->nlives = n;
    return 1;
}

static void
async_event(ChromeCtx *c, char ph, const struct Life *life, int64_t ts)
{
    MtOutBuf *b = c->out;
    PyObject *nm = (Py_ssize_t)life->record < PyList_GET_SIZE(c->names)
                       ? PyList_GET_ITEM(c->names, life->record)
                       : NULL;
    int ok = nm != NULL && PyTuple_Check(nm) && PyTuple_GET_SIZE(nm) == 4;
    mt_outbuf_puts(b, ph == 'b' ? ",\n{\"ph\":\"b\",\"pid\":"
                                : ",\n{\"ph\":\"e\",\"pid\":");
    mt_outbuf_i64(b, c->pid);
    mt_outbuf_puts(b, ",\"tid\":");
    mt_outbuf_i64(b, life->tid);
    mt_outbuf_puts(b, ",\"cat\":\"coroutine\",\"id\":\"0x");
    char hex[17];
    int n = 0;
    for (int shift = 60; shift >= 0; shift -= 4) {
        unsigned d = (unsigned)(life->track >> shift) & 0xF;
        if (d != 0 || n > 0 || shift == 0) {
            hex[n++] = HEX[d];
        }
    }
    mt_outbuf_write(b, hex, (size_t)n);
    mt_outbuf_puts(b, "\",\"name\":");
    mt_chrome_json_str(b, ok ? PyTuple_GET_ITEM(nm, 0) : NULL);
    if (ph == 'b') {
        PyObject *task = NULL;
        if (life->track >= 1 && life->track <= (uint64_t)PY_SSIZE_T_MAX
            && c->tasks != NULL
            && (Py_ssize_t)(life->track - 1) < PyList_GET_SIZE(c->tasks)) {
            task = PyList_GET_ITEM(c->tasks, (Py_ssize_t)(life->track - 1));
        }
        if (task != NULL && PyTuple_Check(task)
            && PyTuple_GET_SIZE(task) == 2) {
            mt_outbuf_puts(b, ",\"args\":{\"task\":");
            mt_chrome_json_str(b, PyTuple_GET_ITEM(task, 0));
            mt_outbuf_putc(b, '}');
        }
    }
    mt_outbuf_puts(b, ",\"ts\":");
    put_us(b, ts);
    mt_outbuf_putc(b, '}');
}

/* A coroutine's start or resume: a start opens its async slice on its
 * task's track (found at the start of the task's root coroutine, or the
 * track of the coroutine that awaits it). */
static void
async_begin(ChromeCtx *c, MtWalkAct *act, const MtWalkAct *parent,
            const MtLogEvent *e, long long tid)
{
    const MtLogActivation *a = activation_at(c, act->seq);
    if (a == NULL) {
        return;
    }
    struct Life *life = life_of(c, a->activation);
    if (life == NULL) {
        return;
    }
    act->node = a->activation;
    if (e->kind != MT_LOG_CALL) {
        return;
    }
    const struct Life *up =
        parent != NULL && parent->node != 0 ? life_of(c, parent->node) : NULL;
    if (a->task >= 0) {
        life->track = (uint64_t)a->task + 1;
    }
    else if (a->task == MT_TASK_INHERIT && up != NULL && up->track != 0) {
        life->track = up->track;
    }
    else {
        life->track = ((uint64_t)1 << 32) + a->activation;
    }
    life->tid = tid;
    life->record = e->record;
    life->open = 1;
    async_event(c, 'b', life, act->start_ns);
}

/* A coroutine's activation left the stack: its slice ends when it
 * returned or raised (or its end was lost), not when it suspended. */
static void
async_end(ChromeCtx *c, const MtWalkAct *act, const MtLogEvent *e)
{
    if (act->node == 0 || (e != NULL && e->kind == MT_LOG_YIELD)) {
        return;
    }
    struct Life *life = life_of(c, act->node);
    if (life != NULL && life->open) {
        life->open = 0;
        async_event(c, 'e', life, act->end_ns);
    }
}

/* Slices of activations still suspended when recording ended end with
 * the log. */
static void
async_finish(ChromeCtx *c)
{
    for (size_t i = 0; i < c->nlives; i++) {
        if (c->lives[i].open) {
            c->lives[i].open = 0;
            async_event(c, 'e', &c->lives[i], c->last_ns);
        }
    }
}

static void
on_begin(MtWalker *w, uint32_t thread, MtWalkAct *act, const MtWalkAct *parent,
         const MtLogEvent *e)
{
    ChromeCtx *c = (ChromeCtx *)w->ctx;
    MtOutBuf *b = c->out;
    long long tid;
    thread_meta(c, thread, &tid);
    const Head *h = head_of(c, e->record);
    if (h == NULL) {
        return;
    }
    mt_outbuf_puts(b, ",\n{\"ph\":\"B\",\"pid\":");
    mt_outbuf_i64(b, c->pid);
    mt_outbuf_puts(b, ",\"tid\":");
    mt_outbuf_i64(b, tid);
    mt_outbuf_write(b, h->text, h->len);
    int members = h->members;
    if (!act->is_call) {
        mt_outbuf_puts(b, members ? ",\"resumed\":true" : "\"resumed\":true");
        members = 1;
    }
    PyObject *args = note_of(c, act->seq, MT_NOTE_ARGS);
    if (args != NULL && PyTuple_Check(args)) {
        mt_outbuf_puts(b, members ? ",\"args\":{" : "\"args\":{");
        /* dict(pairs): a later pair of the same name wins; parameter
         * names are unique, so pairs are written in order. */
        Py_ssize_t n = PyTuple_GET_SIZE(args);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *pair = PyTuple_GET_ITEM(args, i);
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                continue;
            }
            if (i > 0) {
                mt_outbuf_putc(b, ',');
            }
            mt_chrome_json_str(b, PyTuple_GET_ITEM(pair, 0));
            mt_outbuf_putc(b, ':');
            mt_chrome_json_str(b, PyTuple_GET_ITEM(pair, 1));
        }
        mt_outbuf_putc(b, '}');
    }
    mt_outbuf_puts(b, "},\"ts\":");
    put_us(b, act->start_ns);
    mt_outbuf_putc(b, '}');
    if (c->lives != NULL) {
        async_begin(c, act, parent, e, tid);
    }
    mt_outbuf_maybe_flush(b);
}

static void
on_end(MtWalker *w, uint32_t thread, const MtWalkAct *act, const MtLogEvent *e,
       uint64_t seq)
{
    ChromeCtx *c = (ChromeCtx *)w->ctx;
    MtOutBuf *b = c->out;
    long long tid;
    thread_meta(c, thread, &tid);
    mt_outbuf_puts(b, ",\n{\"ph\":\"E\",\"pid\":");
    mt_outbuf_i64(b, c->pid);
    mt_outbuf_puts(b, ",\"tid\":");
    mt_outbuf_i64(b, tid);
    mt_outbuf_puts(b, ",\"args\":{");
    if (e == NULL) {
        mt_outbuf_puts(b, "\"unwound\":true");
    }
    else {
        const char *how = e->kind == MT_LOG_RAISE || e->kind == MT_LOG_C_RAISE
                              ? "raise"
                          : e->kind == MT_LOG_YIELD ? "yield"
                                                    : "return";
        mt_outbuf_puts(b, "\"exit\":\"");
        mt_outbuf_puts(b, how);
        mt_outbuf_putc(b, '"');
        PyObject *retval = note_of(c, seq, MT_NOTE_RETVAL);
        if (retval != NULL) {
            mt_outbuf_puts(b, ",\"return\":");
            mt_chrome_json_str(b, retval);
        }
        PyObject *exc = note_of(c, seq, MT_NOTE_EXC_REPR);
        if (exc != NULL) {
            mt_outbuf_puts(b, ",\"exception\":");
            mt_chrome_json_str(b, exc);
        }
    }
    mt_outbuf_puts(b, "},\"ts\":");
    put_us(b, act->end_ns);
    mt_outbuf_putc(b, '}');
    if (c->lives != NULL) {
        async_end(c, act, e);
    }
    mt_outbuf_maybe_flush(b);
}

const char mt_chrome_write_doc[] =
    "log_write_chrome($self, write, names, threads, pid, min_ns=0, /)\n"
    "--\n\n"
    "Write the recorded events as Chrome trace events (each begins with\n"
    "',\\n') through `write(bytes)`: `names` by record index holds\n"
    "(full_name, category, file or None, line), `threads` by thread index\n"
    "(native_id, name). With `min_ns`, activations shorter than that are\n"
    "left out with everything inside them. Raises what `write` raises.";

PyObject *
mt_chrome_write_method(PyObject *self, PyObject *args)
{
    MtTracer *tr = (MtTracer *)self;
    PyObject *write, *names, *threads;
    long pid;
    long long min_ns = 0;
    if (!PyArg_ParseTuple(args, "OO!O!l|L:log_write_chrome", &write,
                          &PyList_Type, &names, &PyList_Type, &threads, &pid,
                          &min_ns)) {
        return NULL;
    }
    if (mt_guard_refuse(tr, "log_write_chrome", 0) < 0) {
        return NULL;
    }
    double scale = mt_clock_ns_per_tick(tr->clock);
    uint64_t end = tr->log.count;
    uint8_t *dropped = NULL;
    if (min_ns > 0) {
        dropped = mt_walk_short(&tr->log, end, scale, (int64_t)min_ns);
        if (dropped == NULL) {
            return PyErr_NoMemory();
        }
    }
    MtOutBuf out;
    mt_outbuf_init(&out);
    mt_outbuf_target(&out, -1, write, 0, 0);
    ChromeCtx c = {.out = &out,
                   .log = &tr->log,
                   .names = names,
                   .threads = threads,
                   .pid = pid,
                   .nacts = tr->log.nacts,
                   .tasks = tr->log.tasks};
    Py_INCREF(names);
    Py_INCREF(threads);
    Py_XINCREF(c.tasks);
    lives_init(&c);
    mt_walk_init(&c.walk, on_begin, on_end, &c);
    uint64_t serial = tr->serial;
    for (uint64_t seq = 0; seq < end && !out.failed; seq++) {
        if (tr->serial != serial) {
            break;
        }
        if (mt_walk_dropped(dropped, seq)) {
            continue;
        }
        /* A copy: `write` may run code that grows or clears the log. */
        MtLogEvent e = *mt_eventlog_event_at(&tr->log, seq);
        int64_t ns = mt_eventlog_ns(&tr->log, scale, e.time);
        c.last_ns = ns > c.last_ns ? ns : c.last_ns;
        mt_walk_event(&c.walk, &e, seq, ns);
    }
    int cleared = tr->serial != serial;
    if (!cleared && !out.failed) {
        mt_walk_finish(&c.walk);
        if (c.lives != NULL) {
            async_finish(&c);
        }
        mt_outbuf_flush(&out);
    }
    int nomem = c.walk.nomem || c.failed;
    mt_walk_free(&c.walk);
    PyMem_RawFree(dropped);
    PyMem_RawFree(c.meta_done);
    for (size_t i = 0; i < c.nheads; i++) {
        PyMem_RawFree(c.heads[i].text);
    }
    PyMem_RawFree(c.heads);
    PyMem_RawFree(c.lives);
    Py_XDECREF(c.tasks);
    Py_DECREF(names);
    Py_DECREF(threads);
    if (cleared) {
        mt_outbuf_free(&out);
        PyErr_SetString(PyExc_RuntimeError,
                        "monitrace: the recorded events were cleared "
                        "(clear() or a fork) while being read");
        return NULL;
    }
    return mt_outbuf_finish(&out, nomem);
}
