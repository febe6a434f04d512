/* The dense index (retrieval/dense.c over FAISS through the C API bridge):
 * exact search finds each vector itself, removal, a save/load round trip,
 * the bridge's inner product against one computed here in double at
 * dimensions that leave every kind of tail (flat search and HNSW's
 * distances), HNSW's recall against exact search, and refusals (a bad factory string, a
 * missing or foreign file, another dimension). */
#include "hrt.h"
#include "test.h"

#ifndef HRT_WITH_RETRIEVAL
int main(void) { test_skip("built without retrieval (FAISS or SQLite not found)"); }
#else
#include <unistd.h>

#include "dense.h"

enum { DIM = 32, N = 3000 };
static float vecs[N * DIM];
static int64_t ids[N];
static char path[256];

static void make_vectors(void)
{
    uint64_t s = 42;
    for (int i = 0; i < N; i++) {
        double norm = 0;
        for (int d = 0; d < DIM; d++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            float x = (float)((s >> 40) & 0xffff) / 32768.0f - 1.0f;
            vecs[i * DIM + d] = x;
            norm += (double)x * x;
        }
        for (int d = 0; d < DIM; d++) vecs[i * DIM + d] /= (float)sqrt(norm);
        ids[i] = 1000 + 7 * i; /* chunk ids: not 0..n-1 */
    }
}

/* How many of the first n vectors find themselves first. */
static int self_hits(dense_index *d, int n)
{
    int hits = 0;
    for (int i = 0; i < n; i++) {
        float sc[3];
        int64_t got[3];
        if (dense_search(d, vecs + i * DIM, 3, sc, got) == 0 && got[0] == ids[i] && fabsf(sc[0] - 1) < 1e-4f) hits++;
    }
    return hits;
}

static void test_flat(void)
{
    dense_index *d = NULL;
    CHECK_STATUS(dense_create(DIM, dense_default_type(N), &d), 0);
    if (!d) return;
    CHECK(!strcmp(dense_type(d), "IDMap2,Flat") && dense_dim(d) == DIM);
    CHECK_STATUS(dense_add(d, N, vecs, ids), 0);
    CHECK(dense_count(d) == N && self_hits(d, 200) == 200);
    size_t removed = 0;
    CHECK_STATUS(dense_remove(d, 10, ids, &removed), 0);
    CHECK(removed == 10 && dense_count(d) == N - 10);
    float sc[1];
    int64_t got[1];
    CHECK(dense_search(d, vecs, 1, sc, got) == 0 && got[0] != ids[0]);
    CHECK_STATUS(dense_save(d, path), 0);
    dense_index *e = NULL;
    CHECK_STATUS(dense_load(path, "IDMap2,Flat", DIM, &e), 0);
    if (e) {
        CHECK(dense_count(e) == N - 10);
        int same = 1;
        for (int i = 10; i < 60; i++) {
            float s1[5], s2[5];
            int64_t g1[5], g2[5];
            dense_search(d, vecs + i * DIM, 5, s1, g1);
            dense_search(e, vecs + i * DIM, 5, s2, g2);
            if (memcmp(g1, g2, sizeof g1) || memcmp(s1, s2, sizeof s1)) same = 0;
        }
        CHECK(same);
    }
    /* more results asked for than vectors: -1 past the last */
    dense_index *small = NULL;
    CHECK_STATUS(dense_create(DIM, "IDMap2,Flat", &small), 0);
    if (small) {
        dense_add(small, 2, vecs, ids);
        float s4[4];
        int64_t g4[4];
        CHECK(dense_search(small, vecs, 4, s4, g4) == 0 && g4[0] == ids[0] && g4[1] == ids[1] && g4[2] == -1);
    }
    dense_free(small);
    dense_free(e);
    dense_free(d);
}

/* Flat top-k against a scan in double here, for dimensions of 1..40 and
 * 384; and HNSW's own scores are exact inner products of what it returns. */
static void test_exact(void)
{
    static const int dims[] = {1, 3, 7, 8, 9, 15, 16, 17, 24, 31, 33, 40, 384};
    enum { M = 400, K = 8 };
    static float xb[M * 384];
    static int64_t xid[M];
    uint64_t s = 7;
    int bad = 0, hnsw_bad = 0;
    for (size_t t = 0; t < sizeof dims / sizeof dims[0]; t++) {
        int dim = dims[t];
        for (int i = 0; i < M * dim; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            xb[i] = (float)((s >> 40) & 0xffff) / 32768.0f - 1.0f;
        }
        for (int i = 0; i < M; i++) xid[i] = 5 * i + 1;
        dense_index *d = NULL, *h = NULL;
        CHECK_STATUS(dense_create(dim, "IDMap2,Flat", &d), 0);
        CHECK_STATUS(dense_create(dim, "IDMap2,HNSW16,Flat", &h), 0);
        if (!d || !h) {
            dense_free(d);
            dense_free(h);
            return;
        }
        dense_add(d, M, xb, xid);
        dense_add(h, M, xb, xid);
        for (int qi = 0; qi < 20; qi++) {
            const float *q = xb + (qi * 17 % M) * dim;
            double ref[M];
            for (int i = 0; i < M; i++) {
                ref[i] = 0;
                for (int k = 0; k < dim; k++) ref[i] += (double)q[k] * xb[i * dim + k];
            }
            float sc[K];
            int64_t got[K];
            CHECK_STATUS(dense_search(d, q, K, sc, got), 0);
            for (int r = 0; r < K; r++) {
                int i = (int)((got[r] - 1) / 5);
                int above = 0; /* vectors clearly better than the r-th result */
                for (int j = 0; j < M; j++) above += ref[j] > ref[i] + 1e-4;
                if (got[r] < 1 || i >= M || fabs(sc[r] - ref[i]) > 1e-4 * (1 + fabs(ref[i])) || above > r) bad++;
            }
            CHECK_STATUS(dense_search(h, q, K, sc, got), 0);
            for (int r = 0; r < K; r++) {
                int i = (int)((got[r] - 1) / 5);
                if (got[r] < 1 || i >= M || fabs(sc[r] - ref[i]) > 1e-4 * (1 + fabs(ref[i]))) hnsw_bad++;
            }
        }
        dense_free(d);
        dense_free(h);
    }
    CHECK_MSG(bad == 0, "%d flat results off the exact top-k or score", bad);
    CHECK_MSG(hnsw_bad == 0, "%d HNSW scores differ from the exact inner product", hnsw_bad);
}

static void test_hnsw(void)
{
    dense_index *flat = NULL, *h = NULL;
    CHECK_STATUS(dense_create(DIM, "IDMap2,Flat", &flat), 0);
    CHECK_STATUS(dense_create(DIM, dense_default_type(1000000), &h), 0);
    if (!flat || !h) return;
    CHECK(strstr(dense_type(h), "HNSW") != NULL);
    dense_add(flat, N, vecs, ids);
    CHECK_STATUS(dense_add(h, N, vecs, ids), 0);
    /* recall@10 of HNSW against exact search, on queries that are not in the index */
    int agree = 0, total = 0;
    for (int i = 0; i < 100; i++) {
        float q[DIM];
        for (int k = 0; k < DIM; k++) q[k] = vecs[i * DIM + k] + vecs[(i + 1) * DIM + k];
        float s1[10], s2[10];
        int64_t g1[10], g2[10];
        dense_search(flat, q, 10, s1, g1);
        dense_search(h, q, 10, s2, g2);
        for (int a = 0; a < 10; a++)
            for (int b = 0; b < 10; b++) agree += g1[a] == g2[b];
        total += 10;
    }
    CHECK_MSG(agree >= total * 95 / 100, "HNSW recall@10 %d/%d", agree, total);
    size_t removed = 9;
    CHECK_STATUS(dense_remove(h, 5, ids, &removed), 0);
    CHECK(removed == 0 && dense_count(h) == N); /* left stale, by design */
    CHECK_STATUS(dense_save(h, path), 0);
    dense_index *e = NULL;
    CHECK_STATUS(dense_load(path, dense_type(h), DIM, &e), 0);
    CHECK(e && self_hits(e, 50) == 50);
    dense_free(e);
    dense_free(flat);
    dense_free(h);
}

static void test_refusals(void)
{
    dense_index *d = NULL;
    CHECK_STATUS(dense_create(DIM, "NoSuchIndex,Flat", &d), HRT_E_INVALID);
    CHECK(d == NULL && strstr(hrt_last_error(), "index_factory") != NULL);
    CHECK_STATUS(dense_load("/nonexistent/vectors.faiss", "IDMap2,Flat", DIM, &d), HRT_E_IO);
    CHECK(strstr(hrt_last_error(), "/nonexistent/vectors.faiss") != NULL);
    FILE *f = fopen(path, "wb");
    fputs("this is not a FAISS index at all, just some text in a file", f);
    fclose(f);
    CHECK_STATUS(dense_load(path, "IDMap2,Flat", DIM, &d), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), path) != NULL);
    CHECK_STATUS(dense_create(DIM, "IDMap2,Flat", &d), 0);
    if (d) {
        dense_save(d, path);
        dense_free(d);
        d = NULL;
    }
    CHECK_STATUS(dense_load(path, "IDMap2,Flat", DIM + 1, &d), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), "dimension 32") != NULL);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/hrt_dense_%d.faiss", (int)getpid());
    make_vectors();
    test_flat();
    test_exact();
    test_hnsw();
    test_refusals();
    unlink(path);
    return test_finish();
}
#endif
