#include "rope.h"

#include <cuda_fp16.h>

#include "common.cuh"

enum {
    MAX_HALF = 128, /* n_rot <= 256 */
    THREADS = 128,
    PP = 4, /* rotated pairs a thread holds at once */
    VV = 2  /* values a thread holds at once */
};

/* What a token's block reads and writes. */
typedef struct {
    float *q;
    const float *k, *v, *bq, *bk, *bv;
    float *kc, *vc;
    __half *k16, *v16;
    int n_head, hd, half, kv_dim, neox;
} rope_job;

/* fp16 rounded to nearest, saturating at +-65504 as the prompt attention's
 * own conversion does (cvt.rn.satfinite); NaN stays NaN */
static __device__ __forceinline__ __half half_sat(float x)
{
    return __float2half_rn(x != x ? x : fminf(fmaxf(x, -65504.0f), 65504.0f));
}

/* Pair w of token t: head h (queries first, then keys), dims a and b of it. */
static __device__ __forceinline__ void pair_dims(const rope_job &j, int w, int *h, int *a, int *b)
{
    const int i = w % j.half;
    *h = w / j.half;
    *a = j.neox ? i : 2 * i;
    *b = j.neox ? i + j.half : 2 * i + 1;
}

/* Element e of head h of token t, with its bias. */
static __device__ __forceinline__ float load_biased(const rope_job &j, int t, int h, int e)
{
    if (h < j.n_head) return j.q[(size_t)t * j.n_head * j.hd + h * j.hd + e] + (j.bq ? j.bq[h * j.hd + e] : 0.0f);
    const int c = (h - j.n_head) * j.hd + e;
    return j.k[(size_t)t * j.kv_dim + c] + (j.bk ? j.bk[c] : 0.0f);
}

/* Element e of head h of token t at position pos, rotated or not: queries
 * back into q, keys into the cache (and its fp16 copy). */
static __device__ __forceinline__ void store_rotated(const rope_job &j, int t, int pos, int h, int e, float x)
{
    if (h < j.n_head) {
        j.q[(size_t)t * j.n_head * j.hd + h * j.hd + e] = x;
        return;
    }
    const size_t c = (size_t)pos * j.kv_dim + (h - j.n_head) * j.hd + e;
    j.kc[c] = x;
    if (j.k16) j.k16[c] = half_sat(x);
}

static __device__ __forceinline__ void load_pairs(const rope_job &j, int t, int base, int pairs, float x0[PP],
                                                  float x1[PP])
{
#pragma unroll
    for (int u = 0; u < PP; u++) {
        const int w = base + u * THREADS + threadIdx.x;
        if (w < pairs) {
            int h, a, b;
            pair_dims(j, w, &h, &a, &b);
            x0[u] = load_biased(j, t, h, a);
            x1[u] = load_biased(j, t, h, b);
        }
    }
}

/* V (+ bias) of token t into the cache rows at pos (and the fp16 copy),
 * values base.. of the row, VV a thread. */
static __device__ __forceinline__ void load_values(const rope_job &j, int t, int base, float x[VV])
{
#pragma unroll
    for (int u = 0; u < VV; u++) {
        const int i = base + u * THREADS + threadIdx.x;
        if (i < j.kv_dim) x[u] = j.v[(size_t)t * j.kv_dim + i] + (j.bv ? j.bv[i] : 0.0f);
    }
}

static __device__ __forceinline__ void store_values(const rope_job &j, int pos, int base, const float x[VV])
{
#pragma unroll
    for (int u = 0; u < VV; u++) {
        const int i = base + u * THREADS + threadIdx.x;
        if (i < j.kv_dim) {
            j.vc[(size_t)pos * j.kv_dim + i] = x[u];
            if (j.v16) j.v16[(size_t)pos * j.kv_dim + i] = half_sat(x[u]);
        }
    }
}

/* One block a token. The first values and pairs are loaded before the
 * angles are computed (in double, as the CPU does, then rounded), so that
 * their round trips overlap; every load of a group is issued before its
 * first store. Dims past n_rot get their bias and are stored unrotated. */
static __global__ void __launch_bounds__(THREADS, 16)
    rope_kernel(rope_job j, int n_rot, const int *pos_p, const double *inv_freq)
{
    __shared__ float cs_s[MAX_HALF], sn_s[MAX_HALF];
    const int t = blockIdx.x, pos = *pos_p + t, pairs = (j.n_head + j.kv_dim / j.hd) * j.half;
    float x0[PP], x1[PP], vx[VV];
    load_values(j, t, 0, vx);
    load_pairs(j, t, 0, pairs, x0, x1);
    for (int i = threadIdx.x; i < j.half; i += THREADS) {
        double sn, cs;
        sincos((double)pos * inv_freq[i], &sn, &cs);
        cs_s[i] = (float)cs;
        sn_s[i] = (float)sn;
    }
    store_values(j, pos, 0, vx);
    for (int base = VV * THREADS; base < j.kv_dim; base += VV * THREADS) {
        load_values(j, t, base, vx);
        store_values(j, pos, base, vx);
    }
    __syncthreads();
    for (int base = 0;;) {
#pragma unroll
        for (int u = 0; u < PP; u++) {
            const int w = base + u * THREADS + threadIdx.x;
            if (w < pairs) {
                int h, a, b;
                pair_dims(j, w, &h, &a, &b);
                const float c = cs_s[w % j.half], s = sn_s[w % j.half];
                store_rotated(j, t, pos, h, a, x0[u] * c - x1[u] * s);
                store_rotated(j, t, pos, h, b, x0[u] * s + x1[u] * c);
            }
        }
        if ((base += PP * THREADS) >= pairs) break;
        load_pairs(j, t, base, pairs, x0, x1);
    }
    const int rest = j.hd - n_rot; /* dims past the rotated ones */
    for (int w = threadIdx.x; w < rest * (pairs / j.half); w += THREADS) {
        const int h = w / rest, e = n_rot + w % rest;
        store_rotated(j, t, pos, h, e, load_biased(j, t, h, e));
    }
}

extern "C" cudaError_t cuda_rope_store(float *q, const float *k, const float *v, const float *bq, const float *bk,
                                       const float *bv, float *k_cache, float *v_cache, void *k16, void *v16,
                                       const int *pos, int n, int n_head, int n_kv, int head_dim, int n_rot,
                                       const double *inv_freq, int neox, cudaStream_t s)
{
    if (n_rot > 2 * MAX_HALF || n_rot < 2 || n_rot % 2 || n_rot > head_dim || !k16 != !v16)
        return cudaErrorInvalidValue;
    if (n < 1) return cudaSuccess;
    const rope_job j = {q, k, v, bq, bk, bv, k_cache, v_cache, (__half *)k16, (__half *)v16,
                        n_head, head_dim, n_rot / 2, n_kv * head_dim, neox};
    rope_kernel<<<n, THREADS, 0, s>>>(j, n_rot, pos, inv_freq);
    return cudaGetLastError();
}
