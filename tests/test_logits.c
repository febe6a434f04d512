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
#include "golden_check.h"

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

int main(void)
{
    char mpath[1024];
    test_model_path("smollm2-135m-instruct-q4_1.gguf", mpath, sizeof mpath);

    const int exact_paths[2] = {HRT_PRECISION_F32, HRT_PRECISION_INT16};
    for (int k = 0; k < 2; k++) {
        golden_report r = run_golden(mpath, exact_paths[k], "smollm2_logits_hf.json", 1e-3);
        CHECK(r.n_prompts == 5);
        CHECK_MSG(r.n_bad == 0, "precision %d vs HF: %d logits beyond 1e-3", exact_paths[k], r.n_bad);
        for (int i = 0; i < r.n_prompts; i++)
            CHECK_MSG(r.diverged[i] < 0, "precision %d vs HF: prompt %d diverges at %d", exact_paths[k], i,
                      r.diverged[i]);
    }
    const char *goldens[2] = {"smollm2_logits_hf.json", "smollm2_logits.json"};
    for (int k = 0; k < 2; k++) {
        golden_report r = run_golden(mpath, HRT_PRECISION_INT8, goldens[k], 1.5e-1);
        CHECK(r.n_prompts == 5);
        CHECK_MSG(r.n_bad == 0, "int8 vs %s: %d logits beyond 1.5e-1", goldens[k], r.n_bad);
    }
    return test_finish();
}
