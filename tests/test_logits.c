/* hrt's logits on the default chat model against two independent
 * implementations, on the same 5 prompts:
 *
 * 1. HF transformers, float32 (tests/golden/make_logits_hf_golden.py): the
 *    exact arithmetic of the quantized model. hrt's F32 path and its default
 *    INT16 path (16-bit activations) must give the same top-20 logits after
 *    the prompt and after each of the first 8 greedy tokens within 1e-3
 *    relative, and the same 64-token greedy continuation, token for token.
 *
 * 2. llama.cpp (tests/golden/make_logits_golden.py), which rounds
 *    activations to 8 bits, as hrt's INT8 path does. That rounding makes
 *    this model's logits chaotic: any change in arithmetic order moves them
 *    by a few percent. llama.cpp's own configurations (f16 or f32 KV cache,
 *    flash attention on or off) differ from its default by up to 9.5% on
 *    these top-20 logits, its default is 7.0e-2 from the exact reference,
 *    and its greedy continuations part from the exact ones after 8 to 30
 *    tokens in 4 of 5 prompts (llama-cpp-python 0.3.36, measured by
 *    tests/golden/llamacpp_config_spread.py). The INT8 path is
 *    therefore held only to a gross-error bound (1.5e-1 against both
 *    references, which a wrong operation exceeds many times over); its dot
 *    products are checked against the scalar reference in test_quant, and
 *    everything else it shares with the paths checked in 1. The agreement
 *    is printed, and recorded in docs/PERFORMANCE.md.
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

static report run_golden(const char *model_path, int precision, const char *golden, double tol)
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
    mp.precision = precision;
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
    printf("%-24s %-5s prompts %d, largest relative top-20 difference %.2e (tolerance %.1e, %d beyond);"
           " greedy divergence per prompt:",
           golden, precision == HRT_PRECISION_F32 ? "f32" : precision == HRT_PRECISION_INT8 ? "int8" : "int16",
           r.n_prompts, r.worst_rel, tol, r.n_bad);
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

    const int exact_paths[2] = {HRT_PRECISION_F32, HRT_PRECISION_INT16};
    for (int k = 0; k < 2; k++) {
        report r = run_golden(mpath, exact_paths[k], "smollm2_logits_hf.json", 1e-3);
        CHECK(r.n_prompts == 5);
        CHECK_MSG(r.n_bad == 0, "precision %d vs HF: %d logits beyond 1e-3", exact_paths[k], r.n_bad);
        for (int i = 0; i < r.n_prompts; i++)
            CHECK_MSG(r.diverged[i] < 0, "precision %d vs HF: prompt %d diverges at %d", exact_paths[k], i,
                      r.diverged[i]);
    }
    const char *goldens[2] = {"smollm2_logits_hf.json", "smollm2_logits.json"};
    for (int k = 0; k < 2; k++) {
        report r = run_golden(mpath, HRT_PRECISION_INT8, goldens[k], 1.5e-1);
        CHECK(r.n_prompts == 5);
        CHECK_MSG(r.n_bad == 0, "int8 vs %s: %d logits beyond 1.5e-1", goldens[k], r.n_bad);
    }
    return test_finish();
}
