/* Device helpers shared by the kernel files (not part of any C interface). */
#ifndef HRT_CUDA_COMMON_CUH
#define HRT_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

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

#endif
