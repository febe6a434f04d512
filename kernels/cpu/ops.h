/* CPU reference operators of the forward pass. Row-wise ops work on one
 * row of n floats; the matrix product is threaded over output rows. */
#ifndef HRT_OPS_H
#define HRT_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "threadpool.h"

/* A weight matrix as stored: n_rows rows of n_cols elements of type. */
typedef struct {
    uint32_t type;          /* GGML_TYPE_* */
    uint32_t act_type;      /* activation format it is multiplied with */
    int64_t n_rows, n_cols;
    size_t row_bytes;
    const void *data;
} cpu_mat;

/* Bytes of activation scratch cpu_matmul needs for n_tok rows of n_cols. */
size_t cpu_matmul_scratch(uint32_t act_type, int64_t n_cols, int n_tok);

/* For each k < n_mats: y[k][t * W[k]->n_rows + r] = dot(row r of W[k], x[t]).
 * All W[k] share n_cols and act_type; x is
 * (n_tok, n_cols). scratch holds cpu_matmul_scratch() bytes. Fusing the
 * products that share an input (Q, K, V; gate, up) into one call halves
 * the number of fork/joins. */
void cpu_matmul(threadpool *tp, const cpu_mat *const *W, float *const *y, int n_mats,
                const float *x, int n_tok, void *scratch);

/* C (m, n) = alpha A (m, k) B (k, n), or B^T with trans_b (B then (n, k));
 * row-major with leading dimensions. Done by OpenBLAS when hrt has it and
 * m is large enough to pay (returns 1); else nothing is done (returns 0)
 * and the caller uses its own loops. */
int cpu_gemm(threadpool *tp, int trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
             int ldb, float *c, int ldc);
/* on 0: hrt's own loops even where OpenBLAS could run (a benchmark's
 * peer, a test's reference); 1: back. Returns whether hrt has OpenBLAS. */
int cpu_set_blas(int on);

void cpu_rmsnorm(float *out, const float *x, const float *w, int n, float eps);
/* LayerNorm with weight and bias (BERT). */
void cpu_layernorm(float *out, const float *x, const float *w, const float *b, int n, float eps);
void cpu_softmax(float *x, int n);
/* Rotates head vectors of head_dim (n_heads of them, contiguous) for
 * position pos. neox: pairs (i, i + rot/2) as in GPT-NeoX / HF Llama;
 * otherwise adjacent pairs (2i, 2i+1) as in GGUF llama (whose Q/K weights
 * were permuted for it). Only the first n_rot dims rotate. */
void cpu_rope(float *x, int n_heads, int head_dim, int n_rot, const float *cs, int neox);
/* Fills cs with the (cos, sin) pairs of position pos for cpu_rope: n_rot
 * floats, angle pos * inv_freq[i] for pair i. Computed once per token and
 * shared by all layers. */
void cpu_rope_cache(float *cs, int n_rot, int pos, const double *inv_freq);
/* out[i] = silu(gate[i]) * up[i] */
void cpu_silu_mul(float *out, const float *gate, const float *up, int n);
/* out[i] = gelu(gate[i]) * up[i] with the tanh approximation of GELU
 * (0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))), HF's
 * gelu_pytorch_tanh), as Gemma's feed-forward uses. */
void cpu_gelu_tanh_mul(float *out, const float *gate, const float *up, int n);
/* tanh-free exact GELU (erf), as BERT uses. */
void cpu_gelu(float *x, int n);
float cpu_dot_f32(const float *a, const float *b, int n);
/* y += a * x */
void cpu_axpy(float *y, float a, const float *x, int n);

#endif
