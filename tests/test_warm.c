/* The warm tier (memory/warm.c): round trips across reopening, deletion,
 * empty keys and values, refusals (a file that is not a database, a newer
 * schema), and durability: 100 writer processes killed with SIGKILL at
 * random moments, after which every acknowledged record is there. */
#include "hrt.h"
#include "test.h"

#ifndef HRT_WITH_MEMORY
int main(void) { test_skip("built without the memory tiers (zstd or SQLite not found)"); }
#else
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

static void writer(int trial, int fd)
{
    warm_store *w = NULL;
    if (warm_open(path, &w)) _exit(3);
    for (int i = 0;; i++) {
        char k[32], v[64];
        int kl = snprintf(k, sizeof k, "t%03d-%06d", trial, i), vl = snprintf(v, sizeof v, "value %d of %d", i, trial);
        if (warm_put(w, k, (size_t)kl, v, (size_t)vl)) _exit(4);
        if (write(fd, &i, sizeof i) != sizeof i) _exit(5);
    }
}

static void test_kill9(void)
{
    enum { TRIALS = 100 };
    rm_db();
    int acked[TRIALS], lost = 0, wrong = 0, opened = 0;
    long total = 0;
    srand((unsigned)time(NULL) ^ 0x5eed);
    for (int t = 0; t < TRIALS; t++) {
        int pfd[2];
        if (pipe(pfd)) break;
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            writer(t, pfd[1]);
        }
        close(pfd[1]);
        usleep((useconds_t)(rand() % 20000));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        int i, last = -1;
        while (read(pfd[0], &i, sizeof i) == sizeof i) last = i;
        close(pfd[0]);
        acked[t] = last;
        warm_store *w = NULL;
        if (warm_open(path, &w)) continue;
        opened++;
        for (int u = 0; u <= t; u++)
            for (int r = 0; r <= acked[u]; r++) {
                char k[32], want[64];
                snprintf(k, sizeof k, "t%03d-%06d", u, r);
                snprintf(want, sizeof want, "value %d of %d", r, u);
                void *v = NULL;
                size_t n = 0;
                int st = warm_get(w, k, strlen(k), &v, &n);
                if (st == HRT_E_RANGE) lost++;
                else if (st || n != strlen(want) || memcmp(v, want, n)) wrong++;
                free(v);
                total += u == t;
            }
        warm_close(w);
    }
    printf("kill -9: %d trials, %ld records acknowledged, %d lost, %d wrong\n", TRIALS, total, lost, wrong);
    CHECK(opened == TRIALS && lost == 0 && wrong == 0 && total > 0);
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
