/* Collapsed stacks: a trie of stacks with their self time, then one line
 * per stack, in the order of the stacks' function indexes. */
#include "folded.h"
#include "clock.h"
#include "eventlog.h"
#include "outbuf.h"
#include "guard.h"
#include "session.h"
#include "walk.h"

#define ROOT 0u

typedef struct {
    uint32_t parent;
    uint32_t function;
    int64_t self_ns;
} Node;

typedef struct {
    MtWalker walk;
    Node *nodes; /* Owned; nodes[0] is the root */
    uint32_t nnodes;
    uint32_t cap;
    uint32_t *table; /* Owned: node ids by hash of (parent, function) */
    size_t mask;
    int nomem;
} Trie;

static size_t
hash(uint32_t parent, uint32_t function)
{
    uint64_t h = ((uint64_t)parent << 32) | function;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 27);
}

static int
rehash(Trie *t, size_t slots)
{
    uint32_t *table = PyMem_RawCalloc(slots, sizeof(*table));
    if (table == NULL) {
        return -1;
    }
    for (uint32_t id = 1; id < t->nnodes; id++) {
        size_t i =
            hash(t->nodes[id].parent, t->nodes[id].function) & (slots - 1);
        while (table[i] != 0) {
            i = (i + 1) & (slots - 1);
        }
        table[i] = id;
    }
    PyMem_RawFree(t->table);
    t->table = table;
    t->mask = slots - 1;
    return 0;
}

static uint32_t
child(Trie *t, uint32_t parent, uint32_t function)
{
    if (t->table != NULL) {
        size_t i = hash(parent, function) & t->mask;
        while (t->table[i] != 0) {
            Node *n = &t->nodes[t->table[i]];
            if (n->parent == parent && n->function == function) {
                return t->table[i];
            }
            i = (i + 1) & t->mask;
        }
    }
    if (t->nnodes == t->cap) {
        uint32_t cap = t->cap * 2;
        Node *nodes = PyMem_RawRealloc(t->nodes, cap * sizeof(*nodes));
        if (nodes == NULL) {
            t->nomem = 1;
            return ROOT;
        }
        t->nodes = nodes;
        t->cap = cap;
    }
    if (t->table == NULL || (size_t)(t->nnodes + 1) * 2 > t->mask + 1) {
        if (rehash(t, t->table == NULL ? 1024 : (t->mask + 1) * 2) < 0) {
            t->nomem = 1;
            return ROOT;
        }
    }
    uint32_t id = t->nnodes++;
    t->nodes[id] = (Node){.parent = parent, .function = function};
    size_t i = hash(parent, function) & t->mask;
    while (t->table[i] != 0) {
        i = (i + 1) & t->mask;
    }
    t->table[i] = id;
    return id;
}

static void
on_begin(MtWalker *w, uint32_t Py_UNUSED(thread), MtWalkAct *act,
         const MtWalkAct *parent, const MtLogEvent *Py_UNUSED(e))
{
    Trie *t = (Trie *)w->ctx;
    act->node = child(t, parent ? parent->node : ROOT, act->function);
}

static void
on_end(MtWalker *w, uint32_t Py_UNUSED(thread), const MtWalkAct *act,
       const MtLogEvent *Py_UNUSED(e), uint64_t Py_UNUSED(seq))
{
    Trie *t = (Trie *)w->ctx;
    if (act->node != ROOT) {
        t->nodes[act->node].self_ns += mt_walk_self_ns(act);
    }
}

/* Nodes sorted by (parent, function): keys carry what they compare. */
typedef struct {
    uint32_t parent;
    uint32_t function;
    uint32_t id;
} SortKey;

static int
cmp_keys(const void *a, const void *b)
{
    const SortKey *x = a, *y = b;
    if (x->parent != y->parent) {
        return x->parent < y->parent ? -1 : 1;
    }
    if (x->function != y->function) {
        return x->function < y->function ? -1 : 1;
    }
    return 0;
}

/* One line per node whose self time rounds to at least 1 us, depth
 * first with children by function index: the order of sorted paths. */
static int
emit(Trie *t, MtOutBuf *out, PyObject *names)
{
    uint32_t n = t->nnodes;
    SortKey *keys = PyMem_RawMalloc((size_t)n * sizeof(*keys));
    uint32_t *first = PyMem_RawCalloc((size_t)n + 1, sizeof(*first));
    uint32_t *count = PyMem_RawCalloc((size_t)n + 1, sizeof(*count));
    uint32_t *stack = PyMem_RawMalloc(((size_t)n + 1) * sizeof(*stack));
    uint32_t *pos = PyMem_RawMalloc(((size_t)n + 1) * sizeof(*pos));
    int rc = -1;
    if (keys == NULL || first == NULL || count == NULL || stack == NULL
        || pos == NULL) {
        goto done;
    }
    for (uint32_t id = 1; id < n; id++) {
        keys[id - 1] =
            (SortKey){t->nodes[id].parent, t->nodes[id].function, id};
    }
    qsort(keys, n - 1, sizeof(*keys), cmp_keys);
    /* Children of node p are keys[first[p] .. first[p] + count[p]). */
    for (uint32_t k = 0; k + 1 < n; k++) {
        uint32_t p = keys[k].parent;
        if (count[p]++ == 0) {
            first[p] = k;
        }
    }
    /* Depth-first, the path kept on `stack`. */
    uint32_t depth = 0;
    stack[0] = ROOT;
    pos[0] = 0;
    while (1) {
        uint32_t p = stack[depth];
        if (pos[depth] < count[p]) {
            uint32_t id = keys[first[p] + pos[depth]].id;
            pos[depth]++;
            stack[++depth] = id;
            pos[depth] = 0;
            int64_t ns = t->nodes[id].self_ns;
            int64_t us = (ns + 500) / 1000;
            if (us > 0) {
                for (uint32_t d = 1; d <= depth; d++) {
                    uint32_t f = t->nodes[stack[d]].function;
                    if (d > 1) {
                        mt_outbuf_putc(out, ';');
                    }
                    PyObject *name = (Py_ssize_t)f < PyList_GET_SIZE(names)
                                         ? PyList_GET_ITEM(names, f)
                                         : NULL;
                    Py_ssize_t len = 0;
                    const char *u = name && PyUnicode_Check(name)
                                        ? PyUnicode_AsUTF8AndSize(name, &len)
                                        : NULL;
                    if (u == NULL) {
                        PyErr_Clear();
                        mt_outbuf_puts(out, "?");
                    }
                    else {
                        mt_outbuf_write(out, u, (size_t)len);
                    }
                }
                mt_outbuf_putc(out, ' ');
                mt_outbuf_i64(out, us);
                mt_outbuf_putc(out, '\n');
                mt_outbuf_maybe_flush(out);
                if (out->failed) {
                    break;
                }
            }
            continue;
        }
        if (depth == 0) {
            break;
        }
        depth--;
    }
    rc = 0;
done:
    PyMem_RawFree(keys);
    PyMem_RawFree(first);
    PyMem_RawFree(count);
    PyMem_RawFree(stack);
    PyMem_RawFree(pos);
    return rc;
}

const char mt_folded_write_doc[] =
    "log_write_collapsed($self, write, names, min_ns=0, /)\n--\n\n"
    "Write the recorded events as collapsed stacks through\n"
    "`write(bytes)`: one line per stack, frames named by `names` (by\n"
    "record index), self time in whole microseconds (summed in ns, then\n"
    "rounded; stacks that round to 0 are left out), threads merged.\n"
    "With `min_ns`, activations shorter than that are left out with\n"
    "everything inside them.";

PyObject *
mt_folded_write_method(PyObject *self, PyObject *args)
{
    MtTracer *tr = (MtTracer *)self;
    PyObject *write, *names;
    long long min_ns = 0;
    if (!PyArg_ParseTuple(args, "OO!|L:log_write_collapsed", &write,
                          &PyList_Type, &names, &min_ns)) {
        return NULL;
    }
    if (mt_guard_refuse(tr, "log_write_collapsed", 0) < 0) {
        return NULL;
    }
    Trie t = {0};
    t.cap = 1024;
    t.nodes = PyMem_RawMalloc(t.cap * sizeof(*t.nodes));
    if (t.nodes == NULL) {
        return PyErr_NoMemory();
    }
    t.nodes[0] = (Node){0};
    t.nnodes = 1;
    mt_walk_init(&t.walk, on_begin, on_end, &t);
    double scale = mt_clock_ns_per_tick(tr->clock);
    uint8_t *dropped = NULL;
    if (min_ns > 0) {
        dropped =
            mt_walk_short(&tr->log, tr->log.count, scale, (int64_t)min_ns);
        if (dropped == NULL) {
            PyMem_RawFree(t.nodes);
            return PyErr_NoMemory();
        }
    }
    /* No Python code runs while the trie is built. */
    for (uint64_t seq = 0; seq < tr->log.count; seq++) {
        if (mt_walk_dropped(dropped, seq)) {
            continue;
        }
        const MtLogEvent *e = mt_eventlog_event_at(&tr->log, seq);
        mt_walk_event(&t.walk, e, seq,
                      mt_eventlog_ns(&tr->log, scale, e->time));
    }
    mt_walk_finish(&t.walk);
    PyMem_RawFree(dropped);
    int nomem = t.nomem || t.walk.nomem;
    mt_walk_free(&t.walk);
    MtOutBuf out;
    mt_outbuf_init(&out);
    mt_outbuf_target(&out, -1, write, 0, 0);
    Py_INCREF(names);
    if (!nomem && emit(&t, &out, names) < 0) {
        nomem = 1;
    }
    if (!nomem) {
        mt_outbuf_flush(&out);
    }
    Py_DECREF(names);
    PyMem_RawFree(t.nodes);
    PyMem_RawFree(t.table);
    return mt_outbuf_finish(&out, nomem);
}
