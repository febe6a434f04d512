#include "sample.h"

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
    __shared__ float sv[BLOCKS];
    __shared__ int si[BLOCKS];
    block_best(sv, si, pv[threadIdx.x], pi[threadIdx.x]);
    if (threadIdx.x == 0) *out = si[0] == 0x7fffffff ? 0 : si[0];
}

extern "C" cudaError_t cuda_argmax(const float *logits, int n, void *scratch, int32_t *out, cudaStream_t s)
{
    float *pv = (float *)scratch;
    int *pi = (int *)((char *)scratch + BLOCKS * sizeof(float));
    argmax_partial<<<BLOCKS, THREADS, 0, s>>>(logits, n, pv, pi);
    argmax_final<<<1, BLOCKS, 0, s>>>(pv, pi, out);
    return cudaGetLastError();
}
