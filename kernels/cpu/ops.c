#include "ops.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

#ifdef HRT_WITH_BLAS
#include <cblas.h>
/* From this many tokens an F32 product goes to OpenBLAS's sgemm: on the
 * 2-core EPYC of docs/PERFORMANCE.md it runs 256 x 384 x 1536 at 160
 * GFLOP/s, about 5x hrt's loops, and at 15 tokens no faster than them. */
#define BLAS_MIN_TOK 8
/* Quantized weights are dequantized first: from this many tokens that pays. */
#define BLAS_MIN_TOK_QUANT 16
#endif

size_t cpu_matmul_scratch(uint32_t act_type, int64_t n_cols, int n_tok)
{
    return act_row_bytes(act_type, n_cols) * (size_t)n_tok;
}

typedef struct {
    const cpu_mat *const *W;
    float *const *y;
    int n_mats;
    const float *x;
    int n_tok;
    void *act;
    size_t act_stride;
    int64_t total_rows;
} matmul_job;

static void quantize_job(void *p, int ith, int nth)
{
    matmul_job *j = p;
    uint32_t t = j->W[0]->act_type;
    int64_t n = j->W[0]->n_cols;
    for (int i = ith; i < j->n_tok; i += nth)
        quantize_act_row(t, j->x + (size_t)i * n, (char *)j->act + (size_t)i * j->act_stride, n);
}

/* Rows of tile size are walked for all tokens before moving on, so that a
 * tile of weights stays in cache while every token uses it (prefill). */
#define ROW_TILE 16

static void matmul_rows(const matmul_job *j, int64_t r0, int64_t r1)
{
    /* Map the global row range onto the matrices. */
    int64_t base = 0;
    for (int k = 0; k < j->n_mats && base < r1; k++) {
        const cpu_mat *W = j->W[k];
        int64_t lo = r0 > base ? r0 - base : 0;
        int64_t hi = r1 - base < W->n_rows ? r1 - base : W->n_rows;
        base += W->n_rows;
        if (lo >= hi) continue;
        const char *wd = W->data;
        float *y = j->y[k];
        if (j->n_tok == 1) {
            for (int64_t r = lo; r < hi; r++)
                y[r] = vec_dot(W->type, W->act_type, wd + (size_t)r * W->row_bytes, j->act, W->n_cols);
            continue;
        }
        for (int64_t t0 = lo; t0 < hi; t0 += ROW_TILE) {
            int64_t t1 = t0 + ROW_TILE < hi ? t0 + ROW_TILE : hi;
            int t = 0;
            for (; t + 4 <= j->n_tok; t += 4) {
                const char *a = (const char *)j->act + (size_t)t * j->act_stride;
                for (int64_t r = t0; r < t1; r++) {
                    float o[4];
                    vec_dot4(W->type, W->act_type, wd + (size_t)r * W->row_bytes, a, j->act_stride, W->n_cols, o);
                    for (int c = 0; c < 4; c++) y[(size_t)(t + c) * W->n_rows + r] = o[c];
                }
            }
            for (; t < j->n_tok; t++) {
                const char *a = (const char *)j->act + (size_t)t * j->act_stride;
                float *yt = y + (size_t)t * W->n_rows;
                for (int64_t r = t0; r < t1; r++)
                    yt[r] = vec_dot(W->type, W->act_type, wd + (size_t)r * W->row_bytes, a, W->n_cols);
            }
        }
    }
}

static void matmul_job_fn(void *p, int ith, int nth)
{
    matmul_job *j = p;
    /* Split rows evenly, in multiples of 4 to keep cache lines apart. */
    int64_t per = (j->total_rows + nth - 1) / nth;
    per = (per + 3) & ~(int64_t)3;
    int64_t r0 = per * ith, r1 = r0 + per;
    if (r1 > j->total_rows) r1 = j->total_rows;
    if (r0 < r1) matmul_rows(j, r0, r1);
}

#ifdef HRT_WITH_BLAS
static _Atomic int blas_on = 1;

/* OpenBLAS runs single-threaded, inside the threads of hrt's pools: each
 * takes a share of the rows, so one mechanism spreads all the work (no
 * second set of spinning threads, and no global thread count that
 * concurrent callers would fight over). */
static void blas_single(void)
{
    static _Atomic int set;
    if (!atomic_exchange(&set, 1)) openblas_set_num_threads(1);
}

/* Rows of a quantized matrix dequantized at a time by each thread: 256
 * rows of 4096 columns take 4 MiB (fewer rows repack the activations for
 * sgemm more often: 64 rows were 3-4% slower on both default models). */
#define BLAS_TILE_ROWS 256

typedef struct {
    const cpu_mat *const *W;
    float *const *y;
    int n_mats, n_tok;
    const float *x;
    int64_t total_rows;
    float *bufs;              /* (threads, BLAS_TILE_ROWS * widest) for quantized W */
    size_t buf_stride;
} blas_job;

/* Each thread takes its share of the rows: F32 rows multiplied in place,
 * others a tile at a time dequantized to floats first, each by a
 * one-thread sgemm with every token. */
static void blas_fn(void *p, int ith, int nth)
{
    blas_job *j = p;
    int64_t per = (j->total_rows + nth - 1) / nth;
    per = (per + 15) & ~(int64_t)15;
    int64_t r0 = per * ith, r1 = r0 + per < j->total_rows ? r0 + per : j->total_rows;
    float *buf = j->bufs ? j->bufs + (size_t)ith * j->buf_stride : NULL; /* NULL: all F32 */
    int64_t base = 0;
    for (int k = 0; k < j->n_mats && base < r1; k++) {
        const cpu_mat *W = j->W[k];
        int64_t lo = r0 > base ? r0 - base : 0, hi = r1 - base < W->n_rows ? r1 - base : W->n_rows;
        int f32 = W->type == GGML_TYPE_F32, cols = (int)W->n_cols;
        base += W->n_rows;
        for (int64_t t0 = lo; t0 < hi;) {
            int64_t nr = f32 ? hi - t0 : hi - t0 < BLAS_TILE_ROWS ? hi - t0 : BLAS_TILE_ROWS;
            const float *b = buf;
            int ldb = cols;
            if (f32) {
                b = (const float *)((const char *)W->data + (size_t)t0 * W->row_bytes);
                ldb = (int)(W->row_bytes / sizeof(float));
            } else {
                for (int64_t r = 0; r < nr; r++)
                    dequantize_row(W->type, (const char *)W->data + (size_t)(t0 + r) * W->row_bytes,
                                   buf + (size_t)r * cols, cols);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n_tok, (int)nr, cols, 1.0f, j->x, cols, b, ldb,
                        0.0f, j->y[k] + t0, (int)W->n_rows);
            t0 += nr;
        }
    }
}

/* y = x W^T by sgemm, for every W[k]: the activations stay floats, so the
 * products are the exact ones. 0 when BLAS is off or memory is short. */
static int matmul_blas(threadpool *tp, const cpu_mat *const *W, float *const *y, int n_mats, const float *x,
                       int n_tok)
{
    if (!atomic_load(&blas_on)) return 0;
    blas_job j = {W, y, n_mats, n_tok, x, 0, NULL, 0};
    for (int k = 0; k < n_mats; k++) {
        j.total_rows += W[k]->n_rows;
        if (W[k]->type != GGML_TYPE_F32 && (size_t)W[k]->n_cols * BLAS_TILE_ROWS > j.buf_stride)
            j.buf_stride = (size_t)W[k]->n_cols * BLAS_TILE_ROWS;
    }
    if (j.buf_stride && !(j.bufs = malloc(j.buf_stride * (size_t)tp_size(tp) * sizeof(float)))) return 0;
    blas_single();
    tp_run(tp, blas_fn, &j);
    free(j.bufs);
    return 1;
}

typedef struct {
    int trans_b, m, n, k, lda, ldb, ldc;
    float alpha;
    const float *a, *b;
    float *c;
} gemm_job;

/* A share of C's rows each. */
static void gemm_fn(void *p, int ith, int nth)
{
    gemm_job *g = p;
    int per = (g->m + nth - 1) / nth, r0 = per * ith, r1 = r0 + per < g->m ? r0 + per : g->m;
    if (r0 >= r1) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, g->trans_b ? CblasTrans : CblasNoTrans, r1 - r0, g->n, g->k, g->alpha,
                g->a + (size_t)r0 * g->lda, g->lda, g->b, g->ldb, 0.0f, g->c + (size_t)r0 * g->ldc, g->ldc);
}
#endif

int cpu_set_blas(int on)
{
#ifdef HRT_WITH_BLAS
    atomic_store(&blas_on, on);
    return 1;
#else
    (void)on;
    return 0;
#endif
}

int cpu_gemm(threadpool *tp, int trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
             int ldb, float *c, int ldc)
{
#ifdef HRT_WITH_BLAS
    if (m < BLAS_MIN_TOK || !atomic_load(&blas_on)) return 0;
    blas_single();
    gemm_job g = {trans_b, m, n, k, lda, ldb, ldc, alpha, a, b, c};
    tp_run(tp, gemm_fn, &g);
    return 1;
#else
    (void)tp, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb, (void)c,
        (void)ldc;
    return 0;
#endif
}

void cpu_matmul(threadpool *tp, const cpu_mat *const *W, float *const *y, int n_mats,
                const float *x, int n_tok, void *scratch)
{
#ifdef HRT_WITH_BLAS
    int quant = W[0]->type != GGML_TYPE_F32;
    if (n_tok >= (quant ? BLAS_MIN_TOK_QUANT : BLAS_MIN_TOK) && matmul_blas(tp, W, y, n_mats, x, n_tok)) return;
#endif
    matmul_job j = {W, y, n_mats, x, n_tok, scratch, act_row_bytes(W[0]->act_type, W[0]->n_cols), 0};
    for (int k = 0; k < n_mats; k++) j.total_rows += W[k]->n_rows;
    if (n_tok > 1)
        tp_run(tp, quantize_job, &j);
    else
        quantize_job(&j, 0, 1);
    tp_run(tp, matmul_job_fn, &j);
}

void cpu_rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    /* float squares summed in double, as ggml's rms_norm */
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)(x[i] * x[i]);
    float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

void cpu_layernorm(float *out, const float *x, const float *w, const float *b, int n, float eps)
{
    float mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= (float)n;
    for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= (float)n;
    float scale = 1.0f / sqrtf(var + eps);
    for (int i = 0; i < n; i++) out[i] = (x[i] - mean) * scale * w[i] + b[i];
}

void cpu_softmax(float *x, int n)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = fmaxf(mx, x[i]);
    float sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void cpu_rope_cache(float *cs, int n_rot, int pos, const double *inv_freq)
{
    for (int i = 0; i < n_rot / 2; i++) {
        /* in double, so that long positions keep their precision */
        double theta = (double)pos * inv_freq[i];
        cs[2 * i] = (float)cos(theta);
        cs[2 * i + 1] = (float)sin(theta);
    }
}

void cpu_rope(float *x, int n_heads, int head_dim, int n_rot, const float *cs, int neox)
{
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < n_rot / 2; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1];
            int a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

void cpu_silu_mul(float *out, const float *gate, const float *up, int n)
{
    for (int i = 0; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void cpu_gelu_tanh_mul(float *out, const float *gate, const float *up, int n)
{
    /* 0.5 (1 + tanh(z)) = 1 / (1 + exp(-2z)): one expf instead of a tanhf */
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-1.5957691216057308f * (g + 0.044715f * g * g * g))) * up[i];
    }
}

void cpu_gelu(float *x, int n)
{
    for (int i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

float cpu_dot_f32(const float *a, const float *b, int n)
{
    return vec_dot(GGML_TYPE_F32, GGML_TYPE_F32, a, b, n);
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
__attribute__((target("avx2,fma"))) static void axpy_avx2(float *y, float a, const float *x, int n)
{
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}
#endif

void cpu_axpy(float *y, float a, const float *x, int n)
{
#if defined(__x86_64__) || defined(__i386__)
    if (cpu_has_avx2()) {
        axpy_avx2(y, a, x, n);
        return;
    }
#endif
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}
