/* Search latency of a knowledge base at N chunks (100k by default) of
 * synthetic text, excluding the query embedding: each chunk is ~60 words
 * drawn from a Zipf-distributed vocabulary of 20k made-up words, with a
 * unit vector of 384 floats (the embedder's size; see unit_vec); queries
 * are 4 such words with a vector of the same kind. The index type is hrt's
 * choice by size (HNSW32 above 50k). BM25 runs on hrt's in-memory index
 * and, as the peer, on FTS5's bm25() over the same store; the hybrid search
 * also runs with its two halves one after the other on one thread. Each run
 * draws Q queries and runs them through every row; a cell is the median
 * over runs of that run's p50 or p99. The dense search's recall@10 against
 * an exact scan is printed, so that its latency is read with its quality.
 *
 * usage: bench_kb_speed [--chunks N] [--runs R] [--queries Q] [--dir DIR] [--json FILE]
 *                       [--index FACTORY]  (a FAISS factory string instead of hrt's choice)
 *                       [--vectors latent|random] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HRT_WITH_RETRIEVAL
int main(void)
{
    fprintf(stderr, "bench_kb_speed: built without retrieval (FAISS or SQLite not found)\n");
    return 1;
}
#else
#include "bench_util.h"
#include "hrt.h"
#include "kb_internal.h"

enum { DIM = 384, VOCAB = 20000, WORDS = 60 };


static char vocab[VOCAB][12];
static double zipf_cdf[VOCAB];

static void make_vocab(void)
{
    static const char *syl[] = {"ka", "lo", "mi", "ne", "ru", "ta", "sho", "vi", "de", "pa", "gu", "zen", "bo", "fi", "ya", "tor"};
    double sum = 0;
    for (int i = 0; i < VOCAB; i++) {
        int n = 2 + i % 3, x = i;
        vocab[i][0] = 0;
        for (int k = 0; k < n; k++, x /= 16) strcat(vocab[i], syl[(x + k * 7) % 16]);
        sum += 1.0 / (i + 1);
        zipf_cdf[i] = sum;
    }
    for (int i = 0; i < VOCAB; i++) zipf_cdf[i] /= sum;
}

static const char *word(void)
{
    double u = (double)(bench_rng() % 1000000) / 1e6;
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (zipf_cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return vocab[lo];
}

static double gauss(void) /* Box-Muller */
{
    double u = ((double)(bench_rng() >> 11) + 0.5) / 9007199254740992.0;
    double w = ((double)(bench_rng() >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * w);
}

/* Vectors: with --vectors latent (the default), A z + e normalised, z of
 * LATENT standard normal factors through a fixed random DIM x LATENT map A,
 * plus isotropic noise e of a fifth of the signal's size: points near a
 * low-dimensional subspace, as text embeddings are. With --vectors random,
 * uniform directions in DIM dimensions: no neighbourhood structure at all,
 * the worst case of a graph index. */
enum { LATENT = 32 };
static float latent_map[DIM * LATENT];
static int random_vectors;

static void unit_vec(float *v)
{
    double n = 0, z[LATENT];
    for (int j = 0; j < LATENT; j++) z[j] = gauss();
    for (int d = 0; d < DIM; d++) {
        double x = random_vectors ? gauss() : 0;
        for (int j = 0; !random_vectors && j < LATENT; j++) x += latent_map[d * LATENT + j] * z[j];
        if (!random_vectors) x += 0.2 * sqrt((double)LATENT) * gauss(); /* A z's coordinates: sd sqrt(LATENT) */
        v[d] = (float)x;
        n += x * x;
    }
    for (int d = 0; d < DIM; d++) v[d] /= (float)sqrt(n);
}

int main(int argc, char **argv)
{
    long n_chunks = 100000, runs = 5, nq = 200;
    const char *dir = "/tmp/hrt_bench_kb_speed", *json_path = NULL, *index_type = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--chunks") && i + 1 < argc) n_chunks = atol(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atol(argv[++i]);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc) nq = atol(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else if (!strcmp(argv[i], "--index") && i + 1 < argc) index_type = argv[++i];
        else if (!strcmp(argv[i], "--vectors") && i + 1 < argc) random_vectors = !strcmp(argv[++i], "random");
        else {
            fprintf(stderr, "usage: bench_kb_speed [--chunks N] [--runs R] [--queries Q] [--dir DIR] [--json FILE] [--index FACTORY] [--vectors latent|random]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 16 || nq < 10 || n_chunks < 100) return 2;
    char model_dir[1024];
    snprintf(model_dir, sizeof model_dir, "%s/models/all-minilm-l6-v2", HRT_SOURCE_DIR);
    hrt_model_params mp = hrt_model_default_params();
    hrt_model *m = NULL;
    if (hrt_model_open(model_dir, &mp, &m)) { /* the knowledge base records its embedder */
        fprintf(stderr, "bench_kb_speed: %s\n", hrt_last_error());
        return 1;
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return 1;
    make_vocab();
    for (int i = 0; i < DIM * LATENT; i++) latent_map[i] = (float)gauss();
    hrt_kb_params kp = hrt_kb_default_params();
    kp.embedder = m;
    kp.index_type = index_type;
    hrt_kb *kb = NULL;
    if (hrt_kb_open(dir, &kp, &kb)) {
        fprintf(stderr, "bench_kb_speed: %s\n", hrt_last_error());
        return 1;
    }
    char **src = malloc((size_t)n_chunks * sizeof *src), **txt = malloc((size_t)n_chunks * sizeof *txt);
    float *vecs = malloc((size_t)n_chunks * DIM * sizeof *vecs);
    for (long i = 0; i < n_chunks; i++) {
        src[i] = malloc(32);
        snprintf(src[i], 32, "synthetic/%08ld", i);
        txt[i] = malloc(WORDS * 13 + 2);
        txt[i][0] = 0;
        for (int w = 0; w < WORDS; w++) {
            strcat(txt[i], word());
            strcat(txt[i], w % 12 == 11 ? ". " : " ");
        }
        unit_vec(vecs + i * DIM);
    }
    double t0 = now_s();
    if (kb_put_vectors(kb, (size_t)n_chunks, (const char *const *)src, (const char *const *)txt, vecs, 1)) {
        fprintf(stderr, "bench_kb_speed: %s\n", hrt_last_error());
        return 1;
    }
    double load_s = now_s() - t0;
    hrt_kb_stats st;
    hrt_kb_stats_get(kb, &st);
    printf("%llu chunks loaded in %.1f s (store + FTS5 + index, no embedding, no fsync), index %s\n",
           (unsigned long long)st.chunks, load_s, st.index_type);
    /* the BM25 index is built by the first search that needs it */
    t0 = now_s();
    {
        hrt_kb_search_params sp = hrt_kb_search_default_params();
        sp.mode = HRT_KB_BM25;
        hrt_kb_hit hits[10];
        int n = kb_search_vec(kb, "warm up", vecs, &sp, hits);
        if (n > 0) hrt_kb_hits_free(hits, (size_t)n);
    }
    double build_s = now_s() - t0;
    printf("BM25 index built in %.2f s (at the first BM25 search)\n", build_s);
    /* the FTS5 rows last: their scans would leave the others a cold cache */
    enum { ROWS = 6 };
    static const struct { const char *name, *key; int mode, fts5, serial; } rows[ROWS] = {
        {"hybrid (RRF + dedup), BM25 in memory", "hybrid", HRT_KB_HYBRID, 0, 0},
        {"hybrid, BM25 after FAISS on one thread", "hybrid_serial", HRT_KB_HYBRID, 0, 1},
        {"dense (FAISS)", "dense", HRT_KB_DENSE, 0, 0},
        {"BM25 in memory (MaxScore)", "bm25", HRT_KB_BM25, 0, 0},
        {"hybrid (RRF + dedup), BM25 by FTS5", "hybrid_fts5", HRT_KB_HYBRID, 1, 0},
        {"BM25 by FTS5 bm25()", "bm25_fts5", HRT_KB_BM25, 1, 0},
    };
    double p50[ROWS][16], p99[ROWS][16], *lat = malloc((size_t)nq * sizeof *lat);
    char (*queries)[128] = malloc((size_t)nq * sizeof *queries);
    float *qv = malloc((size_t)nq * DIM * sizeof *qv);
    long empty = 0, same = 0, compared = 0, recall_hits = 0, recall_total = 0;
    for (long r = 0; r < runs; r++) {
        for (long i = 0; i < nq; i++) { /* one query set per run, for every row */
            snprintf(queries[i], sizeof queries[i], "%s %s %s %s", word(), word(), word(), word());
            unit_vec(qv + i * DIM);
        }
        for (int row = 0; row < ROWS; row++) {
            kb_bm25_fts5(kb, rows[row].fts5);
            kb_serial(kb, rows[row].serial);
            for (long i = 0; i < nq; i++) {
                hrt_kb_search_params sp = hrt_kb_search_default_params();
                sp.mode = rows[row].mode;
                hrt_kb_hit hits[10];
                double q0 = now_s();
                int n = kb_search_vec(kb, queries[i], qv + i * DIM, &sp, hits);
                lat[i] = (now_s() - q0) * 1e3;
                if (n <= 0) empty++;
                if (n > 0) hrt_kb_hits_free(hits, (size_t)n);
            }
            qsort(lat, (size_t)nq, sizeof *lat, cmp_d);
            p50[row][r] = lat[nq / 2];
            p99[row][r] = lat[(long)(0.99 * (double)(nq - 1))];
        }
        /* dense recall@10 against an exact scan of the vectors (first run's queries) */
        for (long i = 0; r == 0 && i < nq; i++) {
            const float *q = qv + i * DIM;
            long best[10];
            float bs[10];
            for (int k = 0; k < 10; k++) best[k] = -1, bs[k] = -INFINITY;
            for (long j = 0; j < n_chunks; j++) {
                float acc[8] = {0};
                for (int d = 0; d < DIM; d += 8)
                    for (int u = 0; u < 8; u++) acc[u] += q[d + u] * vecs[j * DIM + d + u];
                float v = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
                if (v <= bs[9]) continue;
                int k = 9;
                for (; k > 0 && bs[k - 1] < v; k--) bs[k] = bs[k - 1], best[k] = best[k - 1];
                bs[k] = v, best[k] = j;
            }
            hrt_kb_search_params sp = hrt_kb_search_default_params();
            sp.mode = HRT_KB_DENSE;
            sp.dedup = 1.0f; /* the raw ranking */
            hrt_kb_hit hits[10];
            int n = kb_search_vec(kb, queries[i], q, &sp, hits);
            for (int a = 0; a < n; a++) {
                long got = atol(hits[a].source + strlen("synthetic/"));
                for (int b = 0; b < 10; b++) recall_hits += got == best[b];
            }
            recall_total += 10;
            if (n > 0) hrt_kb_hits_free(hits, (size_t)n);
        }
        /* the two BM25s: the same chunks (first run's queries) */
        for (long i = 0; r == 0 && i < nq; i++) {
            hrt_kb_search_params sp = hrt_kb_search_default_params();
            sp.mode = HRT_KB_BM25;
            hrt_kb_hit a[10], b[10];
            kb_bm25_fts5(kb, 0);
            int na = kb_search_vec(kb, queries[i], qv, &sp, a);
            kb_bm25_fts5(kb, 1);
            int nb = kb_search_vec(kb, queries[i], qv, &sp, b);
            int eq = na == nb;
            for (int k = 0; eq && k < na; k++) eq = a[k].chunk_id == b[k].chunk_id || fabsf(a[k].score - b[k].score) < 1e-4f * a[k].score;
            same += eq;
            compared++;
            if (na > 0) hrt_kb_hits_free(a, (size_t)na);
            if (nb > 0) hrt_kb_hits_free(b, (size_t)nb);
        }
    }
    kb_bm25_fts5(kb, 0);
    kb_serial(kb, 0);
    printf("\n| search, %llu chunks, k = 10 | p50 ms | p99 ms |\n|---|---:|---:|\n", (unsigned long long)st.chunks);
    double m50[ROWS], m99[ROWS];
    for (int row = 0; row < ROWS; row++) {
        m50[row] = median(p50[row], (int)runs);
        m99[row] = median(p99[row], (int)runs);
        printf("| %s | %.3f | %.3f |\n", rows[row].name, m50[row], m99[row]);
    }
    printf("\nBM25 p50: FTS5 / in memory = %.1fx; hybrid p99: FTS5 / in memory = %.1fx, one thread / two = %.2fx\n",
           m50[5] / m50[3], m99[4] / m99[0], m99[1] / m99[0]);
    printf("dense recall@10 against an exact scan: %.3f (%ld queries)\n", (double)recall_hits / (double)recall_total,
           recall_total / 10);
    printf("in-memory BM25 and FTS5 agreed (same chunks, or same scores where tied) on %ld of %ld queries\n", same,
           compared);
    printf("%ld runs of %ld queries per row; %ld searches returned nothing\n", runs, nq, empty);
    if (json_path) {
        FILE *j = fopen(json_path, "w");
        if (j) {
            fprintf(j, "{\"chunks\": %llu, \"index\": \"%s\", \"load_s\": %.2f, \"bm25_build_s\": %.3f, "
                       "\"runs\": %ld, \"queries\": %ld, \"bm25_agree\": %ld, \"dense_recall10\": %.4f",
                    (unsigned long long)st.chunks, st.index_type, load_s, build_s, runs, nq, same,
                    (double)recall_hits / (double)recall_total);
            for (int row = 0; row < ROWS; row++)
                fprintf(j, ", \"%s\": {\"p50_ms\": %.3f, \"p99_ms\": %.3f}", rows[row].key, m50[row], m99[row]);
            fprintf(j, "}\n");
            fclose(j);
        }
    }
    free(lat);
    free(queries);
    free(qv);
    hrt_kb_free(kb);
    hrt_model_free(m);
    for (long i = 0; i < n_chunks; i++) free(src[i]), free(txt[i]);
    free(src);
    free(txt);
    free(vecs);
    if (system(cmd)) return 1;
    return empty ? 1 : 0;
}
#endif
