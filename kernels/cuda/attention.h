/* Attention of n query rows against a cache of keys and values, one pass
 * over the keys with an online softmax (flash-attention style): scores live
 * only in a tile of shared memory, never in a score matrix. Grouped-query:
 * query head h reads cache head h / (n_head / n_kv). */
#ifndef HRT_CUDA_ATTENTION_H
#define HRT_CUDA_ATTENTION_H

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* out (n, n_head*head_dim) = softmax(scale q k^T) v (scale usually
 * 1/sqrt(head_dim)). Causal: query t (at position *pos + t) sees cache rows
 * 0 .. *pos + t; otherwise every query sees rows 0 .. kv_len-1. window > 0
 * keeps only the latest window of those rows (sliding-window layers).
 * head_dim <= 256. */
cudaError_t cuda_attention(float *out, const float *q, const float *k_cache, const float *v_cache, const int *pos,
                           int n, int n_head, int n_kv, int head_dim, int causal, int kv_len, int window, float scale,
                           cudaStream_t s);

/* The same, faster: one warp per key; with n_split > 1 the keys of each
 * (token, head) are shared among n_split blocks (flash-decoding), whose
 * partials go to part (n * n_head * n_split * (head_dim + 2) floats) and
 * are merged by a second kernel. Falls back to cuda_attention for a
 * head_dim that is not a multiple of 32. */
cudaError_t cuda_attention_split(float *out, float *part, const float *q, const float *k_cache, const float *v_cache,
                                 const int *pos, int n, int n_head, int n_kv, int head_dim, int causal, int kv_len,
                                 int window, float scale, int n_split, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
