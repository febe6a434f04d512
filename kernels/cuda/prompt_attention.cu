#include "prompt_attention.h"

#include "common.cuh"

/* A block takes 16 * NW consecutive queries of one head, 16 per warp; tiles
 * of BK keys and their values go through shared memory as fp16, each row
 * padded by 8 halves so that ldmatrix's eight 16-byte rows fall in distinct
 * banks. While a tile is multiplied, the next one's f32 rows are already
 * loading into registers (PT float4 a thread for the keys, PT for the
 * values), so a block has a tile of loads in flight behind its products.
 *
 * Fragment layouts are PTX's for mma.m16n8k16 (PTX ISA, "Matrix Fragments
 * for mma.m16n8k16"): with g = lane / 4 and c = 2 * (lane % 4), a thread
 * holds the accumulator's rows g and g + 8 at columns c, c + 1; the A
 * operand's rows g, g + 8 at k = c, c + 1 and c + 8, c + 9. Two adjacent
 * score tiles of 8 keys are therefore, rounded to fp16, the A operand of
 * the product with the values (FlashAttention-2 keeps P in registers the
 * same way). Scores are kept in base 2: q is scaled by scale * log2(e). */
#ifndef NW
#define NW 4 /* -DNW=8 measured: see docs/PERFORMANCE.md */
#endif
#define LOG2E 1.4426950408889634f

template <int HD> struct tiles {
    enum {
        BQ = 16 * NW,
        /* at most 8 float4 of keys and 8 of values a thread in flight */
        BK = 8 * 4 * NW * WARP / HD > 64 ? 64 : 8 * 4 * NW * WARP / HD,
        PT = BK * HD / 4 / (NW * WARP),
        LD = HD + 8,
    };
};

/* The instructions below need sm_80 (fp16 m16n8k16, cvt.satfinite.f16x2)
 * or sm_75 (ldmatrix); cuda_prompt_attention refuses older devices, and a
 * build for them (-DCMAKE_CUDA_ARCHITECTURES=70) compiles these as traps. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define PRE_SM80 1
#else
#define PRE_SM80 0
#endif

/* a in the low half, b in the high one, rounded to nearest; values past
 * fp16's range saturate to +-65504 instead of becoming inf (an inf key in a
 * shared tile would turn 0 * inf into NaN for the queries that skip it) */
static __device__ __forceinline__ uint32_t pack_half2(float a, float b)
{
    uint32_t r = 0;
#if PRE_SM80
    __trap();
#else
    asm("cvt.rn.satfinite.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(b), "f"(a));
#endif
    return r;
}

/* c += a b for one m16n8k16 tile, fp16 in, f32 accumulated */
static __device__ __forceinline__ void mma_16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
#if PRE_SM80
    __trap();
#else
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

/* Four 8x8 fp16 matrices from shared memory, lane l giving the address of
 * row l % 8 of matrix l / 8, transposed when TRANS (volatile: ordered after
 * the tile's barrier). */
template <int TRANS> static __device__ __forceinline__ void ldsm_x4(uint32_t r[4], const __half *p)
{
#if PRE_SM80
    r[0] = r[1] = r[2] = r[3] = 0;
    __trap();
#else
    uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
    if (TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(a));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(a));
#endif
}

/* The f32 key and value rows j0 .. j0 + BK - 1 of head kvh into registers;
 * rows at or past end read as zeros (they may be outside the cache, and a
 * zero weight times a NaN would still be NaN). */
template <int HD>
static __device__ __forceinline__ void tile_load(float4 (&kr)[tiles<HD>::PT], float4 (&vr)[tiles<HD>::PT],
                                                 const float *kc, const float *vc, int kv_dim, int kvh, int j0,
                                                 int end)
{
#pragma unroll
    for (int u = 0; u < tiles<HD>::PT; u++) {
        int e = (threadIdx.x + u * NW * WARP) * 4, j = j0 + e / HD;
        kr[u] = vr[u] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (j < end) {
            size_t off = (size_t)j * kv_dim + kvh * HD + e % HD;
            kr[u] = *(const float4 *)(kc + off);
            vr[u] = *(const float4 *)(vc + off);
        }
    }
}

template <int HD>
static __device__ __forceinline__ void tile_store(__half *ks, __half *vs, const float4 (&kr)[tiles<HD>::PT],
                                                  const float4 (&vr)[tiles<HD>::PT])
{
#pragma unroll
    for (int u = 0; u < tiles<HD>::PT; u++) {
        int e = (threadIdx.x + u * NW * WARP) * 4, o = e / HD * tiles<HD>::LD + e % HD;
        *(uint2 *)(ks + o) = make_uint2(pack_half2(kr[u].x, kr[u].y), pack_half2(kr[u].z, kr[u].w));
        *(uint2 *)(vs + o) = make_uint2(pack_half2(vr[u].x, vr[u].y), pack_half2(vr[u].z, vr[u].w));
    }
}

template <int HD>
static __global__ void __launch_bounds__(NW *WARP)
    prompt_attention_kernel(float *out, const float *q, const float *kc, const float *vc, const int *pos_p, int n,
                            int n_head, int n_kv, int causal, int kv_len, int window, float qscale)
{
    typedef tiles<HD> T;
    enum { BQ = T::BQ, BK = T::BK, PT = T::PT, LD = T::LD, KS = HD / 16, NKT = BK / 8, NDT = HD / 8 };
    __shared__ __align__(16) __half ks[BK * LD], vs[BK * LD];
    int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP, g = lane / 4, c = 2 * (lane % 4), mi = lane / 8;
    int h = blockIdx.y, kvh = h / (n_head / n_kv), q_dim = n_head * HD, kv_dim = n_kv * HD;
    /* the blocks with the most keys (the last queries) start first */
    int t0 = (gridDim.x - 1 - blockIdx.x) * BQ, tw = t0 + 16 * warp;
    int pos0 = causal ? *pos_p : 0;
    /* the block's keys: from the first query's window to the last query */
    int end = causal ? pos0 + min(t0 + BQ, n) : kv_len;
    int start = window_start(causal ? pos0 + t0 + 1 : kv_len, window);
    /* this warp's keys, and its rows g and g + 8: [lo, hi) each */
    int w_lo = window_start(causal ? pos0 + tw + 1 : kv_len, window), w_hi = causal ? min(pos0 + tw + 16, end) : end;
    int hi_a = causal ? min(pos0 + tw + g + 1, end) : end, hi_b = causal ? min(pos0 + tw + g + 9, end) : end;
    int lo_a = window_start(causal ? pos0 + tw + g + 1 : kv_len, window);
    int lo_b = window_start(causal ? pos0 + tw + g + 9 : kv_len, window);

    /* the warp's 16 queries as A fragments (rows past n read row n - 1) */
    uint32_t qa[KS][4];
    const float *qra = q + (size_t)min(tw + g, n - 1) * q_dim + h * HD;
    const float *qrb = q + (size_t)min(tw + g + 8, n - 1) * q_dim + h * HD;
#pragma unroll
    for (int k = 0; k < KS; k++) {
        float2 a0 = *(const float2 *)(qra + 16 * k + c), b0 = *(const float2 *)(qrb + 16 * k + c);
        float2 a1 = *(const float2 *)(qra + 16 * k + c + 8), b1 = *(const float2 *)(qrb + 16 * k + c + 8);
        qa[k][0] = pack_half2(a0.x * qscale, a0.y * qscale);
        qa[k][1] = pack_half2(b0.x * qscale, b0.y * qscale);
        qa[k][2] = pack_half2(a1.x * qscale, a1.y * qscale);
        qa[k][3] = pack_half2(b1.x * qscale, b1.y * qscale);
    }
    float o[NDT][4], m_a = -INFINITY, m_b = -INFINITY, l_a = 0.0f, l_b = 0.0f;
#pragma unroll
    for (int d = 0; d < NDT; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;

    float4 kr[PT], vr[PT];
    tile_load<HD>(kr, vr, kc, vc, kv_dim, kvh, start, end);
    /* (double-buffered tiles with one barrier each were measured slower) */
    for (int j0 = start; j0 < end; j0 += BK) {
        __syncthreads(); /* the previous tile is no longer read */
        tile_store<HD>(ks, vs, kr, vr);
        __syncthreads();
        if (j0 + BK < end) tile_load<HD>(kr, vr, kc, vc, kv_dim, kvh, j0 + BK, end);
        if (j0 < w_hi && j0 + BK > w_lo) { /* a key of this tile for the warp's queries */
            float s[NKT][4];
#pragma unroll
            for (int t = 0; t < NKT; t++) s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0.0f;
#pragma unroll
            for (int k = 0; k < KS; k++)
#pragma unroll
                for (int t = 0; t < NKT; t += 2) {
                    /* matrices: keys t*8 + {0..7, 8..15} x dims 16k + {0..7, 8..15} */
                    uint32_t b[4];
                    ldsm_x4<0>(b, ks + (t * 8 + (mi / 2) * 8 + lane % 8) * LD + 16 * k + (mi % 2) * 8);
                    mma_16816(s[t], qa[k], b[0], b[1]);
                    mma_16816(s[t + 1], qa[k], b[2], b[3]);
                }
            if (j0 < lo_b || j0 + BK > hi_a) { /* row b's window starts last, row a's keys end first */
#pragma unroll
                for (int t = 0; t < NKT; t++)
#pragma unroll
                    for (int e = 0; e < 2; e++) {
                        int j = j0 + 8 * t + c + e;
                        if (j < lo_a || j >= hi_a) s[t][e] = -INFINITY;
                        if (j < lo_b || j >= hi_b) s[t][2 + e] = -INFINITY;
                    }
            }
            /* online softmax of rows g (a) and g + 8 (b); a row with no key yet
             * keeps max -inf and takes 0 as its reference */
            float mx_a = m_a, mx_b = m_b;
#pragma unroll
            for (int t = 0; t < NKT; t++) {
                mx_a = fmaxf(mx_a, fmaxf(s[t][0], s[t][1]));
                mx_b = fmaxf(mx_b, fmaxf(s[t][2], s[t][3]));
            }
#pragma unroll
            for (int x = 1; x < 4; x <<= 1) {
                mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, x));
                mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, x));
            }
            float ref_a = mx_a == -INFINITY ? 0.0f : mx_a, ref_b = mx_b == -INFINITY ? 0.0f : mx_b;
            float corr_a = exp2f(m_a - ref_a), corr_b = exp2f(m_b - ref_b);
            m_a = mx_a;
            m_b = mx_b;
            float sum_a = 0.0f, sum_b = 0.0f;
#pragma unroll
            for (int t = 0; t < NKT; t++) {
                s[t][0] = exp2f(s[t][0] - ref_a);
                s[t][1] = exp2f(s[t][1] - ref_a);
                s[t][2] = exp2f(s[t][2] - ref_b);
                s[t][3] = exp2f(s[t][3] - ref_b);
                sum_a += s[t][0] + s[t][1];
                sum_b += s[t][2] + s[t][3];
            }
            l_a = l_a * corr_a + sum_a; /* this thread's columns; the quad's sum comes at the end */
            l_b = l_b * corr_b + sum_b;
#pragma unroll
            for (int d = 0; d < NDT; d++) {
                o[d][0] *= corr_a;
                o[d][1] *= corr_a;
                o[d][2] *= corr_b;
                o[d][3] *= corr_b;
            }
#pragma unroll
            for (int k = 0; k < BK / 16; k++) {
                uint32_t pa[4] = {pack_half2(s[2 * k][0], s[2 * k][1]), pack_half2(s[2 * k][2], s[2 * k][3]),
                                  pack_half2(s[2 * k + 1][0], s[2 * k + 1][1]),
                                  pack_half2(s[2 * k + 1][2], s[2 * k + 1][3])};
#pragma unroll
                for (int d = 0; d < NDT; d += 2) {
                    /* matrices: keys 16k + {0..7, 8..15} x dims d*8 + {0..7, 8..15}, transposed */
                    uint32_t b[4];
                    ldsm_x4<1>(b, vs + (16 * k + (mi % 2) * 8 + lane % 8) * LD + d * 8 + (mi / 2) * 8);
                    mma_16816(o[d], pa, b[0], b[1]);
                    mma_16816(o[d + 1], pa, b[2], b[3]);
                }
            }
        }
    }
#pragma unroll
    for (int x = 1; x < 4; x <<= 1) {
        l_a += __shfl_xor_sync(0xffffffffu, l_a, x);
        l_b += __shfl_xor_sync(0xffffffffu, l_b, x);
    }
    int ta = tw + g, tb = ta + 8;
#pragma unroll
    for (int d = 0; d < NDT; d++) {
        if (ta < n) *(float2 *)(out + (size_t)ta * q_dim + h * HD + 8 * d + c) = make_float2(o[d][0] / l_a, o[d][1] / l_a);
        if (tb < n) *(float2 *)(out + (size_t)tb * q_dim + h * HD + 8 * d + c) = make_float2(o[d][2] / l_b, o[d][3] / l_b);
    }
}

template <int HD>
static cudaError_t launch(float *out, const float *q, const float *kc, const float *vc, const int *pos, int n,
                          int n_head, int n_kv, int causal, int kv_len, int window, float scale, cudaStream_t s)
{
    dim3 grid((n + tiles<HD>::BQ - 1) / tiles<HD>::BQ, n_head);
    prompt_attention_kernel<HD><<<grid, NW * WARP, 0, s>>>(out, q, kc, vc, pos, n, n_head, n_kv, causal, kv_len,
                                                           window, scale * LOG2E);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_prompt_attention(float *out, const float *q, const float *k_cache, const float *v_cache,
                                             const int *pos, int n, int n_head, int n_kv, int head_dim, int causal,
                                             int kv_len, int window, float scale, cudaStream_t s)
{
    if (n_kv < 1 || n_head % n_kv) return cudaErrorInvalidValue;
    if (n < 1) return cudaSuccess;
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) ||
        major < 8)
        return cudaErrorNotSupported;
    switch (head_dim) {
    case 16: return launch<16>(out, q, k_cache, v_cache, pos, n, n_head, n_kv, causal, kv_len, window, scale, s);
    case 32: return launch<32>(out, q, k_cache, v_cache, pos, n, n_head, n_kv, causal, kv_len, window, scale, s);
    case 64: return launch<64>(out, q, k_cache, v_cache, pos, n, n_head, n_kv, causal, kv_len, window, scale, s);
    case 128: return launch<128>(out, q, k_cache, v_cache, pos, n, n_head, n_kv, causal, kv_len, window, scale, s);
    default: return cudaErrorNotSupported;
    }
}
