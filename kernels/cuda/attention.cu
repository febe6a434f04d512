#include "attention.h"

#include "common.cuh"

#define ATT_THREADS 128 /* also the key tile */
#define MAX_HD 256

/* One block per (query token, head). Each tile: thread j scores key j of
 * the tile, the block takes the tile's max and sum, and each thread keeps
 * the output dimensions d = tid, tid + 128 rescaled as the max moves. */
static __global__ void attention_kernel(float *out, const float *q, const float *kc, const float *vc, const int *pos_p,
                                        int n_head, int n_kv, int hd, int causal, int kv_len)
{
    __shared__ float qs[MAX_HD], p[ATT_THREADS], scratch[32];
    int t = blockIdx.x, h = blockIdx.y, tid = threadIdx.x;
    int q_dim = n_head * hd, kv_dim = n_kv * hd, kvh = h / (n_head / n_kv);
    int len = causal ? *pos_p + t + 1 : kv_len;
    float scale = rsqrtf((float)hd);
    for (int d = tid; d < hd; d += ATT_THREADS) qs[d] = q[(size_t)t * q_dim + h * hd + d] * scale;
    __syncthreads();
    float m = -INFINITY, l = 0.0f, acc0 = 0.0f, acc1 = 0.0f;
    const float *kbase = kc + kvh * hd, *vbase = vc + kvh * hd;
    for (int start = 0; start < len; start += ATT_THREADS) {
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

extern "C" cudaError_t cuda_attention(float *out, const float *q, const float *k_cache, const float *v_cache,
                                      const int *pos, int n, int n_head, int n_kv, int head_dim, int causal,
                                      int kv_len, cudaStream_t s)
{
    if (head_dim > MAX_HD || n_head % n_kv) return cudaErrorInvalidValue;
    attention_kernel<<<dim3(n, n_head), ATT_THREADS, 0, s>>>(out, q, k_cache, v_cache, pos, n_head, n_kv, head_dim,
                                                             causal, kv_len);
    return cudaGetLastError();
}
