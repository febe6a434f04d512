#include "gemm.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.cuh"
#include "elementwise.h"

/* How many of cuBLASLt's offered algorithms a shape times, and by how much
 * one must beat cublasGemmEx to be kept: a margin so that timing noise does
 * not swap algorithms (and with them the rounding of the sums) for nothing. */
#define TUNE_ALGOS 8
#define TUNE_MARGIN 0.97f
/* Fewer rows keep cublasGemmEx without a plan: such products are bound by
 * the host's launches (a 512-token prompt on Qwen2.5-0.5B's shape took as
 * long with the plans as without, H100), and timing them would time the
 * launches. */
#define TUNE_MIN_N 513
/* the alignment cuBLASLt's heuristic assumes of every pointer by default
 * (CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*_BYTES); a product whose pointers
 * fall short takes cublasGemmEx */
#define LT_ALIGN 256

typedef struct {
    int rows, cols, bucket, accumulate;
    uint32_t a_type, y_type;
    int lt; /* 1: algo, 0: cublasGemmEx */
    cublasLtMatmulAlgo_t algo;
} plan;

struct cuda_gemm_plans {
    pthread_mutex_t mu; /* guards p, n and cap; never held while timing */
    plan *p;
    int n, cap;
    long lt_runs, fallbacks; /* atomically */
};

extern "C" cuda_gemm_plans *cuda_gemm_plans_new(void)
{
    cuda_gemm_plans *t = (cuda_gemm_plans *)calloc(1, sizeof *t);
    if (t) pthread_mutex_init(&t->mu, NULL);
    return t;
}

extern "C" void cuda_gemm_plans_free(cuda_gemm_plans *t)
{
    if (!t) return;
    pthread_mutex_destroy(&t->mu);
    free(t->p);
    free(t);
}

extern "C" cuda_gemm_plans_stats cuda_gemm_plans_count(cuda_gemm_plans *t)
{
    cuda_gemm_plans_stats st = {0, 0, 0, 0};
    if (!t) return st;
    pthread_mutex_lock(&t->mu);
    st.plans = t->n;
    for (int i = 0; i < t->n; i++) st.lt += t->p[i].lt;
    pthread_mutex_unlock(&t->mu);
    st.lt_runs = __atomic_load_n(&t->lt_runs, __ATOMIC_RELAXED);
    st.fallbacks = __atomic_load_n(&t->fallbacks, __ATOMIC_RELAXED);
    return st;
}

extern "C" size_t cuda_gemm_workspace(int sm_major) { return (size_t)(sm_major >= 9 ? 32 : 4) << 20; }

static cudaDataType_t cuda_type(uint32_t t)
{
    return t == T_F32 ? CUDA_R_32F : t == T_F16 ? CUDA_R_16F : CUDA_R_16BF;
}

/* Row-major Y (n, rows) is column-major (rows, n) = W (rows, cols) times
 * X^T: column-major W^T is row-major W, so op(A) = T with lda = cols. */
static cublasStatus_t gemm_ex(cublasHandle_t h, const void *A, uint32_t a_type, const void *B, void *Y, uint32_t y_type,
                              int rows, int cols, int n, float beta)
{
    const float alpha = 1.0f;
    return cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &alpha, A, cuda_type(a_type), cols, B,
                        cuda_type(a_type), cols, &beta, Y, cuda_type(y_type), rows, CUBLAS_COMPUTE_32F,
                        CUBLAS_GEMM_DEFAULT);
}

/* The same product as cuBLASLt describes it (the descriptors live in the
 * struct: no allocation). */
typedef struct {
    cublasLtMatmulDescOpaque_t op;
    cublasLtMatrixLayoutOpaque_t a, b, c;
} lt_desc;

static cublasStatus_t lt_desc_init(lt_desc *d, uint32_t a_type, uint32_t y_type, int rows, int cols, int n)
{
    const cublasOperation_t t = CUBLAS_OP_T;
    cublasStatus_t st = cublasLtMatmulDescInit(&d->op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescSetAttribute(&d->op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof t);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatrixLayoutInit(&d->a, cuda_type(a_type), cols, rows, cols);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatrixLayoutInit(&d->b, cuda_type(a_type), cols, n, cols);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatrixLayoutInit(&d->c, cuda_type(y_type), rows, n, rows);
    return st;
}

static cublasStatus_t lt_run(const cuda_gemm_ctx *g, lt_desc *d, const cublasLtMatmulAlgo_t *algo, const void *A,
                             const void *B, void *Y, float beta, cudaStream_t s)
{
    const float alpha = 1.0f;
    return cublasLtMatmul(g->lt, &d->op, &alpha, A, &d->a, B, &d->b, &beta, Y, &d->c, Y, &d->c, algo, g->ws,
                          g->ws_bytes, s);
}

/* Milliseconds a launch of the candidate takes (algo NULL: cublasGemmEx):
 * one launch to warm up, then the fastest of three runs of three launches;
 * INFINITY when it fails. */
static float time_candidate(const cuda_gemm_ctx *g, const plan *p, lt_desc *d, const cublasLtMatmulAlgo_t *algo,
                            const void *A, const void *B, void *Y, int n, cudaStream_t s, cudaEvent_t ev[2])
{
    const float beta = p->accumulate ? 1.0f : 0.0f;
    float best = INFINITY;
    for (int run = 0; run < 4; run++) {
        if (run && cudaEventRecord(ev[0], s) != cudaSuccess) return INFINITY;
        for (int k = 0; k < (run ? 3 : 1); k++) {
            cublasStatus_t st = algo ? lt_run(g, d, algo, A, B, Y, beta, s)
                                     : gemm_ex(g->blas, A, p->a_type, B, Y, p->y_type, p->rows, p->cols, n, beta);
            if (st != CUBLAS_STATUS_SUCCESS) return INFINITY;
        }
        if (!run) {
            if (cudaStreamSynchronize(s) != cudaSuccess) return INFINITY;
            continue;
        }
        float ms = 0;
        if (cudaEventRecord(ev[1], s) != cudaSuccess || cudaEventSynchronize(ev[1]) != cudaSuccess ||
            cudaEventElapsedTime(&ms, ev[0], ev[1]) != cudaSuccess)
            return INFINITY;
        if (ms / 3 < best) best = ms / 3;
    }
    return best;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

/* HRT_CUDA_GEMM_LOG=1: a line on stderr for each plan made (diagnostics) */
static int log_on(void)
{
    const char *v = getenv("HRT_CUDA_GEMM_LOG");
    return v && strcmp(v, "0");
}

/* Times p's candidates for n rows (W's own weights A, a scratch input and
 * output) and sets p->lt and p->algo; the caller's buffers are never
 * touched. 0 when it could not time them (no memory for the scratch, say):
 * the caller then makes no plan, and a later product tries again. */
static int tune(const cuda_gemm_ctx *g, plan *p, const void *A, int n, cudaStream_t s)
{
    p->lt = 0;
    void *B = NULL, *Y = NULL;
    cudaEvent_t ev[2] = {NULL, NULL};
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t res[TUNE_ALGOS];
    int got = 0;
    const uint64_t ws = g->ws_bytes;
    lt_desc d;
    const size_t y_el = p->y_type == T_F32 ? 4 : 2;
    const double t0 = now_ms();
    double t1 = t0, t2 = t0;
    float ex = INFINITY, best = INFINITY;
    int pick = -1, timed = 0;
    if (cudaStreamSynchronize(s) != cudaSuccess || cudaMalloc(&B, (size_t)n * p->cols * 2) != cudaSuccess ||
        cudaMalloc(&Y, (size_t)n * p->rows * y_el) != cudaSuccess || cudaEventCreate(&ev[0]) != cudaSuccess ||
        cudaEventCreate(&ev[1]) != cudaSuccess)
        goto done;
    /* finite values (0x3c3c is 0.0115 in bf16, 1.06 in fp16; 0x3c3c3c3c 0.0115 in f32) */
    if (cudaMemsetAsync(B, 0x3c, (size_t)n * p->cols * 2, s) != cudaSuccess ||
        cudaMemsetAsync(Y, 0x3c, (size_t)n * p->rows * y_el, s) != cudaSuccess)
        goto done;
    t1 = now_ms();
    if (lt_desc_init(&d, p->a_type, p->y_type, p->rows, p->cols, n) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws) !=
            CUBLAS_STATUS_SUCCESS ||
        cublasLtMatmulAlgoGetHeuristic(g->lt, &d.op, &d.a, &d.b, &d.c, &d.c, pref, TUNE_ALGOS, res, &got) !=
            CUBLAS_STATUS_SUCCESS)
        goto done;
    t2 = now_ms();
    {
        ex = time_candidate(g, p, &d, NULL, A, B, Y, n, s, ev);
        best = g->prefer_lt ? INFINITY : ex;
        for (int k = 0; k < got; k++) {
            if (res[k].state != CUBLAS_STATUS_SUCCESS) continue;
            const float t = time_candidate(g, p, &d, &res[k].algo, A, B, Y, n, s, ev);
            if (t < best) best = t, pick = k;
        }
        if (pick >= 0 && (g->prefer_lt || best < TUNE_MARGIN * ex)) {
            p->lt = 1;
            p->algo = res[pick].algo;
        }
        timed = 1;
    }
done:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    cudaStreamSynchronize(s);
    for (int k = 0; k < 2; k++)
        if (ev[k]) cudaEventDestroy(ev[k]);
    cudaFree(B);
    cudaFree(Y);
    if (!timed) cudaGetLastError(); /* its own failure (an allocation, say): cleared, so the product goes on */
    if (log_on() && !timed)
        fprintf(stderr, "gemm plan: %d x %d by %d rows: could not time (no memory for the scratch?)\n", p->rows,
                p->cols, n);
    else if (log_on())
        fprintf(stderr,
                "gemm plan: %d x %d by %d rows (bucket %d), %s to %s%s: cublasGemmEx %.1f us, cuBLASLt's best %.1f us "
                "(#%d of %d) -> %s; timing took %.1f ms (scratch %.1f, heuristic %.1f)\n",
                p->rows, p->cols, n, p->bucket, p->a_type == T_BF16 ? "bf16" : "fp16",
                p->y_type == T_F32 ? "f32" : p->y_type == T_BF16 ? "bf16" : "fp16", p->accumulate ? ", accumulating" : "",
                ex * 1e3, best * 1e3, pick, got, p->lt ? "cuBLASLt" : "cublasGemmEx", now_ms() - t0, t1 - t0, t2 - t1);
    return timed;
}

/* The plan of a key in t (under its mutex), copied to out; 0 when none. */
static int find_plan(const cuda_gemm_plans *t, const plan *key, plan *out)
{
    for (int i = 0; i < t->n; i++) {
        const plan *q = &t->p[i];
        if (q->rows == key->rows && q->cols == key->cols && q->bucket == key->bucket &&
            q->accumulate == key->accumulate && q->a_type == key->a_type && q->y_type == key->y_type) {
            *out = *q;
            return 1;
        }
    }
    return 0;
}

/* The plan for W by n rows (found, or made now, timing it at the bucket's
 * top, which scratch buffers hold whatever the caller's size: an
 * algorithm's workspace grows with the rows, so it fits the whole bucket);
 * 0 when the product takes cublasGemmEx without a plan (no table, few
 * rows, the stream under capture, when nothing may synchronize it, or no
 * memory to time). The mutex is not held while timing: two threads may
 * time the same key, and the first to finish makes the plan. */
static int plan_for(const cuda_gemm_ctx *g, const cuda_mat *W, int n, uint32_t y_type, int accumulate, cudaStream_t s,
                    plan *out)
{
    cuda_gemm_plans *t = g->plans;
    if (!t || !g->lt || !g->ws || n < TUNE_MIN_N) return 0;
    int bucket = 2;
    while (bucket < n) bucket *= 2;
    const plan key = {(int)W->rows, (int)W->cols, bucket, accumulate, W->gemm_type, y_type, 0, {}};
    pthread_mutex_lock(&t->mu);
    int found = find_plan(t, &key, out);
    pthread_mutex_unlock(&t->mu);
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    if (found || cudaStreamIsCapturing(s, &cs) != cudaSuccess || cs != cudaStreamCaptureStatusNone) return found;
    plan made = key;
    if (!tune(g, &made, W->gemm, bucket, s)) return 0;
    pthread_mutex_lock(&t->mu);
    if (!(found = find_plan(t, &key, out))) {
        if (t->n == t->cap) {
            const int cap = t->cap ? 2 * t->cap : 32;
            plan *np = (plan *)realloc(t->p, (size_t)cap * sizeof *np);
            if (np) t->p = np, t->cap = cap;
        }
        if (t->n < t->cap) t->p[t->n++] = made;
        *out = made;
        found = 1;
    }
    pthread_mutex_unlock(&t->mu);
    return found;
}

extern "C" cudaError_t cuda_gemm(const cuda_gemm_ctx *g, const cuda_mat *W, const float *X, void *xh,
                                 const float *bias, void *Y, uint32_t y_type, int n, int accumulate, cudaStream_t s)
{
    if (y_type != T_F32 && (y_type != W->gemm_type || bias || accumulate)) return cudaErrorInvalidValue;
    const int rows = (int)W->rows, cols = (int)W->cols;
    const float beta = accumulate ? 1.0f : 0.0f;
    cudaError_t e;
    cublasStatus_t st = CUBLAS_STATUS_NOT_SUPPORTED;
    if (cublasSetStream(g->blas, s) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
    if (W->gemm_type == T_F32) {
        if (!X) return cudaErrorInvalidValue;
        st = gemm_ex(g->blas, W->gemm, T_F32, X, Y, T_F32, rows, cols, n, beta);
    } else {
        if (X && (e = cuda_to_16bit(xh, W->gemm_type, X, (int64_t)n * cols, s)) != cudaSuccess) return e;
        plan p;
        if ((uintptr_t)W->gemm % LT_ALIGN == 0 && (uintptr_t)xh % LT_ALIGN == 0 && (uintptr_t)Y % LT_ALIGN == 0 &&
            plan_for(g, W, n, y_type, accumulate, s, &p) && p.lt) {
            /* timed at the bucket's top; for fewer rows cublasLtMatmul
             * checks the algorithm itself (a status, then cublasGemmEx) */
            lt_desc d;
            if (lt_desc_init(&d, p.a_type, y_type, rows, cols, n) == CUBLAS_STATUS_SUCCESS)
                st = lt_run(g, &d, &p.algo, W->gemm, xh, Y, beta, s);
            __atomic_fetch_add(st == CUBLAS_STATUS_SUCCESS ? &g->plans->lt_runs : &g->plans->fallbacks, 1,
                               __ATOMIC_RELAXED);
        }
        if (st != CUBLAS_STATUS_SUCCESS) st = gemm_ex(g->blas, W->gemm, W->gemm_type, xh, Y, y_type, rows, cols, n, beta);
    }
    if (st != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
    return bias ? cuda_add_bias((float *)Y, bias, n, rows, s) : cudaSuccess;
}

extern "C" cudaError_t cuda_gemm_pair(cublasHandle_t h, const cuda_mat *W0, const cuda_mat *W1, void *const *ptrs,
                                      uint32_t y_type, int n, cudaStream_t s)
{
    const uint32_t t = W0->gemm_type;
    if ((t != T_F16 && t != T_BF16) || W1->gemm_type != t || W1->rows != W0->rows || W1->cols != W0->cols ||
        (y_type != T_F32 && y_type != t) || !ptrs || n < 1)
        return cudaErrorInvalidValue;
    const int rows = (int)W0->rows, cols = (int)W0->cols;
    const float alpha = 1.0f, beta = 0.0f;
    const cudaDataType_t dt = t == T_F16 ? CUDA_R_16F : CUDA_R_16BF;
    if (cublasSetStream(h, s) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
    /* as cuda_gemm: column-major Y_i (rows, n) = W_i (row-major) times X_i^T */
    cublasStatus_t st = cublasGemmBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &alpha,
                                            (const void *const *)ptrs, dt, cols, (const void *const *)(ptrs + 2), dt,
                                            cols, &beta, ptrs + 4, y_type == T_F32 ? CUDA_R_32F : dt, rows, 2,
                                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    return st == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown;
}
