/* The cold tier's segment store (memory/cold.c): round trips across
 * reopening, overwrites and deletions, damaged blocks skipped with the rest
 * readable, a torn tail cut off, segment rotation, compaction, a newer
 * format refused, and durability: 100 writer processes killed with SIGKILL
 * at random moments, after which every acknowledged record is there with
 * its value and no damaged value is ever returned. */
#include "hrt.h"
#include "test.h"

#ifndef HRT_WITH_MEMORY
int main(void) { test_skip("built without the memory tiers (zstd not found)"); }
#else
#include <sys/stat.h>
#include <unistd.h>

#include "cold.h"
#include "kill9.h"

static char dir[256];

static void rm_store(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd)) { /* best effort */ }
}

static int put_str(cold_store *c, const char *k, const char *v)
{
    cold_record r = {k, strlen(k), v, strlen(v)};
    return cold_put(c, &r, 1);
}

/* 1 when key holds exactly want (NULL: absent). */
static int has(cold_store *c, const char *k, const char *want)
{
    void *v = NULL;
    size_t n = 0;
    int st = cold_get(c, k, strlen(k), &v, &n);
    int ok = want ? (st == 0 && n == strlen(want) && !memcmp(v, want, n)) : st == HRT_E_RANGE;
    free(v);
    return ok;
}

static char seg_path[300];
static const char *segment(int num)
{
    snprintf(seg_path, sizeof seg_path, "%s/seg-%08d.hcs", dir, num);
    return seg_path;
}

static void flip_byte(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    fseek(f, off, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(ch ^ 0x5a, f);
    fclose(f);
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) ? -1 : (long)sb.st_size;
}

static void test_basics(void)
{
    rm_store(dir);
    cold_store *c = NULL;
    CHECK_STATUS(cold_open(dir, NULL, &c), 0);
    if (!c) return;
    CHECK(put_str(c, "alpha", "first") == 0 && put_str(c, "beta", "second") == 0);
    cold_record batch[3] = {{"k1", 2, "v1", 2}, {"k2", 2, "", 0}, {"", 0, "empty key", 9}};
    CHECK_STATUS(cold_put(c, batch, 3), 0);
    CHECK(put_str(c, "alpha", "overwritten") == 0);
    CHECK_STATUS(cold_del(c, "beta", 4), 0);
    CHECK_STATUS(cold_del(c, "beta", 4), HRT_E_RANGE);
    CHECK(has(c, "alpha", "overwritten") && has(c, "beta", NULL) && has(c, "k2", "") && has(c, "", "empty key"));
    cold_close(c);
    CHECK_STATUS(cold_open(dir, NULL, &c), 0);
    if (!c) return;
    CHECK(has(c, "alpha", "overwritten") && has(c, "beta", NULL) && has(c, "k1", "v1") && has(c, "k2", "") &&
          has(c, "nope", NULL) && has(c, "", "empty key"));
    cold_stats s;
    cold_get_stats(c, &s);
    CHECK(s.entries == 4 && s.corrupt_blocks == 0 && s.blocks == 5);
    cold_close(c);
}

/* Three single-record blocks; damage the middle one's payload, then its
 * header: the others stay readable, the damaged one is counted. */
static void test_damage(void)
{
    for (int where = 0; where < 2; where++) {
        rm_store(dir);
        cold_store *c = NULL;
        CHECK_STATUS(cold_open(dir, NULL, &c), 0);
        if (!c) return;
        put_str(c, "a", "apple");
        long b_at = file_size(segment(1));
        put_str(c, "b", "banana");
        put_str(c, "c", "cherry");
        cold_close(c);
        flip_byte(segment(1), where == 0 ? b_at + 30 : b_at + 2); /* payload, then header magic */
        CHECK_STATUS(cold_open(dir, NULL, &c), 0);
        if (!c) return;
        CHECK_MSG(has(c, "a", "apple") && has(c, "c", "cherry") && has(c, "b", NULL), "damage at %s",
                  where ? "header" : "payload");
        cold_stats s;
        cold_get_stats(c, &s);
        CHECK(s.corrupt_blocks == 1 && s.entries == 2);
        /* the store keeps working after the damage */
        CHECK(put_str(c, "d", "date") == 0 && has(c, "d", "date"));
        cold_close(c);
    }
    /* Damage after opening: the get reports it, never returns the bytes. */
    rm_store(dir);
    cold_store *c = NULL;
    CHECK_STATUS(cold_open(dir, NULL, &c), 0);
    put_str(c, "x", "the value of x");
    flip_byte(segment(1), 16 + 30);
    void *v = NULL;
    size_t n;
    CHECK_STATUS(cold_get(c, "x", 1, &v, &n), HRT_E_FORMAT);
    CHECK(v == NULL && strstr(hrt_last_error(), "checksum"));
    cold_close(c);
}

/* A crash in the middle of an append leaves a torn block: cut at open. */
static void test_torn_tail(void)
{
    rm_store(dir);
    cold_store *c = NULL;
    CHECK_STATUS(cold_open(dir, NULL, &c), 0);
    put_str(c, "kept", "yes");
    long good = file_size(segment(1));
    put_str(c, "torn", "this block loses its last bytes");
    cold_close(c);
    CHECK(truncate(segment(1), file_size(segment(1)) - 5) == 0);
    CHECK_STATUS(cold_open(dir, NULL, &c), 0);
    CHECK(has(c, "kept", "yes") && has(c, "torn", NULL));
    CHECK(file_size(segment(1)) == good);
    CHECK(put_str(c, "after", "appended behind the cut") == 0);
    cold_close(c);
    CHECK_STATUS(cold_open(dir, NULL, &c), 0);
    CHECK(has(c, "kept", "yes") && has(c, "after", "appended behind the cut"));
    cold_stats s;
    cold_get_stats(c, &s);
    CHECK(s.corrupt_blocks == 0);
    cold_close(c);
}

/* Small segments rotate; compaction keeps the live values only. */
static void test_rotation_and_compaction(void)
{
    rm_store(dir);
    cold_params p = {.segment_bytes = 4096, .zstd_level = 1};
    cold_store *c = NULL;
    CHECK_STATUS(cold_open(dir, &p, &c), 0);
    char k[32], v[200];
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 200; i++) {
            snprintf(k, sizeof k, "key-%03d", i);
            snprintf(v, sizeof v, "round %d value %d %0120d", round, i, i);
            put_str(c, k, v);
        }
    for (int i = 0; i < 200; i += 3) {
        snprintf(k, sizeof k, "key-%03d", i);
        cold_del(c, k, strlen(k));
    }
    cold_stats before;
    cold_get_stats(c, &before);
    CHECK(before.segments > 10 && before.entries == 133);
    CHECK_STATUS(cold_compact(c, 0, NULL, NULL, NULL), 0);
    cold_close(c);
    CHECK_STATUS(cold_open(dir, &p, &c), 0);
    cold_stats after;
    cold_get_stats(c, &after);
    CHECK_MSG(after.segments < before.segments && after.entries == 133, "segments %llu -> %llu, entries %llu",
              (unsigned long long)before.segments, (unsigned long long)after.segments,
              (unsigned long long)after.entries);
    int bad = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "key-%03d", i);
        snprintf(v, sizeof v, "round 2 value %d %0120d", i, i);
        bad += !has(c, k, i % 3 == 0 ? NULL : v);
    }
    CHECK_MSG(bad == 0, "%d keys wrong after compaction", bad);
    cold_close(c);
}

/* Live records in every segment (nothing overwritten): compaction must copy
 * them all, from the oldest segment to the newest. */
static void test_compaction_keeps_all(void)
{
    rm_store(dir);
    cold_params p = {.segment_bytes = 2048, .zstd_level = 1};
    cold_store *c = NULL;
    CHECK_STATUS(cold_open(dir, &p, &c), 0);
    if (!c) return;
    char k[32], v[200];
    for (int i = 0; i < 150; i++) {
        snprintf(k, sizeof k, "key-%03d", i);
        snprintf(v, sizeof v, "value %d %0100d", i, i);
        put_str(c, k, v);
    }
    cold_stats s;
    cold_get_stats(c, &s);
    CHECK(s.segments > 5);
    uint64_t dropped = 99;
    CHECK_STATUS(cold_compact(c, 0, NULL, NULL, &dropped), 0);
    CHECK(dropped == 0);
    for (int pass = 0; pass < 2; pass++) {
        int bad = 0;
        for (int i = 0; i < 150; i++) {
            snprintf(k, sizeof k, "key-%03d", i);
            snprintf(v, sizeof v, "value %d %0100d", i, i);
            bad += !has(c, k, v);
        }
        CHECK_MSG(bad == 0, "%d keys wrong after compaction (pass %d)", bad, pass);
        cold_close(c);
        CHECK_STATUS(cold_open(dir, &p, &c), 0);
        if (!c) return;
    }
    cold_close(c);
}

static char *slurp(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)*len + 1);
    if (fread(b, 1, (size_t)*len, f) != (size_t)*len) *len = -1;
    fclose(f);
    return b;
}

/* Sealed segments get index files; opening reads them instead of the
 * segments (a block damaged after indexing is only found when read); a
 * damaged index file is ignored, the segment scanned and the file written
 * again, byte for byte. */
/* A value zstd cannot shrink much: segments fill after a few records. */
static void index_value(char *v, size_t cap, int i)
{
    uint32_t x = 2654435761u * (uint32_t)(i + 1);
    int n = snprintf(v, cap, "value %d ", i);
    for (; n < (int)cap - 1 && n < 150; n++) {
        x = x * 1664525u + 1013904223u;
        v[n] = (char)('a' + (x >> 27));
    }
    v[n] = 0;
}

static void test_index_files(void)
{
    rm_store(dir);
    cold_params p = {.segment_bytes = 2048, .zstd_level = 1};
    cold_store *c = NULL;
    CHECK_STATUS(cold_open(dir, &p, &c), 0);
    if (!c) return;
    char k[32], v[200];
    for (int i = 0; i < 60; i++) {
        snprintf(k, sizeof k, "key-%03d", i);
        index_value(v, sizeof v, i);
        put_str(c, k, v);
    }
    CHECK_STATUS(cold_del(c, "key-005", 7), 0);
    cold_stats s;
    cold_get_stats(c, &s);
    cold_close(c);
    char idx1[300], idx_last[300];
    snprintf(idx1, sizeof idx1, "%s/seg-00000001.hci", dir);
    snprintf(idx_last, sizeof idx_last, "%s/seg-%08d.hci", dir, (int)s.segments);
    struct stat sb;
    CHECK(s.segments > 3 && stat(idx1, &sb) == 0 && stat(idx_last, &sb) != 0); /* the newest has none */
    long n1 = 0;
    char *orig = slurp(idx1, &n1);
    /* damage a block of segment 1 behind the index's back */
    flip_byte(segment(1), 40);
    CHECK_STATUS(cold_open(dir, &p, &c), 0);
    if (!c) return;
    cold_stats s2;
    cold_get_stats(c, &s2);
    CHECK(s2.corrupt_blocks == 0 && s2.entries == s.entries && s2.blocks == s.blocks);
    CHECK_STATUS(cold_get(c, "key-000", 7, (void **)&(char *){NULL}, NULL), HRT_E_FORMAT);
    index_value(v, sizeof v, 59);
    CHECK(has(c, "key-059", v));
    CHECK(has(c, "key-005", NULL));
    cold_close(c);
    flip_byte(segment(1), 40); /* repaired */
    flip_byte(idx1, 50);       /* now the index is damaged */
    CHECK_STATUS(cold_open(dir, &p, &c), 0);
    if (!c) return;
    int bad = 0;
    for (int i = 0; i < 60; i++) {
        snprintf(k, sizeof k, "key-%03d", i);
        index_value(v, sizeof v, i);
        bad += !has(c, k, i == 5 ? NULL : v);
    }
    CHECK_MSG(bad == 0, "%d keys wrong with a damaged index file", bad);
    cold_close(c);
    long n2 = 0;
    char *again = slurp(idx1, &n2);
    CHECK(orig && again && n1 == n2 && n1 > 0 && !memcmp(orig, again, (size_t)n1));
    free(orig);
    free(again);
}

static void test_refusals(void)
{
    rm_store(dir);
    cold_store *c = NULL;
    CHECK_STATUS(cold_open(dir, NULL, &c), 0);
    cold_close(c);
    /* a segment of a newer format */
    FILE *f = fopen(segment(1), "r+b");
    fseek(f, 8, SEEK_SET);
    uint32_t v2 = 99;
    fwrite(&v2, 4, 1, f);
    fclose(f);
    CHECK_STATUS(cold_open(dir, NULL, &c), HRT_E_FORMAT);
    CHECK(c == NULL && strstr(hrt_last_error(), "newer"));
    CHECK_STATUS(cold_open("/proc/hrt-no/such", NULL, &c), HRT_E_IO);
}

/* ---- kill -9 ----------------------------------------------------------------------- */
static void value_of(char *buf, size_t cap, int trial, int i)
{
    snprintf(buf, cap, "trial %d record %d: %0*d", trial, i, 20 + i % 50, i);
}

static void writer(int trial, int fd)
{
    cold_params p = {.segment_bytes = 64 << 10};
    cold_store *c = NULL;
    if (cold_open(dir, &p, &c)) _exit(3);
    for (int i = 0;; i++) {
        char k[32], v[128];
        kill9_key(k, sizeof k, trial, i);
        value_of(v, sizeof v, trial, i);
        cold_record r = {k, strlen(k), v, strlen(v)};
        if (cold_put(c, &r, 1)) _exit(4);
        if (write(fd, &i, sizeof i) != sizeof i) _exit(5);
    }
}

static void *open_store(void)
{
    cold_store *c = NULL;
    return cold_open(dir, NULL, &c) ? NULL : c;
}

static int get_value(void *c, const char *k, size_t kl, void **v, size_t *n) { return cold_get(c, k, kl, v, n); }
static void close_store(void *c) { cold_close(c); }

static void test_kill9(void)
{
    enum { TRIALS = 100 };
    rm_store(dir);
    kill9_ops ops = {writer, open_store, get_value, close_store, value_of};
    kill9_result r = kill9_run(&ops, TRIALS);
    printf("kill -9: %d trials, %ld records acknowledged, %d lost, %d corrupt\n", TRIALS, r.acknowledged, r.lost,
           r.wrong);
    CHECK(r.opened == TRIALS);
    CHECK(r.lost == 0 && r.wrong == 0);
    CHECK(r.acknowledged > 0);
}

/* The iSCSI test vectors of RFC 3720 (B.4) and the usual check value;
 * lengths 9 and 32 cover the 8-byte steps and the tail. */
static void test_crc32c(void)
{
    uint8_t buf[32];
    memset(buf, 0, 32);
    CHECK(crc32c(0, buf, 32) == 0x8a9136aau);
    memset(buf, 0xff, 32);
    CHECK(crc32c(0, buf, 32) == 0x62a8ab43u);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    CHECK(crc32c(0, buf, 32) == 0x46dd794eu);
    CHECK(crc32c(0, "123456789", 9) == 0xe3069283u);
    CHECK(crc32c(crc32c(0, "1234", 4), "56789", 5) == 0xe3069283u); /* incremental */
}

int main(int argc, char **argv)
{
    test_crc32c();
    if (argc > 1 && !strcmp(argv[1], "--crc")) /* ctest runs this with HRT_CRC32C_TABLE=1 too */
        return test_finish();
    snprintf(dir, sizeof dir, "/tmp/hrt_cold_%d", (int)getpid());
    test_basics();
    test_damage();
    test_torn_tail();
    test_rotation_and_compaction();
    test_compaction_keeps_all();
    test_index_files();
    test_refusals();
    test_kill9();
    rm_store(dir);
    return test_finish();
}
#endif
