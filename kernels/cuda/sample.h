/* Sampling on the GPU. */
#ifndef HRT_CUDA_SAMPLE_H
#define HRT_CUDA_SAMPLE_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* *out = argmax of logits[0..n) (the lowest id on ties). */
cudaError_t cuda_argmax(const float *logits, int n, int32_t *out, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif
