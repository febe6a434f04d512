/* Retrieval quality and speed on BEIR SciFact (../shared/data/scifact):
 * the corpus is ingested into a knowledge base as JSON lines (title as a
 * heading, then the abstract), every query with relevance judgements is
 * searched in the three modes, chunk hits are folded into documents (a
 * document ranks where its first chunk does), and nDCG@10 and recall@10
 * are computed with binary gains as BEIR does. Also printed: ingest
 * chunks/s and search latency per mode (query embedding included).
 *
 * usage: bench_kb [--data DIR] [--model DIR] [--dir DIR] [--reuse]
 *                 [--queries N] [--json FILE]
 * --reuse searches an existing knowledge base in DIR instead of ingesting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HRT_WITH_RETRIEVAL
int main(void)
{
    fprintf(stderr, "bench_kb: built without retrieval (FAISS or SQLite not found)\n");
    return 1;
}
#else
#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "hrt.h"

typedef struct {
    char id[32];
    char *text;
    char (*rel)[64];
    int n_rel;
} query;

static char *dup_str(const char *s) { return strcpy(malloc(strlen(s) + 1), s); }

/* The corpus as JSON lines for hrt_kb_add: {"id", "text": "# title\n\nabstract"}. */
static long write_corpus(const char *data, const char *out)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s/scifact/corpus.jsonl.gz'", data);
    FILE *in = popen(cmd, "r"), *o = fopen(out, "w");
    if (!in || !o) return -1;
    char *line = NULL;
    size_t cap = 0;
    long n = 0;
    while (getline(&line, &cap, in) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "_id"), *title = cJSON_GetObjectItemCaseSensitive(j, "title"),
                    *text = cJSON_GetObjectItemCaseSensitive(j, "text");
        if (cJSON_IsString(id) && cJSON_IsString(text)) {
            size_t len = strlen(text->valuestring) + (cJSON_IsString(title) ? strlen(title->valuestring) : 0) + 8;
            char *t = malloc(len);
            snprintf(t, len, "# %s\n\n%s", cJSON_IsString(title) ? title->valuestring : "", text->valuestring);
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "id", id->valuestring);
            cJSON_AddStringToObject(r, "text", t);
            char *s = cJSON_PrintUnformatted(r);
            fprintf(o, "%s\n", s);
            free(s);
            free(t);
            cJSON_Delete(r);
            n++;
        }
        cJSON_Delete(j);
    }
    free(line);
    pclose(in);
    fclose(o);
    return n;
}

static int load_queries(const char *data, query **out)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/scifact/queries.jsonl", data);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    query *q = NULL;
    int n = 0, cap = 0;
    char *line = NULL;
    size_t lc = 0;
    while (getline(&line, &lc, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "_id"), *text = cJSON_GetObjectItemCaseSensitive(j, "text");
        if (cJSON_IsString(id) && cJSON_IsString(text)) {
            if (n == cap) q = realloc(q, (size_t)(cap = cap ? 2 * cap : 256) * sizeof *q);
            memset(&q[n], 0, sizeof q[n]);
            snprintf(q[n].id, sizeof q[n].id, "%s", id->valuestring);
            q[n++].text = dup_str(text->valuestring);
        }
        cJSON_Delete(j);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/scifact/qrels.tsv", data);
    f = fopen(path, "r");
    if (!f) return -1;
    while (getline(&line, &lc, f) > 0) {
        char qid[64], did[64];
        int score;
        if (sscanf(line, "%63s %63s %d", qid, did, &score) != 3 || score <= 0) continue; /* the header too */
        for (int i = 0; i < n; i++)
            if (!strcmp(q[i].id, qid)) {
                q[i].rel = realloc(q[i].rel, (size_t)(q[i].n_rel + 1) * sizeof *q[i].rel);
                snprintf(q[i].rel[q[i].n_rel++], 64, "%s", did);
                break;
            }
    }
    free(line);
    fclose(f);
    *out = q;
    return n;
}

/* The document id of a hit's source ("file.jsonl#<id>"). */
static const char *doc_of(const char *source)
{
    const char *h = strrchr(source, '#');
    return h ? h + 1 : source;
}

static int is_rel(const query *q, const char *doc)
{
    for (int i = 0; i < q->n_rel; i++)
        if (!strcmp(q->rel[i], doc)) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *data = "../shared/data", *dir = "/tmp/hrt_bench_kb", *json_path = NULL;
    char model_dir[1024];
    snprintf(model_dir, sizeof model_dir, "%s/models/all-minilm-l6-v2", HRT_SOURCE_DIR);
    int reuse = 0, max_q = 1 << 30;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) snprintf(model_dir, sizeof model_dir, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc) max_q = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else if (!strcmp(argv[i], "--reuse")) reuse = 1;
        else {
            fprintf(stderr, "usage: bench_kb [--data DIR] [--model DIR] [--dir DIR] [--reuse] [--queries N] [--json FILE]\n");
            return 2;
        }
    }
    hrt_model_params mp = hrt_model_default_params();
    hrt_model *m = NULL;
    if (hrt_model_open(model_dir, &mp, &m)) {
        fprintf(stderr, "bench_kb: %s\n", hrt_last_error());
        return 1;
    }
    query *qs = NULL;
    int nq = load_queries(data, &qs);
    if (nq <= 0) {
        fprintf(stderr, "bench_kb: no SciFact queries in %s/scifact\n", data);
        return 1;
    }
    char kbdir[1200], corpus[1200];
    snprintf(kbdir, sizeof kbdir, "%s/kb", dir);
    snprintf(corpus, sizeof corpus, "%s/scifact.jsonl", dir);
    hrt_kb_params kp = hrt_kb_default_params();
    kp.embedder = m;
    hrt_kb_report rep = {0};
    if (!reuse) {
        char cmd[1300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
        if (system(cmd)) return 1;
        long docs = write_corpus(data, corpus);
        printf("SciFact corpus: %ld documents\n", docs);
    }
    hrt_kb *kb = NULL;
    if (hrt_kb_open(kbdir, &kp, &kb)) {
        fprintf(stderr, "bench_kb: %s\n", hrt_last_error());
        return 1;
    }
    if (!reuse && hrt_kb_add(kb, corpus, &rep)) {
        fprintf(stderr, "bench_kb: %s\n", hrt_last_error());
        return 1;
    }
    hrt_kb_stats st;
    hrt_kb_stats_get(kb, &st);
    hrt_model_info info;
    hrt_model_info_get(m, &info);
    printf("knowledge base: %llu documents, %llu chunks, index %s; embedder %s on %s, %d threads\n",
           (unsigned long long)st.documents, (unsigned long long)st.chunks, st.index_type, st.embedding_model,
           info.backend, info.n_threads);
    if (!reuse)
        printf("ingest: %.1f s, %.1f chunks/s, %.1f documents/s\n", rep.seconds, (double)rep.chunks_added / rep.seconds,
               (double)(rep.docs_added + rep.docs_updated) / rep.seconds);

    static const char *names[] = {"hybrid (RRF)", "dense", "BM25"};
    double ndcg[3] = {0}, recall[3] = {0}, p50[3], p99[3];
    int judged = 0;
    for (int mode = 0; mode < 3; mode++) {
        double *lat = malloc((size_t)nq * sizeof *lat);
        int n_lat = 0;
        judged = 0;
        for (int i = 0; i < nq && judged < max_q; i++) {
            query *q = &qs[i];
            if (!q->n_rel) continue;
            judged++;
            hrt_kb_search_params sp = hrt_kb_search_default_params();
            sp.mode = mode;
            sp.k = 100;
            sp.dedup = 1.0f; /* documents are folded below; keep every chunk */
            hrt_kb_hit hits[100];
            double t0 = now_s();
            int n = hrt_kb_search(kb, q->text, &sp, hits);
            lat[n_lat++] = (now_s() - t0) * 1e3;
            const char *top[10];
            int nt = 0;
            for (int h = 0; h < n && nt < 10; h++) {
                const char *d = doc_of(hits[h].source);
                int seen = 0;
                for (int k = 0; k < nt; k++) seen |= !strcmp(top[k], d);
                if (!seen) top[nt++] = d;
            }
            double dcg = 0, idcg = 0;
            int found = 0;
            for (int r = 0; r < nt; r++)
                if (is_rel(q, top[r])) dcg += 1.0 / log2(r + 2.0), found++;
            for (int r = 0; r < (q->n_rel < 10 ? q->n_rel : 10); r++) idcg += 1.0 / log2(r + 2.0);
            ndcg[mode] += dcg / idcg;
            recall[mode] += (double)found / q->n_rel;
            if (n > 0) hrt_kb_hits_free(hits, (size_t)n);
        }
        ndcg[mode] /= judged;
        recall[mode] /= judged;
        qsort(lat, (size_t)n_lat, sizeof *lat, cmp_d);
        p50[mode] = lat[n_lat / 2];
        p99[mode] = lat[(int)(0.99 * (n_lat - 1))];
        free(lat);
    }
    printf("\n%d judged queries (qrels.tsv of ../shared/data/scifact)\n\n", judged);
    printf("| retrieval | nDCG@10 | recall@10 | search p50 ms | search p99 ms |\n|---|---:|---:|---:|---:|\n");
    for (int mode = 0; mode < 3; mode++)
        printf("| %s | %.4f | %.4f | %.2f | %.2f |\n", names[mode], ndcg[mode], recall[mode], p50[mode], p99[mode]);
    printf("\nhybrid - BM25: nDCG@10 %+.4f, recall@10 %+.4f\n", ndcg[0] - ndcg[2], recall[0] - recall[2]);
    if (json_path) {
        FILE *j = fopen(json_path, "w");
        if (j) {
            fprintf(j, "{\"documents\": %llu, \"chunks\": %llu, \"judged_queries\": %d, \"ingest_s\": %.2f, "
                       "\"ingest_chunks_per_s\": %.2f,\n \"modes\": {",
                    (unsigned long long)st.documents, (unsigned long long)st.chunks, judged, rep.seconds,
                    rep.seconds > 0 ? (double)rep.chunks_added / rep.seconds : 0);
            for (int mode = 0; mode < 3; mode++)
                fprintf(j, "%s\"%s\": {\"ndcg10\": %.4f, \"recall10\": %.4f, \"p50_ms\": %.3f, \"p99_ms\": %.3f}",
                        mode ? ", " : "", mode == 0 ? "hybrid" : mode == 1 ? "dense" : "bm25", ndcg[mode], recall[mode],
                        p50[mode], p99[mode]);
            fprintf(j, "}}\n");
            fclose(j);
        }
    }
    hrt_kb_free(kb);
    hrt_model_free(m);
    for (int i = 0; i < nq; i++) free(qs[i].text), free(qs[i].rel);
    free(qs);
    return 0;
}
#endif
