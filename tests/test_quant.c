/* Kernels: fp16 conversion, activation quantization, the SIMD dot
 * products against the scalar reference, dequantization against the block
 * formulas, and the threaded matrix product against a naive one. Inputs are
 * fresh random values (never zeros) and outputs start poisoned (NaN). */
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cpu/ops.h"
#include "cpu/quant.h"
#include "hrt.h"
#include "test.h"
#include "test_random.h"

static void test_fp16(void)
{
    /* Every finite half converts to float and back exactly. */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue; /* inf / nan */
        if (fp32_to_fp16(fp16_to_fp32((uint16_t)h)) != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d halves do not round-trip", bad);
    CHECK(fp16_to_fp32(0x3c00) == 1.0f);
    CHECK(fp16_to_fp32(0xc000) == -2.0f);
    CHECK(fp32_to_fp16(65504.0f) == 0x7bff);
    CHECK(fp32_to_fp16(1e6f) == 0x7c00);          /* overflow to inf */
    CHECK(fp32_to_fp16(1.0f + 1.0f / 2048) == 0x3c00); /* tie rounds to even */
    CHECK(fp16_to_fp32(0x0001) == ldexpf(1.0f, -24)); /* smallest subnormal */
    CHECK(bf16_to_fp32(0x3f80) == 1.0f);
}

static void test_dequant_formulas(void)
{
    block_q4_1 b;
    b.d = fp32_to_fp16(0.5f);
    b.m = fp32_to_fp16(-1.0f);
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float out[32];
    for (int i = 0; i < 32; i++) out[i] = NAN;
    dequantize_row(GGML_TYPE_Q4_1, &b, out, 32);
    CHECK(out[0] == -1.0f && out[3] == 0.5f && out[16] == 6.5f && out[31] == -1.0f);
    block_q4_0 c;
    c.d = fp32_to_fp16(2.0f);
    for (int j = 0; j < 16; j++) c.qs[j] = (uint8_t)(j | (8 << 4));
    dequantize_row(GGML_TYPE_Q4_0, &c, out, 32);
    CHECK(out[0] == -16.0f && out[15] == 14.0f && out[20] == 0.0f);
    block_q8_0 q;
    q.d = fp32_to_fp16(0.25f);
    for (int j = 0; j < 32; j++) q.qs[j] = (int8_t)(j - 16);
    dequantize_row(GGML_TYPE_Q8_0, &q, out, 32);
    CHECK(out[0] == -4.0f && out[31] == 3.75f);
}

/* Block formats hrt reads but did not define (Q5_0, the K-quants), and the
 * older ones again, decode to the values of an independent implementation:
 * gguf-py's NumPy dequantization, recorded by
 * tests/golden/make_quant_golden.py from seeded random blocks. */
static void test_dequant_golden(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/quant_dequant.json", HRT_SOURCE_DIR);
    char *text = test_read_file(path, NULL);
    cJSON *g = text ? cJSON_Parse(text) : NULL;
    CHECK_MSG(g != NULL, "%s unreadable", path);
    int n_types = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(g, "types"))
    {
        const char *name = cJSON_GetObjectItem(e, "type")->valuestring;
        const char *hex = cJSON_GetObjectItem(e, "hex")->valuestring;
        const cJSON *vals = cJSON_GetObjectItem(e, "values");
        int n = cJSON_GetObjectItem(e, "n")->valueint;
        uint32_t t = GGML_TYPE_COUNT;
        for (uint32_t k = 0; k < GGML_TYPE_COUNT; k++)
            if (ggml_type_name(k) && !strcmp(ggml_type_name(k), name)) t = k;
        CHECK_MSG(t < GGML_TYPE_COUNT && ggml_type_supported(t), "golden type %s unknown or unsupported", name);
        CHECK(cJSON_GetArraySize(vals) == n && strlen(hex) == 2 * ggml_row_bytes(t, n));
        if (t == GGML_TYPE_COUNT || cJSON_GetArraySize(vals) != n || strlen(hex) != 2 * ggml_row_bytes(t, n)) continue;
        size_t nb = strlen(hex) / 2;
        uint8_t *raw = malloc(nb);
        float *out = malloc((size_t)n * sizeof *out);
        for (size_t i = 0; i < nb; i++) sscanf(hex + 2 * i, "%2hhx", &raw[i]);
        int best = cpu_set_simd_level(-1);
        for (int level = 0; level <= best; level++) { /* the scalar code and each SIMD one */
            cpu_set_simd_level(level);
            for (int i = 0; i < n; i++) out[i] = NAN;
            dequantize_row(t, raw, out, n);
            int bad = 0;
            for (int i = 0; i < n; i++) {
                double want = cJSON_GetArrayItem(vals, i)->valuedouble;
                if (!(fabs(out[i] - want) <= 1e-6 * fabs(want) + 1e-9)) bad++;
            }
            CHECK_MSG(bad == 0, "%s at SIMD level %d: %d of %d values differ from gguf-py's", name, level, bad, n);
        }
        cpu_set_simd_level(-1);
        n_types++;
        free(raw);
        free(out);
    }
    CHECK(n_types == 6);
    cJSON_Delete(g);
    free(text);
}

/* quant_group_ints() (the CUDA backend's repacking) rebuilds every weight
 * that dequantize_row() gives. */
static void test_group_ints(void)
{
    const uint32_t types[] = {GGML_TYPE_Q5_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K};
    enum { N = 2 * 256 };
    static uint8_t w[N * 2];
    float want[N];
    for (int ti = 0; ti < 3; ti++) {
        uint32_t t = types[ti];
        random_row(t, w, N);
        dequantize_row(t, w, want, N);
        int bad = 0;
        for (int g = 0; g < N / 32; g++) {
            int8_t q[32];
            float sc[2] = {NAN, NAN}, off = NAN;
            CHECK(quant_group_ints(t, w, g, q, sc, &off) == 0);
            for (int j = 0; j < 32; j++) bad += !(fabsf(q[j] * sc[j / 16] + off - want[32 * g + j]) <= 1e-6f * fabsf(want[32 * g + j]) + 1e-9f);
        }
        CHECK_MSG(bad == 0, "%s: %d weights rebuilt wrong", ggml_type_name(t), bad);
    }
    int8_t q[32];
    float sc[2], off;
    CHECK(quant_group_ints(GGML_TYPE_Q4_1, w, 0, q, sc, &off) == -1);
}

/* The SIMD quantizers give exactly the scalar forms' bytes. */
static void test_act_quant_simd(void)
{
    enum { N = 32 * 40 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = frand() * (i % 97 == 0 ? 50 : 2);
    for (int i = 64; i < 96; i++) x[i] = 0; /* an all-zero block */
    x[200] = 0.5f / 127 * 3;               /* values near rounding ties */
    static uint8_t ref[N * 4], simd[N * 4];
    const uint32_t ats[3] = {GGML_TYPE_Q8_0, GGML_TYPE_Q8_1, HRT_ACT_Q16};
    for (int k = 0; k < 3; k++) {
        size_t bytes = act_row_bytes(ats[k], N);
        memset(ref, 0xAB, bytes);
        memset(simd, 0xCD, bytes);
        cpu_set_simd_level(0);
        quantize_act_row(ats[k], x, ref, N);
        cpu_set_simd_level(-1);
        quantize_act_row(ats[k], x, simd, N);
        CHECK_MSG(!memcmp(ref, simd, bytes), "activation format %u: SIMD bytes differ from the scalar form", ats[k]);
    }
}

static void test_act_quant(void)
{
    float x[64];
    for (int i = 0; i < 64; i++) x[i] = frand() * 3;
    block_q8_1 y[2];
    quantize_row_q8_1_ref(x, y, 64);
    for (int b = 0; b < 2; b++) {
        int sum = 0;
        float maxerr = 0;
        for (int j = 0; j < 32; j++) {
            sum += y[b].qs[j];
            maxerr = fmaxf(maxerr, fabsf(y[b].qs[j] * y[b].d - x[b * 32 + j]));
        }
        CHECK_MSG(maxerr <= y[b].d * 0.5f + 1e-3f, "q8_1 error %g > half a step %g", maxerr, y[b].d / 2);
        CHECK(fabsf(y[b].s - y[b].d * (float)sum) <= fabsf(y[b].s) * 1e-3f + 1e-3f);
    }
    block_q16 z[2];
    quantize_row_q16_ref(x, z, 64);
    for (int b = 0; b < 2; b++) {
        float maxerr = 0, amax = 0;
        for (int j = 0; j < 32; j++) {
            maxerr = fmaxf(maxerr, fabsf(z[b].qs[j] * z[b].d - x[b * 32 + j]));
            amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        }
        CHECK_MSG(maxerr <= amax / 65534.0f * 1.01f, "q16 error %g for block max %g", maxerr, amax);
    }
}

/* At every SIMD level the CPU has, the dot products equal the scalar
 * reference for every activation format, and the quantized products
 * approximate the float product of the dequantized values (8-bit
 * activations within 1%, 16-bit within 0.01%, float within float noise). */
static void test_vec_dot(void)
{
    const uint32_t types[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K,
                              GGML_TYPE_Q6_K, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_F32};
    /* an odd number of blocks exercises the tails */
    enum { N_MAX = 3 * 256 };
    static uint8_t w[N_MAX * 4], act[N_MAX * 4];
    float x[N_MAX], wf[N_MAX];
    int best = cpu_set_simd_level(-1);
    for (int level = 0; level <= best; level++) {
        cpu_set_simd_level(level);
        for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
            uint32_t t = types[ti];
            int N = ggml_type_block(t) == 256 ? 3 * 256 : 576 + 32;
            int quant = vec_dot_type(t) != GGML_TYPE_F32;
            uint32_t ats[3] = {vec_dot_type(t), HRT_ACT_Q16, GGML_TYPE_F32};
            double tol[3] = {1e-2, 1e-4, 1e-5};
            for (int k = 0; k < (quant ? 3 : 1); k++) {
                uint32_t at = ats[k];
                for (int trial = 0; trial < 20; trial++) {
                    random_row(t, w, N);
                    for (int i = 0; i < N; i++) x[i] = frand() * 4;
                    quantize_act_row(at, x, act, N);
                    float simd = vec_dot(t, at, w, act, N), ref = vec_dot_ref(t, at, w, act, N);
                    CHECK_MSG(fabsf(simd - ref) <= 1e-4f * (1 + fabsf(ref)), "level %d %s/act %u: simd %g ref %g",
                              level, ggml_type_name(t), at, simd, ref);
                    dequantize_row(t, w, wf, N);
                    double exact = 0, mag = 0;
                    for (int i = 0; i < N; i++) {
                        exact += (double)wf[i] * x[i];
                        mag += fabs((double)wf[i] * x[i]);
                    }
                    CHECK_MSG(fabs(ref - exact) <= tol[k] * mag + 1e-4, "%s/act %u: %g vs exact %g (mag %g)",
                              ggml_type_name(t), at, ref, exact, mag);
                }
            }
        }
    }
    cpu_set_simd_level(-1);
    printf("dot products checked at SIMD levels 0..%d\n", best);
}

static void test_matmul(void)
{
    enum { ROWS_A = 100, ROWS_B = 36, COLS = 256, NTOK = 7 };
    const uint32_t types[] = {GGML_TYPE_Q4_1, GGML_TYPE_Q8_0, GGML_TYPE_F32, GGML_TYPE_Q5_0, GGML_TYPE_Q4_K,
                              GGML_TYPE_Q6_K};
    threadpool *tp = tp_create(3);
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        uint32_t t = types[ti];
        size_t rb = ggml_row_bytes(t, COLS);
        uint8_t *wa = malloc(rb * ROWS_A), *wb = malloc(rb * ROWS_B);
        for (int r = 0; r < ROWS_A; r++) random_row(t, wa + r * rb, COLS);
        for (int r = 0; r < ROWS_B; r++) random_row(t, wb + r * rb, COLS);
        uint32_t at = ti == 0 ? HRT_ACT_Q16 : vec_dot_type(t);
        cpu_mat A = {t, at, ROWS_A, COLS, rb, wa}, B = {t, at, ROWS_B, COLS, rb, wb};
        float x[NTOK * COLS], ya[NTOK * ROWS_A], yb[NTOK * ROWS_B];
        for (int i = 0; i < NTOK * COLS; i++) x[i] = frand();
        void *scratch = malloc(cpu_matmul_scratch(GGML_TYPE_F32, COLS, NTOK));
        for (int ntok = 1; ntok <= NTOK; ntok += NTOK - 1) {
            for (int i = 0; i < NTOK * ROWS_A; i++) ya[i] = NAN;
            for (int i = 0; i < NTOK * ROWS_B; i++) yb[i] = NAN;
            const cpu_mat *W[2] = {&A, &B};
            float *Y[2] = {ya, yb};
            cpu_matmul(tp, W, Y, 2, x, ntok, scratch);
            int bad = 0;
            uint8_t act[COLS * 4];
            for (int tk = 0; tk < ntok; tk++) {
                quantize_act_row(at, x + tk * COLS, act, COLS);
                for (int r = 0; r < ROWS_A; r++)
                    bad += !(fabsf(ya[tk * ROWS_A + r] - vec_dot_ref(t, at, wa + r * rb, act, COLS)) < 1e-3f);
                for (int r = 0; r < ROWS_B; r++)
                    bad += !(fabsf(yb[tk * ROWS_B + r] - vec_dot_ref(t, at, wb + r * rb, act, COLS)) < 1e-3f);
            }
            CHECK_MSG(bad == 0, "%s ntok=%d: %d outputs differ from the reference", ggml_type_name(t), ntok, bad);
        }
        free(scratch);
        free(wa);
        free(wb);
    }
    tp_free(tp);
}

static void test_ops(void)
{
    float x[8] = {1, -2, 3, -4, 5, -6, 7, -8}, w[8], out[8];
    for (int i = 0; i < 8; i++) w[i] = 0.5f + i;
    cpu_rmsnorm(out, x, w, 8, 0);
    float rms = sqrtf((1 + 4 + 9 + 16 + 25 + 36 + 49 + 64) / 8.0f);
    CHECK(fabsf(out[3] - (-4 / rms) * w[3]) < 1e-5f);
    float s[4] = {1, 2, 3, 4};
    cpu_softmax(s, 4);
    CHECK(fabsf(s[0] + s[1] + s[2] + s[3] - 1) < 1e-6f && s[3] > s[2]);
    /* RoPE at position 0 is the identity; a rotation keeps norms. */
    float cs[8], v[8], v0[8];
    double inv[4];
    for (int i = 0; i < 4; i++) inv[i] = pow(10000.0, -2.0 * i / 8);
    for (int i = 0; i < 8; i++) v[i] = v0[i] = frand();
    cpu_rope_cache(cs, 8, 0, inv);
    cpu_rope(v, 1, 8, 8, cs, 0);
    CHECK(!memcmp(v, v0, sizeof v));
    cpu_rope_cache(cs, 8, 17, inv);
    for (int neox = 0; neox < 2; neox++) {
        memcpy(v, v0, sizeof v);
        cpu_rope(v, 1, 8, 8, cs, neox);
        float n0 = 0, n1 = 0;
        for (int i = 0; i < 8; i++) n0 += v0[i] * v0[i], n1 += v[i] * v[i];
        CHECK(fabsf(n0 - n1) < 1e-5f && memcmp(v, v0, sizeof v));
    }
    /* Adjacent-pair RoPE on pair (0,1) rotates by pos * base^0 = 17 rad. */
    memcpy(v, v0, sizeof v);
    cpu_rope(v, 1, 8, 8, cs, 0);
    CHECK(fabsf(v[0] - (v0[0] * cosf(17) - v0[1] * sinf(17))) < 1e-5f);
    /* tanh GELU (written with one exp) against the tanh formula, tails included */
    float gx[9] = {-100, -20, -3, -0.5f, 0, 0.25f, 1.7f, 9, 100}, up[9], gy[9];
    for (int i = 0; i < 9; i++) up[i] = 0.5f + 0.1f * i;
    cpu_gelu_tanh_mul(gy, gx, up, 9);
    for (int i = 0; i < 9; i++) {
        double gv = gx[i], want = 0.5 * gv * (1 + tanh(0.7978845608028654 * (gv + 0.044715 * gv * gv * gv))) * up[i];
        CHECK_MSG(fabs(gy[i] - want) <= 1e-6 * fabs(want) + 1e-30, "gelu_tanh(%g): %g, want %g", gv, gy[i], want);
    }
    float g[3] = {-1, 0, 2};
    cpu_gelu(g, 3);
    CHECK(fabsf(g[0] - (-0.15865525f)) < 1e-6f && g[1] == 0 && fabsf(g[2] - 1.9544997f) < 1e-6f);
}

int main(void)
{
    printf("SIMD: AVX2 %s, AVX-512 VNNI %s\n", cpu_has_avx2() ? "yes" : "no", cpu_has_avx512() ? "yes" : "no");
    test_fp16();
    test_dequant_formulas();
    test_dequant_golden();
    test_group_ints();
    test_act_quant();
    test_act_quant_simd();
    test_vec_dot();
    test_matmul();
    test_ops();
    return test_finish();
}
