/* Knowledge bases end to end with the real all-MiniLM-L6-v2 (hrt_kb_* in
 * retrieval/kb.c): ingest of every file kind and of bad input (binary,
 * empty, invalid UTF-8, malformed JSON, a missing path), search in the
 * three modes with citations that point into the text, incremental
 * re-ingest, removal, metadata filters, near-duplicate suppression,
 * reopening, a dense index rebuilt after it went missing or stale,
 * hybrid searches from several threads at once (each half of a hybrid
 * search may run on the knowledge base's helper thread) giving the answers
 * of one thread alone, and refusals (another embedding model, a newer
 * format). */
#include "hrt.h"
#include "test.h"

#ifndef HRT_WITH_RETRIEVAL
int main(void) { test_skip("built without retrieval (FAISS or SQLite not found)"); }
#else
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kb_internal.h"

static char root[256], kbdir[300], docs[300];
static hrt_model *model;

static void write_file(const char *name, const char *text, size_t len)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", docs, name);
    FILE *f = fopen(p, "wb");
    fwrite(text, 1, len, f);
    fclose(f);
}

static void write_str(const char *name, const char *text) { write_file(name, text, strlen(text)); }

static hrt_kb *open_kb(int *st_out)
{
    hrt_kb_params p = hrt_kb_default_params();
    p.embedder = model;
    p.chunk_tokens = 64;
    p.chunk_overlap = 8;
    hrt_kb *kb = NULL;
    int st = hrt_kb_open(kbdir, &p, &kb);
    if (st_out) *st_out = st;
    else CHECK_MSG(st == 0, "open: %s", hrt_last_error());
    return kb;
}

/* The source (its file name) of the first hit for query in mode. */
static const char *first_source(hrt_kb *kb, const char *query, int mode, char *buf, size_t cap)
{
    hrt_kb_search_params sp = hrt_kb_search_default_params();
    sp.mode = mode;
    sp.k = 3;
    hrt_kb_hit hits[3];
    int n = hrt_kb_search(kb, query, &sp, hits);
    buf[0] = 0;
    if (n > 0) {
        const char *slash = strrchr(hits[0].source, '/');
        snprintf(buf, cap, "%s", slash ? slash + 1 : hits[0].source);
    }
    hrt_kb_hits_free(hits, n > 0 ? (size_t)n : 0);
    return buf;
}

static void make_docs(void)
{
    write_str("refunds.md", "# Refund policy\n\nYou can return any item within 30 days of delivery for a full refund. "
                            "Refunds are paid to the original payment method within five business days.\n\n"
                            "## Exceptions\n\nGift cards and opened software cannot be returned.\n");
    write_str("shipping.html", "<html><head><title>Shipping</title><style>body{color:red}</style>"
                               "<script>var x = 'ignore me';</script></head><body><h1>Shipping times</h1>"
                               "<p>Standard shipping takes 3&ndash;5 business days &amp; express shipping arrives "
                               "the next day.</p><p>We ship to the EU, the UK and Norway.</p></body></html>");
    write_str("faq.jsonl", "{\"id\": \"q1\", \"text\": \"To reset your password, open Settings and choose Reset "
                           "password. A link is sent to your email.\", \"lang\": \"en\"}\n"
                           "{\"id\": \"q2\", \"text\": \"Pour changer votre mot de passe, ouvrez les parametres.\", "
                           "\"lang\": \"fr\"}\n\n");
    write_str("notes.txt", "The warehouse in Rotterdam opens at seven in the morning. Forklift training happens on "
                           "Tuesdays.");
    write_str("copy.txt", "The warehouse in Rotterdam opens at seven in the morning. Forklift training happens on "
                          "Tuesdays.");
    static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10";
    write_file("image.txt", png, sizeof png - 1);
    write_str("empty.md", "");
    write_str("latin1.txt", "Caf\xe9 opening hours: the caf\xe9 serves breakfast from eight.");
    write_str("ignored.csv", "a,b,c\n");
}

/* BM25 by the in-memory index and by FTS5 return the same chunks with the
 * same scores (the index follows every add and remove). */
static void bm25_agrees(hrt_kb *kb, const char *query, const char *when)
{
    hrt_kb_search_params sp = hrt_kb_search_default_params();
    sp.mode = HRT_KB_BM25;
    sp.dedup = 1.0f;
    hrt_kb_hit a[10], b[10];
    int na = hrt_kb_search(kb, query, &sp, a);
    kb_bm25_fts5(kb, 1);
    int nb = hrt_kb_search(kb, query, &sp, b);
    kb_bm25_fts5(kb, 0);
    int same = na == nb && na > 0;
    for (int i = 0; same && i < na; i++)
        same = a[i].chunk_id == b[i].chunk_id && fabsf(a[i].score - b[i].score) <= 1e-4f * fabsf(b[i].score);
    CHECK_MSG(same, "%s: \"%s\": %d hits in memory, %d by FTS5", when, query, na, nb);
    hrt_kb_hits_free(a, na > 0 ? (size_t)na : 0);
    hrt_kb_hits_free(b, nb > 0 ? (size_t)nb : 0);
}

static void test_ingest_and_search(void)
{
    hrt_kb *kb = open_kb(NULL);
    if (!kb) return;
    hrt_kb_report r;
    CHECK_STATUS(hrt_kb_add(kb, docs, &r), 0);
    CHECK_MSG(r.files == 9 && r.docs_added == 7 && r.files_skipped == 3 && r.utf8_repaired == 1 && r.chunks_added >= 7,
              "files %llu added %llu skipped %llu repaired %llu chunks %llu", (unsigned long long)r.files,
              (unsigned long long)r.docs_added, (unsigned long long)r.files_skipped,
              (unsigned long long)r.utf8_repaired, (unsigned long long)r.chunks_added);
    hrt_kb_stats s;
    CHECK_STATUS(hrt_kb_stats_get(kb, &s), 0);
    CHECK(s.documents == 7 && s.vectors == s.chunks && s.dim == 384 && !strcmp(s.index_type, "IDMap2,Flat"));
    char b[256];
    CHECK(!strcmp(first_source(kb, "how long do I have to send an item back for my money?", HRT_KB_HYBRID, b, sizeof b), "refunds.md"));
    CHECK(!strcmp(first_source(kb, "how long do I have to send an item back for my money?", HRT_KB_DENSE, b, sizeof b), "refunds.md"));
    CHECK(!strcmp(first_source(kb, "express shipping next day", HRT_KB_BM25, b, sizeof b), "shipping.html"));
    CHECK(!strcmp(first_source(kb, "I forgot my password", HRT_KB_HYBRID, b, sizeof b), "faq.jsonl#q1"));
    bm25_agrees(kb, "shipping warehouse refund password days", "ingested");
    /* citations: the hit's text is the document's text at its offsets */
    hrt_kb_search_params sp = hrt_kb_search_default_params();
    sp.k = 10;
    hrt_kb_hit hits[10];
    int n = hrt_kb_search(kb, "Shipping times", &sp, hits);
    int cited = n > 0, dup = 0, script = 0, entity = 0;
    for (int i = 0; i < n; i++) {
        cited &= hits[i].end > hits[i].start && hits[i].end - hits[i].start == strlen(hits[i].text);
        dup += strstr(hits[i].text, "Rotterdam") != NULL;
        script += strstr(hits[i].text, "ignore me") != NULL || strstr(hits[i].text, "color") != NULL;
        entity += strstr(hits[i].source, "shipping.html") && strstr(hits[i].text, "3\xe2\x80\x93" "5 business days & express");
        if (strstr(hits[i].source, "refunds.md") && hits[i].start == 0) CHECK(!strncmp(hits[i].text, "# Refund policy", 15));
    }
    CHECK(cited && script == 0 && entity == 1);
    CHECK_MSG(dup == 1, "%d hits about Rotterdam (copy.txt repeats notes.txt: one is dropped)", dup);
    hrt_kb_hits_free(hits, n > 0 ? (size_t)n : 0);
    sp.dedup = 1.0f; /* keep duplicates */
    n = hrt_kb_search(kb, "warehouse Rotterdam", &sp, hits);
    dup = 0;
    for (int i = 0; i < n; i++) dup += strstr(hits[i].text, "Rotterdam") != NULL;
    CHECK(dup == 2);
    hrt_kb_hits_free(hits, n > 0 ? (size_t)n : 0);
    /* metadata filter */
    sp = hrt_kb_search_default_params();
    sp.filter_path = "$.lang";
    sp.filter_value = "fr";
    n = hrt_kb_search(kb, "password", &sp, hits);
    CHECK(n == 1 && strstr(hits[0].source, "faq.jsonl#q2"));
    hrt_kb_hits_free(hits, n > 0 ? (size_t)n : 0);
    /* the invalid UTF-8 became U+FFFD */
    sp = hrt_kb_search_default_params();
    sp.mode = HRT_KB_BM25;
    n = hrt_kb_search(kb, "breakfast", &sp, hits);
    CHECK(n == 1 && strstr(hits[0].text, "Caf\xef\xbf\xbd"));
    hrt_kb_hits_free(hits, n > 0 ? (size_t)n : 0);
    /* re-ingest: nothing changed; then one file changes */
    CHECK_STATUS(hrt_kb_add(kb, docs, &r), 0);
    CHECK(r.docs_unchanged == 7 && r.docs_added == 0 && r.docs_updated == 0 && r.chunks_added == 0);
    write_str("notes.txt", "The warehouse moved to Antwerp; it opens at nine.");
    CHECK_STATUS(hrt_kb_add(kb, docs, &r), 0);
    CHECK(r.docs_updated == 1 && r.docs_unchanged == 6 && r.chunks_removed >= 1);
    CHECK(!strcmp(first_source(kb, "Antwerp", HRT_KB_BM25, b, sizeof b), "notes.txt"));
    bm25_agrees(kb, "warehouse Antwerp Rotterdam shipping", "updated");
    /* remove: a file, then a JSON file's records */
    char p[600];
    snprintf(p, sizeof p, "%s/refunds.md", docs);
    uint64_t nd = 0;
    CHECK_STATUS(hrt_kb_remove(kb, p, &nd), 0);
    CHECK(nd == 1 && strcmp(first_source(kb, "refund within 30 days", HRT_KB_HYBRID, b, sizeof b), "refunds.md"));
    snprintf(p, sizeof p, "%s/faq.jsonl", docs);
    CHECK_STATUS(hrt_kb_remove(kb, p, &nd), 0);
    CHECK(nd == 2);
    CHECK_STATUS(hrt_kb_remove(kb, p, &nd), HRT_E_RANGE);
    CHECK_STATUS(hrt_kb_stats_get(kb, &s), 0);
    CHECK(s.documents == 4 && s.vectors == s.chunks);
    bm25_agrees(kb, "warehouse shipping days", "removed");
    /* bad input */
    snprintf(p, sizeof p, "%s/no-such-dir", docs);
    CHECK_STATUS(hrt_kb_add(kb, p, &r), HRT_E_IO);
    write_str("bad.jsonl", "{\"id\": 1, \"text\": \"fine\"}\n{\"id\": 2, \"text\": \"broken\"\n");
    snprintf(p, sizeof p, "%s/bad.jsonl", docs);
    CHECK_STATUS(hrt_kb_add(kb, p, &r), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), "bad.jsonl: line 2") != NULL);
    unlink(p);
    hrt_kb_free(kb);
}

/* ---- several threads searching one knowledge base -------------------- */
enum { CQ = 6, CT = 4, CROUNDS = 40 };
static const char *cqueries[CQ] = {"warehouse opening hours", "refund within 30 days", "express shipping",
                                   "forgot my password", "Antwerp", "breakfast café"};
static float cvec[CQ * 384];
static int64_t cwant[CQ][5];
static int cwant_n[CQ];

typedef struct {
    hrt_kb *kb;
    int id, wrong, failed;
} searcher;

static void *search_thread(void *arg)
{
    searcher *t = arg;
    for (int r = 0; r < CROUNDS; r++) {
        int q = (t->id + r) % CQ;
        hrt_kb_search_params sp = hrt_kb_search_default_params();
        sp.k = 5;
        hrt_kb_hit hits[5];
        int n = kb_search_vec(t->kb, cqueries[q], cvec + q * 384, &sp, hits);
        if (n < 0) {
            t->failed++;
            continue;
        }
        int same = n == cwant_n[q];
        for (int i = 0; same && i < n; i++) same = hits[i].chunk_id == cwant[q][i];
        t->wrong += !same;
        hrt_kb_hits_free(hits, (size_t)n);
    }
    return NULL;
}

static void test_concurrent_search(void)
{
    hrt_kb *kb = open_kb(NULL);
    if (!kb) return;
    CHECK_STATUS(hrt_embed(model, cqueries, NULL, CQ, cvec), 0);
    for (int q = 0; q < CQ; q++) { /* the answers of one thread, halves one after the other */
        hrt_kb_search_params sp = hrt_kb_search_default_params();
        sp.k = 5;
        hrt_kb_hit hits[5];
        kb_serial(kb, 1);
        int n = kb_search_vec(kb, cqueries[q], cvec + q * 384, &sp, hits);
        kb_serial(kb, 0);
        CHECK(n > 0);
        cwant_n[q] = n;
        for (int i = 0; i < n; i++) cwant[q][i] = hits[i].chunk_id;
        hrt_kb_hits_free(hits, n > 0 ? (size_t)n : 0);
    }
    searcher t[CT];
    pthread_t th[CT];
    for (int i = 0; i < CT; i++) {
        t[i] = (searcher){kb, i, 0, 0};
        CHECK(pthread_create(&th[i], NULL, search_thread, &t[i]) == 0);
    }
    int wrong = 0, failed = 0;
    for (int i = 0; i < CT; i++) {
        pthread_join(th[i], NULL);
        wrong += t[i].wrong, failed += t[i].failed;
    }
    CHECK_MSG(wrong == 0 && failed == 0, "%d of %d concurrent searches answered differently, %d failed", wrong,
              CT * CROUNDS, failed);
    hrt_kb_free(kb);
}

static void test_reopen_and_recovery(void)
{
    hrt_kb *kb = open_kb(NULL);
    if (!kb) return;
    char b[256];
    CHECK(!strcmp(first_source(kb, "Antwerp warehouse", HRT_KB_HYBRID, b, sizeof b), "notes.txt"));
    hrt_kb_stats s0;
    hrt_kb_stats_get(kb, &s0);
    hrt_kb_free(kb);
    char p[600];
    snprintf(p, sizeof p, "%s/vectors.faiss", kbdir);
    unlink(p); /* lost: rebuilt from kb.sqlite */
    kb = open_kb(NULL);
    if (!kb) return;
    hrt_kb_stats s;
    CHECK(hrt_kb_stats_get(kb, &s) == 0 && s.vectors == s0.vectors && s.chunks == s0.chunks);
    CHECK(!strcmp(first_source(kb, "Antwerp warehouse", HRT_KB_DENSE, b, sizeof b), "notes.txt"));
    hrt_kb_free(kb);
    /* a stale index (its version behind the store's): rebuilt too */
    snprintf(p, sizeof p, "%s/kb.json", kbdir);
    FILE *f = fopen(p, "rb");
    char json[4096];
    size_t n = fread(json, 1, sizeof json - 1, f);
    fclose(f);
    json[n] = 0;
    char *iv = strstr(json, "\"index_version\":");
    CHECK(iv != NULL);
    if (iv) {
        char edited[4096];
        snprintf(edited, sizeof edited, "%.*s\"index_version\": 1}\n", (int)(iv - json), json);
        f = fopen(p, "wb");
        fputs(edited, f);
        fclose(f);
    }
    kb = open_kb(NULL);
    CHECK(kb && hrt_kb_stats_get(kb, &s) == 0 && s.vectors == s0.vectors);
    hrt_kb_free(kb);
    /* another embedding model, a newer format: refused */
    f = fopen(p, "rb");
    n = fread(json, 1, sizeof json - 1, f);
    fclose(f);
    json[n] = 0;
    char *m = strstr(json, "\"embedding_model\":");
    if (m) {
        char edited[4096], *end = strchr(m + 19, '"');
        end = end ? strchr(end + 1, '"') : NULL;
        snprintf(edited, sizeof edited, "%.*s\"embedding_model\": \"bge-small\"%s", (int)(m - json), json, end ? end + 1 : "}");
        f = fopen(p, "wb");
        fputs(edited, f);
        fclose(f);
        int st;
        kb = open_kb(&st);
        CHECK(st == HRT_E_INVALID && kb == NULL && strstr(hrt_last_error(), "bge-small"));
        f = fopen(p, "wb");
        fputs(json, f);
        fclose(f);
    }
    char *v = strstr(json, "\"version\":");
    if (v) {
        char edited[4096];
        snprintf(edited, sizeof edited, "%.*s\"version\": 9, %s", (int)(v - json), json, strchr(v, ',') + 1);
        f = fopen(p, "wb");
        fputs(edited, f);
        fclose(f);
        int st;
        kb = open_kb(&st);
        CHECK(st == HRT_E_FORMAT && strstr(hrt_last_error(), "version 9"));
        f = fopen(p, "wb");
        fputs(json, f);
        fclose(f);
    }
    hrt_kb_params np = hrt_kb_default_params();
    CHECK_STATUS(hrt_kb_open(kbdir, &np, &kb), HRT_E_INVALID); /* no embedder */
}

int main(void)
{
    char mp[512];
    snprintf(mp, sizeof mp, "%s/models/all-minilm-l6-v2", HRT_SOURCE_DIR);
    hrt_model_params p = hrt_model_default_params();
    if (access(mp, F_OK) || hrt_model_open(mp, &p, &model)) test_skip("all-MiniLM-L6-v2 not in models/ (scripts/fetch-models.sh)");
    snprintf(root, sizeof root, "/tmp/hrt_kb_%d", (int)getpid());
    snprintf(kbdir, sizeof kbdir, "%s/kb", root);
    snprintf(docs, sizeof docs, "%s/docs", root);
    mkdir(root, 0755);
    mkdir(docs, 0755);
    make_docs();
    test_ingest_and_search();
    test_concurrent_search();
    test_reopen_and_recovery();
    hrt_model_free(model);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd)) return 1;
    return test_finish();
}
#endif
