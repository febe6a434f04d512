/* The agent's two token-saving decisions, measured with the default models
 * on the CPU:
 *
 * 1. The semantic cache's threshold (StackFAQ, ../shared/data/stackfaq):
 *    638 user questions, each a paraphrase of one of 125 FAQ entries, arrive
 *    in file order; each looks in the real answer cache (hrt_memory) for an
 *    earlier question and is then stored with its FAQ id as the "answer". A
 *    hit is right when the earlier question belongs to the same FAQ. For
 *    each threshold: the share served from the cache, the share of those
 *    that were wrong, and the share of repeats (an earlier question of the
 *    same FAQ exists) that were caught.
 *
 * 2. Routing on the example help centre: the 41 questions of
 *    examples/helpcentre-queries.jsonl answered by the agent with the
 *    shipped router (auto), then all forced down the light path and all
 *    down the full path (the "always light/full" baselines), without the
 *    cache. Per run: how many took each path, escalations, tokens processed
 *    (prompt tokens not reused + generated), tokens saved by pruning, and
 *    the median and total time per query.
 *
 *   bench_agent [--data DIR] [--skip-cache] [--skip-routing] [-n N]
 * (-n: only the first N help-centre questions). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "hrt.h"

static char *read_line_text(const char *line, const char *key)
{
    cJSON *j = cJSON_Parse(line);
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
    char *s = cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
    cJSON_Delete(j);
    return s;
}

/* ---- 1. the cache threshold ------------------------------------------------------------ */
static int bench_cache(hrt_model *emb, const char *data)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/stackfaq/queries.jsonl", data);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_agent: %s: not found (skipping the cache part)\n", path);
        return 0;
    }
    char *q[1024], *faq[1024], *line = NULL;
    size_t cap = 0, n = 0;
    while (n < 1024 && getline(&line, &cap, f) > 0) {
        q[n] = read_line_text(line, "query"), faq[n] = read_line_text(line, "faq");
        if (q[n] && faq[n]) n++;
    }
    free(line);
    fclose(f);
    int dim = hrt_embed_dim(emb);
    float *v = malloc(n * (size_t)dim * sizeof *v);
    double t0 = now_s();
    if (hrt_embed(emb, (const char *const *)q, NULL, n, v)) {
        fprintf(stderr, "bench_agent: embed: %s\n", hrt_last_error());
        return 1;
    }
    printf("StackFAQ: %zu questions embedded in %.1f s\n\n", n, now_s() - t0);
    static const float th[] = {0.80f, 0.85f, 0.88f, 0.90f, 0.92f, 0.95f};
    printf("| threshold | served from the cache | wrong FAQ among them | repeats caught | lookup p50 (ms) |\n");
    printf("|---|---|---|---|---|\n");
    for (size_t t = 0; t < sizeof th / sizeof *th; t++) {
        char dir[128];
        snprintf(dir, sizeof dir, "/tmp/hrt_bench_agent_cache_%d", (int)getpid());
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd)) return 1;
        hrt_memory_params mp = hrt_memory_default_params();
        hrt_memory *mem = NULL;
        if (hrt_memory_open(dir, &mp, &mem)) {
            fprintf(stderr, "bench_agent: memory: %s\n", hrt_last_error());
            return 1;
        }
        size_t hits = 0, wrong = 0, repeats = 0, caught = 0;
        double *ms = malloc(n * sizeof *ms);
        for (size_t i = 0; i < n; i++) {
            int repeat = 0;
            for (size_t k = 0; k < i && !repeat; k++) repeat = !strcmp(faq[k], faq[i]);
            hrt_answer a;
            float score;
            double s0 = now_s();
            int st = hrt_memory_answer_lookup(mem, v + i * (size_t)dim, dim, "bench", "v1", th[t], &a, &score);
            ms[i] = (now_s() - s0) * 1e3;
            if (st < 0) {
                fprintf(stderr, "bench_agent: lookup: %s\n", hrt_last_error());
                return 1;
            }
            repeats += repeat;
            if (st == 1) {
                hits++;
                if (strcmp(a.answer, faq[i])) wrong++;
                else caught++;
                hrt_answer_clear(&a);
            }
            hrt_answer put = {.model = "bench", .prompt_version = "v1", .query = q[i], .answer = faq[i]};
            if (hrt_memory_answer_put(mem, v + i * (size_t)dim, dim, &put, 0)) {
                fprintf(stderr, "bench_agent: put: %s\n", hrt_last_error());
                return 1;
            }
        }
        printf("| %.2f | %zu of %zu (%.1f%%) | %zu (%.1f%%) | %zu of %zu (%.1f%%) | %.3f |\n", (double)th[t], hits, n,
               100.0 * (double)hits / (double)n, wrong, hits ? 100.0 * (double)wrong / (double)hits : 0.0, caught,
               repeats, repeats ? 100.0 * (double)caught / (double)repeats : 0.0, median(ms, (int)n));
        free(ms);
        hrt_memory_free(mem);
        if (system(cmd)) return 1;
    }
    for (size_t i = 0; i < n; i++) free(q[i]), free(faq[i]);
    free(v);
    printf("\n");
    return 0;
}

/* ---- 2. routing on the help centre ------------------------------------------------------- */
typedef struct {
    int paths[4], escalated;
    long tokens, prompt, generated, saved;
    double total_s, *ms;
} run_stats;

static int run(hrt_agent *a, char **q, size_t n, int path, run_stats *r)
{
    memset(r, 0, sizeof *r);
    r->ms = malloc(n * sizeof *r->ms);
    for (size_t i = 0; i < n; i++) {
        hrt_ask_params p = hrt_ask_default_params();
        p.path = path;
        p.use_cache = 0;
        hrt_agent_result res;
        double t0 = now_s();
        if (hrt_agent_ask(a, NULL, q[i], strlen(q[i]), &p, &res)) {
            fprintf(stderr, "bench_agent: ask '%s': %s\n", q[i], hrt_last_error());
            return 1;
        }
        r->ms[i] = (now_s() - t0) * 1e3;
        r->total_s += r->ms[i] / 1e3;
        r->paths[res.path]++;
        r->escalated += res.escalated;
        for (int s = 0; s < HRT_STAGE_COUNT; s++) {
            r->prompt += res.stage[s].prompt_tokens - res.stage[s].cached_tokens;
            r->generated += res.stage[s].generated_tokens;
        }
        r->saved += res.saved.cache + res.saved.duplicates + res.saved.context_budget + res.saved.history_budget +
                    res.saved.loop + res.saved.answer_done;
        hrt_agent_result_clear(&res);
    }
    r->tokens = r->prompt + r->generated;
    return 0;
}

static int bench_routing(hrt_model *chat, hrt_model *emb, size_t limit)
{
    char path[1024], kbdir[128];
    snprintf(path, sizeof path, "%s/examples/helpcentre-queries.jsonl", HRT_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_agent: %s: not found\n", path);
        return 1;
    }
    char *q[64], *line = NULL;
    size_t cap = 0, n = 0;
    while (n < 64 && n < limit && getline(&line, &cap, f) > 0)
        if ((q[n] = read_line_text(line, "query"))) n++;
    free(line);
    fclose(f);
    snprintf(kbdir, sizeof kbdir, "/tmp/hrt_bench_agent_kb_%d", (int)getpid());
    hrt_kb_params kp = hrt_kb_default_params();
    kp.embedder = emb;
    hrt_kb *kb = NULL;
    snprintf(path, sizeof path, "%s/examples/helpcentre", HRT_SOURCE_DIR);
    if (hrt_kb_open(kbdir, &kp, &kb) || hrt_kb_add(kb, path, NULL)) {
        fprintf(stderr, "bench_agent: kb: %s\n", hrt_last_error());
        return 1;
    }
    char prompts[1024], router[1024];
    snprintf(prompts, sizeof prompts, "%s/prompts", HRT_SOURCE_DIR);
    snprintf(router, sizeof router, "%s/examples/router.json", HRT_SOURCE_DIR);
    hrt_agent_params ap = hrt_agent_default_params();
    ap.light_model = chat;
    ap.embedder = emb;
    ap.kb = kb;
    ap.prompts_dir = prompts;
    ap.router_path = router;
    ap.product = "Brightbox";
    hrt_agent *a = NULL;
    if (hrt_agent_open(&ap, &a)) {
        fprintf(stderr, "bench_agent: agent: %s\n", hrt_last_error());
        return 1;
    }
    static const char *names[] = {"auto (router + escalation)", "always light (no escalation)", "always full"};
    static const int paths[] = {HRT_PATH_AUTO, HRT_PATH_LIGHT, HRT_PATH_FULL};
    run_stats rs[3];
    for (int k = 0; k < 3; k++)
        if (run(a, q, n, paths[k], &rs[k])) return 1;
    printf("Help centre: %zu questions (examples/helpcentre-queries.jsonl), no cache, SmolLM2-135M for both "
           "paths\n\n",
           n);
    printf("| run | light | full | escalated | tokens processed | of which generated | saved by pruning | "
           "median ms per question | total s | tokens vs always full |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < 3; k++)
        printf("| %s | %d | %d | %d | %ld | %ld | %ld | %.0f | %.1f | %.2f |\n", names[k], rs[k].paths[HRT_PATH_LIGHT],
               rs[k].paths[HRT_PATH_FULL], rs[k].escalated, rs[k].tokens, rs[k].generated, rs[k].saved,
               median(rs[k].ms, (int)n), rs[k].total_s, (double)rs[k].tokens / (double)rs[2].tokens);
    for (int k = 0; k < 3; k++) free(rs[k].ms);
    for (size_t i = 0; i < n; i++) free(q[i]);
    hrt_agent_free(a);
    hrt_kb_free(kb);
    snprintf(path, sizeof path, "rm -rf %s", kbdir);
    return system(path) ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *data = HRT_SOURCE_DIR "/../shared/data";
    int skip_cache = 0, skip_routing = 0;
    size_t limit = 64;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--skip-cache")) skip_cache = 1;
        else if (!strcmp(argv[i], "--skip-routing")) skip_routing = 1;
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) limit = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_agent [--data DIR] [--skip-cache] [--skip-routing] [-n N]\n");
            return 2;
        }
    }
    hrt_model_params mp = hrt_model_default_params();
    hrt_model *chat = NULL, *emb = NULL;
    if (hrt_model_open(HRT_SOURCE_DIR "/models/smollm2-135m-instruct-q4_1.gguf", &mp, &chat) ||
        hrt_model_open(HRT_SOURCE_DIR "/models/all-minilm-l6-v2", &mp, &emb)) {
        fprintf(stderr, "bench_agent: %s (scripts/fetch-models.sh)\n", hrt_last_error());
        return 1;
    }
    int rc = 0;
    if (!skip_cache) rc = bench_cache(emb, data);
    if (!rc && !skip_routing) rc = bench_routing(chat, emb, limit);
    hrt_model_free(chat);
    hrt_model_free(emb);
    return rc;
}
