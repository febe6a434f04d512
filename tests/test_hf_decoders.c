/* Hugging Face checkpoints (config.json + safetensors + tokenizer.json) of
 * each decoder architecture in hrt's table, against HF transformers on the
 * same files (tests/golden/make_tiny_decoders.py): tiny random-weight Llama
 * (llama3 RoPE scaling, untied head, f32), Qwen2 (Q/K/V biases, linear RoPE
 * scaling, bf16) and Qwen3 (Q/K RMSNorm, head_dim 32 with 64 hidden over 4
 * heads, f16). Token ids identical; top-20 logits within 1e-4 relative after
 * the prompt and after each of the first 4 greedy tokens; 16 greedy tokens
 * identical; the chat template found and rendered. */
#include "golden_check.h"

int main(void)
{
    cJSON *g = golden_load("tiny_decoders.json");
    if (!g) return test_finish();
    const cJSON *mod;
    int n_models = 0;
    cJSON_ArrayForEach(mod, cJSON_GetObjectItem(g, "models"))
    {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/golden/%s", HRT_SOURCE_DIR, cJSON_GetObjectItem(mod, "dir")->valuestring);
        hrt_model_params mp = hrt_model_default_params();
        mp.backend = HRT_BACKEND_CPU;
        hrt_model *m = NULL;
        CHECK_STATUS(hrt_model_open(dir, &mp, &m), 0);
        if (!m) continue;
        n_models++;
        hrt_model_info info;
        hrt_model_info_get(m, &info);
        golden_report r = golden_check(m, cJSON_GetObjectItem(mod, "prompts"), 1e-4, 0);
        CHECK_MSG(r.token_mismatch == 0, "%s: %d prompts tokenized differently", info.arch, r.token_mismatch);
        CHECK_MSG(r.n_bad == 0, "%s: %d logits beyond 1e-4 relative", info.arch, r.n_bad);
        for (int i = 0; i < r.n_prompts; i++)
            CHECK_MSG(r.diverged[i] < 0, "%s: prompt %d diverges at %d", info.arch, i, r.diverged[i]);
        char label[64];
        snprintf(label, sizeof label, "%s (%s)", info.arch, cJSON_GetObjectItem(mod, "dtype")->valuestring);
        golden_print(label, &r, 1e-4);
        /* transformers 5 keeps the template in chat_template.jinja */
        hrt_chat_msg msg = {"user", "Hi"};
        char buf[256];
        CHECK(hrt_chat_render(m, &msg, 1, 1, buf, sizeof buf) > 0 &&
              !strcmp(buf, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
        hrt_model_free(m);
    }
    CHECK(n_models == 3);
    cJSON_Delete(g);
    return test_finish();
}
