/* A prompt's gate and up products and the GLU between them as one kernel
 * (Hopper, sm_90a): H = act(X Wg^T) * (X Wu^T), with Wg and Wu the two
 * halves of one matrix's rows (gate's ff rows, then up's ff), X the
 * normalized activations and H down's input, all three in one 16-bit type.
 * The gate and up sums stay in the tensor cores' f32 accumulators until the
 * GLU has used them: neither is written to memory nor rounded to 16 bits,
 * as the two-step path (cuBLAS, then cuda_glu) must do with its ~2 n ff
 * values a layer. */
#ifndef HRT_CUDA_GEMM_GLU_H
#define HRT_CUDA_GEMM_GLU_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Whether the current device runs the kernel: a compute capability 9.0
 * device with this build's sm_90a code and a driver that encodes tensor
 * maps (found once a device; the first call synchronizes the device). */
int cuda_gemm_glu_available(void);

/* out (n, ff) = act(x w[j]^T) * (x w[ff + j]^T) for j < ff, act silu (gelu
 * = 0) or tanh GELU (gelu = 1), as cuda_glu computes it; x (n, k) and w
 * (2 ff, k) row-major, out dense, all of type (GGML_TYPE_F16 or BF16), 16-
 * byte aligned. Needs n at most 2^30, k a multiple of 8 and ff of 128; cudaErrorNotSupported
 * where the kernel is not available, cudaErrorInvalidValue for other
 * arguments. n = 0 does nothing. tile: outputs a thread block's tile spans,
 * 0 to let the shape choose (64 or 128), or either of those (tests). */
cudaError_t cuda_gemm_glu(void *out, const void *x, const void *w, uint32_t type, int n, int k, int ff, int gelu,
                          int tile, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
