/* The hot tier (memory/hot.c): round trips, the byte budget as an
 * invariant, scan resistance (a read-through working set survives a one-off
 * scan of twenty times the budget), and concurrent threads that never see a
 * value belonging to another key. */
#include "hrt.h"
#include "test.h"

#ifndef HRT_WITH_MEMORY
int main(void) { test_skip("built without the memory tiers (zstd not found)"); }
#else
#include <pthread.h>

#include "hot.h"

static int get_is(hot_cache *h, const char *k, const char *want)
{
    void *v = NULL;
    size_t n = 0;
    int st = hot_get(h, k, strlen(k), &v, &n);
    int ok = want ? st == 0 && n == strlen(want) && !memcmp(v, want, n) : st == HRT_E_RANGE;
    free(v);
    return ok;
}

static void test_basics(void)
{
    hot_cache *h = hot_new(1 << 20);
    CHECK(h != NULL);
    CHECK_STATUS(hot_put(h, "a", 1, "apple", 5), 0);
    CHECK_STATUS(hot_put(h, "b", 1, "banana", 6), 0);
    CHECK(get_is(h, "a", "apple") && get_is(h, "b", "banana") && get_is(h, "c", NULL));
    CHECK_STATUS(hot_put(h, "a", 1, "avocado", 7), 0);
    CHECK(get_is(h, "a", "avocado"));
    CHECK_STATUS(hot_del(h, "a", 1), 0);
    CHECK_STATUS(hot_del(h, "a", 1), HRT_E_RANGE);
    CHECK(get_is(h, "a", NULL));
    CHECK_STATUS(hot_put(h, "", 0, "", 0), 0);
    CHECK(get_is(h, "", ""));
    static char big[2 << 20];
    CHECK_STATUS(hot_put(h, "big", 3, big, sizeof big), HRT_E_RANGE); /* larger than the budget */
    hot_stats s;
    hot_get_stats(h, &s);
    CHECK(s.entries == 2 && s.hits == 4 && s.misses == 2);
    hot_free(h);
}

static void test_budget(void)
{
    enum { BUDGET = 64 << 10 };
    hot_cache *h = hot_new(BUDGET);
    char k[32], v[3000];
    memset(v, 'v', sizeof v);
    int over = 0;
    uint64_t seed = 42;
    for (int i = 0; i < 20000; i++) {
        seed = seed * 6364136223846793005ull + 1;
        int key = (int)((seed >> 33) % 500), len = (int)((seed >> 20) % sizeof v);
        snprintf(k, sizeof k, "k%d", key);
        hot_put(h, k, strlen(k), v, (size_t)len);
        hot_stats s;
        hot_get_stats(h, &s);
        over += s.bytes > BUDGET;
    }
    CHECK_MSG(over == 0, "the budget was exceeded after %d puts", over);
    hot_free(h);
}

/* Read-through use: get, and on a miss put (as if fetched from the warm
 * tier). Returns 1 on a hit. */
static int use(hot_cache *h, const char *prefix, int i, const char *val, size_t n)
{
    char k[32];
    snprintf(k, sizeof k, "%s%d", prefix, i);
    void *v = NULL;
    if (hot_get(h, k, strlen(k), &v, NULL) == 0) {
        free(v);
        return 1;
    }
    hot_put(h, k, strlen(k), val, n);
    return 0;
}

static void test_scan_resistance(void)
{
    enum { BUDGET = 1 << 20, W = 450, SCAN = 20000 };
    char val[1000];
    memset(val, 'x', sizeof val);
    hot_cache *h = hot_new(BUDGET); /* about 900 entries of this size */
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < W; i++) use(h, "w", i, val, sizeof val);
    int before = 0;
    for (int i = 0; i < W; i++) before += use(h, "w", i, val, sizeof val);
    for (int i = 0; i < SCAN; i++) use(h, "scan", i, val, sizeof val); /* a one-off scan, 20x the budget */
    int after = 0;
    for (int i = 0; i < W; i++) {
        char k[32];
        snprintf(k, sizeof k, "w%d", i);
        void *v = NULL;
        if (hot_get(h, k, strlen(k), &v, NULL) == 0) after++;
        free(v);
    }
    printf("working set of %d: %d hits before the scan, %d after a scan of %d keys\n", W, before, after, SCAN);
    CHECK(before == W);
    CHECK_MSG(after >= W * 95 / 100, "only %d of %d survived the scan", after, W);
    hot_free(h);
}

typedef struct {
    hot_cache *h;
    int id, wrong;
} worker_arg;

/* Each value is the key repeated: a value that is not is another key's. */
static void *worker(void *p)
{
    worker_arg *a = p;
    uint64_t seed = (uint64_t)a->id * 7919 + 1;
    for (int i = 0; i < 30000; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        int key = (int)((seed >> 33) % 200), op = (int)((seed >> 20) % 10);
        char k[16], want[160];
        int kl = snprintf(k, sizeof k, "key%d", key), wl = 0;
        for (int r = 0; r < 1 + key % 10; r++) wl += snprintf(want + wl, sizeof want - (size_t)wl, "%s", k);
        if (op < 5) {
            void *v = NULL;
            size_t n = 0;
            if (hot_get(a->h, k, (size_t)kl, &v, &n) == 0 && (n != (size_t)wl || memcmp(v, want, n))) a->wrong++;
            free(v);
        } else if (op < 9) {
            hot_put(a->h, k, (size_t)kl, want, (size_t)wl);
        } else {
            hot_del(a->h, k, (size_t)kl);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    hot_cache *h = hot_new(16 << 10); /* small: evictions all the time */
    pthread_t t[4];
    worker_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (worker_arg){h, i, 0};
        pthread_create(&t[i], NULL, worker, &a[i]);
    }
    int wrong = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        wrong += a[i].wrong;
    }
    hot_stats s;
    hot_get_stats(h, &s);
    CHECK_MSG(wrong == 0, "%d reads returned another key's value", wrong);
    CHECK(s.bytes <= s.budget && s.hits > 0 && s.evictions > 0);
    hot_free(h);
}

int main(void)
{
    test_basics();
    test_budget();
    test_scan_resistance();
    test_threads();
    return test_finish();
}
#endif
