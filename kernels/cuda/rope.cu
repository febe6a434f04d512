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
    const float *q, *k, *v, *bq, *bk, *bv; /* a token's q, k and v rows ld_q, ld_kv apart */
    float *q_out, *kc, *vc;
    __half *k16, *v16;
    int n_head, hd, half, kv_dim, neox, ld_q, ld_kv;
} rope_job;

/* A thread's pairs are w = tid, tid + THREADS, ... of the token's (head,
 * index) pairs, queries' heads first; a cursor walks them without a
 * division a pair. */
typedef struct {
    int h, i;
} cursor;

static __device__ __forceinline__ void advance(const rope_job &j, cursor *c, int step_h, int step_i)
{
    c->h += step_h;
    c->i += step_i;
    if (c->i >= j.half) c->i -= j.half, c->h++;
}

static __device__ __forceinline__ int dim_a(const rope_job &j, int i) { return j.neox ? i : 2 * i; }
static __device__ __forceinline__ int dim_b(const rope_job &j, int i) { return j.neox ? i + j.half : 2 * i + 1; }

/* Element e of head h of token t, with its bias. */
static __device__ __forceinline__ float load_biased(const rope_job &j, int t, int h, int e)
{
    if (h < j.n_head) return j.q[(size_t)t * j.ld_q + h * j.hd + e] + (j.bq ? j.bq[h * j.hd + e] : 0.0f);
    const int c = (h - j.n_head) * j.hd + e;
    return j.k[(size_t)t * j.ld_kv + c] + (j.bk ? j.bk[c] : 0.0f);
}

/* Element e of head h of token t at position pos, rotated or not: queries
 * into q_out, keys into the cache (and its fp16 copy). */
static __device__ __forceinline__ void store_rotated(const rope_job &j, int t, int pos, int h, int e, float x)
{
    if (h < j.n_head) {
        j.q_out[(size_t)t * j.n_head * j.hd + h * j.hd + e] = x;
        return;
    }
    const size_t c = (size_t)pos * j.kv_dim + (h - j.n_head) * j.hd + e;
    j.kc[c] = x;
    if (j.k16) j.k16[c] = half_sat(x);
}

/* The PP pairs from cursor c on (n_heads heads in all). */
static __device__ __forceinline__ void load_pairs(const rope_job &j, int t, cursor c, int n_heads, int step_h,
                                                  int step_i, float x0[PP], float x1[PP])
{
#pragma unroll
    for (int u = 0; u < PP; u++) {
        if (c.h < n_heads) {
            x0[u] = load_biased(j, t, c.h, dim_a(j, c.i));
            x1[u] = load_biased(j, t, c.h, dim_b(j, c.i));
        }
        advance(j, &c, step_h, step_i);
    }
}

/* V (+ bias) of token t into the cache rows at pos (and the fp16 copy),
 * values base.. of the row, VV a thread. */
static __device__ __forceinline__ void load_values(const rope_job &j, int t, int base, float x[VV])
{
#pragma unroll
    for (int u = 0; u < VV; u++) {
        const int i = base + u * THREADS + threadIdx.x;
        if (i < j.kv_dim) x[u] = j.v[(size_t)t * j.ld_kv + i] + (j.bv ? j.bv[i] : 0.0f);
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
 * first store. Dims past n_rot get their bias and are stored unrotated.
 * 16 blocks an SM hold a 2,001-token prompt at once: at 48 registers a
 * thread (10 blocks) this kernel took 17.8 us on Qwen2.5-0.5B's shape on an
 * H100, at 32 13.9 us, and 13.3 with the cursor instead of a division a
 * pair (Nsight Compute). */
static __global__ void __launch_bounds__(THREADS, 16)
    rope_kernel(rope_job j, int n_rot, const int *pos_p, const double *inv_freq)
{
    __shared__ float cs_s[MAX_HALF], sn_s[MAX_HALF];
    pdl_wait();
    const int t = blockIdx.x, pos = *pos_p + t, n_heads = j.n_head + j.kv_dim / j.hd;
    const int step_h = THREADS / j.half, step_i = THREADS % j.half;
    cursor c = {(int)threadIdx.x / j.half, (int)threadIdx.x % j.half};
    float x0[PP], x1[PP], vx[VV];
    load_values(j, t, 0, vx);
    load_pairs(j, t, c, n_heads, step_h, step_i, x0, x1);
    for (int i = threadIdx.x; i < j.half; i += THREADS) {
        const float2 a = rope_angle(pos, inv_freq[i]);
        cs_s[i] = a.x;
        sn_s[i] = a.y;
    }
    store_values(j, pos, 0, vx);
    for (int base = VV * THREADS; base < j.kv_dim; base += VV * THREADS) {
        load_values(j, t, base, vx);
        store_values(j, pos, base, vx);
    }
    __syncthreads();
    while (c.h < n_heads) {
#pragma unroll
        for (int u = 0; u < PP; u++) {
            if (c.h < n_heads) {
                const float cs = cs_s[c.i], sn = sn_s[c.i];
                store_rotated(j, t, pos, c.h, dim_a(j, c.i), x0[u] * cs - x1[u] * sn);
                store_rotated(j, t, pos, c.h, dim_b(j, c.i), x0[u] * sn + x1[u] * cs);
            }
            advance(j, &c, step_h, step_i);
        }
        load_pairs(j, t, c, n_heads, step_h, step_i, x0, x1);
    }
    const int rest = j.hd - n_rot; /* dims past the rotated ones */
    for (int w = threadIdx.x; w < rest * n_heads; w += THREADS) {
        const int h = w / rest, e = n_rot + w % rest;
        store_rotated(j, t, pos, h, e, load_biased(j, t, h, e));
    }
}

extern "C" cudaError_t cuda_rope_store(const float *q, const float *k, const float *v, int ld, const float *bq,
                                       const float *bk, const float *bv, float *q_out, float *k_cache,
                                       float *v_cache, void *k16, void *v16, const int *pos, int n, int n_head,
                                       int n_kv, int head_dim, int n_rot, const double *inv_freq, int neox,
                                       cudaStream_t s)
{
    const int q_dim = n_head * head_dim, kv_dim = n_kv * head_dim;
    if (n_rot > 2 * MAX_HALF || n_rot < 2 || n_rot % 2 || n_rot > head_dim || !k16 != !v16 || !q_out ||
        (ld && ld < q_dim + 2 * kv_dim))
        return cudaErrorInvalidValue;
    if (n < 1) return cudaSuccess;
    /* with ld, the queries go elsewhere than the n rows read */
    if (ld && q_out < q + (size_t)n * ld && q < q_out + (size_t)n * q_dim) return cudaErrorInvalidValue;
    const rope_job j = {q, k, v, bq, bk, bv, q_out, k_cache, v_cache, (__half *)k16, (__half *)v16,
                        n_head, head_dim, n_rot / 2, kv_dim, neox, ld ? ld : q_dim, ld ? ld : kv_dim};
    return launch_pdl(rope_kernel, n, THREADS, 0, s, j, n_rot, pos, inv_freq);
}

/* (cos, sin) of token t's angles, as rope_kernel takes them */
static __global__ void angles_kernel(float2 *cs, const int *pos_p, int n, int half, const double *inv_freq)
{
    pdl_wait();
    const int pos = *pos_p;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (long)n * half; i += gridDim.x * (long)blockDim.x)
        cs[i] = rope_angle(pos + (int)(i / half), inv_freq[i % half]);
}

extern "C" cudaError_t cuda_rope_angles(float *cs, const int *pos, int n, int n_rot, const double *inv_freq,
                                        cudaStream_t s)
{
    if (n < 0 || n_rot < 2 || n_rot % 2 || !cs || (uintptr_t)cs % 8 || !pos || !inv_freq)
        return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    const long blocks = ((long)n * (n_rot / 2) + THREADS - 1) / THREADS;
    return launch_pdl(angles_kernel, (unsigned)(blocks < 1024 ? blocks : 1024), THREADS, 0, s, (float2 *)cs, pos, n,
                      n_rot / 2, inv_freq);
}
