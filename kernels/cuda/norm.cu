#include "norm.h"

#include "common.cuh"

static __global__ void rmsnorm_kernel(void *out, uint32_t out_type, float *x, const float *residual, const float *w,
                                      int dim, float eps)
{
    __shared__ float scratch[32];
    pdl_wait();
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

/* The same with one warp a row (ROWS a block) for several rows (a prompt's,
 * or the per-head Q/K norms) of a width that is a multiple of 4, up to
 * 4 * 32 * MAX_NV = 2,048: a block a row left most of a 256-thread block
 * idle on rows of a few hundred values. A lane holds its NV groups of four
 * and the weights' in registers, all loaded at once, so that a row costs
 * one round trip to memory however the compiler schedules a loop over them
 * (on the H100 2,040 rows of 896 took 6.9 us under Nsight Compute where the
 * weights were loaded after the sum, 8.4; docs/PERFORMANCE.md). */
enum { ROWS = 8, MAX_NV = 16 };
template <int NV>
static __global__ void __launch_bounds__(ROWS *WARP)
    rmsnorm_rows_kernel(void *out, uint32_t out_type, float *x, const float *residual, const float *w, int n_rows,
                        int dim, float eps)
{
    const int row = blockIdx.x * ROWS + threadIdx.x / WARP, lane = threadIdx.x % WARP, n4 = dim / 4;
    pdl_wait();
    if (row >= n_rows) return;
    float4 *xr = (float4 *)(x + (size_t)row * dim);
    const float4 *rr = residual ? (const float4 *)(residual + (size_t)row * dim) : NULL;
    float4 v[NV], r[NV], g[NV];
#pragma unroll
    for (int j = 0; j < NV; j++) {
        const int i = lane + j * WARP;
        const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        v[j] = i < n4 ? xr[i] : zero;
        r[j] = i < n4 && rr ? rr[i] : zero;
        g[j] = i < n4 ? __ldg((const float4 *)w + i) : zero;
    }
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < NV; j++) {
        if (rr) {
            v[j] = make_float4(v[j].x + r[j].x, v[j].y + r[j].y, v[j].z + r[j].z, v[j].w + r[j].w);
            if (lane + j * WARP < n4) xr[lane + j * WARP] = v[j];
        }
        ss += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    }
    const float scale = rsqrtf(warp_sum(ss) / (float)dim + eps);
#pragma unroll
    for (int j = 0; j < NV; j++) {
        const int i = lane + j * WARP;
        if (i >= n4) break;
        const float y[4] = {v[j].x * scale * g[j].x, v[j].y * scale * g[j].y, v[j].z * scale * g[j].z,
                            v[j].w * scale * g[j].w};
        store4_act(out, out_type, (size_t)row * n4 + i, y);
    }
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
    const uintptr_t bases = (uintptr_t)out | (uintptr_t)x | (uintptr_t)residual | (uintptr_t)w;
    const int nv = (dim / 4 + WARP - 1) / WARP, blocks = (n_rows + ROWS - 1) / ROWS;
    if (n_rows > 1 && dim % 4 == 0 && bases % 16 == 0 && nv <= MAX_NV) {
#define ROWS_KERNEL(NV) \
    launch_pdl(rmsnorm_rows_kernel<NV>, blocks, ROWS * WARP, 0, s, out, out_type, x, residual, w, n_rows, dim, eps)
        return nv <= 1   ? ROWS_KERNEL(1)
               : nv <= 2 ? ROWS_KERNEL(2)
               : nv <= 4 ? ROWS_KERNEL(4)
               : nv <= 8 ? ROWS_KERNEL(8)
                         : ROWS_KERNEL(MAX_NV);
#undef ROWS_KERNEL
    }
    return launch_pdl(rmsnorm_kernel, n_rows, threads_for(dim), 0, s, out, out_type, x, residual, w, dim, eps);
}

extern "C" cudaError_t cuda_layernorm(float *out, const float *x, const float *w, const float *b, int n_rows, int dim,
                                      float eps, cudaStream_t s)
{
    layernorm_kernel<<<n_rows, threads_for(dim), 0, s>>>(out, x, w, b, dim, eps);
    return cudaGetLastError();
}
