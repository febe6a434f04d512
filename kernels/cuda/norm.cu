#include "norm.h"

#include "common.cuh"

static __global__ void rmsnorm_kernel(void *out, uint32_t out_type, float *x, const float *residual, const float *w,
                                      int dim, float eps)
{
    __shared__ float scratch[32];
    float *xr = x + (size_t)blockIdx.x * dim;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float v = xr[i];
        if (residual) {
            v += residual[(size_t)blockIdx.x * dim + i];
            xr[i] = v;
        }
        ss += v * v;
    }
    ss = block_sum(ss, scratch);
    float scale = rsqrtf(ss / (float)dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        store_act(out, out_type, (size_t)blockIdx.x * dim + i, xr[i] * scale * w[i]);
}

static __global__ void layernorm_kernel(float *out, const float *x, const float *w, const float *b, int dim, float eps)
{
    __shared__ float scratch[32];
    const float *xr = x + (size_t)blockIdx.x * dim;
    float *orow = out + (size_t)blockIdx.x * dim;
    float s = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) s += xr[i];
    float mean = block_sum(s, scratch) / (float)dim;
    float v = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) v += (xr[i] - mean) * (xr[i] - mean);
    float scale = rsqrtf(block_sum(v, scratch) / (float)dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) orow[i] = (xr[i] - mean) * scale * w[i] + b[i];
}

static int threads_for(int dim) { return dim >= 1024 ? 1024 : dim >= 256 ? 256 : dim >= 128 ? 128 : 32; }

extern "C" cudaError_t cuda_rmsnorm(void *out, uint32_t out_type, float *x, const float *residual, const float *w,
                                    int n_rows, int dim, float eps, cudaStream_t s)
{
    rmsnorm_kernel<<<n_rows, threads_for(dim), 0, s>>>(out, out_type, x, residual, w, dim, eps);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_layernorm(float *out, const float *x, const float *w, const float *b, int n_rows, int dim,
                                      float eps, cudaStream_t s)
{
    layernorm_kernel<<<n_rows, threads_for(dim), 0, s>>>(out, x, w, b, dim, eps);
    return cudaGetLastError();
}
