/* hrt_embed against sentence-transformers (tests/golden/make_embed_golden.py)
 * on all-MiniLM-L6-v2: identical token ids (truncation included) and cosine
 * similarity >= 0.999 for each of the 50 sentences. */
#include <cjson/cJSON.h>

#include "hrt.h"
#include "test.h"

int main(void)
{
    char mpath[1024], gpath[1024];
    test_model_path("all-minilm-l6-v2/model.safetensors", mpath, sizeof mpath);
    snprintf(mpath, sizeof mpath, "%s/models/all-minilm-l6-v2", HRT_SOURCE_DIR);
    snprintf(gpath, sizeof gpath, "%s/tests/golden/minilm_embed.json", HRT_SOURCE_DIR);
    char *text = test_read_file(gpath, NULL);
    CHECK(text != NULL);
    if (!text) return test_finish();
    cJSON *g = cJSON_Parse(text);
    free(text);
    hrt_model *m = NULL;
    CHECK_STATUS(hrt_model_open(mpath, NULL, &m), 0);
    if (!m) return test_finish();
    int d = hrt_embed_dim(m);
    CHECK(d == 384);
    const cJSON *sents = cJSON_GetObjectItem(g, "sentences");
    int n = cJSON_GetArraySize(sents);
    CHECK(n == 50);
    const char **texts = malloc((size_t)n * sizeof *texts);
    for (int i = 0; i < n; i++) texts[i] = cJSON_GetObjectItem(cJSON_GetArrayItem(sents, i), "text")->valuestring;
    float *e = malloc((size_t)n * d * sizeof *e);
    for (int i = 0; i < n * d; i++) e[i] = NAN;
    CHECK_STATUS(hrt_embed(m, texts, NULL, (size_t)n, e), 0);
    double worst = 1;
    int id_mismatch = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *si = cJSON_GetArrayItem(sents, i);
        /* token ids (the golden ones are after truncation to max_seq_length) */
        const cJSON *gids = cJSON_GetObjectItem(si, "ids");
        int ng = cJSON_GetArraySize(gids);
        int32_t ids[2048];
        int nm = hrt_tokenize(m, texts[i], strlen(texts[i]), 1, 0, ids, 2048);
        int same = nm >= ng && nm > 0;
        for (int k = 0; same && k < ng - 1; k++) same = ids[k] == cJSON_GetArrayItem(gids, k)->valueint;
        if (!same && id_mismatch++ < 3) fprintf(stderr, "sentence %d: token ids differ\n", i);
        const cJSON *ge = cJSON_GetObjectItem(si, "embedding");
        double dot = 0, na = 0, nb = 0;
        for (int k = 0; k < d; k++) {
            double a = e[(size_t)i * d + k], b = cJSON_GetArrayItem(ge, k)->valuedouble;
            dot += a * b;
            na += a * a;
            nb += b * b;
        }
        double cs = dot / sqrt(na * nb);
        if (!(cs >= worst)) worst = cs;
        CHECK_MSG(cs >= 0.999, "sentence %d: cosine %.6f", i, cs);
    }
    CHECK_MSG(id_mismatch == 0, "%d sentences tokenized differently", id_mismatch);
    printf("%d sentences; lowest cosine %.6f\n", n, worst);
    /* Errors: an encoder has no sessions; a decoder cannot embed. */
    hrt_session *s = NULL;
    CHECK_STATUS(hrt_session_open(m, NULL, &s), HRT_E_INVALID);
    free(e);
    free(texts);
    cJSON_Delete(g);
    hrt_model_free(m);
    return test_finish();
}
