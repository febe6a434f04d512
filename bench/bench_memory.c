/* The memory tiers at scale: get latency p50/p99 per tier at N records
 * (1M by default), put throughput, demotion throughput, open time, vector
 * query latency, and the cold tier's compression ratio on real text from
 * ../shared/data, beside two peers measured in the same run: a bare SQLite
 * point query on the same warm.sqlite (what the warm tier adds to SQLite)
 * and zstd at the same level over each data set as one stream (the most
 * any block format could reach).
 *
 * usage: bench_memory [--records N] [--runs R] [--gets G] [--dir DIR]
 *                     [--data DIR] [--json FILE]
 * Every latency is the median over R runs of that run's percentile; each
 * run reads G keys not read before, in random order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HRT_WITH_MEMORY
int main(void)
{
    fprintf(stderr, "bench_memory: built without the memory tiers (zstd or SQLite not found)\n");
    return 1;
}
#else
#include <cjson/cJSON.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <zstd.h>

#include "bench_util.h"
#include "hrt.h"

typedef struct {
    char **v;
    size_t *len, n, cap, bytes;
} texts;

static void texts_add(texts *t, const char *s, size_t n)
{
    if (!n) return;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->v = realloc(t->v, t->cap * sizeof *t->v);
        t->len = realloc(t->len, t->cap * sizeof *t->len);
    }
    t->v[t->n] = malloc(n);
    memcpy(t->v[t->n], s, n);
    t->len[t->n++] = n;
    t->bytes += n;
}

/* The string fields named (NULL-terminated) of every JSON line of a file
 * (gzip'd when it ends in .gz); arrays of strings count too. */
static texts read_jsonl(const char *path, const char *const *fields)
{
    texts t = {0};
    char cmd[1200];
    size_t pl = strlen(path);
    FILE *f;
    if (pl > 3 && !strcmp(path + pl - 3, ".gz")) {
        snprintf(cmd, sizeof cmd, "gzip -dc '%s'", path);
        f = popen(cmd, "r");
    } else {
        f = fopen(path, "r");
    }
    if (!f) return t;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        for (int k = 0; j && fields[k]; k++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, fields[k]), *e;
            if (cJSON_IsString(x)) texts_add(&t, x->valuestring, strlen(x->valuestring));
            else if (cJSON_IsArray(x))
                cJSON_ArrayForEach(e, x) if (cJSON_IsString(e)) texts_add(&t, e->valuestring, strlen(e->valuestring));
        }
        cJSON_Delete(j);
    }
    free(line);
    if (pl > 3 && !strcmp(path + pl - 3, ".gz")) pclose(f);
    else fclose(f);
    return t;
}

static void texts_free(texts *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->v[i]);
    free(t->v);
    free(t->len);
}

static void rm_rf(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "%s failed\n", cmd);
}

static uint64_t dir_bytes(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "du -sb '%s'", dir);
    FILE *p = popen(cmd, "r");
    unsigned long long n = 0;
    if (p && fscanf(p, "%llu", &n) != 1) n = 0;
    if (p) pclose(p);
    return n;
}

static hrt_memory *open_or_die(const char *dir, const hrt_memory_params *p)
{
    hrt_memory *m = NULL;
    if (hrt_memory_open(dir, p, &m)) {
        fprintf(stderr, "bench_memory: %s\n", hrt_last_error());
        exit(1);
    }
    return m;
}

static void put_or_die(hrt_memory *m, const hrt_memory_record *r, size_t n)
{
    if (hrt_memory_put(m, r, n)) {
        fprintf(stderr, "bench_memory: put: %s\n", hrt_last_error());
        exit(1);
    }
}

/* ---- compression -------------------------------------------------------- */
typedef struct {
    const char *name;
    double raw_mb, ratio_demoted, ratio_zstd_stream, ratio_zstd_each;
    size_t records;
} ratio_row;

static ratio_row compression(const char *name, const texts *t, const char *dir)
{
    ratio_row r = {name, (double)t->bytes / 1e6, 0, 0, 0, t->n};
    rm_rf(dir);
    hrt_memory_params p = hrt_memory_default_params();
    p.auto_maintain = 0;
    hrt_memory *m = open_or_die(dir, &p);
    hrt_memory_record *recs = calloc(t->n, sizeof *recs);
    char (*keys)[24] = malloc(t->n * sizeof *keys);
    for (size_t i = 0; i < t->n; i++) {
        snprintf(keys[i], sizeof keys[i], "%s/%08zu", name, i);
        recs[i] = (hrt_memory_record){keys[i], strlen(keys[i]), t->v[i], t->len[i], NULL, 0, 0};
    }
    for (size_t i = 0; i < t->n; i += 1000) put_or_die(m, recs + i, t->n - i < 1000 ? t->n - i : 1000);
    hrt_memory_free(m);
    p.warm_bytes = 0; /* everything to cold, in demotion batches */
    m = open_or_die(dir, &p);
    hrt_memory_stats s;
    hrt_memory_maintain(m, 0, NULL);
    hrt_memory_stats_get(m, &s);
    r.ratio_demoted = (double)t->bytes / (double)s.tier[HRT_TIER_COLD].bytes;
    hrt_memory_free(m);
    /* peers: one zstd stream over all the text; one zstd frame per record */
    char *all = malloc(t->bytes);
    size_t off = 0, each = 0;
    for (size_t i = 0; i < t->n; i++) {
        memcpy(all + off, t->v[i], t->len[i]);
        off += t->len[i];
        char buf[1 << 16];
        size_t c = ZSTD_compress(buf, sizeof buf, t->v[i], t->len[i], 3);
        each += ZSTD_isError(c) ? t->len[i] : c;
    }
    size_t bound = ZSTD_compressBound(t->bytes);
    char *out = malloc(bound);
    size_t c = ZSTD_compress(out, bound, all, t->bytes, 3);
    r.ratio_zstd_stream = (double)t->bytes / (double)c;
    r.ratio_zstd_each = (double)t->bytes / (double)each;
    free(out);
    free(all);
    free(recs);
    free(keys);
    rm_rf(dir);
    return r;
}

/* ---- latency -------------------------------------------------------------- */
typedef struct {
    double p50[16], p99[16];
    int runs;
    long wrong_tier; /* gets answered by another tier than expected */
} lat;

static void lat_add(lat *l, double *us, int n)
{
    qsort(us, (size_t)n, sizeof *us, cmp_d);
    l->p50[l->runs] = n ? us[n / 2] : 0;
    l->p99[l->runs] = n ? us[(int)(0.99 * (n - 1))] : 0;
    l->runs++;
}

static double med(const double *v, int n)
{
    double c[16];
    memcpy(c, v, (size_t)n * sizeof *c);
    return n ? median(c, n) : 0;
}


static void key_of(char *k, size_t cap, uint64_t i) { snprintf(k, cap, "rec/%010llu", (unsigned long long)i); }

/* Gets key number i; returns its latency in µs and counts an answer from
 * a tier other than want (0: want a miss) in l. */
static double timed_get(hrt_memory *m, uint64_t i, int want, lat *l)
{
    char k[32];
    key_of(k, sizeof k, i);
    void *v = NULL;
    size_t len;
    int tier = 0;
    double t0 = now_s();
    int st = hrt_memory_get(m, k, strlen(k), &v, &len, &tier);
    double us = (now_s() - t0) * 1e6;
    free(v);
    if ((want && (st || tier != want)) || (!want && st != HRT_E_RANGE)) l->wrong_tier++;
    return us;
}

/* Gets n keys (their indices in idx), timing each; adds a run to l. */
static void timed_gets(hrt_memory *m, const uint64_t *idx, int n, int want, lat *l)
{
    double *us = malloc((size_t)n * sizeof *us);
    for (int i = 0; i < n; i++) us[i] = timed_get(m, idx[i], want, l);
    lat_add(l, us, n);
    free(us);
}

/* The peer: the same point query on warm.sqlite through a plain connection. */
static void sqlite_gets(const char *db_path, const uint64_t *idx, int n, lat *l)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_prepare_v2(db, "SELECT value FROM kv WHERE key = ?1", -1, &q, NULL);
    double *us = malloc((size_t)n * sizeof *us);
    for (int i = 0; i < n; i++) {
        char k[32];
        key_of(k, sizeof k, idx[i]);
        double t0 = now_s();
        sqlite3_bind_blob(q, 1, k, (int)strlen(k), SQLITE_STATIC);
        int rc = sqlite3_step(q);
        void *v = NULL;
        if (rc == SQLITE_ROW) { /* copied out, as the tier does */
            int len = sqlite3_column_bytes(q, 0);
            v = malloc((size_t)len + 1);
            memcpy(v, sqlite3_column_blob(q, 0), (size_t)len);
        } else {
            l->wrong_tier++;
        }
        sqlite3_reset(q);
        us[i] = (now_s() - t0) * 1e6;
        free(v);
    }
    lat_add(l, us, n);
    free(us);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* A writer that commits single puts until told to stop, for the hot reads
 * measured meanwhile. */
typedef struct {
    hrt_memory *m;
    long first;
    int stop;
    long done;
} writer_ctx;

static void *writer_thread(void *arg)
{
    writer_ctx *w = arg;
    char v[256];
    memset(v, 'w', sizeof v);
    for (long i = 0; !__atomic_load_n(&w->stop, __ATOMIC_RELAXED); i++) {
        char k[32];
        key_of(k, sizeof k, (uint64_t)(w->first + i));
        hrt_memory_record r = {k, strlen(k), v, sizeof v, NULL, 0, 0};
        put_or_die(w->m, &r, 1);
        __atomic_store_n(&w->done, i + 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void print_lat(FILE *j, const char *name, const lat *l, int *first)
{
    printf("| %-34s | %10.2f | %10.2f | %6d |\n", name, med(l->p50, l->runs), med(l->p99, l->runs), l->runs);
    if (j) {
        fprintf(j, "%s\n    \"%s\": {\"p50_us\": %.3f, \"p99_us\": %.3f, \"runs\": %d, \"wrong_tier\": %ld}",
                *first ? "" : ",", name, med(l->p50, l->runs), med(l->p99, l->runs), l->runs, l->wrong_tier);
        *first = 0;
    }
}

int main(int argc, char **argv)
{
    long n_rec = 1000000, runs = 5, gets = 20000;
    const char *dir = "/tmp/hrt_bench_memory", *data = "../shared/data", *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--records") && i + 1 < argc) n_rec = atol(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atol(argv[++i]);
        else if (!strcmp(argv[i], "--gets") && i + 1 < argc) gets = atol(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else {
            fprintf(stderr, "usage: bench_memory [--records N] [--runs R] [--gets G] [--dir DIR] [--data DIR] [--json FILE]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 16 || gets < 100 || n_rec < runs * gets * 3) {
        fprintf(stderr, "bench_memory: need 1 <= runs <= 16, gets >= 100 and records >= 3 * runs * gets\n");
        return 2;
    }
    char path[1100];
    /* ---- data --------------------------------------------------------------- */
    static const char *abstract_f[] = {"text", NULL}, *passage_f[] = {"text", NULL}, *faq_f[] = {"question", "answers", NULL},
                      *mt_f[] = {"turns", NULL};
    struct { const char *name, *file; const char *const *fields; } sets[] = {
        {"scifact", "scifact/corpus.jsonl.gz", abstract_f},
        {"squad", "squad/passages.jsonl", passage_f},
        {"stackfaq", "stackfaq/faq.jsonl", faq_f},
        {"mt_bench", "mt_bench/questions.jsonl", mt_f},
    };
    texts corpus[4];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", data, sets[i].file);
        corpus[i] = read_jsonl(path, sets[i].fields);
    }
    if (!corpus[0].n) {
        fprintf(stderr, "bench_memory: no text in %s/scifact (the text for values and ratios); --data DIR\n", data);
        return 1;
    }
    FILE *j = json_path ? fopen(json_path, "w") : NULL;
    if (j) fprintf(j, "{\n  \"records\": %ld, \"runs\": %ld, \"gets_per_run\": %ld,\n", n_rec, runs, gets);

    printf("## cold-tier compression on real text (zstd level 3)\n\n");
    printf("| data set | records | MB | cold tier (blocks of 256 records) | peer: zstd, one stream | peer: zstd, one frame per record |\n");
    printf("|---|---:|---:|---:|---:|---:|\n");
    if (j) fprintf(j, "  \"compression\": [");
    for (int i = 0; i < 4; i++) {
        if (!corpus[i].n) continue;
        snprintf(path, sizeof path, "%s-ratio", dir);
        ratio_row r = compression(sets[i].name, &corpus[i], path);
        printf("| %s | %zu | %.2f | %.2f | %.2f | %.2f |\n", r.name, r.records, r.raw_mb, r.ratio_demoted,
               r.ratio_zstd_stream, r.ratio_zstd_each);
        if (j)
            fprintf(j, "%s\n    {\"set\": \"%s\", \"records\": %zu, \"mb\": %.3f, \"cold\": %.3f, "
                       "\"zstd_stream\": %.3f, \"zstd_each\": %.3f}",
                    i ? "," : "", r.name, r.records, r.raw_mb, r.ratio_demoted, r.ratio_zstd_stream, r.ratio_zstd_each);
    }
    if (j) fprintf(j, "\n  ],\n");

    /* ---- N records: values are windows of the scifact text ---------------------- */
    texts *src = &corpus[0];
    rm_rf(dir);
    hrt_memory_params p = hrt_memory_default_params();
    p.auto_maintain = 0;
    p.warm_bytes = (uint64_t)1 << 40;
    hrt_memory *m = open_or_die(dir, &p);
    enum { BATCH = 1000 };
    hrt_memory_record recs[BATCH];
    static char keys[BATCH][32];
    double t0 = now_s();
    uint64_t value_bytes = 0;
    for (long i = 0; i < n_rec; i += BATCH) {
        int n = (int)(n_rec - i < BATCH ? n_rec - i : BATCH);
        for (int k = 0; k < n; k++) {
            uint64_t id = (uint64_t)(i + k);
            const texts *t = src;
            size_t which = id % t->n, len = t->len[which];
            size_t want = 64 + (id * 2654435761u) % 448, off = len > want ? (id * 40503u) % (len - want) : 0;
            key_of(keys[k], sizeof keys[k], id);
            recs[k] = (hrt_memory_record){keys[k], strlen(keys[k]), t->v[which] + off, len > want ? want : len, NULL, 0, 0};
            value_bytes += recs[k].value_len;
        }
        put_or_die(m, recs, (size_t)n);
    }
    double put_batch_s = now_s() - t0;
    /* single durable puts (one commit each), of fresh keys */
    enum { SINGLE = 2000 };
    t0 = now_s();
    for (int i = 0; i < SINGLE; i++) {
        char k[32];
        key_of(k, sizeof k, (uint64_t)(n_rec + i));
        hrt_memory_record r = {k, strlen(k), src->v[i % src->n], src->len[i % src->n] < 300 ? src->len[i % src->n] : 300, NULL, 0, 0};
        put_or_die(m, &r, 1);
    }
    double put_single_s = now_s() - t0;

    /* distinct keys for every run and tier: a random permutation's prefix */
    uint64_t *perm = malloc((size_t)n_rec * sizeof *perm);
    for (long i = 0; i < n_rec; i++) perm[i] = (uint64_t)i;
    for (long i = n_rec - 1; i > 0; i--) {
        uint64_t k = bench_rng() % (uint64_t)(i + 1), x = perm[i];
        perm[i] = perm[k], perm[k] = x;
    }
    uint64_t *miss = malloc((size_t)gets * sizeof *miss);
    hrt_memory_free(m); /* a new process's view: the puts left nothing hot */
    m = open_or_die(dir, &p);
    long busy_puts = 0, busy_gets = 0;
    lat hot_busy = {0}, warm = {0}, hot = {0}, peer = {0}, cold = {0}, cold_np = {0}, none = {0};
    snprintf(path, sizeof path, "%s/warm.sqlite", dir);
    for (long r = 0; r < runs; r++) {
        const uint64_t *idx = perm + r * gets;
        sqlite_gets(path, idx + gets / 2, (int)(gets / 2), &peer); /* half, before the tier reads them */
        timed_gets(m, idx, (int)gets, HRT_TIER_WARM, &warm);
        timed_gets(m, idx, (int)gets, HRT_TIER_HOT, &hot);      /* now hot */
        writer_ctx wc = {m, n_rec + 10000000 + r * 1000000, 0, 0};
        pthread_t wt;
        pthread_create(&wt, NULL, writer_thread, &wc);
        { /* hot reads of the same keys until the writer has committed 200 puts */
            size_t cap = 1 << 16, n = 0;
            double *us = malloc(cap * sizeof *us);
            while (__atomic_load_n(&wc.done, __ATOMIC_RELAXED) < 200 && n < ((size_t)1 << 26)) {
                for (long i = 0; i < gets; i++) {
                    if (n == cap) us = realloc(us, (cap *= 2) * sizeof *us);
                    us[n++] = timed_get(m, idx[i], HRT_TIER_HOT, &hot_busy);
                }
            }
            lat_add(&hot_busy, us, (int)n);
            busy_gets += (long)n;
            free(us);
        }
        __atomic_store_n(&wc.stop, 1, __ATOMIC_RELAXED);
        pthread_join(wt, NULL);
        busy_puts += wc.done;
        for (long i = 0; i < gets; i++) miss[i] = (uint64_t)(n_rec + SINGLE) + bench_rng() % 1000000000u;
        timed_gets(m, miss, (int)gets, 0, &none);
    }
    hrt_memory_free(m);

    /* everything to cold */
    p.warm_bytes = 0;
    t0 = now_s();
    m = open_or_die(dir, &p);
    double open_warm_s = now_s() - t0;
    t0 = now_s();
    hrt_memory_report rep;
    hrt_memory_maintain(m, 0, &rep);
    double demote_s = now_s() - t0;
    hrt_memory_free(m);
    p.warm_bytes = (uint64_t)1 << 40;
    t0 = now_s();
    m = open_or_die(dir, &p); /* the cold index is rebuilt from the segments */
    double open_cold_s = now_s() - t0;
    hrt_memory_stats s;
    hrt_memory_stats_get(m, &s);
    uint64_t cold_entries = s.tier[HRT_TIER_COLD].entries, cold_bytes = s.tier[HRT_TIER_COLD].bytes;
    for (long r = 0; r < runs; r++) timed_gets(m, perm + (runs + r) * gets, (int)gets, HRT_TIER_COLD, &cold);
    hrt_memory_free(m);
    p.promote_cold = 0;
    m = open_or_die(dir, &p);
    for (long r = 0; r < runs; r++) timed_gets(m, perm + (2 * runs + r) * gets, (int)gets, HRT_TIER_COLD, &cold_np);
    hrt_memory_free(m);

    /* ---- vector queries ------------------------------------------------------ */
    enum { DIM = 384, VQ = 200 };
    long vsizes[] = {10000, 100000};
    lat vq[2];
    memset(vq, 0, sizeof vq);
    for (int vs = 0; vs < 2; vs++) {
        snprintf(path, sizeof path, "%s-vec", dir);
        rm_rf(path);
        hrt_memory_params vp = hrt_memory_default_params();
        m = open_or_die(path, &vp);
        float *vecs = malloc((size_t)BATCH * DIM * sizeof *vecs);
        for (long i = 0; i < vsizes[vs]; i += BATCH) {
            for (int k = 0; k < BATCH; k++) {
                for (int d = 0; d < DIM; d++) vecs[k * DIM + d] = (float)(bench_rng() % 2001) / 1000.0f - 1.0f;
                snprintf(keys[k], sizeof keys[k], "chunk/%08ld", i + k);
                recs[k] = (hrt_memory_record){keys[k], strlen(keys[k]), "x", 1, vecs + (size_t)k * DIM, DIM, 0};
            }
            put_or_die(m, recs, BATCH);
        }
        for (long r = 0; r < runs; r++) {
            double us[VQ];
            for (int q = 0; q < VQ; q++) {
                for (int d = 0; d < DIM; d++) vecs[d] = (float)(bench_rng() % 2001) / 1000.0f - 1.0f;
                hrt_memory_hit hits[10];
                double q0 = now_s();
                int n = hrt_memory_query(m, "chunk/", 6, vecs, DIM, 10, -1.0f, hits);
                us[q] = (now_s() - q0) * 1e6;
                if (n != 10) vq[vs].wrong_tier++;
                hrt_memory_hits_free(hits, n > 0 ? (size_t)n : 0);
            }
            lat_add(&vq[vs], us, VQ);
        }
        free(vecs);
        hrt_memory_free(m);
        rm_rf(path);
    }

    /* ---- report ------------------------------------------------------------- */
    printf("\n## %ld records (%.1f MB of values, windows of the scifact text), %ld runs of %ld gets\n\n", n_rec,
           (double)value_bytes / 1e6, runs, gets);
    printf("| get | p50 us | p99 us | runs |\n|---|---:|---:|---:|\n");
    if (j) fprintf(j, "  \"latency\": {");
    int first = 1;
    print_lat(j, "hot", &hot, &first);
    print_lat(j, "hot, while a thread commits puts", &hot_busy, &first);
    print_lat(j, "warm", &warm, &first);
    print_lat(j, "peer: bare SQLite point query", &peer, &first);
    print_lat(j, "cold (promotes to warm: a commit)", &cold, &first);
    print_lat(j, "cold (promote_cold = 0)", &cold_np, &first);
    print_lat(j, "miss (all three tiers)", &none, &first);
    print_lat(j, "vector query top-10, 10k x 384", &vq[0], &first);
    print_lat(j, "vector query top-10, 100k x 384", &vq[1], &first);
    if (j) fprintf(j, "\n  },\n");
    printf("\n(busy hot runs: %ld gets while the writer thread committed %ld puts)\n", busy_gets, busy_puts);
    long wrong = hot_busy.wrong_tier + hot.wrong_tier + warm.wrong_tier + cold.wrong_tier + cold_np.wrong_tier + none.wrong_tier + peer.wrong_tier +
                 vq[0].wrong_tier + vq[1].wrong_tier;
    printf("\nanswers from an unexpected tier (or wrong): %ld\n", wrong);
    printf("warm p50 / peer p50: %.2f\n\n", med(warm.p50, warm.runs) / med(peer.p50, peer.runs));
    printf("| throughput | value |\n|---|---:|\n");
    printf("| put, batches of %d (one commit each) | %.0f records/s |\n", BATCH, (double)n_rec / put_batch_s);
    printf("| put, one record per commit | %.0f records/s |\n", SINGLE / put_single_s);
    printf("| demotion warm -> cold | %.0f records/s (%llu records, %.1f s) |\n",
           (double)rep.demoted_budget / demote_s, (unsigned long long)rep.demoted_budget, demote_s);
    printf("| open, %ld records in warm | %.3f s |\n", n_rec, open_warm_s);
    printf("| open, %llu records in cold (index files, newest segment scanned) | %.3f s |\n", (unsigned long long)cold_entries,
           open_cold_s);
    printf("| cold tier on disk | %.1f MB for %.1f MB of values (%.2fx) |\n", (double)cold_bytes / 1e6,
           (double)value_bytes / 1e6, (double)value_bytes / (double)cold_bytes);
    printf("| memory directory | %.1f MB |\n", (double)dir_bytes(dir) / 1e6);
    if (j) {
        fprintf(j, "  \"throughput\": {\"put_batch_per_s\": %.0f, \"put_single_per_s\": %.0f, \"demote_per_s\": %.0f, "
                   "\"open_warm_s\": %.3f, \"open_cold_s\": %.3f, \"cold_mb\": %.2f, \"value_mb\": %.2f},\n"
                   "  \"wrong\": %ld\n}\n",
                (double)n_rec / put_batch_s, SINGLE / put_single_s, (double)rep.demoted_budget / demote_s, open_warm_s,
                open_cold_s, (double)cold_bytes / 1e6, (double)value_bytes / 1e6, wrong);
        fclose(j);
    }
    rm_rf(dir);
    for (int i = 0; i < 4; i++) texts_free(&corpus[i]);
    free(perm);
    free(miss);
    return wrong ? 1 : 0;
}
#endif
