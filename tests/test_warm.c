/* The warm tier (memory/warm.c): round trips across reopening, deletion,
 * empty keys and values, refusals (a file that is not a database, a newer
 * schema), and durability: 100 writer processes killed with SIGKILL at
 * random moments, after which every acknowledged record is there. */
#include "hrt.h"
#include "test.h"

#ifndef HRT_WITH_MEMORY
int main(void) { test_skip("built without the memory tiers (zstd or SQLite not found)"); }
#else
#include <sqlite3.h>
#include <unistd.h>

#include "kill9.h"
#include "warm.h"

static char path[256];

static void rm_db(void) { test_rm_sqlite(path); }

static int put(warm_store *w, const char *k, const char *v, int64_t now)
{
    warm_record r = {k, strlen(k), v, strlen(v), 0, WARM_VEC_CLEAR, NULL, 0};
    return warm_put(w, &r, 1, now);
}

static int has(warm_store *w, const char *k, const char *want)
{
    void *v = NULL;
    size_t n = 0;
    int st = warm_get(w, k, strlen(k), 100, &v, &n);
    int ok = want ? st == 0 && n == strlen(want) && !memcmp(v, want, n) : st == HRT_E_RANGE;
    free(v);
    return ok;
}

static void test_basics(void)
{
    rm_db();
    warm_store *w = NULL;
    CHECK_STATUS(warm_open(path, &w), 0);
    if (!w) return;
    CHECK_STATUS(put(w, "a", "apple", 1), 0);
    CHECK_STATUS(put(w, "b", "banana", 1), 0);
    CHECK_STATUS(put(w, "a", "avocado", 1), 0);
    CHECK_STATUS(put(w, "", "", 1), 0);
    CHECK_STATUS(warm_del(w, "b", 1), 0);
    CHECK_STATUS(warm_del(w, "b", 1), HRT_E_RANGE);
    warm_close(w);
    CHECK_STATUS(warm_open(path, &w), 0);
    if (!w) return;
    CHECK(has(w, "a", "avocado") && has(w, "b", NULL) && has(w, "", ""));
    uint64_t n = 0, bytes = 0;
    CHECK(warm_info(w, &n, &bytes) == 0 && n == 2 && bytes == 8);
    warm_close(w);
}

typedef struct {
    char keys[16][16];
    int n;
    float sum;
} rows;

static int collect(void *ud, const void *key, size_t kl, const void *value, size_t vl)
{
    rows *r = ud;
    (void)value, (void)vl;
    if (r->n < 16 && kl < 16) memcpy(r->keys[r->n], key, kl), r->keys[r->n][kl] = 0;
    r->n++;
    return 0;
}

static int collect_key(void *ud, const void *key, size_t kl) { return collect(ud, key, kl, NULL, 0); }

static int collect_vec(void *ud, const void *key, size_t kl, const void *vec, int dim, int64_t expires)
{
    rows *r = ud;
    float v[4];
    (void)expires;
    if (dim != 4) return HRT_E_FORMAT;
    memcpy(v, vec, sizeof v);
    r->sum += v[0] + v[1] + v[2] + v[3];
    return collect(ud, key, kl, NULL, 0);
}

/* What demotion and the vector index rely on: least recently used first
 * (reads count, through the pending access times), dropping values keeps
 * vectors, expired rows go, byte accounting follows every write. */
static void test_policy_queries(void)
{
    rm_db();
    warm_store *w = NULL;
    CHECK_STATUS(warm_open(path, &w), 0);
    if (!w) return;
    const float vec[4] = {0.5f, 0.25f, 0.125f, 0.125f};
    warm_record recs[3] = {
        {"k1", 2, "one", 3, 0, WARM_VEC_SET, vec, 4},
        {"k2", 2, "two", 3, 0, WARM_VEC_CLEAR, NULL, 0},
        {"k3", 2, "three", 5, 50, WARM_VEC_CLEAR, NULL, 0},
    };
    CHECK_STATUS(warm_put(w, recs, 3, 10), 0);
    void *v = NULL;
    size_t n;
    CHECK_STATUS(warm_get(w, "k1", 2, 30, &v, &n), 0); /* k1 is now the most recent */
    free(v);
    CHECK_STATUS(warm_flush(w), 0);
    rows r = {0};
    CHECK_STATUS(warm_oldest(w, 1, 0, 10, collect, &r), 0);
    CHECK(r.n == 3 && !strcmp(r.keys[2], "k1"));
    memset(&r, 0, sizeof r);
    CHECK_STATUS(warm_oldest(w, 0, 20, 10, collect, &r), 0);
    CHECK(r.n == 2 && strcmp(r.keys[0], "k1") && strcmp(r.keys[1], "k1"));
    const void *keys[] = {"k1"};
    size_t lens[] = {2};
    CHECK_STATUS(warm_drop_values(w, keys, lens, 1, 0), 0);
    CHECK(has(w, "k1", NULL) && warm_has(w, "k1", 2) == 0 && warm_has(w, "k2", 2) == 1);
    memset(&r, 0, sizeof r);
    CHECK_STATUS(warm_vectors(w, collect_vec, &r), 0);
    CHECK(r.n == 1 && !strcmp(r.keys[0], "k1") && r.sum == 1.0f);
    uint64_t entries = 0, bytes = 0;
    memset(&r, 0, sizeof r);
    CHECK_STATUS(warm_expired(w, 49, 10, collect_key, &r), 0);
    CHECK(r.n == 0);
    CHECK_STATUS(warm_expired(w, 50, 10, collect_key, &r), 0);
    CHECK(r.n == 1 && !strcmp(r.keys[0], "k3"));
    const void *k3[] = {"k3"};
    CHECK_STATUS(warm_drop_values(w, k3, lens, 1, 1), 0);
    CHECK(has(w, "k3", NULL));
    CHECK(warm_info(w, &entries, &bytes) == 0 && entries == 1 && bytes == 5);
    CHECK_STATUS(warm_del(w, "k1", 2), 0); /* the vector row alone counts */
    memset(&r, 0, sizeof r);
    CHECK_STATUS(warm_vectors(w, collect_vec, &r), 0);
    CHECK(r.n == 0);
    warm_close(w);
    CHECK_STATUS(warm_open(path, &w), 0); /* the counts come back from the file */
    CHECK(w && warm_info(w, &entries, &bytes) == 0 && entries == 1 && bytes == 5);
    warm_close(w);
}

static void test_refusals(void)
{
    rm_db();
    FILE *f = fopen(path, "wb");
    fputs("this is not a database, it is a text file of some length......................", f);
    fclose(f);
    warm_store *w = NULL;
    CHECK_STATUS(warm_open(path, &w), HRT_E_FORMAT);
    CHECK(w == NULL && strstr(hrt_last_error(), path));
    rm_db();
    CHECK_STATUS(warm_open(path, &w), 0);
    warm_close(w);
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "UPDATE meta SET value = 7 WHERE key = 'schema'", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK_STATUS(warm_open(path, &w), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), "schema version 7") != NULL);
    CHECK_STATUS(warm_open("/proc/hrt-no/such/file.sqlite", &w), HRT_E_IO);
}

static void value_of(char *buf, size_t cap, int trial, int i) { snprintf(buf, cap, "value %d of %d", i, trial); }

static void writer(int trial, int fd)
{
    warm_store *w = NULL;
    if (warm_open(path, &w)) _exit(3);
    for (int i = 0;; i++) {
        char k[32], v[64];
        int kl = kill9_key(k, sizeof k, trial, i);
        value_of(v, sizeof v, trial, i);
        warm_record r = {k, (size_t)kl, v, strlen(v), 0, WARM_VEC_CLEAR, NULL, 0};
        if (warm_put(w, &r, 1, i)) _exit(4);
        if (write(fd, &i, sizeof i) != sizeof i) _exit(5);
    }
}

static void *open_store(void)
{
    warm_store *w = NULL;
    return warm_open(path, &w) ? NULL : w;
}

static int get_value(void *w, const char *k, size_t kl, void **v, size_t *n) { return warm_get(w, k, kl, 0, v, n); }
static void close_store(void *w) { warm_close(w); }

static void test_kill9(void)
{
    enum { TRIALS = 100 };
    rm_db();
    kill9_ops ops = {writer, open_store, get_value, close_store, value_of};
    kill9_result r = kill9_run(&ops, TRIALS);
    printf("kill -9: %d trials, %ld records acknowledged, %d lost, %d wrong\n", TRIALS, r.acknowledged, r.lost,
           r.wrong);
    CHECK(r.opened == TRIALS && r.lost == 0 && r.wrong == 0 && r.acknowledged > 0);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/hrt_warm_%d.sqlite", (int)getpid());
    test_basics();
    test_refusals();
    test_policy_queries();
    test_kill9();
    rm_db();
    return test_finish();
}
#endif
