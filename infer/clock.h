/* Monotonic wall time, for the accounting of generations, ingests and
 * the agent's stages. */
#ifndef HRT_CLOCK_H
#define HRT_CLOCK_H

#include <time.h>

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double now_ms(void) { return now_s() * 1e3; }

#endif
