/* Attention of a prompt's queries on the tensor cores: the scores and the
 * weighted sum of values as fp16 matrix products with f32 accumulation
 * (mma.sync m16n8k16, sm_80 and later), one pass over the keys with an
 * online softmax (FlashAttention-2's forward loop: Dao, "FlashAttention-2",
 * 2023, algorithm 1), no score matrix in memory. The cache stays f32: the
 * rows the queries see are first rounded to fp16 into a scratch buffer,
 * from which tiles of keys and values stream into shared memory. For prompt
 * products already in 16 bits (HRT_PRECISION_DEFAULT); the exact path keeps
 * kernels/cuda/attention.h. On Hopper, causal calls with heads of 64 and no
 * window take prompt_attention_sm90.h's kernel on wgmma instead (from the
 * same fp16 copies; never split). */
#ifndef HRT_CUDA_PROMPT_ATTENTION_H
#define HRT_CUDA_PROMPT_ATTENTION_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* log2(e): scores are kept in base 2 */
#define CUDA_ATTN_LOG2E 1.4426950408889634f

/* Bytes of the scratch that calls on the current device need for kv_rows
 * cache rows and up to n queries: fp16 copies of the keys and values, and
 * room for the partial results of the query blocks that two thread blocks
 * share (at most as many as the device holds blocks at once). 0 for a
 * head_dim the kernel does not take, a device older than sm_80 or no
 * device: the caller then takes the f32 kernels. */
size_t cuda_prompt_attention_scratch(int kv_rows, int n, int n_head, int n_kv, int head_dim);

/* out (n, n_head*head_dim) = softmax(scale q k^T) v with the masks of
 * cuda_attention_split (kernels/cuda/attention.h): causal (query t at
 * position pos + t sees cache rows up to it) or every query over kv_len
 * rows, window > 0 keeps each query's latest window rows, grouped heads.
 * pos is a host value here: prompts are not captured in graphs. out is f32
 * (out_type 0) or fp16/bf16 (GGML_TYPE_F16 or GGML_TYPE_BF16: the input of
 * the product that reads it; fp16 saturates at +-65504). q is f32 (q_type
 * 0), or fp16 (GGML_TYPE_F16) holding q scale CUDA_ATTN_LOG2E rounded to
 * nearest, saturating (what cuda_gemm_rope writes given that factor: the
 * kernel's own first step on f32 queries, so both give the same bits). The cache holds
 * kv_rows rows. scratch, 16-byte aligned, holds scratch_bytes: at least
 * the fp16 copies (4 * kv_rows * n_kv * head_dim bytes); with less than
 * cuda_prompt_attention_scratch(kv_rows, n, ...) long query blocks may stay
 * unsplit. Calls on different streams need different scratch. The copies
 * come first: the keys' kv_rows rows of n_kv * head_dim fp16 values, then
 * the values' as many. new16 (causal calls only) says that the rows the
 * call's queries wrote, [pos, pos + n), already sit there (cuda_rope_store
 * writes them, or cuda_gemm_rope), so that only older rows are converted. Cache rows
 * at or past pos + n (kv_len) are never read; the rows a block of queries
 * covers are read whole, so a
 * NaN in a value row that some query of the block may not see still
 * reaches that query (through a weight of 0): the rows the prompt itself
 * wrote must be finite. Keys and values past fp16's range saturate.
 * HRT_CUDA_ATTN_SPLIT=0 in the environment keeps every query block in one
 * thread block, =1 splits the long ones whatever the load (the default
 * splits them when the device would otherwise sit idle; the sums then
 * depend on how a prompt is cut into calls). Returns cudaErrorNotSupported
 * for a head_dim other than 16, 32, 64, 128 or 256 or a device older than
 * sm_80, cudaErrorInvalidValue for n_head < 1 or not a multiple of n_kv,
 * another out_type or q_type, no scratch, a misaligned one or one too small for
 * the fp16 copies, new16 without causal,
 * pos < 0, or rows past kv_rows (pos + n when causal; kv_len otherwise,
 * which must be at least 1). */
cudaError_t cuda_prompt_attention(void *out, uint32_t out_type, const void *q, uint32_t q_type, const float *k_cache,
                                  const float *v_cache, void *scratch, size_t scratch_bytes, int new16, int kv_rows,
                                  int pos, int n, int n_head, int n_kv, int head_dim, int causal, int kv_len,
                                  int window, float scale, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
