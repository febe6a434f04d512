/* A fork/join pool for the forward pass. A decode step forks a few hundred
 * times (once per matrix product), so workers spin for a while before they
 * sleep: a wake-up through a condition variable costs tens of microseconds,
 * a spinning worker picks up new work in well under one.
 *
 * The calling thread takes part as worker 0. One job runs at a time; the pool
 * is not reentrant and is used by one thread (the one that owns the model's
 * forward pass) at a time. */
#ifndef HRT_THREADPOOL_H
#define HRT_THREADPOOL_H

typedef void (*tp_fn)(void *ctx, int ith, int nth);
typedef struct threadpool threadpool;

/* n_threads >= 1 (the caller counts as one). NULL on failure. */
threadpool *tp_create(int n_threads);
void tp_free(threadpool *tp);
int tp_size(const threadpool *tp);
/* Runs fn(ctx, i, n) for i in [0, n) across the pool and waits for all. */
void tp_run(threadpool *tp, tp_fn fn, void *ctx);

#endif
