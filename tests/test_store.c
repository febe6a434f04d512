/* The knowledge-base store (retrieval/store.c): documents and chunks with
 * their vectors, replacement and removal (the ids handed back for the dense
 * index, never reused), BM25 through FTS5 with text that is not FTS5
 * syntax, metadata filters, the version counter, refusals. */
#include "hrt.h"
#include "test.h"

#ifndef HRT_WITH_RETRIEVAL
int main(void) { test_skip("built without retrieval (FAISS or SQLite not found)"); }
#else
#include <sqlite3.h>
#include <unistd.h>

#include "store.h"

static char path[256];

static void rm_db(void) { test_rm_sqlite(path); }

static int put_doc(kb_store *s, const char *source, const char *hash, const char *meta, const char *const *texts,
                   size_t n, int64_t *new_ids, int64_t **old, size_t *n_old)
{
    store_chunk c[8];
    float vecs[8 * 4];
    for (size_t i = 0; i < n; i++) {
        c[i] = (store_chunk){texts[i], strlen(texts[i]), i * 100, i * 100 + strlen(texts[i]), 5};
        for (int d = 0; d < 4; d++) vecs[i * 4 + d] = (float)(i + d);
    }
    return store_doc_put(s, source, hash, meta, 1000, c, n, vecs, 4, old, n_old, new_ids);
}

static int count_vec(void *ud, int64_t id, const float *vec)
{
    (void)id, (void)vec;
    (*(int *)ud)++;
    return 0;
}

static void test_store(void)
{
    rm_db();
    kb_store *s = NULL;
    CHECK_STATUS(store_open(path, &s), 0);
    if (!s) return;
    int64_t v0 = store_version(s);
    const char *a[] = {"The quick brown fox jumps over the lazy dog.", "Foxes are small omnivorous mammals."};
    const char *b[] = {"Retrieval augmented generation cites its sources.", "SQLite has a full-text search extension."};
    int64_t ida[2], idb[2], *old = NULL;
    size_t n_old = 0;
    CHECK_STATUS(put_doc(s, "a.txt", "h1", "{\"lang\": \"en\", \"n\": 3}", a, 2, ida, &old, &n_old), 0);
    CHECK(old == NULL && n_old == 0);
    CHECK_STATUS(put_doc(s, "b.md", "h2", NULL, b, 2, idb, NULL, NULL), 0);
    CHECK(store_version(s) == v0 + 2 && idb[0] > ida[1]);
    char *hash = NULL;
    CHECK(store_doc_hash(s, "a.txt", &hash) == 1 && hash && !strcmp(hash, "h1"));
    free(hash);
    CHECK(store_doc_hash(s, "none.txt", &hash) == 0 && hash == NULL);
    /* BM25: the fox document first; punctuation and FTS5 operators are just text */
    int64_t ids[4];
    float sc[4];
    int n = store_bm25(s, "fox? \"jumps\" AND (NEAR dog*", 4, ids, sc);
    CHECK_MSG(n >= 1 && ids[0] == ida[0] && sc[0] > 0, "bm25: %d hits (%s)", n, n < 0 ? hrt_last_error() : "");
    CHECK(store_bm25(s, "?!.,", 4, ids, sc) == 0);
    CHECK(store_bm25(s, "sqlite full-text", 4, ids, sc) == 1 && ids[0] == idb[1]);
    store_hit h;
    CHECK_STATUS(store_chunk_get(s, ida[1], &h), 0);
    CHECK(h.source && !strcmp(h.source, "a.txt") && !strcmp(h.text, a[1]) && h.start == 100 && h.ord == 1 &&
          strstr(h.meta, "\"lang\""));
    store_hit_clear(&h);
    float vec[4];
    CHECK(store_chunk_vec(s, ida[1], vec, 4) == 0 && vec[0] == 1 && vec[3] == 4);
    CHECK(store_meta_match(s, ida[0], "$.lang", "en") == 1 && store_meta_match(s, ida[0], "$.lang", "fr") == 0 &&
          store_meta_match(s, ida[0], "$.n", "3") == 1 && store_meta_match(s, idb[0], "$.lang", "en") == 0);
    /* replace a.txt: its old chunk ids come back, new ones are fresh */
    const char *a2[] = {"A new version about cats only."};
    int64_t ida2[1];
    CHECK_STATUS(put_doc(s, "a.txt", "h3", NULL, a2, 1, ida2, &old, &n_old), 0);
    CHECK(n_old == 2 && old && ((old[0] == ida[0] && old[1] == ida[1]) || (old[0] == ida[1] && old[1] == ida[0])));
    free(old);
    CHECK(ida2[0] > idb[1]);
    CHECK(store_bm25(s, "fox", 4, ids, sc) == 0 && store_chunk_get(s, ida[0], &h) == HRT_E_RANGE);
    /* remove a.txt; its id, the highest, is not handed out again */
    CHECK_STATUS(store_doc_remove(s, "a.txt", &old, &n_old), 0);
    CHECK(n_old == 1 && old[0] == ida2[0]);
    free(old);
    CHECK_STATUS(store_doc_remove(s, "a.txt", &old, &n_old), HRT_E_RANGE);
    int64_t ida3[1];
    CHECK_STATUS(put_doc(s, "c.txt", "h4", NULL, a2, 1, ida3, NULL, NULL), 0);
    CHECK(ida3[0] > ida2[0]);
    uint64_t docs, chunks, bytes;
    CHECK(store_counts(s, &docs, &chunks, &bytes) == 0 && docs == 2 && chunks == 3 && bytes == 2000);
    int seen = 0;
    CHECK_STATUS(store_vectors(s, 4, count_vec, &seen), 0);
    CHECK(seen == 3);
    CHECK_STATUS(store_vectors(s, 5, count_vec, &seen), HRT_E_FORMAT); /* another dimension */
    store_close(s);
    /* a newer schema is refused */
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "UPDATE meta SET value = 2 WHERE key = 'schema'", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK_STATUS(store_open(path, &s), HRT_E_FORMAT);
    CHECK(s == NULL && strstr(hrt_last_error(), "schema version 2"));
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/hrt_store_%d.sqlite", (int)getpid());
    test_store();
    rm_db();
    return test_finish();
}
#endif
