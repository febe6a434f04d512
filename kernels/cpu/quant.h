/* Tensor element types and the block formats of ggml (the layouts GGUF
 * files store), with conversion and dot-product kernels.
 *
 * Block layouts (ggml-common.h of ggml, which GGUF files follow):
 *   Q4_0: 32 weights, { f16 d; u8 qs[16]; }          w = (q - 8) * d
 *   Q4_1: 32 weights, { f16 d, m; u8 qs[16]; }        w = q * d + m
 *   Q8_0: 32 weights, { f16 d; i8 qs[32]; }           w = q * d
 *   Q5_0: 32 weights, { f16 d; u8 qh[4]; u8 qs[16]; } w = (q - 16) * d, q's
 *         low 4 bits as in Q4_0 and bit 4 of weight j in bit j of qh
 * A 4-bit block stores weight j in the low nibble of qs[j] and weight
 * j + 16 in the high nibble.
 *
 * K-quants (ggml-common.h, "k-quants" by ikawrakow) group 256 weights in a
 * super-block with sub-block scales quantized against a super-block scale:
 *   Q4_K: { f16 d, dmin; u8 scales[12]; u8 qs[128]; }  8 sub-blocks of 32,
 *         6-bit scale sc and minimum mn each (packed in scales[12], see
 *         k4_scale_min()), w = d * sc * q - dmin * mn, q 4 bits; each
 *         64 weights take 32 bytes of qs: the first 32 weights in the low
 *         nibbles, the next 32 in the high nibbles.
 *   Q6_K: { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d; }  16 sub-blocks
 *         of 16, w = d * scales[s] * (q - 32), q 6 bits: 4 low bits in ql,
 *         2 high bits in qh (layout in dequantize_row()).
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

typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; } block_q5_0;
#define QK_K 256 /* weights per K-quant super-block */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; } block_q4_K;
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; } block_q6_K;

/* Sub-block j (0..7) of a Q4_K super-block: its 6-bit scale and minimum. */
static inline void k4_scale_min(const uint8_t *scales, int j, int *sc, int *mn)
{
    if (j < 4) {
        *sc = scales[j] & 63;
        *mn = scales[j + 4] & 63;
    } else {
        *sc = (scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4);
        *mn = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
    }
}

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

/* Group g (32 weights) of a Q5_0, Q4_K or Q6_K row as integers with float
 * scales: w[j] = q[j] * scale[j / 16] + offset (the two scales are equal
 * except for Q6_K, whose sub-blocks are 16 wide; offset is 0 except for
 * Q4_K). For repacking into other layouts (the CUDA backend's). Returns 0,
 * or -1 for another type. */
int quant_group_ints(uint32_t type, const void *row, int64_t g, int8_t q[32], float scale[2], float *offset);

/* Converts one row of n elements of type to floats. */
void dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);

/* Activation formats. The 8-bit one llama.cpp pairs with a weight type:
 * Q8_0 for Q4_0, Q5_0 and Q8_0, Q8_1 for Q4_1, F32 for float weights.
 * llama.cpp meets K-quants with its Q8_K; hrt has no Q8_K and gives them
 * 16-bit activations (HRT_ACT_Q16) in every integer mode. Quantized
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
