/* Element-wise kernels: embedding rows, SwiGLU / GeGLU, GELU, soft-capping, residual add, bias
 * add, the mean of row ranges (pooling), conversion of activations for 16-bit matrix products, and the
 * dequantization of a repacked matrix into its GEMM copy. */
#ifndef HRT_CUDA_ELEMENTWISE_H
#define HRT_CUDA_ELEMENTWISE_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#include "matvec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out[t] = row ids[t] of E (dequantized) times scale, t < n; ids on the device. */
cudaError_t cuda_embed_rows(const cuda_mat *E, const int32_t *ids, int n, float scale, float *out, cudaStream_t s);
/* out[r, j] = act(gate[r, j]) * up[r, j] for the n values of rows of width
 * (j < width), act silu (gelu = 0) or tanh GELU (gelu = 1); out's rows are
 * dense, gate's and up's ld apart (ld = width: one dense run of n, any
 * width; ld > width, such as the two halves of one product's rows: n whole
 * rows, width and ld multiples of 4, out overlapping neither input). gate
 * and up of in_type, out of out_type (each GGML_TYPE_F32, F16 or BF16),
 * aligned to 16 bytes (f32) or 8 (16-bit); out may be gate or up itself
 * (not another part of them) when the rows are dense and the two types the
 * same. n = 0 does nothing. cudaErrorInvalidValue otherwise. */
cudaError_t cuda_glu(void *out, uint32_t out_type, const void *gate, const void *up, uint32_t in_type, int64_t n,
                     int width, int ld, int gelu, cudaStream_t s);
/* x[i] = cap * tanh(x[i] / cap) (logit soft-capping) */
cudaError_t cuda_softcap(float *x, int64_t n, float cap, cudaStream_t s);
/* x[i] = gelu(x[i]) (erf form) */
cudaError_t cuda_gelu(float *x, int64_t n, cudaStream_t s);
/* y[i] += x[i] */
cudaError_t cuda_add(float *y, const float *x, int64_t n, cudaStream_t s);
/* y[t, i] += b[i] for n_rows rows of dim */
cudaError_t cuda_add_bias(float *y, const float *b, int n_rows, int dim, cudaStream_t s);
/* out[q, i] = mean of x's rows start[q] .. start[q+1]-1 at column i, for
 * q < n_seq (0 for an empty range); start (n_seq + 1 ints) on the device. */
cudaError_t cuda_mean_rows(float *out, const float *x, const int *start, int n_seq, int dim, cudaStream_t s);
/* dst (type GGML_TYPE_F16 or BF16; cudaErrorInvalidValue otherwise) = src floats */
cudaError_t cuda_to_16bit(void *dst, uint32_t type, const float *src, int64_t n, cudaStream_t s);
/* Fills W->gemm (W->gemm_type) from W's repacked weights. */
cudaError_t cuda_mat_dequant(const cuda_mat *W, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
