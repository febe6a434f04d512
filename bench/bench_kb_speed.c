/* Search latency of a knowledge base at N chunks (100k by default) of
 * synthetic text, excluding the query embedding: each chunk is ~60 words
 * drawn from a Zipf-distributed vocabulary of 20k made-up words, with a
 * random unit vector of 384 floats (the embedder's size); queries are 4
 * such words with a random vector. The index type is hrt's choice by size
 * (HNSW32 above 50k). Each mode runs R runs of Q queries; a cell is the
 * median over runs of that run's p50 or p99.
 *
 * usage: bench_kb_speed [--chunks N] [--runs R] [--queries Q] [--dir DIR] [--json FILE] */
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

static void unit_vec(float *v)
{
    double n = 0;
    for (int d = 0; d < DIM; d++) {
        v[d] = (float)((double)(bench_rng() % 20001) / 10000.0 - 1.0);
        n += (double)v[d] * v[d];
    }
    for (int d = 0; d < DIM; d++) v[d] /= (float)sqrt(n);
}

int main(int argc, char **argv)
{
    long n_chunks = 100000, runs = 5, nq = 200;
    const char *dir = "/tmp/hrt_bench_kb_speed", *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--chunks") && i + 1 < argc) n_chunks = atol(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atol(argv[++i]);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc) nq = atol(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else {
            fprintf(stderr, "usage: bench_kb_speed [--chunks N] [--runs R] [--queries Q] [--dir DIR] [--json FILE]\n");
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
    hrt_kb_params kp = hrt_kb_default_params();
    kp.embedder = m;
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
    static const char *names[] = {"hybrid (RRF + dedup)", "dense (FAISS)", "BM25 (FTS5)"};
    double p50[3][16], p99[3][16];
    float q[DIM];
    char query[128];
    long empty = 0;
    for (long r = 0; r < runs; r++)
        for (int mode = 0; mode < 3; mode++) {
            double *lat = malloc((size_t)nq * sizeof *lat);
            for (long i = 0; i < nq; i++) {
                snprintf(query, sizeof query, "%s %s %s %s", word(), word(), word(), word());
                unit_vec(q);
                hrt_kb_search_params sp = hrt_kb_search_default_params();
                sp.mode = mode;
                hrt_kb_hit hits[10];
                double q0 = now_s();
                int n = kb_search_vec(kb, query, q, &sp, hits);
                lat[i] = (now_s() - q0) * 1e3;
                if (n <= 0) empty++;
                if (n > 0) hrt_kb_hits_free(hits, (size_t)n);
            }
            qsort(lat, (size_t)nq, sizeof *lat, cmp_d);
            p50[mode][r] = lat[nq / 2];
            p99[mode][r] = lat[(long)(0.99 * (double)(nq - 1))];
            free(lat);
        }
    printf("\n| search, %llu chunks, k = 10 | p50 ms | p99 ms |\n|---|---:|---:|\n", (unsigned long long)st.chunks);
    double m50[3], m99[3];
    for (int mode = 0; mode < 3; mode++) {
        m50[mode] = median(p50[mode], (int)runs);
        m99[mode] = median(p99[mode], (int)runs);
        printf("| %s | %.3f | %.3f |\n", names[mode], m50[mode], m99[mode]);
    }
    printf("\n%ld runs of %ld queries per mode; %ld searches returned nothing\n", runs, nq, empty);
    if (json_path) {
        FILE *j = fopen(json_path, "w");
        if (j) {
            fprintf(j, "{\"chunks\": %llu, \"index\": \"%s\", \"load_s\": %.2f, \"runs\": %ld, \"queries\": %ld, "
                       "\"hybrid\": {\"p50_ms\": %.3f, \"p99_ms\": %.3f}, \"dense\": {\"p50_ms\": %.3f, \"p99_ms\": "
                       "%.3f}, \"bm25\": {\"p50_ms\": %.3f, \"p99_ms\": %.3f}}\n",
                    (unsigned long long)st.chunks, st.index_type, load_s, runs, nq, m50[0], m99[0], m50[1], m99[1],
                    m50[2], m99[2]);
            fclose(j);
        }
    }
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
