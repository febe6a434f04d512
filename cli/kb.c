/* hrt kb: knowledge bases from the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hrt.h"

static const char *HELP_KB =
    "usage: hrt kb SUBCOMMAND [options]\n"
    "A knowledge base in a directory: documents, chunks, a FAISS index and BM25.\n\n"
    "subcommands:\n"
    "  create             make an empty knowledge base (add does too)\n"
    "  add PATH...        ingest files or directories (.txt .md .html .json .jsonl);\n"
    "                     unchanged documents are skipped, changed ones replaced\n"
    "  rm PATH...         remove the documents of files, JSON files or directories\n"
    "  search QUERY       hybrid search (dense + BM25, fused), with citations\n"
    "  stats              documents, chunks, vectors, index type\n\n"
    "options:\n"
    "  --kb DIR           the knowledge base ($HRT_KB_DIR, else ./hrt-kb)\n"
    "  -m, --model DIR    the embedding model (default all-minilm-l6-v2 in models/)\n"
    "  -k N               search: results (10)\n"
    "  --mode M           search: hybrid, dense or bm25\n"
    "  --filter PATH=VAL  search: document metadata, e.g. '$.lang=en'\n"
    "  --mmr LAMBDA       search: maximal marginal relevance (1 = off)\n"
    "  --chunk-tokens N, --chunk-overlap N   create: chunking (200, 32)\n"
    "  --index TYPE       create: a FAISS index_factory string (default by size)\n"
    "  --text-field F, --id-field F          .json/.jsonl records (text, id)\n"
    "  --json             machine-readable output\n";

typedef struct {
    const char *dir, *model, *mode, *filter, *index, *text_field, *id_field;
    int json, k, chunk_tokens, chunk_overlap;
    double mmr;
    char **args;
    int n_args;
} kb_opts;

static int parse(int argc, char **argv, kb_opts *o)
{
    o->dir = getenv("HRT_KB_DIR");
    if (!o->dir || !*o->dir) o->dir = "hrt-kb";
    o->k = 10;
    o->mmr = 1;
    o->chunk_tokens = 200;
    o->chunk_overlap = 32;
    o->args = argv;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        else if (!strcmp(a, "--kb")) o->dir = need_arg("kb", argc, argv, &i);
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = need_arg("kb", argc, argv, &i);
        else if (!strcmp(a, "-k")) o->k = (int)parse_int("kb", a, need_arg("kb", argc, argv, &i));
        else if (!strcmp(a, "--mode")) o->mode = need_arg("kb", argc, argv, &i);
        else if (!strcmp(a, "--filter")) o->filter = need_arg("kb", argc, argv, &i);
        else if (!strcmp(a, "--mmr")) o->mmr = parse_num("kb", a, need_arg("kb", argc, argv, &i));
        else if (!strcmp(a, "--chunk-tokens")) o->chunk_tokens = (int)parse_int("kb", a, need_arg("kb", argc, argv, &i));
        else if (!strcmp(a, "--chunk-overlap")) o->chunk_overlap = (int)parse_int("kb", a, need_arg("kb", argc, argv, &i));
        else if (!strcmp(a, "--index")) o->index = need_arg("kb", argc, argv, &i);
        else if (!strcmp(a, "--text-field")) o->text_field = need_arg("kb", argc, argv, &i);
        else if (!strcmp(a, "--id-field")) o->id_field = need_arg("kb", argc, argv, &i);
        else if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) continue;
        else if (a[0] == '-' && a[1]) die_usage("kb", "unknown option '%s'", a);
        else o->args[o->n_args++] = argv[i];
    }
    if (o->k < 1 || o->k > 1000) die_usage("kb", "-k must be 1..1000");
    if (o->mode && strcmp(o->mode, "hybrid") && strcmp(o->mode, "dense") && strcmp(o->mode, "bm25"))
        die_usage("kb", "--mode: '%s' is not hybrid, dense or bm25", o->mode);
    if (o->mmr < 0 || o->mmr > 1) die_usage("kb", "--mmr must be in [0, 1]");
    if (o->filter && !strchr(o->filter, '=')) die_usage("kb", "--filter wants PATH=VALUE, e.g. '$.lang=en'");
    return 0;
}

static void progress_bar(float f, void *ud)
{
    (void)ud;
    int w = (int)(f * 40);
    fprintf(stderr, "\r[%.*s%*s] %3d%%", w, "########################################", 40 - w, "", (int)(f * 100));
    if (f >= 1) fputc('\n', stderr);
}

static int fail(const char *what)
{
    fprintf(stderr, "hrt kb %s: %s\n", what, hrt_last_error());
    return EXIT_FAIL;
}

int cmd_kb(int argc, char **argv)
{
    kb_opts o = {0};
    if (parse(argc, argv, &o)) {
        fputs(HELP_KB, stdout);
        return EXIT_OK;
    }
    if (!o.n_args) die_usage("kb", "a subcommand is needed: create, add, rm, search or stats");
    const char *sub = o.args[0];
    if (strcmp(sub, "create") && strcmp(sub, "add") && strcmp(sub, "rm") && strcmp(sub, "search") &&
        strcmp(sub, "stats"))
        die_usage("kb", "unknown subcommand '%s'", sub);
    if ((!strcmp(sub, "add") || !strcmp(sub, "rm")) && o.n_args < 2) die_usage("kb", "%s: which paths?", sub);
    if (!strcmp(sub, "search") && o.n_args != 2) die_usage("kb", "search: one query (quote it)");
    if ((!strcmp(sub, "create") || !strcmp(sub, "stats")) && o.n_args != 1) die_usage("kb", "%s takes no arguments", sub);
    char mbuf[4096];
    const char *mpath = o.model ? o.model : default_model(DEFAULT_EMBED_MODEL, mbuf, sizeof mbuf);
    hrt_model_params mp = hrt_model_default_params();
    hrt_model *m = NULL;
    if (hrt_model_open(mpath, &mp, &m)) {
        fprintf(stderr, "hrt kb: %s\n", hrt_last_error());
        return EXIT_MODEL;
    }
    hrt_kb_params kp = hrt_kb_default_params();
    kp.embedder = m;
    kp.chunk_tokens = o.chunk_tokens;
    kp.chunk_overlap = o.chunk_overlap;
    kp.index_type = o.index;
    if (o.text_field) kp.text_field = o.text_field;
    if (o.id_field) kp.id_field = o.id_field;
    if (!strcmp(sub, "add") && isatty(2) && !o.json) kp.progress = progress_bar;
    hrt_kb *kb = NULL;
    int rc = EXIT_OK;
    if (hrt_kb_open(o.dir, &kp, &kb)) {
        rc = fail("open");
    } else if (!strcmp(sub, "add")) {
        hrt_kb_report t = {0};
        for (int i = 1; i < o.n_args && rc == EXIT_OK; i++) {
            hrt_kb_report r;
            int st = hrt_kb_add(kb, o.args[i], &r);
            t.files += r.files, t.docs_added += r.docs_added, t.docs_updated += r.docs_updated;
            t.docs_unchanged += r.docs_unchanged, t.files_skipped += r.files_skipped;
            t.utf8_repaired += r.utf8_repaired, t.chunks_added += r.chunks_added, t.chunks_removed += r.chunks_removed;
            t.seconds += r.seconds;
            if (st) rc = fail("add");
        }
        if (o.json)
            printf("{\"files\": %llu, \"added\": %llu, \"updated\": %llu, \"unchanged\": %llu, \"skipped\": %llu, "
                   "\"utf8_repaired\": %llu, \"chunks_added\": %llu, \"chunks_removed\": %llu, \"seconds\": %.3f}\n",
                   (unsigned long long)t.files, (unsigned long long)t.docs_added, (unsigned long long)t.docs_updated,
                   (unsigned long long)t.docs_unchanged, (unsigned long long)t.files_skipped,
                   (unsigned long long)t.utf8_repaired, (unsigned long long)t.chunks_added,
                   (unsigned long long)t.chunks_removed, t.seconds);
        else
            printf("%llu files: %llu documents added, %llu updated, %llu unchanged, %llu files skipped; %llu chunks "
                   "in, %llu out (%.1f s, %.0f chunks/s)\n",
                   (unsigned long long)t.files, (unsigned long long)t.docs_added, (unsigned long long)t.docs_updated,
                   (unsigned long long)t.docs_unchanged, (unsigned long long)t.files_skipped,
                   (unsigned long long)t.chunks_added, (unsigned long long)t.chunks_removed, t.seconds,
                   t.seconds > 0 ? (double)t.chunks_added / t.seconds : 0);
    } else if (!strcmp(sub, "rm")) {
        uint64_t total = 0;
        for (int i = 1; i < o.n_args && rc == EXIT_OK; i++) {
            uint64_t n = 0;
            if (hrt_kb_remove(kb, o.args[i], &n)) rc = fail("rm");
            total += n;
        }
        if (o.json) printf("{\"removed\": %llu}\n", (unsigned long long)total);
        else printf("%llu documents removed\n", (unsigned long long)total);
    } else if (!strcmp(sub, "search")) {
        hrt_kb_search_params sp = hrt_kb_search_default_params();
        sp.k = (size_t)o.k;
        sp.mode = !o.mode || !strcmp(o.mode, "hybrid") ? HRT_KB_HYBRID : !strcmp(o.mode, "dense") ? HRT_KB_DENSE : HRT_KB_BM25;
        sp.mmr_lambda = (float)o.mmr;
        char fpath[512] = "";
        if (o.filter) {
            const char *eq = strchr(o.filter, '=');
            snprintf(fpath, sizeof fpath, "%.*s", (int)(eq - o.filter), o.filter);
            sp.filter_path = fpath;
            sp.filter_value = eq + 1;
        }
        hrt_kb_hit *hits = calloc((size_t)o.k, sizeof *hits);
        int n = hits ? hrt_kb_search(kb, o.args[1], &sp, hits) : -1;
        if (n < 0) {
            rc = fail("search");
        } else if (o.json) {
            printf("[");
            for (int i = 0; i < n; i++) {
                printf("%s{\"source\": ", i ? ", " : "");
                json_str(stdout, hits[i].source, strlen(hits[i].source));
                printf(", \"start\": %llu, \"end\": %llu, \"score\": %.6f, \"dense_rank\": %d, \"bm25_rank\": %d, "
                       "\"chunk\": %lld, \"text\": ",
                       (unsigned long long)hits[i].start, (unsigned long long)hits[i].end, hits[i].score,
                       hits[i].dense_rank, hits[i].bm25_rank, (long long)hits[i].chunk_id);
                json_str(stdout, hits[i].text, strlen(hits[i].text));
                printf("}");
            }
            printf("]\n");
        } else {
            for (int i = 0; i < n; i++) {
                printf("[%d] %s:%llu-%llu  score %.4f\n", i + 1, hits[i].source, (unsigned long long)hits[i].start,
                       (unsigned long long)hits[i].end, hits[i].score);
                const char *t = hits[i].text;
                int len = (int)strlen(t);
                printf("    %.*s%s\n", len > 300 ? 300 : len, t, len > 300 ? "..." : "");
            }
        }
        if (n > 0) hrt_kb_hits_free(hits, (size_t)n);
        free(hits);
    } else if (!strcmp(sub, "stats")) {
        hrt_kb_stats s;
        if (hrt_kb_stats_get(kb, &s)) rc = fail("stats");
        else if (o.json)
            printf("{\"documents\": %llu, \"chunks\": %llu, \"bytes\": %llu, \"vectors\": %llu, \"dim\": %d, "
                   "\"index_type\": \"%s\", \"embedding_model\": \"%s\"}\n",
                   (unsigned long long)s.documents, (unsigned long long)s.chunks, (unsigned long long)s.bytes,
                   (unsigned long long)s.vectors, s.dim, s.index_type, s.embedding_model);
        else
            printf("%llu documents (%llu bytes), %llu chunks, %llu vectors of %d (%s, %s)\n",
                   (unsigned long long)s.documents, (unsigned long long)s.bytes, (unsigned long long)s.chunks,
                   (unsigned long long)s.vectors, s.dim, s.index_type, s.embedding_model);
    } else if (!o.json) { /* create */
        printf("knowledge base ready in %s\n", o.dir);
    } else {
        printf("{\"created\": true}\n");
    }
    hrt_kb_free(kb);
    hrt_model_free(m);
    return rc;
}
