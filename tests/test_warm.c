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

static void rm_db(void)
{
    char p[300];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static int has(warm_store *w, const char *k, const char *want)
{
    void *v = NULL;
    size_t n = 0;
    int st = warm_get(w, k, strlen(k), &v, &n);
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
    CHECK_STATUS(warm_put(w, "a", 1, "apple", 5), 0);
    CHECK_STATUS(warm_put(w, "b", 1, "banana", 6), 0);
    CHECK_STATUS(warm_put(w, "a", 1, "avocado", 7), 0);
    CHECK_STATUS(warm_put(w, "", 0, "", 0), 0);
    CHECK_STATUS(warm_del(w, "b", 1), 0);
    CHECK_STATUS(warm_del(w, "b", 1), HRT_E_RANGE);
    warm_close(w);
    CHECK_STATUS(warm_open(path, &w), 0);
    if (!w) return;
    CHECK(has(w, "a", "avocado") && has(w, "b", NULL) && has(w, "", ""));
    uint64_t n = 0;
    CHECK(warm_count(w, &n) == 0 && n == 2);
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
        if (warm_put(w, k, (size_t)kl, v, strlen(v))) _exit(4);
        if (write(fd, &i, sizeof i) != sizeof i) _exit(5);
    }
}

static void *open_store(void)
{
    warm_store *w = NULL;
    return warm_open(path, &w) ? NULL : w;
}

static int get_value(void *w, const char *k, size_t kl, void **v, size_t *n) { return warm_get(w, k, kl, v, n); }
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
    test_kill9();
    rm_db();
    return test_finish();
}
#endif
