#include "sample.h"

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>

#include "common.cuh"

#define BLOCKS 64
#define THREADS 256

/* Tree over the block's candidates in shared memory; thread 0 ends with the
 * block's best. */
static __device__ void block_best(float *sv, int *si, float v, int i)
{
    sv[threadIdx.x] = v;
    si[threadIdx.x] = i;
    __syncthreads();
    for (int o = blockDim.x / 2; o > 0; o >>= 1) {
        if (threadIdx.x < o) {
            float bv = sv[threadIdx.x];
            int bi = si[threadIdx.x];
            better(bv, bi, sv[threadIdx.x + o], si[threadIdx.x + o]);
            sv[threadIdx.x] = bv;
            si[threadIdx.x] = bi;
        }
        __syncthreads();
    }
}

static __global__ void argmax_partial(const float *x, int n, float *pv, int *pi)
{
    pdl_wait();
    __shared__ float sv[THREADS];
    __shared__ int si[THREADS];
    float best = -INFINITY;
    int bi = 0x7fffffff;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) better(best, bi, x[i], i);
    block_best(sv, si, best, bi);
    if (threadIdx.x == 0) {
        pv[blockIdx.x] = sv[0];
        pi[blockIdx.x] = si[0];
    }
}

static __global__ void argmax_final(const float *pv, const int *pi, int32_t *out)
{
    pdl_wait();
    __shared__ float sv[BLOCKS];
    __shared__ int si[BLOCKS];
    block_best(sv, si, pv[threadIdx.x], pi[threadIdx.x]);
    if (threadIdx.x == 0) *out = si[0] == 0x7fffffff ? 0 : si[0];
}

extern "C" cudaError_t cuda_argmax(const float *logits, int n, void *scratch, int32_t *out, cudaStream_t s)
{
    float *pv = (float *)scratch;
    int *pi = (int *)((char *)scratch + BLOCKS * sizeof(float));
    cudaError_t e = launch_pdl(argmax_partial, BLOCKS, THREADS, 0, s, logits, n, pv, pi);
    if (e != cudaSuccess) return e;
    return launch_pdl(argmax_final, 1, BLOCKS, 0, s, (const float *)pv, (const int *)pi, out);
}

/* ---- the sampler chain ------------------------------------------------------------------ */

#define SEL_THREADS 1024
#define TOPK_MAX 1024 /* the largest top-k taken without sorting all logits (<= SEL_THREADS) */
#define CAND_MAX 2048 /* the most logits at or above the threshold that topk_kernel sorts */
#define NO_INDEX 0x7fffffff

/* Where the id goes: *id, and each of *hist and *host that is set. */
struct sample_outs {
    int32_t *id, *hist, *host;
};

static __device__ __forceinline__ void put(const sample_outs &o, int32_t v)
{
    *o.id = v;
    if (o.hist) *o.hist = v;
    if (o.host) *o.host = v;
}

/* DRY's penalty for a repeat e tokens past the allowed length:
 * multiplier * base^e, the power a product of e factors in order, as
 * dry_amount in infer/sampler.c (the same float operations, so the same
 * value; rounded products, never contracted into a fused multiply-add). */
static __device__ float dry_amount(float mult, float base, int e)
{
    float f = 1.0f;
    for (int j = 0; j < e && f < INFINITY; j++) f = __fmul_rn(f, base);
    return __fmul_rn(mult, f);
}

/* Whether the repetition penalty and DRY run, as repeat_on and dry_on in
 * infer/sampler.c (NaN parameters run DRY); on the device and in
 * cuda_sample, which checks the history it needs. */
static __host__ __device__ __forceinline__ bool penalty_on(const cuda_sample_params &p)
{
    return !(p.penalty == 1.0f || p.penalty <= 0) && p.penalty_last_n != 0 && p.n_hist > 0;
}

static __host__ __device__ __forceinline__ bool dry_on(const cuda_sample_params &p)
{
    return !(p.dry_multiplier <= 0 || p.dry_base <= 1 || p.n_hist < 2);
}

/* sampler_sample's penalties on logits[0..n), by one block of SEL_THREADS
 * from the history hist[0..p.n_hist): the repetition penalty on each
 * distinct id of its window (positive logits divided, others multiplied),
 * then DRY's subtraction from each token that would extend a repeat, by
 * its longest. mark (n ints, zero on entry and on return) finds each id's
 * first thread: the one whose atomicAdd sees 0 takes the repetition
 * penalty; DRY's atomicMax gathers a token's longest match, and the one
 * atomicExch that takes it back to 0 subtracts. The block's own global
 * writes are visible to it past __syncthreads. */
static __device__ void apply_penalties(float *logits, int n, const int32_t *hist, const cuda_sample_params &p,
                                       int *mark)
{
    const int nh = p.n_hist, tid = threadIdx.x;
    if (penalty_on(p)) {
        const int from = window_start(nh, p.penalty_last_n); /* < 0: all (0 is off: penalty_on) */
        for (int i = from + tid; i < nh; i += SEL_THREADS) {
            const int32_t id = hist[i];
            if (id < 0 || id >= n || atomicAdd(&mark[id], 1)) continue;
            const float v = logits[id];
            logits[id] = v > 0 ? v / p.penalty : v * p.penalty;
        }
        __syncthreads();
        for (int i = from + tid; i < nh; i += SEL_THREADS)
            if (hist[i] >= 0 && hist[i] < n) mark[hist[i]] = 0;
        __syncthreads();
    }
    if (dry_on(p)) {
        const int from = window_start(nh, p.dry_last_n), len = nh - from;
        const int32_t *w = hist + from;
        /* end i: the length of its match with the history's suffix; the token after it continues the repeat */
        for (int i = tid; i <= len - 2; i += SEL_THREADS) {
            int k = 0;
            while (k <= i && w[i - k] == w[len - 1 - k]) k++;
            const int32_t next = w[i + 1];
            if (k > 0 && next >= 0 && next < n) atomicMax(&mark[next], k);
        }
        __syncthreads();
        for (int i = tid; i <= len - 2; i += SEL_THREADS) {
            const int32_t next = w[i + 1];
            if (next < 0 || next >= n) continue;
            const int k = atomicExch(&mark[next], 0);
            if (k >= p.dry_allowed_length && k > 0)
                logits[next] =
                    __fsub_rn(logits[next], dry_amount(p.dry_multiplier, p.dry_base, k - p.dry_allowed_length));
        }
        __syncthreads();
    }
}

/* The penalties alone (before the sort of all logits). */
static __global__ void __launch_bounds__(SEL_THREADS)
    penalty_kernel(float *logits, int n, const int32_t *hist, cuda_sample_params p, int *mark)
{
    apply_penalties(logits, n, hist, p, mark);
}

/* The penalties, then the argmax (the lowest id on ties), in one block. */
static __global__ void __launch_bounds__(SEL_THREADS)
    greedy_kernel(float *logits, int n, const int32_t *hist, cuda_sample_params p, int *mark, sample_outs out)
{
    __shared__ float wv[SEL_THREADS / WARP];
    __shared__ int wi[SEL_THREADS / WARP];
    apply_penalties(logits, n, hist, p, mark);
    float bv = -INFINITY;
    int bi = NO_INDEX;
    for (int i = threadIdx.x; i < n; i += SEL_THREADS) better(bv, bi, logits[i], i);
    for (int o = WARP / 2; o > 0; o >>= 1)
        better(bv, bi, __shfl_xor_sync(0xffffffffu, bv, o), __shfl_xor_sync(0xffffffffu, bi, o));
    if (threadIdx.x % WARP == 0) wv[threadIdx.x / WARP] = bv, wi[threadIdx.x / WARP] = bi;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < SEL_THREADS / WARP; w++) better(bv, bi, wv[w], wi[w]);
        put(out, bi == NO_INDEX ? 0 : bi);
    }
}

/* ids[i] = i, for the sort. */
static __global__ void iota_kernel(int *ids, int n)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) ids[i] = i;
}

typedef cub::BlockScan<double, SEL_THREADS> sel_scan;
typedef cub::BlockReduce<int, SEL_THREADS> sel_reduce;
typedef cub::BlockScan<int, SEL_THREADS> sel_count;

struct sel_shared {
    union {
        sel_scan::TempStorage scan;
        sel_reduce::TempStorage reduce;
        sel_count::TempStorage count;
    } tmp;
    int first;
};

struct int_min {
    __device__ int operator()(int a, int b) const { return a < b ? a : b; }
};

/* The lowest of every thread's candidate index (NO_INDEX: none), to all. */
static __device__ int first_of_block(sel_shared &sh, int mine)
{
    int f = sel_reduce(sh.tmp.reduce).Reduce(mine, int_min());
    if (threadIdx.x == 0) sh.first = f;
    __syncthreads();
    f = sh.first;
    __syncthreads(); /* tmp and first are reused */
    return f;
}

/* This thread's part [lo, hi) of [0, m): contiguous, so that a prefix over
 * the threads in order is a prefix over the candidates in order. */
static __device__ void part_of(int m, int &lo, int &hi)
{
    int per = (m + SEL_THREADS - 1) / SEL_THREADS;
    lo = min((int)threadIdx.x * per, m);
    hi = min(lo + per, m);
}

/* One block over the m candidates left after top-k, sorted by logit (key)
 * with their ids: sampler_sample from there on, the same float operations
 * in the same order within a candidate, the sums in double. */
static __device__ void chain(sel_shared &sh, const float *key, const int *id, int m, const cuda_sample_params &p,
                             const sample_outs &out)
{
    int lo, hi;
    const float mx = key[0];
    double mine = 0, before, sum;
    part_of(m, lo, hi);
    for (int i = lo; i < hi; i++) mine += expf(key[i] - mx);
    sel_scan(sh.tmp.scan).ExclusiveSum(mine, before, sum);
    __syncthreads();
    const float fsum = (float)sum; /* probabilities at temperature 1, for top-p and min-p */
    if (p.top_p < 1.0f && p.top_p > 0) {
        mine = 0;
        for (int i = lo; i < hi; i++) mine += expf(key[i] - mx) / fsum;
        sel_scan(sh.tmp.scan).ExclusiveSum(mine, before, sum);
        __syncthreads();
        int first = NO_INDEX;
        double cum = before;
        for (int i = lo; i < hi; i++)
            if ((cum += expf(key[i] - mx) / fsum) >= p.top_p) {
                first = i;
                break;
            }
        first = first_of_block(sh, first);
        if (first != NO_INDEX) m = first + 1;
        part_of(m, lo, hi);
    }
    if (p.min_p > 0) { /* the first candidate after the top below the floor ends the list */
        const float floor_p = expf(key[0] - mx) / fsum * p.min_p;
        int first = NO_INDEX;
        for (int i = lo > 1 ? lo : 1; i < hi; i++)
            if (!(expf(key[i] - mx) / fsum >= floor_p)) {
                first = i;
                break;
            }
        first = first_of_block(sh, first);
        if (first != NO_INDEX) m = first;
        part_of(m, lo, hi);
    }
    mine = 0;
    for (int i = lo; i < hi; i++) mine += expf((key[i] - mx) / p.temperature);
    sel_scan(sh.tmp.scan).ExclusiveSum(mine, before, sum);
    __syncthreads();
    const double r = p.r * sum;
    int first = NO_INDEX;
    double acc = before;
    for (int i = lo; i < hi; i++)
        if (r < (acc += expf((key[i] - mx) / p.temperature))) {
            first = i;
            break;
        }
    first = first_of_block(sh, first);
    if (threadIdx.x == 0) put(out, id[first == NO_INDEX ? m - 1 : first]);
}

/* The chain over all n logits sorted (keys, ids) by the device's radix sort. */
static __global__ void __launch_bounds__(SEL_THREADS)
    select_kernel(const float *key, const int *id, int n, cuda_sample_params p, sample_outs out)
{
    __shared__ sel_shared sh;
    chain(sh, key, id, p.top_k > 0 && p.top_k < n ? p.top_k : n, p, out);
}

/* A logit as the top-k selection reads it: NaN as -inf, so that at least
 * k candidates always reach the threshold (the host's order is undefined
 * for NaN; here it sorts last). */
static __device__ __forceinline__ float logit_at(const float *logits, int i)
{
    float v = logits[i];
    return v == v ? v : -INFINITY;
}

/* An unsigned image of a float in the same order; -0 maps as +0, the
 * samplers' comparisons taking them as equal. */
static __device__ __forceinline__ unsigned ordered(float f)
{
    unsigned u = __float_as_uint(f == 0.0f ? 0.0f : f);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

/* Whether candidate (ka, ia) comes before (kb, ib): higher logit, then lower id. */
static __device__ __forceinline__ bool first_of(float ka, int ia, float kb, int ib)
{
    return ka > kb || (ka == kb && ia < ib);
}

/* Sorts (key, id)[0..count), count <= CAND_MAX, best first in shared
 * memory: padded to a power of two with entries that sort last, then a
 * bitonic network. */
static __device__ void sort_block(float *key, int *id, int count)
{
    int pow2 = 1;
    while (pow2 < count) pow2 <<= 1;
    for (int i = count + threadIdx.x; i < pow2; i += SEL_THREADS) {
        key[i] = -INFINITY;
        id[i] = NO_INDEX;
    }
    __syncthreads();
    for (int size = 2; size <= pow2; size <<= 1)
        for (int stride = size / 2; stride > 0; stride >>= 1) {
            for (int i = threadIdx.x; i < pow2; i += SEL_THREADS) {
                int j = i ^ stride;
                if (j < i) continue;
                bool up = (i & size) == 0; /* this run is ordered best first */
                float a = key[i], b = key[j];
                int ia = id[i], ib = id[j];
                if (up ? first_of(b, ib, a, ia) : first_of(a, ia, b, ib)) {
                    key[i] = b;
                    key[j] = a;
                    id[i] = ib;
                    id[j] = ia;
                }
            }
            __syncthreads();
        }
}

/* The image t (ordered()) of the k-th largest of n values, image(i) each,
 * by a radix select: four passes of 8 bits, each a histogram of the
 * values that match t so far; *need: how many values at t are among the
 * k largest (k - *need lie above t). */
template <class Image>
static __device__ unsigned kth_image(int n, int k, Image image, int *need_out)
{
    __shared__ int hist[256];
    __shared__ int s_bin, s_need;
    const int tid = threadIdx.x;
    unsigned t = 0, mask = 0;
    int need = k; /* how many of the values matching t under mask are still to take, best first */
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = tid; i < 256; i += SEL_THREADS) hist[i] = 0;
        __syncthreads();
        for (int i = tid; i < n; i += SEL_THREADS) {
            unsigned u = image(i);
            if ((u & mask) == t) atomicAdd(&hist[(u >> shift) & 255], 1);
        }
        __syncthreads();
        if (tid < WARP) { /* the bin holding the need-th best: lane l sums bins 8l..8l+7 */
            int c[8], sum = 0;
            for (int j = 0; j < 8; j++) sum += c[j] = hist[tid * 8 + j];
            int suffix = sum; /* over lanes >= this one */
            for (int o = 1; o < WARP; o <<= 1) {
                int v = __shfl_down_sync(0xffffffffu, suffix, o);
                if (tid + o < WARP) suffix += v;
            }
            int acc = suffix - sum;
            if (acc < need && need <= suffix)
                for (int j = 7; j >= 0; j--) {
                    if (acc + c[j] >= need) {
                        s_bin = tid * 8 + j;
                        s_need = need - acc;
                        break;
                    }
                    acc += c[j];
                }
        }
        __syncthreads();
        t |= (unsigned)s_bin << shift;
        mask |= 255u << shift;
        need = s_need;
        __syncthreads(); /* hist is cleared next */
    }
    *need_out = need;
    return t;
}

/* The k best of logits[0..n) into (key, id)[0..k), in no order: the image
 * t of the k-th best (kth_image), then the logits above t and the lowest
 * ids at t. */
static __device__ void radix_select(sel_shared &sh, const float *logits, int n, int k, float *key, int *id)
{
    __shared__ int s_above;
    const int tid = threadIdx.x;
    int need;
    const unsigned t = kth_image(n, k, [logits](int i) { return ordered(logit_at(logits, i)); }, &need);
    if (tid == 0) s_above = 0;
    __syncthreads();
    /* k - need logits lie above t; of those at t, the need lowest ids */
    int per = (n + SEL_THREADS - 1) / SEL_THREADS, lo = min(tid * per, n), hi = min(lo + per, n), eq = 0, eq_before;
    for (int i = lo; i < hi; i++) {
        float v = logit_at(logits, i);
        unsigned u = ordered(v);
        if (u > t) {
            int slot = atomicAdd(&s_above, 1);
            key[slot] = v;
            id[slot] = i;
        } else {
            eq += u == t;
        }
    }
    sel_count(sh.tmp.count).ExclusiveSum(eq, eq_before);
    for (int i = lo; i < hi && eq_before < need; i++) {
        float v = logit_at(logits, i);
        if (ordered(v) == t) {
            key[k - need + eq_before] = v;
            id[k - need + eq_before] = i;
            eq_before++;
        }
    }
    __syncthreads();
}

/* The penalties and the chain for 0 < k = p.top_k <= TOPK_MAX, k < n, in one
 * block, without sorting all n. Each thread takes the largest of its
 * logits; the k-th largest of those, tau (a radix select over the
 * threads'), has at least k logits at or above it, so the k best are
 * among the logits >= tau: these are gathered and sorted in shared memory
 * (two passes over the logits; on random logits about k to 2k reach tau).
 * Where more than CAND_MAX do (many ties, or the best logits crowded into
 * few threads' shares), and for k over CAND_MAX / 4, a radix select over
 * the logits finds the k best instead. */
static __global__ void __launch_bounds__(SEL_THREADS)
    topk_kernel(float *logits, int n, const int32_t *hist, cuda_sample_params p, int *mark, sample_outs out)
{
    __shared__ sel_shared sh;
    __shared__ float ck[CAND_MAX];
    __shared__ int ci[CAND_MAX];
    __shared__ int s_count;
    const int k = p.top_k, tid = threadIdx.x;
    apply_penalties(logits, n, hist, p, mark); /* ends with a barrier */
    if (tid == 0) s_count = CAND_MAX + 1; /* the radix select unless the threshold finds few enough */
    __syncthreads();
    if (k <= CAND_MAX / 4) {
        float best = -INFINITY;
        for (int i = tid; i < n; i += SEL_THREADS) best = fmaxf(best, logit_at(logits, i));
        ck[tid] = best;
        __syncthreads();
        int need_;
        /* n > k: at least k threads hold a logit */
        const float *maxima = ck;
        const unsigned tau = kth_image(SEL_THREADS, k, [maxima](int i) { return ordered(maxima[i]); }, &need_);
        if (tid == 0) s_count = 0;
        __syncthreads();
        for (int i = tid; i < n; i += SEL_THREADS) {
            float v = logit_at(logits, i);
            if (ordered(v) >= tau) {
                int slot = atomicAdd(&s_count, 1);
                if (slot < CAND_MAX) {
                    ck[slot] = v;
                    ci[slot] = i;
                }
            }
        }
        __syncthreads();
    }
    int count = s_count;
    if (count > CAND_MAX) {
        __syncthreads();
        radix_select(sh, logits, n, k, ck, ci);
        count = k;
    }
    sort_block(ck, ci, count);
    chain(sh, ck, ci, k, p, out);
}

static size_t align256(size_t b) { return (b + 255) & ~(size_t)255; }

/* The sort's temporary bytes for n pairs (0 when CUB cannot say). */
static size_t sort_bytes(int n)
{
    size_t tb = 0;
    if (cub::DeviceRadixSort::SortPairsDescending(nullptr, tb, (const float *)nullptr, (float *)nullptr,
                                                  (const int *)nullptr, (int *)nullptr, n) != cudaSuccess)
        return 0;
    return tb;
}

/* The scratch: the marks (n ints, kept zero), the sort's keys, ids in and
 * out (n each), its temporary storage. */
extern "C" size_t cuda_sample_scratch(int n)
{
    if (n < 1) return 0;
    size_t tb = sort_bytes(n);
    return tb ? 4 * align256((size_t)n * 4) + align256(tb) : 0;
}

extern "C" cudaError_t cuda_sample(float *logits, int n, const cuda_sample_params *p, int32_t *hist, void *scratch,
                                   size_t scratch_bytes, int32_t *out, int32_t *out_host, cudaStream_t s)
{
    size_t need = cuda_sample_scratch(n);
    if (!need || scratch_bytes < need || !p || p->n_hist < 0 || !out) return cudaErrorInvalidValue;
    const bool pen = penalty_on(*p), dry = dry_on(*p);
    if ((pen || dry) && !hist) return cudaErrorInvalidValue;
    size_t a = align256((size_t)n * 4);
    char *base = (char *)scratch;
    int *mark = (int *)base;
    float *keys = (float *)(base + a);
    int *ids = (int *)(base + 2 * a), *ids_sorted = (int *)(base + 3 * a);
    void *tmp = base + 4 * a;
    const sample_outs outs = {out, hist ? hist + p->n_hist : nullptr, out_host};
    int sampled = !(p->temperature <= 0); /* as sampler_sample: NaN samples */
    int select = sampled && p->top_k > 0 && p->top_k < n && p->top_k <= TOPK_MAX; /* no full sort */
    if (!sampled || select) { /* the penalties in the same block */
        if (sampled) topk_kernel<<<1, SEL_THREADS, 0, s>>>(logits, n, hist, *p, mark, outs);
        else greedy_kernel<<<1, SEL_THREADS, 0, s>>>(logits, n, hist, *p, mark, outs);
        return cudaGetLastError();
    }
    if (pen || dry) penalty_kernel<<<1, SEL_THREADS, 0, s>>>(logits, n, hist, *p, mark);
    iota_kernel<<<(n + 255) / 256 < 1024 ? (n + 255) / 256 : 1024, 256, 0, s>>>(ids, n);
    size_t tb = scratch_bytes - 4 * a;
    cudaError_t e = cub::DeviceRadixSort::SortPairsDescending(tmp, tb, logits, keys, ids, ids_sorted, n, 0, 32, s);
    if (e != cudaSuccess) return e;
    select_kernel<<<1, SEL_THREADS, 0, s>>>(keys, ids_sorted, n, *p, outs);
    return cudaGetLastError();
}
