/* hrt's logits on the default chat model against two independent
 * implementations, on the same 5 prompts:
 *
 * 1. HF transformers, float32 (tests/golden/make_logits_hf_golden.py): the
 *    exact arithmetic of the quantized model. hrt's f32-activation path must
 *    give the same top-20 logits after the prompt and after each of the
 *    first 8 greedy tokens within 1e-3 relative, and the same 64-token
 *    greedy continuation, token for token.
 *
 * 2. llama.cpp (tests/golden/make_logits_golden.py), which, like hrt's fast
 *    path, rounds activations to 8 bits before each product with quantized
 *    weights. That rounding makes the logits of this model sensitive to
 *    any difference in arithmetic: llama.cpp's own configurations differ
 *    from its default by up to 3.6% on these top-20 logits and their greedy
 *    continuations part after 8 to 30 tokens in 4 of the 5 prompts
 *    (measured with llama-cpp-python 0.3.36: f32 vs f16 KV cache, flash
 *    attention on vs off), and llama.cpp's default is up to 6.96e-2 away from
 *    the exact reference of 1. The fast path is held to the exact reference
 *    at 8e-2 relative and the first 8 greedy tokens, and to llama.cpp at
 *    1e-1 as a sanity bound; the full agreement is printed (and recorded in
 *    docs/PERFORMANCE.md, "Correctness").
 *
 * Greedy steps follow the golden tokens (not hrt's own picks), so that
 * every step compares like with like. */
#include <cjson/cJSON.h>

#include "hrt.h"
#include "test.h"

typedef struct {
    double worst_rel;   /* largest relative difference of a top-20 logit */
    int n_bad;          /* top-20 logits beyond the tolerance */
    int diverged[16];   /* per prompt: first greedy index where hrt's argmax differs, -1 if none */
    int n_prompts;
} report;

static void compare_top20(const float *logits, const cJSON *top, double tol, report *r)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, top)
    {
        int id = cJSON_GetArrayItem(e, 0)->valueint;
        double want = cJSON_GetArrayItem(e, 1)->valuedouble;
        double rel = fabs(logits[id] - want) / fmax(fabs(want), 1.0);
        if (rel > r->worst_rel) r->worst_rel = rel;
        if (rel > tol) r->n_bad++;
    }
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static report run_golden(const char *model_path, int f32_act, const char *golden, double tol)
{
    report r = {0};
    char gpath[1024];
    snprintf(gpath, sizeof gpath, "%s/tests/golden/%s", HRT_SOURCE_DIR, golden);
    char *text = test_read_file(gpath, NULL);
    CHECK_MSG(text != NULL, "%s missing", gpath);
    if (!text) return r;
    cJSON *g = cJSON_Parse(text);
    free(text);
    hrt_model_params mp = hrt_model_default_params();
    mp.f32_activations = f32_act;
    hrt_model *m = NULL;
    hrt_session *s = NULL;
    CHECK_STATUS(hrt_model_open(model_path, &mp, &m), 0);
    if (m) CHECK_STATUS(hrt_session_open(m, NULL, &s), 0);
    if (!s) {
        hrt_model_free(m);
        cJSON_Delete(g);
        return r;
    }
    hrt_model_info info;
    hrt_model_info_get(m, &info);
    float *logits = malloc((size_t)info.n_vocab * sizeof *logits);
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(g, "prompts"))
    {
        const cJSON *toks = cJSON_GetObjectItem(p, "tokens");
        int n = cJSON_GetArraySize(toks);
        int32_t ids[512], mine[512];
        for (int i = 0; i < n && i < 512; i++) ids[i] = cJSON_GetArrayItem(toks, i)->valueint;
        const char *pt = cJSON_GetObjectItem(p, "text")->valuestring;
        int nm = hrt_tokenize(m, pt, strlen(pt), 1, 1, mine, 512);
        CHECK_MSG(nm == n && !memcmp(mine, ids, (size_t)n * sizeof *ids), "%s prompt %d: tokenization differs",
                  golden, r.n_prompts);
        hrt_session_reset(s);
        for (int i = 0; i < info.n_vocab; i++) logits[i] = NAN;
        CHECK_STATUS(hrt_session_eval(s, ids, (size_t)n, logits), 0);
        compare_top20(logits, cJSON_GetObjectItem(p, "top20"), tol, &r);
        const cJSON *greedy = cJSON_GetObjectItem(p, "greedy"), *steps = cJSON_GetObjectItem(p, "steps_top20");
        int d = -1;
        for (int k = 0; k < cJSON_GetArraySize(greedy); k++) {
            int32_t want = cJSON_GetArrayItem(greedy, k)->valueint;
            if (argmax(logits, info.n_vocab) != want && d < 0) d = k;
            CHECK_STATUS(hrt_session_eval(s, &want, 1, logits), 0);
            if (k < cJSON_GetArraySize(steps)) compare_top20(logits, cJSON_GetArrayItem(steps, k), tol, &r);
        }
        if (r.n_prompts < 16) r.diverged[r.n_prompts] = d;
        r.n_prompts++;
    }
    printf("%-24s %-14s prompts %d, largest relative top-20 difference %.2e (tolerance %.0e, %d beyond);"
           " greedy divergence per prompt:",
           golden, f32_act ? "f32 activations" : "8-bit activations", r.n_prompts, r.worst_rel, tol, r.n_bad);
    for (int i = 0; i < r.n_prompts && i < 16; i++) printf(" %d", r.diverged[i]);
    printf("  (-1 = identical)\n");
    free(logits);
    hrt_session_free(s);
    hrt_model_free(m);
    cJSON_Delete(g);
    return r;
}

int main(void)
{
    char mpath[1024];
    test_model_path("smollm2-135m-instruct-q4_1.gguf", mpath, sizeof mpath);

    report exact = run_golden(mpath, 1, "smollm2_logits_hf.json", 1e-3);
    CHECK(exact.n_prompts == 5);
    CHECK_MSG(exact.n_bad == 0, "f32 path vs HF: %d logits beyond 1e-3", exact.n_bad);
    for (int i = 0; i < exact.n_prompts; i++)
        CHECK_MSG(exact.diverged[i] < 0, "f32 path vs HF: prompt %d diverges at %d", i, exact.diverged[i]);

    /* The fast path against the exact reference: within 8e-2 (llama.cpp's
     * default configuration measures 6.96e-2 from the same reference), and
     * the same first 8 greedy tokens. */
    report fast = run_golden(mpath, 0, "smollm2_logits_hf.json", 8e-2);
    CHECK(fast.n_prompts == 5);
    CHECK_MSG(fast.n_bad == 0, "fast path vs HF: %d logits beyond 8e-2", fast.n_bad);
    for (int i = 0; i < fast.n_prompts; i++)
        CHECK_MSG(fast.diverged[i] < 0 || fast.diverged[i] >= 8, "fast path vs HF: prompt %d diverges at %d", i,
                  fast.diverged[i]);
    /* Against llama.cpp, two 8-bit-activation engines: a sanity bound only. */
    report ll = run_golden(mpath, 0, "smollm2_logits.json", 1e-1);
    CHECK_MSG(ll.n_bad == 0, "fast path vs llama.cpp: %d logits beyond 1e-1", ll.n_bad);
    return test_finish();
}
