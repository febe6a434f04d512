/* Device helpers shared by the kernel files (not part of any C interface). */
#ifndef HRT_CUDA_COMMON_CUH
#define HRT_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdlib.h>

#include <atomic>
#include <utility>

#define WARP 32

/* ggml type ids used here (kernels/cpu/quant.h) */
enum { T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q8_0 = 8, T_Q4_K = 12, T_Q6_K = 14, T_BF16 = 30,
       T_NONE = 40 };

static __device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32, at most 1024); every
 * thread gets the result. scratch holds 32 floats. */
static __device__ __forceinline__ float block_sum(float v, float *scratch)
{
    int lane = threadIdx.x % WARP, wid = threadIdx.x / WARP, nw = blockDim.x / WARP;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[wid] = v;
    __syncthreads();
    v = lane < nw ? scratch[lane] : 0.0f;
    return warp_sum(v);
}

static __device__ __forceinline__ float block_max(float v, float *scratch)
{
    int lane = threadIdx.x % WARP, wid = threadIdx.x / WARP, nw = blockDim.x / WARP;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[wid] = v;
    __syncthreads();
    v = lane < nw ? scratch[lane] : -INFINITY;
    return warp_max(v);
}

/* The first key a query sees: a sliding window keeps the latest window of
 * its len keys (0 = no window). */
static __host__ __device__ __forceinline__ int window_start(int len, int window)
{
    return window > 0 && len > window ? len - window : 0;
}

/* Keeps (value, lowest index) of two argmax candidates in a. */
static __device__ __forceinline__ void better(float &av, int &ai, float bv, int bi)
{
    if (bv > av || (bv == av && bi < ai)) av = bv, ai = bi;
}

static __device__ __forceinline__ float silu(float g) { return g / (1.0f + expf(-g)); }
/* GELU, tanh approximation (HF's gelu_pytorch_tanh; Gemma) */
static __device__ __forceinline__ float gelu_tanh(float g)
{
    return 0.5f * g * (1.0f + tanhf(0.79788456080286536f * (g + 0.044715f * g * g * g)));
}

/* gelu ? GELU(g) u : SiLU(g) u, both as g u / (1 + e^-y): GELU's tanh form
 * is g sigmoid(2z), z = sqrt(2 / pi) (g + 0.044715 g^3), since (1 + tanh z) / 2
 * = 1 / (1 + e^-2z). The fast exponential and division: with expf, an
 * IEEE division and a 64-bit division a vector for its row, the prompt's
 * SiLU GLU kept 70% of the issue slots busy (Nsight Compute, 2,040 rows of
 * Qwen2.5-0.5B's shape, H200); this form took 26.4 us there against 27.3,
 * and 9.2 against 10.1 at 510 rows. They err by a few units of f32 (the
 * tests hold the GLU to 1e-5 of |v| + 1); a denominator past 2^126 gives
 * 0, the limit of g e^y. */
static __device__ __forceinline__ float glu1(float g, float u, int gelu)
{
    const float y = gelu ? 1.5957691216057308f * (g + 0.044715f * g * g * g) : g;
    return __fdividef(g, 1.0f + __expf(-y)) * u;
}

/* v as fp16 (type T_F16) or bf16 (otherwise) bits, rounded to nearest */
static __device__ __forceinline__ uint16_t to_16bit(uint32_t type, float v)
{
    return type == T_F16 ? __half_as_ushort(__float2half_rn(v)) : __bfloat16_as_ushort(__float2bfloat16_rn(v));
}

/* Element i of an activation buffer of ggml type `type`: f32, or the
 * 16-bit input of a GEMM, fp16 or bf16, rounded to nearest. */
static __device__ __forceinline__ void store_act(void *out, uint32_t type, size_t i, float v)
{
    if (type == T_F16 || type == T_BF16) ((uint16_t *)out)[i] = to_16bit(type, v);
    else ((float *)out)[i] = v;
}

/* Elements 4 i4 .. 4 i4 + 3 of such a buffer in one vector store (the
 * buffer 16-byte aligned for f32, 8 for 16 bits). */
static __device__ __forceinline__ void store4_act(void *out, uint32_t type, size_t i4, const float v[4])
{
    if (type == T_F16 || type == T_BF16) {
        const uint32_t h[4] = {to_16bit(type, v[0]), to_16bit(type, v[1]), to_16bit(type, v[2]), to_16bit(type, v[3])};
        ((uint2 *)out)[i4] = make_uint2(h[0] | h[1] << 16, h[2] | h[3] << 16);
    } else {
        ((float4 *)out)[i4] = make_float4(v[0], v[1], v[2], v[3]);
    }
}

/* fp16 rounded to nearest, saturating at +-65504 as the prompt attention's
 * own conversion does (cvt.rn.satfinite); NaN stays NaN */
static __device__ __forceinline__ __half half_sat(float x)
{
    return __float2half_rn(x != x ? x : fminf(fmaxf(x, -65504.0f), 65504.0f));
}

/* RoPE's (cos, sin) for position pos at one of its frequencies: the angle
 * in double, the results rounded to float. The kernels that rotate all take
 * their angles from here, so that they agree to the bit. */
static __device__ __forceinline__ float2 rope_angle(int pos, double inv_freq)
{
    double sn, cs;
    sincos((double)pos * inv_freq, &sn, &cs);
    return make_float2((float)cs, (float)sn);
}

static __device__ __forceinline__ float h2f(uint16_t h) { return __half2float(__ushort_as_half(h)); }
static __device__ __forceinline__ float bf2f(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

/* Lets kernel k have all the dynamic shared memory a block may have beside
 * its static arrays (so that sessions of different models can share it);
 * cudaErrorNotSupported when dyn bytes of it do not fit. */
static inline cudaError_t allow_smem(const void *k, size_t dyn)
{
    int dev = 0, optin = 0;
    cudaFuncAttributes fa;
    cudaError_t e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    if (e == cudaSuccess) e = cudaFuncGetAttributes(&fa, k);
    if (e != cudaSuccess) return e;
    if (fa.sharedSizeBytes + dyn > (size_t)optin) return cudaErrorNotSupported;
    return cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, optin - (int)fa.sharedSizeBytes);
}

/* Programmatic dependent launch (sm_90 on; HRT_CUDA_PDL=0 turns it off):
 * a kernel launched through launch_pdl may be scheduled before the kernel
 * in front of it in the stream has finished, so that its launch overlaps
 * that kernel's last blocks. It must call pdl_wait() before it touches
 * memory: the wait returns once all earlier work in the stream is done and
 * its writes are visible (PTX ISA, griddepcontrol; CUDA Programming Guide,
 * "Programmatic Dependent Launch and Synchronization"), and a kernel that
 * follows can in turn finish only after it. None of ours triggers its
 * dependents early. Launched without the attribute, the wait returns at
 * once. The prompt's and the per-operation decode step's kernels take it
 * (not cuBLAS's, nor the persistent decode kernel): on an H200 Qwen2.5-0.5B's
 * shape prefilled 2,048 tokens 3-4% faster, SmolLM2-135M 5-7%, and the
 * SmolLM2 shape's per-operation decode ran 11% faster (docs/PERFORMANCE.md). */
static __device__ __forceinline__ void pdl_wait()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

/* A fact about the current device, found once a device: cache (HRT_MAX_DEV
 * entries, zero-initialized) holds find(dev) + 1 once found (find returns a
 * value >= 0). -1 when no device is current or its index is past the cache
 * (find may be costly: the sm_90a probe launches a kernel); the callers
 * then leave their feature off. */
enum { HRT_MAX_DEV = 64 };
template <typename F> static inline int device_fact(std::atomic<int> *cache, F find)
{
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= HRT_MAX_DEV) return -1;
    int v = cache[dev].load(std::memory_order_acquire);
    if (v == 0) {
        v = find(dev) + 1;
        cache[dev].store(v, std::memory_order_release);
    }
    return v - 1;
}

/* Whether launches on the current device take the attribute, found once a
 * device, so that a process driving an sm_80 and an sm_90 device gives it
 * to the second only. */
static inline int pdl_on(void)
{
    static std::atomic<int> known[HRT_MAX_DEV];
    return device_fact(known, [](int dev) {
               int major = 0;
               const char *e = getenv("HRT_CUDA_PDL");
               return !(e && e[0] == '0') &&
                      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
                      major >= 9;
           }) == 1;
}

template <typename... K, typename... A>
static cudaError_t launch_pdl(void (*kernel)(K...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, A &&...args)
{
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cfg.attrs = attr;
    cfg.numAttrs = pdl_on() ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, std::forward<A>(args)...);
}

#endif
