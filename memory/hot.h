/* The hot tier: an in-process cache bounded in bytes, with 2Q replacement
 * (Johnson and Shasha, "2Q: A Low Overhead High Performance Buffer
 * Management Replacement Algorithm", VLDB 1994), so that a one-off scan of
 * many keys cannot flush the entries that are used again and again:
 *   A1in  a FIFO of new entries; when the budget is full it gives up its
 *         oldest first as long as it holds more than a quarter of the budget;
 *   A1out a FIFO of the keys (no values) pushed out of A1in;
 *   Am    an LRU of the entries used again: a get that hits in A1in (the
 *         paper's simplified 2Q; its full version ignores such hits as
 *         "correlated", which lets a one-off scan flush a working set that
 *         has not overflowed A1in yet, as tests/test_hot.c shows), and a put
 *         of a key that A1out remembers.
 * So a one-off scan only passes through A1in and A1out, and what is used
 * again stays in Am.
 * Invariants: 1. the bytes of A1in and Am (keys, values and per-entry
 * overhead) never exceed the budget after a put returns; 2. A1out holds
 * keys only, bounded by GHOST of the budget; 3. a key is in at most one
 * list. One mutex; values are copied in and out. */
#ifndef HRT_HOT_H
#define HRT_HOT_H

#include <stddef.h>
#include <stdint.h>

typedef struct hot_cache hot_cache;

typedef struct {
    uint64_t entries, bytes, budget;
    uint64_t hits, misses, evictions, promotions;
} hot_stats;

/* NULL when out of memory. */
hot_cache *hot_new(size_t budget_bytes);
void hot_free(hot_cache *h);
/* Copies key and value in. An entry larger than the budget is not kept
 * (HRT_E_RANGE). */
int hot_put(hot_cache *h, const void *key, size_t key_len, const void *value, size_t value_len);
/* *value malloc'd (caller frees). HRT_E_RANGE on a miss. */
int hot_get(hot_cache *h, const void *key, size_t key_len, void **value, size_t *value_len);
int hot_del(hot_cache *h, const void *key, size_t key_len);
void hot_get_stats(hot_cache *h, hot_stats *out);

#endif
