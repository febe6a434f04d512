/* Decode-time matrix-vector products on the GPU: y = W x (+ bias) (+= y),
 * for weights in the repacked block layouts of cuda_mat (see below) or in
 * F16/BF16/F32, with float activations: the weights are dequantized in
 * registers and nothing of x is rounded, so the result is the CPU's F32
 * path up to the order of float sums. */
#ifndef HRT_CUDA_MATVEC_H
#define HRT_CUDA_MATVEC_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A weight matrix on the device. Quantized types are repacked from GGUF's
 * interleaved blocks into separate arrays, so that each warp reads its row's
 * quants with aligned 4-byte loads (nb = cols / 32 groups of 32 per row):
 *   Q4_0, Q4_1: q = rows * nb * 16 bytes of nibbles (GGUF's qs order:
 *               byte j holds weights j and j + 16), d = rows * nb fp16
 *               scales, m = rows * nb fp16 minimums (Q4_1)
 *   Q8_0:       q = rows * nb * 32 int8, d as above; Q5_0 files are
 *               repacked into it exactly (q - 16 fits in 8 bits)
 *   Q4_K:       q as Q4_0's nibbles, fd / fm = rows * nb float scales and
 *               offsets (w = q * fd + fm: the super-block scales already
 *               multiplied in, so the result is exact)
 *   Q6_K:       q as Q8_0's int8 (q - 32), fd = rows * nb * 2 float scales,
 *               one per 16 weights
 *   F16, BF16, F32: q = rows * cols elements, no scales
 * gemm is a 16-bit (fp16 or bf16) or f32 copy of the whole matrix for
 * prompt products through cuBLAS, or q itself for 16-bit and f32 weights. */
typedef struct {
    uint32_t type;          /* GGML_TYPE_* of the layout (see above) */
    int64_t rows, cols;
    void *q;
    uint16_t *d, *m;
    float *fd, *fm;
    void *gemm;             /* (rows, cols) in gemm_type, row-major */
    uint32_t gemm_type;     /* GGML_TYPE_F16, GGML_TYPE_BF16 or GGML_TYPE_F32 */
} cuda_mat;

/* y[r] = (accumulate ? y[r] : 0) + bias[r] (when bias) + dot(W[r], x), for
 * every row r. x is (cols) floats, y (rows) floats, both on the device. */
cudaError_t cuda_matvec(const cuda_mat *W, const float *x, const float *bias, float *y, int accumulate,
                        cudaStream_t stream);

/* Up to 3 matrices of one type and width on one input (Q, K and V), in
 * one launch: y[k] = W[k] x' + bias[k], where x' = RMSNorm(x) * norm_w
 * when norm_w is set (eps its epsilon), else x. bias may be NULL. */
cudaError_t cuda_matvec_multi(const cuda_mat *const *W, int n, const float *x, const float *norm_w, float eps,
                              const float *const *bias, float *const *y, cudaStream_t stream);

/* y = act(gate x') * (up x'), x' as above, act silu (gelu = 0) or tanh
 * GELU (gelu = 1): the feed-forward's first half in one launch. */
cudaError_t cuda_matvec_glu(const cuda_mat *gate, const cuda_mat *up, const float *x, const float *norm_w,
                            float eps, int gelu, float *y, cudaStream_t stream);

/* The layout a file's weight type is repacked into (GGML_TYPE_*), or
 * GGML_TYPE_COUNT (40) when the GPU cannot take the type. */
uint32_t cuda_mat_layout(uint32_t file_type);
/* Device bytes of the repacked arrays of a rows x cols matrix (no GEMM copy). */
size_t cuda_mat_bytes(uint32_t file_type, int64_t rows, int64_t cols);
/* Sets W's layout and shape and allocates its arrays (not gemm); on
 * failure nothing stays allocated. cuda_mat_free() frees them (and gemm
 * when it is a copy). */
cudaError_t cuda_mat_alloc(cuda_mat *W, uint32_t file_type, int64_t rows, int64_t cols);
void cuda_mat_free(cuda_mat *W);

/* Repacks n_rows GGUF rows of file_type (host memory, row_bytes apart) into
 * W's device arrays (allocated for that type), starting at row0.
 * Synchronous. */
cudaError_t cuda_mat_upload(cuda_mat *W, uint32_t file_type, const void *host, size_t row_bytes, int64_t row0,
                            int64_t n_rows);

#ifdef __cplusplus
}
#endif
#endif
