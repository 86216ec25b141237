/* Clock selection and TSC calibration. */
#include "clock.h"

#include <stdio.h>

static int tsc_usable = -1;           /* -1: not probed yet */
static double tsc_ns_per_tick = 0.0;  /* 0: not calibrated yet */
static double tsc_best_span_ns = 0.0; /* span behind tsc_ns_per_tick */

int
mt_clock_tsc_usable(void)
{
    if (tsc_usable >= 0) {
        return tsc_usable;
    }
    tsc_usable = 0;
#if MT_HAVE_TSC
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL) {
        return tsc_usable;
    }
    char line[4096];
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "flags", 5) == 0) {
            tsc_usable = strstr(line, " constant_tsc") != NULL
                         && strstr(line, " nonstop_tsc") != NULL;
            break;
        }
    }
    fclose(f);
#endif
    return tsc_usable;
}

int
mt_clock_parse(const char *name, MtClockKind *out)
{
    if (strcmp(name, "auto") == 0) {
        *out = mt_clock_tsc_usable() ? MT_CLOCK_TSC : MT_CLOCK_MONOTONIC;
        return 0;
    }
    if (strcmp(name, "monotonic") == 0) {
        *out = MT_CLOCK_MONOTONIC;
        return 0;
    }
    if (strcmp(name, "tsc") == 0) {
        if (!mt_clock_tsc_usable()) {
            PyErr_SetString(PyExc_ValueError,
                            "clock='tsc': this CPU has no invariant TSC "
                            "(constant_tsc and nonstop_tsc)");
            return -1;
        }
        *out = MT_CLOCK_TSC;
        return 0;
    }
    PyErr_Format(PyExc_ValueError,
                 "clock must be 'auto', 'tsc' or 'monotonic', not '%s'", name);
    return -1;
}

const char *
mt_clock_name(MtClockKind kind)
{
    return kind == MT_CLOCK_TSC ? "tsc" : "monotonic";
}

/* Spin for a few milliseconds reading both clocks; enough for a rate good
 * to about 1e-4, refined later by mt_clock_refine(). */
static void
calibrate(void)
{
    uint64_t n0 = mt_clock_monotonic_ns();
    uint64_t t0 = mt_clock_now(MT_CLOCK_TSC);
    uint64_t n1, t1;
    do {
        n1 = mt_clock_monotonic_ns();
        t1 = mt_clock_now(MT_CLOCK_TSC);
    } while (n1 - n0 < 3000000);
    tsc_ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
    tsc_best_span_ns = (double)(n1 - n0);
}

double
mt_clock_ns_per_tick(MtClockKind kind)
{
    if (kind != MT_CLOCK_TSC) {
        return 1.0;
    }
    if (tsc_ns_per_tick == 0.0) {
        calibrate();
    }
    return tsc_ns_per_tick;
}

void
mt_clock_refine(uint64_t ticks0, uint64_t ns0, uint64_t ticks1, uint64_t ns1)
{
    if (ticks1 <= ticks0 || ns1 <= ns0) {
        return;
    }
    double span = (double)(ns1 - ns0);
    if (span > tsc_best_span_ns && span > 20e6) {
        tsc_ns_per_tick = span / (double)(ticks1 - ticks0);
        tsc_best_span_ns = span;
    }
}
