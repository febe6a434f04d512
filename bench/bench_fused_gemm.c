/* hrt's own Hopper products with their epilogues (kernels/cuda/sm90.cuh)
 * against what prompts run without them, at the shapes of the models hrt
 * benchmarks, on a stream of its own as a session has:
 *   glu:  gate and up as one cuBLAS product (bf16 out) and the GLU kernel,
 *         against gate/up/GLU as one kernel (kernels/cuda/gemm_glu.h);
 *   rope: Q, K and V as one cuBLAS product (f32 out) and the RoPE kernel
 *         with its bias and cache stores (cuda_rope_store, f32 queries),
 *         against the one kernel (kernels/cuda/gemm_rope.h, fp16 queries
 *         as a prompt has it write them), whose angle table (made once a
 *         prompt, not a layer) is timed apart; the keys and values compared.
 * A sample is BATCH launches in a row between two device events, so that
 * the host's time to enqueue each (cuBLAS's choice of kernel, the tensor
 * maps) overlaps the device's work as it does in a prompt; each line is the
 * median of REPS samples per launch, after warm-up, with the host's time to
 * enqueue a launch beside it; bf16 inputs drawn at random; the largest
 * difference between the two results, relative to the largest value, as a
 * check that both computed the same thing.
 *   bench_fused_gemm [--reps N] [--op glu|rope] (default both) [--tile W] (the one kernel's tile width;
 *                    by default its own choice)
 * (bench_gemm_glu before the twentieth session: the glu tables.) */
#include <stdio.h>
#include <string.h>

#include "bench_util.h"

#ifndef HRT_WITH_CUDA
int main(void)
{
    printf("bench_fused_gemm: built without CUDA\n");
    return 0;
}
#else
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <math.h>

#include "cpu/quant.h"
#include "cuda/elementwise.h"
#include "cuda/gemm.h"
#include "cuda/gemm_glu.h"
#include "cuda/gemm_rope.h"
#include "cuda/prompt_attention.h"
#include "cuda/rope.h"

#define CK(x)                                                                              \
    do {                                                                                   \
        cudaError_t e_ = (x);                                                              \
        if (e_ != cudaSuccess) {                                                           \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

enum { WHICH_GEMM, WHICH_GLU, WHICH_FUSED, WHICH_QKV, WHICH_ROPE, WHICH_ANGLES, WHICH_QKV_ONE };

enum { BATCH = 10 };

typedef struct {
    const cuda_gemm_ctx *g;
    cudaStream_t s;
    cuda_mat W;
    void *x, *hb, *out2, *out;
    int n, k, ff, tile;
    /* rope: biases (NULL or q, k, v's in one array), angles, positions; the
     * outputs of the two paths: [0] the one kernel's (its queries in fp16,
     * scaled for the prompt attention, as a prompt has them), [1] the two
     * steps' */
    float *bias, *cs, *q[2], *kc[2], *vc[2];
    void *k16[2], *v16[2];
    double *inv_freq;
    int *pos, n_head, n_kv, hd, neox;
} shape_run;

static void launch(const shape_run *r, int which)
{
    const int qd = r->n_head * r->hd, kvd = r->n_kv * r->hd, cols = qd + 2 * kvd;
    const float *b = r->bias, *bk = b ? b + qd : NULL, *bv = b ? b + qd + kvd : NULL, *hb = r->hb;
    if (which == WHICH_GEMM)
        CK(cuda_gemm(r->g, &r->W, NULL, r->x, NULL, r->hb, GGML_TYPE_BF16, r->n, 0, r->s));
    else if (which == WHICH_GLU)
        CK(cuda_glu(r->out2, GGML_TYPE_BF16, r->hb, (char *)r->hb + (size_t)r->ff * 2, GGML_TYPE_BF16,
                    (int64_t)r->n * r->ff, r->ff, 2 * r->ff, 0, r->s));
    else if (which == WHICH_FUSED)
        CK(cuda_gemm_glu(r->out, r->x, r->W.gemm, GGML_TYPE_BF16, r->n, r->k, r->ff, 0, r->tile, r->s));
    else if (which == WHICH_QKV)
        CK(cuda_gemm(r->g, &r->W, NULL, r->x, NULL, r->hb, GGML_TYPE_F32, r->n, 0, r->s));
    else if (which == WHICH_ROPE)
        CK(cuda_rope_store(hb, hb + qd, hb + qd + kvd, cols, b, bk, bv, r->q[1], r->kc[1], r->vc[1], r->k16[1],
                           r->v16[1], r->pos, r->n, r->n_head, r->n_kv, r->hd, r->hd, r->inv_freq, r->neox, r->s));
    else if (which == WHICH_ANGLES)
        CK(cuda_rope_angles(r->cs, r->pos, r->n, r->hd, r->inv_freq, r->s));
    else
        CK(cuda_gemm_rope(r->x, r->W.gemm, GGML_TYPE_BF16, r->n, r->k, b, bk, bv, r->cs, r->neox, r->q[0],
                          GGML_TYPE_F16, CUDA_ATTN_LOG2E / sqrtf((float)r->hd), r->kc[0], r->vc[0], r->k16[0], r->v16[0], r->n_head, r->n_kv, r->hd,
                          r->tile, r->s));
}

/* the device's time per launch (median over reps samples of BATCH
 * launches); *host: the host's median time to enqueue one */
static double time_us(const shape_run *r, int which, int reps, double *host)
{
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    double *t = malloc(sizeof(double) * (size_t)reps), *h = malloc(sizeof(double) * (size_t)reps);
    for (int i = 0; i < 5; i++) launch(r, which);
    for (int i = 0; i < reps; i++) {
        float ms = 0;
        CK(cudaStreamSynchronize(r->s));
        CK(cudaEventRecord(a, r->s));
        const double t0 = now_s();
        for (int j = 0; j < BATCH; j++) launch(r, which);
        h[i] = (now_s() - t0) * 1e6 / BATCH;
        CK(cudaEventRecord(b, r->s));
        CK(cudaEventSynchronize(b));
        CK(cudaEventElapsedTime(&ms, a, b));
        t[i] = ms * 1000.0 / BATCH;
    }
    double m = median(t, reps);
    *host = median(h, reps);
    free(t);
    free(h);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return m;
}

static void *random_bf16(size_t n)
{
    uint16_t *h = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        float f = (float)((bench_rng() >> 40) & 0xffffff) / 8388608.0f - 1.0f;
        uint32_t u;
        memcpy(&u, &f, 4);
        h[i] = (uint16_t)(u >> 16);
    }
    void *d = NULL;
    CK(cudaMalloc(&d, n * 2));
    CK(cudaMemcpy(d, h, n * 2, cudaMemcpyHostToDevice));
    free(h);
    return d;
}

/* max |a - b| / max |b| over n values on the device, bf16 (f32 = 0) or f32 */
static double rel_diff(const void *da, const void *db, size_t n, int f32)
{
    const size_t el = f32 ? 4 : 2;
    unsigned char *a = malloc(n * el), *b = malloc(n * el);
    CK(cudaMemcpy(a, da, n * el, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(b, db, n * el, cudaMemcpyDeviceToHost));
    double worst = 0, big = 0;
    for (size_t i = 0; i < n; i++) {
        double x = f32 ? ((const float *)a)[i] : bf16_to_fp32(((const uint16_t *)a)[i]);
        double y = f32 ? ((const float *)b)[i] : bf16_to_fp32(((const uint16_t *)b)[i]), d = fabs(x - y);
        if (d != d) worst = INFINITY; /* NaN: a value not written */
        else if (d > worst) worst = d;
        if (fabs(y) > big) big = fabs(y);
    }
    free(a);
    free(b);
    return big > 0 ? worst / big : worst;
}

static void glu_table(const cuda_gemm_ctx *g, cudaStream_t st, int reps, int tile)
{
    /* (tokens, model width, feed-forward width): Qwen2.5-0.5B, SmolLM2-135M, Gemma 3 270M */
    const int shapes[][3] = {{2040, 896, 4864}, {512, 896, 4864}, {2040, 576, 1536}, {512, 576, 1536},
                             {2040, 640, 2048}, {512, 640, 2048}};
    const char *names[] = {"Qwen2.5-0.5B", "Qwen2.5-0.5B", "SmolLM2-135M", "SmolLM2-135M", "Gemma 3 270M",
                           "Gemma 3 270M"};
    printf("\ngate/up/GLU:\n| shape | tokens x width x ff | cuBLAS gate+up | GLU | two kernels | one kernel | one kernel "
           "TFLOP/s | two / one | host per launch: cuBLAS, GLU, one kernel | max diff |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++) {
        const int n = shapes[i][0], k = shapes[i][1], ff = shapes[i][2];
        shape_run r = {.g = g, .s = st, .n = n, .k = k, .ff = ff, .tile = tile};
        r.W = (cuda_mat){.type = GGML_TYPE_BF16, .rows = 2 * ff, .cols = k, .gemm_type = GGML_TYPE_BF16};
        r.W.gemm = random_bf16((size_t)2 * ff * k);
        r.x = random_bf16((size_t)n * k);
        CK(cudaMalloc(&r.hb, (size_t)n * 2 * ff * 2));
        CK(cudaMalloc(&r.out2, (size_t)n * ff * 2));
        CK(cudaMalloc(&r.out, (size_t)n * ff * 2));
        double hg, hu, hf;
        const double tg = time_us(&r, WHICH_GEMM, reps, &hg), tu = time_us(&r, WHICH_GLU, reps, &hu),
                     tf = time_us(&r, WHICH_FUSED, reps, &hf);
        launch(&r, WHICH_GEMM);
        launch(&r, WHICH_GLU);
        launch(&r, WHICH_FUSED);
        CK(cudaStreamSynchronize(st));
        const double diff = rel_diff(r.out, r.out2, (size_t)n * ff, 0), flop = 2.0 * n * k * 2.0 * ff;
        printf("| %s | %d x %d x %d | %.1f us | %.1f us | %.1f us | %.1f us | %.0f | %.2fx | %.1f, %.1f, %.1f us | "
               "%.1e |\n",
               names[i], n, k, ff, tg, tu, tg + tu, tf, flop / tf * 1e-6, (tg + tu) / tf, hg, hu, hf, diff);
        cudaFree(r.W.gemm);
        cudaFree(r.x);
        cudaFree(r.hb);
        cudaFree(r.out2);
        cudaFree(r.out);
    }
}

static void rope_table(const cuda_gemm_ctx *g, cudaStream_t st, int reps, int tile)
{
    /* tokens, model width, query heads, key/value heads, head size, neox, biases */
    const int shapes[][7] = {{2040, 896, 14, 2, 64, 1, 1},   {512, 896, 14, 2, 64, 1, 1},
                             {2040, 576, 9, 3, 64, 0, 0},    {512, 576, 9, 3, 64, 0, 0},
                             {2040, 1536, 12, 2, 128, 1, 1}, {512, 1536, 12, 2, 128, 1, 1}};
    const char *names[] = {"Qwen2.5-0.5B", "Qwen2.5-0.5B", "SmolLM2-135M", "SmolLM2-135M", "Qwen2.5-1.5B",
                           "Qwen2.5-1.5B"};
    printf("\nQ/K/V + RoPE + cache stores:\n| shape | tokens x width -> columns | cuBLAS Q/K/V (f32) | RoPE kernel | "
           "two kernels | one kernel | one kernel TFLOP/s | two / one | angles (once a prompt) | host per launch: "
           "cuBLAS, RoPE, one kernel | max diff k, v |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++) {
        const int n = shapes[i][0], k = shapes[i][1], hd = shapes[i][4], half = hd / 2;
        if (tile % hd) continue; /* a width that does not hold whole heads */
        shape_run r = {.g = g, .s = st, .n = n, .k = k, .tile = tile, .n_head = shapes[i][2], .n_kv = shapes[i][3],
                       .hd = hd, .neox = shapes[i][5]};
        const int qd = r.n_head * hd, kvd = r.n_kv * hd, cols = qd + 2 * kvd, zero = 0;
        r.W = (cuda_mat){.type = GGML_TYPE_BF16, .rows = cols, .cols = k, .gemm_type = GGML_TYPE_BF16};
        r.W.gemm = random_bf16((size_t)cols * k);
        r.x = random_bf16((size_t)n * k);
        double *inv = malloc(half * sizeof *inv);
        for (int j = 0; j < half; j++) inv[j] = pow(1e6, -2.0 * j / hd);
        CK(cudaMalloc((void **)&r.inv_freq, half * sizeof *inv));
        CK(cudaMemcpy(r.inv_freq, inv, half * sizeof *inv, cudaMemcpyHostToDevice));
        CK(cudaMalloc((void **)&r.pos, sizeof(int)));
        CK(cudaMemcpy(r.pos, &zero, sizeof zero, cudaMemcpyHostToDevice));
        if (shapes[i][6]) {
            float *bias = malloc(cols * sizeof *bias);
            for (int j = 0; j < cols; j++) bias[j] = (float)((bench_rng() >> 40) & 0xffff) / 32768.0f - 1.0f;
            CK(cudaMalloc((void **)&r.bias, cols * sizeof *bias));
            CK(cudaMemcpy(r.bias, bias, cols * sizeof *bias, cudaMemcpyHostToDevice));
            free(bias);
        }
        CK(cudaMalloc(&r.hb, (size_t)n * cols * 4));
        CK(cudaMalloc((void **)&r.cs, (size_t)n * hd * 4));
        for (int p2 = 0; p2 < 2; p2++) {
            CK(cudaMalloc((void **)&r.q[p2], (size_t)n * qd * 4));
            CK(cudaMalloc((void **)&r.kc[p2], (size_t)n * kvd * 4));
            CK(cudaMalloc((void **)&r.vc[p2], (size_t)n * kvd * 4));
            CK(cudaMalloc(&r.k16[p2], (size_t)n * kvd * 2));
            CK(cudaMalloc(&r.v16[p2], (size_t)n * kvd * 2));
        }
        double hg, hr, ha, hf;
        launch(&r, WHICH_ANGLES);
        const double tg = time_us(&r, WHICH_QKV, reps, &hg), tr = time_us(&r, WHICH_ROPE, reps, &hr),
                     ta = time_us(&r, WHICH_ANGLES, reps, &ha), tf = time_us(&r, WHICH_QKV_ONE, reps, &hf);
        launch(&r, WHICH_QKV);
        launch(&r, WHICH_ROPE);
        launch(&r, WHICH_QKV_ONE);
        CK(cudaStreamSynchronize(st));
        const double dk = rel_diff(r.kc[0], r.kc[1], (size_t)n * kvd, 1), dv = rel_diff(r.vc[0], r.vc[1], (size_t)n * kvd, 1);
        const double flop = 2.0 * n * k * cols;
        printf("| %s | %d x %d -> %d | %.1f us | %.1f us | %.1f us | %.1f us | %.0f | %.2fx | %.1f us | %.1f, %.1f, "
               "%.1f us | %.1e, %.1e |\n",
               names[i], n, k, cols, tg, tr, tg + tr, tf, flop / tf * 1e-6, (tg + tr) / tf, ta, hg, hr, hf, dk, dv);
        cudaFree(r.W.gemm);
        cudaFree(r.x);
        cudaFree(r.inv_freq);
        cudaFree(r.pos);
        cudaFree(r.bias);
        cudaFree(r.hb);
        cudaFree(r.cs);
        for (int p2 = 0; p2 < 2; p2++) {
            cudaFree(r.q[p2]);
            cudaFree(r.kc[p2]);
            cudaFree(r.vc[p2]);
            cudaFree(r.k16[p2]);
            cudaFree(r.v16[p2]);
        }
        free(inv);
    }
}

int main(int argc, char **argv)
{
    int reps = 30, ndev = 0, tile = 0;
    const char *op = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tile") && i + 1 < argc) tile = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--op") && i + 1 < argc) op = argv[++i];
    }
    if (reps < 1) reps = 1;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("bench_fused_gemm: no CUDA device\n");
        return 0;
    }
    struct cudaDeviceProp p;
    CK(cudaGetDeviceProperties(&p, 0));
    char tw[32];
    snprintf(tw, sizeof tw, "%d outputs", tile);
    printf("device: %s (sm_%d%d), median of %d samples of %d launches; the one kernel's tiles: %s\n", p.name, p.major,
           p.minor, reps, BATCH, tile ? tw : "its own choice");
    const int glu = strcmp(op, "rope") != 0 && cuda_gemm_glu_available(),
              rope = strcmp(op, "glu") != 0 && cuda_gemm_rope_available();
    if (!cuda_gemm_glu_available() || !cuda_gemm_rope_available())
        printf("bench_fused_gemm: the one-kernel products need an sm_90 device and the sm_90a build\n");
    cublasHandle_t h;
    cudaStream_t st;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return 1;
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    const cuda_gemm_ctx g = {.blas = h};
    if (glu && (tile == 0 || tile == 64 || tile == 128)) glu_table(&g, st, reps, tile);
    if (rope && (tile == 0 || tile == 128 || tile == 192 || tile == 256)) rope_table(&g, st, reps, tile);
    cublasDestroy(h);
    cudaStreamDestroy(st);
    return 0;
}
#endif
