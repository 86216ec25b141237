/* The call tree formatter: per-thread stacks of activations, names read
 * as UTF-8 from Python objects made once, text appended to a buffer. */
#include "treefmt.h"

#include <stdio.h>

#define INDENT "    "
#define RESET "\x1b[0m"

typedef struct {
    const char *display; /* UTF-8, borrowed from `MtTreeFmt.names` */
    Py_ssize_t display_len;
    const char *file; /* shown with path=True */
    Py_ssize_t file_len;
    const char *base; /* file name shown for line events */
    Py_ssize_t base_len;
    PyObject *filename; /* Borrowed (names): full, for source_line */
    long firstlineno;
    uint8_t known;
    uint8_t python;
    uint8_t hidden;  /* never printed (the CLI's script module code) */
    uint8_t library; /* stdlib or site-packages */
} MtTreeName;

typedef struct {
    int64_t start_ns; /* -1: began before we saw it */
    uint32_t indent;  /* where its lines are printed */
    uint8_t shown;
    uint8_t suppressed; /* below the depth limit (so are its children) */
    uint8_t library;
    uint8_t libhidden; /* library code called by library code */
    uint8_t decided;   /* min_duration: known to last long enough */
    size_t mark;       /* min_duration: where its text starts in pending */
} MtTreeFrame;

typedef struct {
    MtTreeFrame *frames; /* Owned array */
    size_t depth;
    size_t cap;
    MtOutBuf pending; /* min_duration: text held back (no target) */
    char *name;       /* Owned UTF-8 */
    size_t name_len;
    uint8_t named; /* the real name (not Thread-<ident>) */
    uint8_t used;
} MtTreeThread;

typedef struct {
    uint32_t record;
    int32_t line;
    PyObject *text; /* Owned str, NULL: free slot */
} MtLineSlot;

struct MtTreeFmt {
    int path, elapsed, color, library_first;
    long depth_limit; /* 0: none */
    int prefix;       /* -1: once a second thread shows up */
    int64_t min_ns;
    PyObject *namer;       /* Owned callable or NULL */
    PyObject *source_line; /* Owned callable or NULL */
    PyObject *exc_name;    /* Owned callable or NULL */
    PyObject *shorten;     /* Owned callable or NULL */
    PyObject *names;       /* Owned list of the namer's tuples */
    MtTreeName *recs;      /* Owned array, like `names` */
    Py_ssize_t nrecs;
    PyObject *exc_names;   /* Owned dict: type -> str */
    PyObject *short_files; /* Owned dict: str -> str */
    MtLineSlot *lines;     /* Owned open-addressing table */
    size_t lines_mask;     /* capacity - 1, 0: empty */
    size_t lines_used;
    MtTreeThread *threads; /* Owned array, by thread index */
    size_t nthreads;
    uint32_t first_thread;
    int seen_thread;
    uint64_t hidden_calls;
    MtOutBuf out;
};

static const char *CAPSULE = "monitrace._core.treefmt";

/* ---- lifetime ---------------------------------------------------------- */

static void
reset_threads(MtTreeFmt *f)
{
    for (size_t i = 0; i < f->nthreads; i++) {
        PyMem_RawFree(f->threads[i].frames);
        PyMem_RawFree(f->threads[i].name);
        mt_outbuf_free(&f->threads[i].pending);
    }
    PyMem_RawFree(f->threads);
    f->threads = NULL;
    f->nthreads = 0;
    f->seen_thread = 0;
}

static void
reset_lines(MtTreeFmt *f)
{
    if (f->lines_mask) {
        for (size_t i = 0; i <= f->lines_mask; i++) {
            Py_CLEAR(f->lines[i].text);
        }
    }
    PyMem_RawFree(f->lines);
    f->lines = NULL;
    f->lines_mask = f->lines_used = 0;
}

void
mt_treefmt_reset(MtTreeFmt *f)
{
    reset_threads(f);
    reset_lines(f);
    PyMem_RawFree(f->recs);
    f->recs = NULL;
    f->nrecs = 0;
    f->hidden_calls = 0;
    if (f->names != NULL) {
        PyList_SetSlice(f->names, 0, PyList_GET_SIZE(f->names), NULL);
    }
}

static void
treefmt_free(MtTreeFmt *f)
{
    mt_treefmt_reset(f);
    Py_CLEAR(f->namer);
    Py_CLEAR(f->source_line);
    Py_CLEAR(f->exc_name);
    Py_CLEAR(f->shorten);
    Py_CLEAR(f->names);
    Py_CLEAR(f->exc_names);
    Py_CLEAR(f->short_files);
    mt_outbuf_free(&f->out);
    PyMem_RawFree(f);
}

static void
capsule_free(PyObject *capsule)
{
    MtTreeFmt *f = PyCapsule_GetPointer(capsule, CAPSULE);
    if (f != NULL) {
        treefmt_free(f);
    }
    else {
        PyErr_Clear();
    }
}

static int
spec_bool(PyObject *spec, const char *key, int *out)
{
    PyObject *v = PyDict_GetItemString(spec, key); /* borrowed */
    if (v == NULL) {
        *out = 0;
        return 0;
    }
    int r = PyObject_IsTrue(v);
    if (r < 0) {
        return -1;
    }
    *out = r;
    return 0;
}

static int
spec_callable(PyObject *spec, const char *key, PyObject **out)
{
    PyObject *v = PyDict_GetItemString(spec, key);
    if (v == NULL || v == Py_None) {
        return 0;
    }
    if (!PyCallable_Check(v)) {
        PyErr_Format(PyExc_TypeError, "tree spec: %s must be callable", key);
        return -1;
    }
    *out = Py_NewRef(v);
    return 0;
}

PyObject *
mt_treefmt_capsule_new(PyObject *spec)
{
    if (!PyDict_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, "tree spec must be a dict");
        return NULL;
    }
    MtTreeFmt *f = PyMem_RawCalloc(1, sizeof(*f));
    if (f == NULL) {
        return PyErr_NoMemory();
    }
    mt_outbuf_init(&f->out);
    f->prefix = -1;
    PyObject *v;
    if (spec_bool(spec, "path", &f->path) < 0
        || spec_bool(spec, "elapsed", &f->elapsed) < 0
        || spec_bool(spec, "color", &f->color) < 0
        || spec_bool(spec, "library_first", &f->library_first) < 0
        || spec_callable(spec, "namer", &f->namer) < 0
        || spec_callable(spec, "source_line", &f->source_line) < 0
        || spec_callable(spec, "exc_name", &f->exc_name) < 0
        || spec_callable(spec, "shorten", &f->shorten) < 0) {
        goto error;
    }
    if (f->namer == NULL) {
        PyErr_SetString(PyExc_TypeError, "tree spec: namer is required");
        goto error;
    }
    v = PyDict_GetItemString(spec, "depth");
    if (v != NULL && v != Py_None) {
        f->depth_limit = PyLong_AsLong(v);
        if (f->depth_limit == -1 && PyErr_Occurred()) {
            goto error;
        }
        if (f->depth_limit < 0) {
            f->depth_limit = 0;
        }
    }
    v = PyDict_GetItemString(spec, "prefix");
    if (v != NULL && v != Py_None) {
        int r = PyObject_IsTrue(v);
        if (r < 0) {
            goto error;
        }
        f->prefix = r;
    }
    v = PyDict_GetItemString(spec, "min_ns");
    if (v != NULL && v != Py_None) {
        long long ns = PyLong_AsLongLong(v);
        if (ns == -1 && PyErr_Occurred()) {
            goto error;
        }
        f->min_ns = ns > 0 ? ns : 0;
    }
    f->names = PyList_New(0);
    f->exc_names = PyDict_New();
    f->short_files = PyDict_New();
    if (f->names == NULL || f->exc_names == NULL || f->short_files == NULL) {
        goto error;
    }
    PyObject *capsule = PyCapsule_New(f, CAPSULE, capsule_free);
    if (capsule == NULL) {
        goto error;
    }
    return capsule;

error:
    treefmt_free(f);
    return NULL;
}

MtTreeFmt *
mt_treefmt_from_capsule(PyObject *capsule)
{
    if (capsule == NULL || !PyCapsule_IsValid(capsule, CAPSULE)) {
        return NULL;
    }
    return PyCapsule_GetPointer(capsule, CAPSULE);
}

MtOutBuf *
mt_treefmt_out(MtTreeFmt *f)
{
    return &f->out;
}

uint64_t
mt_treefmt_hidden_calls(const MtTreeFmt *f)
{
    return f->hidden_calls;
}

int
mt_treefmt_traverse(MtTreeFmt *f, visitproc visit, void *arg)
{
    Py_VISIT(f->namer);
    Py_VISIT(f->source_line);
    Py_VISIT(f->exc_name);
    Py_VISIT(f->shorten);
    Py_VISIT(f->names);
    Py_VISIT(f->exc_names);
    Py_VISIT(f->short_files);
    return mt_outbuf_traverse(&f->out, visit, arg);
}

/* ---- resolving names (may run Python code) ------------------------------ */

static const char *
utf8_of(PyObject *s, Py_ssize_t *len)
{
    if (!PyUnicode_Check(s)) {
        PyErr_SetString(PyExc_TypeError, "tree namer: expected str");
        return NULL;
    }
    return PyUnicode_AsUTF8AndSize(s, len);
}

static int
know_record(MtTreeFmt *f, uint32_t index, PyObject *key, PyObject *module)
{
    if ((Py_ssize_t)index < f->nrecs && f->recs[index].known) {
        return 0;
    }
    PyObject *res =
        PyObject_CallFunction(f->namer, "IOO", index, key ? key : Py_None,
                              module ? module : Py_None);
    if (res == NULL) {
        return -1;
    }
    /* (display, firstlineno, file, base, filename, python, hidden,
     * library) */
    if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 8) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_TypeError, "tree namer: expected an 8-tuple");
        return -1;
    }
    /* Kept in `names` at the record's index: the UTF-8 read below lives
     * as long as the tuple's strings. */
    while (PyList_GET_SIZE(f->names) <= (Py_ssize_t)index) {
        if (PyList_Append(f->names, Py_None) < 0) {
            Py_DECREF(res);
            return -1;
        }
    }
    if (PyList_SetItem(f->names, (Py_ssize_t)index, res) < 0) {
        return -1;
    }
    if ((Py_ssize_t)index >= f->nrecs) {
        Py_ssize_t n = f->nrecs ? f->nrecs : 64;
        while (n <= (Py_ssize_t)index) {
            n *= 2;
        }
        MtTreeName *recs = PyMem_RawRealloc(f->recs, n * sizeof(*recs));
        if (recs == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memset(recs + f->nrecs, 0, (n - f->nrecs) * sizeof(*recs));
        f->recs = recs;
        f->nrecs = n;
    }
    MtTreeName nm = {0};
    nm.display = utf8_of(PyTuple_GET_ITEM(res, 0), &nm.display_len);
    nm.file =
        nm.display ? utf8_of(PyTuple_GET_ITEM(res, 2), &nm.file_len) : NULL;
    nm.base = nm.file ? utf8_of(PyTuple_GET_ITEM(res, 3), &nm.base_len) : NULL;
    if (nm.base == NULL) {
        return -1;
    }
    nm.firstlineno = PyLong_AsLong(PyTuple_GET_ITEM(res, 1));
    if (nm.firstlineno == -1 && PyErr_Occurred()) {
        return -1;
    }
    nm.filename = PyTuple_GET_ITEM(res, 4);
    int python = PyObject_IsTrue(PyTuple_GET_ITEM(res, 5));
    int hidden = PyObject_IsTrue(PyTuple_GET_ITEM(res, 6));
    int library = PyObject_IsTrue(PyTuple_GET_ITEM(res, 7));
    if (python < 0 || hidden < 0 || library < 0) {
        return -1;
    }
    nm.python = (uint8_t)python;
    nm.hidden = (uint8_t)hidden;
    nm.library = (uint8_t)library;
    nm.known = 1;
    f->recs[index] = nm;
    return 0;
}

static size_t
line_hash(uint32_t record, int32_t line)
{
    uint64_t h = ((uint64_t)record << 32) ^ (uint32_t)line;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 29);
}

static MtLineSlot *
line_slot(MtTreeFmt *f, uint32_t record, int32_t line)
{
    size_t i = line_hash(record, line) & f->lines_mask;
    while (f->lines[i].text != NULL
           && (f->lines[i].record != record || f->lines[i].line != line)) {
        i = (i + 1) & f->lines_mask;
    }
    return &f->lines[i];
}

static int
know_line(MtTreeFmt *f, uint32_t record, int32_t line, PyObject **source)
{
    *source = NULL;
    if (f->lines_mask) {
        MtLineSlot *s = line_slot(f, record, line);
        if (s->text != NULL) {
            *source = s->text;
            return 0;
        }
    }
    PyObject *text =
        f->source_line == NULL
            ? PyUnicode_FromString("")
            : PyObject_CallFunction(f->source_line, "Oi",
                                    f->recs[record].filename, (int)line);
    if (text == NULL) {
        return -1;
    }
    if (!PyUnicode_Check(text)) {
        Py_DECREF(text);
        PyErr_SetString(PyExc_TypeError, "tree source_line: expected str");
        return -1;
    }
    if ((f->lines_used + 1) * 2 > f->lines_mask + 1) {
        size_t cap = f->lines_mask ? (f->lines_mask + 1) * 2 : 256;
        MtLineSlot *old = f->lines;
        size_t old_cap = f->lines_mask ? f->lines_mask + 1 : 0;
        f->lines = PyMem_RawCalloc(cap, sizeof(*f->lines));
        if (f->lines == NULL) {
            f->lines = old;
            Py_DECREF(text);
            PyErr_NoMemory();
            return -1;
        }
        f->lines_mask = cap - 1;
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i].text != NULL) {
                *line_slot(f, old[i].record, old[i].line) = old[i];
            }
        }
        PyMem_RawFree(old);
    }
    MtLineSlot *s = line_slot(f, record, line);
    s->record = record;
    s->line = line;
    s->text = text;
    f->lines_used++;
    *source = text;
    return 0;
}

/* `cache[key]`, made by `make(key)` the first time; borrowed. */
static PyObject *
cached_call(PyObject *cache, PyObject *make, PyObject *key)
{
    PyObject *found = PyDict_GetItemWithError(cache, key);
    if (found != NULL || PyErr_Occurred()) {
        return found;
    }
    PyObject *made = PyObject_CallOneArg(make, key);
    if (made == NULL) {
        return NULL;
    }
    if (!PyUnicode_Check(made)) {
        Py_DECREF(made);
        PyErr_SetString(PyExc_TypeError, "tree: a name must be a str");
        return NULL;
    }
    int rc = PyDict_SetItem(cache, key, made);
    Py_DECREF(made);
    return rc < 0 ? NULL : PyDict_GetItemWithError(cache, key);
}

static MtTreeThread *
thread_of(MtTreeFmt *f, uint32_t index)
{
    if (index >= f->nthreads) {
        size_t n = f->nthreads ? f->nthreads : 8;
        while (n <= index) {
            n *= 2;
        }
        MtTreeThread *t = PyMem_RawRealloc(f->threads, n * sizeof(*t));
        if (t == NULL) {
            return NULL;
        }
        memset(t + f->nthreads, 0, (n - f->nthreads) * sizeof(*t));
        for (size_t i = f->nthreads; i < n; i++) {
            mt_outbuf_init(&t[i].pending);
        }
        f->threads = t;
        f->nthreads = n;
    }
    return &f->threads[index];
}

static int
know_thread(MtTreeFmt *f, uint32_t index, PyObject *name, unsigned long ident)
{
    MtTreeThread *t = thread_of(f, index);
    if (t == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->used = 1;
    if (t->named || (t->name != NULL && (name == NULL || name == Py_None))) {
        return 0;
    }
    const char *s;
    Py_ssize_t len;
    char tmp[48];
    if (name != NULL && name != Py_None && PyUnicode_Check(name)) {
        s = PyUnicode_AsUTF8AndSize(name, &len);
        if (s == NULL) {
            return -1;
        }
    }
    else {
        len = snprintf(tmp, sizeof(tmp), "Thread-%lu", ident);
        s = tmp;
        name = NULL;
    }
    char *copy = PyMem_RawMalloc((size_t)len + 1);
    if (copy == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(copy, s, (size_t)len + 1);
    PyMem_RawFree(t->name);
    t->name = copy;
    t->name_len = (size_t)len;
    t->named = name != NULL;
    return 0;
}

int
mt_treefmt_ready(const MtTreeFmt *f, const MtLogEvent *e,
                 PyObject *const *notes, PyObject *thread_name,
                 MtTreeRefs *refs)
{
    if (e->thread >= f->nthreads || (Py_ssize_t)e->record >= f->nrecs
        || !f->recs[e->record].known || e->kind == MT_LOG_LINE
        || notes[MT_NOTE_EXC_TYPE] != NULL
        || (f->path && notes[MT_NOTE_CALLER_FILE] != NULL)) {
        return 0;
    }
    const MtTreeThread *t = &f->threads[e->thread];
    if (!t->named && (t->name == NULL || thread_name != NULL)) {
        return 0;
    }
    refs->exc = refs->source = refs->caller = NULL;
    return 1;
}

int
mt_treefmt_prepare(MtTreeFmt *f, const MtLogEvent *e, PyObject *key,
                   PyObject *module, PyObject *const *notes,
                   PyObject *thread_name, unsigned long ident,
                   MtTreeRefs *refs)
{
    refs->exc = refs->source = refs->caller = NULL;
    if (know_thread(f, e->thread, thread_name, ident) < 0
        || know_record(f, e->record, key, module) < 0) {
        return -1;
    }
    if (e->kind == MT_LOG_LINE
        && know_line(f, e->record, e->line, &refs->source) < 0) {
        return -1;
    }
    PyObject *exc_type = notes[MT_NOTE_EXC_TYPE];
    if (exc_type != NULL && f->exc_name != NULL) {
        refs->exc = cached_call(f->exc_names, f->exc_name, exc_type);
        if (refs->exc == NULL) {
            return -1;
        }
    }
    PyObject *caller = notes[MT_NOTE_CALLER_FILE];
    if (caller != NULL && f->path) {
        refs->caller = f->shorten == NULL
                           ? caller
                           : cached_call(f->short_files, f->shorten, caller);
        if (refs->caller == NULL) {
            return -1;
        }
    }
    /* The thread's and the record's entries may have been made by
     * another thread meanwhile; they are there now. */
    return 0;
}

/* ---- formatting (plain C) ---------------------------------------------- */

static void
put_str(MtOutBuf *b, PyObject *s)
{
    Py_ssize_t len;
    const char *u =
        PyUnicode_Check(s) ? PyUnicode_AsUTF8AndSize(s, &len) : NULL;
    if (u != NULL) {
        mt_outbuf_write(b, u, (size_t)len);
        return;
    }
    /* Lone surrogates (a repr of odd data): shown escaped. */
    PyErr_Clear();
    PyObject *bytes =
        PyUnicode_Check(s)
            ? PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace")
            : NULL;
    if (bytes == NULL) {
        PyErr_Clear();
        mt_outbuf_puts(b, "?");
        return;
    }
    mt_outbuf_write(b, PyBytes_AS_STRING(bytes),
                    (size_t)PyBytes_GET_SIZE(bytes));
    Py_DECREF(bytes);
}

static void
put_long(MtOutBuf *b, long v)
{
    mt_outbuf_i64(b, (int64_t)v);
}

static MtTreeFrame
child(MtTreeFmt *f, MtTreeThread *t, const MtTreeName *nm, int64_t now)
{
    MtTreeFrame fr = {0};
    MtTreeFrame *parent = t->depth ? &t->frames[t->depth - 1] : NULL;
    fr.indent = parent ? parent->indent + parent->shown : 0;
    fr.suppressed = (parent && parent->suppressed)
                    || (f->depth_limit > 0 && fr.indent >= f->depth_limit);
    /* A hidden frame (the program's module code) counts as the user's:
     * the library code it calls shows its first frame. */
    fr.library = nm->library && !nm->hidden;
    fr.libhidden =
        f->library_first && nm->library && parent != NULL && parent->library;
    fr.shown = !nm->hidden && !fr.suppressed && !fr.libhidden;
    fr.start_ns = now;
    return fr;
}

static int
push(MtTreeThread *t, const MtTreeFrame *fr)
{
    if (t->depth == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        MtTreeFrame *frames = PyMem_RawRealloc(t->frames, cap * sizeof(*fr));
        if (frames == NULL) {
            return -1;
        }
        t->frames = frames;
        t->cap = cap;
    }
    t->frames[t->depth++] = *fr;
    return 0;
}

static void
color_on(MtTreeFmt *f, MtOutBuf *b, const char *code)
{
    if (f->color) {
        mt_outbuf_puts(b, code);
    }
}

static void
color_off(MtTreeFmt *f, MtOutBuf *b)
{
    if (f->color) {
        mt_outbuf_puts(b, RESET);
    }
}

/* The thread prefix and the indent of a line of `t`. */
static void
line_start(MtTreeFmt *f, MtOutBuf *b, uint32_t thread, MtTreeThread *t,
           uint32_t indent)
{
    if (f->prefix < 0) {
        if (!f->seen_thread) {
            f->seen_thread = 1;
            f->first_thread = thread;
        }
        else if (thread != f->first_thread) {
            f->prefix = 1;
        }
    }
    if (f->prefix > 0) {
        color_on(f, b, "\x1b[33m");
        mt_outbuf_putc(b, '[');
        mt_outbuf_write(b, t->name, t->name_len);
        mt_outbuf_puts(b, "] ");
        color_off(f, b);
    }
    static const char spaces[] = INDENT INDENT INDENT INDENT INDENT INDENT
        INDENT INDENT INDENT INDENT INDENT INDENT INDENT INDENT INDENT INDENT;
    size_t left = (size_t)indent * 4;
    while (left > 0) {
        size_t n = left < sizeof(spaces) - 1 ? left : sizeof(spaces) - 1;
        mt_outbuf_write(b, spaces, n);
        left -= n;
    }
}

static void
verb(MtTreeFmt *f, MtOutBuf *b, const char *word, const char *code)
{
    color_on(f, b, code);
    mt_outbuf_puts(b, word);
    color_off(f, b);
}

/* name:firstlineno, or name@file:firstlineno with path=True */
static void
definition(MtTreeFmt *f, MtOutBuf *b, const MtTreeName *nm)
{
    mt_outbuf_write(b, nm->display, (size_t)nm->display_len);
    if (f->path) {
        mt_outbuf_putc(b, '@');
        mt_outbuf_write(b, nm->file, (size_t)nm->file_len);
    }
    mt_outbuf_putc(b, ':');
    put_long(b, nm->firstlineno);
}

static void
site(MtTreeFmt *f, MtOutBuf *b, const MtLogEvent *e, const MtTreeRefs *refs)
{
    if (e->line <= 0) {
        return;
    }
    if (f->path && refs->caller != NULL) {
        mt_outbuf_puts(b, " from ");
        put_str(b, refs->caller);
        mt_outbuf_putc(b, ':');
    }
    else {
        mt_outbuf_puts(b, " from line ");
    }
    put_long(b, e->line);
}

/* report.format_duration: 850ns, 12.3us, 4.56ms, 1.23s */
static void
duration(MtOutBuf *b, int64_t ns)
{
    char tmp[64];
    double v = (double)ns;
    int n;
    if (v < 1e3) {
        n = snprintf(tmp, sizeof(tmp), "%.0fns", v);
    }
    else if (v < 1e6) {
        n = snprintf(tmp, sizeof(tmp), "%.3gus", v / 1e3);
    }
    else if (v < 1e9) {
        n = snprintf(tmp, sizeof(tmp), "%.3gms", v / 1e6);
    }
    else {
        n = snprintf(tmp, sizeof(tmp), "%.3gs", v / 1e9);
    }
    if (n > 0) {
        mt_outbuf_write(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : 0);
    }
}

static int
is_enter(unsigned kind)
{
    return kind == MT_LOG_CALL || kind == MT_LOG_RESUME || kind == MT_LOG_THROW
           || kind == MT_LOG_C_CALL;
}

static void
enter_text(MtTreeFmt *f, MtOutBuf *b, const MtLogEvent *e,
           const MtTreeName *nm, PyObject *const *notes,
           const MtTreeRefs *refs)
{
    switch (e->kind) {
    case MT_LOG_THROW:
        verb(f, b, "Throwing", "\x1b[31m");
        mt_outbuf_putc(b, ' ');
        if (refs->exc != NULL) {
            put_str(b, refs->exc);
        }
        else {
            mt_outbuf_puts(b, "None");
        }
        mt_outbuf_puts(b, " into ");
        definition(f, b, nm);
        break;
    case MT_LOG_RESUME:
        verb(f, b, "Resuming", "\x1b[35m");
        mt_outbuf_putc(b, ' ');
        definition(f, b, nm);
        break;
    case MT_LOG_C_CALL:
        verb(f, b, "Called", "\x1b[36m");
        mt_outbuf_putc(b, ' ');
        mt_outbuf_write(b, nm->display, (size_t)nm->display_len);
        break;
    default:
        verb(f, b, "Called", "\x1b[36m");
        mt_outbuf_putc(b, ' ');
        definition(f, b, nm);
        break;
    }
    site(f, b, e, refs);
    PyObject *args = notes[MT_NOTE_ARGS];
    if (args != NULL && PyTuple_Check(args) && PyTuple_GET_SIZE(args) > 0) {
        mt_outbuf_puts(b, " with ");
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++) {
            PyObject *pair = PyTuple_GET_ITEM(args, i);
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                continue;
            }
            if (i > 0) {
                mt_outbuf_puts(b, ", ");
            }
            put_str(b, PyTuple_GET_ITEM(pair, 0));
            mt_outbuf_putc(b, '=');
            put_str(b, PyTuple_GET_ITEM(pair, 1));
        }
    }
}

static void
exit_text(MtTreeFmt *f, MtOutBuf *b, const MtLogEvent *e, const MtTreeName *nm,
          PyObject *const *notes, const MtTreeRefs *refs,
          const MtTreeFrame *fr, int64_t now)
{
    switch (e->kind) {
    case MT_LOG_RAISE: {
        verb(f, b, "Raised", "\x1b[31m");
        mt_outbuf_putc(b, ' ');
        PyObject *what = notes[MT_NOTE_EXC_REPR];
        if (what == NULL) {
            what = refs->exc;
        }
        if (what != NULL) {
            put_str(b, what);
        }
        else {
            mt_outbuf_puts(b, "an exception");
        }
        mt_outbuf_puts(b, " from ");
        mt_outbuf_write(b, nm->display, (size_t)nm->display_len);
        break;
    }
    case MT_LOG_C_RAISE:
        verb(f, b, "Raised", "\x1b[31m");
        mt_outbuf_puts(b, " from ");
        mt_outbuf_write(b, nm->display, (size_t)nm->display_len);
        break;
    default: {
        if (e->kind == MT_LOG_YIELD) {
            verb(f, b, "Yielding", "\x1b[35m");
        }
        else {
            verb(f, b, "Returning", "\x1b[32m");
        }
        mt_outbuf_putc(b, ' ');
        mt_outbuf_write(b, nm->display, (size_t)nm->display_len);
        PyObject *retval = notes[MT_NOTE_RETVAL];
        if (retval != NULL) {
            mt_outbuf_puts(b, "-> ");
            put_str(b, retval);
        }
        break;
    }
    }
    if (f->path && nm->python) {
        mt_outbuf_puts(b, " @ ");
        mt_outbuf_write(b, nm->file, (size_t)nm->file_len);
    }
    if (f->elapsed && fr->start_ns >= 0) {
        mt_outbuf_puts(b, " [");
        duration(b, now - fr->start_ns);
        mt_outbuf_putc(b, ']');
    }
}

/* min_duration: mark the activations that have lasted long enough by
 * `now`, and pass on the text before the first one still undecided. */
static void
decide(MtTreeFmt *f, MtTreeThread *t, int64_t now)
{
    MtTreeFrame *first = NULL;
    for (size_t i = 0; i < t->depth; i++) {
        MtTreeFrame *fr = &t->frames[i];
        if (!fr->decided) {
            if (now - fr->start_ns >= f->min_ns) {
                fr->decided = 1;
            }
            else if (first == NULL) {
                first = fr;
            }
        }
    }
    size_t cut = first == NULL ? t->pending.len : first->mark;
    if (cut == 0) {
        return;
    }
    mt_outbuf_write(&f->out, t->pending.data, cut);
    memmove(t->pending.data, t->pending.data + cut, t->pending.len - cut);
    t->pending.len -= cut;
    for (size_t i = 0; i < t->depth; i++) {
        MtTreeFrame *fr = &t->frames[i];
        fr->mark = fr->mark > cut ? fr->mark - cut : 0;
    }
}

static void
settle(MtTreeFmt *f, MtTreeThread *t)
{
    for (size_t i = 0; i < t->depth; i++) {
        if (!t->frames[i].decided) {
            return;
        }
    }
    if (t->pending.len) {
        mt_outbuf_write(&f->out, t->pending.data, t->pending.len);
        t->pending.len = 0;
    }
}

void
mt_treefmt_event(MtTreeFmt *f, const MtLogEvent *e, int64_t now,
                 PyObject *const *notes, const MtTreeRefs *refs)
{
    if (e->thread >= f->nthreads || (Py_ssize_t)e->record >= f->nrecs
        || !f->recs[e->record].known) {
        return; /* not prepared */
    }
    MtTreeThread *t = &f->threads[e->thread];
    const MtTreeName *nm = &f->recs[e->record];
    int hold = f->min_ns > 0;
    MtOutBuf *b = hold ? &t->pending : &f->out;
    size_t depth = e->depth;
    if (hold) {
        decide(f, t, now);
    }
    if (e->kind == MT_LOG_LINE) {
        if (t->depth > depth + 1) {
            t->depth = depth + 1;
        }
        MtTreeFrame fr =
            t->depth > depth ? t->frames[depth] : child(f, t, nm, now);
        if (!fr.suppressed && !fr.libhidden) {
            line_start(f, b, e->thread, t, fr.indent + fr.shown);
            color_on(f, b, "\x1b[2m");
            if (notes[MT_NOTE_RETVAL] != NULL) {
                /* A watched statement, PySnooper style: the line number
                 * right-aligned, its text and what it changed. */
                char num[24];
                int n = snprintf(num, sizeof(num), "%5ld | ", (long)e->line);
                mt_outbuf_write(b, num, n > 0 ? (size_t)n : 0);
                put_str(b, notes[MT_NOTE_RETVAL]);
            }
            else {
                mt_outbuf_write(
                    b, f->path ? nm->file : nm->base,
                    (size_t)(f->path ? nm->file_len : nm->base_len));
                mt_outbuf_putc(b, ':');
                put_long(b, e->line);
                mt_outbuf_puts(b, "  ");
                if (refs->source != NULL) {
                    put_str(b, refs->source);
                }
            }
            color_off(f, b);
            mt_outbuf_putc(b, '\n');
        }
    }
    else if (is_enter(e->kind)) {
        if (t->depth > depth) {
            t->depth = depth;
        }
        MtTreeFrame fr = child(f, t, nm, now);
        fr.mark = t->pending.len;
        if (fr.libhidden && !fr.suppressed
            && (e->kind == MT_LOG_CALL || e->kind == MT_LOG_C_CALL)) {
            f->hidden_calls++;
        }
        if (push(t, &fr) < 0) {
            f->out.failed = 1;
            f->out.nomem = 1;
            return;
        }
        if (fr.shown) {
            line_start(f, b, e->thread, t, fr.indent);
            enter_text(f, b, e, nm, notes, refs);
            mt_outbuf_putc(b, '\n');
        }
    }
    else {
        MtTreeFrame fr;
        int found = t->depth > depth;
        if (found) {
            t->depth = depth + 1;
            fr = t->frames[--t->depth];
        }
        else {
            fr = child(f, t, nm, now);
            fr.start_ns = -1;
        }
        if (hold && found && !fr.decided && now - fr.start_ns < f->min_ns) {
            /* Short: drop it with everything inside it. */
            if (t->pending.len > fr.mark) {
                t->pending.len = fr.mark;
            }
        }
        else if (fr.shown) {
            line_start(f, b, e->thread, t, fr.indent);
            exit_text(f, b, e, nm, notes, refs, &fr, now);
            mt_outbuf_putc(b, '\n');
        }
    }
    if (hold) {
        settle(f, t);
    }
}

void
mt_treefmt_release(MtTreeFmt *f)
{
    for (size_t i = 0; i < f->nthreads; i++) {
        MtTreeThread *t = &f->threads[i];
        for (size_t j = 0; j < t->depth; j++) {
            t->frames[j].decided = 1;
            t->frames[j].mark = 0;
        }
        if (t->pending.len) {
            mt_outbuf_write(&f->out, t->pending.data, t->pending.len);
            t->pending.len = 0;
        }
    }
}
