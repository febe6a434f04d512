/* A prompt's Q, K and V products, their biases, RoPE and the stores that
 * follow as one kernel (Hopper, sm_90a): what a cuBLAS product of the
 * fused Q/K/V matrix and cuda_rope_store (kernels/cuda/rope.h) compute,
 * without the product's f32 rows going through memory between the two. */
#ifndef HRT_CUDA_GEMM_ROPE_H
#define HRT_CUDA_GEMM_ROPE_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Whether the current device runs the kernel (as cuda_gemm_glu_available). */
int cuda_gemm_rope_available(void);

/* y = x w^T for x (n, k) and w ((n_head + 2 n_kv) head_dim, k), both of
 * type (GGML_TYPE_F16 or BF16), row-major, 16-byte aligned: a row of y is
 * a token's n_head query heads, then its n_kv key heads, then its n_kv
 * value heads, head_dim values each, summed in f32. Each gets its bias
 * (bq, bk, bv: n_head head_dim, n_kv head_dim and n_kv head_dim floats, or
 * NULL for none); queries
 * and keys are then rotated over their whole head_dim (neox: pairs (e,
 * e + head_dim / 2), else (2i, 2i + 1)) by token t's angles, the (cos,
 * sin) pair t head_dim / 2 + i of cs (floats; cuda_rope_angles). Queries go to q_out (n rows of
 * n_head head_dim values: f32 (q_type 0), or fp16 (GGML_TYPE_F16) times
 * q_scale, rounded to nearest, saturating: cuda_prompt_attention's fp16
 * queries with q_scale = its scale times CUDA_ATTN_LOG2E), keys and values to k_rows and v_rows (n rows of
 * n_kv head_dim floats: the cache from the prompt's first position on) and,
 * with k16 and v16 (both or neither), the same as fp16 (saturating at
 * +-65504) at the same indices. n at most 2^30, head_dim 64 or 128, k a
 * multiple of 8; cs and the biases 16-byte aligned, the f32 outputs
 * 8-byte, the fp16 ones 4-byte. tile: outputs a thread
 * block's tile spans, 0 to let the shape choose, or 128, 192 or 256 where
 * head_dim divides it (tests). cudaErrorNotSupported where the kernel is
 * not available, cudaErrorInvalidValue for other arguments; n = 0 does
 * nothing. */
cudaError_t cuda_gemm_rope(const void *x, const void *w, uint32_t type, int n, int k, const float *bq, const float *bk,
                           const float *bv, const float *cs, int neox, void *q_out, uint32_t q_type, float q_scale,
                           float *k_rows, float *v_rows, void *k16, void *v16, int n_head, int n_kv, int head_dim,
                           int tile, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
