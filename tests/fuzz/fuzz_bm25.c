/* libFuzzer harness for BM25 queries: the input is a query's text (any
 * bytes: invalid UTF-8, FTS5 syntax, quotes, NULs cut it short) against a
 * small knowledge-base store. The terms are found, and the in-memory index
 * and FTS5 must agree on how many chunks match and on the best score: a
 * differential check, so a query FTS5 reads differently from the index
 * (or refuses) aborts. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HRT_WITH_RETRIEVAL
#include "sparse.h"
#include "store.h"

static kb_store *store;
static sparse_index *index_;

static void setup(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/hrt_fuzz_bm25_%d.sqlite", (int)getpid());
    unlink(path);
    static const char *texts[] = {
        "The quick brown fox jumps over the lazy dog.", "Caf\xc3\xa9 au lait, na\xc3\xafve r\xc3\xa9sum\xc3\xa9s and \xc3\x84rger.",
        "Running runners ran; connections connected.", "\xe4\xbd\xa0\xe5\xa5\xbd \xe4\xb8\x96\xe7\x95\x8c 42 x-ray e-mail",
        "OR AND NOT NEAR \"quoted\" (parens) * ^ column:value"};
    if (store_open(path, &store)) abort();
    for (int i = 0; i < 5; i++) {
        char src[16];
        snprintf(src, sizeof src, "d%d", i);
        store_chunk c = {texts[i], strlen(texts[i]), 0, strlen(texts[i]), 0};
        if (store_doc_put(store, src, "h", NULL, 0, &c, 1, NULL, 0, NULL, NULL, NULL)) abort();
    }
    if (sparse_build(store, &index_)) abort();
    unlink(path); /* the open connection keeps it */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!store) setup();
    char *q = malloc(size + 1);
    memcpy(q, data, size);
    q[size] = 0;
    store_terms t;
    if (store_query_terms(store, q, &t) == 0) {
        int64_t ia[8], ib[8];
        float sa[8], sb[8];
        int na = sparse_search(index_, t.term, t.len, t.n, 8, ia, sa);
        int nb = store_bm25(store, q, 8, ib, sb);
        if (na != nb || (na > 0 && fabsf(sa[0] - sb[0]) > 1e-4f * (fabsf(sb[0]) + 1e-3f))) {
            fprintf(stderr, "fuzz_bm25: index %d hits (%g), FTS5 %d (%g)\n", na, na > 0 ? sa[0] : 0, nb,
                    nb > 0 ? sb[0] : 0);
            abort();
        }
        store_terms_clear(&t);
    }
    free(q);
    return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    return 0;
}
#endif
