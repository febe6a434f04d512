/* bench_sampler — the host sampler's time a token (infer/sampler.c), what a
 * CPU session (and a CUDA one with HRT_DEVICE_SAMPLING=0) pays on top of
 * each step when it samples: the defaults (top-k 40, top-p 0.95, min-p
 * 0.05) with a repetition penalty of 1.1 over 64 ids, at temperature 0.8,
 * for SmolLM2's and Qwen2.5's vocabularies; beside it, in the same run, the
 * same chain without top-k, which sorts every logit (what each draw cost
 * before top-k selected with a heap). Median of 31 draws on fresh copies
 * of uniform logits in [-12, 12).
 * Built with CUDA and run where there is a device: the device's sampler
 * (cuda_sample, kernels/cuda/sample.h) a token, as a generation pays it
 * after each step: the mean of 200 calls back to back on one stream
 * (their launch gaps included), median of 5 such runs, for the argmax
 * alone, greedy after DRY (the agent's default), temperature 0.8 with the
 * defaults, the same with a repetition penalty of 1.1 and DRY 0.8, and
 * without top-k. The penalties work on the logits in place, so later
 * calls see penalized logits; a history of 512 ids from a small set
 * gives DRY repeats to find. */
#include <stdio.h>
#include <string.h>

#include "bench_util.h"
#include "sampler.h"

#ifdef HRT_WITH_CUDA
#include <cuda_runtime_api.h>

#include "cuda/sample.h"

/* Mean us of one cuda_sample call over 200 back to back, median of 5 runs;
 * -1 on an error. */
static double time_device(float *dl, int V, int32_t *dh, int nh, const hrt_sampler_params *q, void *scratch,
                          size_t sb, int32_t *dout, cudaStream_t st)
{
    enum { CALLS = 200, RUNS = 5 };
    cuda_sample_params p = {.temperature = q->temperature, .top_p = q->top_p, .min_p = q->min_p, .top_k = q->top_k,
                            .penalty = q->repeat_penalty, .penalty_last_n = q->repeat_last_n,
                            .dry_multiplier = q->dry_multiplier, .dry_base = q->dry_base,
                            .dry_allowed_length = q->dry_allowed_length, .dry_last_n = q->dry_last_n,
                            .n_hist = nh, .r = 0.37};
    double t[RUNS];
    cudaEvent_t a, b;
    if (cudaEventCreate(&a) != cudaSuccess || cudaEventCreate(&b) != cudaSuccess) return -1;
    for (int r = -1; r < RUNS; r++) {
        cudaEventRecord(a, st);
        for (int c = 0; c < CALLS; c++)
            if (cuda_sample(dl, V, &p, dh, scratch, sb, dout, NULL, st) != cudaSuccess) return -1;
        cudaEventRecord(b, st);
        float ms = 0;
        if (cudaEventSynchronize(b) != cudaSuccess || cudaEventElapsedTime(&ms, a, b) != cudaSuccess) return -1;
        if (r >= 0) t[r] = ms * 1e3 / CALLS;
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return median(t, RUNS);
}

static int bench_device(void)
{
    int nd = 0;
    if (cudaGetDeviceCount(&nd) != cudaSuccess || nd == 0) {
        printf("device sampler: no CUDA device\n");
        return 0;
    }
    struct cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    static const int vocabs[] = {49152, 151936};
    enum { NH = 512 };
    int32_t h[NH + 1];
    for (int i = 0; i < NH; i++) h[i] = 100 + (int32_t)(bench_rng() % 150);
    printf("\ndevice sampler (%s), us a call (mean of 200 back to back, median of 5):\n"
           "| vocabulary | argmax | greedy after DRY 0.8 | temperature 0.8, top-k 40 | ... with penalty 1.1 and DRY 0.8 "
           "| temperature 0.8, no top-k |\n|---|---|---|---|---|---|\n", prop.name);
    for (int v = 0; v < 2; v++) {
        const int V = vocabs[v];
        float *l = malloc((size_t)V * sizeof *l), *dl = NULL;
        int32_t *dh = NULL, *dout = NULL;
        void *scratch = NULL;
        size_t sb = cuda_sample_scratch(V);
        cudaStream_t st;
        if (!l || !sb || cudaStreamCreate(&st) != cudaSuccess) return 1;
        for (int i = 0; i < V; i++) l[i] = (float)(bench_rng() >> 40) / (float)(1 << 24) * 24.0f - 12.0f;
        if (cudaMalloc((void **)&dl, (size_t)V * sizeof *dl) != cudaSuccess ||
            cudaMalloc((void **)&dh, sizeof h) != cudaSuccess || cudaMalloc((void **)&dout, sizeof *dout) != cudaSuccess ||
            cudaMalloc(&scratch, sb) != cudaSuccess || cudaMemset(scratch, 0, sb) != cudaSuccess ||
            cudaMemcpy(dl, l, (size_t)V * sizeof *dl, cudaMemcpyHostToDevice) != cudaSuccess ||
            cudaMemcpy(dh, h, sizeof h, cudaMemcpyHostToDevice) != cudaSuccess)
            return 1;
        double t[5];
        for (int k = 0; k < 5; k++) {
            hrt_sampler_params p = hrt_sampler_default_params();
            if (k >= 2) p.temperature = 0.8f;
            if (k == 1 || k == 3) p.dry_multiplier = 0.8f;
            if (k == 3) p.repeat_penalty = 1.1f;
            if (k == 4) p.top_k = 0;
            if ((t[k] = time_device(dl, V, dh, NH, &p, scratch, sb, dout, st)) < 0) {
                fprintf(stderr, "bench_sampler: cuda_sample failed\n");
                return 1;
            }
        }
        printf("| %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", V, t[0], t[1], t[2], t[3], t[4]);
        cudaFree(dl);
        cudaFree(dh);
        cudaFree(dout);
        cudaFree(scratch);
        cudaStreamDestroy(st);
        free(l);
    }
    return 0;
}
#endif

/* Median ms of one sampler_sample over reps draws. */
static double time_draws(const hrt_sampler_params *p, const float *l, float *x, int V, const int32_t *h, int nh,
                         int reps)
{
    sampler *s = sampler_new(p, V);
    if (!s) return -1;
    double t[64];
    for (int r = 0; r < reps; r++) {
        memcpy(x, l, (size_t)V * sizeof *x);
        double a = now_s();
        sampler_sample(s, x, h, nh);
        t[r] = (now_s() - a) * 1e3;
    }
    sampler_free(s);
    return median(t, reps);
}

int main(void)
{
    static const int vocabs[] = {49152, 151936};
    enum { REPS = 31, NH = 64 };
    int32_t h[NH];
    printf("| vocabulary | top-k 40 (heap) | no top-k (all sorted) | ratio |\n|---|---|---|---|\n");
    for (int v = 0; v < 2; v++) {
        const int V = vocabs[v];
        float *l = malloc((size_t)V * sizeof *l), *x = malloc((size_t)V * sizeof *x);
        if (!l || !x) return 1;
        for (int i = 0; i < V; i++) l[i] = (float)(bench_rng() >> 40) / (float)(1 << 24) * 24.0f - 12.0f;
        for (int i = 0; i < NH; i++) h[i] = (int32_t)(bench_rng() % (uint64_t)V);
        hrt_sampler_params p = hrt_sampler_default_params();
        p.temperature = 0.8f;
        p.repeat_penalty = 1.1f;
        double tk = time_draws(&p, l, x, V, h, NH, REPS);
        p.top_k = 0;
        double ta = time_draws(&p, l, x, V, h, NH, REPS);
        if (tk < 0 || ta < 0) return 1;
        printf("| %d | %.3f ms | %.3f ms | %.1fx |\n", V, tk, ta, ta / tk);
        free(l);
        free(x);
    }
#ifdef HRT_WITH_CUDA
    return bench_device();
#else
    return 0;
#endif
}
