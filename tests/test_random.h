/* Random inputs for kernel tests: uniform floats, and weight rows in any
 * supported block format with random scales and every quant bit pattern
 * (never zeros, which hide unwritten outputs and wrong indexing). */
#ifndef HRT_TEST_RANDOM_H
#define HRT_TEST_RANDOM_H

#include <stdint.h>
#include <string.h>

#include "cpu/quant.h"

static uint64_t test_rng = 0x1234567ull;

/* uniform in [-1, 1) */
static inline float frand(void)
{
    test_rng = test_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((test_rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static inline void fill(float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) x[i] = frand() * scale;
}

/* f's bf16 bits, truncated (random inputs: whatever they round to is the input) */
static inline uint16_t bf16_trunc(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

/* A weight row of n elements of type t (GGUF layout). */
static inline void random_row(uint32_t t, void *dst, int n)
{
    if (t == GGML_TYPE_F32) {
        fill(dst, (size_t)n, 1);
    } else if (t == GGML_TYPE_F16 || t == GGML_TYPE_BF16) {
        for (int i = 0; i < n; i++) {
            float f = frand();
            ((uint16_t *)dst)[i] = t == GGML_TYPE_F16 ? fp32_to_fp16(f) : bf16_trunc(f);
        }
    } else {
        /* random bytes, then sane fp16 scales where the format keeps them */
        size_t bb = ggml_type_block_bytes(t);
        int blk = ggml_type_block(t);
        size_t d_at = t == GGML_TYPE_Q6_K ? 208 : 0; /* block_q6_K keeps d last */
        int has_m = t == GGML_TYPE_Q4_1 || t == GGML_TYPE_Q4_K;
        uint8_t *p = dst;
        for (int b = 0; b < n / blk; b++, p += bb) {
            for (size_t k = 0; k < bb; k++) p[k] = (uint8_t)(frand() * 128 + 128);
            float dscale = blk == 256 ? 0.002f : 0.05f; /* K-quants multiply by 6-8 bit sub-scales */
            uint16_t d = fp32_to_fp16(0.2f * dscale + dscale * (frand() + 1));
            uint16_t m = fp32_to_fp16(t == GGML_TYPE_Q4_K ? 0.004f * (frand() + 1) : -0.3f * (frand() + 1));
            memcpy(p + d_at, &d, 2);
            if (has_m) memcpy(p + 2, &m, 2);
        }
    }
}

#endif
