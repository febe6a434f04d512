#include "gemm_glu.h"

#include <cuda.h>
#include <cudaTypedefs.h>
#include <mutex>

#include "common.cuh"

/* The kernel needs Hopper's own instructions (wgmma, setmaxnreg: the sm_90a
 * target); other targets compile an empty body that the host never runs
 * (cuda_gemm_glu_available asks the device which code it loaded). */
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define GLU_GEMM_ON 1
#else
#define GLU_GEMM_ON 0
#endif

/* A tile: BM tokens times BN outputs (128, or 64 where that fills the
 * multiprocessors better, see cuda_gemm_glu), its sums over BK-wide steps of
 * k. A stage of shared memory holds the tile's X rows (BM x BK) and W's BN
 * gate rows followed by the BN up rows with the same index (2 BN x BK), each
 * row BK 16-bit values = 128 bytes, laid out by the copy engine with the
 * 128-byte swizzle that the tensor cores read. Three warpgroups: the first
 * issues the copies (one thread), each of the other two multiplies 64 of the
 * tile's rows by all 2 BN of W's (one m64n(2 BN)k16 wgmma a 16-wide step of
 * k), so that a thread's accumulators hold gate's and up's sums for the same
 * outputs. Blocks stay resident and take tiles in turn, so the next tile's
 * copies run while a tile's GLU is computed and stored. */
enum { BM = 128, BK = 64, STAGES = 4, THREADS = 384, A_BYTES = BM * BK * 2 };
static __host__ __device__ constexpr int stage_bytes(int bn) { return A_BYTES + 2 * bn * BK * 2; }
static __host__ __device__ constexpr int smem_bytes(int bn) { return STAGES * stage_bytes(bn) + 1024 + 2 * STAGES * 8; }

#if GLU_GEMM_ON
static __device__ __forceinline__ uint32_t smem_addr(const void *p)
{
    return (uint32_t)__cvta_generic_to_shared(p);
}

static __device__ __forceinline__ void mbar_init(uint64_t *b, uint32_t count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(b)), "r"(count));
}

static __device__ __forceinline__ void mbar_wait(uint64_t *b, uint32_t parity)
{
    uint32_t done;
    do {
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(smem_addr(b)), "r"(parity)
                     : "memory");
    } while (!done);
}

static __device__ __forceinline__ void mbar_arrive(uint64_t *b)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(b)) : "memory");
}

/* one arrival that also announces `bytes` of copies completing on b */
static __device__ __forceinline__ void mbar_expect(uint64_t *b, uint32_t bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(b)), "r"(bytes) : "memory");
}

/* the box at (x: element of k, y: row) of map's tensor into dst, completing on b */
static __device__ __forceinline__ void tma_load(void *dst, const CUtensorMap *map, int x, int y, uint64_t *b)
{
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::
            "r"(smem_addr(dst)),
        "l"((uint64_t)map), "r"(x), "r"(y), "r"(smem_addr(b))
        : "memory");
}

/* A wgmma operand in shared memory: rows of 128 bytes in 128-byte-swizzled
 * groups of 8 rows, 1,024 bytes apart (the stride field; the leading one is
 * unused for a swizzled K-major operand), start address in 16-byte units
 * (PTX ISA, "Matrix Descriptor Format" of warpgroup-level MMA). */
static __device__ __forceinline__ uint64_t desc(const void *p)
{
    return (uint64_t)((smem_addr(p) & 0x3FFFF) >> 4) | (uint64_t)1 << 16 | (uint64_t)(1024 >> 4) << 32 |
           (uint64_t)1 << 62;
}

#define D8(i) \
    "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define WGMMA(T)                                                                                                      \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"                                                        \
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32." T "." T " {"                                          \
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, "    \
                 "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, "    \
                 "%40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, "     \
                 "%59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, "     \
                 "%78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, "     \
                 "%97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, " \
                 "%114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, "               \
                 "%128, %129, p, 1, 1, 0, 0;\n}\n"                                                                    \
                 : D8(0), D8(8), D8(16), D8(24), D8(32), D8(40), D8(48), D8(56), D8(64), D8(72), D8(80), D8(88),     \
                   D8(96), D8(104), D8(112), D8(120)                                                                  \
                 : "l"(da), "l"(db), "r"(acc))

#define WGMMA128(T)                                                                                                   \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                                         \
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32." T "." T " {"                                          \
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, "    \
                 "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, "    \
                 "%40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, "     \
                 "%59, %60, %61, %62, %63}, "                                                                         \
                 "%64, %65, p, 1, 1, 0, 0;\n}\n"                                                                      \
                 : D8(0), D8(8), D8(16), D8(24), D8(32), D8(40), D8(48), D8(56)                                       \
                 : "l"(da), "l"(db), "r"(acc))

/* d (+)= A B^T for A's 64 rows and B's N (256 or 128), 16 of k (acc 0:
 * d = A B^T); d holds N / 2 floats a thread */
template <int F16, int N>
static __device__ __forceinline__ void wgmma(float *d, uint64_t da, uint64_t db, int acc)
{
    if (N == 256) {
        if (F16) WGMMA("f16");
        else WGMMA("bf16");
    } else {
        if (F16) WGMMA128("f16");
        else WGMMA128("bf16");
    }
}

/* keeps the compiler from moving accesses to d across the asynchronous MMAs */
template <int R>
static __device__ __forceinline__ void fence_acc(float *d)
{
#pragma unroll
    for (int i = 0; i < R; i++) asm volatile("" : "+f"(d[i])::"memory");
}

template <int F16>
static __device__ __forceinline__ uint32_t pack2(float a, float b)
{
    if (F16) {
        const __half2 h = __floats2half2_rn(a, b);
        return *(const uint32_t *)&h;
    }
    const __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
    return *(const uint32_t *)&h;
}

#endif

template <int F16, int BN>
static __global__ void __launch_bounds__(THREADS, 1)
    glu_gemm_kernel(const __grid_constant__ CUtensorMap xmap, const __grid_constant__ CUtensorMap wmap, uint16_t *out,
                    int n, int k, int ff, int gelu)
{
#if GLU_GEMM_ON
    extern __shared__ unsigned char smem_raw[];
    unsigned char *sm = (unsigned char *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    enum { STAGE_BYTES = stage_bytes(BN), B_BYTES = STAGE_BYTES - A_BYTES, R = BN }; /* R: accumulators a thread */
    uint64_t *full = (uint64_t *)(sm + STAGES * STAGE_BYTES), *empty = full + STAGES;
    const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    const int m_tiles = (n + BM - 1) / BM, tiles = m_tiles * (ff / BN), ksteps = (k + BK - 1) / BK;
    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) mbar_init(&full[s], 1), mbar_init(&empty[s], 2);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    pdl_wait();
    if (wg == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
        if (tid != 0) return;
        int s = 0;
        uint32_t phase = 0;
        for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
            const int row = t % m_tiles * BM, col = t / m_tiles * BN;
            for (int kb = 0; kb < ksteps; kb++) {
                mbar_wait(&empty[s], phase ^ 1); /* a fresh barrier's "previous" phase counts as done */
                unsigned char *st = sm + s * STAGE_BYTES;
                mbar_expect(&full[s], STAGE_BYTES);
                tma_load(st, &xmap, kb * BK, row, &full[s]);
                tma_load(st + A_BYTES, &wmap, kb * BK, col, &full[s]);
                tma_load(st + A_BYTES + B_BYTES / 2, &wmap, kb * BK, ff + col, &full[s]);
                if (++s == STAGES) s = 0, phase ^= 1;
            }
        }
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int half = wg - 1, warp = tid / 32, lane = tid % 32;
    float d[R];
    int s = 0;
    uint32_t phase = 0;
    for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
        const int row = t % m_tiles * BM, col = t / m_tiles * BN;
        int prev = 0;
        for (int kb = 0; kb < ksteps; kb++) {
            mbar_wait(&full[s], phase);
            const unsigned char *st = sm + s * STAGE_BYTES;
            const uint64_t da = desc(st + half * (A_BYTES / 2)), db = desc(st + A_BYTES);
            fence_acc<R>(d);
            asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
            for (int kk = 0; kk < BK / 16; kk++) wgmma<F16, 2 * BN>(d, da + 2 * kk, db + 2 * kk, kb | kk); /* +32 bytes */
            asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
            /* this step's products stay in flight; the previous step's are
             * done, so its stage goes back to the copies */
            asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
            if (kb > 0 && tid == 0) mbar_arrive(&empty[prev]);
            fence_acc<R>(d);
            prev = s;
            if (++s == STAGES) s = 0, phase ^= 1;
        }
        asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
        fence_acc<R>(d);
        if (tid == 0) mbar_arrive(&empty[prev]);
        /* d[4i + j]: row r0 (j < 2) or r0 + 8, column 8 i + 2 (lane % 4) + j % 2
         * of the 2 BN (PTX ISA, wgmma's accumulator fragment for .m64nNk16);
         * gate's columns are i < BN / 8, up's the same columns BN further */
        const int r0 = row + half * 64 + warp * 16 + lane / 4, c0 = col + 2 * (lane % 4);
#pragma unroll
        for (int i = 0; i < BN / 8; i++) {
            const float *g = d + 4 * i, *u = d + 4 * (i + BN / 8);
            if (r0 < n)
                *(uint32_t *)(out + (size_t)r0 * ff + c0 + 8 * i) =
                    pack2<F16>(glu1(g[0], u[0], gelu), glu1(g[1], u[1], gelu));
            if (r0 + 8 < n)
                *(uint32_t *)(out + (size_t)(r0 + 8) * ff + c0 + 8 * i) =
                    pack2<F16>(glu1(g[2], u[2], gelu), glu1(g[3], u[3], gelu));
        }
    }
#endif
}

static __global__ void probe_kernel(int *on) { *on = GLU_GEMM_ON; }

/* cuTensorMapEncodeTiled through the runtime (no link to the driver
 * library); NULL when the driver does not have it */
static PFN_cuTensorMapEncodeTiled_v12000 encoder(void)
{
    static std::once_flag once;
    static void *fn;
    std::call_once(once, [] {
        cudaDriverEntryPointQueryResult q;
#if CUDART_VERSION >= 12050
        const cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q);
#else
        const cudaError_t e = cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &fn, cudaEnableDefault, &q);
#endif
        if (e != cudaSuccess || q != cudaDriverEntryPointSuccess) fn = NULL;
    });
    return (PFN_cuTensorMapEncodeTiled_v12000)fn;
}

/* Per device: whether it runs an sm_90a image of this file and the driver
 * encodes tensor maps (0 unknown, 1 no, 2 yes; when yes, the kernels may
 * have the shared memory they need), and its multiprocessors. */
enum { MAX_DEV = 64 };
static std::atomic<int> glu_known[MAX_DEV], glu_sms[MAX_DEV];

extern "C" int cuda_gemm_glu_available(void)
{
    int dev = 0, major = 0, minor = 0, sms = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev >= MAX_DEV) return 0;
    int v = glu_known[dev].load(std::memory_order_acquire);
    if (v == 0) {
        int on = 0, *d_on = NULL;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
            cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess && major == 9 &&
            minor == 0 && cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess &&
            encoder() && cudaMalloc(&d_on, sizeof *d_on) == cudaSuccess) {
            void *args[1] = {&d_on};
            /* the launch's own status, so that an error left by other code is neither taken nor cleared */
            if (cudaLaunchKernel((const void *)probe_kernel, dim3(1), dim3(1), args, 0, 0) != cudaSuccess ||
                cudaMemcpy(&on, d_on, sizeof on, cudaMemcpyDeviceToHost) != cudaSuccess)
                on = 0;
            cudaFree(d_on);
            const cudaFuncAttribute a = cudaFuncAttributeMaxDynamicSharedMemorySize;
            if (on && (cudaFuncSetAttribute(glu_gemm_kernel<0, 128>, a, smem_bytes(128)) != cudaSuccess ||
                       cudaFuncSetAttribute(glu_gemm_kernel<1, 128>, a, smem_bytes(128)) != cudaSuccess ||
                       cudaFuncSetAttribute(glu_gemm_kernel<0, 64>, a, smem_bytes(64)) != cudaSuccess ||
                       cudaFuncSetAttribute(glu_gemm_kernel<1, 64>, a, smem_bytes(64)) != cudaSuccess))
                on = 0;
        }
        glu_sms[dev].store(sms, std::memory_order_relaxed);
        v = on ? 2 : 1;
        glu_known[dev].store(v, std::memory_order_release);
    }
    return v == 2;
}

/* rows of k 16-bit values as boxes of BK x box_rows, swizzled for wgmma */
static int tensor_map(CUtensorMap *m, const void *p, int f16, uint64_t rows, uint64_t k, uint32_t box_rows)
{
    PFN_cuTensorMapEncodeTiled_v12000 enc = encoder();
    if (!enc) return -1;
    const cuuint64_t dims[2] = {k, rows}, strides[1] = {k * 2};
    const cuuint32_t box[2] = {BK, box_rows}, estr[2] = {1, 1};
    return enc(m, f16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, (void *)p, dims, strides,
               box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS
               ? 0
               : -1;
}

extern "C" cudaError_t cuda_gemm_glu(void *out, const void *x, const void *w, uint32_t type, int n, int k, int ff,
                                     int gelu, int tile, cudaStream_t s)
{
    if ((type != T_F16 && type != T_BF16) || n < 0 || k < 8 || k % 8 || ff < 128 || ff % 128 || !out || !x || !w ||
        ((uintptr_t)out | (uintptr_t)x | (uintptr_t)w) % 16 || (tile != 0 && tile != 64 && tile != 128))
        return cudaErrorInvalidValue;
    if (!cuda_gemm_glu_available()) return cudaErrorNotSupported;
    if (n == 0) return cudaSuccess;
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess) return e;
    /* Tiles of 64 outputs where they take fewer rounds of the grid's
     * blocks, counted in 64-output tiles' time (a 128-output tile taking two),
     * than tiles of 128: on the H100 at 512 tokens Qwen2.5-0.5B's 152 tiles
     * of 128 are two rounds of 132 blocks, the second 15% full, and 304
     * tiles of 64 three rounds; with equal counts, 128 (a larger product a
     * step). */
    const long sms = glu_sms[dev].load(std::memory_order_relaxed), t128 = (long)((n + BM - 1) / BM) * (ff / 128);
    const int bn = tile ? tile : (2 * t128 + sms - 1) / sms < 2 * ((t128 + sms - 1) / sms) ? 64 : 128;
    const long tiles = bn == 64 ? 2 * t128 : t128;
    const int f16 = type == T_F16;
    CUtensorMap xm, wm;
    if (tensor_map(&xm, x, f16, (uint64_t)n, (uint64_t)k, BM) ||
        tensor_map(&wm, w, f16, 2 * (uint64_t)ff, (uint64_t)k, (uint32_t)bn))
        return cudaErrorInvalidValue;
    void (*kern)(CUtensorMap, CUtensorMap, uint16_t *, int, int, int, int) =
        bn == 64 ? (f16 ? glu_gemm_kernel<1, 64> : glu_gemm_kernel<0, 64>)
                 : (f16 ? glu_gemm_kernel<1, 128> : glu_gemm_kernel<0, 128>);
    return launch_pdl(kern, dim3((unsigned)(tiles < sms ? tiles : sms)), dim3(THREADS), (size_t)smem_bytes(bn), s, xm,
                      wm, (uint16_t *)out, n, k, ff, gelu);
}
