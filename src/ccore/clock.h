/* Timestamps for the hot path: rdtsc where the TSC is invariant, else
 * clock_gettime(CLOCK_MONOTONIC). Ticks become nanoseconds only when data
 * leaves C (snapshot.c, logview.c), through mt_clock_ns_per_tick(). */
#ifndef MT_CLOCK_H
#define MT_CLOCK_H

#include "common.h"

#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define MT_HAVE_TSC 1
#else
#define MT_HAVE_TSC 0
#endif

typedef enum {
    MT_CLOCK_MONOTONIC = 0,
    MT_CLOCK_TSC = 1,
} MtClockKind;

static inline uint64_t
mt_clock_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
mt_clock_now(MtClockKind kind)
{
#if MT_HAVE_TSC
    if (MT_LIKELY(kind == MT_CLOCK_TSC)) {
        return __rdtsc();
    }
#else
    (void)kind;
#endif
    return mt_clock_monotonic_ns();
}

/* 1 if the TSC is usable (invariant: constant_tsc and nonstop_tsc). */
int mt_clock_tsc_usable(void);
/* Parse "auto", "tsc" or "monotonic"; -1 with ValueError otherwise. */
int mt_clock_parse(const char *name, MtClockKind *out);
const char *mt_clock_name(MtClockKind kind);
/* Nanoseconds per tick of `kind`; calibrates the TSC on first use. */
double mt_clock_ns_per_tick(MtClockKind kind);
/* Refine the TSC rate from a long interval measured by a session. */
void mt_clock_refine(uint64_t ticks0, uint64_t ns0, uint64_t ticks1,
                     uint64_t ns1);

#endif /* MT_CLOCK_H */
