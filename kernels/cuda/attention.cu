#include "attention.h"

#include "common.cuh"

#define ATT_THREADS 128 /* also the key tile */
#define MAX_HD 256

/* One block per (query token, head). Each tile: thread j scores key j of
 * the tile, the block takes the tile's max and sum, and each thread keeps
 * the output dimensions d = tid, tid + 128 rescaled as the max moves. */
static __global__ void attention_kernel(float *out, const float *q, const float *kc, const float *vc, const int *pos_p,
                                        int n_head, int n_kv, int hd, int causal, int kv_len, int window, float scale)
{
    pdl_wait();
    __shared__ float qs[MAX_HD], p[ATT_THREADS], scratch[32];
    int t = blockIdx.x, h = blockIdx.y, tid = threadIdx.x;
    int q_dim = n_head * hd, kv_dim = n_kv * hd, kvh = h / (n_head / n_kv);
    int len = causal ? *pos_p + t + 1 : kv_len, lo = window_start(len, window);
    for (int d = tid; d < hd; d += ATT_THREADS) qs[d] = q[(size_t)t * q_dim + h * hd + d] * scale;
    __syncthreads();
    float m = -INFINITY, l = 0.0f, acc0 = 0.0f, acc1 = 0.0f;
    const float *kbase = kc + kvh * hd, *vbase = vc + kvh * hd;
    for (int start = lo; start < len; start += ATT_THREADS) {
        int j = start + tid;
        float s = -INFINITY;
        if (j < len) {
            const float *kr = kbase + (size_t)j * kv_dim;
            s = 0.0f;
            for (int d = 0; d < hd; d++) s += qs[d] * kr[d];
        }
        float m_new = fmaxf(m, block_max(s, scratch));
        float pj = j < len ? expf(s - m_new) : 0.0f;
        p[tid] = pj;
        float tile_sum = block_sum(pj, scratch); /* its barriers also publish p[] */
        float corr = expf(m - m_new);
        l = l * corr + tile_sum;
        acc0 *= corr;
        acc1 *= corr;
        int n_in = len - start < ATT_THREADS ? len - start : ATT_THREADS;
        for (int jj = 0; jj < n_in; jj++) {
            const float *vr = vbase + (size_t)(start + jj) * kv_dim;
            float w = p[jj];
            if (tid < hd) acc0 += w * vr[tid];
            if (tid + ATT_THREADS < hd) acc1 += w * vr[tid + ATT_THREADS];
        }
        m = m_new;
        __syncthreads(); /* p[] is rewritten by the next tile */
    }
    float *o = out + (size_t)t * q_dim + h * hd;
    if (tid < hd) o[tid] = acc0 / l;
    if (tid + ATT_THREADS < hd) o[tid + ATT_THREADS] = acc1 / l;
}

/* Version 2, for head_dim a multiple of 32 (at most 256): one warp per key.
 * The lanes hold the query's dims lane + 32 i in registers, score a key
 * with one warp sum (coalesced loads of the key row), and keep their own
 * online-softmax state and output dims; the block's 4 warps take every 4th
 * key of the block's range, then merge through shared memory. With
 * n_split > 1 (decode) blockIdx.z takes a slice of the keys and writes an
 * unnormalised partial (max, sum, acc[hd]) that attention_combine merges. */
#define WARPS 4
#define MAX_PER_LANE (MAX_HD / 32)
#define MIN_CHUNK 8
#define MAX_SPLIT 64

static __global__ void attention_v2(float *out, float *part, const float *q, const float *kc, const float *vc,
                                    const int *pos_p, int n_head, int n_kv, int hd, int causal, int kv_len,
                                    int n_split, int window, float scale)
{
    pdl_wait();
    __shared__ float wm[WARPS], wl[WARPS], wacc[WARPS][MAX_HD];
    int t = blockIdx.x, h = blockIdx.y, split = blockIdx.z, warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    int q_dim = n_head * hd, kv_dim = n_kv * hd, kvh = h / (n_head / n_kv), per = hd / WARP;
    int len = causal ? *pos_p + t + 1 : kv_len, lo = window_start(len, window);
    /* at least MIN_CHUNK keys a split: short contexts use few splits and
     * the rest find their range empty */
    int chunk = max((len - lo + n_split - 1) / n_split, n_split > 1 ? MIN_CHUNK : 1);
    int j0 = lo + split * chunk, j1 = min(len, j0 + chunk);
    float qr[MAX_PER_LANE], acc[MAX_PER_LANE];
#pragma unroll
    for (int i = 0; i < MAX_PER_LANE; i++) {
        qr[i] = i < per ? q[(size_t)t * q_dim + h * hd + lane + WARP * i] * scale : 0.0f;
        acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    const float *kb = kc + kvh * hd + lane, *vb = vc + kvh * hd + lane;
    /* two keys per step (j and j + WARPS), their loads issued together */
    for (int j = j0 + warp; j < j1; j += 2 * WARPS) {
        int j2 = j + WARPS, two = j2 < j1;
        const float *kr = kb + (size_t)j * kv_dim, *vr = vb + (size_t)j * kv_dim;
        const float *kr2 = kb + (size_t)(two ? j2 : j) * kv_dim, *vr2 = vb + (size_t)(two ? j2 : j) * kv_dim;
        float kv[MAX_PER_LANE], kv2[MAX_PER_LANE], vv[MAX_PER_LANE], vv2[MAX_PER_LANE];
#pragma unroll
        for (int i = 0; i < MAX_PER_LANE; i++)
            if (i < per) {
                kv[i] = kr[WARP * i];
                kv2[i] = kr2[WARP * i];
                vv[i] = vr[WARP * i];
                vv2[i] = vr2[WARP * i];
            }
        float s = 0.0f, s2 = 0.0f;
#pragma unroll
        for (int i = 0; i < MAX_PER_LANE; i++)
            if (i < per) {
                s += qr[i] * kv[i];
                s2 += qr[i] * kv2[i];
            }
        s = warp_sum(s);
        s2 = two ? warp_sum(s2) : -INFINITY;
        float m_new = fmaxf(m, fmaxf(s, s2)), c = expf(m - m_new), p = expf(s - m_new);
        float p2 = two ? expf(s2 - m_new) : 0.0f;
        l = l * c + p + p2;
#pragma unroll
        for (int i = 0; i < MAX_PER_LANE; i++)
            if (i < per) acc[i] = acc[i] * c + p * vv[i] + p2 * vv2[i];
        m = m_new;
    }
    if (lane == 0) {
        wm[warp] = m;
        wl[warp] = l;
    }
#pragma unroll
    for (int i = 0; i < MAX_PER_LANE; i++)
        if (i < per) wacc[warp][lane + WARP * i] = acc[i];
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < WARPS; w++) M = fmaxf(M, wm[w]);
    float L = 0.0f;
    for (int w = 0; w < WARPS; w++) L += wm[w] == -INFINITY ? 0.0f : wl[w] * expf(wm[w] - M);
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float a = 0.0f;
        for (int w = 0; w < WARPS; w++)
            if (wm[w] != -INFINITY) a += wacc[w][d] * expf(wm[w] - M);
        if (n_split == 1) {
            out[(size_t)t * q_dim + h * hd + d] = a / L;
        } else {
            float *pp = part + (((size_t)t * n_head + h) * n_split + split) * (hd + 2);
            pp[2 + d] = a;
            if (d == 0) {
                pp[0] = M;
                pp[1] = L;
            }
        }
    }
}

/* Merges the n_split partials of each (token, head): the splits' maxima
 * and sums are read in parallel, their weights kept in shared memory, then
 * each thread sums its output dims over the splits with independent loads. */
static __global__ void attention_combine(float *out, const float *part, int n_head, int hd, int n_split)
{
    pdl_wait();
    __shared__ float w[MAX_SPLIT], scratch[32];
    int t = blockIdx.x, h = blockIdx.y, tid = threadIdx.x;
    const float *pp = part + ((size_t)t * n_head + h) * n_split * (hd + 2);
    float ms = tid < n_split ? pp[tid * (hd + 2)] : -INFINITY;
    float M = block_max(ms, scratch);
    float ws = ms == -INFINITY ? 0.0f : expf(ms - M);
    if (tid < n_split) w[tid] = ws;
    float L = block_sum(tid < n_split ? pp[tid * (hd + 2) + 1] * ws : 0.0f, scratch); /* also publishes w[] */
    for (int d = tid; d < hd; d += blockDim.x) {
        float a = 0.0f;
        for (int sp = 0; sp < n_split; sp++)
            if (w[sp] != 0.0f) a += w[sp] * pp[sp * (hd + 2) + 2 + d];
        out[((size_t)t * n_head + h) * hd + d] = a / L;
    }
}

/* Prompts: each warp owns one query (4 consecutive queries a block, one
 * head); tiles of 32 keys and their values are staged in shared memory
 * for the 4 queries. In a tile, lane j scores key j against the whole
 * query (no shuffles), the warp updates its online softmax once per tile,
 * and each lane accumulates its own output dims from the staged values.
 * head_dim a multiple of 32, at most 128. */
#define PQ 4
#define KT 32
#define STAGE (KT * 128 / 4 / (PQ * WARP)) /* float4 loads per thread for a tile at head_dim 128 */

static __global__ void attention_prefill(float *out, const float *q, const float *kc, const float *vc,
                                         const int *pos_p, int n, int n_head, int n_kv, int hd, int causal, int kv_len,
                                         int window, float scale)
{
    pdl_wait();
    extern __shared__ float sm[];
    float *ks = sm, *vs = ks + KT * (hd + 1), *qs = vs + KT * hd; /* K rows padded against bank conflicts */
    int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP, h = blockIdx.y;
    int t0 = blockIdx.x * PQ, t = t0 + warp, valid = t < n, per = hd / WARP;
    int q_dim = n_head * hd, kv_dim = n_kv * hd, kvh = h / (n_head / n_kv);
    int pos0 = causal ? *pos_p : 0;
    int len = valid ? (causal ? pos0 + t + 1 : kv_len) : 0, lo = window_start(len, window);
    int block_len = causal ? pos0 + min(t0 + PQ, n) : kv_len;
    /* the block's first query has the earliest window */
    int block_lo = window_start(causal ? pos0 + t0 + 1 : kv_len, window);
    for (int d = lane; d < hd; d += WARP) qs[warp * hd + d] = valid ? q[(size_t)t * q_dim + h * hd + d] * scale : 0.0f;
    float m = -INFINITY, l = 0.0f, acc[MAX_PER_LANE];
#pragma unroll
    for (int i = 0; i < MAX_PER_LANE; i++) acc[i] = 0.0f;
    for (int start = block_lo; start < block_len; start += KT) {
        __syncthreads(); /* the previous tile is no longer read */
        /* stage the tile: every thread's float4 loads issued before any store */
        float4 kreg[STAGE], vreg[STAGE];
#pragma unroll
        for (int u = 0; u < STAGE; u++) {
            int e = (threadIdx.x + u * PQ * WARP) * 4, r = e / hd, j = start + r;
            kreg[u] = vreg[u] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            if (e < KT * hd && j < block_len) {
                size_t off = (size_t)j * kv_dim + kvh * hd + e % hd;
                kreg[u] = *(const float4 *)(kc + off);
                vreg[u] = *(const float4 *)(vc + off);
            }
        }
#pragma unroll
        for (int u = 0; u < STAGE; u++) {
            int e = (threadIdx.x + u * PQ * WARP) * 4, r = e / hd, d = e % hd;
            if (e < KT * hd) {
                float *kd = ks + r * (hd + 1) + d;
                kd[0] = kreg[u].x, kd[1] = kreg[u].y, kd[2] = kreg[u].z, kd[3] = kreg[u].w;
                *(float4 *)(vs + r * hd + d) = vreg[u];
            }
        }
        __syncthreads();
        int j = start + lane;
        float sc = -INFINITY;
        if (j < len && j >= lo) {
            sc = 0.0f;
            const float *kr = ks + lane * (hd + 1), *qr = qs + warp * hd;
            for (int d = 0; d < hd; d++) sc += qr[d] * kr[d];
        }
        float m_new = fmaxf(m, warp_max(sc));
        if (m_new == -INFINITY) continue; /* no key of this tile for this warp yet */
        float p = sc == -INFINITY ? 0.0f : expf(sc - m_new);
        float c = m == -INFINITY ? 0.0f : expf(m - m_new);
        l = l * c + warp_sum(p);
#pragma unroll
        for (int i = 0; i < MAX_PER_LANE; i++) acc[i] *= c;
        int kmax = min(KT, len - start);
        for (int jj = 0; jj < kmax; jj++) {
            float pj = __shfl_sync(0xffffffffu, p, jj);
#pragma unroll
            for (int i = 0; i < MAX_PER_LANE; i++)
                if (i < per) acc[i] += pj * vs[jj * hd + lane + WARP * i];
        }
        m = m_new;
    }
    if (valid) {
#pragma unroll
        for (int i = 0; i < MAX_PER_LANE; i++)
            if (i < per) out[(size_t)t * q_dim + h * hd + lane + WARP * i] = acc[i] / l;
    }
}

extern "C" cudaError_t cuda_attention_split(float *out, float *part, const float *q, const float *k_cache,
                                            const float *v_cache, const int *pos, int n, int n_head, int n_kv,
                                            int head_dim, int causal, int kv_len, int window, float scale,
                                            int n_split, cudaStream_t s)
{
    if (head_dim % WARP || head_dim > MAX_HD || n_split < 1 || n_split > MAX_SPLIT || (n_split > 1 && !part))
        return cuda_attention(out, q, k_cache, v_cache, pos, n, n_head, n_kv, head_dim, causal, kv_len, window, scale,
                              s);
    if (n > 1 && n_split == 1 && head_dim <= 128) {
        size_t smem = (size_t)(KT * (head_dim + 1) + KT * head_dim + PQ * head_dim) * sizeof(float);
        return launch_pdl(attention_prefill, dim3((n + PQ - 1) / PQ, n_head), PQ * WARP, smem, s, out, q, k_cache,
                          v_cache, pos, n, n_head, n_kv, head_dim, causal, kv_len, window, scale);
    }
    cudaError_t e = launch_pdl(attention_v2, dim3(n, n_head, n_split), WARPS * WARP, 0, s, out, part, q, k_cache,
                               v_cache, pos, n_head, n_kv, head_dim, causal, kv_len, n_split, window, scale);
    if (e != cudaSuccess || n_split == 1) return e;
    int threads = head_dim > MAX_SPLIT ? ((head_dim + 31) / 32) * 32 : MAX_SPLIT;
    return launch_pdl(attention_combine, dim3(n, n_head), threads, 0, s, out, (const float *)part, n_head, head_dim,
                      n_split);
}

extern "C" cudaError_t cuda_attention(float *out, const float *q, const float *k_cache, const float *v_cache,
                                      const int *pos, int n, int n_head, int n_kv, int head_dim, int causal,
                                      int kv_len, int window, float scale, cudaStream_t s)
{
    if (head_dim > MAX_HD || n_head % n_kv) return cudaErrorInvalidValue;
    return launch_pdl(attention_kernel, dim3(n, n_head), ATT_THREADS, 0, s, out, q, k_cache, v_cache, pos, n_head, n_kv,
                      head_dim, causal, kv_len, window, scale);
}
