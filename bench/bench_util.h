/* Small helpers the benchmark programs share. */
#ifndef HRT_BENCH_UTIL_H
#define HRT_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>

#include "clock.h" /* now_s(), the library's monotonic clock */

static inline int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v and returns its median. */
static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Marsaglia's xorshift64 (J. Stat. Softw. 8(14), 2003): repeatable
 * pseudo-random numbers for the synthetic data of the benches. */
static uint64_t bench_rng_state = 88172645463325252ull;
static inline uint64_t bench_rng(void)
{
    bench_rng_state ^= bench_rng_state << 13;
    bench_rng_state ^= bench_rng_state >> 7;
    bench_rng_state ^= bench_rng_state << 17;
    return bench_rng_state;
}

/* The index of the largest of n floats (the lowest on ties). */
static inline int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

#endif
