#include "matvec.h"

#include <stdlib.h>
#include <string.h>

#include "mat.cuh"

#define ROWS_PER_BLOCK 4 /* one warp per row */
#define MV_MAX 3

/* Up to MV_MAX matrices of one type and width share an input; their rows
 * are laid end to end over the grid. */
struct mv_args {
    cuda_mat w[MV_MAX];
    const float *bias[MV_MAX];
    float *y[MV_MAX];
    int rows[MV_MAX];
    int n_mats, cols, accumulate, swiglu; /* swiglu: 1 silu(gate) * up, 2 gelu_tanh(gate) * up */
    const float *x, *norm_w;
    float eps;
};

/* x is staged in shared memory, padded (xpad), RMS-normalised first when
 * norm_w is set.
 * swiglu: matrices 0 (gate) and 1 (up) are read for the same row and
 * y[0][r] = act(gate . x) * (up . x), act silu (1) or tanh GELU (2). */
template <int TYPE>
static __global__ void matvec_kernel(mv_args a)
{
    pdl_wait();
    extern __shared__ float xs[];
    __shared__ float scratch[32];
    float ss = 0.0f;
    for (int i = threadIdx.x; i < a.cols; i += blockDim.x) {
        float v = a.x[i];
        xs[xpad(i)] = v;
        ss += v * v;
    }
    if (a.norm_w) {
        float scale = rsqrtf(block_sum(ss, scratch) / (float)a.cols + a.eps);
        for (int i = threadIdx.x; i < a.cols; i += blockDim.x)
            xs[xpad(i)] = xs[xpad(i)] * scale * a.norm_w[i];
    }
    __syncthreads();
    int lane = threadIdx.x % WARP;
    int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / WARP;
    int nb = a.cols / 32;
    if (a.swiglu) {
        if (row >= a.rows[0]) return;
        const cuda_mat g = a.w[0], u = a.w[1];
        const cuda_mat *W[2] = {&g, &u};
        const int64_t rows[2] = {row, row};
        float o[2];
        rows_dot<TYPE, 2>(W, rows, 0, nb, xs, lane, o);
        if (lane == 0) a.y[0][row] = (a.swiglu == 1 ? silu(o[0]) : gelu_tanh(o[0])) * o[1];
        return;
    }
    int k = 0;
    while (k < a.n_mats && row >= a.rows[k]) row -= a.rows[k++];
    if (k >= a.n_mats) return;
    const cuda_mat w = a.w[k];
    const cuda_mat *W[1] = {&w};
    const int64_t rows[1] = {row};
    float o[1];
    rows_dot<TYPE, 1>(W, rows, 0, nb, xs, lane, o);
    if (lane == 0) {
        float *y = a.y[k];
        y[row] = (a.accumulate ? y[row] : 0.0f) + (a.bias[k] ? a.bias[k][row] : 0.0f) + o[0];
    }
}

/* matvec_kernel<TYPE> with smem bytes of x: past the 48 KiB a block may
 * have without asking (rows wider than about 10,900 columns, padded; a
 * feed-forward of 11,008 is one), the kernel is let have more first;
 * cudaErrorInvalidValue beyond what a block may have at all. */
template <int TYPE> static cudaError_t run(dim3 grid, dim3 block, size_t smem, cudaStream_t s, const mv_args &a)
{
    if (smem + 1024 > 48 * 1024) { /* 1 KiB: more than the kernel's static arrays */
        cudaError_t e = allow_smem((const void *)matvec_kernel<TYPE>, smem);
        if (e != cudaSuccess) return e == cudaErrorNotSupported ? cudaErrorInvalidValue : e;
    }
    return launch_pdl(matvec_kernel<TYPE>, grid, block, smem, s, a);
}

static cudaError_t launch(const cuda_mat *const *W, int n, const float *x, const float *norm_w, float eps,
                          const float *const *bias, float *const *y, int accumulate, int swiglu, cudaStream_t stream)
{
    mv_args a;
    memset(&a, 0, sizeof a);
    int total = 0;
    for (int k = 0; k < n; k++) {
        if (W[k]->type != W[0]->type || W[k]->cols != W[0]->cols) return cudaErrorInvalidValue;
        a.w[k] = *W[k];
        a.bias[k] = bias ? bias[k] : NULL;
        a.y[k] = y[k];
        a.rows[k] = (int)W[k]->rows;
        total += a.rows[k];
    }
    a.n_mats = n;
    a.cols = (int)W[0]->cols;
    a.accumulate = accumulate;
    a.swiglu = swiglu;
    a.x = x;
    a.norm_w = norm_w;
    a.eps = eps;
    if (swiglu) total = a.rows[0];
    dim3 grid((total + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK), block(ROWS_PER_BLOCK * WARP);
    size_t smem = (size_t)xpad(a.cols) * sizeof(float);
    switch (W[0]->type) {
    case T_Q4_0: return run<T_Q4_0>(grid, block, smem, stream, a);
    case T_Q4_1: return run<T_Q4_1>(grid, block, smem, stream, a);
    case T_Q8_0: return run<T_Q8_0>(grid, block, smem, stream, a);
    case T_Q4_K: return run<T_Q4_K>(grid, block, smem, stream, a);
    case T_Q6_K: return run<T_Q6_K>(grid, block, smem, stream, a);
    case T_F16: return run<T_F16>(grid, block, smem, stream, a);
    case T_BF16: return run<T_BF16>(grid, block, smem, stream, a);
    case T_F32: return run<T_F32>(grid, block, smem, stream, a);
    default: return cudaErrorInvalidValue;
    }
}

extern "C" cudaError_t cuda_matvec(const cuda_mat *W, const float *x, const float *bias, float *y, int accumulate,
                                   cudaStream_t stream)
{
    return launch(&W, 1, x, NULL, 0.0f, &bias, &y, accumulate, 0, stream);
}

extern "C" cudaError_t cuda_matvec_multi(const cuda_mat *const *W, int n, const float *x, const float *norm_w,
                                         float eps, const float *const *bias, float *const *y, cudaStream_t stream)
{
    if (n < 1 || n > MV_MAX) return cudaErrorInvalidValue;
    return launch(W, n, x, norm_w, eps, bias, y, 0, 0, stream);
}

extern "C" cudaError_t cuda_matvec_glu(const cuda_mat *gate, const cuda_mat *up, const float *x,
                                       const float *norm_w, float eps, int gelu, float *y, cudaStream_t stream)
{
    const cuda_mat *W[2] = {gate, up};
    float *ys[2] = {y, NULL};
    if (gate->rows != up->rows) return cudaErrorInvalidValue;
    return launch(W, 2, x, norm_w, eps, NULL, ys, 0, gelu ? 2 : 1, stream);
}

/* GGUF block layouts (kernels/cpu/quant.h). */
struct gg_q4_0 { uint16_t d; uint8_t qs[16]; };
struct gg_q4_1 { uint16_t d, m; uint8_t qs[16]; };
struct gg_q8_0 { uint16_t d; int8_t qs[32]; };

extern "C" int quant_group_ints(uint32_t type, const void *row, int64_t g, int8_t q[32], float scale[2],
                                float *offset); /* kernels/cpu/quant.c */

extern "C" uint32_t cuda_mat_layout(uint32_t t)
{
    switch (t) {
    case T_Q5_0: return T_Q8_0;
    case T_Q4_0: case T_Q4_1: case T_Q8_0: case T_Q4_K: case T_Q6_K: case T_F16: case T_BF16: case T_F32: return t;
    default: return T_NONE;
    }
}

/* Bytes per group of 32 weights of a layout: quants, fp16 scales, float scales. */
static void layout_sizes(uint32_t layout, size_t *qb, size_t *hb, size_t *fb)
{
    *qb = *hb = *fb = 0;
    switch (layout) {
    case T_Q4_0: *qb = 16; *hb = 2; break;
    case T_Q4_1: *qb = 16; *hb = 4; break;
    case T_Q8_0: *qb = 32; *hb = 2; break;
    case T_Q4_K: *qb = 16; *fb = 8; break;
    case T_Q6_K: *qb = 32; *fb = 8; break;
    case T_F16: case T_BF16: *qb = 64; break;
    case T_F32: *qb = 128; break;
    default: break;
    }
}

extern "C" size_t cuda_mat_bytes(uint32_t file_type, int64_t rows, int64_t cols)
{
    size_t qb, hb, fb, ng = (size_t)rows * (size_t)cols / 32;
    layout_sizes(cuda_mat_layout(file_type), &qb, &hb, &fb);
    return ng * (qb + hb + fb) + hb; /* + the spare d and m (cuda_mat_alloc) */
}

extern "C" void cuda_mat_free(cuda_mat *W)
{
    if (W->gemm && W->gemm != W->q) cudaFree(W->gemm);
    cudaFree(W->q);
    cudaFree(W->d);
    cudaFree(W->m);
    cudaFree(W->fd);
    cudaFree(W->fm);
    W->q = W->gemm = NULL;
    W->d = W->m = NULL;
    W->fd = W->fm = NULL;
}

extern "C" cudaError_t cuda_mat_alloc(cuda_mat *W, uint32_t file_type, int64_t rows, int64_t cols)
{
    memset(W, 0, sizeof *W);
    W->type = cuda_mat_layout(file_type);
    W->rows = rows;
    W->cols = cols;
    if (W->type == T_NONE || cols % 32) return cudaErrorInvalidValue;
    size_t qb, hb, fb, ng = (size_t)rows * (size_t)cols / 32;
    layout_sizes(W->type, &qb, &hb, &fb);
    cudaError_t e = cudaMalloc(&W->q, ng * qb);
    /* d and m with a spare zeroed element: the persistent decode step reads
     * 2-byte scales as the aligned 4-byte word that holds them */
    if (e == cudaSuccess && hb) e = cudaMalloc((void **)&W->d, ng * 2 + 2);
    if (e == cudaSuccess && hb) e = cudaMemset(W->d + ng, 0, 2);
    if (e == cudaSuccess && hb == 4) e = cudaMalloc((void **)&W->m, ng * 2 + 2);
    if (e == cudaSuccess && hb == 4) e = cudaMemset(W->m + ng, 0, 2);
    if (e == cudaSuccess && fb) e = cudaMalloc((void **)&W->fd, ng * (W->type == T_Q6_K ? 8 : 4));
    if (e == cudaSuccess && W->type == T_Q4_K) e = cudaMalloc((void **)&W->fm, ng * 4);
    if (e != cudaSuccess) cuda_mat_free(W);
    return e;
}

extern "C" cudaError_t cuda_mat_upload(cuda_mat *W, uint32_t file_type, const void *host, size_t row_bytes,
                                       int64_t row0, int64_t n_rows)
{
    int64_t nb = W->cols / 32;
    size_t qbytes = 0, hb, fb;
    if (cuda_mat_layout(file_type) != W->type) return cudaErrorInvalidValue; /* allocated for another type */
    layout_sizes(W->type, &qbytes, &hb, &fb);
    if (!hb && !fb) /* float types: rows as they are */
        return cudaMemcpy((char *)W->q + (size_t)row0 * row_bytes, host, (size_t)n_rows * row_bytes,
                          cudaMemcpyHostToDevice);
    size_t n_blocks = (size_t)n_rows * nb;
    uint8_t *q = (uint8_t *)malloc(n_blocks * qbytes);
    uint16_t *d = (uint16_t *)malloc(n_blocks * 2), *m = (uint16_t *)malloc(n_blocks * 2);
    float *fd = (float *)malloc(n_blocks * 8), *fm = (float *)malloc(n_blocks * 4);
    if (!q || !d || !m || !fd || !fm) {
        free(q); free(d); free(m); free(fd); free(fm);
        return cudaErrorMemoryAllocation;
    }
    for (int64_t r = 0; r < n_rows; r++) {
        const char *src = (const char *)host + (size_t)r * row_bytes;
        for (int64_t b = 0; b < nb; b++) {
            size_t i = (size_t)r * nb + b;
            if (file_type == T_Q4_0) {
                const gg_q4_0 *s = (const gg_q4_0 *)src + b;
                d[i] = s->d; m[i] = 0;
                memcpy(q + i * 16, s->qs, 16);
            } else if (file_type == T_Q4_1) {
                const gg_q4_1 *s = (const gg_q4_1 *)src + b;
                d[i] = s->d; m[i] = s->m;
                memcpy(q + i * 16, s->qs, 16);
            } else if (file_type == T_Q8_0) {
                const gg_q8_0 *s = (const gg_q8_0 *)src + b;
                d[i] = s->d; m[i] = 0;
                memcpy(q + i * 32, s->qs, 32);
            } else {
                int8_t v[32];
                float sc[2], off;
                if (quant_group_ints(file_type, src, b, v, sc, &off)) { /* unreachable: layout checked */
                    free(q); free(d); free(m); free(fd); free(fm);
                    return cudaErrorInvalidValue;
                }
                if (W->type == T_Q4_K) { /* nibbles in Q4_0's order */
                    for (int j = 0; j < 16; j++) q[i * 16 + j] = (uint8_t)(v[j] | (v[j + 16] << 4));
                    fd[i] = sc[0];
                    fm[i] = off;
                } else if (W->type == T_Q6_K) {
                    memcpy(q + i * 32, v, 32);
                    fd[2 * i] = sc[0];
                    fd[2 * i + 1] = sc[1];
                } else { /* Q5_0 as Q8_0: the scale is the block's fp16 d */
                    memcpy(q + i * 32, v, 32);
                    memcpy(&d[i], src + b * 22, 2);
                }
            }
        }
    }
    size_t off = (size_t)row0 * nb;
    cudaError_t e = cudaMemcpy((uint8_t *)W->q + off * qbytes, q, n_blocks * qbytes, cudaMemcpyHostToDevice);
    if (e == cudaSuccess && W->d) e = cudaMemcpy(W->d + off, d, n_blocks * 2, cudaMemcpyHostToDevice);
    if (e == cudaSuccess && W->m) e = cudaMemcpy(W->m + off, m, n_blocks * 2, cudaMemcpyHostToDevice);
    if (e == cudaSuccess && W->fd)
        e = cudaMemcpy(W->fd + off * (W->type == T_Q6_K ? 2 : 1), fd, n_blocks * (W->type == T_Q6_K ? 8 : 4),
                       cudaMemcpyHostToDevice);
    if (e == cudaSuccess && W->fm) e = cudaMemcpy(W->fm + off, fm, n_blocks * 4, cudaMemcpyHostToDevice);
    free(q); free(d); free(m); free(fd); free(fm);
    return e;
}
