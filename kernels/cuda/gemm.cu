#include "gemm.h"

#include "common.cuh"
#include "elementwise.h"

extern "C" cudaError_t cuda_gemm(cublasHandle_t h, const cuda_mat *W, const float *X, void *xh, const float *bias,
                                 void *Y, uint32_t y_type, int n, int accumulate, cudaStream_t s)
{
    if (y_type != T_F32 && (y_type != W->gemm_type || bias || accumulate)) return cudaErrorInvalidValue;
    /* Row-major Y (n, rows) is column-major (rows, n) = W (rows, cols) times
     * X^T: column-major W^T is row-major W, so op(A) = T with lda = cols. */
    int rows = (int)W->rows, cols = (int)W->cols;
    float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    cudaError_t e;
    cublasStatus_t st;
    if (cublasSetStream(h, s) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
    if (W->gemm_type == T_F32) {
        if (!X) return cudaErrorInvalidValue;
        st = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &alpha, W->gemm, CUDA_R_32F, cols, X,
                          CUDA_R_32F, cols, &beta, Y, CUDA_R_32F, rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    } else {
        cudaDataType_t dt = W->gemm_type == T_F16 ? CUDA_R_16F : CUDA_R_16BF;
        if (X && (e = cuda_to_16bit(xh, W->gemm_type, X, (int64_t)n * cols, s)) != cudaSuccess) return e;
        st = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &alpha, W->gemm, dt, cols, xh, dt, cols, &beta,
                          Y, y_type == T_F32 ? CUDA_R_32F : dt, rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    }
    if (st != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
    return bias ? cuda_add_bias((float *)Y, bias, n, rows, s) : cudaSuccess;
}

extern "C" cudaError_t cuda_gemm_pair(cublasHandle_t h, const cuda_mat *W0, const cuda_mat *W1, void *const *ptrs,
                                      uint32_t y_type, int n, cudaStream_t s)
{
    const uint32_t t = W0->gemm_type;
    if ((t != T_F16 && t != T_BF16) || W1->gemm_type != t || W1->rows != W0->rows || W1->cols != W0->cols ||
        (y_type != T_F32 && y_type != t) || !ptrs || n < 1)
        return cudaErrorInvalidValue;
    const int rows = (int)W0->rows, cols = (int)W0->cols;
    const float alpha = 1.0f, beta = 0.0f;
    const cudaDataType_t dt = t == T_F16 ? CUDA_R_16F : CUDA_R_16BF;
    if (cublasSetStream(h, s) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
    /* as cuda_gemm: column-major Y_i (rows, n) = W_i (row-major) times X_i^T */
    cublasStatus_t st = cublasGemmBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &alpha,
                                            (const void *const *)ptrs, dt, cols, (const void *const *)(ptrs + 2), dt,
                                            cols, &beta, ptrs + 4, y_type == T_F32 ? CUDA_R_32F : dt, rows, 2,
                                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    return st == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown;
}
