/* Attention of a prompt's queries on the tensor cores: the scores and the
 * weighted sum of values as fp16 matrix products with f32 accumulation
 * (mma.sync m16n8k16, sm_80 and later), one pass over the keys with an
 * online softmax (FlashAttention-2's forward loop: Dao, "FlashAttention-2",
 * 2023, algorithm 1), no score matrix in memory. The cache stays f32: the
 * rows the queries see are first rounded to fp16 into a scratch buffer,
 * from which tiles of keys and values stream into shared memory. For prompt
 * products already in 16 bits (HRT_PRECISION_DEFAULT); the exact path keeps
 * kernels/cuda/attention.h. */
#ifndef HRT_CUDA_PROMPT_ATTENTION_H
#define HRT_CUDA_PROMPT_ATTENTION_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of the scratch a call needs for kv_rows cache rows and n queries
 * (a call with fewer of either fits too): fp16 copies of the keys and
 * values, and room for the partial results of the query blocks that two
 * thread blocks share. 0 for a head_dim that the kernel does not take. */
size_t cuda_prompt_attention_scratch(int kv_rows, int n, int n_head, int n_kv, int head_dim);

/* out (n, n_head*head_dim) = softmax(scale q k^T) v with the masks of
 * cuda_attention_split (kernels/cuda/attention.h): causal (query t at
 * position pos + t sees cache rows up to it) or every query over kv_len
 * rows, window > 0 keeps each query's latest window rows, grouped heads.
 * pos is a host value here: prompts are not captured in graphs. out is f32
 * (out_type 0) or fp16/bf16 (GGML_TYPE_F16 or GGML_TYPE_BF16: the input of
 * the product that reads it). The cache holds kv_rows rows; scratch holds
 * scratch_bytes, at least cuda_prompt_attention_scratch(kv_rows, n, ...).
 * Cache rows past the last one a query may see are never read into a
 * result, whatever they hold; values past fp16's range saturate. Returns
 * cudaErrorNotSupported for a head_dim other than 16, 32, 64, 128 or 256 or a
 * device older than sm_80 (the caller falls back to the f32 kernels),
 * cudaErrorInvalidValue for n_head not a multiple of n_kv, another
 * out_type, too little scratch, or rows past kv_rows (pos + n when causal,
 * kv_len otherwise, which must be at least 1). */
cudaError_t cuda_prompt_attention(void *out, uint32_t out_type, const float *q, const float *k_cache,
                                  const float *v_cache, void *scratch, size_t scratch_bytes, int kv_rows, int pos,
                                  int n, int n_head, int n_kv, int head_dim, int causal, int kv_len, int window,
                                  float scale, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
