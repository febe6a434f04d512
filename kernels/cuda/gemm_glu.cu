#include "gemm_glu.h"

#include "sm90.cuh"

/* Gate's and up's rows with the same indices are a tile's two boxes of W
 * (R = BN of each: 128, or 64 where that fills the multiprocessors better,
 * see cuda_gemm_glu), so a thread's accumulators hold gate's and up's sums
 * for the same outputs: d[4 i + j] gate's, d[4 (i + BN / 8) + j] up's. The
 * results, rounded once, are staged for the copy engine's store (struct
 * stage in sm90.cuh), whose tensor map ends at row n. */
template <int F16, int BN> struct glu_epi {
    enum { STAGED = BN / 64 * OUT_BOX, AUX = 0 };
    CUtensorMap out; /* H as boxes of 64 x 64 */
    int gelu;
    __device__ __forceinline__ void operator()(const float *d, int r0, int col, int c2, const stage &st,
                                               const unsigned char *) const
    {
#if SM90A_ON
        uint32_t v[BN / 4]; /* all values first: the stores below wait for the buffer */
#pragma unroll
        for (int i = 0; i < BN / 8; i++) {
            const float *g = d + 4 * i, *u = d + 4 * (i + BN / 8);
            v[2 * i] = pack2<F16>(glu1(g[0], u[0], gelu), glu1(g[1], u[1], gelu));
            v[2 * i + 1] = pack2<F16>(glu1(g[2], u[2], gelu), glu1(g[3], u[3], gelu));
        }
        st.acquire();
        const int r = r0 - st.row;
#pragma unroll
        for (int i = 0; i < BN / 8; i++) {
            st.put(r, i, c2, v[2 * i]);
            st.put(r + 8, i, c2, v[2 * i + 1]);
        }
        st.store(&out, col, BN / 64);
#endif
    }
};

#define GLU_KERNEL(F16, BN) sm90_gemm_kernel<F16, BN, glu_epi<F16, BN>>
template <int BN> static constexpr int GLU_SMEM = smem_bytes(BN, glu_epi<0, BN>::STAGED, 0);

static std::atomic<int> glu_sms[HRT_MAX_DEV];

/* the multiprocessors of the current device where it runs the kernel, else 0 */
static int glu_device_sms(void)
{
    return sm90a_sms(glu_sms, [] {
        const cudaFuncAttribute a = cudaFuncAttributeMaxDynamicSharedMemorySize;
        return cudaFuncSetAttribute(GLU_KERNEL(0, 128), a, GLU_SMEM<128>) == cudaSuccess &&
               cudaFuncSetAttribute(GLU_KERNEL(1, 128), a, GLU_SMEM<128>) == cudaSuccess &&
               cudaFuncSetAttribute(GLU_KERNEL(0, 64), a, GLU_SMEM<64>) == cudaSuccess &&
               cudaFuncSetAttribute(GLU_KERNEL(1, 64), a, GLU_SMEM<64>) == cudaSuccess;
    });
}

extern "C" int cuda_gemm_glu_available(void) { return glu_device_sms() > 0; }

extern "C" cudaError_t cuda_gemm_glu(void *out, const void *x, const void *w, uint32_t type, int n, int k, int ff,
                                     int gelu, int tile, cudaStream_t s)
{
    if ((type != T_F16 && type != T_BF16) || n < 0 || n > MAX_ROWS || k < 8 || k % 8 || ff < 128 || ff % 128 ||
        !out || !x || !w ||
        ((uintptr_t)out | (uintptr_t)x | (uintptr_t)w) % 16 || (tile != 0 && tile != 64 && tile != 128))
        return cudaErrorInvalidValue;
    const long sms = glu_device_sms();
    if (!sms) return cudaErrorNotSupported;
    if (n == 0) return cudaSuccess;
    /* Tiles of 64 outputs where their rounds of the grid take less time
     * than those of 128 (tile_width): on the H100 at 512 tokens Qwen2.5-0.5B's
     * 152 tiles of 128 are two rounds of 132 blocks, the second 15% full, and
     * 304 tiles of 64 three rounds, 3 x 64 < 2 x 128; with equal times, 128
     * (a larger product a step). */
    const long m_tiles = ((long)n + BM - 1) / BM, t128 = m_tiles * (ff / 128);
    if (2 * t128 > INT_MAX) return cudaErrorInvalidValue;
    const int widths[2] = {128, 64}, bn = tile ? tile : tile_width(m_tiles, ff, sms, widths, 2);
    const int tiles = (int)(bn == 64 ? 2 * t128 : t128), f16 = type == T_F16;
    CUtensorMap xm, wm, om;
    if (tensor_map(&xm, x, f16, (uint64_t)n, (uint64_t)k, BM) ||
        tensor_map(&wm, w, f16, 2 * (uint64_t)ff, (uint64_t)k, (uint32_t)bn) ||
        tensor_map(&om, out, f16, (uint64_t)n, (uint64_t)ff, 64))
        return cudaErrorInvalidValue;
    const walk wk = {tiles, (int)m_tiles, bn, ff, (k + BK - 1) / BK};
    const dim3 grid((unsigned)(tiles < sms ? tiles : sms));
#define GO(F16, BN) \
    launch_pdl(GLU_KERNEL(F16, BN), grid, dim3(THREADS), (size_t)GLU_SMEM<BN>, s, xm, wm, wk, glu_epi<F16, BN>{om, gelu})
    return bn == 64 ? (f16 ? GO(1, 64) : GO(0, 64)) : (f16 ? GO(1, 128) : GO(0, 128));
#undef GO
}
