/* A minimal test harness: CHECK records a failure and goes on; the program
 * ends with test_finish(), which prints "N passed, N failed" and returns the
 * exit code. test_skip() exits 77, which ctest reports as skipped. */
#ifndef HRT_TEST_H
#define HRT_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed;

/* Line-buffered output: a test that crashes leaves in its log every line
 * printed before the crash (a pipe or file would otherwise hold them); and,
 * outside the sanitizer builds (which report crashes themselves), a crash
 * prints the stack before the default action ends the process. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && defined(__GLIBC__)
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>
static void test_crash_report(int sig)
{
    void *frames[64];
    static const char msg[] = "\ntest crashed; stack:\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(128 + sig);
    backtrace_symbols_fd(frames, backtrace(frames, 64), 2);
    signal(sig, SIG_DFL);
    raise(sig);
}
#define TEST_CRASH_REPORT()                                                    \
    do {                                                                       \
        signal(SIGSEGV, test_crash_report);                                    \
        signal(SIGBUS, test_crash_report);                                     \
        signal(SIGABRT, test_crash_report);                                    \
    } while (0)
#else
#define TEST_CRASH_REPORT() ((void)0)
#endif
__attribute__((constructor)) static void test_line_buffered(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    TEST_CRASH_REPORT();
}

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (cond) {                                                            \
            test_passed++;                                                     \
        } else {                                                               \
            test_failed++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

#define CHECK_MSG(cond, ...)                                                   \
    do {                                                                       \
        if (cond) {                                                            \
            test_passed++;                                                     \
        } else {                                                               \
            test_failed++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__,   \
                    #cond);                                                    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

/* Status must equal want, and on failure the error message is shown. */
#define CHECK_STATUS(expr, want)                                               \
    do {                                                                       \
        int st_ = (expr);                                                      \
        CHECK_MSG(st_ == (want), "%s returned %d, want %d (%s)", #expr, st_,   \
                  (int)(want), hrt_last_error());                             \
    } while (0)

/* Removes an SQLite database with its -wal and -shm files. */
static inline void test_rm_sqlite(const char *path)
{
    char p[1100];
    remove(path);
    snprintf(p, sizeof p, "%s-wal", path);
    remove(p);
    snprintf(p, sizeof p, "%s-shm", path);
    remove(p);
}

static inline int test_finish(void)
{
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

static inline void test_skip(const char *why)
{
    printf("SKIPPED: %s\n", why);
    exit(77);
}

/* Path of a default model under models/, or skip when it is absent. */
static inline const char *test_model_path(const char *rel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/models/%s", HRT_SOURCE_DIR, rel);
    FILE *f = fopen(buf, "rb");
    if (!f) {
        char why[1200];
        snprintf(why, sizeof why, "%s absent: run scripts/fetch-models.sh", buf);
        test_skip(why);
    }
    fclose(f);
    return buf;
}

/* Reads a whole file; NULL when absent. Caller frees. */
static inline char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        if (len) *len = (size_t)n;
    }
    return buf;
}

#endif
