/* RoPE on the query and key rows of n tokens, and the store of their keys
 * and values into the layer's cache. Token t is at position *pos + t (pos
 * is device memory, so a captured graph replays at a new position). */
#ifndef HRT_CUDA_ROPE_H
#define HRT_CUDA_ROPE_H

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* q: (n, n_head*head_dim), k, v: (n, n_kv*head_dim), each row after row
 * (ld 0), or the three parts of rows ld floats apart (ld >= their sum: one
 * product's output for Q, K and V). inv_freq (n_rot/2) angles per position
 * (double). neox: rotate pairs (i, i + n_rot/2), else (2i, 2i+1). Adds the
 * biases bq, bk, bv (each may be NULL) to every row first (QKV bias,
 * Qwen2: one pass instead of three), writes the rotated queries to q_out
 * ((n, n_head*head_dim); it may be q when ld is 0, and must lie apart
 * from the rows read when ld is given) and
 * stores the rotated keys and the values into rows *pos.. of k_cache and
 * v_cache ((n_ctx, n_kv*head_dim) each); k and v are left as they were.
 * k16 and v16, both or neither, receive the same rows rounded to fp16
 * (saturating at +-65504, as cuda_prompt_attention's scratch holds them: a
 * prompt's attention then need not convert the rows the prompt wrote).
 * n_rot even, from 2 to min(head_dim, 256); cudaErrorInvalidValue
 * otherwise, for an ld too short, no q_out, or a q_out over the rows read
 * when ld is given. */
cudaError_t cuda_rope_store(const float *q, const float *k, const float *v, int ld, const float *bq, const float *bk,
                            const float *bv, float *q_out, float *k_cache, float *v_cache, void *k16, void *v16,
                            const int *pos, int n, int n_head, int n_kv, int head_dim, int n_rot,
                            const double *inv_freq, int neox, cudaStream_t s);

/* cs[t n_rot / 2 + i] = (cos, sin) of (*pos + t) inv_freq[i], as floats,
 * for t < n and i < n_rot / 2: the angles cuda_rope_store uses (taken in
 * double, then rounded), for kernels that rotate in their epilogue
 * (cuda_gemm_rope): floats in (cos, sin) pairs, 8-byte aligned. n_rot
 * even and at least 2; cudaErrorInvalidValue otherwise or for a NULL
 * pointer. */
cudaError_t cuda_rope_angles(float *cs, const int *pos, int n, int n_rot, const double *inv_freq, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
