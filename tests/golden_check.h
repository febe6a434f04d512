/* Compares a model's logits with a golden file's prompts: each prompt has
 * "text", "tokens", "top20" (after the prompt), "greedy" (ids) and
 * "steps_top20" (after each of the first greedy ids). Steps follow the
 * golden ids, so every step compares like with like. */
#ifndef HRT_TEST_GOLDEN_CHECK_H
#define HRT_TEST_GOLDEN_CHECK_H

#include <cjson/cJSON.h>

#include "hrt.h"
#include "test.h"

typedef struct {
    double worst_rel;   /* largest relative difference of a golden top-20 logit */
    int n_bad;          /* top-20 logits beyond the tolerance */
    int diverged[16];   /* per prompt: first greedy index where the argmax differs, -1 if none */
    int n_prompts;
    int token_mismatch; /* prompts whose text hrt tokenizes differently */
} golden_report;

static inline int golden_argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static inline void golden_top20(const float *logits, const cJSON *top, double tol, golden_report *r)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, top)
    {
        int id = cJSON_GetArrayItem(e, 0)->valueint;
        double want = cJSON_GetArrayItem(e, 1)->valuedouble;
        double rel = fabs(logits[id] - want) / fmax(fabs(want), 1.0);
        if (!(rel <= r->worst_rel)) r->worst_rel = rel; /* NaN counts as worst */
        if (!(rel <= tol)) r->n_bad++;
    }
}

/* add_special: whether the prompt texts were tokenized with BOS/EOS. */
static inline golden_report golden_check(hrt_model *m, const cJSON *prompts, double tol, int add_special)
{
    golden_report r = {0};
    hrt_model_info info;
    hrt_model_info_get(m, &info);
    hrt_session *s = NULL;
    CHECK_STATUS(hrt_session_open(m, NULL, &s), 0);
    if (!s) return r;
    float *logits = malloc((size_t)info.n_vocab * sizeof *logits);
    const cJSON *p;
    cJSON_ArrayForEach(p, prompts)
    {
        const cJSON *toks = cJSON_GetObjectItem(p, "tokens");
        int n = cJSON_GetArraySize(toks);
        int32_t ids[1024], mine[1024];
        if (n > 1024) n = 1024;
        for (int i = 0; i < n; i++) ids[i] = cJSON_GetArrayItem(toks, i)->valueint;
        const char *pt = cJSON_GetObjectItem(p, "text")->valuestring;
        int nm = hrt_tokenize(m, pt, strlen(pt), add_special, 1, mine, 1024);
        if (nm != n || memcmp(mine, ids, (size_t)n * sizeof *ids)) r.token_mismatch++;
        hrt_session_reset(s);
        for (int i = 0; i < info.n_vocab; i++) logits[i] = NAN;
        CHECK_STATUS(hrt_session_eval(s, ids, (size_t)n, logits), 0);
        golden_top20(logits, cJSON_GetObjectItem(p, "top20"), tol, &r);
        const cJSON *greedy = cJSON_GetObjectItem(p, "greedy"), *steps = cJSON_GetObjectItem(p, "steps_top20");
        int d = -1;
        for (int k = 0; k < cJSON_GetArraySize(greedy); k++) {
            int32_t want = cJSON_GetArrayItem(greedy, k)->valueint;
            if (golden_argmax(logits, info.n_vocab) != want && d < 0) d = k;
            CHECK_STATUS(hrt_session_eval(s, &want, 1, logits), 0);
            if (k < cJSON_GetArraySize(steps)) golden_top20(logits, cJSON_GetArrayItem(steps, k), tol, &r);
        }
        if (r.n_prompts < 16) r.diverged[r.n_prompts] = d;
        r.n_prompts++;
    }
    free(logits);
    hrt_session_free(s);
    return r;
}

static inline void golden_print(const char *label, const golden_report *r, double tol)
{
    printf("%-40s prompts %d, largest relative top-20 difference %.2e (tolerance %.1e, %d beyond); "
           "greedy divergence per prompt:",
           label, r->n_prompts, r->worst_rel, tol, r->n_bad);
    for (int i = 0; i < r->n_prompts && i < 16; i++) printf(" %d", r->diverged[i]);
    printf("  (-1 = identical)\n");
}

/* Embeds every golden sentence ("text", "ids", "embedding") with m and
 * returns the lowest cosine similarity; *id_mismatch counts sentences whose
 * ids differ (the golden ids may be truncated: their last is the [SEP]). */
static inline double embed_check(hrt_model *m, const cJSON *sents, int *id_mismatch)
{
    int n = cJSON_GetArraySize(sents), d = hrt_embed_dim(m);
    const char **texts = malloc((size_t)n * sizeof *texts);
    float *e = malloc((size_t)n * (size_t)(d > 0 ? d : 1) * sizeof *e);
    for (int i = 0; i < n; i++) texts[i] = cJSON_GetObjectItem(cJSON_GetArrayItem(sents, i), "text")->valuestring;
    for (int i = 0; i < n * d; i++) e[i] = NAN;
    double worst = 1;
    *id_mismatch = 0;
    CHECK_STATUS(hrt_embed(m, texts, NULL, (size_t)n, e), 0);
    for (int i = 0; i < n && d > 0; i++) {
        const cJSON *si = cJSON_GetArrayItem(sents, i), *gids = cJSON_GetObjectItem(si, "ids");
        int ng = cJSON_GetArraySize(gids);
        int32_t ids[2048];
        int nm = hrt_tokenize(m, texts[i], strlen(texts[i]), 1, 0, ids, 2048);
        int same = nm >= ng && nm > 0;
        for (int k = 0; same && k < ng - 1; k++) same = ids[k] == cJSON_GetArrayItem(gids, k)->valueint;
        if (!same) ++*id_mismatch;
        const cJSON *ge = cJSON_GetObjectItem(si, "embedding");
        double dot = 0, na = 0, nb = 0;
        for (int k = 0; k < d; k++) {
            double a = e[(size_t)i * d + k], b = cJSON_GetArrayItem(ge, k)->valuedouble;
            dot += a * b, na += a * a, nb += b * b;
        }
        double cs = dot / sqrt(na * nb);
        if (!(cs >= worst)) worst = cs; /* NaN counts as worst */
    }
    free(texts);
    free(e);
    return worst;
}

/* Reads tests/golden/NAME; NULL (after a failed CHECK) when absent. */
static inline cJSON *golden_load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/%s", HRT_SOURCE_DIR, name);
    char *text = test_read_file(path, NULL);
    CHECK_MSG(text != NULL, "%s missing", path);
    if (!text) return NULL;
    cJSON *g = cJSON_Parse(text);
    free(text);
    CHECK_MSG(g != NULL, "%s is not valid JSON", path);
    return g;
}

#endif
