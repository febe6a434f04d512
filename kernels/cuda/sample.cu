#include "sample.h"

#include "common.cuh"

/* One block of 1024 threads: each thread scans a strided slice, then a
 * shared-memory tree keeps (value, lowest index). */
static __global__ void argmax_kernel(const float *x, int n, int32_t *out)
{
    __shared__ float sv[1024];
    __shared__ int si[1024];
    float best = -INFINITY;
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        if (x[i] > best) best = x[i], bi = i;
    sv[threadIdx.x] = best;
    si[threadIdx.x] = bi;
    __syncthreads();
    for (int o = blockDim.x / 2; o > 0; o >>= 1) {
        if (threadIdx.x < o) {
            float v = sv[threadIdx.x + o];
            int i = si[threadIdx.x + o];
            if (v > sv[threadIdx.x] || (v == sv[threadIdx.x] && i < si[threadIdx.x])) {
                sv[threadIdx.x] = v;
                si[threadIdx.x] = i;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) *out = si[0] == 0x7fffffff ? 0 : si[0];
}

extern "C" cudaError_t cuda_argmax(const float *logits, int n, int32_t *out, cudaStream_t s)
{
    argmax_kernel<<<1, 1024, 0, s>>>(logits, n, out);
    return cudaGetLastError();
}
