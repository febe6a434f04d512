#include "decode.h"

#include <limits.h>

#include "mat.cuh"

/* Threads per block: at 256 the kernels for one layout keep everything in
 * registers (229 to 255 of them, ptxas of CUDA 13.0 for sm_90), and those for
 * any mix of layouts use 255 and spill up to 36 bytes; at 512 (128 a thread)
 * the kernel spilled, and measured slower on the H100 (docs/PERFORMANCE.md). */
#define THREADS 256
#define NW (THREADS / WARP)
#define HPG_MAX 8            /* query heads per KV head, one warp each in attention */
#define HD_MAX 128           /* head dims */
/* Attention's keys a tile: a split's keys pass through shared memory
 * ATT_KEYS at a time, each key's score of a head two lanes of the head's
 * warp. */
#define ATT_KEYS 16
/* Keys an attention split would have were there enough blocks (the splits
 * of a group are at most its blocks, and the keys are shared evenly among
 * them): 16 measured faster than 8 or 32 on the H100 (docs/PERFORMANCE.md). */
#define SPLIT_KEYS 16
static_assert(HPG_MAX <= NW && 2 * ATT_KEYS == WARP, "attention: a warp a head, two lanes a key");

/* Where the scratch's pieces start (bytes, 128-byte aligned): the epoch the
 * last launch ended at, then the vectors the phases pass on (st_ll's
 * words), all zeroed by cuda_decode_reset. */
struct scratch_map {
    size_t base, x_ll, hb_ll, wo_ll, q_ll, kv_ll, part_ll, mg_ll, best_ll, total;
    int max_split;
};

static __host__ __device__ size_t take(size_t *o, size_t bytes)
{
    size_t at = *o;
    *o += (bytes + 127) / 128 * 128;
    return at;
}

/* Blocks per KV group: the most attention splits of a group, and the
 * chunks of Wo rows a group's merged output is multiplied by. */
static __host__ __device__ int per_group(int grid, int n_kv) { return grid / n_kv > 1 ? grid / n_kv : 1; }

static __host__ __device__ scratch_map map_scratch(const cuda_decode_args &a)
{
    scratch_map s;
    size_t o = 0, w = 8; /* a word: a value and its epoch */
    int hd = a.head_dim;
    s.max_split = per_group(a.grid, a.n_kv);
    s.base = take(&o, 4);
    s.x_ll = take(&o, (size_t)a.n_embd * w);
    s.hb_ll = take(&o, (size_t)a.n_ff * w);
    s.wo_ll = take(&o, (size_t)a.n_kv * a.n_embd * w);
    s.q_ll = take(&o, (size_t)a.n_head * hd * w);
    s.kv_ll = take(&o, (size_t)2 * a.n_kv * hd * w);
    s.part_ll = take(&o, (size_t)a.n_head * s.max_split * (hd + 2) * w);
    s.mg_ll = take(&o, (size_t)a.n_head * hd * w);
    s.best_ll = take(&o, (size_t)2 * a.grid * w);
    s.total = o;
    return s;
}

/* Shared memory: a phase's input vector (padded in the quantized kernel);
 * attention's queries and a tile of keys and values; the merge's splits'
 * (m, l) pairs and values of its columns. */
static __host__ __device__ size_t vec_floats(const cuda_decode_args &a, int grid, bool pad)
{
    size_t hpg = (size_t)(a.n_head / a.n_kv), hd = (size_t)a.head_dim;
    size_t max_split = (size_t)per_group(grid, a.n_kv);
    const int widest = a.n_embd > a.n_ff ? a.n_embd : a.n_ff;
    size_t vec = (size_t)xat(widest, pad);
    size_t cpc = (hpg * hd + max_split - 1) / max_split; /* a merge item's columns */
    size_t merge = 2 * hpg * max_split + cpc * max_split, wo = (size_t)xat((int)(hpg * hd), pad);
    size_t att = hpg * hd + ATT_KEYS * (2 * hd + 4);
    if (merge > vec) vec = merge;
    if (wo > vec) vec = wo;
    return vec > att ? vec : att;
}

/* Then the residual stream at the block's rows of down, kept from the
 * gate/up phase's input for the down phase's output: row first_unit + k *
 * stride of warp w at k * NW + w. */
static __host__ __device__ int res_rows(const cuda_decode_args &a, int grid)
{
    const int step = grid * NW;
    return NW * ((a.n_embd + step - 1) / step);
}

static size_t smem_floats(const cuda_decode_args *a, int grid, bool pad)
{
    return vec_floats(*a, grid, pad) + res_rows(*a, grid);
}

/* A grid-wide barrier (the counter only grows: the k-th barrier of a
 * launch waits for k * gridDim.x arrivals), kept for the benchmark's
 * figure of what one costs (cuda_decode_barrier_cost): the step itself
 * has none. */
static __device__ __forceinline__ void grid_sync(unsigned *count, unsigned &target)
{
    target += gridDim.x;
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned v;
        asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(count) : "memory");
        do {
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(count) : "memory");
        } while ((int)(v - target) < 0);
    }
    __syncthreads();
}

/* A value and the epoch of the layer that stored it, in one 8-byte store:
 * a reader that sees the epoch sees the value, with no barrier between
 * them (the "LL" protocol of NCCL's collectives). Every vector one phase
 * passes to another goes this way: a block waits for each value of its
 * input until it carries the epoch it needs, backing off 32 ns a retry (a
 * few % faster than spinning, H100), and starts as soon as its own inputs
 * are there, not when the slowest block is done (no grid barrier in the
 * step: docs/PERFORMANCE.md has what each one removed measured).
 * The epochs of a launch follow the one it starts from (scratch base, 0
 * after cuda_decode_reset, the last one used after a launch): + 1 for the
 * embedding, which block 0 stores as x_ll for layer 0's gate/up, + 2 + l
 * for layer l. Zeroed words never match.
 * Why no block reads a value after it is stored again: only the blocks that
 * have units of a phase read its input, and each of them stores outputs of the
 * phase computed from what it read (a data dependence, so after the reads).
 * The phases chain: Q/K/V (reads x_ll) -> attention (q_ll and kv_ll of its
 * group) -> the merge's columns (part_ll of its group's splits) -> Wo (all of
 * its group's merged columns, mg_ll) -> gate/up (all of wo_ll and x_ll) ->
 * down (all of hb_ll) -> the next layer's Q/K/V (all of x_ll). Every output of
 * a phase is read by some block of the next (a merge's columns by every item
 * of Wo with rows: the first chunk has some), and gate/up, down and Q/K/V wait
 * for whole vectors, so each store of a vector in layer l + 1 comes after
 * every block's stores of every phase of layer l from the vector's readers
 * onwards, and so after their reads. x_ll, read by gate/up in the layer that
 * down then stores it: down waits for all of gate/up's outputs, and a block
 * that needs x_ll for its rows of down has rows of gate/up (n_ff >= n_embd). A
 * block only waits for values of phases before its own, so the waits cannot
 * deadlock: all blocks are resident (cooperative launch). */
static __device__ __forceinline__ void st_ll(uint64_t *p, float v, unsigned epoch)
{
    asm volatile("st.relaxed.gpu.global.b64 [%0], %1;" ::"l"(p), "l"(((uint64_t)epoch << 32) | __float_as_uint(v))
                 : "memory");
}

static __device__ __forceinline__ ulonglong2 ld_ll2(const uint64_t *p)
{
    ulonglong2 v;
    asm volatile("ld.relaxed.gpu.global.v2.b64 {%0, %1}, [%2];" : "=l"(v.x), "=l"(v.y) : "l"(p) : "memory");
    return v;
}

static __device__ __forceinline__ uint64_t ld_ll(const uint64_t *p)
{
    uint64_t v;
    asm volatile("ld.relaxed.gpu.global.b64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
}

/* The value at p once it carries epoch, v being a first load of it. */
static __device__ __forceinline__ float ll_value(const uint64_t *p, uint64_t v, unsigned epoch)
{
    while ((unsigned)(v >> 32) != epoch) __nanosleep(32), v = ld_ll(p);
    return __uint_as_float((unsigned)v);
}

/* The two values at p once both carry epoch, v being a first load of them. */
static __device__ __forceinline__ float2 ll_pair(const uint64_t *p, ulonglong2 v, unsigned epoch)
{
    while ((unsigned)(v.x >> 32) != epoch || (unsigned)(v.y >> 32) != epoch) __nanosleep(32), v = ld_ll2(p);
    return make_float2(__uint_as_float((unsigned)v.x), __uint_as_float((unsigned)v.y));
}

/* sm[xat(i, PAD)] = v[i] * w[i] (w NULL: 1) for the n values (n even) that
 * st_ll stored at src, each waited for until it carries epoch. Returns the
 * thread's sum of v[i]^2. A thread's batch of loads is issued before the
 * first is waited for. */
template <bool PAD>
static __device__ __forceinline__ float stage_ll(float *sm, const uint64_t *src, int n, unsigned epoch, const float *w)
{
    constexpr int B = 4; /* pairs a thread a batch */
    const int n2 = n / 2;
    float ss = 0.0f;
    for (int i0 = threadIdx.x; i0 < n2; i0 += B * THREADS) {
        ulonglong2 v[B];
        float2 wv[B];
#pragma unroll
        for (int j = 0; j < B; j++) {
            const int i = i0 + j * THREADS;
            if (i < n2) v[j] = ld_ll2(src + 2 * i);
            wv[j] = w && i < n2 ? __ldg((const float2 *)w + i) : make_float2(1.0f, 1.0f);
        }
#pragma unroll
        for (int j = 0; j < B; j++) {
            const int i = i0 + j * THREADS;
            if (i >= n2) break;
            const float2 x = ll_pair(src + 2 * i, v[j], epoch);
            ((float2 *)sm)[xat(2 * i, PAD) / 2] = make_float2(x.x * wv[j].x, x.y * wv[j].y);
            ss += x.x * x.x + x.y * x.y;
        }
    }
    return ss;
}

/* The feed-forward's input: v[i] = x[i] + ll[i] + ll[stride + i] + ... (n_ll
 * vectors that st_ll stored with epoch, added in order), x stored with
 * epoch x_ep; sm[xat(i, PAD)] = v[i] * w[i]; v[i] also kept in res (res_rows) where i is one of the block's
 * rows of down (n_ll >= 1). Returns the thread's sum of v[i]^2. A
 * thread's loads of two pairs, of four vectors at a time and then of x and
 * w, are issued before the first is waited for: the partials, the last
 * values to be stored, go first (1-2% faster than x and w first, H100,
 * docs/PERFORMANCE.md). FAST: where the block's rows of down are one run (n -
 * first <= the grid's warps), a value's place in res needs no integer
 * division, whose dozen instructions would come after the wait, on the way
 * to gate/up's products (see FAST in decode_kernel). */
template <bool PAD, bool FAST>
static __device__ __forceinline__ float stage_resid(float *sm, float *res, const uint64_t *x, unsigned x_ep,
                                                    const uint64_t *ll, int n_ll, size_t stride, int n, unsigned epoch,
                                                    const float *w)
{
    constexpr int B = 2; /* pairs a thread a batch */
    const int n2 = n / 2, first = blockIdx.x * NW, step = gridDim.x * NW;
    const bool one = FAST && n - first <= step; /* the block's rows of down are first + [0, NW) */
    float ss = 0.0f;
    for (int i0 = threadIdx.x; i0 < n2; i0 += B * THREADS) {
        float2 v[B], wv[B];
        ulonglong2 xv[B];
        for (int k0 = 0; k0 < n_ll; k0 += 4) {
            ulonglong2 p[4][B];
#pragma unroll
            for (int k = 0; k < 4; k++)
#pragma unroll
                for (int j = 0; j < B; j++) {
                    const int i = i0 + j * THREADS;
                    if (k0 + k < n_ll && i < n2) p[k][j] = ld_ll2(ll + (k0 + k) * stride + 2 * i);
                }
            if (k0 == 0)
#pragma unroll
                for (int j = 0; j < B; j++) {
                    const int i = i0 + j * THREADS;
                    if (i < n2) xv[j] = ld_ll2(x + 2 * i);
                    wv[j] = i < n2 ? __ldg((const float2 *)w + i) : make_float2(0.0f, 0.0f);
                }
#pragma unroll
            for (int j = 0; j < B; j++) { /* x, its loads issued with the first partials' */
                const int i = i0 + j * THREADS;
                if (k0 || i >= n2) continue;
                v[j] = ll_pair(x + 2 * i, xv[j], x_ep);
            }
#pragma unroll
            for (int k = 0; k < 4; k++)
#pragma unroll
                for (int j = 0; j < B; j++) {
                    const int i = i0 + j * THREADS;
                    if (k0 + k >= n_ll || i >= n2) continue;
                    const float2 y = ll_pair(ll + (k0 + k) * stride + 2 * i, p[k][j], epoch);
                    v[j].x += y.x, v[j].y += y.y;
                }
        }
#pragma unroll
        for (int j = 0; j < B; j++) {
            const int i = i0 + j * THREADS;
            if (i >= n2) break;
            ((float2 *)sm)[xat(2 * i, PAD) / 2] = make_float2(v[j].x * wv[j].x, v[j].y * wv[j].y);
            ss += v[j].x * v[j].x + v[j].y * v[j].y;
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int rel = 2 * i + e - first, at = one ? rel : rel / step * NW + rel % step;
                if (rel >= 0 && (one ? rel < NW : rel % step < NW)) res[at] = e ? v[j].y : v[j].x;
            }
        }
    }
    return ss;
}

/* Q/K/V unit u of the first phase: rows ia and ib of head row0 / head_dim
 * of matrix sect (0 Q, 1 K, 2 V), rotated as RoPE pair i when rot. FAST:
 * where head_dim is a power of two, u's head is a shift, not an integer
 * division, whose dozen instructions lay between each unit's sums and its
 * stores and before each batch's copies. */
struct qkv_unit {
    int sect, ia, ib, i, rot;
    int64_t row0;
};

template <bool FAST>
static __device__ __forceinline__ qkv_unit qkv_of(int u, const cuda_decode_args &a)
{
    qkv_unit q;
    const int half = a.head_dim / 2, rot_half = a.n_rot / 2;
    const int hh = FAST && (half & (half - 1)) == 0 ? u >> (__ffs(half) - 1) : u / half;
    q.i = FAST ? u - hh * half : u % half;
    q.sect = hh < a.n_head ? 0 : hh < a.n_head + a.n_kv ? 1 : 2;
    q.row0 = (int64_t)(hh - (q.sect == 0 ? 0 : q.sect == 1 ? a.n_head : a.n_head + a.n_kv)) * a.head_dim;
    q.rot = 0;
    if (q.sect < 2 && q.i < rot_half) {
        q.ia = a.neox ? q.i : 2 * q.i;
        q.ib = a.neox ? q.i + rot_half : 2 * q.i + 1;
        q.rot = 1;
    } else if (q.sect < 2) {
        q.ia = a.n_rot + 2 * (q.i - rot_half);
        q.ib = q.ia + 1;
    } else {
        q.ia = 2 * q.i;
        q.ib = q.ia + 1;
    }
    return q;
}

/* RMSNorm's factor 1 / sqrt(mean(v^2) + eps), from the threads' sums of
 * squares, in two halves around one block barrier, which also publishes
 * what the block staged: norm_put, each warp's sum into red; norm_get, the
 * warps' sums read by every thread and added in the order block_sum's
 * shuffles add them (the same factor, to the bit). block_sum's second
 * barrier and second round of shuffles lay on the way to the dot products
 * (without them: bf16 shapes 2-4% faster, H100, docs/PERFORMANCE.md).
 * A phase stages v * w (the norm's weights) and multiplies each dot product
 * by the factor, instead of normalising the vector in a second pass. red
 * is written again only after the phase's closing barrier, when every
 * thread has read it. */
static __device__ __forceinline__ void norm_put(float ss, float *red)
{
    ss = warp_sum(ss);
    if (threadIdx.x % WARP == 0) red[threadIdx.x / WARP] = ss;
    __syncthreads();
}

static __device__ __forceinline__ float norm_get(const float *red, int n, float eps)
{
    static_assert(NW == 8, "norm_get adds 8 warps' sums");
    const float4 a = *(const float4 *)red, b = *(const float4 *)(red + 4);
    return rsqrtf((((a.x + b.x) + (a.z + b.z)) + ((a.y + b.y) + (a.w + b.w))) / (float)n + eps);
}

/* The weights of the Q/K/V, Wo, gate/up, down and LM-head phases go through shared
 * memory: each warp has a ring of RING slots of one batch (mat.cuh's
 * wbatch: 2 units of 16 bytes a lane, of up to 2 rows, with their blocks'
 * scales), copies batches ahead into it with cp.async (no registers held
 * while they are in flight) and uses the oldest, so that RING batches of its
 * rows are on their way at once, across rows and, started while a block
 * waits at a barrier, into the next phase. A lane reads back only what it
 * copied itself. A warp's units in a phase are first, first + stride, ...
 * below n_units; rows_of(u, S, row) names unit u's R rows: row[k] of the
 * matrix S[k], read over the columns of a ring_span.
 * RING is 4 slots where shared memory allows (8 measured slower on the
 * H100, docs/PERFORMANCE.md), else 2 or 1 (cuda_decode_grid picks). */
#define UNITS_A_BATCH (WARP * wbatch<1>::U)
#define SLOT_UNITS (wbatch<2>::U * 2 * WARP) /* (unit j, row k, lane) */
/* a slot: the units' 16 bytes, then two 4-byte scale words each, then a
 * word a lane: bit j * R + k set when the unit's 2-byte scale is the high
 * half of its word */
#define SLOT_SCALES (SLOT_UNITS * 16)
#define SLOT_HALVES (SLOT_SCALES + SLOT_UNITS * 8)
#define SLOT_BYTES (SLOT_HALVES + WARP * 4)

static __device__ __forceinline__ void cp_async(void *dst, const void *src, int bytes)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    if (bytes == 16) *(uint4 *)dst = __ldcg((const uint4 *)src); /* no cp.async before sm_80: a plain copy */
    else *(uint32_t *)dst = __ldcg((const uint32_t *)src);
#else
    const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    if (bytes == 16) asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d), "l"(src) : "memory");
    else asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(d), "l"(src) : "memory");
#endif
}

static __device__ __forceinline__ void cp_async_commit()
{
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}

/* Waits until at most N of the thread's newest copy groups are in flight. */
template <int N> static __device__ __forceinline__ void cp_async_wait()
{
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#endif
}

/* The layout a kernel is built for (LT: the GGML type of every layer's
 * Q/K/V, Wo, gate/up and down), or DECODE_ANY_LAYOUT (any mix, each
 * matrix's read at run time). CALL with constexpr int TYPE set to the
 * layout t of a layer's matrix: a kernel for one layout holds that one's
 * code alone (about half the layer loop's code of the kernel that took all
 * three 16/32-bit layouts, and 12-16% faster than the one for any mix on
 * bf16 models: docs/PERFORMANCE.md). */
#define LAYER_DISPATCH(t, CALL)                         \
    if constexpr (LT != DECODE_ANY_LAYOUT) {            \
        constexpr int TYPE = LT;                        \
        CALL;                                           \
    } else {                                            \
        TYPE_DISPATCH(t, CALL)                          \
    }

static __host__ __device__ constexpr bool float_layout(int t) { return t == T_F16 || t == T_BF16 || t == T_F32; }

/* The LM head's: a kernel for one layout takes a head of any layout of the
 * same kind (16/32-bit or quantized), the others' code left out. */
#define HEAD_DISPATCH(t, CALL)                                                                          \
    TYPE_DISPATCH(t, if constexpr (LT == DECODE_ANY_LAYOUT || float_layout(TYPE) == float_layout(LT)) { \
        CALL;                                                                                           \
    })

/* Where a matrix's arrays start (those of its layout; the others unused),
 * read once a phase and kept in registers. */
struct mat_src {
    const uint4 *q;
    const uint16_t *d, *m;
    const float *fd, *fm;
};

static __device__ __forceinline__ mat_src src_of(const cuda_mat &W)
{
    return {(const uint4 *)W.q, W.d, W.m, W.fd, W.fm};
}

/* The next batch to copy (unit u, batch b), and batches copied and used. */
struct ring_cursor {
    int u, b, copied, used;
};

/* The columns a phase reads of each row: blocks of 32 [b0, b0 + nb) of
 * rows of row_nb blocks. */
struct ring_span {
    int nb, row_nb, b0;
};

static __device__ __forceinline__ ring_span whole_rows(int nb) { return {nb, nb, 0}; }

/* Copies the cursor's batch into the next slot as one group (an empty group
 * past the last unit, so that every wait counts the same groups). 2-byte
 * scales are copied as the aligned 4-byte word that holds them (the arrays
 * have a spare element at the end, cuda_mat_alloc). */
template <int RING, int TYPE, int R, class RowsOf>
static __device__ __forceinline__ void ring_copy(char *ring, ring_cursor &c, int n_units, int stride, ring_span sp,
                                                 RowsOf rows_of, int lane)
{
    constexpr bool HALF = units<TYPE>::HALF;
    const int n = row_units<TYPE>(sp.nb);
    if (c.u < n_units) {
        mat_src S[R];
        int64_t row[R];
        rows_of(c.u, S, row);
        char *slot = ring + (size_t)(c.copied % RING) * SLOT_BYTES;
        uint32_t halves = 0;
#pragma unroll
        for (int j = 0; j < wbatch<R>::U; j++) {
            const int u = c.b * UNITS_A_BATCH + lane + WARP * j;
            if (u >= n) break;
#pragma unroll
            for (int k = 0; k < R; k++) {
                const int i = (j * R + k) * WARP + lane;
                const size_t g0 = (size_t)row[k] * sp.row_nb + sp.b0, bi = units<TYPE>::block(g0, u);
                cp_async(slot + i * 16, S[k].q + units<TYPE>::at(g0, u), 16);
                uint32_t *sw = (uint32_t *)(slot + SLOT_SCALES) + 2 * i;
                if (HALF) {
                    cp_async(sw, S[k].d + (bi & ~(size_t)1), 4);
                    if (TYPE == T_Q4_1) cp_async(sw + 1, S[k].m + (bi & ~(size_t)1), 4);
                    halves |= (uint32_t)(bi & 1) << (j * R + k);
                }
                if (TYPE == T_Q4_K) cp_async(sw, S[k].fd + bi, 4), cp_async(sw + 1, S[k].fm + bi, 4);
                if (TYPE == T_Q6_K) cp_async(sw, S[k].fd + 2 * bi + (u & 1), 4); /* one scale per half block */
            }
        }
        if (HALF) ((uint32_t *)(slot + SLOT_HALVES))[lane] = halves;
        if (++c.b * UNITS_A_BATCH >= n) c.b = 0, c.u += stride;
    }
    c.copied++;
    cp_async_commit();
}

/* Starts a phase's copies: its first RING batches. Starting 1 or 2 (the
 * rest after the barrier) measured the same on the H100. */
template <int RING, int TYPE, int R, class RowsOf>
static __device__ __forceinline__ void ring_start(char *ring, ring_cursor &c, int first, int n_units, int stride,
                                                  ring_span sp, RowsOf rows_of, int lane)
{
    c.u = first, c.b = 0, c.copied = c.used = 0;
#pragma unroll 1
    for (int i = 0; i < RING; i++) ring_copy<RING, TYPE, R>(ring, c, n_units, stride, sp, rows_of, lane);
}

/* The phase's dot products with xs, each batch's slot refilled as soon as it
 * is read; done(u, sums) for each unit. The refill's copies are issued
 * before the products for the 16/32-bit layouts and after them for the
 * quantized ones, whose products take several times the instructions: on
 * the H100, SmolLM2-135M Q4_1 decoded 1.1-3.4% faster with its copies after
 * the products, the bf16 SmolLM2 and Qwen2.5-0.5B shapes up to 2% slower
 * (docs/PERFORMANCE.md). */
template <int RING, int TYPE, int R, bool PAD, class RowsOf, class Done>
static __device__ __forceinline__ void ring_run(char *ring, ring_cursor &c, int first, int n_units, int stride,
                                                ring_span sp, const float *xs, RowsOf rows_of, Done done, int lane)
{
    constexpr bool HALF = units<TYPE>::HALF, COPY_FIRST = float_layout(TYPE);
    const int n = row_units<TYPE>(sp.nb);
    for (int u = first; u < n_units; u += stride) {
        float acc[R];
#pragma unroll
        for (int k = 0; k < R; k++) acc[k] = 0.0f;
        for (int u0 = 0; u0 < n; u0 += UNITS_A_BATCH) {
            cp_async_wait<RING - 1>();
            const char *slot = ring + (size_t)(c.used++ % RING) * SLOT_BYTES;
            const uint32_t halves = HALF ? ((const uint32_t *)(slot + SLOT_HALVES))[lane] : 0;
            wbatch<R> b;
#pragma unroll
            for (int j = 0; j < wbatch<R>::U; j++)
#pragma unroll
                for (int k = 0; k < R; k++) {
                    const int i = (j * R + k) * WARP + lane;
                    const uint32_t *sw = (const uint32_t *)(slot + SLOT_SCALES) + 2 * i;
                    b.v[j][k] = *(const uint4 *)(slot + i * 16);
                    b.sd[j][k] = b.so[j][k] = 0.0f;
                    if (HALF) {
                        const int sh = (halves >> (j * R + k) & 1) * 16;
                        b.sd[j][k] = h2f((uint16_t)(sw[0] >> sh));
                        if (TYPE == T_Q4_1) b.so[j][k] = h2f((uint16_t)(sw[1] >> sh));
                    }
                    if (TYPE == T_Q4_K) b.sd[j][k] = __uint_as_float(sw[0]), b.so[j][k] = __uint_as_float(sw[1]);
                    if (TYPE == T_Q6_K) b.sd[j][k] = __uint_as_float(sw[0]);
                }
            if (COPY_FIRST) ring_copy<RING, TYPE, R>(ring, c, n_units, stride, sp, rows_of, lane);
            batch_use<TYPE, R, PAD>(b, xs, n, u0, lane, acc);
            if (!COPY_FIRST) ring_copy<RING, TYPE, R>(ring, c, n_units, stride, sp, rows_of, lane);
        }
        float out[R];
#pragma unroll
        for (int k = 0; k < R; k++) out[k] = warp_sum(acc[k]);
        done(u, out);
    }
}

template <int RING, int LT>
static __global__ void __launch_bounds__(THREADS, 1) decode_kernel(const cuda_decode_args a)
{
    extern __shared__ __align__(16) char dyn[];
    char *const ring = dyn + (size_t)(threadIdx.x / WARP) * RING * SLOT_BYTES; /* this warp's slots */
    float *const sm = (float *)(dyn + (size_t)NW * RING * SLOT_BYTES);
    /* the matrix products' input vector in sm: padded for the quantized
     * layouts (mat.cuh); padding measured 3% slower on bf16 models (H100,
     * docs/PERFORMANCE.md), whose loads conflict 2-way at most */
    constexpr bool PAD = !float_layout(LT);
    /* Integer divisions taken off the chain's path (qkv_of, stage_resid, the
     * attention's tile and down's residual; 2.5-5.7% on SmolLM2's shape, H100,
     * docs/PERFORMANCE.md) in the kernels for one layout only: the kernel for
     * any mix, whose code is several times the instruction cache, measured 4-5%
     * slower with them. */
    constexpr bool FAST = LT != DECODE_ANY_LAYOUT;
    float *const res = sm + vec_floats(a, gridDim.x, PAD);
    __shared__ long long clk[3 * DECODE_PHASES + 1]; /* timing: 3 parts of each phase, the last stamp */
    __shared__ __align__(16) float red[NW];
    __shared__ float warp_v[NW];
    __shared__ int warp_i[NW];
    const scratch_map S = map_scratch(a);
    char *scr = (char *)a.scratch;
    unsigned *base = (unsigned *)(scr + S.base);
    uint64_t *x_ll = (uint64_t *)(scr + S.x_ll), *hb_ll = (uint64_t *)(scr + S.hb_ll);
    uint64_t *wo_ll = (uint64_t *)(scr + S.wo_ll), *q_ll = (uint64_t *)(scr + S.q_ll);
    uint64_t *kv_ll = (uint64_t *)(scr + S.kv_ll), *part_ll = (uint64_t *)(scr + S.part_ll);
    uint64_t *mg_ll = (uint64_t *)(scr + S.mg_ll), *best_ll = (uint64_t *)(scr + S.best_ll);
    const int tid = threadIdx.x, lane = tid % WARP, warp = tid / WARP, bid = blockIdx.x, grid = gridDim.x;
    const unsigned e0 = __ldcg(base); /* epochs: the embedding's e0 + 1, layer l's e0 + 2 + l (st_ll) */
    const int pos = *a.pos, d = a.n_embd, hd = a.head_dim, n_kv = a.n_kv, hpg = a.n_head / n_kv;
    const int kv_dim = n_kv * hd, npos = pos + 1, max_split = S.max_split;
    const int32_t tok = *a.token;
    /* attention: n_split slices of per keys for each KV group */
    int n_split = (npos + SPLIT_KEYS - 1) / SPLIT_KEYS;
    if (n_split > max_split) n_split = max_split;
    const int per = (npos + n_split - 1) / n_split;
    n_split = (npos + per - 1) / per;
    /* Wo: chunks of rows for each KV group */
    const int chunks = per_group(grid, n_kv), rows_per = (d + chunks - 1) / chunks;
    /* a.timing: block 0's cycles in each phase k's parts (SUB(k, 0): the
     * input read and normalised, with the wait for it; SUB(k, 1): the work
     * done; STAMP(k): the rest to the phase's end, starting the next
     * phase's weight copies and waiting for the block's slowest warp) */
    const bool timed = a.timing && bid == 0 && tid == 0;
    if (timed) {
        for (int k = 0; k < 3 * DECODE_PHASES; k++) clk[k] = 0;
        clk[3 * DECODE_PHASES] = clock64();
    }
#define SUB(k, j)                                                    \
    if (timed) {                                                     \
        long long t_ = clock64();                                    \
        clk[3 * (k) + (j)] += t_ - clk[3 * DECODE_PHASES];           \
        clk[3 * DECODE_PHASES] = t_;                                 \
    }
#define STAMP(k) SUB(k, 2)
    /* RoPE's cos and sin for this position, once */
    __shared__ float rope_c[HD_MAX / 2], rope_s[HD_MAX / 2];
    for (int i = tid; i < a.n_rot / 2; i += THREADS) {
        const float2 r = rope_angle(pos, a.inv_freq[i]);
        rope_c[i] = r.x, rope_s[i] = r.y;
    }
    /* Each warp starts copying the weights of its first rows of the next
     * phase that has any (ring_start) once its block is done with the phase
     * before, so that their latency passes while the block waits for its
     * input (the first layer's Q/K/V at the start, Wo's in front of
     * attention; a block's Wo items after its first, were there more items
     * than blocks, after the item before). */
    ring_cursor rc;
    const int qkv_units = (a.n_head + 2 * n_kv) * (hd / 2), first_unit = bid * NW + warp, stride = grid * NW;
    const ring_span over_d = whole_rows(d / 32), over_ff = whole_rows(a.n_ff / 32);
    /* the rows of a unit: Q/K/V rotation pairs of layer Lx, gate and up, down, Wo's
     * pairs of an item's rows, and the LM head's pairs (the last row twice where
     * the rows are odd) */
    auto qkv_rows = [&a](const cuda_decode_layer *Lx) {
        const mat_src sq = src_of(Lx->wq), sk = src_of(Lx->wk), sv = src_of(Lx->wv);
        return [&a, sq, sk, sv](int u, mat_src (&S)[2], int64_t (&row)[2]) {
            const qkv_unit qu = qkv_of<FAST>(u, a);
            S[0] = S[1] = qu.sect == 0 ? sq : qu.sect == 1 ? sk : sv;
            row[0] = qu.row0 + qu.ia, row[1] = qu.row0 + qu.ib;
        };
    };
    auto glu_rows = [](const cuda_decode_layer *Lx) {
        const mat_src sg = src_of(Lx->gate), su = src_of(Lx->up);
        return [sg, su](int u, mat_src (&S)[2], int64_t (&row)[2]) { S[0] = sg, S[1] = su, row[0] = row[1] = u; };
    };
    auto down_rows = [](const cuda_decode_layer *Lx) {
        const mat_src sd = src_of(Lx->down);
        return [sd](int u, mat_src (&S)[1], int64_t (&row)[1]) { S[0] = sd, row[0] = u; };
    };
    auto pair_rows = [](mat_src so, int r0, int r1) { /* rows r0 + 2 u and the next of [r0, r1) (the last twice) */
        return [so, r0, r1](int u, mat_src (&S)[2], int64_t (&row)[2]) {
            S[0] = S[1] = so, row[0] = r0 + 2 * (int64_t)u, row[1] = row[0] + 1 < r1 ? row[0] + 1 : row[0];
        };
    };
    auto wo_rows = [pair_rows](const cuda_decode_layer *Lx, int r0, int r1) { return pair_rows(src_of(Lx->wo), r0, r1); };
    const int lm_units = (a.n_vocab + 1) / 2;
    const auto lm_rows = pair_rows(src_of(a.output), 0, a.n_vocab);
    auto qkv_start = [&](const cuda_decode_layer *Lx) {
        LAYER_DISPATCH(Lx->wq.type, (ring_start<RING, TYPE, 2>(ring, rc, first_unit, qkv_units, stride, over_d,
                                                         qkv_rows(Lx), lane)));
    };
    qkv_start(a.layers);
    /* the embedding, staged for layer 0's Q/K/V (ss_embd: its sum of
     * squares) by the blocks with Q/K/V rows; block 0 passes it on as x_ll
     * for layer 0's gate/up */
    float ss_embd = 0.0f;
    if (bid * NW < qkv_units) {
        const cuda_mat E = a.tok_embd;
        for (int i = tid; i < d; i += THREADS) {
            const float v = mat_at(E, tok, i) * a.embd_scale;
            if (bid == 0) st_ll(x_ll + i, v, e0 + 1);
            sm[xat(i, PAD)] = v * __ldg(a.layers[0].attn_norm + i);
            ss_embd += v * v;
        }
    }

    for (int l = 0; l < a.n_layer; l++) {
        const cuda_decode_layer *L = a.layers + l;
        float *kc = a.k_cache + (size_t)l * a.n_ctx * kv_dim, *vc = a.v_cache + (size_t)l * a.n_ctx * kv_dim;

        const unsigned ep = e0 + 2 + l;
        /* 1. norm, Q/K/V rows in rotation pairs, RoPE; q (scaled for
         * attention), K and V to q_ll and kv_ll, K and V to the cache */
        {
            float ss = 0.0f, scale = 0.0f;
            /* the biases' pointers read before the wait, not on the way to attention */
            const float *bq = L->bq, *bk = L->bk, *bv = L->bv;
            if (bid * NW < qkv_units) { /* only blocks with rows read the input (see st_ll) */
                ss = l == 0 ? ss_embd : stage_ll<PAD>(sm, x_ll, d, ep - 1, L->attn_norm);
                norm_put(ss, red);
                scale = norm_get(red, d, a.eps);
            }
            SUB(0, 0)
            auto done = [&](int u, const float (&o)[2]) {
                const qkv_unit qu = qkv_of<FAST>(u, a);
                if (lane == 0) {
                    const float *bias = qu.sect == 0 ? bq : qu.sect == 1 ? bk : bv;
                    float x0 = o[0] * scale, x1 = o[1] * scale;
                    if (bias) x0 = __ldg(bias + qu.row0 + qu.ia) + x0, x1 = __ldg(bias + qu.row0 + qu.ib) + x1;
                    if (qu.rot) {
                        float c = rope_c[qu.i], s = rope_s[qu.i], y0 = x0 * c - x1 * s, y1 = x0 * s + x1 * c;
                        x0 = y0, x1 = y1;
                    }
                    if (qu.sect == 0) {
                        st_ll(q_ll + qu.row0 + qu.ia, x0 * a.attn_scale, ep);
                        st_ll(q_ll + qu.row0 + qu.ib, x1 * a.attn_scale, ep);
                    } else {
                        float *dst = (qu.sect == 1 ? kc : vc) + (size_t)pos * kv_dim + qu.row0;
                        uint64_t *dl = kv_ll + (qu.sect - 1) * kv_dim + qu.row0;
                        dst[qu.ia] = x0, dst[qu.ib] = x1;
                        st_ll(dl + qu.ia, x0, ep), st_ll(dl + qu.ib, x1, ep);
                    }
                }
            };
            LAYER_DISPATCH(L->wq.type, (ring_run<RING, TYPE, 2, PAD>(ring, rc, first_unit, qkv_units, stride, over_d,
                                                                    sm, qkv_rows(L), done, lane)));
        }
        SUB(0, 1)
        auto split_of = [&](int item, int &g, int &k0, int &k1) {
            g = item / n_split, k0 = item % n_split * per, k1 = k0 + per < npos ? k0 + per : npos;
        };
        /* item (KV group g, chunk c) of Wo: rows [r0, r1) times the group's columns */
        const int cols = hpg * hd, nbg = cols / 32, n_items = n_kv * chunks;
        auto wo_item = [&](int item, int &g, int &r0, int &r1, ring_span &sp) {
            g = item / chunks, r0 = item % chunks * rows_per, r1 = r0 + rows_per < d ? r0 + rows_per : d;
            sp = {nbg, a.n_head * hd / 32, g * nbg};
        };
        auto wo_start = [&](int item) {
            int g, r0, r1;
            ring_span sp;
            wo_item(item, g, r0, r1, sp);
            LAYER_DISPATCH(L->wo.type, (ring_start<RING, TYPE, 2>(ring, rc, warp, (r1 - r0 + 1) / 2, NW, sp,
                                                                 wo_rows(L, r0, r1), lane)));
        };
        if (bid < n_items) wo_start(bid); /* the ring is idle during attention */
        __syncthreads();                  /* the block's warps are done with sm */
        STAMP(0)

        /* 2. attention: (KV group g, split s of keys [k0, k1)) per block,
         * its keys ATT_KEYS at a time through shared memory (ks, rows
         * padded to hd + 4: the scores' 16-byte loads of 8 keys hit
         * distinct banks, and vs) with an online softmax, warp h doing its
         * head's alone once a tile is there: two lanes a key's score (half
         * the dimensions each), the softmax across the lanes, a lane's
         * columns of the weighted values. The next tile's keys are loaded
         * into registers while a tile is used (the first tile's before the
         * queries are waited for); the key at pos (this step's) comes from
         * kv_ll, the others from the cache. */
        {
            float *qs = sm, *ks = qs + hpg * hd, *vs = ks + ATT_KEYS * (hd + 4);
            constexpr int T4 = (ATT_KEYS * HD_MAX / 4 + THREADS - 1) / THREADS, TH = HD_MAX / WARP;
            const int h4 = hd / 4, n4 = ATT_KEYS * h4, cols_q = hpg * hd;
            float4 kr[T4], vr[T4];
            /* FAST: the key and float4 of the tile that a thread's load j holds, worked out once
             * an item (t_key, t_c4), not again after the queries' wait */
            int t_key[T4], t_c4[T4];
            auto load_tile = [&](int g, int kt, int k1) {
#pragma unroll
                for (int j = 0; j < T4; j++) {
                    const int i = tid + j * THREADS, key = FAST ? t_key[j] : i / h4, ky = kt + key;
                    kr[j] = vr[j] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                    if (i < n4 && ky < k1 && ky != pos) {
                        const size_t at = (size_t)ky * kv_dim + g * hd + (FAST ? t_c4[j] : i % h4) * 4;
                        kr[j] = __ldcg((const float4 *)(kc + at)), vr[j] = __ldcg((const float4 *)(vc + at));
                    }
                }
            };
            /* items from the last block down: the blocks without rows of Q/K/V (or of down) load their
             * first keys while those are computed */
            for (int item = grid - 1 - bid; item < n_kv * n_split; item += grid) {
                int g, k0, k1;
                split_of(item, g, k0, k1);
                const int s = item % n_split;
                if (FAST)
#pragma unroll
                    for (int j = 0; j < T4; j++) {
                        const int i = tid + j * THREADS;
                        t_key[j] = i / h4, t_c4[j] = i % h4;
                    }
                load_tile(g, k0, k1);
                stage_ll<false>(qs, q_ll + (size_t)g * cols_q, cols_q, ep, NULL);
                float mh = -INFINITY, lh = 0.0f, acc[TH]; /* warp h's head: lane + WARP j of its columns */
#pragma unroll
                for (int j = 0; j < TH; j++) acc[j] = 0.0f;
                for (int kt = k0; kt < k1; kt += ATT_KEYS) {
                    const int nk = k1 - kt < ATT_KEYS ? k1 - kt : ATT_KEYS;
#pragma unroll
                    for (int j = 0; j < T4; j++) {
                        const int i = tid + j * THREADS;
                        if (i >= n4) break;
                        const int key = FAST ? t_key[j] : i / h4, c4 = FAST ? t_c4[j] : i % h4;
                        if (kt + key == pos) continue; /* stored below */
                        ((float4 *)(ks + (size_t)key * (hd + 4)))[c4] = kr[j];
                        ((float4 *)vs)[i] = vr[j];
                    }
                    if (pos >= kt && pos - kt < nk) /* this step's key and value */
                        for (int c = tid; c < hd; c += THREADS) {
                            const uint64_t *kn = kv_ll + g * hd + c, *vn = kn + kv_dim;
                            ks[(size_t)(pos - kt) * (hd + 4) + c] = ll_value(kn, ld_ll(kn), ep);
                            vs[(size_t)(pos - kt) * hd + c] = ll_value(vn, ld_ll(vn), ep);
                        }
                    __syncthreads();
                    if (kt == k0) SUB(1, 0)
                    if (kt + ATT_KEYS < k1) load_tile(g, kt + ATT_KEYS, k1);
                    if (warp < hpg) {
                        const int k = lane % ATT_KEYS; /* lanes k and k + ATT_KEYS: key k's even and odd float4s */
                        const float4 *qv = (const float4 *)(qs + warp * hd), *kq = (const float4 *)(ks + k * (hd + 4));
                        float s0 = 0.0f, s1 = 0.0f;
#pragma unroll 4
                        for (int c = lane / ATT_KEYS; c < h4; c += 2) {
                            const float4 x = qv[c], y = kq[c];
                            s0 += x.x * y.x + x.y * y.y, s1 += x.z * y.z + x.w * y.w;
                        }
                        float sc = s0 + s1;
                        sc += __shfl_xor_sync(0xffffffffu, sc, ATT_KEYS);
                        if (k >= nk) sc = -INFINITY;
                        const float mn = fmaxf(mh, warp_max(sc)), p = expf(sc - mn), c = expf(mh - mn);
                        lh = lh * c + warp_sum(lane < ATT_KEYS ? p : 0.0f), mh = mn;
#pragma unroll
                        for (int j = 0; j < TH; j++) acc[j] *= c;
#pragma unroll 4
                        for (int kk = 0; kk < nk; kk++) {
                            const float pk = __shfl_sync(0xffffffffu, p, kk);
#pragma unroll
                            for (int j = 0; j < TH; j++)
                                if (lane + WARP * j < hd) acc[j] += pk * vs[kk * hd + lane + WARP * j];
                        }
                    }
                    __syncthreads(); /* before the next tile or item overwrites the tile */
                }
                /* the split's partial state of each head: max, sum, weighted values */
                uint64_t *o = part_ll + ((size_t)g * hpg * max_split + s) * (hd + 2);
                if (warp < hpg) {
                    uint64_t *oh = o + (size_t)warp * max_split * (hd + 2);
                    if (lane == 0) st_ll(oh, mh, ep), st_ll(oh + 1, lh, ep);
#pragma unroll
                    for (int j = 0; j < TH; j++)
                        if (lane + WARP * j < hd) st_ll(oh + 2 + lane + WARP * j, acc[j], ep);
                }
                SUB(1, 1)
            }
        }
        STAMP(1)

        /* 3. the slices merged, in two steps. First, item (g, c) merges
         * columns [c * cpc, (c + 1) * cpc) of group g's heads over the
         * splits and stores them at mg_ll + g * cols: each split's m and
         * l (a pair of words) of the heads [h0, h1] its columns are in, and
         * its own columns' values, all loaded before the first is waited
         * for. Then each item times Wo: its rows, two a warp's
         * unit, times the group's merged columns, the group's partial sums at wo_ll + g * d. Each
         * block reads a split's partials of cpc columns, not all of them. */
        {
            const int cpc = (cols + chunks - 1) / chunks;
            for (int item = bid; item < n_items; item += grid) {
                const int g = item / chunks, c0 = item % chunks * cpc;
                const int nc = cols - c0 < cpc ? cols - c0 : cpc, h0 = c0 / hd, h1 = (c0 + nc - 1) / hd;
                const int n_ml = (h1 - h0 + 1) * n_split, n_ld = n_ml + nc * n_split;
                if (nc <= 0) continue;
                float *wf = sm, *ml = wf + n_ml, *vals = ml + n_ml; /* vals[s * nc + j] */
                const uint64_t *pg = part_ll + (size_t)g * hpg * max_split * (hd + 2);
                /* load k < n_ml: the (m, l) pair of head h0 + k / n_split, split k % n_split; past n_ml, column
                 * c0 + j of split s, k - n_ml = s * nc + j */
                for (int k0 = tid; k0 < n_ld; k0 += 4 * THREADS) {
                    ulonglong2 v[4];
                    const uint64_t *p[4];
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        const int k = k0 + j * THREADS, kk = k - n_ml;
                        if (k >= n_ld) break;
                        if (kk < 0) {
                            p[j] = pg + ((size_t)(h0 + k / n_split) * max_split + k % n_split) * (hd + 2);
                            v[j] = ld_ll2(p[j]);
                        } else {
                            const int col = c0 + kk % nc;
                            p[j] = pg + ((size_t)(col / hd) * max_split + kk / nc) * (hd + 2) + 2 + col % hd;
                            v[j].x = ld_ll(p[j]);
                        }
                    }
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        const int k = k0 + j * THREADS;
                        if (k >= n_ld) break;
                        if (k < n_ml) {
                            const float2 x = ll_pair(p[j], v[j], ep);
                            wf[k] = x.x, ml[k] = x.y;
                        } else {
                            vals[k - n_ml] = ll_value(p[j], v[j].x, ep);
                        }
                    }
                }
                __syncthreads();
                /* a warp a column (all of a group's columns on fewer blocks than chunks), a lane a few
                 * splits: its head's largest m, each split's weight exp(m_s - M), the sums. The warps of
                 * one head's columns each compute the same weights, side by side: measured faster than
                 * computing them once and sharing them across a block barrier (docs/PERFORMANCE.md) */
                for (int j = warp; j < nc; j += NW) {
                    const float *ms = wf + ((c0 + j) / hd - h0) * n_split, *ls = ml + ((c0 + j) / hd - h0) * n_split;
                    float M = -INFINITY, Ls = 0.0f, A = 0.0f;
                    for (int s = lane; s < n_split; s += WARP) M = fmaxf(M, ms[s]);
                    M = warp_max(M);
                    for (int s = lane; s < n_split; s += WARP) {
                        const float f = expf(ms[s] - M);
                        Ls += f * ls[s], A += f * vals[s * nc + j];
                    }
                    Ls = warp_sum(Ls), A = warp_sum(A);
                    if (lane == 0) st_ll(mg_ll + (size_t)g * cols + c0 + j, A / Ls, ep);
                }
                __syncthreads();
            }
            SUB(2, 0)
            for (int item = bid; item < n_items; item += grid) {
                int g, r0, r1;
                ring_span sp;
                wo_item(item, g, r0, r1, sp);
                if (item != bid) wo_start(item);
                if (r0 >= r1) continue;
                stage_ll<PAD>(sm, mg_ll + (size_t)g * cols, cols, ep, NULL);
                __syncthreads();
                auto done = [&](int u, const float (&o)[2]) {
                    if (lane == 0) st_ll(wo_ll + (size_t)g * d + r0 + 2 * u, o[0], ep);
                    if (lane == 0 && r0 + 2 * u + 1 < r1) st_ll(wo_ll + (size_t)g * d + r0 + 2 * u + 1, o[1], ep);
                };
                LAYER_DISPATCH(L->wo.type, (ring_run<RING, TYPE, 2, PAD>(ring, rc, warp, (r1 - r0 + 1) / 2, NW, sp, sm,
                                                                        wo_rows(L, r0, r1), done, lane)));
                __syncthreads();
            }
            SUB(2, 1)
        }
        LAYER_DISPATCH(L->gate.type,
                      (ring_start<RING, TYPE, 2>(ring, rc, first_unit, a.n_ff, stride, over_d, glu_rows(L), lane)));
        __syncthreads(); /* the block's warps are done with sm */
        STAMP(2)

        /* 4. residual + the groups' partials, norm, gate and up rows, SiLU */
        {
            float scale = 0.0f;
            if (bid * NW < a.n_ff) {
                const float ss =
                    stage_resid<PAD, FAST>(sm, res, x_ll, ep - 1, wo_ll, n_kv, (size_t)d, d, ep, L->ffn_norm);
                norm_put(ss, red);
                scale = norm_get(red, d, a.eps);
            }
            SUB(3, 0)
            auto done = [&](int u, const float (&o)[2]) {
                if (lane == 0) st_ll(hb_ll + u, silu(o[0] * scale) * (o[1] * scale), ep);
            };
            LAYER_DISPATCH(L->gate.type, (ring_run<RING, TYPE, 2, PAD>(ring, rc, first_unit, a.n_ff, stride, over_d,
                                                                      sm, glu_rows(L), done, lane)));
        }
        SUB(3, 1)
        LAYER_DISPATCH(L->down.type,
                      (ring_start<RING, TYPE, 1>(ring, rc, first_unit, d, stride, over_ff, down_rows(L), lane)));
        __syncthreads();
        STAMP(3)

        /* 5. down rows + the residual */
        {
            if (bid * NW < d) {
                stage_ll<PAD>(sm, hb_ll, a.n_ff, ep, NULL);
                __syncthreads();
            }
            SUB(4, 0)
            int k = 0; /* FAST: units first_unit + k * stride, in order */
            auto done = [&](int r, const float (&o)[1]) {
                const int at = FAST ? k * NW + warp : (r - first_unit) / stride * NW + warp;
                if (lane == 0) st_ll(x_ll + r, res[at] + o[0], ep);
                k++;
            };
            LAYER_DISPATCH(L->down.type, (ring_run<RING, TYPE, 1, PAD>(ring, rc, first_unit, d, stride, over_ff, sm,
                                                                      down_rows(L), done, lane)));
        }
        SUB(4, 1)
        if (l + 1 < a.n_layer) qkv_start(L + 1);
        __syncthreads(); /* the block's warps are done with sm */
        STAMP(4)
    }
    /* (out of the loop: the layers' code is what the instruction cache keeps) */
    HEAD_DISPATCH(a.output.type, (ring_start<RING, TYPE, 2>(ring, rc, first_unit, lm_units, stride, over_d, lm_rows, lane)));

    /* final norm, LM head, each block's best logit */
    const unsigned e_end = e0 + 1 + a.n_layer; /* the last layer's epoch */
    {
        norm_put(stage_ll<PAD>(sm, x_ll, d, e_end, a.output_norm), red);
        const float scale = norm_get(red, d, a.eps);
        SUB(5, 0)
        float bv = -INFINITY;
        int bi = INT_MAX;
        auto done = [&](int u, const float (&o)[2]) {
#pragma unroll
            for (int k = 0; k < 2; k++) {
                if (2 * u + k >= a.n_vocab) break; /* an odd vocabulary's last row, read twice */
                const float v = o[k] * scale;
                if (lane == 0) a.logits[2 * u + k] = v;
                better(bv, bi, v, 2 * u + k);
            }
        };
        HEAD_DISPATCH(a.output.type, (ring_run<RING, TYPE, 2, PAD>(ring, rc, first_unit, lm_units, stride, over_d,
                                                                   sm, lm_rows, done, lane)));
        SUB(5, 1)
        if (lane == 0) warp_v[warp] = bv, warp_i[warp] = bi;
        __syncthreads();
        if (tid == 0) {
            for (int w = 1; w < NW; w++) better(bv, bi, warp_v[w], warp_i[w]);
            st_ll(best_ll + 2 * bid, bv, e_end);
            st_ll(best_ll + 2 * bid + 1, __int_as_float(bi), e_end);
        }
    }
    if (bid == 0 && warp == 0) { /* the blocks' best, as each is stored */
        float bv = -INFINITY;
        int bi = INT_MAX;
        for (int i = lane; i < grid; i += WARP) {
            const float2 v = ll_pair(best_ll + 2 * i, ld_ll2(best_ll + 2 * i), e_end);
            better(bv, bi, v.x, __float_as_int(v.y));
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            better(bv, bi, ov, oi);
        }
        if (lane == 0) {
            /* every block read *a.token and *a.pos before storing its best */
            bi = bi == INT_MAX ? 0 : bi;
            a.next[pos] = bi, *a.token = bi, *a.pos = pos + 1;
            *base = e_end; /* the next launch's epochs follow */
        }
    }
    STAMP(5)
    if (timed) {
        for (int k = 0; k < 3 * DECODE_PHASES; k++) atomicAdd(a.timing + k, (unsigned long long)clk[k]);
        atomicAdd(a.timing + 3 * DECODE_PHASES, 1ull);
    }
#undef STAMP
#undef SUB
}

/* For tests: y = W[:, [32 b0, 32 (b0 + nb))] x with W's rows streamed
 * through the ring as the step's phases stream theirs, unit u being row u
 * (R 1, as Wo and down) or the row pair (u, rows - 1 - u) (R 2); x padded
 * in shared memory when PAD, as the quantized layouts' kernel has it (for
 * every matrix of the model, 16/32-bit ones included). */
template <int RING, int R, bool PAD>
static __global__ void __launch_bounds__(THREADS, 1) ring_matvec_kernel(const __grid_constant__ cuda_mat W,
                                                                         const float *x, float *y, int b0, int nb)
{
    extern __shared__ __align__(16) char dyn[];
    const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    const ring_span sp = {nb, (int)(W.cols / 32), b0};
    char *ring = dyn + (size_t)warp * RING * SLOT_BYTES;
    float *xs = (float *)(dyn + (size_t)NW * RING * SLOT_BYTES);
    for (int i = threadIdx.x; i < 32 * nb; i += THREADS) xs[xat(i, PAD)] = x[i];
    __syncthreads();
    const int first = blockIdx.x * NW + warp, stride = gridDim.x * NW;
    const int n_units = (int)(R == 2 ? (W.rows + 1) / 2 : W.rows);
    const mat_src sw = src_of(W);
    const int64_t last = W.rows - 1;
    auto rows_of = [sw, last](int u, mat_src (&S)[R], int64_t (&row)[R]) {
#pragma unroll
        for (int k = 0; k < R; k++) S[k] = sw, row[k] = k == 0 ? u : last - u;
    };
    auto done = [&](int u, const float (&o)[R]) {
#pragma unroll
        for (int k = 0; k < R; k++)
            if (lane == 0) y[k == 0 ? u : last - u] = o[k];
    };
    ring_cursor c;
    TYPE_DISPATCH(W.type, (ring_start<RING, TYPE, R>(ring, c, first, n_units, stride, sp, rows_of, lane)));
    TYPE_DISPATCH(W.type, (ring_run<RING, TYPE, R, PAD>(ring, c, first, n_units, stride, sp, xs, rows_of, done,
                                                        lane)));
}

/* A warp's ring slots, for all warps of a block. */
static size_t ring_bytes(int ring) { return (size_t)NW * ring * SLOT_BYTES; }

extern "C" cudaError_t cuda_decode_ring_matvec(const cuda_mat *W, int b0, int nb, const float *x, float *y, int rows,
                                               int grid, int ring, int pad)
{
    typedef void (*matvec_fn)(const cuda_mat, const float *, float *, int, int);
#define RING_MV(R, P) {ring_matvec_kernel<1, R, P>, ring_matvec_kernel<2, R, P>, ring_matvec_kernel<4, R, P>}
    const matvec_fn pairs[2][3] = {RING_MV(2, 0), RING_MV(2, 1)}, single[2][3] = {RING_MV(1, 0), RING_MV(1, 1)};
#undef RING_MV
    const int d = ring == 1 ? 0 : ring == 2 ? 1 : ring == 4 ? 2 : -1;
    if (d < 0 || (rows != 1 && rows != 2) || b0 < 0 || nb < 1 || (int64_t)(b0 + nb) * 32 > W->cols)
        return cudaErrorInvalidValue;
    const matvec_fn k = (rows == 2 ? pairs : single)[pad != 0][d];
    size_t smem = ring_bytes(ring) + (size_t)xat(nb * 32, pad) * sizeof(float);
    cudaError_t e = allow_smem((const void *)k, smem);
    if (e != cudaSuccess) return e;
    k<<<grid, THREADS, smem>>>(*W, x, y, b0, nb);
    return cudaGetLastError();
}

/* A cooperative launch of grid blocks of THREADS (attr: its attribute's storage). */
static cudaLaunchConfig_t coop_config(int grid, size_t smem, cudaStream_t s, cudaLaunchAttribute *attr)
{
    cudaLaunchConfig_t cfg = {};
    attr->id = cudaLaunchAttributeCooperative;
    attr->val.cooperative = 1;
    cfg.gridDim = dim3((unsigned)grid);
    cfg.blockDim = dim3(THREADS);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    return cfg;
}

/* n grid barriers back to back, for cuda_decode_barrier_cost(). */
static __global__ void __launch_bounds__(THREADS, 1) barrier_kernel(unsigned *count, int n)
{
    unsigned target = 0;
    for (int i = 0; i < n; i++) grid_sync(count, target);
}

extern "C" cudaError_t cuda_decode_barrier_cost(int grid, int n, float *us)
{
    unsigned *count = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    cudaError_t e = cudaMalloc((void **)&count, sizeof *count);
    if (e == cudaSuccess) e = cudaEventCreate(&e0);
    if (e == cudaSuccess) e = cudaEventCreate(&e1);
    cudaLaunchAttribute attr;
    cudaLaunchConfig_t cfg = coop_config(grid, 0, 0, &attr);
    float best = 0.0f;
    for (int r = 0; r < 5 && e == cudaSuccess; r++) { /* the fastest of 5 */
        e = cudaMemset(count, 0, sizeof *count);
        if (e == cudaSuccess) e = cudaEventRecord(e0, 0);
        if (e == cudaSuccess) e = cudaLaunchKernelEx(&cfg, barrier_kernel, count, n);
        if (e == cudaSuccess) e = cudaEventRecord(e1, 0);
        if (e == cudaSuccess) e = cudaEventSynchronize(e1);
        float ms = 0.0f;
        if (e == cudaSuccess) e = cudaEventElapsedTime(&ms, e0, e1);
        if (e == cudaSuccess && (r == 0 || ms < best)) best = ms;
    }
    if (e == cudaSuccess) *us = best * 1e3f / (float)n;
    cudaFree(count);
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    return e;
}

static int layout_ok(uint32_t t)
{
    return t == T_Q4_0 || t == T_Q4_1 || t == T_Q8_0 || t == T_Q4_K || t == T_Q6_K || t == T_F16 || t == T_BF16 ||
           t == T_F32;
}

static int mat_ok(const cuda_mat *W, int64_t rows, int64_t cols)
{
    return W->q && layout_ok(W->type) && W->rows == rows && W->cols == cols;
}

extern "C" int cuda_decode_supported(cuda_decode_args *a, const cuda_decode_layer *hl)
{
    if (a->n_layer < 1 || a->n_kv < 1 || a->n_head % a->n_kv) return 0;
    int hpg = a->n_head / a->n_kv, hd = a->head_dim, d = a->n_embd, ff = a->n_ff;
    int64_t q_dim = (int64_t)a->n_head * hd, kv_dim = (int64_t)a->n_kv * hd;
    /* ff >= d: a warp with rows of down has rows of gate/up (see st_ll) */
    /* head_dim a multiple of 4: attention's 16-byte loads (implied by (hpg * hd) % 32 == 0 for hpg <= 8) */
    if (hpg > HPG_MAX || hd % 4 || hd > HD_MAX || (hpg * hd) % 32 || d % 32 || ff % 32 || ff < d)
        return 0;
    if (a->n_rot < 2 || a->n_rot % 2 || a->n_rot > hd || !a->inv_freq || !a->output_norm) return 0;
    if (!mat_ok(&a->tok_embd, a->n_vocab, d) || !mat_ok(&a->output, a->n_vocab, d)) return 0;
    for (int l = 0; l < a->n_layer; l++) {
        const cuda_decode_layer *L = hl + l;
        if (!mat_ok(&L->wq, q_dim, d) || !mat_ok(&L->wk, kv_dim, d) || !mat_ok(&L->wv, kv_dim, d) ||
            !mat_ok(&L->wo, d, q_dim) || !mat_ok(&L->gate, ff, d) || !mat_ok(&L->up, ff, d) ||
            !mat_ok(&L->down, d, ff))
            return 0;
        if (L->wk.type != L->wq.type || L->wv.type != L->wq.type || L->up.type != L->gate.type) return 0;
        if (!L->attn_norm || !L->ffn_norm || (!L->bq) != (!L->bk) || (!L->bq) != (!L->bv)) return 0;
    }
    a->layout = (int)hl[0].wq.type;
    for (int l = 0; l < a->n_layer; l++)
        if ((int)hl[l].wq.type != a->layout || (int)hl[l].wo.type != a->layout || (int)hl[l].gate.type != a->layout ||
            (int)hl[l].down.type != a->layout)
            a->layout = DECODE_ANY_LAYOUT;
    if (a->layout != DECODE_ANY_LAYOUT && float_layout(a->layout) != float_layout((int)a->output.type))
        a->layout = DECODE_ANY_LAYOUT; /* the head not of the layers' kind (HEAD_DISPATCH) */
    return 1;
}

typedef void (*decode_fn)(const cuda_decode_args);

/* The kernels: one for each layout at the deepest ring, one for any mix of
 * layouts at each depth (a shallower ring only for shapes whose vectors
 * leave no room for the deepest). */
static const struct {
    int ring, layout;
    decode_fn fn;
} kernels[] = {
#define ONE_LAYOUT(t) {4, t, decode_kernel<4, t>}
    ONE_LAYOUT(T_F32),  ONE_LAYOUT(T_F16),  ONE_LAYOUT(T_BF16), ONE_LAYOUT(T_Q4_0),
    ONE_LAYOUT(T_Q4_1), ONE_LAYOUT(T_Q8_0), ONE_LAYOUT(T_Q4_K), ONE_LAYOUT(T_Q6_K),
#undef ONE_LAYOUT
    {4, DECODE_ANY_LAYOUT, decode_kernel<4, DECODE_ANY_LAYOUT>},
    {2, DECODE_ANY_LAYOUT, decode_kernel<2, DECODE_ANY_LAYOUT>},
    {1, DECODE_ANY_LAYOUT, decode_kernel<1, DECODE_ANY_LAYOUT>},
};

/* The kernel for a ring depth and layout: a->layout's own where there is
 * one, else the one for any mix; its layout in *lt. */
static decode_fn kernel_of(const cuda_decode_args *a, int ring, int *lt)
{
    decode_fn any = NULL;
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) {
        if (kernels[i].ring != ring) continue;
        if (kernels[i].layout == a->layout) return *lt = a->layout, kernels[i].fn;
        if (kernels[i].layout == DECODE_ANY_LAYOUT) any = kernels[i].fn;
    }
    *lt = DECODE_ANY_LAYOUT;
    return any;
}

/* Dynamic shared memory: the warps' rings, then smem_floats() (the
 * vectors padded in the kernels for quantized layouts). */
static size_t smem_bytes(const cuda_decode_args *a, int grid, int ring)
{
    int lt;
    kernel_of(a, ring, &lt);
    return ring_bytes(ring) + smem_floats(a, grid, !float_layout(lt)) * sizeof(float);
}

extern "C" cudaError_t cuda_decode_grid(const cuda_decode_args *a, int *grid, int *ring)
{
    int dev = 0, n_sm = 0, coop = 0, per_sm = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev);
    if (e != cudaSuccess) return e;
    if (!coop) return cudaErrorNotSupported;
    int r = 4; /* the deepest ring that fits beside the vectors */
    int lt;
    decode_fn k = kernel_of(a, r, &lt);
    while ((e = allow_smem((const void *)k, smem_bytes(a, n_sm, r))) == cudaErrorNotSupported && r > 1)
        k = kernel_of(a, r /= 2, &lt);
    if (e == cudaErrorNotSupported) return cudaErrorInvalidValue;
    if (e == cudaSuccess)
        e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k, THREADS, smem_bytes(a, n_sm, r));
    if (e != cudaSuccess) return e;
    if (per_sm < 1) return cudaErrorLaunchOutOfResources;
    *grid = n_sm;
    *ring = r;
    return cudaSuccess;
}

extern "C" size_t cuda_decode_scratch_bytes(const cuda_decode_args *a) { return map_scratch(*a).total; }

extern "C" cudaError_t cuda_decode_reset(const cuda_decode_args *a, cudaStream_t s)
{
    return cudaMemsetAsync(a->scratch, 0, map_scratch(*a).total, s);
}

extern "C" cudaError_t cuda_decode_step(const cuda_decode_args *a, cudaStream_t s)
{
    cudaLaunchAttribute attr;
    cudaLaunchConfig_t cfg = coop_config(a->grid, smem_bytes(a, a->grid, a->ring), s, &attr);
    int lt;
    return cudaLaunchKernelEx(&cfg, kernel_of(a, a->ring, &lt), *a);
}
