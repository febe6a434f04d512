/* Prompt-time matrix products through cuBLAS: Y = X W^T (+ bias) (+= Y)
 * with W's GEMM copy (fp16 or bf16 on the tensor cores, or f32). */
#ifndef HRT_CUDA_GEMM_H
#define HRT_CUDA_GEMM_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "matvec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X (n, cols) floats, Y (n, rows) of y_type: f32, or W's 16-bit GEMM type
 * (the sums f32, rounded as they are stored, though cuBLAS may round
 * partial sums too: test_cuda_kernels bounds it; then no bias and
 * no accumulation). xh holds n*cols 16-bit values (scratch for the
 * converted activations). X NULL: xh already holds the rows in W's 16-bit
 * GEMM type (a producer wrote them so, once for every matrix that reads
 * them); invalid for an f32 copy. Returns a cuBLAS status mapped to
 * cudaErrorUnknown on failure. */
cudaError_t cuda_gemm(cublasHandle_t h, const cuda_mat *W, const float *X, void *xh, const float *bias, void *Y,
                      uint32_t y_type, int n, int accumulate, cudaStream_t s);

/* Two products with the same shape (W0, W1: one 16-bit GEMM type, rows and
 * cols) in one cuBLAS launch, from inputs already in 16 bits: Y_i = X_i W_i^T
 * (n rows each), Y of y_type (f32 or that 16-bit type), no bias. ptrs: six
 * pointers in device memory, {W0->gemm, W1->gemm, X0, X1, Y0, Y1}, which
 * stay the same from call to call (a session writes them once). */
cudaError_t cuda_gemm_pair(cublasHandle_t h, const cuda_mat *W0, const cuda_mat *W1, void *const *ptrs,
                           uint32_t y_type, int n, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
