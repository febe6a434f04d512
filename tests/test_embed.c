/* hrt_embed on the CPU against independent references:
 *   - a tiny random BERT checkpoint vs HF transformers' mean-pooled,
 *     normalised embeddings (tests/golden/make_tiny_bert.py): always;
 *   - all-MiniLM-L6-v2 vs sentence-transformers on 50 sentences
 *     (tests/golden/make_embed_golden.py), when the model is there: token
 *     ids identical (truncation included), cosine >= 0.999. */
#include "golden_check.h"

static void check_dir(const char *dir, const char *golden, double min_cos, int dim)
{
    cJSON *g = golden_load(golden);
    hrt_model_params mp = hrt_model_default_params();
    mp.backend = HRT_BACKEND_CPU;
    hrt_model *m = NULL;
    CHECK_STATUS(hrt_model_open(dir, &mp, &m), 0);
    if (m && g) {
        CHECK(hrt_embed_dim(m) == dim);
        int bad_ids = 0;
        const cJSON *sents = cJSON_GetObjectItem(g, "sentences");
        double worst = embed_check(m, sents, &bad_ids);
        printf("%-26s %d sentences; lowest cosine %.6f\n", golden, cJSON_GetArraySize(sents), worst);
        CHECK_MSG(worst >= min_cos, "%s: lowest cosine %.6f", golden, worst);
        CHECK_MSG(bad_ids == 0, "%s: %d sentences tokenized differently", golden, bad_ids);
        /* an encoder has no sessions */
        hrt_session *s = NULL;
        CHECK_STATUS(hrt_session_open(m, NULL, &s), HRT_E_INVALID);
    }
    hrt_model_free(m);
    cJSON_Delete(g);
}

int main(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/tiny/bert", HRT_SOURCE_DIR);
    check_dir(dir, "tiny_bert.json", 0.99999, 32);
    snprintf(dir, sizeof dir, "%s/models/all-minilm-l6-v2/model.safetensors", HRT_SOURCE_DIR);
    FILE *f = fopen(dir, "rb");
    if (f) {
        fclose(f);
        snprintf(dir, sizeof dir, "%s/models/all-minilm-l6-v2", HRT_SOURCE_DIR);
        check_dir(dir, "minilm_embed.json", 0.999, 384);
    } else {
        printf("all-MiniLM-L6-v2 absent (scripts/fetch-models.sh): its 50-sentence check is not run\n");
    }
    return test_finish();
}
