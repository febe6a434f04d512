/* A prompt's feed-forward input side on the GPU: gate and up as one cuBLAS
 * product followed by the GLU kernel (what prompts ran before), against the
 * one kernel that does both (kernels/cuda/gemm_glu.h), at the feed-forward
 * shapes of the models hrt benchmarks, on a stream of its own as a session
 * has. A sample is BATCH launches in a row between two device events, so
 * that the host's time to enqueue each (cuBLAS's choice of kernel, the
 * tensor maps) overlaps the device's work as it does in a prompt; each line
 * is the median of REPS samples per launch, after warm-up, with the host's
 * time to enqueue a launch beside it; bf16 inputs drawn at random; the
 * largest difference between the two results, relative to the largest
 * value, as a check that both computed the same thing.
 *   bench_gemm_glu [--reps N] [--tile 64|128]   (the one kernel's tile width; by default its own choice) */
#include <stdio.h>
#include <string.h>

#include "bench_util.h"

#ifndef HRT_WITH_CUDA
int main(void)
{
    printf("bench_gemm_glu: built without CUDA\n");
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

#define CK(x)                                                                              \
    do {                                                                                   \
        cudaError_t e_ = (x);                                                              \
        if (e_ != cudaSuccess) {                                                           \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

enum { WHICH_GEMM, WHICH_GLU, WHICH_FUSED };

enum { BATCH = 10 };

typedef struct {
    const cuda_gemm_ctx *g;
    cudaStream_t s;
    cuda_mat W;
    void *x, *hb, *out2, *out;
    int n, k, ff, tile;
} shape_run;

static void launch(const shape_run *r, int which)
{
    if (which == WHICH_GEMM)
        CK(cuda_gemm(r->g, &r->W, NULL, r->x, NULL, r->hb, GGML_TYPE_BF16, r->n, 0, r->s));
    else if (which == WHICH_GLU)
        CK(cuda_glu(r->out2, GGML_TYPE_BF16, r->hb, (char *)r->hb + (size_t)r->ff * 2, GGML_TYPE_BF16,
                    (int64_t)r->n * r->ff, r->ff, 2 * r->ff, 0, r->s));
    else
        CK(cuda_gemm_glu(r->out, r->x, r->W.gemm, GGML_TYPE_BF16, r->n, r->k, r->ff, 0, r->tile, r->s));
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

/* max |a - b| / max |b| over n bf16 values on the device */
static double rel_diff(const void *da, const void *db, size_t n)
{
    uint16_t *a = malloc(n * 2), *b = malloc(n * 2);
    CK(cudaMemcpy(a, da, n * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(b, db, n * 2, cudaMemcpyDeviceToHost));
    double worst = 0, big = 0;
    for (size_t i = 0; i < n; i++) {
        double x = bf16_to_fp32(a[i]), y = bf16_to_fp32(b[i]), d = fabs(x - y);
        if (d != d) worst = INFINITY; /* NaN: a value not written */
        else if (d > worst) worst = d;
        if (fabs(y) > big) big = fabs(y);
    }
    free(a);
    free(b);
    return big > 0 ? worst / big : worst;
}

int main(int argc, char **argv)
{
    int reps = 30, ndev = 0, tile = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tile") && i + 1 < argc) tile = atoi(argv[++i]);
    }
    if (reps < 1) reps = 1;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("bench_gemm_glu: no CUDA device\n");
        return 0;
    }
    struct cudaDeviceProp p;
    CK(cudaGetDeviceProperties(&p, 0));
    printf("device: %s (sm_%d%d), median of %d samples of %d launches; the one kernel's tiles: %s\n", p.name, p.major,
           p.minor, reps, BATCH, tile == 64 ? "64 outputs" : tile == 128 ? "128 outputs" : "its own choice");
    if (!cuda_gemm_glu_available()) {
        printf("bench_gemm_glu: the one-kernel GLU needs an sm_90 device and the sm_90a build\n");
        return 0;
    }
    cublasHandle_t h;
    cudaStream_t st;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return 1;
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    const cuda_gemm_ctx g = {.blas = h};
    /* (tokens, model width, feed-forward width): Qwen2.5-0.5B, SmolLM2-135M, Gemma 3 270M */
    const int shapes[][3] = {{2040, 896, 4864}, {512, 896, 4864}, {2040, 576, 1536}, {512, 576, 1536},
                             {2040, 640, 2048}, {512, 640, 2048}};
    const char *names[] = {"Qwen2.5-0.5B", "Qwen2.5-0.5B", "SmolLM2-135M", "SmolLM2-135M", "Gemma 3 270M",
                           "Gemma 3 270M"};
    printf("| shape | tokens x width x ff | cuBLAS gate+up | GLU | two kernels | one kernel | one kernel TFLOP/s | "
           "two / one | host per launch: cuBLAS, GLU, one kernel | max diff |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++) {
        const int n = shapes[i][0], k = shapes[i][1], ff = shapes[i][2];
        shape_run r = {.g = &g, .s = st, .n = n, .k = k, .ff = ff, .tile = tile};
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
        const double diff = rel_diff(r.out, r.out2, (size_t)n * ff), flop = 2.0 * n * k * 2.0 * ff;
        printf("| %s | %d x %d x %d | %.1f us | %.1f us | %.1f us | %.1f us | %.0f | %.2fx | %.1f, %.1f, %.1f us | "
               "%.1e |\n",
               names[i], n, k, ff, tg, tu, tg + tu, tf, flop / tf * 1e-6, (tg + tu) / tf, hg, hu, hf, diff);
        cudaFree(r.W.gemm);
        cudaFree(r.x);
        cudaFree(r.hb);
        cudaFree(r.out2);
        cudaFree(r.out);
    }
    cublasDestroy(h);
    cudaStreamDestroy(st);
    return 0;
}
#endif
