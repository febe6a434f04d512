#include "quant.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HRT_X86 1
#define TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

/* ---- type table -------------------------------------------------------- */
typedef struct {
    const char *name;
    int block;       /* elements per block */
    size_t bytes;    /* bytes per block */
    int supported;   /* usable as a weight by the CPU backend */
} type_info;

static const type_info types[GGML_TYPE_COUNT] = {
    [GGML_TYPE_F32] = {"F32", 1, 4, 1},
    [GGML_TYPE_F16] = {"F16", 1, 2, 1},
    [GGML_TYPE_Q4_0] = {"Q4_0", 32, 18, 1},
    [GGML_TYPE_Q4_1] = {"Q4_1", 32, 20, 1},
    [GGML_TYPE_Q5_0] = {"Q5_0", 32, 22, 1},
    [GGML_TYPE_Q5_1] = {"Q5_1", 32, 24, 0},
    [GGML_TYPE_Q8_0] = {"Q8_0", 32, 34, 1},
    [GGML_TYPE_Q8_1] = {"Q8_1", 32, 36, 0},
    [GGML_TYPE_Q2_K] = {"Q2_K", 256, 84, 0},
    [GGML_TYPE_Q3_K] = {"Q3_K", 256, 110, 0},
    [GGML_TYPE_Q4_K] = {"Q4_K", 256, 144, 1},
    [GGML_TYPE_Q5_K] = {"Q5_K", 256, 176, 0},
    [GGML_TYPE_Q6_K] = {"Q6_K", 256, 210, 1},
    [GGML_TYPE_Q8_K] = {"Q8_K", 256, 292, 0},
    [GGML_TYPE_I8] = {"I8", 1, 1, 0},
    [GGML_TYPE_I16] = {"I16", 1, 2, 0},
    [GGML_TYPE_I32] = {"I32", 1, 4, 0},
    [GGML_TYPE_I64] = {"I64", 1, 8, 0},
    [GGML_TYPE_F64] = {"F64", 1, 8, 0},
    [GGML_TYPE_BF16] = {"BF16", 1, 2, 1},
};

const char *ggml_type_name(uint32_t t) { return t < GGML_TYPE_COUNT ? types[t].name : NULL; }
int ggml_type_block(uint32_t t) { return t < GGML_TYPE_COUNT ? types[t].block : 0; }
size_t ggml_type_block_bytes(uint32_t t) { return t < GGML_TYPE_COUNT ? types[t].bytes : 0; }
int ggml_type_supported(uint32_t t) { return t < GGML_TYPE_COUNT && types[t].supported; }

size_t ggml_row_bytes(uint32_t t, int64_t n)
{
    return (size_t)(n / types[t].block) * types[t].bytes;
}

/* ---- scalar conversions ------------------------------------------------ */
static inline float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float fp16_to_fp32(uint16_t h)
{
    /* Exact conversion of IEEE half to single (no F16C needed). */
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return f32_from_bits(sign);
        float v = ldexpf((float)man, -24); /* subnormal */
        return sign ? -v : v;
    }
    if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (man << 13));
    return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t fp32_to_fp16(float f)
{
    /* Round to nearest even, with overflow to inf and subnormals. */
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffff;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* >= 65520 rounds to inf */
    if (ax < 0x38800000u) {                                 /* below 2^-14: subnormal */
        float v = f32_from_bits(ax) * 16777216.0f;          /* scale by 2^24 */
        return (uint16_t)(sign | (uint32_t)lrintf(v));
    }
    uint32_t r = ax + 0xfff + ((ax >> 13) & 1);
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

float bf16_to_fp32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

static inline float fp16_round(float x) { return fp16_to_fp32(fp32_to_fp16(x)); }

/* ---- dequantization ---------------------------------------------------- */
/* The 32 integer weights of a Q5_0 block (q - 16), in element order. */
static void q5_0_ints(const block_q5_0 *b, int8_t q[QK])
{
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    for (int j = 0; j < QK / 2; j++) {
        q[j] = (int8_t)(((b->qs[j] & 0x0f) | (((qh >> j) & 1) << 4)) - 16);
        q[j + QK / 2] = (int8_t)(((b->qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16);
    }
}

/* Group g (0..7) of 32 weights of a K-quant super-block as integers:
 *   Q4_K: 64 weights take 32 bytes of qs, the first 32 in the low nibbles,
 *         the next 32 in the high ones; q in 0..15.
 *   Q6_K: each half of 128 weights takes 64 bytes of ql and 32 of qh; its
 *         four runs of 32 have low bits in ql[l] (low nibble), ql[l + 32]
 *         (low), ql[l] (high), ql[l + 32] (high) and high bits in qh[l] at
 *         bits 0, 2, 4, 6; q - 32 in -32..31. */
static void k_group_ints(uint32_t type, const void *b, int g, int8_t q[32])
{
    if (type == GGML_TYPE_Q4_K) {
        const uint8_t *qs = ((const block_q4_K *)b)->qs + 32 * (g / 2);
        for (int l = 0; l < 32; l++) q[l] = (int8_t)(g % 2 ? qs[l] >> 4 : qs[l] & 0x0f);
        return;
    }
    const block_q6_K *x = b;
    const uint8_t *ql = x->ql + 64 * (g / 4) + (g % 2 ? 32 : 0), *qh = x->qh + 32 * (g / 4);
    int r = g % 4;
    for (int l = 0; l < 32; l++) {
        int lo = r < 2 ? ql[l] & 0x0f : ql[l] >> 4;
        q[l] = (int8_t)((lo | (((qh[l] >> (2 * r)) & 3) << 4)) - 32);
    }
}

static void q4_K_ints(const block_q4_K *b, int8_t q[QK_K])
{
    for (int g = 0; g < 8; g++) k_group_ints(GGML_TYPE_Q4_K, b, g, q + 32 * g);
}

static void q6_K_ints(const block_q6_K *b, int8_t q[QK_K])
{
    for (int g = 0; g < 8; g++) k_group_ints(GGML_TYPE_Q6_K, b, g, q + 32 * g);
}

int quant_group_ints(uint32_t type, const void *row, int64_t g, int8_t q[32], float scale[2], float *offset)
{
    *offset = 0;
    switch (type) {
    case GGML_TYPE_Q5_0: {
        const block_q5_0 *b = (const block_q5_0 *)row + g;
        q5_0_ints(b, q);
        scale[0] = scale[1] = fp16_to_fp32(b->d);
        return 0;
    }
    case GGML_TYPE_Q4_K: {
        const block_q4_K *b = (const block_q4_K *)row + g / 8;
        int sc, mn;
        k4_scale_min(b->scales, (int)(g % 8), &sc, &mn);
        k_group_ints(type, b, (int)(g % 8), q);
        scale[0] = scale[1] = fp16_to_fp32(b->d) * (float)sc;
        *offset = -(fp16_to_fp32(b->dmin) * (float)mn);
        return 0;
    }
    case GGML_TYPE_Q6_K: {
        const block_q6_K *b = (const block_q6_K *)row + g / 8;
        float d = fp16_to_fp32(b->d);
        k_group_ints(type, b, (int)(g % 8), q);
        scale[0] = d * (float)b->scales[2 * (g % 8)];
        scale[1] = d * (float)b->scales[2 * (g % 8) + 1];
        return 0;
    }
    default: return -1;
    }
}

static int simd(void);
#ifdef HRT_X86
TARGET_AVX2 static int dequantize_avx2(uint32_t type, const void *src, float *dst, int64_t n);
#endif

void dequantize_row(uint32_t type, const void *src, float *dst, int64_t n)
{
#ifdef HRT_X86
    if (simd() >= 1 && dequantize_avx2(type, src, dst, n)) return;
#endif
    switch (type) {
    case GGML_TYPE_F32: memcpy(dst, src, (size_t)n * 4); return;
    case GGML_TYPE_F16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = fp16_to_fp32(s[i]);
        return;
    }
    case GGML_TYPE_BF16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_fp32(s[i]);
        return;
    }
    case GGML_TYPE_Q4_0: {
        const block_q4_0 *b = src;
        for (int64_t i = 0; i < n / QK; i++, dst += QK) {
            float d = fp16_to_fp32(b[i].d);
            for (int j = 0; j < QK / 2; j++) {
                dst[j] = ((b[i].qs[j] & 0x0f) - 8) * d;
                dst[j + QK / 2] = ((b[i].qs[j] >> 4) - 8) * d;
            }
        }
        return;
    }
    case GGML_TYPE_Q4_1: {
        const block_q4_1 *b = src;
        for (int64_t i = 0; i < n / QK; i++, dst += QK) {
            float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
            for (int j = 0; j < QK / 2; j++) {
                dst[j] = (b[i].qs[j] & 0x0f) * d + m;
                dst[j + QK / 2] = (b[i].qs[j] >> 4) * d + m;
            }
        }
        return;
    }
    case GGML_TYPE_Q8_0:
    case GGML_TYPE_Q5_0: { /* w = q * d, q read whole (Q8_0) or rebuilt (Q5_0) */
        const block_q8_0 *b8 = src;
        const block_q5_0 *b5 = src;
        int8_t q5[QK];
        for (int64_t i = 0; i < n / QK; i++, dst += QK) {
            const int8_t *q = type == GGML_TYPE_Q8_0 ? b8[i].qs : q5;
            if (type == GGML_TYPE_Q5_0) q5_0_ints(&b5[i], q5);
            float d = fp16_to_fp32(type == GGML_TYPE_Q8_0 ? b8[i].d : b5[i].d);
            for (int j = 0; j < QK; j++) dst[j] = q[j] * d;
        }
        return;
    }
    case GGML_TYPE_Q4_K: {
        /* w = (d * sc) * q - (dmin * mn), as ggml's dequantize_row_q4_K */
        const block_q4_K *b = src;
        int8_t q[QK_K];
        for (int64_t i = 0; i < n / QK_K; i++) {
            float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
            q4_K_ints(&b[i], q);
            for (int j = 0; j < 8; j++, dst += 32) {
                int sc, mn;
                k4_scale_min(b[i].scales, j, &sc, &mn);
                float ds = d * (float)sc, dm = dmin * (float)mn;
                for (int l = 0; l < 32; l++) dst[l] = ds * q[32 * j + l] - dm;
            }
        }
        return;
    }
    case GGML_TYPE_Q6_K: {
        const block_q6_K *b = src;
        int8_t q[QK_K];
        for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
            float d = fp16_to_fp32(b[i].d);
            q6_K_ints(&b[i], q);
            for (int j = 0; j < QK_K; j++) dst[j] = d * (float)b[i].scales[j / 16] * (float)q[j];
        }
        return;
    }
    default:
        /* Callers check ggml_type_supported() first. */
        memset(dst, 0, (size_t)n * sizeof *dst);
    }
}

/* ---- activation quantization -------------------------------------------- */
/* The scale is stored as fp16 and the values rounded with it, exactly as
 * llama.cpp's quantize_row_q8_0/q8_1 do, so both see the same integers. */
/* As llama.cpp's x86 quantize_row_q8_0/q8_1: q = round-half-even(x * 127/amax),
 * the scale d = amax/127 stored as fp16 (and for q8_1, s = d * sum(q) as
 * fp16). Matching its rounding matters: with 8-bit activations a different
 * rounding of one value moves logits by more than float noise does. */
static float block_absmax(const float *x)
{
    float amax = 0;
    for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
    return amax;
}

void quantize_row_q8_0_ref(const float *x, block_q8_0 *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = block_absmax(x);
        float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < QK; j++) y[i].qs[j] = (int8_t)nearbyintf(x[j] * id);
    }
}

void quantize_row_q8_1_ref(const float *x, block_q8_1 *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = block_absmax(x);
        float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            y[i].qs[j] = (int8_t)nearbyintf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].d = fp16_round(d);
        y[i].s = fp16_round(d * (float)sum);
    }
}

void quantize_row_q16_ref(const float *x, block_q16 *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = block_absmax(x);
        float d = amax / 32767.0f, id = amax != 0.0f ? 32767.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            y[i].qs[j] = (int16_t)nearbyintf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].d = d;
        y[i].s = d * (float)sum;
    }
}

/* Quantized weights in blocks of 32 with one scale (block_i8() reads them). */
static int is_block_quant(uint32_t wt)
{
    return wt == GGML_TYPE_Q4_0 || wt == GGML_TYPE_Q4_1 || wt == GGML_TYPE_Q5_0 || wt == GGML_TYPE_Q8_0;
}

static int is_k_quant(uint32_t wt) { return wt == GGML_TYPE_Q4_K || wt == GGML_TYPE_Q6_K; }

uint32_t vec_dot_type(uint32_t wt)
{
    switch (wt) {
    case GGML_TYPE_Q4_0:
    case GGML_TYPE_Q5_0:
    case GGML_TYPE_Q8_0: return GGML_TYPE_Q8_0;
    case GGML_TYPE_Q4_1: return GGML_TYPE_Q8_1;
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q6_K: return HRT_ACT_Q16;
    default: return GGML_TYPE_F32;
    }
}

size_t act_row_bytes(uint32_t at, int64_t n)
{
    switch (at) {
    case GGML_TYPE_Q8_0: return (size_t)(n / QK) * sizeof(block_q8_0);
    case GGML_TYPE_Q8_1: return (size_t)(n / QK) * sizeof(block_q8_1);
    case HRT_ACT_Q16: return (size_t)(n / QK) * sizeof(block_q16);
    default: return (size_t)n * sizeof(float);
    }
}

#ifdef HRT_X86
TARGET_AVX2 static void quantize_q16_avx2(const float *x, block_q16 *y, int64_t nb);
TARGET_AVX2 static void quantize_q8_avx2(const float *x, void *dst, int64_t nb, int with_sum);
#endif

void quantize_act_row(uint32_t at, const float *x, void *dst, int64_t n)
{
#ifdef HRT_X86
    if (simd() >= 1) {
        switch (at) {
        case GGML_TYPE_Q8_0: quantize_q8_avx2(x, dst, n / QK, 0); return;
        case GGML_TYPE_Q8_1: quantize_q8_avx2(x, dst, n / QK, 1); return;
        case HRT_ACT_Q16: quantize_q16_avx2(x, dst, n / QK); return;
        default: break;
        }
    }
#endif
    switch (at) {
    case GGML_TYPE_Q8_0: quantize_row_q8_0_ref(x, dst, n); return;
    case GGML_TYPE_Q8_1: quantize_row_q8_1_ref(x, dst, n); return;
    case HRT_ACT_Q16: quantize_row_q16_ref(x, dst, n); return;
    default: memcpy(dst, x, (size_t)n * sizeof *x);
    }
}

/* ---- scalar dot products ------------------------------------------------- */
static float dot_q4_0_ref(const block_q4_0 *x, const block_q8_0 *y, int64_t nb)
{
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        int s = 0;
        for (int j = 0; j < QK / 2; j++)
            s += ((x[i].qs[j] & 0x0f) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + QK / 2];
        sum += (float)s * fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d);
    }
    return sum;
}

static float dot_q4_1_ref(const block_q4_1 *x, const block_q8_1 *y, int64_t nb)
{
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        int s = 0;
        for (int j = 0; j < QK / 2; j++)
            s += (x[i].qs[j] & 0x0f) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + QK / 2];
        sum += (float)s * fp16_to_fp32(x[i].d) * y[i].d + fp16_to_fp32(x[i].m) * y[i].s;
    }
    return sum;
}

static float dot_q8_0_ref(const block_q8_0 *x, const block_q8_0 *y, int64_t nb)
{
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        int s = 0;
        for (int j = 0; j < QK; j++) s += x[i].qs[j] * y[i].qs[j];
        sum += (float)s * fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d);
    }
    return sum;
}

static float dot_q5_0_ref(const block_q5_0 *x, const block_q8_0 *y, int64_t nb)
{
    float sum = 0;
    int8_t q[QK];
    for (int64_t i = 0; i < nb; i++) {
        int s = 0;
        q5_0_ints(&x[i], q);
        for (int j = 0; j < QK; j++) s += q[j] * y[i].qs[j];
        sum += (float)s * fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d);
    }
    return sum;
}

/* K-quants against 16-bit activations (8 blocks per super-block): integer
 * sums per sub-block, then its scales. */
static float dot_k_q16_ref(uint32_t wt, const void *w, const block_q16 *y, int64_t n)
{
    float sum = 0;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K / QK) {
        if (wt == GGML_TYPE_Q4_K) {
            const block_q4_K *b = (const block_q4_K *)w + i;
            float d = fp16_to_fp32(b->d), dmin = fp16_to_fp32(b->dmin);
            q4_K_ints(b, q);
            for (int j = 0; j < 8; j++) {
                int sc, mn, s = 0;
                k4_scale_min(b->scales, j, &sc, &mn);
                for (int l = 0; l < 32; l++) s += q[32 * j + l] * y[j].qs[l];
                sum += d * (float)sc * y[j].d * (float)s - dmin * (float)mn * y[j].s;
            }
        } else {
            const block_q6_K *b = (const block_q6_K *)w + i;
            float d = fp16_to_fp32(b->d);
            q6_K_ints(b, q);
            for (int j = 0; j < 8; j++) {
                int s0 = 0, s1 = 0;
                for (int l = 0; l < 16; l++) {
                    s0 += q[32 * j + l] * y[j].qs[l];
                    s1 += q[32 * j + 16 + l] * y[j].qs[16 + l];
                }
                sum += d * y[j].d * (float)(b->scales[2 * j] * s0 + b->scales[2 * j + 1] * s1);
            }
        }
    }
    return sum;
}

static float dot_f32_ref(const float *x, const float *y, int64_t n)
{
    float sum = 0;
    for (int64_t i = 0; i < n; i++) sum += x[i] * y[i];
    return sum;
}

static float dot_f16_ref(const uint16_t *x, const float *y, int64_t n)
{
    float sum = 0;
    for (int64_t i = 0; i < n; i++) sum += fp16_to_fp32(x[i]) * y[i];
    return sum;
}

static float dot_bf16_ref(const uint16_t *x, const float *y, int64_t n)
{
    float sum = 0;
    for (int64_t i = 0; i < n; i++) sum += bf16_to_fp32(x[i]) * y[i];
    return sum;
}

/* Quantized weights against float activations: each block dequantized,
 * then a float dot product. */
static float dot_deq_ref(uint32_t wt, const void *w, const float *y, int64_t n)
{
    float buf[QK_K], sum = 0;
    size_t bb = ggml_type_block_bytes(wt);
    int blk = ggml_type_block(wt);
    for (int64_t i = 0; i < n / blk; i++) {
        dequantize_row(wt, (const char *)w + i * bb, buf, blk);
        for (int j = 0; j < blk; j++) sum += buf[j] * y[i * blk + j];
    }
    return sum;
}

/* Quantized weights against 16-bit activations: integer sums per block. */
static float dot_q16_ref(uint32_t wt, const void *w, const block_q16 *y, int64_t nb)
{
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        int64_t s = 0;
        float d, m = 0;
        if (wt == GGML_TYPE_Q8_0) {
            const block_q8_0 *b = (const block_q8_0 *)w + i;
            d = fp16_to_fp32(b->d);
            for (int j = 0; j < QK; j++) s += b->qs[j] * y[i].qs[j];
        } else if (wt == GGML_TYPE_Q5_0) {
            const block_q5_0 *b = (const block_q5_0 *)w + i;
            int8_t q[QK];
            q5_0_ints(b, q);
            d = fp16_to_fp32(b->d);
            for (int j = 0; j < QK; j++) s += q[j] * y[i].qs[j];
        } else {
            const block_q4_0 *b0 = (const block_q4_0 *)w + i;
            const block_q4_1 *b1 = (const block_q4_1 *)w + i;
            const uint8_t *qs = wt == GGML_TYPE_Q4_0 ? b0->qs : b1->qs;
            int off = wt == GGML_TYPE_Q4_0 ? 8 : 0;
            d = fp16_to_fp32(wt == GGML_TYPE_Q4_0 ? b0->d : b1->d);
            if (wt == GGML_TYPE_Q4_1) m = fp16_to_fp32(b1->m);
            for (int j = 0; j < QK / 2; j++)
                s += ((qs[j] & 0x0f) - off) * y[i].qs[j] + ((qs[j] >> 4) - off) * y[i].qs[j + QK / 2];
        }
        sum += (float)s * d * y[i].d + m * y[i].s;
    }
    return sum;
}

float vec_dot_ref(uint32_t wt, uint32_t at, const void *w, const void *a, int64_t n)
{
    if (at == GGML_TYPE_F32 && (is_block_quant(wt) || is_k_quant(wt))) return dot_deq_ref(wt, w, a, n);
    if (at == HRT_ACT_Q16) return is_k_quant(wt) ? dot_k_q16_ref(wt, w, a, n) : dot_q16_ref(wt, w, a, n / QK);
    switch (wt) {
    case GGML_TYPE_Q4_0: return dot_q4_0_ref(w, a, n / QK);
    case GGML_TYPE_Q5_0: return dot_q5_0_ref(w, a, n / QK);
    case GGML_TYPE_Q4_1: return dot_q4_1_ref(w, a, n / QK);
    case GGML_TYPE_Q8_0: return dot_q8_0_ref(w, a, n / QK);
    case GGML_TYPE_F16: return dot_f16_ref(w, a, n);
    case GGML_TYPE_BF16: return dot_bf16_ref(w, a, n);
    default: return dot_f32_ref(w, a, n);
    }
}

/* ---- AVX2 dot products ---------------------------------------------------- */
#ifdef HRT_X86
/* fp16 -> fp32 in one instruction (F16C), for the SIMD kernels' scales. */
TARGET_AVX2 static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

TARGET_AVX2 static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles first, then high. */
TARGET_AVX2 static inline __m256i unpack_nibbles(const uint8_t *qs)
{
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0f));
}

/* Sum of products of 32 signed bytes, as 8 float lanes. */
TARGET_AVX2 static inline __m256 dot_i8_signed(__m256i x, __m256i y)
{
    __m256i ax = _mm256_sign_epi8(x, x);
    __m256i sy = _mm256_sign_epi8(y, x);
    __m256i p16 = _mm256_maddubs_epi16(ax, sy);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

/* Sum of products of 32 unsigned (x) by signed (y) bytes. */
TARGET_AVX2 static inline __m256 dot_u8_i8(__m256i x, __m256i y)
{
    __m256i p16 = _mm256_maddubs_epi16(x, y);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

TARGET_AVX2 static float dot_q4_0_avx2(const block_q4_0 *x, const block_q8_0 *y, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    const __m256i off = _mm256_set1_epi8(8);
    for (int64_t i = 0; i < nb; i++) {
        __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        __m256i bx = _mm256_sub_epi8(unpack_nibbles(x[i].qs), off);
        __m256i by = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, dot_i8_signed(bx, by), acc);
    }
    return hsum_ps(acc);
}

TARGET_AVX2 static float dot_q4_1_avx2(const block_q4_1 *x, const block_q8_1 *y, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int64_t i = 0; i < nb; i++) {
        summs += h2f(x[i].m) * y[i].s;
        __m256 d = _mm256_set1_ps(h2f(x[i].d) * y[i].d);
        __m256i bx = unpack_nibbles(x[i].qs);
        __m256i by = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, dot_u8_i8(bx, by), acc);
    }
    return hsum_ps(acc) + summs;
}

TARGET_AVX2 static float dot_q8_0_avx2(const block_q8_0 *x, const block_q8_0 *y, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        __m256i bx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        __m256i by = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, dot_i8_signed(bx, by), acc);
    }
    return hsum_ps(acc);
}

/* Block i of a Q4_0, Q4_1 or Q8_0 row as 32 int8 weights in element order
 * (Q4_0 already offset by -8), with its scale d and, for Q4_1, its minimum
 * m (0 otherwise): w = q * d + m. */
TARGET_AVX2 static inline __m256i block_i8(uint32_t wt, const void *w, int64_t i, float *d, float *m)
{
    *m = 0;
    if (wt == GGML_TYPE_Q8_0) {
        const block_q8_0 *b = (const block_q8_0 *)w + i;
        *d = h2f(b->d);
        return _mm256_loadu_si256((const __m256i *)b->qs);
    }
    if (wt == GGML_TYPE_Q4_0) {
        const block_q4_0 *b = (const block_q4_0 *)w + i;
        *d = h2f(b->d);
        return _mm256_sub_epi8(unpack_nibbles(b->qs), _mm256_set1_epi8(8));
    }
    if (wt == GGML_TYPE_Q5_0) {
        const block_q5_0 *b = (const block_q5_0 *)w + i;
        *d = h2f(b->d);
        /* byte j of hb = 0xff when bit j of qh is set (llama.cpp's
         * bytes_from_bits_32): broadcast, spread byte k to lanes 8k..8k+7,
         * set every bit but bit j % 8, and compare with all ones */
        uint32_t qh;
        memcpy(&qh, b->qh, 4);
        __m256i hb = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
                                         _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                           0x0101010101010101, 0x0000000000000000));
        hb = _mm256_cmpeq_epi8(_mm256_or_si256(hb, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)), _mm256_set1_epi64x(-1));
        __m256i q = _mm256_or_si256(unpack_nibbles(b->qs), _mm256_and_si256(hb, _mm256_set1_epi8(0x10)));
        return _mm256_sub_epi8(q, _mm256_set1_epi8(16));
    }
    const block_q4_1 *b = (const block_q4_1 *)w + i;
    *d = h2f(b->d);
    *m = h2f(b->m);
    return unpack_nibbles(b->qs);
}

/* Blocks of block_i8() against 8-bit activations (Q5_0 x Q8_0). */
TARGET_AVX2 static float dot_blk_q8_0_avx2(uint32_t wt, const void *w, const block_q8_0 *y, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        float d, m;
        __m256i q = block_i8(wt, w, i, &d, &m);
        __m256i by = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d * h2f(y[i].d)), dot_i8_signed(q, by), acc);
    }
    return hsum_ps(acc);
}

/* 32 integer weights (bytes, signed unless unsigned_w) against a block of
 * 16-bit activations: 8 int32 lanes per half of 16, so that each half can
 * take its own scale. */
TARGET_AVX2 static inline void madd_q16(__m256i q, int unsigned_w, const block_q16 *y, __m256i *p0, __m256i *p1)
{
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    __m256i w0 = unsigned_w ? _mm256_cvtepu8_epi16(lo) : _mm256_cvtepi8_epi16(lo);
    __m256i w1 = unsigned_w ? _mm256_cvtepu8_epi16(hi) : _mm256_cvtepi8_epi16(hi);
    *p0 = _mm256_madd_epi16(w0, _mm256_loadu_si256((const __m256i *)y->qs));
    *p1 = _mm256_madd_epi16(w1, _mm256_loadu_si256((const __m256i *)(y->qs + 16)));
}

/* Q4_K against 16-bit activations: nibbles unpacked 64 at a time, one
 * float scale per sub-block of 32, the minimums through the blocks' sums. */
TARGET_AVX2 static float dot_q4_K_q16_avx2(const block_q4_K *x, const block_q16 *y, int64_t nsb)
{
    __m256 acc = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    float summ = 0;
    for (int64_t i = 0; i < nsb; i++, y += QK_K / QK) {
        float d = h2f(x[i].d), dmin = h2f(x[i].dmin);
        for (int c = 0; c < 4; c++) {
            __m256i b = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            __m256i q[2] = {_mm256_and_si256(b, m4), _mm256_and_si256(_mm256_srli_epi16(b, 4), m4)};
            for (int h = 0; h < 2; h++) {
                int j = 2 * c + h, sc, mn;
                k4_scale_min(x[i].scales, j, &sc, &mn);
                __m256i p0, p1;
                madd_q16(q[h], 1, &y[j], &p0, &p1);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc * y[j].d), _mm256_cvtepi32_ps(_mm256_add_epi32(p0, p1)),
                                      acc);
                summ += dmin * (float)mn * y[j].s;
            }
        }
    }
    return hsum_ps(acc) - summ;
}

/* The four runs of 32 weights (0..63, before the -32) of half h of a Q6_K
 * super-block, rebuilt from ql and qh (the layout of k_group_ints()). */
TARGET_AVX2 static inline void q6_K_runs(const block_q6_K *x, int h, __m256i q[4])
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x30);
    __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
    __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
    __m256i hb = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m2));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m2));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hb, m2));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(hb, 2), m2));
}

/* Q6_K against 16-bit activations: per half super-block, four runs of 32
 * weights, each run two sub-blocks of 16 with their own scales. */
TARGET_AVX2 static float dot_q6_K_q16_avx2(const block_q6_K *x, const block_q16 *y, int64_t nsb)
{
    __m256 acc = _mm256_setzero_ps();
    const __m256i off = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < nsb; i++, y += QK_K / QK) {
        float d = h2f(x[i].d);
        for (int h = 0; h < 2; h++) {
            __m256i q[4];
            q6_K_runs(&x[i], h, q);
            for (int r = 0; r < 4; r++) {
                int j = 4 * h + r;
                __m256i p0, p1;
                madd_q16(_mm256_sub_epi8(q[r], off), 0, &y[j], &p0, &p1);
                float s = d * y[j].d;
                acc = _mm256_fmadd_ps(_mm256_set1_ps(s * (float)x[i].scales[2 * j]), _mm256_cvtepi32_ps(p0), acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(s * (float)x[i].scales[2 * j + 1]), _mm256_cvtepi32_ps(p1), acc);
            }
        }
    }
    return hsum_ps(acc);
}

TARGET_AVX2 static float dot_f32_avx2(const float *x, const float *y, int64_t n);

/* K-quants against float activations: a super-block dequantized at a time. */
TARGET_AVX2 static float dot_deq_k_avx2(uint32_t wt, const void *w, const float *y, int64_t n)
{
    float buf[QK_K], sum = 0;
    size_t bb = ggml_type_block_bytes(wt);
    for (int64_t i = 0; i < n / QK_K; i++) {
        dequantize_row(wt, (const char *)w + i * bb, buf, QK_K);
        sum += dot_f32_avx2(buf, y + i * QK_K, QK_K);
    }
    return sum;
}

/* 32 integer weights (bytes) to floats: q * s + off, s0 scaling the first
 * 16 and s1 the last 16 (one fused multiply-add each). */
TARGET_AVX2 static inline void bytes_to_ps(__m256i q, int unsigned_q, __m256 s0, __m256 s1, __m256 off, float *dst)
{
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    __m128i part[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; k++) {
        __m256i w = unsigned_q ? _mm256_cvtepu8_epi32(part[k]) : _mm256_cvtepi8_epi32(part[k]);
        _mm256_storeu_ps(dst + 8 * k, _mm256_fmadd_ps(_mm256_cvtepi32_ps(w), k < 2 ? s0 : s1, off));
    }
}

/* dequantize_row() for the block formats, 32 weights a step; 0 for the
 * types it leaves to the scalar code. */
TARGET_AVX2 static int dequantize_avx2(uint32_t type, const void *src, float *dst, int64_t n)
{
    if (is_block_quant(type)) {
        for (int64_t i = 0; i < n / QK; i++, dst += QK) {
            float d, m;
            __m256i q = block_i8(type, src, i, &d, &m);
            bytes_to_ps(q, type == GGML_TYPE_Q4_1, _mm256_set1_ps(d), _mm256_set1_ps(d), _mm256_set1_ps(m), dst);
        }
        return 1;
    }
    const __m256i m4 = _mm256_set1_epi8(0x0f), off32 = _mm256_set1_epi8(32);
    if (type == GGML_TYPE_Q4_K) {
        const block_q4_K *b = src;
        for (int64_t i = 0; i < n / QK_K; i++) {
            float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
            for (int c = 0; c < 4; c++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * c));
                __m256i q[2] = {_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)};
                for (int h = 0; h < 2; h++, dst += 32) {
                    int sc, mn;
                    k4_scale_min(b[i].scales, 2 * c + h, &sc, &mn);
                    __m256 ds = _mm256_set1_ps(d * (float)sc);
                    bytes_to_ps(q[h], 1, ds, ds, _mm256_set1_ps(-(dmin * (float)mn)), dst);
                }
            }
        }
        return 1;
    }
    if (type == GGML_TYPE_Q6_K) {
        const block_q6_K *b = src;
        for (int64_t i = 0; i < n / QK_K; i++) {
            float d = h2f(b[i].d);
            for (int h = 0; h < 2; h++) {
                __m256i q[4];
                q6_K_runs(&b[i], h, q);
                for (int r = 0; r < 4; r++, dst += 32) {
                    int j = 4 * h + r;
                    bytes_to_ps(_mm256_sub_epi8(q[r], off32), 0, _mm256_set1_ps(d * (float)b[i].scales[2 * j]),
                                _mm256_set1_ps(d * (float)b[i].scales[2 * j + 1]), _mm256_setzero_ps(), dst);
                }
            }
        }
        return 1;
    }
    return 0;
}

/* Quantized weights (dequantized in registers) against float activations:
 * 32 weights become four vectors of 8 floats. */
TARGET_AVX2 static inline __m256 i8x8_to_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

TARGET_AVX2 static float dot_deq_avx2(uint32_t wt, const void *w, const float *y, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    float summ = 0;
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d, m;
        __m256i q = block_i8(wt, w, i, &d, &m);
        __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        __m256 s = _mm256_mul_ps(i8x8_to_ps(lo), _mm256_loadu_ps(y));
        s = _mm256_fmadd_ps(i8x8_to_ps(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(y + 8), s);
        s = _mm256_fmadd_ps(i8x8_to_ps(hi), _mm256_loadu_ps(y + 16), s);
        s = _mm256_fmadd_ps(i8x8_to_ps(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(y + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), s, acc);
        if (m != 0) {
            __m256 ys = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(y), _mm256_loadu_ps(y + 8)),
                                      _mm256_add_ps(_mm256_loadu_ps(y + 16), _mm256_loadu_ps(y + 24)));
            summ += m * hsum_ps(ys);
        }
    }
    return hsum_ps(acc) + summ;
}

/* Quantized weights against 16-bit activations: weights widened to 16 bits,
 * pairs multiplied and summed by madd_epi16 (exact in 32 bits: |w| <= 128,
 * |x| <= 32767, two products per lane), one float conversion per block. */
TARGET_AVX2 static float dot_q16_avx2(uint32_t wt, const void *w, const block_q16 *y, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    float summ = 0;
    for (int64_t i = 0; i < nb; i++) {
        float d, m;
        __m256i q = block_i8(wt, w, i, &d, &m);
        summ += m * y[i].s;
        __m256i w0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q));
        __m256i w1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1));
        __m256i x0 = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 16));
        __m256i p = _mm256_add_epi32(_mm256_madd_epi16(w0, x0), _mm256_madd_epi16(w1, x1));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d * y[i].d), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum_ps(acc) + summ;
}

/* Activation quantizers with the scalar forms' arithmetic (x * id rounded
 * to nearest even), so the results are identical to them. */
TARGET_AVX2 static float absmax8x4(const float *x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8)));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* 32 floats times id, rounded: four vectors of 8 int32. */
TARGET_AVX2 static inline void round32(const float *x, float id, __m256i q[4])
{
    __m256 vid = _mm256_set1_ps(id);
    for (int k = 0; k < 4; k++)
        q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

TARGET_AVX2 static inline int hsum_i32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

TARGET_AVX2 static void quantize_q16_avx2(const float *x, block_q16 *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float amax = absmax8x4(x);
        float d = amax / 32767.0f, id = amax != 0.0f ? 32767.0f / amax : 0.0f;
        __m256i q[4];
        round32(x, id, q);
        __m256i lo = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), _MM_SHUFFLE(3, 1, 2, 0));
        __m256i hi = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[2], q[3]), _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256((__m256i *)y[i].qs, lo);
        _mm256_storeu_si256((__m256i *)(y[i].qs + 16), hi);
        int sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        y[i].d = d;
        y[i].s = d * (float)sum;
    }
}

/* Q8_0 (with_sum = 0) or Q8_1 (with_sum = 1) blocks. */
TARGET_AVX2 static void quantize_q8_avx2(const float *x, void *dst, int64_t nb, int with_sum)
{
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float amax = absmax8x4(x);
        float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        __m256i q[4];
        round32(x, id, q);
        __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
        __m256i p8 = _mm256_packs_epi16(p16a, p16b);
        /* packs interleave 128-bit lanes: restore element order */
        p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        if (with_sum) {
            block_q8_1 *b = (block_q8_1 *)dst + i;
            _mm256_storeu_si256((__m256i *)b->qs, p8);
            int sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
            b->d = fp16_round(d);
            b->s = fp16_round(d * (float)sum);
        } else {
            block_q8_0 *b = (block_q8_0 *)dst + i;
            _mm256_storeu_si256((__m256i *)b->qs, p8);
            b->d = fp32_to_fp16(d);
        }
    }
}

TARGET_AVX2 static float dot_f32_avx2(const float *x, const float *y, int64_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
    }
    float sum = hsum_ps(_mm256_add_ps(a0, a1));
    for (; i < n; i++) sum += x[i] * y[i];
    return sum;
}

TARGET_AVX2 static float dot_f16_avx2(const uint16_t *x, const float *y, int64_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8)));
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(y + i + 8), a1);
    }
    float sum = hsum_ps(_mm256_add_ps(a0, a1));
    for (; i < n; i++) sum += h2f(x[i]) * y[i];
    return sum;
}

TARGET_AVX2 static float dot_bf16_avx2(const uint16_t *x, const float *y, int64_t n)
{
    __m256 a0 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i))), 16);
        a0 = _mm256_fmadd_ps(_mm256_castsi256_ps(w), _mm256_loadu_ps(y + i), a0);
    }
    float sum = hsum_ps(a0);
    for (; i < n; i++) sum += bf16_to_fp32(x[i]) * y[i];
    return sum;
}

/* ---- AVX-512 VNNI dot products ------------------------------------------------ */
#define TARGET_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

/* Two blocks of 16 packed nibbles -> 64 bytes: lo0, hi0, lo1, hi1. */
TARGET_AVX512 static inline __m512i unpack_nibbles2(const uint8_t *q0, const uint8_t *q1)
{
    __m256i t = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)q0)),
                                        _mm_loadu_si128((const __m128i *)q1), 1);
    __m256i m = _mm256_set1_epi8(0x0f);
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(t, m)),
                                   _mm256_and_si256(_mm256_srli_epi16(t, 4), m), 1);
    return _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));
}

TARGET_AVX512 static inline __m512i load2x256(const void *a, const void *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* Lanes 0-7 scaled by s0, lanes 8-15 by s1. */
TARGET_AVX512 static inline __m512 scale2(float s0, float s1)
{
    return _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(s0), _mm512_set1_ps(s1));
}

TARGET_AVX512 static float dot_q4_1_avx512(const block_q4_1 *x, const block_q8_1 *y, int64_t nb)
{
    __m512 acc = _mm512_setzero_ps();
    float summs = 0;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i w = unpack_nibbles2(x[i].qs, x[i + 1].qs);
        __m512i a = load2x256(y[i].qs, y[i + 1].qs);
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, a);
        __m512 sc = scale2(h2f(x[i].d) * y[i].d, h2f(x[i + 1].d) * y[i + 1].d);
        acc = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(p), acc);
        summs += h2f(x[i].m) * y[i].s + h2f(x[i + 1].m) * y[i + 1].s;
    }
    float r = _mm512_reduce_add_ps(acc) + summs;
    return i < nb ? r + dot_q4_1_avx2(x + i, y + i, nb - i) : r;
}

TARGET_AVX512 static float dot_q4_0_avx512(const block_q4_0 *x, const block_q8_0 *y, int64_t nb)
{
    __m512 acc = _mm512_setzero_ps();
    const __m512i eight = _mm512_set1_epi8(8);
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i w = unpack_nibbles2(x[i].qs, x[i + 1].qs);
        __m512i a = load2x256(y[i].qs, y[i + 1].qs);
        /* sum (q - 8) * y = sum q * y - sum 8 * y, both unsigned x signed */
        __m512i p = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w, a),
                                     _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, a));
        __m512 sc = scale2(h2f(x[i].d) * h2f(y[i].d),
                           h2f(x[i + 1].d) * h2f(y[i + 1].d));
        acc = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(p), acc);
    }
    float r = _mm512_reduce_add_ps(acc);
    return i < nb ? r + dot_q4_0_avx2(x + i, y + i, nb - i) : r;
}

TARGET_AVX512 static float dot_q8_0_avx512(const block_q8_0 *x, const block_q8_0 *y, int64_t nb)
{
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i w = load2x256(x[i].qs, x[i + 1].qs);
        __m512i a = load2x256(y[i].qs, y[i + 1].qs);
        /* signed x signed through unsigned x signed: |w| * (y with w's sign) */
        __m512i sy = _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(w), _mm512_setzero_si512(), a);
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), sy);
        __m512 sc = scale2(h2f(x[i].d) * h2f(y[i].d),
                           h2f(x[i + 1].d) * h2f(y[i + 1].d));
        acc = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(p), acc);
    }
    float r = _mm512_reduce_add_ps(acc);
    return i < nb ? r + dot_q8_0_avx2(x + i, y + i, nb - i) : r;
}

/* 16-bit activations: one block per 512-bit vector, 32 weights widened to
 * 16 bits, multiply-added in pairs by vpdpwssd. */
TARGET_AVX512 static float dot_q16_avx512(uint32_t wt, const void *w, const block_q16 *y, int64_t nb)
{
    __m512 acc = _mm512_setzero_ps();
    float summ = 0;
    for (int64_t i = 0; i < nb; i++) {
        float d, m;
        __m256i q = block_i8(wt, w, i, &d, &m);
        summ += m * y[i].s;
        __m512i w16 = _mm512_cvtepi8_epi16(q);
        __m512i x16 = _mm512_loadu_si512((const void *)y[i].qs);
        __m512i p = _mm512_dpwssd_epi32(_mm512_setzero_si512(), w16, x16);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d * y[i].d), _mm512_cvtepi32_ps(p), acc);
    }
    return _mm512_reduce_add_ps(acc) + summ;
}

/* Four activation rows (stride bytes apart) against one weight row: each
 * weight block is unpacked once and used four times (prompt processing). */
TARGET_AVX512 static void dot_q16x4_avx512(uint32_t wt, const void *w, const void *y0, size_t stride,
                                           int64_t nb, float out[4])
{
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    float summ[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < nb; i++) {
        float d, m;
        __m256i q = block_i8(wt, w, i, &d, &m);
        __m512i w16 = _mm512_cvtepi8_epi16(q);
        for (int r = 0; r < 4; r++) {
            const block_q16 *y = (const block_q16 *)((const char *)y0 + r * stride) + i;
            __m512i p = _mm512_dpwssd_epi32(_mm512_setzero_si512(), w16, _mm512_loadu_si512((const void *)y->qs));
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(d * y->d), _mm512_cvtepi32_ps(p), acc[r]);
            summ[r] += m * y->s;
        }
    }
    for (int r = 0; r < 4; r++) out[r] = _mm512_reduce_add_ps(acc[r]) + summ[r];
}
#endif

/* SIMD level, read from cpuid (the compilers' __builtin_cpu_supports do not
 * all know "f16c"), with the OS saving the vector state (XGETBV):
 *   1: AVX2 + FMA + F16C;  2: also AVX-512 F/BW/VL and VNNI. */
static int simd_detect(void)
{
#ifdef HRT_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!(fma && osxsave && avx && f16c)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d) || !((b >> 5) & 1)) return 0;
    int avx512 = ((b >> 16) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1) && ((c >> 11) & 1) && (lo & 0xe0) == 0xe0;
    return avx512 ? 2 : 1;
#else
    return 0;
#endif
}

static int simd_level = -1;

static int simd(void)
{
    if (simd_level < 0) simd_level = simd_detect();
    return simd_level;
}

int cpu_has_avx2(void) { return simd() >= 1; }
int cpu_has_avx512(void) { return simd() >= 2; }

int cpu_set_simd_level(int level)
{
    int best = simd_detect();
    simd_level = level < 0 || level > best ? best : level;
    return simd_level;
}

void vec_dot4(uint32_t wt, uint32_t at, const void *w, const void *a, size_t stride, int64_t n, float out[4])
{
#ifdef HRT_X86
    if (simd() >= 2 && at == HRT_ACT_Q16 && is_block_quant(wt)) {
        dot_q16x4_avx512(wt, w, a, stride, n / QK, out);
        return;
    }
#endif
    for (int r = 0; r < 4; r++) out[r] = vec_dot(wt, at, w, (const char *)a + r * stride, n);
}

float vec_dot(uint32_t wt, uint32_t at, const void *w, const void *a, int64_t n)
{
#ifdef HRT_X86
    if (simd() >= 2) {
        if (at == HRT_ACT_Q16 && is_block_quant(wt)) return dot_q16_avx512(wt, w, a, n / QK);
        if (at != GGML_TYPE_F32) {
            switch (wt) {
            case GGML_TYPE_Q4_0: return dot_q4_0_avx512(w, a, n / QK);
            case GGML_TYPE_Q4_1: return dot_q4_1_avx512(w, a, n / QK);
            case GGML_TYPE_Q8_0: return dot_q8_0_avx512(w, a, n / QK);
            default: break;
            }
        }
    }
    if (simd() >= 1) {
        if (at == GGML_TYPE_F32 && is_block_quant(wt)) return dot_deq_avx2(wt, w, a, n / QK);
        if (at == GGML_TYPE_F32 && is_k_quant(wt)) return dot_deq_k_avx2(wt, w, a, n);
        if (at == HRT_ACT_Q16 && wt == GGML_TYPE_Q4_K) return dot_q4_K_q16_avx2(w, a, n / QK_K);
        if (at == HRT_ACT_Q16 && wt == GGML_TYPE_Q6_K) return dot_q6_K_q16_avx2(w, a, n / QK_K);
        if (at == HRT_ACT_Q16) return dot_q16_avx2(wt, w, a, n / QK);
        switch (wt) {
        case GGML_TYPE_Q4_0: return dot_q4_0_avx2(w, a, n / QK);
        case GGML_TYPE_Q5_0: return dot_blk_q8_0_avx2(wt, w, a, n / QK);
        case GGML_TYPE_Q4_1: return dot_q4_1_avx2(w, a, n / QK);
        case GGML_TYPE_Q8_0: return dot_q8_0_avx2(w, a, n / QK);
        case GGML_TYPE_F16: return dot_f16_avx2(w, a, n);
        case GGML_TYPE_BF16: return dot_bf16_avx2(w, a, n);
        default: return dot_f32_avx2(w, a, n);
        }
    }
#endif
    return vec_dot_ref(wt, at, w, a, n);
}
