/* The memory handle (memory/memory.c, kinds.c, vindex.c) through the public
 * API: the read path across tiers and its promotions, demotion by budget and
 * by age, expiry in every tier (an older copy in cold never comes back),
 * deletion, vector queries, the answer cache, conversation turns, stats,
 * compaction, refusals, several threads at once, and kill -9 of a writer
 * whose records keep moving to cold (100 trials). */
#include "hrt.h"
#include "test.h"

#ifndef HRT_WITH_MEMORY
int main(void) { test_skip("built without the memory tiers (zstd or SQLite not found)"); }
#else
#include <pthread.h>
#include <unistd.h>

#include "kill9.h"
#include "memory.h"

static char dir[256];
static int64_t fake_now = 1000000;
static int64_t fake_clock(void) { return __atomic_load_n(&fake_now, __ATOMIC_RELAXED); }

static void rm_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "%s failed\n", cmd);
}

static hrt_memory *open_mem(const hrt_memory_params *p)
{
    hrt_memory *m = NULL;
    int st = hrt_memory_open(dir, p, &m);
    CHECK_MSG(st == 0, "open: %s", hrt_last_error());
    if (m) memory_set_clock(m, fake_clock);
    return m;
}

static int put(hrt_memory *m, const char *k, const char *v, int64_t ttl)
{
    hrt_memory_record r = {k, strlen(k), v, strlen(v), NULL, 0, ttl};
    return hrt_memory_put(m, &r, 1);
}

/* 1 when key reads as want (NULL: absent), from tier want_tier (0: any). */
static int has(hrt_memory *m, const char *k, const char *want, int want_tier)
{
    void *v = NULL;
    size_t n = 0;
    int tier = -1;
    int st = hrt_memory_get(m, k, strlen(k), &v, &n, &tier);
    int ok = want ? st == 0 && n == strlen(want) && !memcmp(v, want, n) && (!want_tier || tier == want_tier)
                  : st == HRT_E_RANGE && tier == HRT_TIER_NONE;
    if (!ok)
        fprintf(stderr, "  get %s: status %d, tier %d, value '%.*s' (want '%s' from tier %d)\n", k, st, tier,
                (int)(v ? n : 0), v ? (char *)v : "", want ? want : "(absent)", want_tier);
    free(v);
    return ok;
}

static void test_tiers(void)
{
    rm_dir();
    hrt_memory_params p = hrt_memory_default_params();
    p.hot_bytes = 4096;
    p.hot_max_value = 100;
    p.warm_bytes = 2000; /* a few records: the rest go to cold */
    hrt_memory *m = open_mem(&p);
    if (!m) return;
    char k[32], v[200], big[400];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "k%03d", i);
        snprintf(v, sizeof v, "value of %d", i);
        CHECK_STATUS(put(m, k, v, 0), 0);
    }
    hrt_memory_stats s;
    CHECK_STATUS(hrt_memory_stats_get(m, &s), 0);
    CHECK_MSG(s.tier[HRT_TIER_WARM].bytes <= p.warm_bytes && s.tier[HRT_TIER_COLD].entries > 0 &&
                  s.tier[HRT_TIER_WARM].entries + s.tier[HRT_TIER_COLD].entries == 100,
              "warm %llu bytes %llu entries, cold %llu entries", (unsigned long long)s.tier[HRT_TIER_WARM].bytes,
              (unsigned long long)s.tier[HRT_TIER_WARM].entries, (unsigned long long)s.tier[HRT_TIER_COLD].entries);
    /* the last put is hot; the first went to cold and comes back up */
    CHECK(has(m, "k099", "value of 99", HRT_TIER_HOT));
    CHECK(has(m, "k000", "value of 0", HRT_TIER_COLD));
    CHECK(has(m, "k000", "value of 0", HRT_TIER_HOT));
    /* a value too large for hot: cold, then warm (promoted), then warm */
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_STATUS(put(m, "big", big, 0), 0);
    fake_now++;
    for (int i = 100; i < 180; i++) { /* push it out of warm: more than warm_bytes after it */
        snprintf(k, sizeof k, "k%03d", i);
        CHECK_STATUS(put(m, k, "filler filler filler filler", 0), 0);
    }
    CHECK(has(m, "big", big, HRT_TIER_COLD));
    CHECK(has(m, "big", big, HRT_TIER_WARM));
    /* overwrite and delete reach every tier, and last across reopening */
    CHECK_STATUS(put(m, "k001", "new value", 0), 0);
    CHECK_STATUS(hrt_memory_delete(m, "k002", 4), 0);
    CHECK_STATUS(hrt_memory_delete(m, "k002", 4), HRT_E_RANGE);
    CHECK_STATUS(hrt_memory_delete(m, "k099", 4), 0);
    CHECK_STATUS(put(m, "", "empty key", 0), 0);
    CHECK_STATUS(put(m, "empty value", "", 0), 0);
    hrt_memory_free(m);
    m = open_mem(&p);
    if (!m) return;
    CHECK(has(m, "k001", "new value", 0) && has(m, "k002", NULL, 0) && has(m, "k099", NULL, 0));
    CHECK(has(m, "k003", "value of 3", 0) && has(m, "", "empty key", 0) && has(m, "empty value", "", 0));
    int bad = 0;
    for (int i = 3; i < 99; i++) {
        snprintf(k, sizeof k, "k%03d", i);
        snprintf(v, sizeof v, "value of %d", i);
        bad += !has(m, k, v, 0);
    }
    CHECK_MSG(bad == 0, "%d records wrong after reopening", bad);
    CHECK_STATUS(hrt_memory_stats_get(m, &s), 0);
    uint64_t hist = 0;
    for (int i = 0; i < HRT_MEMORY_HIST; i++) hist += s.tier[HRT_TIER_COLD].get_ns[i];
    CHECK(s.tier[HRT_TIER_COLD].hits > 0 && hist == s.tier[HRT_TIER_COLD].hits && s.tier[HRT_TIER_NONE].misses >= 2);
    CHECK(s.tier[HRT_TIER_COLD].p99_us >= s.tier[HRT_TIER_COLD].p50_us && s.tier[HRT_TIER_COLD].p50_us > 0);
    hrt_memory_free(m);
}

/* Records unused for warm_max_age_s go to cold at maintenance; one that was
 * read stays. */
static void test_age_and_expiry(void)
{
    rm_dir();
    hrt_memory_params p = hrt_memory_default_params();
    p.warm_max_age_s = 3600;
    hrt_memory *m = open_mem(&p);
    if (!m) return;
    CHECK_STATUS(put(m, "old", "old value", 0), 0);
    CHECK_STATUS(put(m, "read", "read value", 0), 0);
    CHECK_STATUS(put(m, "stale", "first version", 0), 0);
    fake_now += 3000;
    void *v = NULL;
    size_t n;
    CHECK_STATUS(hrt_memory_get(m, "read", 4, &v, &n, NULL), 0); /* hot answers: warm's atime stays */
    free(v);
    fake_now += 1000;
    hrt_memory_report r;
    CHECK_STATUS(hrt_memory_maintain(m, 0, &r), 0);
    CHECK_MSG(r.demoted_age == 3 && r.demoted_budget == 0 && r.expired == 0, "demoted %llu by age",
              (unsigned long long)r.demoted_age);
    /* a newer version with a TTL over the old copy in cold */
    CHECK_STATUS(put(m, "stale", "second version", 60), 0);
    CHECK_STATUS(put(m, "short", "short-lived", 60), 0);
    CHECK(has(m, "stale", "second version", HRT_TIER_HOT));
    fake_now += 61;
    CHECK(has(m, "stale", NULL, 0) && has(m, "short", NULL, 0));
    CHECK_STATUS(hrt_memory_maintain(m, 0, &r), 0);
    CHECK_MSG(r.expired == 2, "expired %llu", (unsigned long long)r.expired);
    hrt_memory_free(m);
    m = open_mem(&p);
    if (!m) return;
    CHECK(has(m, "stale", NULL, 0) && has(m, "short", NULL, 0));
    CHECK(has(m, "old", "old value", HRT_TIER_COLD) && has(m, "read", "read value", HRT_TIER_COLD));
    /* expired in warm: purged; expired in cold: dropped by compaction */
    CHECK_STATUS(put(m, "warm ttl", "expires in warm", 100), 0);
    CHECK_STATUS(put(m, "cold ttl", "expires in cold", 5000), 0);
    fake_now += 3601;
    CHECK_STATUS(hrt_memory_maintain(m, 0, &r), 0);
    /* "old" and "read" came back to warm when read from cold: they go again */
    CHECK_MSG(r.expired == 1 && r.demoted_age == 3, "expired %llu, demoted %llu", (unsigned long long)r.expired, (unsigned long long)r.demoted_age);
    CHECK(has(m, "cold ttl", "expires in cold", 0)); /* hot still has its copy */
    fake_now += 2000;
    CHECK(has(m, "cold ttl", NULL, 0));
    CHECK_STATUS(hrt_memory_maintain(m, 1, &r), 0);
    CHECK_MSG(r.expired == 0 && r.cold_dropped == 1, "expired %llu, dropped by compaction %llu",
              (unsigned long long)r.expired, (unsigned long long)r.cold_dropped);
    hrt_memory_stats s;
    CHECK(hrt_memory_stats_get(m, &s) == 0 && s.tier[HRT_TIER_COLD].entries == 2);
    hrt_memory_free(m);
}

static void vec_of(float *v, int dim, int seed)
{
    for (int i = 0; i < dim; i++) v[i] = (float)((seed * 7 + i * 13) % 17) - 8.0f + 0.5f;
}

static void test_vectors_and_answers(void)
{
    rm_dir();
    hrt_memory_params p = hrt_memory_default_params();
    p.warm_bytes = 1; /* every value goes to cold at once; vectors stay */
    hrt_memory *m = open_mem(&p);
    if (!m) return;
    enum { DIM = 24 };
    float v[DIM], q[DIM];
    for (int i = 0; i < 40; i++) {
        char k[32];
        snprintf(k, sizeof k, "%s/%02d", i % 2 ? "chunk" : "other", i);
        vec_of(v, DIM, i);
        hrt_memory_record r = {k, strlen(k), "text", 4, v, DIM, 0};
        CHECK_STATUS(hrt_memory_put(m, &r, 1), 0);
    }
    float zero[DIM] = {0};
    hrt_memory_record bad = {"zero", 4, "x", 1, zero, DIM, 0};
    CHECK_STATUS(hrt_memory_put(m, &bad, 1), HRT_E_INVALID);
    CHECK(has(m, "zero", NULL, 0));
    hrt_memory_free(m);
    m = open_mem(&p); /* the index comes back from warm */
    if (!m) return;
    vec_of(q, DIM, 7);
    for (int i = 0; i < DIM; i++) q[i] *= 3.0f; /* scale does not matter */
    hrt_memory_hit hits[5];
    int n = hrt_memory_query(m, "chunk/", 6, q, DIM, 5, -1.0f, hits);
    CHECK(n == 5 && hits[0].key_len == 8 && !memcmp(hits[0].key, "chunk/07", 8) && fabsf(hits[0].score - 1) < 1e-5f);
    int sorted = 1, prefixed = 1;
    for (int i = 0; i < n; i++) {
        if (i && hits[i].score > hits[i - 1].score) sorted = 0;
        if (memcmp(hits[i].key, "chunk/", 6)) prefixed = 0;
    }
    CHECK(sorted && prefixed);
    hrt_memory_hits_free(hits, (size_t)n);
    CHECK(hrt_memory_query(m, "chunk/", 6, q, DIM, 5, 0.999f, hits) == 1);
    hrt_memory_hits_free(hits, 1);
    CHECK(hrt_memory_query(m, "", 0, q, DIM - 1, 5, -1.0f, hits) == 0); /* another dimension */
    CHECK_STATUS(hrt_memory_delete(m, "chunk/07", 8), 0);
    n = hrt_memory_query(m, "chunk/", 6, q, DIM, 1, -1.0f, hits);
    CHECK(n == 1 && memcmp(hits[0].key, "chunk/07", 8));
    hrt_memory_hits_free(hits, (size_t)n);

    /* the answer cache */
    hrt_answer a = {"smollm2", "light-v1", "What are your opening hours?", "9 to 5 on weekdays.", "[\"faq.md#3\"]", 0};
    vec_of(v, DIM, 100);
    CHECK_STATUS(hrt_memory_answer_put(m, v, DIM, &a, 3600), 0);
    vec_of(q, DIM, 100);
    q[0] += 0.3f; /* a close paraphrase */
    hrt_answer got;
    float score = 0;
    CHECK(hrt_memory_answer_lookup(m, q, DIM, "smollm2", "light-v1", 0.95f, &got, &score) == 1);
    CHECK(got.answer && !strcmp(got.answer, a.answer) && !strcmp(got.sources, a.sources) &&
          !strcmp(got.query, a.query) && got.created == fake_now && score > 0.95f && score < 1.0f);
    hrt_answer_clear(&got);
    CHECK(hrt_memory_answer_lookup(m, q, DIM, "smollm2", "light-v2", 0.5f, &got, &score) == 0);
    CHECK(hrt_memory_answer_lookup(m, q, DIM, "gemma3", "light-v1", 0.5f, &got, &score) == 0);
    vec_of(q, DIM, 3); /* another question */
    CHECK(hrt_memory_answer_lookup(m, q, DIM, "smollm2", "light-v1", 0.95f, &got, &score) == 0);
    fake_now += 3601;
    vec_of(q, DIM, 100);
    CHECK(hrt_memory_answer_lookup(m, q, DIM, "smollm2", "light-v1", 0.5f, &got, &score) == 0);
    hrt_memory_report r;
    CHECK_STATUS(hrt_memory_maintain(m, 1, &r), 0);
    CHECK(r.expired == 1);
    hrt_memory_stats s;
    CHECK_STATUS(hrt_memory_stats_get(m, &s), 0);
    CHECK_MSG(s.vectors == 39, "%llu vectors", (unsigned long long)s.vectors);
    hrt_memory_free(m);
}

static void test_turns(void)
{
    rm_dir();
    hrt_memory_params p = hrt_memory_default_params();
    p.warm_bytes = 300; /* older turns move to cold */
    hrt_memory *m = open_mem(&p);
    if (!m) return;
    for (int i = 0; i < 10; i++) {
        char text[64];
        snprintf(text, sizeof text, "turn number %d\nwith a second line", i);
        uint64_t idx = 99;
        CHECK_STATUS(hrt_memory_turn_add(m, "alice", i % 2 ? "assistant" : "user", text, strlen(text), &idx), 0);
        CHECK(idx == (uint64_t)i);
    }
    CHECK_STATUS(hrt_memory_turn_add(m, "bob", "user", "hello", 5, NULL), 0);
    CHECK_STATUS(hrt_memory_turn_add(m, "a/b", "user", "x", 1, NULL), HRT_E_INVALID);
    CHECK_STATUS(hrt_memory_turn_add(m, "alice", "bad\nrole", "x", 1, NULL), HRT_E_INVALID);
    hrt_memory_free(m);
    m = open_mem(&p);
    if (!m) return;
    hrt_chat_msg *msgs = NULL;
    size_t n = 0;
    CHECK_STATUS(hrt_memory_turns(m, "alice", 3, &msgs, &n), 0);
    CHECK(n == 3 && !strcmp(msgs[0].role, "assistant") && !strcmp(msgs[0].content, "turn number 7\nwith a second line") &&
          !strcmp(msgs[2].content, "turn number 9\nwith a second line") && !strcmp(msgs[1].role, "user"));
    hrt_memory_turns_free(msgs, n);
    CHECK_STATUS(hrt_memory_turns(m, "alice", 100, &msgs, &n), 0);
    CHECK(n == 10 && !strcmp(msgs[0].content, "turn number 0\nwith a second line"));
    hrt_memory_turns_free(msgs, n);
    CHECK_STATUS(hrt_memory_turns(m, "bob", 100, &msgs, &n), 0);
    CHECK(n == 1 && !strcmp(msgs[0].content, "hello"));
    hrt_memory_turns_free(msgs, n);
    CHECK_STATUS(hrt_memory_turns(m, "nobody", 5, &msgs, &n), 0);
    CHECK(n == 0);
    hrt_memory_turns_free(msgs, n);
    hrt_memory_free(m);
}

/* Full compaction after overwrites and deletes in cold: fewer bytes, same
 * answers; the deleted stay deleted across reopening. */
static void test_compaction(void)
{
    rm_dir();
    hrt_memory_params p = hrt_memory_default_params();
    p.warm_bytes = 1;
    p.cold_segment_bytes = 8192;
    hrt_memory *m = open_mem(&p);
    if (!m) return;
    char k[32], v[200];
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 100; i++) {
            snprintf(k, sizeof k, "c%03d", i);
            snprintf(v, sizeof v, "round %d of %d: %080d", round, i, i);
            CHECK_STATUS(put(m, k, v, 0), 0);
        }
    for (int i = 0; i < 100; i += 4) {
        snprintf(k, sizeof k, "c%03d", i);
        CHECK_STATUS(hrt_memory_delete(m, k, strlen(k)), 0);
    }
    hrt_memory_stats before, after;
    hrt_memory_stats_get(m, &before);
    hrt_memory_report r;
    CHECK_STATUS(hrt_memory_maintain(m, 1, &r), 0);
    hrt_memory_stats_get(m, &after);
    CHECK_MSG(r.cold_segments_compacted > 1 && after.tier[HRT_TIER_COLD].bytes < before.tier[HRT_TIER_COLD].bytes / 2,
              "compacted %llu segments, %llu -> %llu bytes", (unsigned long long)r.cold_segments_compacted,
              (unsigned long long)before.tier[HRT_TIER_COLD].bytes, (unsigned long long)after.tier[HRT_TIER_COLD].bytes);
    hrt_memory_free(m);
    m = open_mem(&p);
    if (!m) return;
    int bad = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "c%03d", i);
        snprintf(v, sizeof v, "round 2 of %d: %080d", i, i);
        bad += !has(m, k, i % 4 ? v : NULL, 0);
    }
    CHECK_MSG(bad == 0, "%d records wrong after compaction", bad);
    hrt_memory_free(m);
}

static void test_refusals(void)
{
    rm_dir();
    hrt_memory *m = open_mem(NULL);
    hrt_memory_free(m);
    char path[300];
    snprintf(path, sizeof path, "%s/memory.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"format\": \"hrt-memory\", \"version\": 99}", f);
    fclose(f);
    CHECK_STATUS(hrt_memory_open(dir, NULL, &m), HRT_E_FORMAT);
    CHECK(m == NULL && strstr(hrt_last_error(), "version 99"));
    f = fopen(path, "w");
    fputs("{not json", f);
    fclose(f);
    CHECK_STATUS(hrt_memory_open(dir, NULL, &m), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), "memory.json") != NULL);
    CHECK_STATUS(hrt_memory_open("/proc/hrt-no/such/dir", NULL, &m), HRT_E_IO);
    hrt_memory_params p = hrt_memory_default_params();
    p.cold_compact_dead = 2;
    CHECK_STATUS(hrt_memory_open(dir, &p, &m), HRT_E_INVALID);
    CHECK_STATUS(hrt_memory_put(NULL, NULL, 1), HRT_E_INVALID);
    hrt_memory_free(NULL);
}

/* ---- threads: each owns some keys and must always read its own latest
 * value, while maintenance keeps moving records to cold underneath. */
enum { THREADS = 4, KEYS = 40, ROUNDS = 150 };
static hrt_memory *shared_mem;
static int thread_errors;
static int maint_stop; /* read and written atomically */

static uint32_t next_u32(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static void *worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    uint64_t rng = (uint64_t)t * 7919 + 1;
    int last[KEYS];
    for (int i = 0; i < KEYS; i++) last[i] = -1;
    for (int round = 0; round < ROUNDS; round++) {
        int i = (int)(next_u32(&rng) % KEYS);
        char k[32], v[64];
        snprintf(k, sizeof k, "t%d-%02d", t, i);
        if (next_u32(&rng) % 8 == 0) {
            int st = hrt_memory_delete(shared_mem, k, strlen(k));
            if (st != (last[i] >= 0 ? 0 : HRT_E_RANGE)) __atomic_fetch_add(&thread_errors, 1, __ATOMIC_RELAXED);
            last[i] = -1;
        } else {
            snprintf(v, sizeof v, "thread %d key %d round %d", t, i, round);
            if (put(shared_mem, k, v, 0)) __atomic_fetch_add(&thread_errors, 1, __ATOMIC_RELAXED);
            last[i] = round;
        }
        int j = (int)(next_u32(&rng) % KEYS);
        snprintf(k, sizeof k, "t%d-%02d", t, j);
        if (last[j] >= 0) snprintf(v, sizeof v, "thread %d key %d round %d", t, j, last[j]);
        if (!has(shared_mem, k, last[j] >= 0 ? v : NULL, 0)) __atomic_fetch_add(&thread_errors, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void *maintainer(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&maint_stop, __ATOMIC_RELAXED)) {
        if (hrt_memory_maintain(shared_mem, 0, NULL)) __atomic_fetch_add(&thread_errors, 1, __ATOMIC_RELAXED);
        usleep(1000);
    }
    return NULL;
}

static void test_threads(void)
{
    rm_dir();
    hrt_memory_params p = hrt_memory_default_params();
    p.hot_bytes = 4096; /* small tiers: records keep moving */
    p.warm_bytes = 1500;
    p.cold_segment_bytes = 4096;
    p.cold_compact_dead = 0.3;
    shared_mem = open_mem(&p);
    if (!shared_mem) return;
    pthread_t th[THREADS], mt;
    __atomic_store_n(&maint_stop, 0, __ATOMIC_RELAXED);
    pthread_create(&mt, NULL, maintainer, NULL);
    for (int t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    __atomic_store_n(&maint_stop, 1, __ATOMIC_RELAXED);
    pthread_join(mt, NULL);
    hrt_memory_stats s;
    hrt_memory_stats_get(shared_mem, &s);
    CHECK_MSG(thread_errors == 0, "%d wrong results from %d threads", thread_errors, THREADS);
    CHECK_MSG(s.tier[HRT_TIER_COLD].hits > 0 && s.tier[HRT_TIER_WARM].demotions > 0, "cold hits %llu, demotions %llu",
              (unsigned long long)s.tier[HRT_TIER_COLD].hits, (unsigned long long)s.tier[HRT_TIER_WARM].demotions);
    hrt_memory_free(shared_mem);
}

/* ---- kill -9 -------------------------------------------------------------- */
static hrt_memory_params kill_params(void)
{
    hrt_memory_params p = hrt_memory_default_params();
    p.warm_bytes = 2048; /* demotion runs all the time */
    p.cold_segment_bytes = 16384;
    p.cold_compact_dead = 0.2;
    return p;
}

static void value_of(char *buf, size_t cap, int trial, int i) { snprintf(buf, cap, "memory value %d of %d", i, trial); }

static void writer(int trial, int fd)
{
    hrt_memory *m = NULL;
    hrt_memory_params p = kill_params();
    if (hrt_memory_open(dir, &p, &m)) _exit(3);
    for (int i = 0;; i++) {
        char k[32], v[64];
        int kl = kill9_key(k, sizeof k, trial, i);
        value_of(v, sizeof v, trial, i);
        hrt_memory_record r = {k, (size_t)kl, v, strlen(v), NULL, 0, 0};
        if (hrt_memory_put(m, &r, 1)) _exit(4);
        if (write(fd, &i, sizeof i) != sizeof i) _exit(5);
        if (i % 16 == 15 && hrt_memory_maintain(m, i % 64 == 63, NULL)) _exit(7);
    }
}

static void *open_store(void)
{
    hrt_memory *m = NULL;
    hrt_memory_params p = kill_params();
    return hrt_memory_open(dir, &p, &m) ? NULL : m;
}

static int get_value(void *m, const char *k, size_t kl, void **v, size_t *n) { return hrt_memory_get(m, k, kl, v, n, NULL); }
static void close_store(void *m) { hrt_memory_free(m); }

static void test_kill9(void)
{
    enum { TRIALS = 100 };
    rm_dir();
    kill9_ops ops = {writer, open_store, get_value, close_store, value_of};
    kill9_result r = kill9_run(&ops, TRIALS);
    printf("kill -9: %d trials, %ld records acknowledged, %d lost, %d wrong\n", TRIALS, r.acknowledged, r.lost,
           r.wrong);
    CHECK(r.opened == TRIALS && r.lost == 0 && r.wrong == 0 && r.acknowledged > 0);
    hrt_memory *m = open_store();
    hrt_memory_stats s;
    if (m) hrt_memory_stats_get(m, &s);
    CHECK(m && s.tier[HRT_TIER_COLD].entries > 0); /* the kills did hit records on the move */
    hrt_memory_free(m);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/hrt_memory_%d", (int)getpid());
    test_tiers();
    test_age_and_expiry();
    test_vectors_and_answers();
    test_turns();
    test_compaction();
    test_refusals();
    test_threads();
    test_kill9();
    rm_dir();
    return test_finish();
}
#endif
