/* Hugging Face checkpoints (config.json + safetensors + tokenizer.json) of
 * each decoder architecture in hrt's table, against HF transformers on the
 * same files (tests/golden/make_tiny_decoders.py): tiny random-weight Llama
 * (llama3 RoPE scaling, untied head, f32), Qwen2 (Q/K/V biases, linear RoPE
 * scaling, bf16) and Qwen3 (Q/K RMSNorm, head_dim 32 with 64 hidden over 4
 * heads, f16). Token ids identical; top-20 logits within 1e-4 relative after
 * the prompt and after each of the first 4 greedy tokens; 16 greedy tokens
 * identical; the chat template found and rendered. */
#include <cjson/cJSON.h>

#include "hrt.h"
#include "test.h"

int main(void)
{
    char gpath[1024];
    snprintf(gpath, sizeof gpath, "%s/tests/golden/tiny_decoders.json", HRT_SOURCE_DIR);
    char *text = test_read_file(gpath, NULL);
    CHECK(text != NULL);
    if (!text) return test_finish();
    cJSON *g = cJSON_Parse(text);
    free(text);
    const cJSON *mod;
    int n_models = 0;
    cJSON_ArrayForEach(mod, cJSON_GetObjectItem(g, "models"))
    {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/golden/%s", HRT_SOURCE_DIR, cJSON_GetObjectItem(mod, "dir")->valuestring);
        hrt_model *m = NULL;
        CHECK_STATUS(hrt_model_open(dir, NULL, &m), 0);
        if (!m) continue;
        n_models++;
        hrt_model_info info;
        hrt_model_info_get(m, &info);
        hrt_session *s = NULL;
        CHECK_STATUS(hrt_session_open(m, NULL, &s), 0);
        float *logits = malloc((size_t)info.n_vocab * sizeof *logits);
        double worst = 0;
        int bad = 0, diverged = 0;
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(mod, "prompts"))
        {
            const char *pt = cJSON_GetObjectItem(p, "text")->valuestring;
            const cJSON *toks = cJSON_GetObjectItem(p, "tokens");
            int n = cJSON_GetArraySize(toks);
            int32_t ids[256];
            int nm = hrt_tokenize(m, pt, strlen(pt), 0, 1, ids, 256);
            int same = nm == n;
            for (int i = 0; same && i < n; i++) same = ids[i] == cJSON_GetArrayItem(toks, i)->valueint;
            CHECK_MSG(same, "%s: tokens of '%s' differ", info.arch, pt);
            hrt_session_reset(s);
            CHECK_STATUS(hrt_session_eval(s, ids, (size_t)n, logits), 0);
            const cJSON *greedy = cJSON_GetObjectItem(p, "greedy"), *steps = cJSON_GetObjectItem(p, "steps_top20");
            for (int k = -1; k < cJSON_GetArraySize(greedy); k++) {
                const cJSON *top = k < 0 ? cJSON_GetObjectItem(p, "top20") : cJSON_GetArrayItem(steps, k);
                const cJSON *e;
                if (top)
                    cJSON_ArrayForEach(e, top)
                    {
                        int id = cJSON_GetArrayItem(e, 0)->valueint;
                        double want = cJSON_GetArrayItem(e, 1)->valuedouble;
                        double rel = fabs(logits[id] - want) / fmax(fabs(want), 1.0);
                        if (rel > worst) worst = rel;
                        bad += rel > 1e-4;
                    }
                if (k + 1 >= cJSON_GetArraySize(greedy)) break;
                int32_t want = cJSON_GetArrayItem(greedy, k + 1)->valueint, best = 0;
                for (int i = 1; i < info.n_vocab; i++)
                    if (logits[i] > logits[best]) best = i;
                diverged += best != want;
                CHECK_STATUS(hrt_session_eval(s, &want, 1, logits), 0);
            }
        }
        CHECK_MSG(bad == 0, "%s: %d logits beyond 1e-4 relative", info.arch, bad);
        CHECK_MSG(diverged == 0, "%s: %d greedy steps differ", info.arch, diverged);
        printf("%-6s %-5s largest relative top-20 difference %.2e, greedy %s\n", info.arch,
               cJSON_GetObjectItem(mod, "dtype")->valuestring, worst, diverged ? "DIFFERS" : "identical");
        /* transformers 5 keeps the template in chat_template.jinja */
        hrt_chat_msg msg = {"user", "Hi"};
        char buf[256];
        CHECK(hrt_chat_render(m, &msg, 1, 1, buf, sizeof buf) > 0 &&
              !strcmp(buf, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
        free(logits);
        hrt_session_free(s);
        hrt_model_free(m);
    }
    CHECK(n_models == 3);
    cJSON_Delete(g);
    return test_finish();
}
