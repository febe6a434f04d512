#include "gemm_rope.h"

#include "sm90.cuh"

/* A tile spans 2 R consecutive rows of W (its two boxes R rows apart):
 * whole heads of HD, since HD divides 2 R and the heads start at multiples
 * of HD. A thread's sums for one head and one of its two rows are
 * 2 values of each of the head's HD / 8 groups of 8 columns, so both
 * values of a rotated pair are the thread's own: the neighbour (2i, 2i + 1)
 * in the same group, or (e, e + HD / 2) in the group HD / 16 further on. */
struct rope_dst {
    void *q; /* f32, or fp16 times q_scale (q16) */
    float *kc, *vc;
    __half *k16, *v16;
    const float *bq, *bk, *bv;
    const float2 *cs;
    float q_scale;
    int n, n_head, n_kv, neox, q16;
};

template <int R, int HD> struct rope_epi {
    enum { STAGED = 0 }; /* stores from the registers: rows of f32 and fp16 in four places */
    rope_dst o;

    /* head h's columns from c (of y's row) for the thread's two rows */
    __device__ __forceinline__ void head(const float *d, int c, int r0, int c2) const
    {
#if SM90A_ON
        const int q_dim = o.n_head * HD, kv_dim = o.n_kv * HD;
        const int kind = c < q_dim ? 0 : c < q_dim + kv_dim ? 1 : 2;
        const int off = kind == 0 ? c : kind == 1 ? c - q_dim : c - q_dim - kv_dim, ld = kind == 0 ? q_dim : kv_dim;
        const float *b = kind == 0 ? o.bq : kind == 1 ? o.bk : o.bv;
        float *dst = kind == 0 ? (o.q16 ? NULL : (float *)o.q) : kind == 1 ? o.kc : o.vc;
        __half *d16 = kind == 0 ? (o.q16 ? (__half *)o.q : NULL) : kind == 1 ? o.k16 : o.v16;
        const float s16 = kind == 0 ? o.q_scale : 1.0f; /* what the fp16 values are multiplied by */
#pragma unroll
        for (int rr = 0; rr < 2; rr++) {
            const int t = r0 + 8 * rr;
            if (t >= o.n) break;
            float v[HD / 4]; /* v[2 j + e]: column off + 8 j + c2 + e of the head */
#pragma unroll
            for (int j = 0; j < HD / 8; j++)
#pragma unroll
                for (int e = 0; e < 2; e++)
                    v[2 * j + e] = d[4 * j + 2 * rr + e] + (b ? __ldg(b + off + 8 * j + c2 + e) : 0.0f);
            if (kind != 2) {
                const float2 *cs = o.cs + (size_t)t * (HD / 2);
                if (o.neox) {
#pragma unroll
                    for (int j = 0; j < HD / 16; j++)
#pragma unroll
                        for (int e = 0; e < 2; e++) {
                            const float2 a = __ldg(cs + 8 * j + c2 + e);
                            const float x0 = v[2 * j + e], x1 = v[2 * j + HD / 8 + e];
                            v[2 * j + e] = x0 * a.x - x1 * a.y;
                            v[2 * j + HD / 8 + e] = x0 * a.y + x1 * a.x;
                        }
                } else {
#pragma unroll
                    for (int j = 0; j < HD / 8; j++) {
                        const float2 a = __ldg(cs + 4 * j + c2 / 2);
                        const float x0 = v[2 * j], x1 = v[2 * j + 1];
                        v[2 * j] = x0 * a.x - x1 * a.y;
                        v[2 * j + 1] = x0 * a.y + x1 * a.x;
                    }
                }
            }
            const size_t at = (size_t)t * ld + off + c2;
            if (dst)
#pragma unroll
                for (int j = 0; j < HD / 8; j++) *(float2 *)(dst + at + 8 * j) = make_float2(v[2 * j], v[2 * j + 1]);
            if (d16)
#pragma unroll
                for (int j = 0; j < HD / 8; j++)
                    *(__half2 *)(d16 + at + 8 * j) =
                        __halves2half2(half_sat(v[2 * j] * s16), half_sat(v[2 * j + 1] * s16));
        }
#endif
    }

    __device__ __forceinline__ void operator()(const float *d, int r0, int col, int c2, const stage &) const
    {
        const int cols = (o.n_head + 2 * o.n_kv) * HD;
#pragma unroll
        for (int h = 0; h < 2 * R / HD; h++)
            if (col + h * HD < cols) head(d + h * HD / 2, col + h * HD, r0, c2);
    }
};

#define ROPE_KERNEL(F16, R, HD) sm90_gemm_kernel<F16, R, rope_epi<R, HD>>

static std::atomic<int> rope_sms[HRT_MAX_DEV];

/* the multiprocessors of the current device where it runs the kernel, else 0 */
static int rope_device_sms(void)
{
    return sm90a_sms(rope_sms, [] {
        const cudaFuncAttribute a = cudaFuncAttributeMaxDynamicSharedMemorySize;
#define SET(R, HD)                                                                 \
    (cudaFuncSetAttribute(ROPE_KERNEL(0, R, HD), a, smem_bytes(R, 0)) == cudaSuccess && \
     cudaFuncSetAttribute(ROPE_KERNEL(1, R, HD), a, smem_bytes(R, 0)) == cudaSuccess)
        return SET(64, 64) && SET(96, 64) && SET(128, 64) && SET(64, 128) && SET(128, 128);
#undef SET
    });
}

extern "C" int cuda_gemm_rope_available(void) { return rope_device_sms() > 0; }

extern "C" cudaError_t cuda_gemm_rope(const void *x, const void *w, uint32_t type, int n, int k, const float *bq,
                                      const float *bk, const float *bv, const float *cs, int neox, void *q_out,
                                      uint32_t q_type, float q_scale, float *k_rows, float *v_rows, void *k16,
                                      void *v16, int n_head, int n_kv, int head_dim, int tile, cudaStream_t s)
{
    const int hd = head_dim;
    if ((type != T_F16 && type != T_BF16) || n < 0 || n > MAX_ROWS || k < 8 || k % 8 || (hd != 64 && hd != 128) ||
        n_head < 1 || n_kv < 1 || ((long)n_head + 2L * n_kv) * hd > INT_MAX / 2 || !x || !w || !cs || !q_out ||
        (q_type != T_F32 && q_type != T_F16) || !k_rows || !v_rows || !k16 != !v16 ||
        ((uintptr_t)x | (uintptr_t)w) % 16 || ((uintptr_t)k_rows | (uintptr_t)v_rows | (uintptr_t)cs) % 8 ||
        (uintptr_t)q_out % (q_type == T_F16 ? 4 : 8) || ((uintptr_t)k16 | (uintptr_t)v16) % 4 || (tile && ((tile != 128 && tile != 192 && tile != 256) || tile % hd)))
        return cudaErrorInvalidValue;
    const long sms = rope_device_sms();
    if (!sms) return cudaErrorNotSupported;
    if (n == 0) return cudaSuccess;
    const long cols = ((long)n_head + 2L * n_kv) * hd, m_tiles = ((long)n + BM - 1) / BM;
    /* Of the widths that hold whole heads, the one whose grid rounds take
     * the least time (tile_width): on the H100 (132 multiprocessors)
     * Qwen2.5-0.5B's 1,152 columns at 2,048 tokens are 96 tiles of 192 (one
     * round) where they would be 144 of 128 (two) or 80 of 256 (one, wider);
     * SmolLM2's 960, 128 tiles of 128. */
    const int widths[3] = {256, hd == 64 ? 192 : 0, 128};
    const int bw = tile ? tile : tile_width(m_tiles, cols, sms, widths, 3);
    const long tiles = m_tiles * ((cols + bw - 1) / bw);
    if (tiles > INT_MAX) return cudaErrorInvalidValue;
    const int f16 = type == T_F16, r = bw / 2;
    CUtensorMap xm, wm;
    if (tensor_map(&xm, x, f16, (uint64_t)n, (uint64_t)k, BM) ||
        tensor_map(&wm, w, f16, (uint64_t)cols, (uint64_t)k, (uint32_t)r))
        return cudaErrorInvalidValue;
    const walk wk = {(int)tiles, (int)m_tiles, bw, r, (k + BK - 1) / BK};
    const rope_dst o = {q_out, k_rows, v_rows, (__half *)k16, (__half *)v16, bq, bk, bv, (const float2 *)cs,
                        q_scale, n, n_head, n_kv, neox, q_type == T_F16};
    const dim3 grid((unsigned)(tiles < sms ? tiles : sms));
#define GO(F16, R, HD) \
    launch_pdl(ROPE_KERNEL(F16, R, HD), grid, dim3(THREADS), (size_t)smem_bytes(R, 0), s, xm, wm, wk, rope_epi<R, HD>{o})
    if (hd == 64) {
        if (r == 64) return f16 ? GO(1, 64, 64) : GO(0, 64, 64);
        if (r == 96) return f16 ? GO(1, 96, 64) : GO(0, 96, 64);
        return f16 ? GO(1, 128, 64) : GO(0, 128, 64);
    }
    return r == 64 ? (f16 ? GO(1, 64, 128) : GO(0, 64, 128)) : (f16 ? GO(1, 128, 128) : GO(0, 128, 128));
#undef GO
}
