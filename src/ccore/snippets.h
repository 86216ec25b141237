/* Statement snippets of watched code: which AST statement each bytecode
 * offset belongs to.
 *
 * A group is one watched function with the code objects nested in its
 * source (inner functions, generator expressions): they share one list of
 * snippets, which Python computes from the AST (monitrace/watch.py): each
 * snippet's key (its source text), the names it mentions, and its span.
 * A table maps every code unit of one code object of the group to its
 * statement snippet, the comprehension snippet it belongs to, and whether
 * it is an iteration step of a comprehension (the opcode that adds an
 * element or yields one). Tables are built once per code object, from
 * co_positions and co_code, by the same rule tracefunc applies: the
 * smallest span that holds an instruction's start position wins.
 */
#ifndef MT_SNIPPETS_H
#define MT_SNIPPETS_H

#include "common.h"

typedef struct {
    int sline, scol, eline, ecol; /* eline/ecol: exclusive column */
    int32_t id;                   /* snippet index */
    uint8_t comp;                 /* a comprehension */
} MtSpan;

typedef struct {
    PyObject *obj;     /* Owned: the Python group (watch.py) */
    PyObject *keys;    /* Owned tuple of str, by snippet */
    PyObject *names;   /* Owned tuple (by snippet) of tuples of str */
    PyObject *anchor;  /* Owned: code object the stack starts at, or None */
    int stack_mode;    /* 0: no stack, 1: from the anchor, 2: whole stack */
    Py_ssize_t nsnip;  /* snippets */
    Py_ssize_t nslots; /* (snippet, name) pairs */
    Py_ssize_t *base;  /* Owned: first slot of each snippet */
    MtSpan *spans;     /* Owned: in lookup order (smallest first) */
    int *line;         /* Owned: first line of each snippet */
    Py_ssize_t nspans;
    uint8_t iter_op[256]; /* opcodes that end one comprehension step */
} MtSnippetGroup;

typedef struct {
    int32_t stmt; /* statement snippet, or -1 */
    int32_t comp; /* comprehension snippet holding it, or -1 */
    uint8_t iter; /* an iteration step */
} MtSnippetUnit;

typedef struct {
    MtSnippetGroup *group; /* Borrowed: the watch owns groups */
    Py_ssize_t nunits;     /* code units (2 bytes each) */
    MtSnippetUnit *units;  /* Owned */
    int32_t comp_code;     /* a comprehension's own code object: its
                              snippet (-1 if none matched); else -2 */
    uint8_t is_root;       /* the group's function itself: a new call */
    uint8_t generator;     /* suspends (generator, coroutine) */
    uint8_t events_on;     /* our INSTRUCTION local event is on */
} MtSnippetTable;

/* A group from its Python description; NULL with an exception set. */
MtSnippetGroup *mt_snippets_group_new(PyObject *obj);
void mt_snippets_group_free(MtSnippetGroup *g);
/* The table of `code` in `group`; NULL with an exception set. */
MtSnippetTable *mt_snippets_table_new(MtSnippetGroup *group, PyObject *code,
                                      int is_root, int comp_code);
void mt_snippets_table_free(MtSnippetTable *t);

#endif /* MT_SNIPPETS_H */
