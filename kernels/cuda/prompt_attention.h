/* Attention of a prompt's queries on the tensor cores: the scores and the
 * weighted sum of values as fp16 matrix products with f32 accumulation
 * (mma.sync m16n8k16, sm_80 and later), one pass over the keys with an
 * online softmax (FlashAttention-2's forward loop: Dao, "FlashAttention-2",
 * 2023, algorithm 1), no score matrix in memory. The cache stays f32: each
 * tile of keys and values is rounded to fp16 as it is staged in shared
 * memory. For prompt products already in 16 bits (HRT_PRECISION_DEFAULT);
 * the exact path keeps kernels/cuda/attention.h. */
#ifndef HRT_CUDA_PROMPT_ATTENTION_H
#define HRT_CUDA_PROMPT_ATTENTION_H

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* out (n, n_head*head_dim) = softmax(scale q k^T) v with the same
 * arguments and masks as cuda_attention_split (kernels/cuda/attention.h):
 * causal (query t at position *pos + t sees cache rows up to it) or every
 * query over kv_len rows, window > 0 keeps each query's latest window rows,
 * grouped heads. Cache rows past the last one a query may see are never
 * read into a result, whatever they hold; values past fp16's range
 * saturate. Returns cudaErrorNotSupported for a head_dim other than 16, 32,
 * 64 or 128 or a device older than sm_80 (the caller falls back to the f32
 * kernels), cudaErrorInvalidValue for n_head not a multiple of n_kv. */
cudaError_t cuda_prompt_attention(float *out, const float *q, const float *k_cache, const float *v_cache,
                                  const int *pos, int n, int n_head, int n_kv, int head_dim, int causal, int kv_len,
                                  int window, float scale, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
