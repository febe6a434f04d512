/* Prompt-time matrix products through cuBLAS: Y = X W^T (+ bias) (+= Y)
 * with W's GEMM copy (fp16 or bf16 on the tensor cores, or f32).
 *
 * cuBLAS's own choice of algorithm (cublasGemmEx) is not always the fastest
 * for a small model's shapes: on the H100, Qwen2.5-0.5B's gate and up rows
 * as one product over 2,048 tokens took 59.1 us against 52.6 for the best
 * of the algorithms cuBLASLt's heuristic offers. With a plan table
 * (cuda_gemm_plans) a 16-bit product of more than 512 rows times, once per
 * shape and bucket of rows (powers of two, timed at the bucket's top on
 * scratch buffers), cublasGemmEx and each algorithm offered, and keeps the
 * fastest (cuBLASLt's only where it is clearly faster). The first product of a shape in a bucket pays for it: some 15 to
 * 40 ms, most of it the first launch of each candidate kernel, and about
 * 60 ms more for cuBLASLt's first heuristic query in a process. The chosen
 * algorithm may differ from process to process, and with it the rounding
 * of the sums.  */
#ifndef HRT_CUDA_GEMM_H
#define HRT_CUDA_GEMM_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "matvec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The algorithms chosen so far, per (rows, cols, bucket of n, types,
 * accumulation); shared by the sessions of one model (a mutex guards it). */
typedef struct cuda_gemm_plans cuda_gemm_plans;

/* NULL when out of memory. */
cuda_gemm_plans *cuda_gemm_plans_new(void);
void cuda_gemm_plans_free(cuda_gemm_plans *p); /* NULL: nothing */

/* What the table holds and what its products did (tests): plans made,
 * those that use a cuBLASLt algorithm, products run by one, and products
 * whose cuBLASLt algorithm failed and took cublasGemmEx instead. */
typedef struct {
    int plans, lt;
    long lt_runs, fallbacks;
} cuda_gemm_plans_stats;
cuda_gemm_plans_stats cuda_gemm_plans_count(cuda_gemm_plans *p); /* NULL: all 0 */

/* A caller's products: one per stream (the workspace is the stream's). */
typedef struct {
    cublasHandle_t blas;
    cublasLtHandle_t lt;     /* NULL: cublasGemmEx for every product */
    cuda_gemm_plans *plans;  /* NULL: likewise (borrowed) */
    void *ws;                /* cuBLASLt's workspace, ws_bytes (CUDA_GEMM_WORKSPACE) */
    size_t ws_bytes;
    int prefer_lt;           /* tests: keep cuBLASLt's fastest even where cublasGemmEx is faster */
} cuda_gemm_ctx;

/* The workspace cuBLAS's documentation (cublasSetWorkspace) recommends:
 * 32 MiB on Hopper, 4 MiB on earlier devices. */
size_t cuda_gemm_workspace(int sm_major);

/* X (n, cols) floats, Y (n, rows) of y_type: f32, or W's 16-bit GEMM type
 * (the sums f32, rounded as they are stored, though cuBLAS may round
 * partial sums too: test_cuda_kernels bounds it; then no bias and
 * no accumulation). xh holds n*cols 16-bit values (scratch for the
 * converted activations). X NULL: xh already holds the rows in W's 16-bit
 * GEMM type (a producer wrote them so, once for every matrix that reads
 * them); invalid for an f32 copy. Returns a cuBLAS status mapped to
 * cudaErrorUnknown on failure. The first product of a shape in a bucket
 * synchronizes the stream and times the candidates (see above); never
 * while the stream is being captured. */
cudaError_t cuda_gemm(const cuda_gemm_ctx *g, const cuda_mat *W, const float *X, void *xh, const float *bias, void *Y,
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
