/* Sampling on the GPU: the argmax, and the host sampler's chain
 * (infer/sampler.c) on logits that stay on the device. */
#ifndef HRT_CUDA_SAMPLE_H
#define HRT_CUDA_SAMPLE_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of scratch cuda_argmax needs. */
#define CUDA_ARGMAX_SCRATCH 1024

/* *out = argmax of logits[0..n) (the lowest id on ties), in two passes:
 * blocks reduce slices into scratch (device memory, CUDA_ARGMAX_SCRATCH
 * bytes), one block reduces those. */
cudaError_t cuda_argmax(const float *logits, int n, void *scratch, int32_t *out, cudaStream_t s);

/* sampler_sample's chain, its numbers taken on the host (sample_args in
 * infer/sampler.h); the penalties read the history on the device. */
typedef struct {
    float temperature;      /* <= 0: the argmax after the penalties */
    float top_p, min_p;     /* as hrt_sampler_params */
    int top_k;              /* <= 0 or >= n: all */
    float penalty;          /* repetition penalty (1: none) over the last penalty_last_n ids (< 0: all; 0: none) */
    int penalty_last_n;
    float dry_multiplier;   /* DRY (0: off), as hrt_sampler_params */
    float dry_base;
    int dry_allowed_length, dry_last_n;
    int n_hist;             /* the history's ids: hist[0..n_hist) */
    double r;               /* the draw, uniform in [0, 1) */
} cuda_sample_params;

/* Bytes of device scratch cuda_sample needs for n logits; 0 when n < 1 or
 * the sort cannot be sized. */
size_t cuda_sample_scratch(int n);

/* *out = the id sampler_sample would pick from logits[0..n) after the ids
 * hist[0..p->n_hist) (device memory; ids outside [0, n) are matched by DRY
 * and otherwise skipped, as on the host), given the same draw. The
 * repetition penalty and DRY are applied to logits in place, with the
 * host's float operations; then either the argmax or, at a positive
 * temperature, the candidates in order of logit, ties by id (a top-k of at
 * most 1,024 selected in one block, otherwise all n sorted), and top-k,
 * top-p, min-p, temperature and the draw over them, the sums in double as
 * on the host. The ids only differ where a sum lands within rounding of a
 * cut: the device's expf is within 2 ulp, the host's within 1, and the
 * double sums are added in another order. NaN logits count as -inf in the
 * top-k selection (the host's order is undefined for them); the id is
 * always within [0, n). It is also stored at hist[p->n_hist] (hist set:
 * room for n_hist + 1 ids), where the next step's penalties find it, and
 * at *out_host unless NULL (mapped host memory: no copy back needed).
 * scratch: cuda_sample_scratch(n) bytes, zeroed once before the first call
 * (each call leaves the part it marks zeroed again). cudaErrorInvalidValue
 * when the scratch is smaller, n < 1, out is NULL, or a penalty is on
 * without hist. */
cudaError_t cuda_sample(float *logits, int n, const cuda_sample_params *p, int32_t *hist, void *scratch,
                        size_t scratch_bytes, int32_t *out, int32_t *out_host, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
