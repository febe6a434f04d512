#include "prompt_attention_sm90.h"

#include "attn.cuh"
#include "sm90.cuh"

#include <cstdlib>

/* A block takes AQ = 128 consecutive queries of one head, the longest
 * query blocks first (their causal rows see the most keys). Three
 * warpgroups, as in sm90.cuh's products: the first copies tiles of AK keys
 * and their values from the fp16 scratch into a ring of A_STAGES stages
 * (one thread, the tensor memory accelerator, 128-byte rows swizzled as
 * wgmma reads them); each of the other two takes 64 of the queries through
 * every tile: S = Q K^T (four m64n128k16 products, Q and K in shared
 * memory), the masked online softmax of S in registers, then O += P V
 * (eight m64n64k16 products with P, rounded to fp16, in registers: the
 * accumulator fragment of S is the A fragment of P, PTX ISA, "Register
 * Fragments and Shared Memory Matrix Layouts" of wgmma; V in shared memory
 * read transposed). The next tile's Q K^T goes out before a tile's P V,
 * and the next tile's masking and maxima run while P V does (see the
 * loop). The online softmax is prompt_attention.cu's: scores in base 2,
 * each row's reference moved only when its largest score passes it by
 * more than LAZY (lazy_rescale, attn.cuh). The queries go into shared
 * memory through the warpgroups' own loads (rounded to fp16 there when
 * they are f32), so that f32 and fp16 queries with the same values give
 * the same bits. The operands' descriptors are made once
 * and moved by a stage's offset (4-9% faster than making each one from its
 * address, H100). Measured on the H100 and not kept (docs/PERFORMANCE.md):
 * the two warpgroups' batches of products forced into turns with named
 * barriers (FlashAttention-3's ping-pong), with and without the
 * intra-warpgroup overlap; the rows' maxima and sums as trees instead of
 * chains; a quarter of the exponentials on the FMA pipe (a polynomial, as
 * FlashAttention-4 does); the descriptors' low words added in 32 bits. */
enum {
    AQ = 128,
    AK = 128,
    AHD = 64,
    A_STAGES = 3,
    A_ROW = AHD * 2,                                                      /* bytes of a row: one swizzle span */
    A_Q = AQ * A_ROW,                                                     /* the queries */
    A_KV = AK * A_ROW,                                                    /* a tile of keys or of values */
    A_SMEM = A_Q + A_STAGES * 2 * A_KV + 2 * A_STAGES * 8 + 1024,         /* + barriers, + alignment */
};

struct att_args {
    void *out;
    const void *q;
    uint32_t out_type;
    int q16, pos, n, n_head, group, nqb;
    float qscale;
};

#if SM90A_ON
/* V as wgmma's B operand read transposed (its rows are the product's k):
 * 16-key steps 2,048 bytes apart, groups of 8 rows 1,024 bytes apart (the
 * stride field), the 64 values of a row in one swizzle span, so the
 * leading field (the next span of 64 columns) is never used (set to a
 * tile's size, as ThunderKittens' descriptor for transposed tiles does). */
static __device__ __forceinline__ uint64_t desc_t(const void *p)
{
    return (uint64_t)((smem_addr(p) & 0x3FFFF) >> 4) | (uint64_t)(A_KV >> 4) << 16 | (uint64_t)(1024 >> 4) << 32 |
           (uint64_t)1 << 62;
}

/* d (64 x 64, f32) += a (64 x 16, fp16 in registers: the A fragment) times B (16 x 64 at db, transposed) */
static __device__ __forceinline__ void wgmma_pv(float *d, const uint32_t (&a)[4], uint64_t db)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {"
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, "
                 "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
                 "{%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
                 : D8(0), D8(8), D8(16), D8(24)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
#endif

static __global__ void __launch_bounds__(THREADS, 1)
    att_sm90_kernel(const __grid_constant__ CUtensorMap kmap, const __grid_constant__ CUtensorMap vmap, att_args a)
{
#if SM90A_ON
    extern __shared__ unsigned char smem_raw[];
    unsigned char *const sm = (unsigned char *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    unsigned char *const kv = sm + A_Q;
    uint64_t *const full = (uint64_t *)(kv + A_STAGES * 2 * A_KV), *const empty = full + A_STAGES;
    const int item = blockIdx.x, qb = a.nqb - 1 - item / a.n_head, h = item % a.n_head, kvh = h / a.group;
    const int t0 = qb * AQ, seen = a.pos + min(t0 + AQ, a.n), nt = (seen + AK - 1) / AK;
    ring_init(full, empty, A_STAGES, 2);
    pdl_wait();
    const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    if (wg == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
        if (tid == 0) {
            ring_pos at = {0, 0};
            for (int i = 0; i < nt; i++, at.next(A_STAGES)) {
                mbar_wait(&empty[at.s], at.phase ^ 1);
                unsigned char *st = kv + at.s * 2 * A_KV;
                mbar_expect(&full[at.s], 2 * A_KV);
                tma_load(st, &kmap, kvh * AHD, i * AK, &full[at.s]);
                tma_load(st + A_KV, &vmap, kvh * AHD, i * AK, &full[at.s]);
            }
        }
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int half = wg - 1, warp = tid / 32, lane = tid % 32, g = lane / 4, c = 2 * (lane % 4);
    const int tw = t0 + 64 * half, q_dim = a.n_head * AHD;
    /* this warpgroup's 64 queries into shared memory as the copy engine
     * would lay them out (swizzled<8>); rows past the prompt are zeros */
    unsigned char *const qs = sm + half * (A_Q / 2);
#pragma unroll
    for (int k = 0; k < 4; k++) {
        const int u = tid + 128 * k, r = u / 8, p = u % 8, t = tw + r;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (t < a.n) {
            const size_t at = (size_t)t * q_dim + (size_t)h * AHD + p * 8;
            if (a.q16) {
                v = *(const uint4 *)((const __half *)a.q + at);
            } else {
                const float4 x0 = *(const float4 *)((const float *)a.q + at),
                             x1 = *(const float4 *)((const float *)a.q + at + 4);
                const float f = a.qscale;
                v = make_uint4(pack_half2(x0.x * f, x0.y * f), pack_half2(x0.z * f, x0.w * f),
                               pack_half2(x1.x * f, x1.y * f), pack_half2(x1.z * f, x1.w * f));
            }
        }
        *(uint4 *)(qs + swizzled<8>(r * A_ROW + p * 16)) = v;
    }
    /* the generic proxy's writes, seen by wgmma's reads, in all 128 threads */
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    asm volatile("bar.sync %0, 128;\n" ::"r"(1 + half) : "memory");

    /* rows r0 and r0 + 8 of the thread: they see keys up to lim[0], lim[1];
     * the warpgroup's rows see keys of its first nt_w tiles */
    const int r0 = tw + 16 * warp + g, lim[2] = {a.pos + r0, a.pos + r0 + 8};
    const int nt_w = min(nt, (a.pos + tw + 63) / AK + 1);
    /* the operands' descriptors at stage 0; a stage, a step of k, moves
     * the start address field (16-byte units) */
    const uint64_t dq = desc(qs), dk0 = desc(kv), dv0 = desc_t(kv + A_KV);
    float sacc[64], o[32], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
#pragma unroll
    for (int i = 0; i < 32; i++) o[i] = 0.0f;
    auto scores = [&](int st) { /* issues S = Q K^T for the tile at stage st (its copies landed) */
        const uint64_t dk = dk0 + (uint32_t)(st * 2 * A_KV >> 4);
#pragma unroll
        for (int kk = 0; kk < AHD / 16; kk++) wgmma<1, 128>(sacc, dq + 2 * kk, dk + 2 * kk, kk); /* +32 bytes */
    };
    /* tile i's scores in sacc masked and turned into their weights, the
     * rows' maxima and sums moved on; o's rescaling (by corr, where
     * rescale) and P's rounding into pa wait for the P V in flight */
    float corr[2] = {1.0f, 1.0f};
    bool rescale = false;
    uint32_t pa[AK / 16][4];
    auto softmax = [&](int i) {
        const int j0 = i * AK;
        if (j0 + AK - 1 > a.pos + tw) /* the diagonal crosses the tile for some row */
#pragma unroll
            for (int t = 0; t < AK / 8; t++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    if (j0 + 8 * t + c + (e & 1) > lim[e / 2]) sacc[4 * t + e] = -INFINITY;
        float mx[2] = {m[0], m[1]};
#pragma unroll
        for (int t = 0; t < AK / 8; t++) {
            mx[0] = fmaxf(mx[0], fmaxf(sacc[4 * t], sacc[4 * t + 1]));
            mx[1] = fmaxf(mx[1], fmaxf(sacc[4 * t + 2], sacc[4 * t + 3]));
        }
        rescale = lazy_rescale(mx, m, l, corr);
        const float ref[2] = {ref_of(m[0]), ref_of(m[1])};
        float sum[2] = {0.0f, 0.0f};
#pragma unroll
        for (int t = 0; t < AK / 8; t++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                sacc[4 * t + e] = ex2(sacc[4 * t + e] - ref[e / 2]);
                sum[e / 2] += sacc[4 * t + e];
            }
        l[0] += sum[0];
        l[1] += sum[1];
    };
    auto rescale_pack = [&] {
        if (rescale)
#pragma unroll
            for (int d = 0; d < AHD / 8; d++) {
                o[4 * d] *= corr[0];
                o[4 * d + 1] *= corr[0];
                o[4 * d + 2] *= corr[1];
                o[4 * d + 3] *= corr[1];
            }
#pragma unroll
        for (int k = 0; k < AK / 16; k++) {
            pa[k][0] = pack_half2(sacc[8 * k], sacc[8 * k + 1]);
            pa[k][1] = pack_half2(sacc[8 * k + 2], sacc[8 * k + 3]);
            pa[k][2] = pack_half2(sacc[8 * k + 4], sacc[8 * k + 5]);
            pa[k][3] = pack_half2(sacc[8 * k + 6], sacc[8 * k + 7]);
        }
    };
    /* The next tile's scores, then this tile's P V, as two groups of
     * products: the next softmax starts while P V runs (FlashAttention-3's
     * overlap within a warpgroup; 30 against 31 us, and 28 against 30 with
     * SmolLM2's 9 heads, for both as one batch and a wait, H100), o is
     * rescaled and P rounded into pa once P V is done. Only the masking and
     * the maxima overlap P V: ptxas puts the wait for P V before the first
     * write to S's accumulator registers (the exponentials, in place; the
     * SASS of variants with the exponentials in an array of their own, or
     * with 232 registers a thread, is the same). The last tile's P V
     * comes after the loop: with the next tile's products under a branch
     * inside it, ptxas warned that it serialized them (C7520). */
    ring_pos cur = {0, 0}, nxt = {0, 0}; /* tile i's place in the ring, tile i + 1's */
    mbar_wait(&full[cur.s], cur.phase);
    fence_acc<64>(sacc);
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
    scores(cur.s);
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
    fence_acc<64>(sacc);
    softmax(0);
    rescale_pack();
    nxt.next(A_STAGES);
    auto pv = [&](int st) { /* issues o += P V for the tile at stage st */
        const uint64_t dv = dv0 + (uint32_t)(st * 2 * A_KV >> 4);
#pragma unroll
        for (int k = 0; k < AK / 16; k++) wgmma_pv(o, pa[k], dv + (k * 16 * A_ROW >> 4));
        asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    };
    for (int i = 0; i + 1 < nt_w; i++) {
        mbar_wait(&full[nxt.s], nxt.phase);
        fence_acc<32>(o);
        fence_acc<64>(sacc);
        asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
        scores(nxt.s);
        asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
        pv(cur.s);
        asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
        fence_acc<64>(sacc);
        softmax(i + 1);
        asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
        fence_acc<32>(o);
        if (tid == 0) mbar_arrive(&empty[cur.s]);
        rescale_pack();
        cur.next(A_STAGES);
        nxt.next(A_STAGES);
    }
    fence_acc<32>(o);
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
    pv(cur.s);
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
    fence_acc<32>(o);
    if (tid == 0) mbar_arrive(&empty[cur.s]);
    for (int i = nt_w; i < nt; i++, nxt.next(A_STAGES)) { /* tiles past the warpgroup's rows: handed back as they land */
        mbar_wait(&full[nxt.s], nxt.phase);
        if (tid == 0) mbar_arrive(&empty[nxt.s]);
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
    const float ia = 1.0f / l[0], ib = 1.0f / l[1];
#pragma unroll
    for (int d = 0; d < AHD / 8; d++) {
        const size_t col = (size_t)h * AHD + 8 * d + c;
        if (r0 < a.n) store2(a.out, a.out_type, (size_t)r0 * q_dim + col, o[4 * d] * ia, o[4 * d + 1] * ia);
        if (r0 + 8 < a.n) store2(a.out, a.out_type, (size_t)(r0 + 8) * q_dim + col, o[4 * d + 2] * ib, o[4 * d + 3] * ib);
    }
#endif
}

static std::atomic<int> att_sms[HRT_MAX_DEV];

static int att_device_sms(void)
{
    return sm90a_sms(att_sms, [] {
        return cudaFuncSetAttribute(att_sm90_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, A_SMEM) ==
               cudaSuccess;
    });
}

extern "C" int cuda_prompt_attention_sm90_takes(int head_dim, int causal, int window)
{
    const char *e = getenv("HRT_CUDA_ATTN_SM90");
    return head_dim == AHD && causal && window <= 0 && !(e && e[0] == '0') && att_device_sms() > 0;
}

extern "C" cudaError_t cuda_prompt_attention_sm90(void *out, uint32_t out_type, const void *q, int q16, const void *kh,
                                                  const void *vh, int pos, int n, int n_head, int n_kv, float qscale,
                                                  cudaStream_t s)
{
    if (!out || !q || !kh || !vh || pos < 0 || n < 1 || n_kv < 1 || n_head < 1 || n_head % n_kv ||
        (long long)pos + n > INT_MAX || (long long)n_head * ((n + AQ - 1) / AQ) > INT_MAX ||
        ((uintptr_t)kh | (uintptr_t)vh) % 16)
        return cudaErrorInvalidValue;
    if (!att_device_sms()) return cudaErrorNotSupported;
    const int kv_dim = n_kv * AHD;
    CUtensorMap km, vm;
    /* rows past the prompt's last are the copy engine's zeros, never the scratch's */
    if (tensor_map(&km, kh, 1, (uint64_t)pos + n, (uint64_t)kv_dim, AK) ||
        tensor_map(&vm, vh, 1, (uint64_t)pos + n, (uint64_t)kv_dim, AK))
        return cudaErrorInvalidValue;
    const att_args a = {out, q, out_type, q16, pos, n, n_head, n_head / n_kv, (n + AQ - 1) / AQ, qscale};
    return launch_pdl(att_sm90_kernel, dim3((unsigned)(a.nqb * n_head)), dim3(THREADS), (size_t)A_SMEM, s, km, vm, a);
}
