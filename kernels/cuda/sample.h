/* Sampling on the GPU. */
#ifndef HRT_CUDA_SAMPLE_H
#define HRT_CUDA_SAMPLE_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of scratch cuda_argmax needs. */
#define CUDA_ARGMAX_SCRATCH 1024

/* *out = argmax of logits[0..n) (the lowest id on ties), in two passes:
 * blocks reduce slices into scratch (device memory, CUDA_ARGMAX_SCRATCH
 * bytes), one block reduces those. */
cudaError_t cuda_argmax(const float *logits, int n, void *scratch, int32_t *out, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
