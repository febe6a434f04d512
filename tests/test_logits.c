/* hrt's logits on the default chat models (SmolLM2-135M, Gemma 3 270M)
 * against two independent implementations, on the same prompts (5 for
 * SmolLM2; for Gemma the same 5 with its turn format and a sixth of 676
 * tokens, past the 512-token window of its local layers):
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
 *    tests/golden/llamacpp_config_spread.py). Gemma's llama.cpp logits
 *    differ from HF's by up to 17% on the top-20 of a chat prompt the base
 *    model finds meaningless. The INT8 path is
 *    therefore held only to a gross-error bound (1.5e-1 against both
 *    references, which a wrong operation exceeds many times over); its dot
 *    products are checked against the scalar reference in test_quant, and
 *    everything else it shares with the paths checked in 1. The agreement
 *    is printed, and recorded in docs/PERFORMANCE.md.
 *
 * Greedy steps follow the golden tokens (not hrt's own picks), so that
 * every step compares like with like. */
#include <unistd.h>

#include "golden_check.h"

static int test_missing; /* models absent */

static golden_report run_golden(const char *model_path, int precision, const char *golden, double tol)
{
    golden_report r = {0};
    cJSON *g = golden_load(golden);
    hrt_model_params mp = hrt_model_default_params();
    mp.precision = precision;
    mp.backend = HRT_BACKEND_CPU;
    hrt_model *m = NULL;
    CHECK_STATUS(hrt_model_open(model_path, &mp, &m), 0);
    if (m && g) {
        r = golden_check(m, cJSON_GetObjectItem(g, "prompts"), tol, 1);
        CHECK_MSG(r.token_mismatch == 0, "%s: %d prompts tokenized differently", golden, r.token_mismatch);
        char label[128];
        snprintf(label, sizeof label, "%s %s", golden,
                 precision == HRT_PRECISION_F32 ? "f32" : precision == HRT_PRECISION_INT8 ? "int8" : "int16");
        golden_print(label, &r, tol);
    }
    hrt_model_free(m);
    cJSON_Delete(g);
    return r;
}

/* Both goldens of one model: <stem>_logits_hf.json (exact) and
 * <stem>_logits.json (llama.cpp), n_prompts each. f32_tol: the F32 path's
 * bound; int8_tol: the INT8 path's. */
static void check_model(const char *file, const char *stem, int n_prompts, double f32_tol, double int8_tol)
{
    char mpath[1024], hf[128], lc[128];
    snprintf(mpath, sizeof mpath, "%s/models/%s", HRT_SOURCE_DIR, file);
    if (access(mpath, R_OK) != 0) {
        printf("%s absent: run scripts/fetch-models.sh\n", mpath);
        test_missing++;
        return;
    }
    snprintf(hf, sizeof hf, "%s_logits_hf.json", stem);
    snprintf(lc, sizeof lc, "%s_logits.json", stem);
    const int exact_paths[2] = {HRT_PRECISION_F32, HRT_PRECISION_INT16};
    for (int k = 0; k < 2; k++) {
        double tol = k == 0 ? f32_tol : 1e-3;
        golden_report r = run_golden(mpath, exact_paths[k], hf, tol);
        CHECK(r.n_prompts == n_prompts);
        CHECK_MSG(r.n_bad == 0, "%s precision %d vs HF: %d logits beyond %.0e", stem, exact_paths[k], r.n_bad, tol);
        for (int i = 0; i < r.n_prompts; i++)
            CHECK_MSG(r.diverged[i] < 0, "%s precision %d vs HF: prompt %d diverges at %d", stem, exact_paths[k], i,
                      r.diverged[i]);
    }
    const char *goldens[2] = {hf, lc};
    for (int k = 0; k < 2; k++) {
        golden_report r = run_golden(mpath, HRT_PRECISION_INT8, goldens[k], int8_tol);
        CHECK(r.n_prompts == n_prompts);
        CHECK_MSG(r.n_bad == 0, "int8 vs %s: %d logits beyond %.2g", goldens[k], r.n_bad, int8_tol);
    }
}

int main(void)
{
    check_model("smollm2-135m-instruct-q4_1.gguf", "smollm2", 5, 1e-3, 1.5e-1);
    /* 1e-4 for Gemma's exact path: a sliding window one key too wide moves
     * its 676-token prompt's logits by 7.6e-4 (measured), the right one is
     * within 1e-5 */
    check_model("gemma-3-270m-q4_k_m.gguf", "gemma3", 6, 1e-4, 2.5e-1);
    if (test_missing == 2) test_skip("no model present");
    return test_finish();
}
