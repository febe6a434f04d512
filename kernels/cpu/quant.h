/* Tensor element types and the block formats of ggml (the layouts GGUF
 * files store), with conversion and dot-product kernels.
 *
 * Block layouts (ggml-common.h of ggml, which GGUF files follow):
 *   Q4_0: 32 weights, { f16 d; u8 qs[16]; }          w = (q - 8) * d
 *   Q4_1: 32 weights, { f16 d, m; u8 qs[16]; }        w = q * d + m
 *   Q8_0: 32 weights, { f16 d; i8 qs[32]; }           w = q * d
 * A 4-bit block stores weight j in the low nibble of qs[j] and weight
 * j + 16 in the high nibble.
 *
 * Quantized weights meet activations quantized on the fly to 8 bits
 * (Q8_0, or Q8_1 which also carries d * sum(q) so the Q4_1 offset costs one
 * multiply per block), and the dot product runs in integers, as llama.cpp
 * does; this keeps results close to llama.cpp's. */
#ifndef HRT_QUANT_H
#define HRT_QUANT_H

#include <stddef.h>
#include <stdint.h>

enum ggml_type {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_COUNT = 40,
    /* hrt's own activation format (never a weight type, never in a file) */
    HRT_ACT_Q16 = GGML_TYPE_COUNT,
};

#define QK 32 /* weights per block for Q4_0, Q4_1, Q8_0, Q8_1 */

typedef struct { uint16_t d; uint8_t qs[QK / 2]; } block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[QK / 2]; } block_q4_1;
typedef struct { uint16_t d; int8_t qs[QK]; } block_q8_0;
typedef struct { float d, s; int8_t qs[QK]; } block_q8_1; /* activations only */
/* 16-bit activations: x = qs * d, s = d * sum(qs). Their rounding error is
 * 1/65534 of the block's largest value (1/254 for 8 bits), which keeps the
 * logits within float noise of the exact product while the weights still
 * meet the activations in integer multiply-adds. */
typedef struct { float d, s; int16_t qs[QK]; } block_q16;

/* Name ("Q4_1"), or NULL for an unknown id. */
const char *ggml_type_name(uint32_t type);
/* Elements per block and bytes per block; 0 for unknown types. */
int ggml_type_block(uint32_t type);
size_t ggml_type_block_bytes(uint32_t type);
/* Bytes of a row of n elements (n a multiple of the block size). */
size_t ggml_row_bytes(uint32_t type, int64_t n);
/* Whether the CPU backend can compute with this weight type. */
int ggml_type_supported(uint32_t type);

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);

/* Converts one row of n elements of type to floats. */
void dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);

/* Activation formats. The 8-bit one llama.cpp pairs with a weight type:
 * Q8_0 for Q4_0 and Q8_0, Q8_1 for Q4_1, F32 for float weights. Quantized
 * weights may also meet HRT_ACT_Q16 (16-bit integers) or F32 activations
 * (weights dequantized in registers, no rounding of activations). */
uint32_t vec_dot_type(uint32_t weight_type);
/* Bytes of an activation row of n elements in act_type. */
size_t act_row_bytes(uint32_t act_type, int64_t n);
/* Converts a float row into act_type. */
void quantize_act_row(uint32_t act_type, const float *x, void *dst, int64_t n);
/* dot(weight row, activation row in act_type), n elements. */
float vec_dot(uint32_t weight_type, uint32_t act_type, const void *w, const void *act, int64_t n);

/* vec_dot of one weight row against 4 activation rows stride bytes apart. */
void vec_dot4(uint32_t weight_type, uint32_t act_type, const void *w, const void *act, size_t stride, int64_t n,
              float out[4]);

/* Reference (scalar) forms, used by tests to check the SIMD paths. */
float vec_dot_ref(uint32_t weight_type, uint32_t act_type, const void *w, const void *act, int64_t n);
void quantize_row_q8_0_ref(const float *x, block_q8_0 *y, int64_t n);
void quantize_row_q8_1_ref(const float *x, block_q8_1 *y, int64_t n);
void quantize_row_q16_ref(const float *x, block_q16 *y, int64_t n);

/* Whether the AVX2 (+FMA, F16C) and the AVX-512 VNNI paths are in use. */
int cpu_has_avx2(void);
int cpu_has_avx512(void);
/* Caps the SIMD level (0 scalar, 1 AVX2, 2 AVX-512 VNNI) at what the CPU
 * has; -1 restores the best. Returns the level in force. For tests and
 * benchmarks: not thread-safe against running products. */
int cpu_set_simd_level(int level);

#endif
