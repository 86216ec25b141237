/* The event log as well-nested activations, per thread: what the event
 * formats (Chrome trace, collapsed stacks) read.
 *
 * The walker trusts the log no more than the core trusts sys.monitoring
 * (and as exporters/timeline.py does): an exit that does not match the
 * top of its thread's stack ends the activations above its match first;
 * an exit that matches nothing (the function began before recording did)
 * is dropped; activations still open at the end are ended at the last
 * time seen on their thread. Memory is the depth of the stacks.
 */
#ifndef MT_WALK_H
#define MT_WALK_H

#include "common.h"
#include "eventlog.h"

/* One stretch of a function on a thread's stack: a call, or the part of
 * a generator or coroutine between a resume and a yield. */
typedef struct {
    uint32_t function; /* record index */
    uint8_t is_call;   /* a new call (not a resume) */
    int64_t start_ns;
    int64_t end_ns;   /* set when it ends */
    int64_t child_ns; /* time in nested activations */
    uint64_t seq;     /* its begin event */
    uint32_t node;    /* the user's (collapsed stacks: its path) */
} MtWalkAct;

typedef struct {
    MtWalkAct *acts; /* Owned array */
    size_t depth;
    size_t cap;
    int64_t last_ns;
    uint32_t order; /* when the thread was first seen, 0 first */
    uint8_t seen;
} MtWalkThread;

typedef struct MtWalker MtWalker;

/* `act` begins on `thread` (its parent is `parent`, or NULL); `e` is its
 * begin event. */
typedef void (*MtWalkBegin)(MtWalker *w, uint32_t thread, MtWalkAct *act,
                            const MtWalkAct *parent, const MtLogEvent *e);
/* `act` ended; `e` is the exit event (`seq` its sequence number), or NULL
 * when it ended without one. */
typedef void (*MtWalkEnd)(MtWalker *w, uint32_t thread, const MtWalkAct *act,
                          const MtLogEvent *e, uint64_t seq);

struct MtWalker {
    MtWalkThread *threads; /* Owned array, by thread index */
    size_t nthreads;
    uint32_t *order; /* Owned: thread indexes in the order first seen */
    uint32_t nseen;
    MtWalkBegin on_begin;
    MtWalkEnd on_end;
    void *ctx;
    int nomem;
};

void mt_walk_init(MtWalker *w, MtWalkBegin on_begin, MtWalkEnd on_end,
                  void *ctx);
/* Feed event `seq` (at `time_ns`), in log order. */
void mt_walk_event(MtWalker *w, const MtLogEvent *e, uint64_t seq,
                   int64_t time_ns);
/* End what is still open, thread by thread in the order first seen. */
void mt_walk_finish(MtWalker *w);
void mt_walk_free(MtWalker *w);

/* min_duration=: a bitmap of the first `end` events of `log` (bit set:
 * left out) marking activations shorter than `min_ns` with everything
 * inside them, as events.MinDuration decides (activations still open at
 * the end are kept). NULL when memory ran out. Free with PyMem_RawFree. */
uint8_t *mt_walk_short(const MtEventLog *log, uint64_t end, double scale,
                       int64_t min_ns);

static inline int
mt_walk_dropped(const uint8_t *bits, uint64_t seq)
{
    return bits != NULL && (bits[seq >> 3] >> (seq & 7)) & 1;
}

/* The activation's time without its nested activations (never < 0). */
static inline int64_t
mt_walk_self_ns(const MtWalkAct *a)
{
    int64_t elapsed = a->end_ns - a->start_ns;
    if (elapsed < 0) {
        elapsed = 0;
    }
    return elapsed > a->child_ns ? elapsed - a->child_ns : 0;
}

#endif /* MT_WALK_H */
