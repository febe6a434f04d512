/* A prompt's causal attention on Hopper's warpgroup matrix products
 * (wgmma, sm_90a), for heads of 64: the scores Q K^T with both operands in
 * shared memory, the weighted sum P V with the weights P in registers (as
 * FlashAttention-3 does: Shah et al., "FlashAttention-3", 2024). Called by
 * cuda_prompt_attention (prompt_attention.h) where it applies, after the
 * cache rows are in the fp16 scratch; the same arguments' meanings. */
#ifndef HRT_CUDA_PROMPT_ATTENTION_SM90_H
#define HRT_CUDA_PROMPT_ATTENTION_SM90_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Whether cuda_prompt_attention takes this kernel for a call with these
 * head_dim, causal and window on the current device: head_dim 64, causal,
 * no window, a device that runs this file's sm_90a image, and
 * HRT_CUDA_ATTN_SM90 not "0" in the environment (which keeps the mma.sync
 * kernel, for comparisons). */
int cuda_prompt_attention_sm90_takes(int head_dim, int causal, int window);

/* out (n, n_head * 64) for the queries at positions pos .. pos + n - 1 over
 * the fp16 key and value rows kh, vh (rows of kv_dim = n_kv * 64 halves,
 * 16-byte aligned; rows [0, pos + n) read); q f32 (q16 0, multiplied by
 * qscale and rounded here) or fp16 already scaled (q16 1). Returns
 * cudaErrorNotSupported where cuda_prompt_attention_sm90_takes(64, 1, 0)
 * would be 0 on the device. */
cudaError_t cuda_prompt_attention_sm90(void *out, uint32_t out_type, const void *q, int q16, const void *kh,
                                       const void *vh, int pos, int n, int n_head, int n_kv, float qscale,
                                       cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
