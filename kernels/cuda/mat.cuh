/* Reading the repacked matrices of matvec.h on the device: one element
 * (mat_at) and dot products of rows with an activation vector in shared
 * memory (rows_dot), shared by matvec.cu, elementwise.cu and decode.cu. */
#ifndef HRT_CUDA_MAT_CUH
#define HRT_CUDA_MAT_CUH

#include "common.cuh"
#include "matvec.h"

/* Element c of row r of a repacked matrix, as a float. */
static __device__ __forceinline__ float mat_at(const cuda_mat &W, int64_t r, int64_t c)
{
    const void *q = W.q;
    int64_t nb = W.cols / 32, blk = c / 32, j = c % 32, cols = W.cols;
    size_t bi = (size_t)r * nb + blk;
    switch (W.type) {
    case T_Q4_0: case T_Q4_1: case T_Q4_K: {
        uint8_t b = ((const uint8_t *)q)[bi * 16 + (j & 15)];
        float v = (float)(j < 16 ? (b & 15) : (b >> 4));
        if (W.type == T_Q4_K) return v * W.fd[bi] + W.fm[bi];
        return W.type == T_Q4_0 ? (v - 8.0f) * h2f(W.d[bi]) : v * h2f(W.d[bi]) + h2f(W.m[bi]);
    }
    case T_Q8_0: return (float)((const int8_t *)q)[bi * 32 + j] * h2f(W.d[bi]);
    case T_Q6_K: return (float)((const int8_t *)q)[bi * 32 + j] * W.fd[bi * 2 + j / 16];
    case T_F16: return h2f(((const uint16_t *)q)[(size_t)r * cols + c]);
    case T_BF16: return bf2f(((const uint16_t *)q)[(size_t)r * cols + c]);
    default: return ((const float *)q)[(size_t)r * cols + c];
    }
}

/* Dot products of R rows (of one layout; each row may come from its own
 * matrix of the same width) with xs, over the column blocks [b0, b0 + nb)
 * of 32; xs[xat(c, PAD)] is column 32 * b0 + c (batch_use takes PAD;
 * rows_dot and rows_finish, matvec.cu's, always pad). One warp; every lane
 * gets the sums.
 * A lane's unit of work is 16 bytes of a row:
 *   Q4_0/Q4_1/Q4_K: a block's nibbles: byte j holds elements j (low
 *              nibble) and j + 16 (high);
 *   Q8_0/Q6_K: half a block (elements 16h..16h+15);
 *   F16/BF16:  16 bytes = 8 elements;  F32: 16 bytes = 4 elements.
 * Each lane loads a batch of U units of every row, with their scales,
 * before it uses any, so that a row of up to 32 U units costs one memory
 * latency, not one per unit. The weights are read through the read-only
 * cache: they never change while a kernel runs.
 * When PAD, xs is padded (xpad): 4 floats after each block of 32, so that
 * the lanes of a warp, each reading the x of its own unit 16 bytes at a
 * time, hit distinct banks. Unpadded, a Q4 unit's 32 elements put every
 * lane of a load on the same 4 banks (an 8-way conflict; Q8 4-way,
 * F16/BF16 2-way, F32 none). */
static __host__ __device__ __forceinline__ int xpad(int i) { return i + (i >> 5) * 4; }
/* element i's place in xs, padded or not */
static __host__ __device__ __forceinline__ int xat(int i, bool pad) { return pad ? xpad(i) : i; }

template <int R>
struct wbatch {
    static constexpr int U = 2;
    uint4 v[U][R];
    float sd[U][R], so[U][R]; /* scale and offset (or minimum) of each unit's block */
};

/* A layout's units: Q4, a block's nibbles each (unit u of a row is in its
 * block u); Q8, half a block each (block u / 2); HALF, scales in 2-byte
 * fp16 arrays (d, and m for Q4_1); PER_BLOCK, units a block of 32. */
template <int TYPE>
struct units {
    static constexpr bool Q4 = TYPE == T_Q4_0 || TYPE == T_Q4_1 || TYPE == T_Q4_K,
                          Q8 = TYPE == T_Q8_0 || TYPE == T_Q6_K,
                          HALF = TYPE == T_Q4_0 || TYPE == T_Q4_1 || TYPE == T_Q8_0;
    static constexpr int PER_BLOCK = Q4 ? 1 : Q8 ? 2 : TYPE == T_F32 ? 8 : 4;
    /* unit u of a row span whose first block is g0: its index among the
     * matrix's 16-byte units, and (quantized layouts only) its block's, for
     * the scales */
    static __device__ __forceinline__ size_t at(size_t g0, int u) { return g0 * PER_BLOCK + u; }
    static __device__ __forceinline__ size_t block(size_t g0, int u) { return g0 + (Q4 ? u : u >> 1); }
};

template <int TYPE>
static __device__ __forceinline__ int row_units(int nb)
{
    return TYPE == T_F32                      ? nb * 8
           : TYPE == T_F16 || TYPE == T_BF16 ? nb * 4
           : TYPE == T_Q8_0 || TYPE == T_Q6_K ? nb * 2
                                               : nb;
}

/* Loads the batch of units u0 + lane + 32 j (j < U) of every row. */
template <int TYPE, int R>
static __device__ __forceinline__ void batch_load(const cuda_mat *const (&W)[R], const int64_t (&row)[R], int b0,
                                                  int n, int u0, int lane, wbatch<R> &b)
{
#pragma unroll
    for (int j = 0; j < wbatch<R>::U; j++) {
        int u = u0 + lane + WARP * j;
#pragma unroll
        for (int k = 0; k < R; k++) {
            b.v[j][k] = make_uint4(0, 0, 0, 0);
            b.sd[j][k] = b.so[j][k] = 0.0f;
            if (u >= n) continue;
            size_t g0 = (size_t)row[k] * (size_t)(W[k]->cols / 32) + b0; /* the row's first group */
            b.v[j][k] = __ldg((const uint4 *)W[k]->q + units<TYPE>::at(g0, u));
            size_t bi = units<TYPE>::block(g0, u);
            if (TYPE == T_Q4_K) b.sd[j][k] = __ldg(W[k]->fd + bi), b.so[j][k] = __ldg(W[k]->fm + bi);
            if (TYPE == T_Q4_0 || TYPE == T_Q8_0) b.sd[j][k] = h2f(__ldg(W[k]->d + bi));
            if (TYPE == T_Q4_1) b.sd[j][k] = h2f(__ldg(W[k]->d + bi)), b.so[j][k] = h2f(__ldg(W[k]->m + bi));
            if (TYPE == T_Q6_K) b.sd[j][k] = __ldg(W[k]->fd + 2 * bi + (u & 1)); /* one scale per half block */
        }
    }
}

/* Byte e (0-3) of w as a float, exactly: the byte as the low mantissa bits
 * of 2^23, less 2^23 (one byte permute and one add; less 2^23 + 128 where
 * w's bytes are signed ones with their top bit flipped). The same values as
 * the conversion instructions (I2F, I2FP) give, whose lower rate showed on
 * the H100: SmolLM2's Q8_0 LM head took 31.5 us a token with them, 26.7
 * without (docs/PERFORMANCE.md). */
static __device__ __forceinline__ float byte_f(uint32_t w, int e, float bias)
{
    return __uint_as_float(__byte_perm(w, 0x4B000000u, 0x7540u + (unsigned)e)) - bias;
}
#define BYTE_U 8388608.0f /* 2^23: unsigned bytes */
#define BYTE_S 8388736.0f /* 2^23 + 128: signed bytes, w ^ 0x80808080 */

/* acc[k] += the batch's units of row k times xs. */
template <int TYPE, int R, bool PAD>
static __device__ __forceinline__ void batch_use(const wbatch<R> &b, const float *xs, int n, int u0, int lane,
                                                 float (&acc)[R])
{
    constexpr bool Q4 = units<TYPE>::Q4, Q8 = units<TYPE>::Q8;
#pragma unroll
    for (int j = 0; j < wbatch<R>::U; j++) {
        int u = u0 + lane + WARP * j;
        if (u >= n) break;
        if (Q4) {
            const float *xl = xs + xat(32 * u, PAD), *xh = xl + 16;
#pragma unroll
            for (int k = 0; k < R; k++) {
                uint32_t words[4] = {b.v[j][k].x, b.v[j][k].y, b.v[j][k].z, b.v[j][k].w};
                float s = 0.0f, sx = 0.0f;
#pragma unroll
                for (int w = 0; w < 4; w++) {
                    float4 l4 = *(const float4 *)(xl + 4 * w), h4 = *(const float4 *)(xh + 4 * w);
                    float xa[4] = {l4.x, l4.y, l4.z, l4.w}, xb[4] = {h4.x, h4.y, h4.z, h4.w};
                    const uint32_t lows = words[w] & 0x0f0f0f0fu, highs = words[w] >> 4 & 0x0f0f0f0fu;
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        float lo = byte_f(lows, e, BYTE_U), hi = byte_f(highs, e, BYTE_U);
                        if (TYPE == T_Q4_0) {
                            s += (lo - 8.0f) * xa[e] + (hi - 8.0f) * xb[e];
                        } else {
                            s += lo * xa[e] + hi * xb[e];
                            sx += xa[e] + xb[e];
                        }
                    }
                }
                if (TYPE == T_Q4_K) {
                    acc[k] += b.sd[j][k] * s + b.so[j][k] * sx;
                } else {
                    acc[k] += b.sd[j][k] * s;
                    if (TYPE == T_Q4_1) acc[k] += b.so[j][k] * sx;
                }
            }
        } else if (Q8) {
            const float *xp = xs + xat(32 * (u >> 1), PAD) + (u & 1) * 16;
#pragma unroll
            for (int k = 0; k < R; k++) {
                uint32_t words[4] = {b.v[j][k].x, b.v[j][k].y, b.v[j][k].z, b.v[j][k].w};
                float s = 0.0f;
#pragma unroll
                for (int w = 0; w < 4; w++) {
                    float4 xq = *(const float4 *)(xp + 4 * w);
                    uint32_t q = words[w] ^ 0x80808080u;
                    s += byte_f(q, 0, BYTE_S) * xq.x + byte_f(q, 1, BYTE_S) * xq.y + byte_f(q, 2, BYTE_S) * xq.z +
                         byte_f(q, 3, BYTE_S) * xq.w;
                }
                acc[k] += b.sd[j][k] * s;
            }
        } else if (TYPE == T_F32) {
            float4 xv = *(const float4 *)(xs + xat(4 * u, PAD));
#pragma unroll
            for (int k = 0; k < R; k++)
                acc[k] += __uint_as_float(b.v[j][k].x) * xv.x + __uint_as_float(b.v[j][k].y) * xv.y +
                          __uint_as_float(b.v[j][k].z) * xv.z + __uint_as_float(b.v[j][k].w) * xv.w;
        } else { /* F16, BF16 */
            const float *xp = xs + xat(8 * u, PAD);
            float4 x0 = *(const float4 *)xp, x1 = *(const float4 *)(xp + 4);
            float xv[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
#pragma unroll
            for (int k = 0; k < R; k++) {
                uint32_t words[4] = {b.v[j][k].x, b.v[j][k].y, b.v[j][k].z, b.v[j][k].w};
#pragma unroll
                for (int w = 0; w < 4; w++) {
                    float w0 = TYPE == T_F16 ? h2f(words[w] & 0xffffu) : bf2f(words[w] & 0xffffu);
                    float w1 = TYPE == T_F16 ? h2f(words[w] >> 16) : bf2f(words[w] >> 16);
                    acc[k] += w0 * xv[2 * w] + w1 * xv[2 * w + 1];
                }
            }
        }
    }
}

/* The batches after the first (loaded into b) and the sums. */
template <int TYPE, int R>
static __device__ __forceinline__ void rows_finish(const cuda_mat *const (&W)[R], const int64_t (&row)[R], int b0,
                                                   int nb, const float *xs, int lane, wbatch<R> &b, float (&out)[R])
{
    const int n = row_units<TYPE>(nb);
    float acc[R];
#pragma unroll
    for (int k = 0; k < R; k++) acc[k] = 0.0f;
    batch_use<TYPE, R, true>(b, xs, n, 0, lane, acc);
    for (int u0 = WARP * wbatch<R>::U; u0 < n; u0 += WARP * wbatch<R>::U) {
        batch_load<TYPE, R>(W, row, b0, n, u0, lane, b);
        batch_use<TYPE, R, true>(b, xs, n, u0, lane, acc);
    }
#pragma unroll
    for (int k = 0; k < R; k++) out[k] = warp_sum(acc[k]);
}

template <int TYPE, int R>
static __device__ __forceinline__ void rows_dot(const cuda_mat *const (&W)[R], const int64_t (&row)[R], int b0,
                                                int nb, const float *xs, int lane, float (&out)[R])
{
    wbatch<R> b;
    batch_load<TYPE, R>(W, row, b0, row_units<TYPE>(nb), 0, lane, b);
    rows_finish<TYPE, R>(W, row, b0, nb, xs, lane, b, out);
}

/* CALL with constexpr int TYPE set to the layout t, one of those above. */
#define TYPE_DISPATCH(t, CALL)                                 \
    switch (t) {                                               \
    case T_Q4_0: { constexpr int TYPE = T_Q4_0; CALL; } break; \
    case T_Q4_1: { constexpr int TYPE = T_Q4_1; CALL; } break; \
    case T_Q8_0: { constexpr int TYPE = T_Q8_0; CALL; } break; \
    case T_Q4_K: { constexpr int TYPE = T_Q4_K; CALL; } break; \
    case T_Q6_K: { constexpr int TYPE = T_Q6_K; CALL; } break; \
    case T_F16: { constexpr int TYPE = T_F16; CALL; } break;   \
    case T_BF16: { constexpr int TYPE = T_BF16; CALL; } break; \
    default: { constexpr int TYPE = T_F32; CALL; } break;      \
    }

#endif
