/* Hopper (sm_90a) pieces of the kernels that multiply a prompt's rows X by
 * a weight matrix W with the tensor memory accelerator and wgmma, and
 * finish each tile of the product in their own epilogue (gemm_glu.cu,
 * gemm_rope.cu). Included only by files built for 90a (CMake's hrt_sm90a
 * library); on other targets SM90A_ON is 0 and a kernel's body must be left
 * out, so that the host can ask the device which image it loaded (probe).
 *
 * A tile is BM rows of X times 2 R rows of W, summed over BK-wide steps of
 * k. A stage of shared memory holds the tile's X rows (BM x BK) and two
 * boxes of R rows of W (rows b and b + off: gate's and up's rows with the
 * same index, or 2 R consecutive rows), each row BK 16-bit values = 128
 * bytes, laid out by the copy engine with the 128-byte swizzle that the
 * tensor cores read. Three warpgroups: the first issues the copies (one
 * thread, produce), each of the other two multiplies 64 of the tile's rows
 * by all 2 R of W's (one m64n(2R)k16 wgmma a 16-wide step of k, consume),
 * so that a thread's R accumulators hold sums for columns of both boxes.
 * Blocks stay resident and take tiles in turn, X's rows first, so the next
 * tile's copies run while a tile's epilogue is computed and stored. An
 * epilogue either stores from its registers or stages its 16-bit results
 * in shared memory for the copy engine to store (struct stage). */
#ifndef HRT_CUDA_SM90_CUH
#define HRT_CUDA_SM90_CUH

#include <climits>
#include <cuda.h>
#include <cudaTypedefs.h>
#include <mutex>

#include "common.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SM90A_ON 1
#else
#define SM90A_ON 0
#endif

enum { BM = 128, BK = 64, STAGES = 4, THREADS = 384, A_BYTES = BM * BK * 2 };
/* the most dynamic shared memory a block may have on the H100 and H200 (227 KB) */
enum { SMEM_MAX = 232448 };
/* a box of results staged for a store: 64 rows by 64 16-bit columns */
enum { OUT_BOX = 64 * 64 * 2 };
/* the most rows of X a launch takes (2^30: the tile walk's int sums stay far from overflow) */
enum { MAX_ROWS = 1 << 30 };
static __host__ __device__ constexpr int stage_bytes(int r) { return A_BYTES + 2 * r * BK * 2; }
/* the ring's stages, each multiplying warpgroup's `staged` bytes (the
 * epilogue's E::STAGED), the block's `aux` bytes of the epilogue's inputs
 * (E::AUX), the barriers, and room to align the start */
static __host__ __device__ constexpr int smem_bytes(int r, int staged, int aux)
{
    return STAGES * stage_bytes(r) + 2 * staged + aux + (2 * STAGES + 2) * 8 + 1024;
}

/* Where the copy engine puts byte `off` of a box, its rows packed, with
 * the 128-byte (PIECES 8) or the 64-byte (PIECES 4) swizzle: the 16-byte
 * piece's index XORed with the address's bits 7 and up (CUTLASS's
 * Swizzle<3,4,3> and Swizzle<2,4,3>), for a box 1,024-byte aligned. Rows
 * of 128 bytes: piece p of row r at p ^ r % 8; of 64: at p ^ r / 2 % 4. */
template <int PIECES> static __host__ __device__ constexpr int swizzled(int off)
{
    return off ^ (((off >> 7) & (PIECES - 1)) << 4);
}
static_assert(swizzled<8>(13 * 128 + 2 * 16 + 4) == 13 * 128 + (13 % 8 ^ 2) * 16 + 4, "swizzled<8>: p ^ r % 8");
static_assert(swizzled<4>(13 * 64 + 1 * 16 + 8) == 13 * 64 + (13 / 2 % 4 ^ 1) * 16 + 8, "swizzled<4>: p ^ r / 2 % 4");

/* Where the block's tiles lie: tile t covers X's rows from t % m_tiles * BM
 * and W's two boxes from rows t / m_tiles * cstep and that + off. */
struct walk {
    int tiles, m_tiles, cstep, off, ksteps;
};

#if SM90A_ON
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

/* bytes (a multiple of 16) from global src to shared dst, both 16-byte aligned, completing on b */
static __device__ __forceinline__ void bulk_load(void *dst, const void *src, uint32_t bytes, uint64_t *b)
{
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                     smem_addr(dst)),
                 "l"(src), "r"(bytes), "r"(smem_addr(b))
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
#define WGMMA256(T)                                                                                                    \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"                                                         \
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32." T "." T " {"                                           \
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, "          \
                 "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, "          \
                 "%38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, "          \
                 "%56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, "          \
                 "%74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, "          \
                 "%92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, "            \
                 "%108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, "          \
                 "%123, %124, %125, %126, %127"                                                                        \
                 "}, %128, %129, p, 1, 1, 0, 0;\n}\n"                                                                  \
                 : D8(0), D8(8), D8(16), D8(24), D8(32), D8(40), D8(48), D8(56), D8(64), D8(72), D8(80),               \
                   D8(88), D8(96), D8(104), D8(112), D8(120)                                                           \
                 : "l"(da), "l"(db), "r"(acc))

#define WGMMA192(T)                                                                                                    \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %98, 0;\n"                                                          \
                 "wgmma.mma_async.sync.aligned.m64n192k16.f32." T "." T " {"                                           \
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, "          \
                 "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, "          \
                 "%38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, "          \
                 "%56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, "          \
                 "%74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, "          \
                 "%92, %93, %94, %95"                                                                                  \
                 "}, %96, %97, p, 1, 1, 0, 0;\n}\n"                                                                    \
                 : D8(0), D8(8), D8(16), D8(24), D8(32), D8(40), D8(48), D8(56), D8(64), D8(72), D8(80), D8(88)        \
                 : "l"(da), "l"(db), "r"(acc))

#define WGMMA128(T)                                                                                                    \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                                          \
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32." T "." T " {"                                           \
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, "          \
                 "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, "          \
                 "%38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, "          \
                 "%56, %57, %58, %59, %60, %61, %62, %63"                                                              \
                 "}, %64, %65, p, 1, 1, 0, 0;\n}\n"                                                                    \
                 : D8(0), D8(8), D8(16), D8(24), D8(32), D8(40), D8(48), D8(56)                                        \
                 : "l"(da), "l"(db), "r"(acc))

/* d (+)= A B^T for A's 64 rows and B's N (256, 192 or 128), 16 of k (acc 0:
 * d = A B^T); d holds N / 2 floats a thread */
template <int F16, int N>
static __device__ __forceinline__ void wgmma(float *d, uint64_t da, uint64_t db, int acc)
{
    static_assert(N == 256 || N == 192 || N == 128, "wgmma: N");
    if (N == 256) {
        if (F16) WGMMA256("f16");
        else WGMMA256("bf16");
    } else if (N == 192) {
        if (F16) WGMMA192("f16");
        else WGMMA192("bf16");
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

/* A ring of stages and its barriers: full[s] completes when stage s's
 * copies have landed (one arrival with the bytes expected), empty[s] when
 * each of `users` multiplying warpgroups is done with it. Every thread of
 * the block calls ring_init. */
static __device__ __forceinline__ void ring_init(uint64_t *full, uint64_t *empty, int n, int users)
{
    if (threadIdx.x == 0) {
        for (int s = 0; s < n; s++) mbar_init(&full[s], 1), mbar_init(&empty[s], users);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
}

/* A place in a ring of n stages: the stage, and the parity of the phase
 * its barriers are in there (it flips each time round). */
struct ring_pos {
    int s;
    uint32_t phase;
    __device__ __forceinline__ void next(int n)
    {
        if (++s == n) s = 0, phase ^= 1;
    }
};

/* A product's ring: its stages from sm on, then its barriers. aux: the
 * epilogue's inputs for one tile (1,024-byte aligned), filled by copies
 * completing on aux_full once aux_empty has completed (each multiplying
 * warp, one arrival each, is done with the previous tile's). */
struct pipe {
    unsigned char *sm, *aux;
    uint64_t *full, *empty, *aux_full, *aux_empty;
};

/* The pipe in the block's dynamic shared memory (smem_bytes(R, staged,
 * aux) of it: the stages, the staging buffers, aux, the barriers), barriers
 * initialized; every thread of the block calls it. */
template <int R> static __device__ __forceinline__ pipe pipe_init(unsigned char *smem_raw, int staged, int aux)
{
    pipe p;
    p.sm = (unsigned char *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    p.aux = p.sm + STAGES * stage_bytes(R) + 2 * staged;
    p.full = (uint64_t *)(p.aux + aux);
    p.empty = p.full + STAGES;
    p.aux_full = p.empty + STAGES;
    p.aux_empty = p.aux_full + 1;
    if (threadIdx.x == 0) mbar_init(p.aux_full, 1), mbar_init(p.aux_empty, 8); /* ring_init fences them */
    ring_init(p.full, p.empty, STAGES, 2);
    return p;
}

/* The copying thread: every stage of every tile of the block, in order,
 * and where E::AUX is not 0 each tile's epilogue inputs (epi.fetch) after
 * its last stage, once the previous tile's epilogue is done with them: so
 * they land during the tile's last steps rather than take the bandwidth
 * from L2 that its first steps wait for (on the H100 SmolLM2's Q/K/V
 * product at 2,040 tokens took 12.0-12.4 us fetching after the fourth
 * stage, 11.6-11.8 after the last, 11.4-11.8 without; docs/PERFORMANCE.md). */
template <int R, class E>
static __device__ __forceinline__ void produce(const pipe &p, const CUtensorMap *xmap, const CUtensorMap *wmap,
                                               const walk &w, const E &epi)
{
    enum { STAGE = stage_bytes(R) };
    ring_pos at = {0, 0};
    uint32_t aux_phase = 0;
    for (int t = blockIdx.x; t < w.tiles; t += gridDim.x) {
        const int row = t % w.m_tiles * BM, col = t / w.m_tiles * w.cstep;
        for (int kb = 0; kb < w.ksteps; kb++, at.next(STAGES)) {
            mbar_wait(&p.empty[at.s], at.phase ^ 1); /* a fresh barrier's "previous" phase counts as done */
            unsigned char *st = p.sm + at.s * STAGE;
            uint64_t *b = &p.full[at.s];
            mbar_expect(b, STAGE);
            tma_load(st, xmap, kb * BK, row, b);
            tma_load(st + A_BYTES, wmap, kb * BK, col, b);
            tma_load(st + A_BYTES + R * BK * 2, wmap, kb * BK, col + w.off, b);
            if constexpr (E::AUX != 0) {
                if (kb == w.ksteps - 1) {
                    mbar_wait(p.aux_empty, aux_phase ^ 1); /* a fresh barrier's "previous" phase counts as done */
                    epi.fetch(p.aux, p.aux_full, row, col);
                    aux_phase ^= 1;
                }
            }
        }
    }
}

/* A multiplying warpgroup (half 0 or 1 of the tile's rows; tid its thread)
 * through one tile: d = its 64 rows of X times the 2 R rows of W. *at
 * carries the ring's position from tile to tile. d[4i + j] is then
 * row 16 (tid / 32) + tid % 32 / 4 (+ 8 for j >= 2) of the 64, column
 * 8 i + 2 (tid % 4) + j % 2 of the 2 R (PTX ISA, wgmma's accumulator
 * fragment for .m64nNk16): the first box's columns are i < R / 8. */
template <int F16, int R>
static __device__ __forceinline__ void consume(float *d, const pipe &p, int half, int tid, int ksteps, ring_pos *at)
{
    enum { STAGE = stage_bytes(R) };
    int prev = 0;
    for (int kb = 0; kb < ksteps; kb++) {
        mbar_wait(&p.full[at->s], at->phase);
        const unsigned char *st = p.sm + at->s * STAGE;
        const uint64_t da = desc(st + half * (A_BYTES / 2)), db = desc(st + A_BYTES);
        fence_acc<R>(d);
        asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) wgmma<F16, 2 * R>(d, da + 2 * kk, db + 2 * kk, kb | kk); /* +32 bytes */
        asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
        /* this step's products stay in flight; the previous step's are
         * done, so its stage goes back to the copies */
        asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
        if (kb > 0 && tid == 0) mbar_arrive(&p.empty[prev]);
        fence_acc<R>(d);
        prev = at->s;
        at->next(STAGES);
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
    fence_acc<R>(d);
    if (tid == 0) mbar_arrive(&p.empty[prev]);
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

/* A multiplying warpgroup's results staged in shared memory for the copy
 * engine's store, which writes whole lines where the threads' own stores
 * would write 16 bytes of eight rows each (on the H100 the gate/up/GLU
 * kernel at 2,040 tokens took 53.4-53.6 us this way, 61.9-63.6 storing
 * from its registers; docs/PERFORMANCE.md). The buffer holds boxes of the
 * warpgroup's 64 rows by 64 16-bit columns, 128-byte rows swizzled as
 * tensor_map lays out a box (swizzled<8>), so that a warp's 32 four-byte
 * writes fall in 32 different banks. */
struct stage {
    unsigned char *buf;
    int row, half, tid; /* the warpgroup's first row of X, which of the two it is, the thread */

    /* waits until the copy engine has read the previous tile's values */
    __device__ __forceinline__ void acquire() const
    {
#if SM90A_ON
        if (tid == 0) asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
        asm volatile("bar.sync %0, 128;\n" ::"r"(1 + half) : "memory");
#endif
    }
    /* v, two 16-bit values: row r (of the 64), columns 8 i + c2 and + 1 */
    __device__ __forceinline__ void put(int r, int i, int c2, uint32_t v) const
    {
#if SM90A_ON
        *(uint32_t *)(buf + i / 8 * OUT_BOX + swizzled<8>(r * 128 + i % 8 * 16) + c2 * 2) = v;
#endif
    }
    /* the warpgroup's boxes to map's rows from row, columns from col (the
     * copy engine leaves out rows past the map's last) */
    __device__ __forceinline__ void store(const CUtensorMap *map, int col, int boxes) const
    {
#if SM90A_ON
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); /* the writes above, seen by the copy engine */
        asm volatile("bar.sync %0, 128;\n" ::"r"(1 + half) : "memory");
        if (tid != 0) return;
        for (int b = 0; b < boxes; b++)
            asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%1, %2}], [%3];\n" ::"l"(
                             (uint64_t)map),
                         "r"(col + 64 * b), "r"(row), "r"(smem_addr(buf + b * OUT_BOX))
                         : "memory");
        asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
#endif
    }
};

/* The product, tile after tile, each finished by epi(d, r0, col, c2, st,
 * aux) in the multiplying threads: d the thread's R sums (consume's
 * layout), r0 its first row of X (the second is r0 + 8), col the tile's
 * first row of W's first box, c2 = 2 (tid % 4) its first column within an
 * 8-wide group, st the warpgroup's E::STAGED bytes of staging (none where
 * that is 0), aux the tile's E::AUX bytes of inputs. Where E::AUX is not
 * 0, the copying thread has the tile's inputs copied into aux while the
 * tile is multiplied: epi.fetch(aux, bar, row, col), row the tile's first
 * row of X, issues copies completing on bar, announcing their bytes, so
 * that the epilogue reads shared memory where it would wait for loads (on
 * the H100 a block's one tile ends with its epilogue, nothing to hide it
 * behind). E is a kernel parameter in the constant bank, so that a tensor
 * map in it can be the copy engine's. */
template <int F16, int R, class E>
static __global__ void __launch_bounds__(THREADS, 1)
    sm90_gemm_kernel(const __grid_constant__ CUtensorMap xmap, const __grid_constant__ CUtensorMap wmap, walk w,
                     const __grid_constant__ E epi)
{
#if SM90A_ON
    extern __shared__ unsigned char smem_raw[];
    const pipe p = pipe_init<R>(smem_raw, E::STAGED, E::AUX);
    pdl_wait();
    const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    if (wg == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
        if (tid == 0) produce<R>(p, &xmap, &wmap, w, epi);
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    float d[R];
    ring_pos at = {0, 0};
    uint32_t aux_phase = 0;
    stage st = {p.sm + STAGES * stage_bytes(R) + (wg - 1) * E::STAGED, 0, wg - 1, tid};
    for (int t = blockIdx.x; t < w.tiles; t += gridDim.x) {
        consume<F16, R>(d, p, wg - 1, tid, w.ksteps, &at);
        st.row = t % w.m_tiles * BM + (wg - 1) * 64;
        if (E::AUX) mbar_wait(p.aux_full, aux_phase);
        epi(d, st.row + tid / 32 * 16 + tid % 32 / 4, t / w.m_tiles * w.cstep, 2 * (tid % 4), st, p.aux);
        if (E::AUX) {
            /* the reads above ordered before the copy engine's next writes (PTX ISA, "Proxies") */
            asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
            __syncwarp();
            if (tid % 32 == 0) mbar_arrive(p.aux_empty);
            aux_phase ^= 1;
        }
    }
    /* the shared memory stays the block's until its stores have been read */
    if (E::STAGED && tid == 0) asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
#endif
}

/* what the device's image of the including file was built for */
static __global__ void sm90a_probe(int *on) { *on = SM90A_ON; }

/* Of the tile widths w[0..nw) (widest first, 0 to skip), the one whose
 * rounds of a grid of sms blocks over m_tiles x ceil(cols / w) tiles take
 * the least time, a round counted as its width (a block's products in it);
 * the wider on ties. */
static inline int tile_width(long m_tiles, long cols, long sms, const int *w, int nw)
{
    int best_w = 0;
    long best = LONG_MAX;
    for (int i = 0; i < nw; i++) {
        if (!w[i]) continue;
        const long cost = (m_tiles * ((cols + w[i] - 1) / w[i]) + sms - 1) / sms * w[i];
        if (cost < best) best = cost, best_w = w[i];
    }
    return best_w;
}

/* cuTensorMapEncodeTiled through the runtime (no link to the driver
 * library); NULL when the driver does not have it */
static PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder(void)
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

/* a tensor of `rows` rows of `inner` elements of `type` (elem bytes each,
 * rows packed) as boxes of box_inner x box_rows laid out with swizzle */
static int tensor_map_2d(CUtensorMap *m, CUtensorMapDataType type, int elem, const void *p, uint64_t inner,
                         uint64_t rows, uint32_t box_inner, uint32_t box_rows, CUtensorMapSwizzle swizzle)
{
    PFN_cuTensorMapEncodeTiled_v12000 enc = tensor_map_encoder();
    if (!enc) return -1;
    const cuuint64_t dims[2] = {inner, rows}, strides[1] = {inner * elem};
    const cuuint32_t box[2] = {box_inner, box_rows}, estr[2] = {1, 1};
    return enc(m, type, 2, (void *)p, dims, strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle,
               CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS
               ? 0
               : -1;
}

/* rows of k 16-bit values as boxes of BK x box_rows, swizzled for wgmma */
static int tensor_map(CUtensorMap *m, const void *p, int f16, uint64_t rows, uint64_t k, uint32_t box_rows)
{
    return tensor_map_2d(m, f16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, p, k, rows,
                         BK, box_rows, CU_TENSOR_MAP_SWIZZLE_128B);
}

/* Whether the current device runs the including file's sm_90a image (its
 * sm90a_probe) and the driver encodes tensor maps, then setup() (which
 * gives the file's kernels their shared memory): the multiprocessors when
 * all hold, else 0 (found once a device through cache, HRT_MAX_DEV
 * entries; the first call synchronizes the device). */
template <typename S> static int sm90a_sms(std::atomic<int> *cache, S setup)
{
    const int v = device_fact(cache, [&](int dev) {
        int major = 0, minor = 0, sms = 0, on = 0, *d_on = NULL;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess || major != 9 ||
            minor != 0 || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
            !tensor_map_encoder() || cudaMalloc(&d_on, sizeof *d_on) != cudaSuccess)
            return 0;
        void *args[1] = {&d_on};
        /* the launch's own status, so that an error left by other code is neither taken nor cleared */
        if (cudaLaunchKernel((const void *)sm90a_probe, dim3(1), dim3(1), args, 0, 0) != cudaSuccess ||
            cudaMemcpy(&on, d_on, sizeof on, cudaMemcpyDeviceToHost) != cudaSuccess)
            on = 0;
        cudaFree(d_on);
        return on && setup() ? sms : 0;
    });
    return v > 0 ? v : 0;
}

#endif
