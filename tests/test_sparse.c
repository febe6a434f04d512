/* The in-memory BM25 index (retrieval/sparse.c) against FTS5's bm25() on
 * the same store, the independent reference: random documents over a
 * Zipf-like vocabulary with real English inflections (so porter stems
 * matter) and accented words (so unicode61 folding matters); hundreds of
 * random queries (repeated terms, stop words, unknown words) must return
 * the same chunks with the same scores, before and after removals (with
 * and without compaction), replacements and additions. Plus the
 * refusal of a chunk id out of order. */
#include "hrt.h"
#include "test.h"

#ifndef HRT_WITH_RETRIEVAL
int main(void) { test_skip("built without retrieval (FAISS or SQLite not found)"); }
#else
#include <stdint.h>
#include <unistd.h>

#include "sparse.h"
#include "store.h"

static char path[256];
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *const WORDS[] = {
    "run", "running", "runs", "runner", "connect", "connected", "connection", "connections", "study", "studies",
    "studied", "generalization", "general", "cell", "cells", "protein", "proteins", "café", "Cafe", "naïve",
    "NAIVE", "the", "of", "and", "is", "was", "a", "in", "to", "with", "gene", "genes", "expression", "tumor",
    "tumour", "mouse", "mice", "patient", "patients", "therapy", "x-ray", "e-mail", "42", "2024", "Ärger",
    "über", "straße", "strasse", "résumé", "resume", "cooperation", "coöperation", "analysis", "analyses",
    "effect", "effects", "effective", "increase", "increased", "increases", "decrease", "binding", "bind",
    "bound", "receptor", "receptors", "signal", "signaling", "signalling", "rare", "unique"};
#define NW (sizeof WORDS / sizeof *WORDS)

/* A word with a skewed frequency: low indices far more often; half of
 * them made up, from a larger vocabulary, so that idf spans a range. */
static const char *word(void)
{
    static char buf[16];
    uint32_t a = rnd(NW), b = rnd(NW);
    if (rnd(2)) return WORDS[a < b ? a : b];
    uint32_t c = rnd(3000), d = rnd(3000), e = rnd(3000);
    snprintf(buf, sizeof buf, "zq%u", c < d ? (c < e ? c : e) : (d < e ? d : e));
    return buf;
}

static void make_text(char *buf, size_t cap, int words)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < words && len + 32 < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", word(), rnd(9) ? " " : ". ");
}

static int put(kb_store *s, int doc, int n_chunks, int64_t *ids, int64_t **old, size_t *n_old)
{
    char src[32], text[8][1024];
    store_chunk c[8];
    snprintf(src, sizeof src, "doc%d", doc);
    for (int i = 0; i < n_chunks; i++) {
        make_text(text[i], sizeof text[i], 5 + (int)rnd(60));
        c[i] = (store_chunk){text[i], strlen(text[i]), 0, 0, 0};
    }
    return store_doc_put(s, src, "h", NULL, 0, c, (size_t)n_chunks, NULL, 0, old, n_old, ids);
}

/* Adds chunk id's stored text to x (what the knowledge base does after a
 * commit). */
static int follow(kb_store *s, sparse_index *x, int64_t id)
{
    store_hit h;
    int st = store_chunk_get(s, id, &h);
    if (!st) st = sparse_add(x, s, id, h.text, strlen(h.text));
    store_hit_clear(&h);
    return st;
}

/* n random queries: the index and FTS5 agree. */
static void compare(kb_store *s, sparse_index *x, int n, const char *when)
{
    int mismatches = 0, nonempty = 0;
    for (int qi = 0; qi < n; qi++) {
        char q[256];
        make_text(q, sizeof q, 1 + (int)rnd(6));
        if (qi % 17 == 0) strcat(q, " zzzunknownzzz");
        if (qi % 23 == 0) snprintf(q, sizeof q, "%s %s", word(), word()); /* maybe a repeat */
        size_t k = 1 + rnd(20);
        int64_t ia[32], ib[32];
        float sa[32], sb[32];
        store_terms t;
        if (store_query_terms(s, q, &t)) {
            CHECK(0);
            return;
        }
        int na = sparse_search(x, t.term, t.len, t.n, k, ia, sa);
        int nb = store_bm25(s, q, k, ib, sb);
        store_terms_clear(&t);
        nonempty += nb > 0;
        int ok = na == nb;
        for (int i = 0; ok && i < na; i++) {
            float tol = 1e-4f * (fabsf(sb[i]) + 1e-3f);
            /* the same score at each rank; the same chunk unless tied */
            if (fabsf(sa[i] - sb[i]) > tol) ok = 0;
            int tied = (i > 0 && fabsf(sb[i] - sb[i - 1]) <= tol) || (i + 1 < nb && fabsf(sb[i] - sb[i + 1]) <= tol) ||
                       (i + 1 == nb);
            if (ia[i] != ib[i] && !tied) ok = 0;
        }
        if (!ok && mismatches++ < 3) {
            fprintf(stderr, "%s: query \"%s\" k %zu: index %d hits, FTS5 %d\n", when, q, k, na, nb);
            for (int i = 0; i < na || i < nb; i++)
                fprintf(stderr, "  %2d  %6lld %.6f   %6lld %.6f\n", i, i < na ? (long long)ia[i] : -1, i < na ? sa[i] : 0,
                        i < nb ? (long long)ib[i] : -1, i < nb ? sb[i] : 0);
        }
    }
    CHECK_MSG(mismatches == 0, "%s: %d of %d queries differ", when, mismatches, n);
    CHECK_MSG(nonempty > n / 2, "%s: only %d of %d queries found anything", when, nonempty, n);
}

static void test_parity(void)
{
    test_rm_sqlite(path);
    kb_store *s = NULL;
    CHECK_STATUS(store_open(path, &s), 0);
    if (!s) return;
    enum { DOCS = 600 };
    int64_t ids[8];
    for (int d = 0; d < DOCS; d++) CHECK_STATUS(put(s, d, 1 + (int)rnd(4), ids, NULL, NULL), 0);

    sparse_index *x = NULL;
    CHECK_STATUS(sparse_build(s, &x), 0);
    if (!x) return;
    uint64_t chunks = 0;
    store_counts(s, NULL, &chunks, NULL);
    CHECK(sparse_count(x) == chunks && chunks > DOCS);
    compare(s, x, 300, "built");

    /* folding and stemming: "Cafe" finds "café", "connections" finds "connected" */
    store_terms t;
    CHECK_STATUS(store_query_terms(s, "CAFÉ connections, the", &t), 0);
    CHECK(t.n == 2 && !strcmp(t.term[0], "cafe") && !strcmp(t.term[1], "connect") && !strcmp(t.word[0], "CAFÉ"));
    store_terms_clear(&t);
    CHECK_STATUS(store_query_terms(s, "the of and . ,", &t), 0);
    CHECK(t.n == 0);
    int64_t one[4];
    float sc[4];
    CHECK(sparse_search(x, t.term, t.len, t.n, 4, one, sc) == 0 && store_bm25(s, "the of and", 4, one, sc) == 0);
    store_terms_clear(&t);

    /* replacements and removals (under a quarter: no compaction yet) */
    for (int r = 0; r < 60; r++) {
        int64_t *old = NULL;
        size_t n_old = 0;
        int n = 1 + (int)rnd(4);
        CHECK_STATUS(put(s, (int)rnd(DOCS), n, ids, &old, &n_old), 0);
        sparse_remove(x, n_old, old);
        for (int i = 0; i < n; i++) CHECK_STATUS(follow(s, x, ids[i]), 0);
        CHECK_STATUS(sparse_commit(x), 0);
        free(old);
    }
    uint64_t postings = sparse_postings(x);
    compare(s, x, 200, "replaced");
    /* removals past a quarter: compaction */
    for (int d = 0; d < DOCS / 2; d++) {
        char src[32];
        snprintf(src, sizeof src, "doc%d", d);
        int64_t *old = NULL;
        size_t n_old = 0;
        CHECK_STATUS(store_doc_remove(s, src, &old, &n_old), 0);
        sparse_remove(x, n_old, old);
        free(old);
    }
    CHECK_STATUS(sparse_commit(x), 0);
    store_counts(s, NULL, &chunks, NULL);
    CHECK(sparse_count(x) == chunks && sparse_postings(x) < postings * 3 / 4);
    compare(s, x, 200, "removed");
    /* new chunks, longer ones: the average length moves past the bounds' reference */
    for (int d = DOCS; d < DOCS + 200; d++) {
        int n = 1 + (int)rnd(4);
        CHECK_STATUS(put(s, d, n, ids, NULL, NULL), 0);
        for (int i = 0; i < n; i++) CHECK_STATUS(follow(s, x, ids[i]), 0);
        if (d % 50 == 0) compare(s, x, 20, "adding, not committed");
    }
    CHECK_STATUS(sparse_commit(x), 0);
    compare(s, x, 200, "added");

    /* ids only grow */
    CHECK_STATUS(sparse_begin(x, 1), HRT_E_INVALID);
    CHECK(strstr(hrt_last_error(), "chunk 1 after"));
    sparse_free(x);
    store_close(s);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/hrt_sparse_%d.sqlite", (int)getpid());
    test_parity();
    test_rm_sqlite(path);
    return test_finish();
}
#endif
