#include "prompt_attention.h"

#include "attn.cuh"
#include "prompt_attention_sm90.h"

#include <atomic>
#include <climits>
#include <cstdlib>

/* A block takes BQ = 16 * MT * NW consecutive queries of one head, 16 * MT
 * per warp (MT row tiles of 16: two while the head is narrow enough for
 * their accumulators to stay in registers, so that each fragment of keys
 * or values read from shared memory serves two products). Tiles of BK keys
 * and their values stream from the fp16 scratch into shared memory through
 * cp.async, STAGES tiles deep, so that a block has two tiles of loads in
 * flight behind its products and one barrier a tile; each row is padded by
 * 8 halves so that ldmatrix's eight 16-byte rows fall in distinct banks.
 *
 * Fragment layouts are PTX's for mma.m16n8k16 (PTX ISA, "Matrix Fragments
 * for mma.m16n8k16"): with g = lane / 4 and c = 2 * (lane % 4), a thread
 * holds the accumulator's rows g and g + 8 at columns c, c + 1; the A
 * operand's rows g, g + 8 at k = c, c + 1 and c + 8, c + 9. Two adjacent
 * score tiles of 8 keys are therefore, rounded to fp16, the A operand of
 * the product with the values (FlashAttention-2 keeps P in registers the
 * same way). Scores are kept in base 2: q is scaled by scale * log2(e), in
 * the kernel for f32 queries, by their producer for fp16 ones. */
#ifndef NW
#define NW 4
#endif
#define STAGES 3

template <int HD> struct tiles {
    enum {
        MT = HD <= 64 ? 2 : 1,
        BQ = 16 * MT * NW,
        BK = HD <= 64 ? 64 : HD <= 128 ? 32 : 16, /* 32 at 256 spills registers */
        LD = HD + 8,    /* halves a shared row */
        TILE = BK * LD, /* halves a tile of keys or of values */
        CH = HD / 8,    /* 16-byte pieces a row */
    };
};

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

/* 16 bytes from global to shared memory without registers; only the first
 * bytes (0 or 16) are read, the rest is zero-filled */
static __device__ __forceinline__ void cp_async16(__half *dst, const __half *src, int bytes)
{
#if PRE_SM80
    __trap();
#else
    uint32_t a = (uint32_t)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(a), "l"(src), "r"(bytes) : "memory");
#endif
}

static __device__ __forceinline__ void cp_async_commit()
{
#if !PRE_SM80
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

/* waits until at most N of this thread's groups are still in flight */
template <int N> static __device__ __forceinline__ void cp_async_wait()
{
#if !PRE_SM80
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

/* The fp16 key and value rows j0 .. j0 + BK - 1 of head kvh into a stage;
 * rows at or past end are zeros (a zero weight times a NaN would still be
 * NaN, and the scratch may hold anything there). */
template <int HD>
static __device__ __forceinline__ void tile_load(__half *ks, __half *vs, const __half *kh, const __half *vh,
                                                 int kv_dim, int kvh, int j0, int end)
{
    typedef tiles<HD> T;
    enum { PIECES = T::BK * T::CH, IT = (PIECES + NW * WARP - 1) / (NW * WARP) };
#pragma unroll
    for (int it = 0; it < IT; it++) {
        int u = threadIdx.x + it * NW * WARP, r = u / T::CH, p = u % T::CH, j = j0 + r, ok = j < end;
        if (PIECES % (NW * WARP) && u >= PIECES) break;
        size_t off = ok ? (size_t)j * kv_dim + kvh * HD + p * 8 : 0;
        cp_async16(ks + r * T::LD + p * 8, kh + off, ok ? 16 : 0);
        cp_async16(vs + r * T::LD + p * 8, vh + off, ok ? 16 : 0);
    }
}

/* What a launch covers, the same on the host and on the device: a query
 * block with more than `split` tiles of keys is taken by two blocks, each
 * with half of them, whose results the later one merges. */
struct job {
    int pos0, n, causal, kv_len, window, kv_rows, nqb, split, nsplit; /* nsplit: query blocks split, a head */
};

/* query block b's keys [*start, *end) and their count of tiles */
template <int HD> static __host__ __device__ __forceinline__ int block_tiles(const job &jb, int b, int *start, int *end)
{
    typedef tiles<HD> T;
    int t0 = b * T::BQ;
    *end = min(jb.causal ? jb.pos0 + min(t0 + T::BQ, jb.n) : jb.kv_len, jb.kv_rows);
    *start = window_start(jb.causal ? jb.pos0 + t0 + 1 : jb.kv_len, jb.window);
    return *end > *start ? (*end - *start + T::BK - 1) / T::BK : 0;
}

/* floats of one half's partial result: each thread's accumulators (float4
 * each) and its rows' (max, sum) pairs, both in thread-major order */
template <int HD> static __host__ __device__ constexpr int part_floats()
{
    return NW * WARP * (tiles<HD>::MT * HD / 8 * 4 + 2 * 2 * tiles<HD>::MT);
}

template <int HD>
static __global__ void __launch_bounds__(NW *WARP)
    prompt_attention_kernel(void *out, uint32_t out_type, const void *q, int q16, const __half *kh, const __half *vh,
                            float *part, int *count, job jb, int n_head, int n_kv, float qscale)
{
    typedef tiles<HD> T;
    enum { MT = T::MT, BQ = T::BQ, BK = T::BK, LD = T::LD, KS = HD / 16, NKT = BK / 8, NDT = HD / 8, R = 2 * MT };
    extern __shared__ __align__(16) __half stage[]; /* STAGES x (keys, values) */
    __shared__ int merges;
    pdl_wait();
    int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP, g = lane / 4, c = 2 * (lane % 4), mi = lane / 8;
    int h = blockIdx.x, kvh = h / (n_head / n_kv), q_dim = n_head * HD, kv_dim = n_kv * HD;
    const int n = jb.n, causal = jb.causal, kv_len = jb.kv_len, window = jb.window, pos0 = causal ? jb.pos0 : 0;
    /* this block's query block b and half of its tiles (-1: all), counted
     * from the last query block, the one with the most keys, which starts first */
    int item = blockIdx.y, b = jb.nqb - 1, start = 0, end = 0, nt = 0, half = -1, rank = 0;
    for (;; b--) {
        nt = block_tiles<HD>(jb, b, &start, &end);
        int parts = nt > jb.split ? 2 : 1;
        if (item < parts || b == 0) {
            half = parts == 2 ? item : -1;
            break;
        }
        item -= parts;
        rank += parts == 2; /* split query blocks before this one: its merge slot */
    }
    const int i_lo = half == 1 ? nt / 2 : 0, i_hi = half == 0 ? nt / 2 : nt;
    int t0 = b * BQ, tw = t0 + 16 * MT * warp;
    /* this warp's keys, and those of its rows tw + 8 r + g: [lo, hi) each */
    int w_lo = window_start(causal ? pos0 + tw + 1 : kv_len, window);
    int w_hi = causal ? min(pos0 + tw + 16 * MT, end) : end;
    int lo[R], hi[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        int t = tw + 8 * r + g;
        lo[r] = window_start(causal ? pos0 + t + 1 : kv_len, window);
        hi[r] = causal ? min(pos0 + t + 1, end) : end;
    }

    /* the warp's queries as A fragments (rows past n read row n - 1) */
    uint32_t qa[MT][KS][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        const size_t ra = (size_t)min(tw + 16 * mt + g, n - 1) * q_dim + h * HD,
                     rb = (size_t)min(tw + 16 * mt + g + 8, n - 1) * q_dim + h * HD;
        if (q16) { /* already scaled and rounded */
            const __half *qa16 = (const __half *)q + ra, *qb16 = (const __half *)q + rb;
#pragma unroll
            for (int k = 0; k < KS; k++) {
                qa[mt][k][0] = *(const uint32_t *)(qa16 + 16 * k + c);
                qa[mt][k][1] = *(const uint32_t *)(qb16 + 16 * k + c);
                qa[mt][k][2] = *(const uint32_t *)(qa16 + 16 * k + c + 8);
                qa[mt][k][3] = *(const uint32_t *)(qb16 + 16 * k + c + 8);
            }
            continue;
        }
        const float *qra = (const float *)q + ra, *qrb = (const float *)q + rb;
#pragma unroll
        for (int k = 0; k < KS; k++) {
            float2 a0 = *(const float2 *)(qra + 16 * k + c), b0 = *(const float2 *)(qrb + 16 * k + c);
            float2 a1 = *(const float2 *)(qra + 16 * k + c + 8), b1 = *(const float2 *)(qrb + 16 * k + c + 8);
            qa[mt][k][0] = pack_half2(a0.x * qscale, a0.y * qscale);
            qa[mt][k][1] = pack_half2(b0.x * qscale, b0.y * qscale);
            qa[mt][k][2] = pack_half2(a1.x * qscale, a1.y * qscale);
            qa[mt][k][3] = pack_half2(b1.x * qscale, b1.y * qscale);
        }
    }
    float o[MT][NDT][4], m[R], l[R];
#pragma unroll
    for (int r = 0; r < R; r++) m[r] = -INFINITY, l[r] = 0.0f;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int d = 0; d < NDT; d++) o[mt][d][0] = o[mt][d][1] = o[mt][d][2] = o[mt][d][3] = 0.0f;

#pragma unroll
    for (int i = 0; i < STAGES - 1; i++) {
        if (i_lo + i < i_hi)
            tile_load<HD>(stage + 2 * i * T::TILE, stage + (2 * i + 1) * T::TILE, kh, vh, kv_dim, kvh,
                          start + (i_lo + i) * BK, end);
        cp_async_commit();
    }
    for (int i = i_lo; i < i_hi; i++) {
        cp_async_wait<STAGES - 2>(); /* this thread's pieces of tile i have landed */
        __syncthreads();             /* everyone's have, and tile i - 1's stage is no longer read */
        if (i + STAGES - 1 < i_hi) {
            int sb = (i - i_lo + STAGES - 1) % STAGES;
            tile_load<HD>(stage + 2 * sb * T::TILE, stage + (2 * sb + 1) * T::TILE, kh, vh, kv_dim, kvh,
                          start + (i + STAGES - 1) * BK, end);
        }
        cp_async_commit(); /* (empty groups keep the count that the wait relies on) */
        const int j0 = start + i * BK;
        if (j0 >= w_hi || j0 + BK <= w_lo) continue; /* no key of this tile for the warp's queries */
        const __half *ks = stage + 2 * ((i - i_lo) % STAGES) * T::TILE, *vs = ks + T::TILE;
        float s[MT][NKT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int t = 0; t < NKT; t++) s[mt][t][0] = s[mt][t][1] = s[mt][t][2] = s[mt][t][3] = 0.0f;
#pragma unroll
        for (int k = 0; k < KS; k++)
#pragma unroll
            for (int t = 0; t < NKT; t += 2) {
                /* matrices: keys t*8 + {0..7, 8..15} x dims 16k + {0..7, 8..15} */
                uint32_t bf[4];
                ldsm_x4<0>(bf, ks + (t * 8 + (mi / 2) * 8 + lane % 8) * LD + 16 * k + (mi % 2) * 8);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma_16816(s[mt][t], qa[mt][k], bf[0], bf[1]);
                    mma_16816(s[mt][t + 1], qa[mt][k], bf[2], bf[3]);
                }
            }
        if (j0 < lo[R - 1] || j0 + BK > hi[0]) { /* the last row's window starts last, the first row's keys end first */
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int t = 0; t < NKT; t++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        int j = j0 + 8 * t + c + (e & 1), r = 2 * mt + e / 2;
                        if (j < lo[r] || j >= hi[r]) s[mt][t][e] = -INFINITY;
                    }
        }
        /* Online softmax of the thread's rows (lazy_rescale, attn.cuh) */
        float mx[R], corr[R];
#pragma unroll
        for (int r = 0; r < R; r++) mx[r] = m[r];
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int t = 0; t < NKT; t++) {
                mx[2 * mt] = fmaxf(mx[2 * mt], fmaxf(s[mt][t][0], s[mt][t][1]));
                mx[2 * mt + 1] = fmaxf(mx[2 * mt + 1], fmaxf(s[mt][t][2], s[mt][t][3]));
            }
        if (lazy_rescale(mx, m, l, corr))
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int d = 0; d < NDT; d++) {
                    o[mt][d][0] *= corr[2 * mt];
                    o[mt][d][1] *= corr[2 * mt];
                    o[mt][d][2] *= corr[2 * mt + 1];
                    o[mt][d][3] *= corr[2 * mt + 1];
                }
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            const float ref[2] = {ref_of(m[2 * mt]), ref_of(m[2 * mt + 1])};
            float sum[2] = {0.0f, 0.0f};
#pragma unroll
            for (int t = 0; t < NKT; t++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    s[mt][t][e] = ex2(s[mt][t][e] - ref[e / 2]);
                    sum[e / 2] += s[mt][t][e];
                }
            /* this thread's columns; the quad's sum comes at the end */
            l[2 * mt] += sum[0];
            l[2 * mt + 1] += sum[1];
        }
#pragma unroll
        for (int k = 0; k < BK / 16; k++) {
            uint32_t pa[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                pa[mt][0] = pack_half2(s[mt][2 * k][0], s[mt][2 * k][1]);
                pa[mt][1] = pack_half2(s[mt][2 * k][2], s[mt][2 * k][3]);
                pa[mt][2] = pack_half2(s[mt][2 * k + 1][0], s[mt][2 * k + 1][1]);
                pa[mt][3] = pack_half2(s[mt][2 * k + 1][2], s[mt][2 * k + 1][3]);
            }
#pragma unroll
            for (int d = 0; d < NDT; d += 2) {
                /* matrices: keys 16k + {0..7, 8..15} x dims d*8 + {0..7, 8..15}, transposed */
                uint32_t bf[4];
                ldsm_x4<1>(bf, vs + (16 * k + (mi % 2) * 8 + lane % 8) * LD + d * 8 + (mi / 2) * 8);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma_16816(o[mt][d], pa[mt], bf[0], bf[1]);
                    mma_16816(o[mt][d + 1], pa[mt], bf[2], bf[3]);
                }
            }
        }
    }
    cp_async_wait<0>(); /* nothing may land after the block has gone */
#pragma unroll
    for (int r = 0; r < R; r++) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
    if (half >= 0) {
        /* Both halves leave their state in the scratch; the later one to
         * get there (counted through an atomic after a fence, the pattern of
         * CUDA's threadFenceReduction sample) merges the other's into its
         * own and writes the result. */
        enum { NT = NW * WARP, OF = MT * NDT * NT };
        const size_t slot = (size_t)h * jb.nsplit + rank;
        float4 *mo = (float4 *)(part + (2 * slot + half) * part_floats<HD>()),
               *ot = (float4 *)(part + (2 * slot + 1 - half) * part_floats<HD>());
        float2 *mml = (float2 *)(mo + OF), *oml = (float2 *)(ot + OF);
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int d = 0; d < NDT; d++)
                mo[(mt * NDT + d) * NT + threadIdx.x] = make_float4(o[mt][d][0], o[mt][d][1], o[mt][d][2], o[mt][d][3]);
#pragma unroll
        for (int r = 0; r < R; r++) mml[r * NT + threadIdx.x] = make_float2(m[r], l[r]);
        __threadfence();
        __syncthreads();
        if (threadIdx.x == 0) merges = atomicAdd(count + slot, 1) == 1;
        __syncthreads();
        if (!merges) return;
        __threadfence();
        /* the same arithmetic whichever half merges, so that equal
         * inputs give equal bits: half 0's state is always x0 */
        float c0[R], c1[R];
#pragma unroll
        for (int r = 0; r < R; r++) {
            float2 x = __ldcg(oml + r * NT + threadIdx.x);
            float m0 = half ? x.x : m[r], m1 = half ? m[r] : x.x, l0 = half ? x.y : l[r], l1 = half ? l[r] : x.y;
            const float ref = ref_of(fmaxf(m0, m1));
            c0[r] = ex2(m0 - ref);
            c1[r] = ex2(m1 - ref);
            l[r] = l0 * c0[r] + l1 * c1[r];
        }
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int d = 0; d < NDT; d++) {
                float4 x = __ldcg(ot + (mt * NDT + d) * NT + threadIdx.x);
                float y[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float v0 = half ? y[e] : o[mt][d][e], v1 = half ? o[mt][d][e] : y[e];
                    o[mt][d][e] = v0 * c0[2 * mt + e / 2] + v1 * c1[2 * mt + e / 2];
                }
            }
    }
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        int ta = tw + 16 * mt + g, tb = ta + 8;
        float ia = 1.0f / l[2 * mt], ib = 1.0f / l[2 * mt + 1];
#pragma unroll
        for (int d = 0; d < NDT; d++) {
            size_t col = (size_t)h * HD + 8 * d + c;
            if (ta < n) store2(out, out_type, (size_t)ta * q_dim + col, o[mt][d][0] * ia, o[mt][d][1] * ia);
            if (tb < n) store2(out, out_type, (size_t)tb * q_dim + col, o[mt][d][2] * ib, o[mt][d][3] * ib);
        }
    }
}

/* The cache rows that some query sees, [window start of the first, end of
 * the last), less the new rows when the scratch holds those already
 * (new16, causal calls: cuda_rope_store or cuda_gemm_rope wrote them). */
static void rows_to_convert(const job &jb, int new16, int *start, int *end)
{
    *end = min(jb.causal ? (new16 ? jb.pos0 : jb.pos0 + jb.n) : jb.kv_len, jb.kv_rows);
    *start = window_start(jb.causal ? jb.pos0 + 1 : jb.kv_len, jb.window);
}

/* Rows [start, end) rounded to fp16 (saturating) into kh and vh, four
 * values a thread over a grid that strides; and the merge counters zeroed. */
static __global__ void to_half_kernel(__half *kh, __half *vh, const float *kc, const float *vc, int *count,
                                      int n_count, int start, int end, int kv_dim)
{
    pdl_wait();
    size_t lo = (size_t)start * kv_dim / 4, hi = end > start ? (size_t)end * kv_dim / 4 : lo;
    size_t i0 = blockIdx.x * (size_t)blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    for (size_t i = i0; i < (size_t)n_count; i += step) count[i] = 0;
    for (size_t i = lo + i0; i < hi; i += step) {
        float4 k = ((const float4 *)kc)[i], v = ((const float4 *)vc)[i];
        ((uint2 *)kh)[i] = make_uint2(pack_half2(k.x, k.y), pack_half2(k.z, k.w));
        ((uint2 *)vh)[i] = make_uint2(pack_half2(v.x, v.y), pack_half2(v.z, v.w));
    }
}

/* Where the scratch's parts lie for `pairs` split query blocks: fp16 keys,
 * fp16 values, the partial results (two halves a pair), the merge
 * counters (one a pair); returns the bytes. */
template <int HD> static size_t scratch_layout(int kv_rows, int n_kv, size_t pairs, size_t *part, size_t *count)
{
    size_t kv = 2 * (size_t)kv_rows * n_kv * HD * sizeof(__half);
    *part = (kv + 15) / 16 * 16;
    *count = *part + pairs * 2 * part_floats<HD>() * sizeof(float);
    return *count + pairs * sizeof(int);
}

/* Sets the kernel for HD up on the current device (the shared memory it
 * asks for; every call, as matvec.cu does, so that a reset context gets it
 * again) and gives the blocks the device holds at once (found once a
 * device). */
template <int HD> static cudaError_t prepare(int *slots)
{
    enum { MAX_DEV = 64 };
    static std::atomic<int> known[MAX_DEV]; /* slots, 0 until found */
    const size_t smem = STAGES * 2 * tiles<HD>::TILE * sizeof(__half);
    int dev = 0, sms = 0, per_sm = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess) return e;
    if (smem > 48 * 1024 && (e = allow_smem((const void *)prompt_attention_kernel<HD>, smem)) != cudaSuccess) return e;
    if (dev < MAX_DEV && (*slots = known[dev].load(std::memory_order_relaxed)) > 0) return cudaSuccess;
    if ((e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev)) != cudaSuccess ||
        (e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, prompt_attention_kernel<HD>, NW * WARP, smem)) !=
            cudaSuccess)
        return e;
    *slots = max(1, sms * per_sm);
    if (dev < MAX_DEV) known[dev].store(*slots, std::memory_order_relaxed);
    return cudaSuccess;
}

/* The bytes cuda_prompt_attention_scratch gives: a split happens only when
 * fewer (head, query block) pairs than block slots would be split (see
 * launch), so room for min(all pairs, slots) covers every call. */
template <int HD> static size_t scratch_size(int kv_rows, int n, int n_head, int n_kv)
{
    int slots = 0;
    if (prepare<HD>(&slots) != cudaSuccess) return 0;
    size_t all = (size_t)n_head * ((n + tiles<HD>::BQ - 1) / tiles<HD>::BQ), p, c;
    return scratch_layout<HD>(kv_rows, n_kv, all < (size_t)slots ? all : (size_t)slots, &p, &c);
}

static int sm80_or_later(void)
{
    int dev = 0, major = 0;
    return cudaGetDevice(&dev) == cudaSuccess &&
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess && major >= 8;
}

extern "C" size_t cuda_prompt_attention_scratch(int kv_rows, int n, int n_head, int n_kv, int head_dim)
{
    if (kv_rows < 1 || n < 1 || n_head < 1 || n_kv < 1 || !sm80_or_later()) {
        cudaGetLastError();
        return 0;
    }
    switch (head_dim) {
    case 16: return scratch_size<16>(kv_rows, n, n_head, n_kv);
    case 32: return scratch_size<32>(kv_rows, n, n_head, n_kv);
    case 64: return scratch_size<64>(kv_rows, n, n_head, n_kv);
    case 128: return scratch_size<128>(kv_rows, n, n_head, n_kv);
    case 256: return scratch_size<256>(kv_rows, n, n_head, n_kv);
    default: return 0;
    }
}

template <int HD>
static cudaError_t launch(void *out, uint32_t out_type, const void *q, int q16, const float *kc, const float *vc,
                          void *scratch, size_t scratch_bytes, int new16, int kv_rows, int pos, int n, int n_head,
                          int n_kv, int causal, int kv_len, int window, float scale, cudaStream_t s)
{
    typedef tiles<HD> T;
    size_t part_off, count_off;
    if (scratch_layout<HD>(kv_rows, n_kv, 0, &part_off, &count_off) > scratch_bytes) return cudaErrorInvalidValue;
    int slots = 0;
    cudaError_t e = prepare<HD>(&slots);
    if (e != cudaSuccess) return e;
    job jb = {pos, n, causal, kv_len, window, kv_rows, (n + T::BQ - 1) / T::BQ, INT_MAX, 0};
    int tmax = 0, items = 0, st, en;
    double total = 0;
    for (int b = 0; b < jb.nqb; b++) {
        int nt = block_tiles<HD>(jb, b, &st, &en);
        tmax = max(tmax, nt);
        total += (double)nt * n_head;
    }
    /* When the device could hold all the work at once with each block
     * slot getting less than half of the longest query block's tiles (a
     * prompt of few heads), that block would finish long after the rest:
     * the longest query blocks are then split in two, none left with more
     * than about half of the longest's tiles. Each split pair has more than
     * half the longest's tiles, so fewer pairs than slots are split.
     * HRT_CUDA_ATTN_SPLIT=0 never splits, =1 splits whatever the load
     * (tests, and measuring what the split costs), where the scratch has
     * room for the pairs. */
    const char *env = getenv("HRT_CUDA_ATTN_SPLIT");
    int force = env && (env[0] == '0' || env[0] == '1') ? env[0] - '0' : -1;
    const int hopper = cuda_prompt_attention_sm90_takes(HD, causal, window); /* never splits */
    if (!hopper && (force == 1 || (force == -1 && 2 * total / slots < tmax))) jb.split = max((tmax + 1) / 2, 2);
    for (int b = 0; b < jb.nqb; b++) jb.nsplit += block_tiles<HD>(jb, b, &st, &en) > jb.split;
    if (jb.nsplit && scratch_layout<HD>(kv_rows, n_kv, (size_t)n_head * jb.nsplit, &part_off, &count_off) >
                         scratch_bytes) { /* a forced split without room: none */
        jb.split = INT_MAX;
        jb.nsplit = 0;
        scratch_layout<HD>(kv_rows, n_kv, 0, &part_off, &count_off);
    }
    items = jb.nqb + jb.nsplit;
    const int kv_dim = n_kv * HD;
    __half *kh = (__half *)scratch, *vh = kh + (size_t)kv_rows * kv_dim;
    int *count = (int *)((char *)scratch + count_off);
    int start, end;
    rows_to_convert(jb, new16, &start, &end);
    if (end > start) {
        if ((e = launch_pdl(to_half_kernel, 256, 256, 0, s, kh, vh, kc, vc, count, n_head * jb.nsplit, start, end,
                            kv_dim)) != cudaSuccess)
            return e;
    } else if (jb.nsplit) { /* the rope kernel wrote every row: only the counters */
        if ((e = cudaMemsetAsync(count, 0, (size_t)n_head * jb.nsplit * sizeof(int), s)) != cudaSuccess) return e;
    }
    if (hopper)
        return cuda_prompt_attention_sm90(out, out_type, q, q16, kh, vh, pos, n, n_head, n_kv, scale * CUDA_ATTN_LOG2E,
                                          s);
    return launch_pdl(prompt_attention_kernel<HD>, dim3(n_head, items), NW * WARP,
                      STAGES * 2 * T::TILE * sizeof(__half), s, out, out_type, q, q16, (const __half *)kh,
                      (const __half *)vh, (float *)((char *)scratch + part_off), count, jb, n_head, n_kv,
                      scale * CUDA_ATTN_LOG2E);
}

extern "C" cudaError_t cuda_prompt_attention(void *out, uint32_t out_type, const void *q, uint32_t q_type,
                                             const float *k_cache,
                                             const float *v_cache, void *scratch, size_t scratch_bytes, int new16,
                                             int kv_rows, int pos, int n, int n_head, int n_kv, int head_dim,
                                             int causal, int kv_len, int window, float scale, cudaStream_t s)
{
    if (head_dim != 16 && head_dim != 32 && head_dim != 64 && head_dim != 128 && head_dim != 256)
        return cudaErrorNotSupported;
    if (n_head < 1 || n_kv < 1 || n_head % n_kv || (out_type != T_F32 && out_type != T_F16 && out_type != T_BF16) ||
        (q_type != T_F32 && q_type != T_F16) ||
        !scratch || (uintptr_t)scratch % 16 || kv_rows < 1 || pos < 0 || (causal && (long long)pos + n > kv_rows) ||
        (new16 && !causal) ||
        (!causal && (kv_len < 1 || kv_len > kv_rows)))
        return cudaErrorInvalidValue;
    if (n < 1) return cudaSuccess;
    if (!sm80_or_later()) {
        cudaGetLastError();
        return cudaErrorNotSupported;
    }
#define LAUNCH(HD)                                                                                            \
    launch<HD>(out, out_type, q, q_type == T_F16, k_cache, v_cache, scratch, scratch_bytes, new16, kv_rows, pos, n, \
               n_head, n_kv, causal, kv_len, window, scale, s)
    switch (head_dim) {
    case 16: return LAUNCH(16);
    case 32: return LAUNCH(32);
    case 64: return LAUNCH(64);
    case 128: return LAUNCH(128);
    default: return LAUNCH(256);
    }
#undef LAUNCH
}
