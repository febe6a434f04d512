/* Device helpers of the two prompt attention kernels (prompt_attention.cu
 * on mma.sync, prompt_attention_sm90.cu on Hopper's wgmma): the fp16
 * rounding of their operands, the base-2 exponential of their online
 * softmax and the stores of their results. */
#ifndef HRT_CUDA_ATTN_CUH
#define HRT_CUDA_ATTN_CUH

#include "common.cuh"

#define LAZY 8.0f /* log2 units: weights up to 256 before a row's reference moves */

/* The attention kernels' instructions need sm_80 (fp16 m16n8k16, cp.async,
 * cvt.satfinite.f16x2) or sm_75 (ldmatrix); cuda_prompt_attention refuses
 * older devices, and a build for them (-DCMAKE_CUDA_ARCHITECTURES=70)
 * compiles those instructions as traps. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define PRE_SM80 1
#else
#define PRE_SM80 0
#endif

/* a in the low half, b in the high one, rounded to nearest; values past
 * fp16's range saturate to +-65504 instead of becoming inf (an inf key in a
 * tile would turn 0 * inf into NaN for the queries that skip it) */
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

/* 2^x; -inf gives 0 */
static __device__ __forceinline__ float ex2(float x)
{
    float r;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(r) : "f"(x));
    return r;
}

/* The reference a row's exponentials are taken against: its maximum m,
 * or 0 while the row has no key (m = -inf), so that -inf - ref stays -inf
 * (a weight of 0) instead of NaN. */
static __device__ __forceinline__ float ref_of(float m) { return m == -INFINITY ? 0.0f : m; }

/* The online softmax's step for a thread's R rows once a tile's scores are
 * in: mx[r] holds the larger of m[r] and row r's scores in the thread's
 * columns, and becomes the row's maximum over the quad of threads that
 * shares the row. A row's reference m moves to it only when it passes m
 * by more than LAZY (FlashAttention-4's conditional rescaling, as Modal's
 * "We reverse-engineered Flash Attention 4", 2025, describes it), so the
 * weights stay below 2^LAZY, well inside fp16; each row decides by its own
 * scores alone, so that a query's sums do not depend on the others in its
 * block. Returns whether any row of the warp moved: then corr[r] is the
 * factor for row r's sums and accumulators so far (1 exactly where the row
 * stayed), and l has been scaled by it already; else the warp skips
 * rescaling its accumulators. A row with no key yet keeps -inf. */
template <int R>
static __device__ __forceinline__ bool lazy_rescale(float (&mx)[R], float (&m)[R], float (&l)[R], float (&corr)[R])
{
    int over = 0;
#pragma unroll
    for (int r = 0; r < R; r++) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        over |= mx[r] > m[r] + LAZY;
    }
    if (!__any_sync(0xffffffffu, over)) return false;
#pragma unroll
    for (int r = 0; r < R; r++) {
        const float nm = mx[r] > m[r] + LAZY ? mx[r] : m[r];
        corr[r] = ex2(m[r] - ref_of(nm));
        m[r] = nm;
        l[r] *= corr[r];
    }
    return true;
}

/* two adjacent outputs of a row as f32, fp16 or bf16 */
static __device__ __forceinline__ void store2(void *out, uint32_t type, size_t i, float a, float b)
{
    if (type == T_F32) *(float2 *)((float *)out + i) = make_float2(a, b);
    else if (type == T_F16) *(uint32_t *)((__half *)out + i) = pack_half2(a, b); /* saturating */
    else *(__nv_bfloat162 *)((__nv_bfloat16 *)out + i) = __floats2bfloat162_rn(a, b);
}

#endif
