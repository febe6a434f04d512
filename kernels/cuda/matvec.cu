#include "matvec.h"

#include <stdlib.h>
#include <string.h>

#include "common.cuh"

/* ggml type ids used here (kernels/cpu/quant.h) */
enum { T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q4_1 = 3, T_Q8_0 = 8, T_BF16 = 30 };

#define ROWS_PER_BLOCK 4 /* one warp per row */

/* Q4_0 / Q4_1: each lane takes 4-byte words of the row's nibbles; word w
 * holds bytes 4(w%4)..+3 of block w/4, i.e. elements j (low nibble) and
 * j + 16 (high nibble) for those 4 bytes. */
template <int TYPE>
static __global__ void matvec_q4(const uint32_t *__restrict__ q, const uint16_t *__restrict__ d,
                                 const uint16_t *__restrict__ m, const float *__restrict__ x,
                                 const float *__restrict__ bias, float *__restrict__ y, int rows, int nb,
                                 int accumulate)
{
    int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (row >= rows) return;
    const uint32_t *qr = q + (size_t)row * nb * 4;
    const uint16_t *dr = d + (size_t)row * nb;
    float acc = 0.0f;
    for (int w = lane; w < nb * 4; w += WARP) {
        int blk = w >> 2, sub = (w & 3) * 4;
        uint32_t v = __ldg(qr + w);
        const float *xb = x + blk * 32 + sub;
        float s = 0.0f, sx = 0.0f;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            uint32_t b = (v >> (8 * k)) & 0xffu;
            float lo = (float)(b & 15u), hi = (float)(b >> 4);
            float x0 = __ldg(xb + k), x1 = __ldg(xb + k + 16);
            if (TYPE == T_Q4_0) {
                s += (lo - 8.0f) * x0 + (hi - 8.0f) * x1;
            } else {
                s += lo * x0 + hi * x1;
                sx += x0 + x1;
            }
        }
        acc += h2f(__ldg(dr + blk)) * s;
        if (TYPE == T_Q4_1) acc += h2f(__ldg(m + (size_t)row * nb + blk)) * sx;
    }
    acc = warp_sum(acc);
    if (lane == 0) y[row] = (accumulate ? y[row] : 0.0f) + (bias ? bias[row] : 0.0f) + acc;
}

static __global__ void matvec_q8(const uint32_t *__restrict__ q, const uint16_t *__restrict__ d,
                                 const float *__restrict__ x, const float *__restrict__ bias, float *__restrict__ y,
                                 int rows, int nb, int accumulate)
{
    int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (row >= rows) return;
    const uint32_t *qr = q + (size_t)row * nb * 8;
    float acc = 0.0f;
    for (int w = lane; w < nb * 8; w += WARP) {
        int blk = w >> 3, sub = (w & 7) * 4;
        uint32_t v = __ldg(qr + w);
        const float *xb = x + blk * 32 + sub;
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < 4; k++) s += (float)(int8_t)((v >> (8 * k)) & 0xffu) * __ldg(xb + k);
        acc += h2f(__ldg(d + (size_t)row * nb + blk)) * s;
    }
    acc = warp_sum(acc);
    if (lane == 0) y[row] = (accumulate ? y[row] : 0.0f) + (bias ? bias[row] : 0.0f) + acc;
}

/* 16-bit and f32 weights: 4 elements per lane step. */
template <int TYPE>
static __global__ void matvec_float(const void *__restrict__ wv, const float *__restrict__ x,
                                    const float *__restrict__ bias, float *__restrict__ y, int rows, int cols,
                                    int accumulate)
{
    int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (row >= rows) return;
    float acc = 0.0f;
    if (TYPE == T_F32) {
        const float *w = (const float *)wv + (size_t)row * cols;
        for (int i = lane; i < cols; i += WARP) acc += __ldg(w + i) * __ldg(x + i);
    } else {
        const uint16_t *w = (const uint16_t *)wv + (size_t)row * cols;
        for (int i = lane * 2; i + 1 < cols; i += WARP * 2) {
            uint32_t pair = __ldg((const uint32_t *)(w + i)); /* cols even: aligned */
            float w0 = TYPE == T_F16 ? h2f(pair & 0xffffu) : bf2f(pair & 0xffffu);
            float w1 = TYPE == T_F16 ? h2f(pair >> 16) : bf2f(pair >> 16);
            acc += w0 * __ldg(x + i) + w1 * __ldg(x + i + 1);
        }
    }
    acc = warp_sum(acc);
    if (lane == 0) y[row] = (accumulate ? y[row] : 0.0f) + (bias ? bias[row] : 0.0f) + acc;
}

extern "C" cudaError_t cuda_matvec(const cuda_mat *W, const float *x, const float *bias, float *y, int accumulate,
                                   cudaStream_t stream)
{
    int rows = (int)W->rows, cols = (int)W->cols, nb = cols / 32;
    dim3 grid((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK), block(ROWS_PER_BLOCK * WARP);
    switch (W->type) {
    case T_Q4_0:
        matvec_q4<T_Q4_0><<<grid, block, 0, stream>>>((const uint32_t *)W->q, W->d, W->m, x, bias, y, rows, nb,
                                                      accumulate);
        break;
    case T_Q4_1:
        matvec_q4<T_Q4_1><<<grid, block, 0, stream>>>((const uint32_t *)W->q, W->d, W->m, x, bias, y, rows, nb,
                                                      accumulate);
        break;
    case T_Q8_0:
        matvec_q8<<<grid, block, 0, stream>>>((const uint32_t *)W->q, W->d, x, bias, y, rows, nb, accumulate);
        break;
    case T_F16: matvec_float<T_F16><<<grid, block, 0, stream>>>(W->q, x, bias, y, rows, cols, accumulate); break;
    case T_BF16: matvec_float<T_BF16><<<grid, block, 0, stream>>>(W->q, x, bias, y, rows, cols, accumulate); break;
    case T_F32: matvec_float<T_F32><<<grid, block, 0, stream>>>(W->q, x, bias, y, rows, cols, accumulate); break;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

/* GGUF block layouts (kernels/cpu/quant.h). */
struct gg_q4_0 { uint16_t d; uint8_t qs[16]; };
struct gg_q4_1 { uint16_t d, m; uint8_t qs[16]; };
struct gg_q8_0 { uint16_t d; int8_t qs[32]; };

extern "C" cudaError_t cuda_mat_upload(cuda_mat *W, const void *host, size_t row_bytes, int64_t row0, int64_t n_rows)
{
    int64_t nb = W->cols / 32;
    size_t qbytes = 0;
    switch (W->type) {
    case T_Q4_0: case T_Q4_1: qbytes = 16; break;
    case T_Q8_0: qbytes = 32; break;
    default: break;
    }
    if (!qbytes) /* float types: rows as they are */
        return cudaMemcpy((char *)W->q + (size_t)row0 * row_bytes, host, (size_t)n_rows * row_bytes,
                          cudaMemcpyHostToDevice);
    size_t n_blocks = (size_t)n_rows * nb;
    uint8_t *q = (uint8_t *)malloc(n_blocks * qbytes);
    uint16_t *d = (uint16_t *)malloc(n_blocks * 2), *m = (uint16_t *)malloc(n_blocks * 2);
    if (!q || !d || !m) {
        free(q); free(d); free(m);
        return cudaErrorMemoryAllocation;
    }
    for (int64_t r = 0; r < n_rows; r++) {
        const char *src = (const char *)host + (size_t)r * row_bytes;
        for (int64_t b = 0; b < nb; b++) {
            size_t i = (size_t)r * nb + b;
            if (W->type == T_Q4_0) {
                const gg_q4_0 *s = (const gg_q4_0 *)src + b;
                d[i] = s->d; m[i] = 0;
                memcpy(q + i * 16, s->qs, 16);
            } else if (W->type == T_Q4_1) {
                const gg_q4_1 *s = (const gg_q4_1 *)src + b;
                d[i] = s->d; m[i] = s->m;
                memcpy(q + i * 16, s->qs, 16);
            } else {
                const gg_q8_0 *s = (const gg_q8_0 *)src + b;
                d[i] = s->d; m[i] = 0;
                memcpy(q + i * 32, s->qs, 32);
            }
        }
    }
    size_t off = (size_t)row0 * nb;
    cudaError_t e = cudaMemcpy((uint8_t *)W->q + off * qbytes, q, n_blocks * qbytes, cudaMemcpyHostToDevice);
    if (e == cudaSuccess) e = cudaMemcpy(W->d + off, d, n_blocks * 2, cudaMemcpyHostToDevice);
    if (e == cudaSuccess && W->m) e = cudaMemcpy(W->m + off, m, n_blocks * 2, cudaMemcpyHostToDevice);
    free(q); free(d); free(m);
    return e;
}
