#include "rope.h"

#include "common.cuh"

#define MAX_HALF 128 /* n_rot <= 256 */

/* One block per token: the angles' sines and cosines once per pair (in
 * double, as the CPU does, then rounded), then threads over (head, pair). */
static __global__ void rope_kernel(float *q, float *k, const float *v, const float *bq, const float *bk,
                                   const float *bv, float *kc, float *vc, const int *pos_p, int n_head, int n_kv, int hd,
                                   int n_rot, const double *inv_freq, int neox)
{
    __shared__ float cs_s[MAX_HALF], sn_s[MAX_HALF];
    int t = blockIdx.x, pos = *pos_p + t, half = n_rot / 2;
    int q_dim = n_head * hd, kv_dim = n_kv * hd;
    float *qt = q + (size_t)t * q_dim, *kt = k + (size_t)t * kv_dim;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        double sn, cs;
        sincos((double)pos * inv_freq[i], &sn, &cs);
        cs_s[i] = (float)cs;
        sn_s[i] = (float)sn;
    }
    if (bq || bk) /* every dim, rotated or not, before the rotation */
        for (int i = threadIdx.x; i < q_dim + kv_dim; i += blockDim.x) {
            if (i < q_dim) qt[i] += bq ? bq[i] : 0.0f;
            else kt[i - q_dim] += bk ? bk[i - q_dim] : 0.0f;
        }
    __syncthreads();
    for (int w = threadIdx.x; w < (n_head + n_kv) * half; w += blockDim.x) {
        int h = w / half, i = w % half;
        float c = cs_s[i], s = sn_s[i];
        float *vec = h < n_head ? qt + h * hd : kt + (h - n_head) * hd;
        int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        float x0 = vec[a], x1 = vec[b];
        vec[a] = x0 * c - x1 * s;
        vec[b] = x0 * s + x1 * c;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        kc[(size_t)pos * kv_dim + i] = kt[i];
        vc[(size_t)pos * kv_dim + i] = v[(size_t)t * kv_dim + i] + (bv ? bv[i] : 0.0f);
    }
}

extern "C" cudaError_t cuda_rope_store(float *q, float *k, const float *v, const float *bq, const float *bk,
                                       const float *bv, float *k_cache, float *v_cache, const int *pos, int n,
                                       int n_head, int n_kv, int head_dim, int n_rot, const double *inv_freq, int neox,
                                       cudaStream_t s)
{
    if (n_rot > 2 * MAX_HALF) return cudaErrorInvalidValue;
    rope_kernel<<<n, 128, 0, s>>>(q, k, v, bq, bk, bv, k_cache, v_cache, pos, n_head, n_kv, head_dim, n_rot, inv_freq,
                                  neox);
    return cudaGetLastError();
}
