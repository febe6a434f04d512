#include "gemm_rope.h"

#include "sm90.cuh"

/* A tile spans 2 R consecutive rows of W (its two boxes R rows apart):
 * whole heads of HD, since HD divides 2 R and the heads start at multiples
 * of HD. A thread's sums for one head and one of its two rows are
 * 2 values of each of the head's HD / 8 groups of 8 columns, so both
 * values of a rotated pair are the thread's own: the neighbour (2i, 2i + 1)
 * in the same group, or (e, e + HD / 2) in the group HD / 16 further on.
 * The tile's angles and biases are copied into shared memory while it is
 * multiplied (sm90_gemm_kernel's aux) where they fit beside the ring (all
 * but two heads of 128 a tile): on the H100 Qwen2.5-0.5B's prompt spent
 * half its epilogue waiting for them when each thread loaded its own
 * (docs/PERFORMANCE.md). */
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
    /* aux: the tile's 128 rows of angles, HD / 16 boxes of 128 rows by
     * 8 (cos, sin) pairs (ANGLE_BOX bytes each, 64-byte swizzle: see
     * angle), then the tile's 2 R biases; none where those do not fit
     * (FETCH 0: the epilogue loads them) */
    enum { ANGLE_BOX = BM * 64, ANGLES = HD / 16 * ANGLE_BOX };
    enum { FETCH = smem_bytes(R, 0, ANGLES + 2 * R * 4) <= SMEM_MAX };
    enum { STAGED = 0, AUX = FETCH ? ANGLES + 2 * R * 4 : 0 };
    CUtensorMap angles; /* rows of HD / 2 (cos, sin) pairs as boxes of 8 pairs x BM rows */
    rope_dst o;

    /* The biases of the tile's head h, which starts at column c of y's
     * row, or NULL where it has none or is past the last. */
    __device__ __forceinline__ const float *head_bias(int c) const
    {
        const int q_dim = o.n_head * HD, kv_dim = o.n_kv * HD;
        if (c >= q_dim + 2 * kv_dim) return NULL;
        if (c < q_dim) return o.bq ? o.bq + c : NULL;
        return c < q_dim + kv_dim ? (o.bk ? o.bk + c - q_dim : NULL) : (o.bv ? o.bv + c - q_dim - kv_dim : NULL);
    }

    /* the copies of the tile's angles (rows past the last: zeros) and
     * biases at (row, col), completing on bar */
    __device__ __forceinline__ void fetch(unsigned char *aux, uint64_t *bar, int row, int col) const
    {
#if SM90A_ON
        uint32_t bytes = ANGLES;
        for (int h = 0; h < 2 * R / HD; h++) bytes += head_bias(col + h * HD) ? HD * 4 : 0;
        mbar_expect(bar, bytes);
        for (int b = 0; b < HD / 16; b++) tma_load(aux + b * ANGLE_BOX, &angles, 16 * b, row, bar);
        for (int h = 0; h < 2 * R / HD; h++)
            if (const float *b = head_bias(col + h * HD)) bulk_load(aux + ANGLES + h * HD * 4, b, HD * 4, bar);
#endif
    }

    /* (cos, sin) pair p of the tile's row r in aux: 64-byte rows with the
     * 64-byte swizzle (swizzled<4>), so that the two rows of a quarter
     * warp's 16-byte loads (neox) fall in different banks, as do the eight
     * rows of a warp's 8-byte loads */
    static __device__ __forceinline__ const float2 *angle(const unsigned char *aux, int r, int p)
    {
        return (const float2 *)(aux + p / 8 * ANGLE_BOX + swizzled<4>(r * 64 + p % 8 * 8));
    }

    /* pairs p and p + 1 (N2 2) or p alone (then .z = .w = 0) of token t, the tile's row r */
    template <int N2>
    __device__ __forceinline__ float4 pairs(const unsigned char *aux, int t, int r, int p) const
    {
        if (FETCH) {
            const float2 *a = angle(aux, r, p);
            return N2 == 2 ? *(const float4 *)a : make_float4(a->x, a->y, 0, 0);
        }
        const float2 *g = o.cs + (size_t)t * (HD / 2) + p;
        const float2 a = __ldg(g), b = N2 == 2 ? __ldg(g + 1) : make_float2(0, 0);
        return make_float4(a.x, a.y, b.x, b.y);
    }

    /* head h of the tile (columns from c of y's row) for the thread's two
     * rows, the first the tile's row lr; bs: the head's biases in aux */
    __device__ __forceinline__ void head(const float *d, int c, int r0, int lr, int c2, const unsigned char *aux,
                                         const float *bs) const
    {
#if SM90A_ON
        const int q_dim = o.n_head * HD, kv_dim = o.n_kv * HD;
        const int kind = c < q_dim ? 0 : c < q_dim + kv_dim ? 1 : 2;
        const int off = kind == 0 ? c : kind == 1 ? c - q_dim : c - q_dim - kv_dim, ld = kind == 0 ? q_dim : kv_dim;
        const float *hb = head_bias(c), *b = FETCH ? bs : hb; /* the head's biases, in aux or in memory */
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
                    v[2 * j + e] =
                        d[4 * j + 2 * rr + e] + (!hb ? 0.0f : FETCH ? b[8 * j + c2 + e] : __ldg(b + 8 * j + c2 + e));
            if (kind != 2) {
                if (o.neox) {
#pragma unroll
                    for (int j = 0; j < HD / 16; j++) {
                        const float4 a4 = pairs<2>(aux, t, lr + 8 * rr, 8 * j + c2);
#pragma unroll
                        for (int e = 0; e < 2; e++) {
                            const float2 cs = e ? make_float2(a4.z, a4.w) : make_float2(a4.x, a4.y);
                            const float x0 = v[2 * j + e], x1 = v[2 * j + HD / 8 + e];
                            v[2 * j + e] = x0 * cs.x - x1 * cs.y;
                            v[2 * j + HD / 8 + e] = x0 * cs.y + x1 * cs.x;
                        }
                    }
                } else {
#pragma unroll
                    for (int j = 0; j < HD / 8; j++) {
                        const float4 a = pairs<1>(aux, t, lr + 8 * rr, 4 * j + c2 / 2);
                        const float2 cs = make_float2(a.x, a.y);
                        const float x0 = v[2 * j], x1 = v[2 * j + 1];
                        v[2 * j] = x0 * cs.x - x1 * cs.y;
                        v[2 * j + 1] = x0 * cs.y + x1 * cs.x;
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

    __device__ __forceinline__ void operator()(const float *d, int r0, int col, int c2, const stage &st,
                                               const unsigned char *aux) const
    {
        const int cols = (o.n_head + 2 * o.n_kv) * HD, lr = r0 - st.row + 64 * st.half;
        const float *b = (const float *)(aux + ANGLES);
#pragma unroll
        for (int h = 0; h < 2 * R / HD; h++)
            if (col + h * HD < cols) head(d + h * HD / 2, col + h * HD, r0, lr, c2, aux, FETCH ? b + h * HD : NULL);
    }
};

#define ROPE_KERNEL(F16, R, HD) sm90_gemm_kernel<F16, R, rope_epi<R, HD>>
/* 231,504 bytes for R 128 and HD 64, of the 232,448 a block may have; R
 * 128 and HD 128 with their angles would need 264,272 (they load them) */
#define ROPE_SMEM(R, HD) smem_bytes(R, 0, rope_epi<R, HD>::AUX)

static std::atomic<int> rope_sms[HRT_MAX_DEV];

/* the multiprocessors of the current device where it runs the kernel, else 0 */
static int rope_device_sms(void)
{
    return sm90a_sms(rope_sms, [] {
        const cudaFuncAttribute a = cudaFuncAttributeMaxDynamicSharedMemorySize;
#define SET(R, HD)                                                                 \
    (cudaFuncSetAttribute(ROPE_KERNEL(0, R, HD), a, ROPE_SMEM(R, HD)) == cudaSuccess && \
     cudaFuncSetAttribute(ROPE_KERNEL(1, R, HD), a, ROPE_SMEM(R, HD)) == cudaSuccess)
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
        ((uintptr_t)x | (uintptr_t)w) % 16 || ((uintptr_t)k_rows | (uintptr_t)v_rows) % 8 ||
        ((uintptr_t)cs | (uintptr_t)bq | (uintptr_t)bk | (uintptr_t)bv) % 16 ||
        (uintptr_t)q_out % (q_type == T_F16 ? 4 : 8) || ((uintptr_t)k16 | (uintptr_t)v16) % 4 ||
        (tile && ((tile != 128 && tile != 192 && tile != 256) || tile % hd)))
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
    CUtensorMap xm, wm, am;
    if (tensor_map(&xm, x, f16, (uint64_t)n, (uint64_t)k, BM) ||
        tensor_map(&wm, w, f16, (uint64_t)cols, (uint64_t)k, (uint32_t)r) ||
        tensor_map_2d(&am, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 4, cs, (uint64_t)hd, (uint64_t)n, 16, BM,
                      CU_TENSOR_MAP_SWIZZLE_64B))
        return cudaErrorInvalidValue;
    const walk wk = {(int)tiles, (int)m_tiles, bw, r, (k + BK - 1) / BK};
    const rope_dst o = {q_out, k_rows, v_rows, (__half *)k16, (__half *)v16, bq, bk, bv, (const float2 *)cs,
                        q_scale, n, n_head, n_kv, neox, q_type == T_F16};
    const dim3 grid((unsigned)(tiles < sms ? tiles : sms));
#define GO(F16, R, HD) \
    launch_pdl(ROPE_KERNEL(F16, R, HD), grid, dim3(THREADS), (size_t)ROPE_SMEM(R, HD), s, xm, wm, wk, \
               rope_epi<R, HD>{am, o})
    if (hd == 64) {
        if (r == 64) return f16 ? GO(1, 64, 64) : GO(0, 64, 64);
        if (r == 96) return f16 ? GO(1, 96, 64) : GO(0, 96, 64);
        return f16 ? GO(1, 128, 64) : GO(0, 128, 64);
    }
    return r == 64 ? (f16 ? GO(1, 64, 128) : GO(0, 64, 128)) : (f16 ? GO(1, 128, 128) : GO(0, 128, 128));
#undef GO
}
