/* Row normalisations: RMSNorm (optionally after adding a residual, in one
 * pass) and LayerNorm with weight and bias. */
#ifndef HRT_CUDA_NORM_H
#define HRT_CUDA_NORM_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* For each of n_rows rows of dim: when residual, x += residual (written
 * back); out = x / sqrt(mean(x^2) + eps) * w, stored as out_type
 * (GGML_TYPE_F32, or F16 / BF16 for the input of 16-bit products).
 * out may be x when both are f32. */
cudaError_t cuda_rmsnorm(void *out, uint32_t out_type, float *x, const float *residual, const float *w, int n_rows,
                         int dim, float eps, cudaStream_t s);
/* out = (x - mean) / sqrt(var + eps) * w + b per row; out may be x. */
cudaError_t cuda_layernorm(float *out, const float *x, const float *w, const float *b, int n_rows, int dim,
                           float eps, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
