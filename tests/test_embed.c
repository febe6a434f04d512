/* hrt_embed on the CPU against independent references:
 *   - a tiny random BERT checkpoint vs HF transformers' mean-pooled,
 *     normalised embeddings (tests/golden/make_tiny_bert.py): always;
 *   - all-MiniLM-L6-v2 vs sentence-transformers on 50 sentences
 *     (tests/golden/make_embed_golden.py), when the model is there: token
 *     ids identical (truncation included), cosine >= 0.999;
 * and texts embedded in one call (batched, over several forward passes)
 * against the same texts embedded one at a time. */
#include "golden_check.h"

/* 70 texts of many lengths (an empty one, some past the model's window,
 * so that one call takes more than one batch) in one hrt_embed call, then
 * each alone: the same vectors. */
static void batch_check(hrt_model *m)
{
    enum { N = 70 };
    int d = hrt_embed_dim(m);
    char *texts[N];
    static const char *words[] = {"shipping", "refund", "the", "account", "password", "billing", "of", "delay", "a"};
    for (int i = 0; i < N; i++) {
        int nw = i == 5 ? 0 : (i * 37) % 400 + 1;
        texts[i] = malloc((size_t)nw * 10 + 1);
        texts[i][0] = 0;
        for (int w = 0; w < nw; w++) {
            strcat(texts[i], words[(i + w * w) % 9]);
            strcat(texts[i], w % 9 == 8 ? ". " : " ");
        }
    }
    float *all = malloc((size_t)N * d * sizeof *all), *one = malloc((size_t)d * sizeof *one);
    for (int i = 0; i < N * d; i++) all[i] = NAN;
    CHECK_STATUS(hrt_embed(m, (const char *const *)texts, NULL, N, all), 0);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < d; k++) one[k] = NAN;
        CHECK_STATUS(hrt_embed(m, (const char *const *)&texts[i], NULL, 1, one), 0);
        for (int k = 0; k < d; k++) {
            double diff = fabs((double)all[(size_t)i * d + k] - one[k]);
            if (!(diff <= worst)) worst = diff; /* NaN counts as worst */
        }
    }
    printf("%d texts in one call vs one at a time: largest difference %.3g\n", N, worst);
    CHECK_MSG(worst < 1e-5, "batched and single embeddings differ by %.3g", worst);
    for (int i = 0; i < N; i++) free(texts[i]);
    free(all);
    free(one);
}

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
        batch_check(m);
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
