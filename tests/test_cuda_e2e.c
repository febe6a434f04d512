/* The CUDA backend end to end, against the same independent references as
 * the CPU tests, and against the CPU backend itself:
 *   - tiny HF Llama / Qwen2 / Qwen3 checkpoints vs HF transformers: at
 *     HRT_PRECISION_F32 (f32 prompt products) within 1e-4 relative and
 *     identical greedy tokens; by default (16-bit prompt products on the
 *     tensor cores) within 5e-2 and the first 4 greedy tokens;
 *   - SmolLM2 Q4_1 vs HF transformers (exact float32): F32 within 1e-3 and
 *     the 64-token greedy continuations identical; default within 5e-2 and
 *     the first 8 greedy tokens;
 *   - Gemma 3 270M Q4_K_M (Q5_0, Q8_0, Q4_K, Q6_K weights, sliding-window
 *     layers; 6 prompts, one of 676 tokens) vs HF transformers: F32 within
 *     1e-4, otherwise the same bounds;
 *   - the same prompts, CUDA vs the CPU backend's F32 path, greedy ids;
 *   - embeddings on the GPU: a tiny BERT vs HF transformers, and
 *     all-MiniLM-L6-v2 vs sentence-transformers when it is there;
 *   - the persistent decode step (kernels/cuda/decode.cu) against the
 *     per-operation kernels (HRT_CUDA_FUSED=0) on tiny Llama and Qwen2 and
 *     SmolLM2 (short and 1,100-token contexts): every step's logits within
 *     a tolerance, the same greedy tokens, and the persistent step repeating
 *     itself bit for bit across two interleaved sessions, and two sessions
 *     decoding at once from two threads; the same on 1, 2 or 3 blocks
 *     (HRT_DECODE_GRID), where a block loops over several attention
 *     splits, KV groups' Wo items and rows; Qwen3 and Gemma 3
 *     (shapes it does not take) stay on the per-operation kernels;
 *   - a prompt longer than a micro-batch: one call vs two, and vs the CPU;
 *   - a session too large for the device is refused with the sizes;
 *   - hrt_generate sampling on the device (kernels/cuda/sample.h) against
 *     the host's sampler on the same GPU's logits (HRT_DEVICE_SAMPLING=0),
 *     on the persistent step and the per-operation kernels, with and
 *     without the repetition penalty and DRY: the same text;
 *   - hrt_generate on the GPU answers the golden question.
 * Skips ("no CUDA device") where there is no GPU. */
#include "golden_check.h"

#ifndef HRT_WITH_CUDA
int main(void) { test_skip("built without CUDA (HRT_CUDA=OFF or no nvcc)"); }
#else
#include <cuda_runtime_api.h>
#include <pthread.h>

#include "model.h" /* cuda_session_fused, cuda_session_samples, cuda_session_ahead, cuda_model_glu_gemm, cuda_model_rope_gemm */

static hrt_model *open_on(const char *path, int backend, int precision)
{
    hrt_model_params mp = hrt_model_default_params();
    mp.backend = backend;
    mp.precision = precision;
    hrt_model *m = NULL;
    CHECK_STATUS(hrt_model_open(path, &mp, &m), 0);
    return m;
}

static void check_set(const char *path, const cJSON *prompts, int add_special, double tight, double loose,
                      int loose_greedy, const char *label)
{
    const int prec[2] = {HRT_PRECISION_F32, HRT_PRECISION_DEFAULT};
    for (int k = 0; k < 2; k++) {
        hrt_model *m = open_on(path, HRT_BACKEND_CUDA, prec[k]);
        if (!m) continue;
        hrt_model_info info;
        hrt_model_info_get(m, &info);
        CHECK(!strcmp(info.backend, "cuda"));
        double tol = k == 0 ? tight : loose;
        golden_report r = golden_check(m, prompts, tol, add_special);
        char l[160];
        snprintf(l, sizeof l, "cuda %s %s", label, k == 0 ? "f32" : "default");
        golden_print(l, &r, tol);
        CHECK_MSG(r.n_bad == 0, "%s: %d logits beyond %.0e", l, r.n_bad, tol);
        for (int i = 0; i < r.n_prompts; i++)
            CHECK_MSG(r.diverged[i] < 0 || (k == 1 && r.diverged[i] >= loose_greedy), "%s: prompt %d diverges at %d",
                      l, i, r.diverged[i]);
        hrt_model_free(m);
    }
}

static void test_tiny(void)
{
    cJSON *g = golden_load("tiny_decoders.json");
    if (!g) return;
    const cJSON *mod;
    cJSON_ArrayForEach(mod, cJSON_GetObjectItem(g, "models"))
    {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/golden/%s", HRT_SOURCE_DIR, cJSON_GetObjectItem(mod, "dir")->valuestring);
        check_set(dir, cJSON_GetObjectItem(mod, "prompts"), 0, 1e-4, 5e-2, 4,
                  cJSON_GetObjectItem(mod, "dir")->valuestring);
    }
    cJSON_Delete(g);
}

/* CUDA and CPU (both exact) pick the same greedy tokens on their own. */
static void test_vs_cpu(const char *path, const char *const prompts[2])
{
    hrt_model *gm = open_on(path, HRT_BACKEND_CUDA, HRT_PRECISION_F32);
    hrt_model *cm = open_on(path, HRT_BACKEND_CPU, HRT_PRECISION_F32);
    if (!gm || !cm) goto done;
    for (int p = 0; p < 2; p++) {
        char *a = NULL, *b = NULL;
        hrt_session *sa = NULL, *sb = NULL;
        hrt_session_open(gm, NULL, &sa);
        hrt_session_open(cm, NULL, &sb);
        hrt_generate_params gp = hrt_generate_default_params();
        gp.max_tokens = 48;
        CHECK_STATUS(hrt_generate(sa, prompts[p], strlen(prompts[p]), &gp, &a, NULL), 0);
        CHECK_STATUS(hrt_generate(sb, prompts[p], strlen(prompts[p]), &gp, &b, NULL), 0);
        CHECK_MSG(a && b && !strcmp(a, b), "CUDA and CPU continuations differ:\n%s\n---\n%s", a ? a : "", b ? b : "");
        hrt_free(a);
        hrt_free(b);
        hrt_session_free(sa);
        hrt_session_free(sb);
    }
done:
    hrt_model_free(gm);
    hrt_model_free(cm);
}

/* A chat model of models/ against its HF golden (stem_logits_hf.json), then
 * against the CPU on two prompts; 0 when the model is absent (said). */
static int check_chat_model(const char *file, const char *stem, double tight, const char *chat_prompt, char *path,
                            size_t cap)
{
    snprintf(path, cap, "%s/models/%s", HRT_SOURCE_DIR, file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("%s absent: its checks are not run\n", file);
        return 0;
    }
    fclose(f);
    char golden[128];
    snprintf(golden, sizeof golden, "%s_logits_hf.json", stem);
    cJSON *g = golden_load(golden);
    if (g) check_set(path, cJSON_GetObjectItem(g, "prompts"), 1, tight, 5e-2, 8, stem);
    cJSON_Delete(g);
    const char *prompts[2] = {"The history of computing", chat_prompt};
    test_vs_cpu(path, prompts);
    return 1;
}

static void test_smollm2(void)
{
    char path[1024];
    if (!check_chat_model("smollm2-135m-instruct-q4_1.gguf", "smollm2", 1e-3,
                          "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n", path, sizeof path))
        return;
    hrt_model *m = open_on(path, HRT_BACKEND_AUTO, HRT_PRECISION_DEFAULT);
    if (m) {
        hrt_model_info info;
        hrt_model_info_get(m, &info);
        printf("auto backend: %s; %s\n", info.backend, info.device);
        CHECK(!strcmp(info.backend, "cuda"));
        hrt_session *s = NULL;
        hrt_session_open(m, NULL, &s);
        hrt_chat_msg msg = {"user", "What is the capital of France?"};
        char prompt[512];
        hrt_chat_render(m, &msg, 1, 1, prompt, sizeof prompt);
        hrt_generate_params gp = hrt_generate_default_params();
        gp.max_tokens = 24;
        char *text = NULL;
        CHECK_STATUS(hrt_generate(s, prompt, strlen(prompt), &gp, &text, NULL), 0);
        printf("answer on the GPU: %s\n", text ? text : "");
        CHECK(text && strstr(text, "Paris"));
        hrt_free(text);
        hrt_session_free(s);
        hrt_model_free(m);
    }
}

static void test_gemma3(void)
{
    char path[1024];
    /* 1e-4: a sliding window one key off moves these logits by 7.6e-4 */
    check_chat_model("gemma-3-270m-q4_k_m.gguf", "gemma3", 1e-4,
                     "<start_of_turn>user\nName three colours.<end_of_turn>\n<start_of_turn>model\n", path, sizeof path);
}

static void embed_on_gpu(const char *dir, const char *golden, double min_cos)
{
    cJSON *g = golden_load(golden);
    hrt_model *m = open_on(dir, HRT_BACKEND_CUDA, HRT_PRECISION_DEFAULT);
    if (g && m) {
        int bad_ids = 0;
        double worst = embed_check(m, cJSON_GetObjectItem(g, "sentences"), &bad_ids);
        printf("embeddings on the GPU, %s: lowest cosine %.6f\n", golden, worst);
        CHECK_MSG(worst >= min_cos, "%s on the GPU: lowest cosine %.6f", golden, worst);
        CHECK(bad_ids == 0);
    }
    hrt_model_free(m);
    cJSON_Delete(g);
}

static void test_embed(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/tiny/bert", HRT_SOURCE_DIR);
    embed_on_gpu(dir, "tiny_bert.json", 0.99999);
    snprintf(dir, sizeof dir, "%s/models/all-minilm-l6-v2/model.safetensors", HRT_SOURCE_DIR);
    FILE *f = fopen(dir, "rb");
    if (!f) {
        printf("all-MiniLM-L6-v2 absent: its GPU embedding check is not run\n");
        return;
    }
    fclose(f);
    snprintf(dir, sizeof dir, "%s/models/all-minilm-l6-v2", HRT_SOURCE_DIR);
    embed_on_gpu(dir, "minilm_embed.json", 0.999);
}

/* SmolLM2-135M-Instruct Q4_1's path in models/ into dir (1024 bytes), or
 * 0 with a line saying which checks (what) are not run without it. */
static int smollm2_at(char *dir, const char *what)
{
    snprintf(dir, 1024, "%s/models/smollm2-135m-instruct-q4_1.gguf", HRT_SOURCE_DIR);
    FILE *f = fopen(dir, "rb");
    if (!f) {
        printf("smollm2 absent: its %s are not run\n", what);
        return 0;
    }
    fclose(f);
    return 1;
}

static int decodes_fused(hrt_model *m)
{
    hrt_model_info info;
    hrt_model_info_get(m, &info);
    return strstr(info.device, "persistent") != NULL;
}

static double max_abs(const float *x, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

static double max_abs_diff(const float *a, const float *b, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > m) m = fabs(a[i] - b[i]);
    return m;
}

/* n_steps steps after an n_prompt-token prompt (ids spread over the
 * vocabulary), mostly greedy, on three sessions of one model: a and b decode with the
 * persistent kernel, o with the per-operation kernels. b alternates the
 * logits and the argmax entry points; a and b see the same tokens and are
 * stepped in turn, so their logits must be equal bit for bit. grid > 0: a
 * and b on that many blocks (HRT_DECODE_GRID), so that a block loops over
 * several attention splits, Wo items and rows. */
static void test_fused_on(const char *path, const char *label, int n_prompt, int n_steps, double tol, int grid)
{
    hrt_model *m = open_on(path, HRT_BACKEND_CUDA, HRT_PRECISION_DEFAULT);
    if (!m) return;
    hrt_model_info info;
    hrt_model_info_get(m, &info);
    CHECK_MSG(decodes_fused(m), "%s: %s", label, info.device);
    int nv = info.n_vocab;
    hrt_session_params sp = hrt_session_default_params();
    sp.n_ctx = n_prompt + n_steps + 8;
    hrt_session *a = NULL, *b = NULL, *o = NULL;
    setenv("HRT_CUDA_FUSED", "0", 1);
    CHECK_STATUS(hrt_session_open(m, &sp, &o), 0);
    unsetenv("HRT_CUDA_FUSED");
    char gv[16];
    snprintf(gv, sizeof gv, "%d", grid);
    if (grid > 0) setenv("HRT_DECODE_GRID", gv, 1);
    CHECK_STATUS(hrt_session_open(m, &sp, &a), 0);
    CHECK_STATUS(hrt_session_open(m, &sp, &b), 0);
    unsetenv("HRT_DECODE_GRID");
    float *la = malloc((size_t)nv * sizeof *la), *lb = malloc((size_t)nv * sizeof *lb),
          *lo = malloc((size_t)nv * sizeof *lo);
    int32_t *ids = malloc((size_t)n_prompt * sizeof *ids);
    if (!a || !b || !o || !la || !lb || !lo || !ids) {
        CHECK(0);
        goto done;
    }
    for (int i = 0; i < n_prompt; i++) ids[i] = (int32_t)((i * 7919L + 13) % nv);
    CHECK_STATUS(hrt_session_eval(a, ids, (size_t)n_prompt, la), 0);
    CHECK_STATUS(hrt_session_eval(b, ids, (size_t)n_prompt, lb), 0);
    CHECK_STATUS(hrt_session_eval(o, ids, (size_t)n_prompt, lo), 0);
    double worst = 0;
    int bitwise = 0, same_tok = 0, argmax_ok = 0;
    for (int t = 0; t < n_steps; t++) {
        /* mostly the last argmax (the persistent step holds it as its next
         * input), every seventh step another token (copied in) */
        int32_t tok = golden_argmax(la, nv), next = -1;
        if (t % 7 == 3) tok = (tok + 1) % nv;
        if (hrt_session_eval(a, &tok, 1, la) || hrt_session_eval(o, &tok, 1, lo)) {
            CHECK_MSG(0, "%s: step %d failed: %s", label, t, hrt_last_error());
            break;
        }
        if (t % 2 == 0) {
            CHECK_STATUS(hrt_session_eval(b, &tok, 1, lb), 0);
            bitwise += !memcmp(la, lb, (size_t)nv * sizeof *la);
        } else {
            CHECK_STATUS(hrt_session_eval_argmax(b, &tok, 1, &next), 0);
            argmax_ok += next == golden_argmax(la, nv);
        }
        double big = max_abs(lo, nv), diff = max_abs_diff(la, lo, nv);
        if (diff / big > worst) worst = diff / big;
        /* the same greedy token, or a near tie (the sums' order differs) */
        int ta = golden_argmax(la, nv), to = golden_argmax(lo, nv);
        same_tok += ta == to || fabs(lo[ta] - lo[to]) <= tol * big;
    }
    printf("%s, persistent%s%s%s vs per-operation: %d-token prompt, %d steps: worst logit difference %.2e of the "
           "largest; %d/%d greedy tokens agree; %d/%d steps bitwise equal across sessions; argmax %d/%d\n",
           label, grid > 0 ? " on " : "", grid > 0 ? gv : "", grid > 0 ? " block(s)" : "", n_prompt, n_steps, worst,
           same_tok, n_steps, bitwise, (n_steps + 1) / 2, argmax_ok, n_steps / 2);
    CHECK_MSG(worst <= tol, "%s: persistent and per-operation logits differ by %.2e of the largest", label, worst);
    CHECK(same_tok == n_steps);
    CHECK(bitwise == (n_steps + 1) / 2);
    CHECK(argmax_ok == n_steps / 2);
    /* and the sessions did run as labelled (the persistent step is skipped
     * when a block does not fit on a multiprocessor) */
    CHECK_MSG(cuda_session_fused(a) && cuda_session_fused(b) && !cuda_session_fused(o),
              "%s: sessions a/b/o persistent on %d/%d/%d blocks", label, cuda_session_fused(a), cuda_session_fused(b),
              cuda_session_fused(o));
    int sms = 0;
    if (grid > 0 && cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) == cudaSuccess && grid < sms)
        CHECK_MSG(cuda_session_fused(a) == grid && cuda_session_fused(b) == grid, "%s: %d blocks asked, %d/%d run",
                  label, grid, cuda_session_fused(a), cuda_session_fused(b));
done:
    free(la);
    free(lb);
    free(lo);
    free(ids);
    hrt_session_free(a);
    hrt_session_free(b);
    hrt_session_free(o);
    hrt_model_free(m);
}

static void test_fused(const char *path, const char *label, int n_prompt, int n_steps, double tol)
{
    test_fused_on(path, label, n_prompt, n_steps, tol, 0);
}

/* Greedy tokens of one session, for the threads below. */
typedef struct {
    hrt_model *m;
    int32_t out[48];
    int st;
} greedy_job;

static void *greedy_run(void *arg)
{
    greedy_job *j = arg;
    hrt_session *s = NULL;
    j->st = hrt_session_open(j->m, NULL, &s);
    int32_t tok = 5, ids[4] = {5, 6, 7, 8};
    if (!j->st) j->st = hrt_session_eval_argmax(s, ids, 4, &tok);
    for (int i = 0; i < 48 && !j->st; i++) {
        j->out[i] = tok;
        j->st = hrt_session_eval_argmax(s, &tok, 1, &tok);
    }
    hrt_session_free(s);
    return NULL;
}

/* Two sessions decoding at once from two threads (two cooperative grids
 * that each want every multiprocessor): both finish, with the tokens of a
 * session run alone. */
static void test_fused_threads(const char *path)
{
    hrt_model *m = open_on(path, HRT_BACKEND_CUDA, HRT_PRECISION_DEFAULT);
    if (!m) return;
    greedy_job alone = {.m = m}, j[2] = {{.m = m}, {.m = m}};
    greedy_run(&alone);
    CHECK_STATUS(alone.st, 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, greedy_run, &j[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK_STATUS(j[i].st, 0);
        CHECK_MSG(!memcmp(j[i].out, alone.out, sizeof alone.out), "thread %d's tokens differ from a lone session's", i);
    }
    printf("two sessions decoding at once from two threads: %s\n",
           !memcmp(j[0].out, alone.out, sizeof alone.out) && !memcmp(j[1].out, alone.out, sizeof alone.out)
               ? "both as a lone session" : "DIFFERENT");
    hrt_model_free(m);
}

static void test_fused_all(void)
{
    char dir[1024];
    const char *tiny[] = {"llama", "qwen2"};
    for (int i = 0; i < 2; i++) {
        snprintf(dir, sizeof dir, "%s/tests/golden/tiny/%s", HRT_SOURCE_DIR, tiny[i]);
        test_fused(dir, tiny[i], 5, 100, 1e-4);
        /* 1 block: two KV groups' Wo items, every split and row on it; 3: an idle block */
        test_fused_on(dir, tiny[i], 5, 40, 1e-4, i == 0 ? 1 : 3);
    }
    /* the random-weight models of bench/make_shaped_models.py, in
     * HRT_TEST_SHAPED (scripts/gpu-check.sh sets it): rows of several of the
     * ring's batches (f32 rows of 512, fp16 and bf16 down rows, 0.5B's rows
     * of 896 and 4,864) and several gate/up rows a warp, at full width;
     * heads of 128 dimensions */
    const char *shaped = getenv("HRT_TEST_SHAPED"),
               *wide[] = {"wide-f16", "wide-f32", "smollm2-shape", "qwen05-shape", "wide-hd128"};
    for (size_t i = 0; shaped && i < sizeof wide / sizeof *wide; i++) {
        snprintf(dir, sizeof dir, "%s/%s", shaped, wide[i]);
        test_fused(dir, wide[i], 7, 40, 1e-4);
    }
    if (shaped) { /* SmolLM2's three KV groups on two blocks */
        snprintf(dir, sizeof dir, "%s/smollm2-shape", shaped);
        test_fused_on(dir, "smollm2-shape", 7, 12, 1e-4, 2);
        /* one block merging all 448 columns of each of the 0.5B shape's two groups, more than its threads */
        snprintf(dir, sizeof dir, "%s/qwen05-shape", shaped);
        test_fused_on(dir, "qwen05-shape", 7, 12, 1e-4, 1);
        /* past 1,056 keys, a KV group's 66 attention splits (on 132 blocks): more than a warp's lanes */
        test_fused(dir, "qwen05-shape long", 1100, 8, 1e-4);
        /* one KV group: 100 splits and more (on 132 blocks) */
        snprintf(dir, sizeof dir, "%s/wide-hd128", shaped);
        test_fused(dir, "wide-hd128 long", 1600, 8, 1e-4);
        /* the LM head's row pairs, an odd vocabulary's last row read twice, 64 pairs a warp */
        snprintf(dir, sizeof dir, "%s/wide-f32", shaped);
        hrt_model *m = open_on(dir, HRT_BACKEND_CUDA, HRT_PRECISION_DEFAULT);
        if (m) {
            hrt_model_info info;
            hrt_model_info_get(m, &info);
            CHECK_MSG(info.n_vocab % 2, "wide-f32's vocabulary is even (%d): made before it was odd?", info.n_vocab);
            hrt_model_free(m);
        }
        test_fused_on(dir, "wide-f32", 7, 12, 1e-4, 1);
    }
    if (!shaped) printf("HRT_TEST_SHAPED unset: the shaped models' persistent-step checks are not run\n");
    /* the step's kernel for any mix of weight layouts, on models of one
     * (HRT_DECODE_ANY_LAYOUT), on 3 blocks and on all */
    setenv("HRT_DECODE_ANY_LAYOUT", "1", 1);
    snprintf(dir, sizeof dir, "%s/tests/golden/tiny/llama", HRT_SOURCE_DIR);
    test_fused_on(dir, "llama, the kernel for any layout", 5, 40, 1e-4, 3);
    if (shaped) {
        snprintf(dir, sizeof dir, "%s/smollm2-shape", shaped);
        test_fused(dir, "smollm2-shape, the kernel for any layout", 7, 40, 1e-4);
    }
    unsetenv("HRT_DECODE_ANY_LAYOUT");
    snprintf(dir, sizeof dir, "%s/tests/golden/tiny/qwen2", HRT_SOURCE_DIR);
    test_fused_threads(dir);
    snprintf(dir, sizeof dir, "%s/tests/golden/tiny/qwen3", HRT_SOURCE_DIR);
    hrt_model *m = open_on(dir, HRT_BACKEND_CUDA, HRT_PRECISION_DEFAULT);
    if (m) CHECK_MSG(!decodes_fused(m), "qwen3 (Q/K norms) claims the persistent step");
    hrt_model_free(m);
    snprintf(dir, sizeof dir, "%s/models/gemma-3-270m-q4_k_m.gguf", HRT_SOURCE_DIR);
    FILE *f = fopen(dir, "rb");
    if (f) {
        fclose(f);
        m = open_on(dir, HRT_BACKEND_CUDA, HRT_PRECISION_DEFAULT);
        if (m) CHECK_MSG(!decodes_fused(m), "Gemma 3 (sliding windows) claims the persistent step");
        hrt_model_free(m);
    }
    if (!smollm2_at(dir, "persistent-step checks")) return;
    test_fused(dir, "smollm2", 7, 64, 1e-3);
    test_fused(dir, "smollm2 long", 1100, 16, 1e-3);
    setenv("HRT_DECODE_ANY_LAYOUT", "1", 1);
    test_fused(dir, "smollm2, the kernel for any layout", 7, 64, 1e-3);
    unsetenv("HRT_DECODE_ANY_LAYOUT");
}

/* Stops a generation at its stop_at-th token (the token callback). */
typedef struct {
    int n, stop_at;
} stop_after_state;

static int stop_after(const char *piece, size_t len, int32_t id, void *user_data)
{
    (void)piece, (void)len, (void)id;
    stop_after_state *c = user_data;
    return ++c->n >= c->stop_at;
}

/* Two greedy generations on one fresh session (the second of the same
 * prompt, the first's prefix kept): their texts, token counts and stop
 * reasons into t[2], n[2] and why[2]; *ahead the steps enqueued ahead. */
static void two_generations(hrt_model *m, const char *prompt, const hrt_generate_params *gp, char *t[2], int n[2],
                            int why[2], long *ahead)
{
    hrt_session *s = NULL;
    CHECK_STATUS(hrt_session_open(m, NULL, &s), 0);
    stop_after_state cb = {0, 0};
    hrt_generate_params p = *gp;
    if (p.on_token) cb.stop_at = *(const int *)p.user_data, p.user_data = &cb;
    for (int k = 0; k < 2; k++) {
        hrt_usage u = {0};
        t[k] = NULL;
        cb.n = 0;
        if (s) CHECK_STATUS(hrt_generate(s, prompt, strlen(prompt), &p, &t[k], &u), 0);
        n[k] = u.generated_tokens, why[k] = u.stop_reason;
    }
    *ahead = cuda_session_ahead(s);
    hrt_session_free(s);
}

/* Generation with each step enqueued before the one before is back (the
 * default on the persistent step) against one step at a time
 * (HRT_DECODE_AHEAD=0): the same texts, token counts and stop reasons when
 * it stops on its length, on the token callback and on a stop string (the
 * step enqueued for the next token then goes unused), and in a second
 * generation on the same session after each; greedy, sampled on the
 * device at temperature 0.8 (cases 3 and 4), greedy after DRY (the agent's
 * default, case 5) and sampled after the repetition penalty and DRY (case
 * 6), whose penalties read ids that only the device held when the step
 * was enqueued. */
static void test_ahead_on(const char *path, const char *label)
{
    hrt_model *m = open_on(path, HRT_BACKEND_CUDA, HRT_PRECISION_DEFAULT);
    if (!m) return;
    CHECK_MSG(decodes_fused(m), "%s: no persistent step", label);
    const char *prompt = "The history of computing is long";
    char stop[8] = "";
    const char *stops[1] = {stop};
    int stop_at = 7;
    for (int c = 0; c < 7; c++) {
        hrt_generate_params gp = hrt_generate_default_params();
        gp.max_tokens = 30;
        if (c == 3 || c == 4 || c == 6) gp.sampling.temperature = 0.8f, gp.sampling.seed = 1234 + c;
        if (c >= 5) gp.sampling.dry_multiplier = 0.8f;
        if (c == 6) gp.sampling.repeat_penalty = 1.1f;
        if (c == 1 || c == 4) gp.on_token = stop_after, gp.user_data = &stop_at;
        if (c == 2) gp.stop = stops, gp.n_stop = 1;
        char *ta[2], *tb[2];
        int na[2], nb[2], wa[2], wb[2];
        long ahead_a = 0, ahead_b = 0;
        two_generations(m, prompt, &gp, ta, na, wa, &ahead_a);
        setenv("HRT_DECODE_AHEAD", "0", 1);
        two_generations(m, prompt, &gp, tb, nb, wb, &ahead_b);
        unsetenv("HRT_DECODE_AHEAD");
        for (int k = 0; k < 2; k++)
            CHECK_MSG(ta[k] && tb[k] && !strcmp(ta[k], tb[k]) && na[k] == nb[k] && wa[k] == wb[k],
                      "%s, case %d, generation %d: ahead %d tokens (stop %d) \"%s\", one at a time %d (stop %d) \"%s\"",
                      label, c, k, na[k], wa[k], ta[k] ? ta[k] : "", nb[k], wb[k], tb[k] ? tb[k] : "");
        CHECK_MSG(ahead_a >= na[0] + na[1] - 2 && ahead_b == 0, "%s, case %d: %ld and %ld steps enqueued ahead for %d tokens",
                  label, c, ahead_a, ahead_b, na[0] + na[1]);
        printf("%s, case %d: %d and %d tokens, stop reasons %d and %d, %ld steps enqueued ahead\n", label, c, na[0], na[1],
               wa[0], wa[1], ahead_a);
        if (c == 0 && tb[0]) { /* a stop string from the middle of this text for case 2 */
            size_t len = strlen(tb[0]);
            snprintf(stop, sizeof stop, "%.3s", tb[0] + len / 2);
        }
        for (int k = 0; k < 2; k++) hrt_free(ta[k]), hrt_free(tb[k]);
    }
    hrt_model_free(m);
}

static void test_ahead(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/tiny/qwen2", HRT_SOURCE_DIR);
    test_ahead_on(dir, "qwen2");
    const char *shaped = getenv("HRT_TEST_SHAPED");
    if (shaped) {
        snprintf(dir, sizeof dir, "%s/smollm2-shape", shaped);
        test_ahead_on(dir, "smollm2-shape");
    }
    if (smollm2_at(dir, "checks of steps enqueued ahead")) test_ahead_on(dir, "smollm2");
}

/* A prompt longer than a micro-batch (2,048 tokens): one call of 2,100
 * tokens (micro-batches of 2,048 and 52, the first leaving no logits)
 * against two calls of 1,050 (one micro-batch each) on the GPU, and against
 * the CPU backend; tiny Llama (f32 prompt products and attention) and tiny
 * Qwen2 (bf16 products, tensor-core attention). The f32 path gives each
 * query the same sums however the prompt is cut: within 1e-3 of the
 * largest logit. So does the tensor-core attention with its long query
 * blocks kept whole (HRT_CUDA_ATTN_SPLIT=0); by default it splits them
 * between two thread blocks where the device has room, which blocks
 * depends on the cut, and Qwen2's logits then move by the bf16 rounding of
 * activations (1.5e-3 of the largest on an H100): 1e-2 there. */
/* The last logits of n tokens given in one call (la) and in two (lb), in
 * fresh sessions of gm; 0 or the failing status. */
static int one_call_and_two(hrt_model *gm, const hrt_session_params *sp, const int32_t *ids, int n, float *la,
                            float *lb)
{
    hrt_session *a = NULL, *b = NULL;
    int st = hrt_session_open(gm, sp, &a);
    if (!st) st = hrt_session_open(gm, sp, &b);
    if (!st) st = hrt_session_eval(a, ids, n, la);
    if (!st) st = hrt_session_eval(b, ids, n / 2, lb);
    if (!st) st = hrt_session_eval(b, ids + n / 2, n - n / 2, lb);
    hrt_session_free(a);
    hrt_session_free(b);
    return st;
}

static void test_long_prompt(void)
{
    enum { N = 2100 };
    const char *tiny[] = {"llama", "qwen2"};
    for (int i = 0; i < 2; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/golden/tiny/%s", HRT_SOURCE_DIR, tiny[i]);
        hrt_model *gm = open_on(dir, HRT_BACKEND_CUDA, HRT_PRECISION_DEFAULT);
        hrt_model *cm = open_on(dir, HRT_BACKEND_CPU, HRT_PRECISION_F32);
        hrt_session *c = NULL;
        hrt_session_params sp = hrt_session_default_params();
        sp.n_ctx = N + 8;
        if (!gm || !cm || hrt_session_open(cm, &sp, &c)) {
            CHECK(0);
            goto done;
        }
        hrt_model_info info;
        hrt_model_info_get(gm, &info);
        int nv = info.n_vocab;
        int32_t ids[N];
        for (int t = 0; t < N; t++) ids[t] = (int32_t)((t * 7919L + 13) % nv);
        float *la = malloc((size_t)nv * sizeof *la), *lb = malloc((size_t)nv * sizeof *lb),
              *lc = malloc((size_t)nv * sizeof *lc);
        CHECK_STATUS(hrt_session_eval(c, ids, N, lc), 0);
        double big = max_abs(lc, nv);
        /* Qwen2 twice: long query blocks kept whole, then split as by default */
        for (int split = 0; split < 1 + i; split++) {
            if (i == 1 && !split) setenv("HRT_CUDA_ATTN_SPLIT", "0", 1);
            CHECK_STATUS(one_call_and_two(gm, &sp, ids, N, la, lb), 0);
            unsetenv("HRT_CUDA_ATTN_SPLIT");
            double d_ab = max_abs_diff(la, lb, nv), d_ac = max_abs_diff(la, lc, nv), tol_ab = split ? 1e-2 : 1e-3;
            printf("%s%s, a %d-token prompt: one call vs two %.2e, vs the CPU %.2e of the largest logit\n", tiny[i],
                   i == 0 ? "" : split ? " (default)" : " (query blocks whole)", N, d_ab / big, d_ac / big);
            CHECK_MSG(d_ab <= tol_ab * big, "%s: %d tokens in one call and in two differ by %.2e", tiny[i], N,
                      d_ab / big);
            CHECK_MSG(d_ac <= 5e-2 * big, "%s: %d tokens on the GPU and the CPU differ by %.2e", tiny[i], N,
                      d_ac / big);
        }
        if (i == 1) { /* with the prompt products' plans, each taking cuBLASLt's fastest algorithm
                       * (HRT_CUDA_GEMM_TUNE=2): other kernels may sum in another order, so the
                       * default's bound (this model's inner sizes, 64 and 96, leave nothing to
                       * reorder: the same bits on the H100) */
            setenv("HRT_CUDA_GEMM_TUNE", "2", 1);
            hrt_model *tm = open_on(dir, HRT_BACKEND_CUDA, HRT_PRECISION_DEFAULT);
            unsetenv("HRT_CUDA_GEMM_TUNE");
            float *lt = malloc((size_t)nv * sizeof *lt);
            CHECK(tm != NULL);
            if (tm) {
                CHECK_STATUS(one_call_and_two(tm, &sp, ids, N, lt, lb), 0);
                int plans, on_lt;
                long lt_runs, fallbacks;
                cuda_model_gemm_plans(tm, &plans, &on_lt, &lt_runs, &fallbacks);
                printf("%s with cuBLASLt's GEMM plans: %d plans, %d on cuBLASLt, %ld products by it, %ld fallbacks\n",
                       tiny[i], plans, on_lt, lt_runs, fallbacks);
                CHECK_MSG(plans > 0 && on_lt == plans && lt_runs > 0 && fallbacks == 0,
                          "%s: the plans did not run (%d plans, %d on cuBLASLt, %ld runs, %ld fallbacks)", tiny[i],
                          plans, on_lt, lt_runs, fallbacks);
                hrt_model_info ti, gi; /* hrt info says so, and only then */
                hrt_model_info_get(tm, &ti);
                hrt_model_info_get(gm, &gi);
                CHECK_MSG(strstr(ti.device, "cuBLASLt plans") && !strstr(gi.device, "cuBLASLt plans"),
                          "the device descriptions: \"%s\", \"%s\"", ti.device, gi.device);
                double d_tb = max_abs_diff(lt, lb, nv), d_ta = max_abs_diff(lt, la, nv), d_tc = max_abs_diff(lt, lc, nv);
                printf("%s with cuBLASLt's GEMM plans, a %d-token prompt: one call vs two %.2e, "
                       "vs without the plans %.2e, vs the CPU %.2e of the largest logit\n", tiny[i], N, d_tb / big,
                       d_ta / big, d_tc / big);
                CHECK_MSG(d_tb <= 1e-2 * big && d_ta <= 1e-2 * big && d_tc <= 5e-2 * big,
                          "%s with cuBLASLt's GEMM plans: %.2e, %.2e, %.2e", tiny[i], d_tb / big, d_ta / big, d_tc / big);
            }
            free(lt);
            hrt_model_free(tm);
            int plans, on_lt;
            long lt_runs, fallbacks;
            cuda_model_gemm_plans(gm, &plans, &on_lt, &lt_runs, &fallbacks); /* by default: none */
            CHECK_MSG(plans == 0 && lt_runs == 0, "%s: %d plans without HRT_CUDA_GEMM_TUNE", tiny[i], plans);
        }
        free(la);
        free(lb);
        free(lc);
    done:
        hrt_session_free(c);
        hrt_model_free(gm);
        hrt_model_free(cm);
    }
}

/* A prompt's layer parts that Hopper runs as one kernel of hrt's own, each
 * with the switch that turns it off, the phrase hrt info gives it, and
 * the two-step path it replaces. */
typedef struct {
    const char *env, *phrase, *what;
    int (*used)(const hrt_model *);
    double apart; /* how far the two paths' logits may be, of the largest */
} one_kernel;
/* the GLU's two-step path stores gate and up in bf16 between its kernels:
 * 1.21e-2 seen on Qwen2.5-0.5B's random-weight shape (H100) */
static const one_kernel GLU_ONE = {"HRT_CUDA_GLU_GEMM", "one kernel with the GLU",
                                   "gate/up/GLU in one kernel vs cuBLAS + the GLU kernel", cuda_model_glu_gemm, 2e-2};
/* both RoPE paths keep f32 through the rotation and round the same values
 * once: the same bits on the H100, where cuBLAS's sums came out in the same
 * order as the kernel's. A cuBLAS that sums in another order changes last
 * bits of f32 values, which can flip some of the later layers' 16-bit
 * roundings: 5e-3, under the GLU's 2e-2, which rounds every gate and up
 * value differently */
static const one_kernel ROPE_ONE = {"HRT_CUDA_ROPE_GEMM", "one kernel with RoPE",
                                    "Q/K/V/RoPE/stores in one kernel vs cuBLAS + the RoPE kernel", cuda_model_rope_gemm,
                                    5e-3};

/* One of those kernels (k) against its two-step path (its switch at 0)
 * and both against the CPU at f32, on a model whose shapes it takes
 * (expect; else it must be unused): the last logits of a 256-token prompt
 * fed in two calls, so that the second starts at position 128. The two GPU
 * paths within k->apart of the largest logit of each other, each within
 * 5e-2 of the CPU's, as test_long_prompt allows; the same greedy token or a
 * near tie.
 * On a 9.0 device with the sm_90a build the one kernel must be the
 * default. */
static void test_one_kernel_on(const one_kernel *k, const char *path, const char *label, int expect)
{
    enum { N = 256, FIRST = 128 };
    setenv(k->env, "0", 1);
    hrt_model *off = open_on(path, HRT_BACKEND_CUDA, HRT_PRECISION_DEFAULT);
    unsetenv(k->env);
    hrt_model *on = open_on(path, HRT_BACKEND_CUDA, HRT_PRECISION_DEFAULT), *cpu = NULL;
    if (!off || !on) goto done;
    struct cudaDeviceProp p;
    CHECK(cudaGetDeviceProperties(&p, 0) == cudaSuccess);
    hrt_model_info info, off_info;
    hrt_model_info_get(on, &info);
    hrt_model_info_get(off, &off_info);
#ifdef HRT_CUDA_SM90A
    CHECK_MSG(k->used(on) == (expect && p.major == 9 && p.minor == 0), "%s: %s %d on sm_%d%d", label, k->phrase,
              k->used(on), p.major, p.minor);
#endif
    CHECK_MSG(!k->used(off) && !strstr(off_info.device, k->phrase), "%s: %s=0 ignored", label, k->env);
    CHECK_MSG(!!strstr(info.device, k->phrase) == k->used(on), "%s: %s", label, info.device);
    if (!k->used(on)) {
        printf("%s: %s is not used with this model or device; its comparison is not run\n", label, k->phrase);
        goto done;
    }
    if (!(cpu = open_on(path, HRT_BACKEND_CPU, HRT_PRECISION_F32))) goto done;
    int nv = info.n_vocab;
    hrt_session_params sp = hrt_session_default_params();
    sp.n_ctx = N + 8;
    hrt_session *ss[3] = {NULL, NULL, NULL};
    hrt_model *ms[3] = {on, off, cpu};
    float *l[3];
    int32_t *ids = malloc(N * sizeof *ids);
    for (int t = 0; t < N; t++) ids[t] = (int32_t)((t * 7919L + 13) % nv);
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        l[i] = malloc((size_t)nv * sizeof *l[i]);
        CHECK_STATUS(hrt_session_open(ms[i], &sp, &ss[i]), 0);
        ok &= ss[i] && hrt_session_eval(ss[i], ids, FIRST, NULL) == 0 &&
              hrt_session_eval(ss[i], ids + FIRST, N - FIRST, l[i]) == 0;
    }
    CHECK_MSG(ok, "%s: a prompt in two calls failed", label);
    if (ok) {
        const float *la = l[0], *lb = l[1], *lc = l[2];
        double big = max_abs(lc, nv), d_ab = max_abs_diff(la, lb, nv) / big, d_ac = max_abs_diff(la, lc, nv) / big,
               d_bc = max_abs_diff(lb, lc, nv) / big;
        int ta = golden_argmax(la, nv), tb = golden_argmax(lb, nv), tc = golden_argmax(lc, nv);
        printf("%s, a %d-token prompt in two calls, of the largest logit: %s %.2e; vs the CPU (f32) %.2e and %.2e; "
               "greedy tokens %d, %d, CPU %d\n",
               label, N, k->what, d_ab, d_ac, d_bc, ta, tb, tc);
        CHECK_MSG(d_ab <= k->apart && d_ac <= 5e-2 && d_bc <= 5e-2, "%s: %.2e, %.2e, %.2e", label, d_ab, d_ac, d_bc);
        CHECK_MSG(ta == tc || fabs(lc[ta] - lc[tc]) <= 1e-2 * big, "%s: greedy tokens %d and the CPU's %d", label, ta,
                  tc);
    }
    for (int i = 0; i < 3; i++) {
        hrt_session_free(ss[i]);
        free(l[i]);
    }
    free(ids);
done:
    hrt_model_free(off);
    hrt_model_free(on);
    hrt_model_free(cpu);
}

/* The shaped models (HRT_TEST_SHAPED) and the chat models that are there;
 * Gemma 3 (GeGLU, post-norms after the products) has Q/K norms between
 * its Q/K products and RoPE, which the RoPE kernel leaves to the two-step
 * path. */
static void test_one_kernels(void)
{
    char dir[1024];
    const char *shaped = getenv("HRT_TEST_SHAPED"), *names[] = {"smollm2-shape", "qwen05-shape"};
    for (size_t i = 0; shaped && i < sizeof names / sizeof *names; i++) {
        snprintf(dir, sizeof dir, "%s/%s", shaped, names[i]);
        test_one_kernel_on(&GLU_ONE, dir, names[i], 1);
        test_one_kernel_on(&ROPE_ONE, dir, names[i], 1);
    }
    const char *chat[][2] = {{"smollm2-135m-instruct-q4_1.gguf", "smollm2"}, {"gemma-3-270m-q4_k_m.gguf", "gemma3"}};
    for (int i = 0; i < 2; i++) {
        snprintf(dir, sizeof dir, "%s/models/%s", HRT_SOURCE_DIR, chat[i][0]);
        FILE *f = fopen(dir, "rb");
        if (!f) continue;
        fclose(f);
        test_one_kernel_on(&GLU_ONE, dir, chat[i][1], 1);
        test_one_kernel_on(&ROPE_ONE, dir, chat[i][1], i == 0);
    }
}

/* A session that cannot fit on the device is refused with the sizes. */
/* hrt_generate's text and how many tokens the session sampled on the device. */
static char *generate_counting(hrt_model *m, const char *prompt, const hrt_generate_params *gp, long *sampled,
                               int *generated)
{
    hrt_session *s = NULL;
    char *text = NULL;
    hrt_usage u = {0};
    CHECK_STATUS(hrt_session_open(m, NULL, &s), 0);
    if (s) CHECK_STATUS(hrt_generate(s, prompt, strlen(prompt), gp, &text, &u), 0);
    *sampled = cuda_session_samples(s);
    *generated = u.generated_tokens;
    hrt_session_free(s);
    return text;
}

/* Sampling on the device against the host's sampler on the same logits:
 * the defaults at temperature 0.8 with a repetition penalty, a greedy pick
 * after the penalty, top-p alone over the whole vocabulary, DRY at 0.8,
 * and greedy after DRY and a penalty, each on the persistent step and on
 * the per-operation kernels. */
static void test_sampling_on(const char *path, const char *label)
{
    static const struct {
        float temp, top_p, pen, dry;
        int top_k;
    } cases[] = {{0.8f, 0.95f, 1.2f, 0, 40}, {0, 1, 1.3f, 0, 40}, {1.1f, 0.9f, 1, 0, 0}, {0.8f, 0.95f, 1, 0.8f, 40},
                 {0, 1, 1.1f, 0.8f, 40}};
    const char *prompt = "The history of computing";
    for (int fused = 0; fused < 2; fused++) {
        if (!fused) setenv("HRT_CUDA_FUSED", "0", 1);
        hrt_model *m = open_on(path, HRT_BACKEND_CUDA, HRT_PRECISION_DEFAULT);
        unsetenv("HRT_CUDA_FUSED");
        if (!m) return;
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            hrt_generate_params gp = hrt_generate_default_params();
            gp.max_tokens = 40;
            gp.sampling.temperature = cases[c].temp;
            gp.sampling.top_p = cases[c].top_p;
            gp.sampling.top_k = cases[c].top_k;
            gp.sampling.repeat_penalty = cases[c].pen;
            gp.sampling.dry_multiplier = cases[c].dry;
            gp.sampling.seed = 77 + c;
            long on_dev = 0, on_host = 0;
            int n_dev = 0, n_host = 0;
            char *a = generate_counting(m, prompt, &gp, &on_dev, &n_dev);
            setenv("HRT_DEVICE_SAMPLING", "0", 1);
            char *b = generate_counting(m, prompt, &gp, &on_host, &n_host);
            unsetenv("HRT_DEVICE_SAMPLING");
            CHECK_MSG(a && b && !strcmp(a, b), "%s%s, case %zu: device and host sampling differ:\n%s\n---\n%s", label,
                      fused ? "" : " (per-operation)", c, a ? a : "", b ? b : "");
            CHECK_MSG(on_host == 0, "%s: %ld tokens sampled on the device with HRT_DEVICE_SAMPLING=0", label, on_host);
            CHECK_MSG(n_dev > 0 && on_dev >= n_dev, "%s, case %zu: %ld sampled on the device for %d generated", label,
                      c, on_dev, n_dev);
            hrt_free(a);
            hrt_free(b);
        }
        hrt_model_free(m);
    }
}

static void test_sampling(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/tiny/qwen2", HRT_SOURCE_DIR);
    test_sampling_on(dir, "qwen2");
    if (smollm2_at(dir, "sampling checks")) test_sampling_on(dir, "smollm2");
}

static void test_oom(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/tiny/llama", HRT_SOURCE_DIR);
    hrt_model *m = open_on(dir, HRT_BACKEND_CUDA, HRT_PRECISION_DEFAULT);
    if (!m) return;
    hrt_session_params sp = hrt_session_default_params();
    sp.n_ctx = 2000000000; /* a KV cache of about 1 TB */
    hrt_session *s = NULL;
    CHECK_STATUS(hrt_session_open(m, &sp, &s), HRT_E_NOMEM);
    CHECK(s == NULL);
    printf("refused: %s\n", hrt_last_error());
    CHECK(strstr(hrt_last_error(), "MiB") && strstr(hrt_last_error(), "free"));
    /* the model still works afterwards */
    sp.n_ctx = 64;
    CHECK_STATUS(hrt_session_open(m, &sp, &s), 0);
    int32_t ids[3] = {5, 6, 7};
    float logits[384];
    CHECK_STATUS(hrt_session_eval(s, ids, 3, logits), 0);
    hrt_session_free(s);
    hrt_model_free(m);
}

int main(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) test_skip("no CUDA device");
    test_tiny();
    test_embed();
    test_oom();
    test_long_prompt();
    test_one_kernels();
    test_sampling();
    test_ahead();
    test_fused_all();
    test_smollm2();
    test_gemma3();
    return test_finish();
}
#endif
