/* The one-token decode step of a Llama-family decoder as one persistent
 * kernel: one block per multiprocessor, launched cooperatively (all blocks
 * resident at once), with no kernel boundary and no grid-wide barrier
 * between its phases: each value one phase passes to another carries the
 * epoch of the layer that stored it, and a block starts a phase as soon as
 * the values it needs are there:
 *   1. RMSNorm + Q/K/V rows (+ bias), RoPE, K and V stored in the cache
 *   2. attention of each KV group over a slice of the keys (flash-decoding
 *      partials)
 *   3. the partials merged (each block a few of a group's columns), then
 *      the group's merged columns times its columns of Wo: one partial
 *      output vector per KV group
 *   4. residual + the partials (in a fixed order), RMSNorm, gate and up
 *      rows with SiLU
 *   5. down rows + the residual
 * then the final norm, the LM head and the argmax. Every block computes a
 * phase's input vector itself (the norms are per block, in the same order
 * everywhere), so nothing depends on timing: the step is deterministic.
 * The weights of Q/K/V, Wo (a block's chunk of rows over its KV group's
 * columns), gate/up, down and the LM head stream through a ring of shared-memory slots
 * per warp (cp.async, a few batches in flight, the first ones started once
 * the block is done with the phase before, so that their latency passes
 * while it waits for its input); attention's first keys other than the
 * new one are loaded before it waits for the queries. An RMSNorm is
 * applied as x * w staged once and its factor multiplied into each dot
 * product. The step is bound by the latency of its ~150 phases more than
 * by bandwidth (docs/PERFORMANCE.md has the times). There is a kernel for
 * each weight layout, used when every layer matrix has that one, and one
 * for any mix (slower: more code for the instruction cache).
 * Shapes it takes (cuda_decode_supported): no Q/K norms, sandwich norms,
 * sliding windows, soft-capping or GELU; head_dim at most 128,
 * n_head / n_kv at most 8 with (n_head / n_kv) * head_dim a multiple of 32;
 * the weights of a layer's Q/K/V of one layout, gate and up of one;
 * n_ff >= n_embd (see decode.cu's st_ll). */
#ifndef HRT_CUDA_DECODE_H
#define HRT_CUDA_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "matvec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    cuda_mat wq, wk, wv, wo, gate, up, down;
    const float *attn_norm, *ffn_norm; /* (n_embd) */
    const float *bq, *bk, *bv;         /* NULL, or (n_head * head_dim), (n_kv * head_dim) x 2 */
} cuda_decode_layer;

typedef struct {
    int n_layer, n_embd, n_head, n_kv, head_dim, n_rot, n_ff, n_vocab, n_ctx, neox;
    float eps, attn_scale, embd_scale;
    const cuda_decode_layer *layers; /* (n_layer), in device memory */
    cuda_mat tok_embd, output;
    const float *output_norm;        /* (n_embd) */
    const double *inv_freq;          /* (n_rot / 2) RoPE frequencies */
    float *k_cache, *v_cache;        /* (n_layer, n_ctx, n_kv * head_dim) */
    /* the token and its position, on the device; the step ends by storing
     * the argmax at *token and *pos + 1 at *pos: the next greedy step's
     * input, there without a copy from the host */
    int32_t *token;
    int *pos;
    float *logits;                   /* (n_vocab), written */
    /* (n_ctx) the argmax of the logits (lowest id on ties), written at
     * next[*pos]: a slot a position, so that steps enqueued back to back
     * keep their results apart (mapped host memory in the backend) */
    int32_t *next;
    void *scratch;                   /* cuda_decode_scratch_bytes(), set up by cuda_decode_reset() */
    int grid;                        /* blocks: from cuda_decode_grid() */
    int ring;                        /* weight batches a warp keeps in flight (4, 2 or 1): from cuda_decode_grid() */
    int layout;                      /* the GGML type of every layer's Q/K/V, Wo, gate/up and down, or
                                        DECODE_ANY_LAYOUT where they differ: from cuda_decode_supported();
                                        DECODE_ANY_LAYOUT also picks the step's kernel for any mix on a model
                                        of one layout (slower: more code) */
    /* NULL, or DECODE_TIMING_WORDS zeroed counters: each step adds block
     * 0's SM cycles in each phase (Q/K/V, attention, merge + Wo, gate/up,
     * down, LM head with the argmax) in three parts: reading and
     * normalising the input (with the wait for it), the phase's work, and
     * from there to the phase's end (starting the next phase's weight
     * copies, the block's slowest warp); and 1 to the last */
    unsigned long long *timing;
} cuda_decode_args;

#define DECODE_ANY_LAYOUT (-1)
#define DECODE_PHASES 6
#define DECODE_TIMING_WORDS (3 * DECODE_PHASES + 1)

/* 1 when the step takes a model of this shape (see above), else 0; sets
 * a->layout. */
int cuda_decode_supported(cuda_decode_args *a, const cuda_decode_layer *host_layers);
/* The grid for the current device (one block per multiprocessor) and the
 * deepest weight ring that fits in a block's shared memory beside the
 * model's vectors, or an error when a block does not fit on one. */
cudaError_t cuda_decode_grid(const cuda_decode_args *a, int *grid, int *ring);
size_t cuda_decode_scratch_bytes(const cuda_decode_args *a);
/* Zeroes the scratch (its epochs): once, before the first step. */
cudaError_t cuda_decode_reset(const cuda_decode_args *a, cudaStream_t s);
/* Enqueues one step (capturable in a graph). The token at *pos is decoded
 * against cache rows [0, *pos) and its K and V are stored at row *pos;
 * then *token and *pos advance (see cuda_decode_args). */
cudaError_t cuda_decode_step(const cuda_decode_args *a, cudaStream_t s);
/* For tests: y = W[:, [32 b0, 32 (b0 + nb))] x (W->rows outputs, x of
 * 32 nb) with W's rows read as the step reads its weights: through each
 * warp's ring of `ring` slots (4, 2 or 1), `rows` rows a unit (1 as Wo and
 * down, 2 as Q/K/V, gate/up and the LM head), on grid blocks of the step's size,
 * x padded in shared memory when pad (as the kernel for quantized layouts
 * has it) or not (as the one for 16/32-bit models).
 * cudaErrorInvalidValue for another depth or rows or a span outside W;
 * cudaErrorNotSupported when the ring does not fit in the device's shared
 * memory. */
cudaError_t cuda_decode_ring_matvec(const cuda_mat *W, int b0, int nb, const float *x, float *y, int rows, int grid,
                                    int ring, int pad);
/* For the benchmark: the time of one grid-wide barrier, what the step
 * would spend on each had it any (grid blocks, nothing else running), the
 * fastest of 5 runs of n barriers. */
cudaError_t cuda_decode_barrier_cost(int grid, int n, float *us);

#ifdef __cplusplus
}
#endif
#endif
