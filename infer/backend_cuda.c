/* The CUDA backend: the same forward pass as backend_cpu.c, on one GPU.
 *
 * Model state (shared by the model's sessions, read-only after init):
 *   1. Every matrix is uploaded once, repacked for the decode kernels
 *      (kernels/cuda/matvec.h), plus a 16-bit (or f32) copy for the cuBLAS
 *      products of prompts; vectors are uploaded as floats.
 *   2. The device memory is planned before the first allocation: when the
 *      plan does not fit, loading fails with the bytes needed and free.
 * Session state:
 *   3. The KV cache holds n_ctx rows per layer, as on the CPU; rows
 *      [0, n_past) are valid and decode() writes rows n_past.. only.
 *   4. A one-token step is captured once as a CUDA graph and replayed: the
 *      token id and position travel in pinned host memory that the graph
 *      copies in, the logits come back through pinned memory, and the host
 *      waits once per token. The persistent step (5.) leaves its argmax and
 *      the next position as its own next input and writes the argmax into
 *      mapped host memory, a slot a position: its graph is the kernel
 *      alone, a greedy step whose token is the last step's argmax copies
 *      nothing in, and steps (greedy, or sampled on the device) can be
 *      enqueued before the result of the one before is back
 *      (cuda_decode_ahead).
 *   5. For the Llama-family shapes kernels/cuda/decode.h takes, the step's
 *      forward pass is one persistent kernel (HRT_CUDA_FUSED=0 in the
 *      environment keeps the per-operation kernels; so does a device that
 *      cannot launch it); otherwise one kernel per operation.
 *   6. Prompts run in micro-batches of up to UBATCH_MAX tokens (the
 *      context's size when smaller) through cuBLAS: long micro-batches keep
 *      the tensor cores busy (more query rows for attention, taller GEMMs),
 *      and their scratch is counted in the session's memory plan. */
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/quant.h"
#include "cuda/attention.h"
#include "cuda/decode.h"
#include "cuda/elementwise.h"
#include "cuda/gemm.h"
#include "cuda/gemm_glu.h"
#include "cuda/gemm_rope.h"
#include "cuda/matvec.h"
#include "cuda/norm.h"
#include "cuda/prompt_attention.h"
#include "cuda/rope.h"
#include "cuda/sample.h"
#include "error.h"
#include "model.h"

#define UBATCH_MAX 2048
/* a layer's pointers for cuda_gemm_pair: K and V (layers that do not fuse them with Q) */
#define PAIR_PTRS 6

/* What a forward pass leaves: the logits copied to the host, their argmax
 * there, the logits on the device only (for the sampler), or nothing (a
 * micro-batch of a prompt before its last) */
enum { RESULT_LOGITS, RESULT_ARGMAX, RESULT_DEVICE, RESULT_NONE };

typedef struct {
    cuda_mat wq, wk, wv, wo, gate, up, down;
    cuda_mat wqkv; /* gemm NULL, or wq, wk and wv's GEMM inputs as one matrix (fuse_layer) */
    cuda_mat wgu;  /* gemm NULL, or gate and up's likewise */
    float *attn_norm, *ffn_norm, *bq, *bk, *bv, *bo, *b_up, *b_down, *q_norm, *k_norm;
    float *attn_post_norm, *ffn_post_norm;
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
} cu_layer;

typedef struct {
    struct cudaDeviceProp prop;
    cu_layer *layers;
    cuda_mat tok_embd, output;
    float *output_norm, *pos_embd, *type_embd, *embd_ln_w, *embd_ln_b;
    double *inv_freq, *inv_freq_swa;
    cuda_decode_args fused;    /* the model's part of the persistent step's arguments */
    int fused_ok;              /* whether the model's shape is one it takes */
    void **allocs;
    int n_allocs, cap_allocs;
    size_t bytes;              /* device bytes of weights */
    /* hrt_embed has no session: one stream, handle and mutex for it */
    pthread_mutex_t enc_mu;
    cudaStream_t enc_stream;
    cublasHandle_t enc_blas;
    cuda_gemm_plans *plans;    /* prompt products' algorithms, shared by the sessions (HRT_CUDA_GEMM_TUNE=1) */
    int plans_prefer_lt;       /* HRT_CUDA_GEMM_TUNE=2 (tests) */
    int glu_gemm;              /* prompts' gate, up and GLU as one kernel (cuda_gemm_glu) */
    int rope_gemm;             /* prompts' Q/K/V, RoPE and cache stores as one kernel (cuda_gemm_rope) */
} cu_model;

typedef struct {
    cudaStream_t stream;
    cublasHandle_t blas;
    cuda_gemm_ctx gemm;        /* blas, a cuBLASLt handle and its workspace, the model's plans */
    float *k_cache, *v_cache;  /* (n_layer, n_ctx, kv_dim) */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *logits;
    float *part;               /* attention partials of a split decode step */
    void *att16;               /* cuda_prompt_attention's scratch (NULL: the model's prompts do not use it) */
    float *rope_cs, *rope_cs_swa; /* a prompt's RoPE angles (ubatch, n_rot / 2 (cos, sin) pairs) for cuda_gemm_rope,
                                   * the local layers' apart where they differ; NULL when no layer takes it */
    size_t att16_bytes;
    int n_split;               /* flash-decoding splits of a one-token step */
    void *xh;                  /* 16-bit copies of activations for cuBLAS */
    void **pairs;              /* per layer, cuda_gemm_pair's pointers for K and V (PAIR_PTRS) */
    int ubatch;                /* tokens a micro-batch holds: min(n_ctx, UBATCH_MAX) */
    int *d_io, *h_io;          /* the position, then ubatch ids: device, and pinned (one copy brings both) */
    int32_t *d_ids, *h_ids;    /* d_io + 1, h_io + 1 */
    int *d_pos, *h_pos;        /* d_io, h_io */
    /* what d_ids[0] and *d_pos hold for certain (chain_pos -1: not known):
     * after a persistent step, its argmax (or the id sampled on the
     * device) and its position + 1 */
    int32_t chain_tok;
    int chain_pos;
    float *h_logits;           /* pinned (n_vocab) */
    int32_t *d_next, *h_next;  /* the per-operation step's argmax or the id sampled: device and pinned (mapped) */
    int32_t *h_next_dev;       /* h_next in the device's addresses */
    int32_t *h_argmax;         /* (n_ctx) a persistent step's result (argmax, or the id sampled ahead) at each position: pinned, mapped */
    int32_t result;            /* the last run_decode's argmax or id sampled */
    /* steps enqueued ahead (cuda_decode_ahead): the last one's
     * position (-1: none not waited for), and an event for each parity */
    int ahead_top;
    cudaEvent_t ahead_ev[2];
    void *argmax_scratch;
    cudaGraphExec_t graph[3];  /* one-token step: [RESULT_LOGITS], [RESULT_ARGMAX], [RESULT_DEVICE] */
    int have_graph[3];
    void *sample_scratch;      /* cuda_sample's */
    size_t sample_bytes;
    /* the ids at each position (n_ctx + 1), for the sampler's penalties:
     * d_hist[0..hist_synced) on the device hold them (the sampler stores
     * its id at the next position, to be the next step's token), and
     * h_hist[0..hist_known) on the host (pinned), from the ids the host
     * gives and the steps' results as they come back */
    int32_t *d_hist, *h_hist;
    int hist_synced, hist_known;
    long n_sampled;            /* tokens sampled on the device (tests) */
    long n_ahead;              /* steps enqueued ahead (tests) */
    cuda_decode_args fused;    /* the persistent step's arguments */
    int use_fused, fused_direct; /* fused_direct: launched without a graph */
    void *fused_scratch;
    unsigned long long *fused_timing; /* HRT_DECODE_TIMING=1: cycles per phase, printed at the end */
} cu_session;

#define CK(call)                                                                                  \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (e_ != cudaSuccess)                                                                    \
            return hrt_err(HRT_E_BACKEND, "CUDA: %s failed: %s", #call, cudaGetErrorString(e_)); \
    } while (0)

int cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
    return n;
}

/* ---- device memory -------------------------------------------------------------- */
/* Keeps p (NULL is ignored) for cuda_model_free; on failure frees it. */
static int track(cu_model *cm, void *p, size_t bytes)
{
    if (!p) return 0;
    if (cm->n_allocs == cm->cap_allocs) {
        int cap = cm->cap_allocs ? 2 * cm->cap_allocs : 256;
        void **a = realloc(cm->allocs, (size_t)cap * sizeof *a);
        if (!a) {
            cudaFree(p);
            return hrt_err(HRT_E_NOMEM, "out of memory");
        }
        cm->allocs = a;
        cm->cap_allocs = cap;
    }
    cm->allocs[cm->n_allocs++] = p;
    cm->bytes += bytes;
    return 0;
}

static int alloc_failed(size_t bytes, cudaError_t e)
{
    size_t fr = 0, total = 0;
    cudaMemGetInfo(&fr, &total);
    return hrt_err(HRT_E_NOMEM, "CUDA: allocating %zu MiB failed (%zu MiB free of %zu): %s", bytes >> 20, fr >> 20,
                   total >> 20, cudaGetErrorString(e));
}

static int dev_alloc(cu_model *cm, void **p, size_t bytes)
{
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess) return alloc_failed(bytes, e);
    return track(cm, *p, bytes);
}

/* Frees p, which track() kept with its bytes. */
static void untrack(cu_model *cm, void *p, size_t bytes)
{
    for (int i = 0; i < cm->n_allocs; i++)
        if (cm->allocs[i] == p) {
            cm->allocs[i] = cm->allocs[--cm->n_allocs];
            cm->bytes -= bytes;
            cudaFree(p);
            return;
        }
}

/* The GEMM copy's type: f32 for f32 weights and at HRT_PRECISION_F32 (the
 * exact path), otherwise 16 bits on the tensor cores (bf16 weights keep
 * bf16, everything else fp16). */
static uint32_t gemm_type_for(const hrt_model *m, uint32_t type)
{
    if (type == GGML_TYPE_F32 || m->precision == HRT_PRECISION_F32) return GGML_TYPE_F32;
    return type == GGML_TYPE_BF16 ? GGML_TYPE_BF16 : GGML_TYPE_F16;
}

static size_t gemm_elem(uint32_t t) { return t == GGML_TYPE_F32 ? 4 : 2; }

/* Device bytes a matrix takes (repacked weights + GEMM copy). */
static size_t mat_bytes(const hrt_model *m, const cpu_mat *c)
{
    if (!c->data) return 0;
    size_t n = (size_t)c->n_rows * c->n_cols;
    uint32_t gt = gemm_type_for(m, c->type);
    return cuda_mat_bytes(c->type, c->n_rows, c->n_cols) + (gt == c->type ? 0 : n * gemm_elem(gt));
}

static int upload_mat(hrt_model *m, cu_model *cm, const cpu_mat *c, cuda_mat *out, int need_gemm)
{
    int st;
    memset(out, 0, sizeof *out);
    if (!c->data) return 0;
    size_t n = (size_t)c->n_rows * c->n_cols;
    if (cuda_mat_layout(c->type) == GGML_TYPE_COUNT)
        return hrt_err(HRT_E_UNSUPPORTED, "CUDA: weights of type %s", ggml_type_name(c->type));
    cudaError_t e = cuda_mat_alloc(out, c->type, c->n_rows, c->n_cols);
    if (e != cudaSuccess) return alloc_failed(cuda_mat_bytes(c->type, c->n_rows, c->n_cols), e);
    void *arrays[] = {out->q, out->d, out->m, out->fd, out->fm};
    for (int i = 0; i < 5; i++) /* the model frees them */
        if ((st = track(cm, arrays[i], i == 0 ? cuda_mat_bytes(c->type, c->n_rows, c->n_cols) : 0))) {
            for (int k = i + 1; k < 5; k++) cudaFree(arrays[k]); /* track() freed arrays[i] */
            memset(out, 0, sizeof *out);
            return st;
        }
    /* Upload in slices of rows so that the repacking buffer stays small. */
    for (int64_t r = 0; r < c->n_rows; r += 4096) {
        int64_t k = c->n_rows - r < 4096 ? c->n_rows - r : 4096;
        CK(cuda_mat_upload(out, c->type, (const char *)c->data + (size_t)r * c->row_bytes, c->row_bytes, r, k));
    }
    out->gemm_type = gemm_type_for(m, c->type);
    if (out->gemm_type == out->type) {
        out->gemm = out->q;
    } else if (need_gemm) {
        if ((st = dev_alloc(cm, &out->gemm, n * gemm_elem(out->gemm_type)))) return st;
        CK(cuda_mat_dequant(out, 0));
    }
    return 0;
}

/* GEMM inputs of k matrices (1 to 3) of one 16-bit or f32 type and width
 * moved into one allocation, rows in order, so that a prompt multiplies
 * them in one product (out): layouts that are their own GEMM input (16
 * bits, f32) move their arrays, the others their GEMM copies, so the bytes
 * are the same as before. out stays empty when they differ in type or
 * width. */
static int fuse_rows(cu_model *cm, cuda_mat *const *w, int k, cuda_mat *out)
{
    memset(out, 0, sizeof *out);
    if (k < 1 || k > 3) return 0;
    for (int i = 0; i < k; i++)
        if (!w[i]->gemm || w[i]->gemm_type != w[0]->gemm_type || w[i]->cols != w[0]->cols) return 0;
    size_t el = gemm_elem(w[0]->gemm_type), bytes[3], total = 0;
    int64_t rows = 0;
    for (int i = 0; i < k; i++) total += bytes[i] = (size_t)w[i]->rows * w[i]->cols * el, rows += w[i]->rows;
    char *base = NULL;
    int st = dev_alloc(cm, (void **)&base, total);
    if (st) return st;
    size_t off = 0;
    for (int i = 0; i < k; off += bytes[i++]) {
        CK(cudaMemcpy(base + off, w[i]->gemm, bytes[i], cudaMemcpyDeviceToDevice));
        untrack(cm, w[i]->gemm, bytes[i]);
        if (w[i]->gemm == w[i]->q) w[i]->q = base + off;
        w[i]->gemm = base + off;
    }
    *out = (cuda_mat){.type = w[0]->gemm_type, .rows = rows, .cols = w[0]->cols, .gemm = base,
                      .gemm_type = w[0]->gemm_type};
    return 0;
}

/* A layer's products that a prompt runs as one (fuse_rows). Q, K and V (on
 * Qwen2.5-0.5B's shape at 2,048 tokens 11.0 us against 18.5 for Q alone and
 * K with V batched, H100), unless Q/K norms come between. Gate and up when
 * down shares their 16-bit type, so that the GLU's result goes straight to
 * down's input (cuda_glu reads the two halves of each row, which must then
 * be equal and a multiple of 4 wide). */
static int fuse_layer(cu_model *cm, cu_layer *G)
{
    cuda_mat *qkv[3] = {&G->wq, &G->wk, &G->wv}, *gu[2] = {&G->gate, &G->up};
    int st = G->q_norm || G->k_norm ? 0 : fuse_rows(cm, qkv, 3, &G->wqkv);
    if (st || G->gate.gemm_type == GGML_TYPE_F32 || G->gate.gemm_type != G->down.gemm_type || !G->down.gemm ||
        G->gate.rows != G->up.rows || G->gate.rows % 4)
        return st;
    return fuse_rows(cm, gu, 2, &G->wgu);
}

/* Whether a prompt's gate, up and GLU of layer L run as one kernel
 * (cuda_gemm_glu; cm->glu_gemm says the device runs it). */
static int glu_kernel_takes(const cu_model *cm, const cu_layer *L, int n_embd)
{
    const uint32_t t = L->wgu.gemm_type;
    return cm->glu_gemm && L->wgu.gemm && (t == GGML_TYPE_F16 || t == GGML_TYPE_BF16) && t == L->down.gemm_type &&
           L->gate.rows % 128 == 0 && n_embd % 8 == 0;
}

/* Whether a prompt's Q/K/V products, RoPE and cache stores of layer L run
 * as one kernel (cuda_gemm_rope; cm->rope_gemm says the device runs it):
 * Q, K and V fused into one 16-bit matrix (no Q/K norms between), RoPE
 * over whole heads of 64 or 128. */
static int rope_kernel_takes(const cu_model *cm, const cu_layer *L, const hparams *hp)
{
    const uint32_t t = L->wqkv.gemm_type;
    return cm->rope_gemm && L->wqkv.gemm && !L->q_norm && !L->k_norm &&
           (t == GGML_TYPE_F16 || t == GGML_TYPE_BF16) &&
           (hp->head_dim == 64 || hp->head_dim == 128) && hp->n_rot == hp->head_dim && hp->n_embd % 8 == 0;
}

/* (layer 0 stands for the model: its layers share their file types) */
int cuda_model_rope_gemm(const hrt_model *m)
{
    const cu_model *cm = m ? m->backend_state : NULL;
    return cm && m->hp.n_layer > 0 && rope_kernel_takes(cm, &cm->layers[0], &m->hp);
}

int cuda_model_glu_gemm(const hrt_model *m)
{
    const cu_model *cm = m ? m->backend_state : NULL;
    return cm && m->hp.n_layer > 0 && glu_kernel_takes(cm, &cm->layers[0], m->hp.n_embd);
}

static int upload_vec(cu_model *cm, const float *v, size_t n, float **out)
{
    *out = NULL;
    if (!v) return 0;
    int st = dev_alloc(cm, (void **)out, n * sizeof(float));
    if (st) return st;
    CK(cudaMemcpy(*out, v, n * sizeof(float), cudaMemcpyHostToDevice));
    return 0;
}

static void cuda_model_free(hrt_model *m)
{
    cu_model *cm = m->backend_state;
    if (!cm) return;
    for (int i = 0; i < cm->n_allocs; i++) cudaFree(cm->allocs[i]);
    if (cm->enc_blas) cublasDestroy(cm->enc_blas);
    cuda_gemm_plans_free(cm->plans);
    if (cm->enc_stream) cudaStreamDestroy(cm->enc_stream);
    pthread_mutex_destroy(&cm->enc_mu);
    free(cm->allocs);
    free(cm->layers);
    free(cm);
    m->backend_state = NULL;
}

/* The persistent decode step's model arguments and per-layer table, when
 * the model's shape is one it takes (kernels/cuda/decode.h). */
static int fused_model_init(hrt_model *m, cu_model *cm)
{
    const hparams *hp = &m->hp;
    const uint32_t other = ARCH_QK_NORM | ARCH_SANDWICH_NORM | ARCH_GEGLU | ARCH_ENCODER;
    if ((m->arch->flags & other) || hp->n_swa > 0 || hp->logit_softcap > 0) return 0;
    cuda_decode_args *a = &cm->fused;
    *a = (cuda_decode_args){.n_layer = hp->n_layer, .n_embd = hp->n_embd, .n_head = hp->n_head,
                            .n_kv = hp->n_head_kv, .head_dim = hp->head_dim, .n_rot = hp->n_rot, .n_ff = hp->n_ff,
                            .n_vocab = hp->n_vocab, .neox = hp->rope_neox, .eps = hp->norm_eps,
                            .attn_scale = hp->attn_scale, .embd_scale = hp->embd_scale, .tok_embd = cm->tok_embd,
                            .output = cm->output, .output_norm = cm->output_norm, .inv_freq = cm->inv_freq};
    size_t bytes = (size_t)hp->n_layer * sizeof(cuda_decode_layer);
    cuda_decode_layer *hl = calloc((size_t)hp->n_layer, sizeof *hl);
    if (!hl) return hrt_err(HRT_E_NOMEM, "out of memory");
    int ok = 1;
    for (int l = 0; l < hp->n_layer; l++) {
        const cu_layer *G = &cm->layers[l];
        hl[l] = (cuda_decode_layer){G->wq, G->wk, G->wv, G->wo, G->gate, G->up, G->down,
                                    G->attn_norm, G->ffn_norm, G->bq, G->bk, G->bv};
        /* tensors the step does not apply, whatever the architecture says */
        if (G->bo || G->b_up || G->b_down || G->q_norm || G->k_norm || G->attn_post_norm || G->ffn_post_norm) ok = 0;
    }
    int st = 0;
    if (ok && cuda_decode_supported(a, hl)) {
        void *dl = NULL;
        if (!(st = dev_alloc(cm, &dl, bytes))) {
            cudaError_t e = cudaMemcpy(dl, hl, bytes, cudaMemcpyHostToDevice);
            if (e != cudaSuccess) st = hrt_err(HRT_E_BACKEND, "CUDA: uploading the layer table failed: %s",
                                               cudaGetErrorString(e));
            a->layers = dl;
            cm->fused_ok = !st;
        }
    }
    free(hl);
    return st;
}

static int cuda_model_init(hrt_model *m)
{
    const hparams *hp = &m->hp;
    int st, enc = (m->arch->flags & ARCH_ENCODER) != 0;
    CK(cudaSetDevice(m->device));
    cu_model *cm = calloc(1, sizeof *cm);
    if (!cm) return hrt_err(HRT_E_NOMEM, "out of memory");
    pthread_mutex_init(&cm->enc_mu, NULL);
    m->backend_state = cm;
    CK(cudaGetDeviceProperties(&cm->prop, m->device));
    /* HRT_CUDA_GEMM_TUNE=1: prompt products of more than 512 rows take the
     * algorithm that timing finds fastest (kernels/cuda/gemm.h); off by
     * default, since the first prompt of each length bucket in a process
     * pays some 100 ms for a few percent on long prompts; =2, for tests:
     * cuBLASLt's fastest even where cublasGemmEx is faster */
    const char *tune = getenv("HRT_CUDA_GEMM_TUNE"), *glu = getenv("HRT_CUDA_GLU_GEMM"),
               *rope = getenv("HRT_CUDA_ROPE_GEMM");
    /* HRT_CUDA_GLU_GEMM=0: gate/up through cuBLAS, then the GLU; HRT_CUDA_ROPE_GEMM=0:
     * Q/K/V through cuBLAS, then RoPE and the stores (other devices always) */
    cm->glu_gemm = !(glu && glu[0] == '0') && cuda_gemm_glu_available();
    cm->rope_gemm = !(rope && rope[0] == '0') && cuda_gemm_rope_available();
    if (!enc && tune && (!strcmp(tune, "1") || !strcmp(tune, "2"))) {
        if (!(cm->plans = cuda_gemm_plans_new())) return hrt_err(HRT_E_NOMEM, "out of memory");
        cm->plans_prefer_lt = tune[0] == '2';
    }

    /* Plan: every matrix and vector, before the first allocation. */
    size_t plan = mat_bytes(m, &m->tok_embd) + (m->output.data != m->tok_embd.data ? mat_bytes(m, &m->output) : 0);
    for (int l = 0; l < hp->n_layer; l++) {
        const layer_weights *L = &m->layers[l];
        const cpu_mat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->gate, &L->up, &L->down};
        for (int i = 0; i < 7; i++) plan += mat_bytes(m, mats[i]);
        plan += (size_t)(8 * hp->n_embd + 2 * hp->n_ff + 4 * hp->head_dim) * sizeof(float);
    }
    plan += (size_t)(hp->n_ctx_train + 4) * hp->n_embd * sizeof(float); /* BERT positions, generous */
    size_t fr = 0, total = 0;
    CK(cudaMemGetInfo(&fr, &total));
    if (plan > fr)
        return hrt_err(HRT_E_NOMEM, "%s: the weights need %zu MiB on %s (device %d), %zu MiB are free", m->path,
                       plan >> 20, cm->prop.name, m->device, fr >> 20);

    /* The embedding table is only read row by row: no GEMM copy. */
    if ((st = upload_mat(m, cm, &m->tok_embd, &cm->tok_embd, 0))) return st;
    if (m->output.data == m->tok_embd.data && !enc) {
        cm->output = cm->tok_embd;
    } else if ((st = upload_mat(m, cm, &m->output, &cm->output, 0))) {
        return st;
    }
    cm->layers = calloc((size_t)hp->n_layer, sizeof *cm->layers);
    if (!cm->layers) return hrt_err(HRT_E_NOMEM, "out of memory");
    size_t d = (size_t)hp->n_embd, q_dim = (size_t)hp->n_head * hp->head_dim, kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    for (int l = 0; l < hp->n_layer; l++) {
        const layer_weights *L = &m->layers[l];
        cu_layer *G = &cm->layers[l];
        if ((st = upload_mat(m, cm, &L->wq, &G->wq, 1)) || (st = upload_mat(m, cm, &L->wk, &G->wk, 1)) ||
            (st = upload_mat(m, cm, &L->wv, &G->wv, 1)) || (st = upload_mat(m, cm, &L->wo, &G->wo, 1)) ||
            (st = upload_mat(m, cm, &L->gate, &G->gate, 1)) || (st = upload_mat(m, cm, &L->up, &G->up, 1)) ||
            (st = upload_mat(m, cm, &L->down, &G->down, 1)) ||
            (st = upload_vec(cm, L->attn_norm, d, &G->attn_norm)) || (st = upload_vec(cm, L->ffn_norm, d, &G->ffn_norm)) ||
            (st = upload_vec(cm, L->bq, q_dim, &G->bq)) || (st = upload_vec(cm, L->bk, kv_dim, &G->bk)) ||
            (st = upload_vec(cm, L->bv, kv_dim, &G->bv)) || (st = upload_vec(cm, L->bo, d, &G->bo)) ||
            (st = upload_vec(cm, L->b_up, (size_t)hp->n_ff, &G->b_up)) || (st = upload_vec(cm, L->b_down, d, &G->b_down)) ||
            (st = upload_vec(cm, L->q_norm, (size_t)hp->head_dim, &G->q_norm)) ||
            (st = upload_vec(cm, L->k_norm, (size_t)hp->head_dim, &G->k_norm)) ||
            (st = upload_vec(cm, L->ln1_w, d, &G->ln1_w)) || (st = upload_vec(cm, L->ln1_b, d, &G->ln1_b)) ||
            (st = upload_vec(cm, L->ln2_w, d, &G->ln2_w)) || (st = upload_vec(cm, L->ln2_b, d, &G->ln2_b)) ||
            (st = upload_vec(cm, L->attn_post_norm, d, &G->attn_post_norm)) ||
            (st = upload_vec(cm, L->ffn_post_norm, d, &G->ffn_post_norm)) || (!enc && (st = fuse_layer(cm, G))))
            return st;
    }
    if ((st = upload_vec(cm, m->output_norm, d, &cm->output_norm)) ||
        (st = upload_vec(cm, m->embd_ln_w, d, &cm->embd_ln_w)) || (st = upload_vec(cm, m->embd_ln_b, d, &cm->embd_ln_b)))
        return st;
    if (enc && ((st = upload_vec(cm, m->pos_embd, (size_t)hp->n_ctx_train * d, &cm->pos_embd)) ||
                (st = upload_vec(cm, m->type_embd, (size_t)hp->n_types * d, &cm->type_embd))))
        return st;
    if (!enc) {
        size_t fb = (size_t)hp->n_rot / 2 * sizeof(double);
        if ((st = dev_alloc(cm, (void **)&cm->inv_freq, fb))) return st;
        CK(cudaMemcpy(cm->inv_freq, hp->rope_inv_freq, fb, cudaMemcpyHostToDevice));
        if (hp->rope_inv_freq_swa) {
            if ((st = dev_alloc(cm, (void **)&cm->inv_freq_swa, fb))) return st;
            CK(cudaMemcpy(cm->inv_freq_swa, hp->rope_inv_freq_swa, fb, cudaMemcpyHostToDevice));
        }
    }
    if (!enc && (st = fused_model_init(m, cm))) return st;
    CK(cudaDeviceSynchronize());
    return 0;
}

/* HRT_CUDA_FUSED=0 in the environment: the per-operation kernels even where the persistent step fits. */
static int fused_off_by_env(void)
{
    const char *env = getenv("HRT_CUDA_FUSED");
    return env && !strcmp(env, "0");
}

static void cuda_describe(const hrt_model *m, char *buf, size_t cap)
{
    const cu_model *cm = m->backend_state;
    if (!cm) {
        snprintf(buf, cap, "CUDA device %d", m->device);
        return;
    }
    size_t fr = 0, total = 0;
    cudaMemGetInfo(&fr, &total);
    snprintf(buf, cap, "%s (device %d, sm_%d%d): weights %.1f MiB on the device, %.0f of %.0f MiB free; decode: %s%s%s%s",
             cm->prop.name, m->device, cm->prop.major, cm->prop.minor, (double)cm->bytes / 1048576.0,
             (double)fr / 1048576.0, (double)total / 1048576.0,
             !cm->fused_ok ? "one kernel per operation"
             : fused_off_by_env() ? "one kernel per operation (HRT_CUDA_FUSED=0)"
                                  : "one persistent kernel per token",
             cm->plans ? "; prompt products: timed cuBLASLt plans (HRT_CUDA_GEMM_TUNE)" : "",
             cuda_model_glu_gemm(m) ? "; prompt gate/up: one kernel with the GLU" : "",
             cuda_model_rope_gemm(m) ? "; prompt Q/K/V: one kernel with RoPE" : "");
}

/* ---- sessions ------------------------------------------------------------------------ */
int cuda_session_fused(const hrt_session *s)
{
    const cu_session *c = s ? s->state : NULL;
    return c && c->use_fused ? c->fused.grid : 0;
}

void cuda_model_gemm_plans(const hrt_model *m, int *plans, int *lt, long *lt_runs, long *fallbacks)
{
    const cu_model *cm = m ? m->backend_state : NULL;
    const cuda_gemm_plans_stats st = cuda_gemm_plans_count(cm ? cm->plans : NULL);
    *plans = st.plans, *lt = st.lt, *lt_runs = st.lt_runs, *fallbacks = st.fallbacks;
}

long cuda_session_samples(const hrt_session *s)
{
    const cu_session *c = s ? s->state : NULL;
    return c ? c->n_sampled : 0;
}

long cuda_session_ahead(const hrt_session *s)
{
    const cu_session *c = s ? s->state : NULL;
    return c ? c->n_ahead : 0;
}

/* HRT_DECODE_TIMING=1: where a persistent step's time went, per token, on stderr. */
static void report_timing(hrt_session *s)
{
    cu_session *c = s->state;
    enum { N = DECODE_TIMING_WORDS };
    unsigned long long t[N];
    int khz = 0;
    if (cudaMemcpy(t, c->fused_timing, sizeof t, cudaMemcpyDeviceToHost) != cudaSuccess || !t[N - 1] ||
        cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, s->model->device) != cudaSuccess || khz <= 0)
        return;
    static const char *name[DECODE_PHASES] = {"qkv", "attention", "merge+wo", "gate/up", "down", "lm head"};
    double us = 1e3 / (double)khz / (double)t[N - 1], part[3] = {0, 0, 0};
    fprintf(stderr,
            "decode phases over %llu steps (us per token at %d MHz, block 0; each as input read+norm, work, end; "
            "the wait for a phase's input counts in it):",
            t[N - 1], khz / 1000);
    for (int k = 0; k < DECODE_PHASES; k++) {
        const double v[3] = {(double)t[3 * k] * us, (double)t[3 * k + 1] * us, (double)t[3 * k + 2] * us};
        for (int j = 0; j < 3; j++) part[j] += v[j];
        fprintf(stderr, " %s %.1f (%.1f %.1f %.1f)", name[k], v[0] + v[1] + v[2], v[0], v[1], v[2]);
    }
    fprintf(stderr, " | input read+norm %.1f work %.1f end %.1f; all %.1f\n", part[0], part[1], part[2],
            part[0] + part[1] + part[2]);
}

static void cuda_session_free(hrt_session *s)
{
    cu_session *c = s->state;
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream); /* steps enqueued ahead write to its buffers */
    if (c->fused_timing) report_timing(s);
    for (int g = 0; g < 3; g++)
        if (c->have_graph[g]) cudaGraphExecDestroy(c->graph[g]);
    if (c->blas) cublasDestroy(c->blas);
    if (c->gemm.lt) cublasLtDestroy(c->gemm.lt);
    void *dev[] = {c->k_cache, c->v_cache, c->x, c->xb, c->q, c->k, c->v, c->att, c->hb, c->hb2, c->logits,
                   c->xh, c->d_io, c->part, c->d_next, c->argmax_scratch, c->fused_scratch,
                   c->fused_timing, c->pairs, c->att16, c->rope_cs, c->rope_cs_swa, c->sample_scratch,
                   c->d_hist, c->gemm.ws};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) cudaFree(dev[i]);
    cudaFreeHost(c->h_io);
    cudaFreeHost(c->h_logits);
    cudaFreeHost(c->h_next);
    cudaFreeHost(c->h_argmax);
    for (int i = 0; i < 2; i++)
        if (c->ahead_ev[i]) cudaEventDestroy(c->ahead_ev[i]);
    cudaFreeHost(c->h_hist);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
    s->state = NULL;
}

static int cuda_session_init(hrt_session *s)
{
    const hrt_model *m = s->model;
    const hparams *hp = &m->hp;
    CK(cudaSetDevice(m->device));
    cu_session *c = calloc(1, sizeof *c);
    if (!c) return hrt_err(HRT_E_NOMEM, "out of memory");
    s->state = c;
    size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim, q_dim = (size_t)hp->n_head * hp->head_dim;
    size_t cache = (size_t)hp->n_layer * s->n_ctx * kv_dim * sizeof(float);
    size_t widest = (size_t)(hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd);
    if (q_dim > widest) widest = q_dim;
    /* at least 2, so that a one-token micro-batch is always a call's last */
    int ub = c->ubatch = s->n_ctx < 2 ? 2 : s->n_ctx < UBATCH_MAX ? s->n_ctx : UBATCH_MAX;
    size_t pairs = (size_t)hp->n_layer * PAIR_PTRS * sizeof(void *);
    /* the tensor-core prompt attention's scratch, for models whose prompt
     * products run in 16 bits; hb: the feed-forward's rows, gate's and up's
     * and Q, K and V's from one product where a layer has them (fuse_layer);
     * hb2: up's rows where a layer multiplies gate and up apart (a one-token
     * step of a layer whose two differ in file type does, fused or not) */
    const cu_model *cm0 = m->backend_state;
    int prompt16 = 0, gate_apart = 0, rope_one = 0, rope_swa = 0;
    size_t hb_w = (size_t)hp->n_ff;
    for (int l = 0; l < hp->n_layer; l++) {
        const cu_layer *L = &cm0->layers[l];
        prompt16 |= L->wq.gemm_type != GGML_TYPE_F32;
        const int takes = rope_kernel_takes(cm0, L, hp);
        rope_one |= takes;
        rope_swa |= takes && layer_is_swa(hp, l) && cm0->inv_freq_swa;
        gate_apart |= !L->wgu.gemm || L->gate.type != L->up.type;
        if (L->wqkv.gemm && hb_w < q_dim + 2 * kv_dim) hb_w = q_dim + 2 * kv_dim;
        if (L->wgu.gemm && hb_w < (size_t)L->wgu.rows) hb_w = (size_t)L->wgu.rows;
    }
    size_t hb2_w = gate_apart ? (size_t)hp->n_ff : 0;
    c->gemm.ws_bytes = cm0->plans ? cuda_gemm_workspace(cm0->prop.major) : 0;
    c->att16_bytes = prompt16 ? cuda_prompt_attention_scratch(s->n_ctx, ub, hp->n_head, hp->n_head_kv, hp->head_dim) : 0;
    /* the sampler's: its sort and marks, and the history */
    c->sample_bytes = cuda_sample_scratch(hp->n_vocab);
    if (!c->sample_bytes) return hrt_err(HRT_E_BACKEND, "CUDA: the sampler's sort cannot be sized for %d logits", hp->n_vocab);
    size_t n_hist = (size_t)s->n_ctx + 1;
    /* the angles of a prompt's RoPE, (cos, sin) pairs */
    size_t cs_bytes = (size_t)ub * hp->n_rot * sizeof(float);
    size_t scratch = (size_t)ub * (2 * hp->n_embd + 2 * q_dim + 2 * kv_dim + hb2_w + hb_w) * sizeof(float) +
                     (rope_one + rope_swa) * cs_bytes +
                     (size_t)ub * widest * 2 + (size_t)hp->n_vocab * sizeof(float) + pairs + c->att16_bytes +
                     c->sample_bytes + n_hist * sizeof(int32_t) + c->gemm.ws_bytes;
    size_t fr = 0, total = 0;
    CK(cudaMemGetInfo(&fr, &total));
    if (2 * cache + scratch > fr)
        return hrt_err(HRT_E_NOMEM, "CUDA: a session of %d tokens needs %zu MiB (KV cache %zu MiB, scratch %zu MiB); "
                       "%zu MiB are free", s->n_ctx, (2 * cache + scratch) >> 20, (2 * cache) >> 20, scratch >> 20,
                       fr >> 20);
    CK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    if (cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS) return hrt_err(HRT_E_BACKEND, "cuBLAS: cublasCreate failed");
    c->gemm = (cuda_gemm_ctx){.blas = c->blas, .plans = cm0->plans, .ws_bytes = c->gemm.ws_bytes,
                              .prefer_lt = cm0->plans_prefer_lt};
    if (cm0->plans) {
        if (cublasLtCreate(&c->gemm.lt) != CUBLAS_STATUS_SUCCESS)
            return hrt_err(HRT_E_BACKEND, "cuBLAS: cublasLtCreate failed");
        CK(cudaMalloc(&c->gemm.ws, c->gemm.ws_bytes));
    }
    CK(cudaMalloc((void **)&c->k_cache, cache));
    CK(cudaMalloc((void **)&c->v_cache, cache));
    CK(cudaMalloc((void **)&c->x, (size_t)ub * hp->n_embd * sizeof(float)));
    CK(cudaMalloc((void **)&c->xb, (size_t)ub * hp->n_embd * sizeof(float)));
    CK(cudaMalloc((void **)&c->q, (size_t)ub * q_dim * sizeof(float)));
    CK(cudaMalloc((void **)&c->k, (size_t)ub * kv_dim * sizeof(float)));
    CK(cudaMalloc((void **)&c->v, (size_t)ub * kv_dim * sizeof(float)));
    CK(cudaMalloc((void **)&c->att, (size_t)ub * q_dim * sizeof(float)));
    CK(cudaMalloc((void **)&c->hb, (size_t)ub * hb_w * sizeof(float)));
    if (hb2_w) CK(cudaMalloc((void **)&c->hb2, (size_t)ub * hb2_w * sizeof(float)));
    CK(cudaMalloc((void **)&c->logits, (size_t)hp->n_vocab * sizeof(float)));
    CK(cudaMalloc(&c->xh, (size_t)ub * widest * 2));
    CK(cudaMalloc((void **)&c->d_io, (ub + 1) * sizeof(int)));
    CK(cudaMallocHost((void **)&c->h_io, (ub + 1) * sizeof(int)));
    c->d_pos = c->d_io, c->d_ids = c->d_io + 1, c->h_pos = c->h_io, c->h_ids = c->h_io + 1;
    c->chain_pos = -1;
    CK(cudaMallocHost((void **)&c->h_logits, (size_t)hp->n_vocab * sizeof(float)));
    CK(cudaMalloc((void **)&c->d_next, sizeof(int32_t)));
    CK(cudaMalloc(&c->argmax_scratch, CUDA_ARGMAX_SCRATCH));
    CK(cudaHostAlloc((void **)&c->h_next, sizeof(int32_t), cudaHostAllocMapped));
    CK(cudaHostGetDevicePointer((void **)&c->h_next_dev, c->h_next, 0));
    c->ahead_top = -1;
    for (int i = 0; i < 2; i++) CK(cudaEventCreateWithFlags(&c->ahead_ev[i], cudaEventDisableTiming));
    CK(cudaMalloc((void **)&c->pairs, pairs));
    CK(cudaMalloc(&c->sample_scratch, c->sample_bytes));
    CK(cudaMemset(c->sample_scratch, 0, c->sample_bytes)); /* cuda_sample's marks start at zero */
    CK(cudaMalloc((void **)&c->d_hist, n_hist * sizeof(int32_t)));
    CK(cudaMallocHost((void **)&c->h_hist, n_hist * sizeof(int32_t)));
    if (c->att16_bytes) CK(cudaMalloc(&c->att16, c->att16_bytes));
    if (rope_one) CK(cudaMalloc((void **)&c->rope_cs, cs_bytes));
    if (rope_swa) CK(cudaMalloc((void **)&c->rope_cs_swa, cs_bytes));
    void **hpairs = malloc(pairs);
    if (!hpairs) return hrt_err(HRT_E_NOMEM, "out of memory");
    for (int l = 0; l < hp->n_layer; l++) {
        const cu_layer *L = &((cu_model *)m->backend_state)->layers[l];
        void *p[PAIR_PTRS] = {L->wk.gemm, L->wv.gemm, c->xh, c->xh, c->k, c->v};
        memcpy(hpairs + (size_t)l * PAIR_PTRS, p, sizeof p);
    }
    cudaError_t pe = cudaMemcpy(c->pairs, hpairs, pairs, cudaMemcpyHostToDevice);
    free(hpairs);
    CK(pe);
    /* Enough (token, head, split) blocks for four per multiprocessor (the
     * kernel gives each split at least 8 positions). */
    cu_model *cm = m->backend_state;
    int want = (4 * cm->prop.multiProcessorCount + hp->n_head - 1) / hp->n_head;
    int most = (s->n_ctx + 7) / 8;
    c->n_split = want < 1 ? 1 : want > most ? most : want > 64 ? 64 : want; /* kernels/cuda/attention.cu: MAX_SPLIT */
    CK(cudaMalloc((void **)&c->part, (size_t)hp->n_head * c->n_split * (hp->head_dim + 2) * sizeof(float)));
    int32_t *argmax_dev = NULL; /* h_argmax in the device's addresses */
    if (cm->fused_ok && !fused_off_by_env()) {
        CK(cudaHostAlloc((void **)&c->h_argmax, (size_t)s->n_ctx * sizeof(int32_t), cudaHostAllocMapped));
        CK(cudaHostGetDevicePointer((void **)&argmax_dev, c->h_argmax, 0));
    }
    if (argmax_dev) {
        cuda_decode_args *a = &c->fused;
        *a = cm->fused;
        a->n_ctx = s->n_ctx;
        a->k_cache = c->k_cache;
        a->v_cache = c->v_cache;
        a->token = c->d_ids;
        a->pos = c->d_pos;
        a->logits = c->logits;
        a->next = argmax_dev;
        /* HRT_DECODE_ANY_LAYOUT=1: the step's kernel for any mix of weight
         * layouts even on a model of one, for tests of that kernel */
        const char *al = getenv("HRT_DECODE_ANY_LAYOUT");
        if (al && strcmp(al, "0")) a->layout = DECODE_ANY_LAYOUT;
        /* a device that cannot hold one block per multiprocessor keeps the per-operation kernels */
        if (cuda_decode_grid(a, &a->grid, &a->ring) == cudaSuccess) {
            /* HRT_DECODE_GRID=N: N blocks instead of one per multiprocessor,
             * for tests of the step's loops over more items than blocks */
            const char *gv = getenv("HRT_DECODE_GRID");
            const int blocks = gv ? atoi(gv) : 0;
            if (blocks >= 1 && blocks < a->grid) a->grid = blocks;
            CK(cudaMalloc(&c->fused_scratch, cuda_decode_scratch_bytes(a)));
            a->scratch = c->fused_scratch;
            const char *tm = getenv("HRT_DECODE_TIMING");
            if (tm && strcmp(tm, "0")) {
                CK(cudaMalloc((void **)&c->fused_timing, DECODE_TIMING_WORDS * sizeof *c->fused_timing));
                CK(cudaMemset(c->fused_timing, 0, DECODE_TIMING_WORDS * sizeof *c->fused_timing));
                a->timing = c->fused_timing;
            }
            CK(cuda_decode_reset(a, c->stream));
            CK(cudaStreamSynchronize(c->stream));
            c->use_fused = 1;
        }
        cudaGetLastError(); /* clears what cuda_decode_grid may have left */
    }
    return 0;
}

/* Products of n activation rows with W: a matrix-vector kernel for one row
 * (decode), cuBLAS for more (prompts); x NULL: c->xh already holds the rows
 * in W's 16-bit GEMM type (see gemm16). y is f32 unless y_type is W's
 * 16-bit GEMM type (prompts only, cuda_gemm). */
static cudaError_t product(cu_session *c, const cuda_mat *W, const float *x, const float *bias, void *y,
                           uint32_t y_type, int n, int accumulate)
{
    if (n == 1 && y_type == GGML_TYPE_F32) return cuda_matvec(W, x, bias, y, accumulate, c->stream);
    return cuda_gemm(&c->gemm, W, x, c->xh, bias, y, y_type, n, accumulate, c->stream);
}

/* The 16-bit GEMM type that a prompt's products by a, b and c share (b
 * and c may repeat a): their input is then rounded once, by the kernel
 * that produces it, into c->xh. GGML_TYPE_F32 (0) for one token, f32
 * copies or mixed types: the input stays f32 and each product converts it. */
static uint32_t gemm16(int n, const cuda_mat *a, const cuda_mat *b, const cuda_mat *c)
{
    return n > 1 && a->gemm_type == b->gemm_type && a->gemm_type == c->gemm_type ? a->gemm_type : GGML_TYPE_F32;
}

/* x += W in, through xb and a sandwich norm (post_norm) when there is one. */
static cudaError_t residual_product(cu_session *c, const cuda_mat *W, const float *in, const float *post_norm, int n,
                                    int d, float eps)
{
    if (!post_norm) return product(c, W, in, NULL, c->x, GGML_TYPE_F32, n, 1);
    cudaError_t e = product(c, W, in, NULL, c->xb, GGML_TYPE_F32, n, 0);
    if (e == cudaSuccess) e = cuda_rmsnorm(c->xb, GGML_TYPE_F32, c->xb, NULL, post_norm, n, d, eps, c->stream);
    return e == cudaSuccess ? cuda_add(c->x, c->xb, (int64_t)n * d, c->stream) : e;
}

/* Whether the prompt attention's tensor-core kernel takes n tokens of
 * layer L (the session has its scratch: a head size it takes, sm_80 on). */
static int attention16(const cu_session *c, const cu_layer *L, int n)
{
    return n > 1 && L->wq.gemm_type != GGML_TYPE_F32 && c->att16;
}

/* Attention of the n new tokens at position pos over the layer's cache,
 * into c->att: a prompt whose products run in 16 bits takes the tensor
 * cores where its head size allows, and then writes its result straight
 * into c->xh in Wo's 16-bit type when Wo's product reads that (*in_xh set);
 * everything else takes the f32 kernels (a split decode step for n = 1).
 * The queries in c->q are f32, or fp16 scaled for the tensor-core kernel
 * (q_type GGML_TYPE_F16: cuda_gemm_rope wrote them for it). */
static cudaError_t attention(const hrt_model *m, const hrt_session *s, const cu_layer *L, const float *kc,
                             const float *vc, int n, int pos, int window, uint32_t q_type, int *in_xh)
{
    const hparams *hp = &m->hp;
    cu_session *c = s->state;
    *in_xh = 0;
    if (attention16(c, L, n)) { /* the new rows' fp16 copies: written by cuda_rope_store or cuda_gemm_rope */
        int to16 = gemm16(n, &L->wo, &L->wo, &L->wo) != GGML_TYPE_F32;
        cudaError_t e = cuda_prompt_attention(to16 ? c->xh : (void *)c->att, to16 ? L->wo.gemm_type : GGML_TYPE_F32,
                                              c->q, q_type, kc, vc, c->att16, c->att16_bytes, 1, s->n_ctx, pos, n,
                                              hp->n_head, hp->n_head_kv, hp->head_dim, 1, 0, window, hp->attn_scale,
                                              c->stream);
        if (e != cudaErrorNotSupported || q_type != GGML_TYPE_F32) {
            *in_xh = to16 && e == cudaSuccess;
            return e;
        }
    }
    return cuda_attention_split(c->att, c->part, c->q, kc, vc, c->d_pos, n, hp->n_head, hp->n_head_kv, hp->head_dim,
                                1, 0, window, hp->attn_scale, n == 1 ? c->n_split : 1, c->stream);
}

/* Enqueues the forward pass of n tokens (ids and position already in
 * d_ids / d_pos) and what result asks for (RESULT_*). */
static cudaError_t enqueue_forward(hrt_session *s, int n, int result)
{
    const hrt_model *m = s->model;
    const hparams *hp = &m->hp;
    cu_model *cm = m->backend_state;
    cu_session *c = s->state;
    cudaStream_t st = c->stream;
    int d = hp->n_embd, hd = hp->head_dim, kv_dim = hp->n_head_kv * hd;
    cudaError_t e;
#define RUN(call)                               \
    do {                                        \
        if ((e = (call)) != cudaSuccess) return e; \
    } while (0)
    if (n == 1 && c->use_fused) {
        RUN(cuda_decode_step(&c->fused, st));
        if (result == RESULT_DEVICE) return cudaSuccess;
        if (result == RESULT_ARGMAX) return cudaSuccess; /* in h_argmax */
        return cudaMemcpyAsync(c->h_logits, c->logits, (size_t)hp->n_vocab * sizeof(float), cudaMemcpyDeviceToHost, st);
    }
    int gelu = (m->arch->flags & ARCH_GEGLU) != 0;
    RUN(cuda_embed_rows(&cm->tok_embd, c->d_ids, n, hp->embd_scale, c->x, st));
    /* the angles that the layers rotating in cuda_gemm_rope's epilogue share */
    if (n > 1 && c->rope_cs) RUN(cuda_rope_angles(c->rope_cs, c->d_pos, n, hp->n_rot, cm->inv_freq, st));
    if (n > 1 && c->rope_cs_swa) RUN(cuda_rope_angles(c->rope_cs_swa, c->d_pos, n, hp->n_rot, cm->inv_freq_swa, st));
    for (int l = 0; l < hp->n_layer; l++) {
        const cu_layer *L = &cm->layers[l];
        int swa = layer_is_swa(hp, l);
        float *kc = c->k_cache + (size_t)l * s->n_ctx * kv_dim, *vc = c->v_cache + (size_t)l * s->n_ctx * kv_dim;
        int multi = n == 1 && L->wq.type == L->wk.type && L->wq.type == L->wv.type;
        /* a prompt's products, biases, RoPE and stores in one kernel, whose
         * queries for the tensor-core attention are fp16 already scaled for it */
        int qkv_one = !multi && gemm16(n, &L->wq, &L->wk, &L->wv) && rope_kernel_takes(cm, L, hp);
        uint32_t q_type = qkv_one && attention16(c, L, n) ? GGML_TYPE_F16 : GGML_TYPE_F32;
        /* Q/K/V biases: added in the rope kernel's pass over the rows, unless
         * the one-token kernel adds them or Q/K norms come between */
        int rope_bias = !multi && !L->q_norm && !L->k_norm;
        /* where the rope kernel finds Q, K and V: apart, or a row of one product's output */
        const float *rq = c->q, *rk = c->k, *rv = c->v;
        int ld = 0;
        /* a prompt's keys and values also go to the attention's fp16 copies
         * (the scratch's first part, see cuda_prompt_attention) */
        uint16_t *k16 = attention16(c, L, n) ? c->att16 : NULL, *v16 = k16 ? k16 + (size_t)s->n_ctx * kv_dim : NULL;
        if (multi) {
            /* decode: the norm and the three products in one launch */
            const cuda_mat *W[3] = {&L->wq, &L->wk, &L->wv};
            const float *b[3] = {L->bq, L->bk, L->bv};
            float *y[3] = {c->q, c->k, c->v};
            RUN(cuda_matvec_multi(W, 3, c->x, L->attn_norm, hp->norm_eps, b, y, st));
        } else {
            uint32_t t16 = gemm16(n, &L->wq, &L->wk, &L->wv);
            RUN(cuda_rmsnorm(t16 ? c->xh : (void *)c->xb, t16, c->x, NULL, L->attn_norm, n, d, hp->norm_eps, st));
            if (qkv_one) { /* t16 is the fused matrix's type */
                const size_t at = (size_t)*c->h_pos * kv_dim;
                RUN(cuda_gemm_rope(c->xh, L->wqkv.gemm, t16, n, d, L->bq, L->bk, L->bv,
                                   swa && c->rope_cs_swa ? c->rope_cs_swa : c->rope_cs, hp->rope_neox, c->q, q_type,
                                   hp->attn_scale * CUDA_ATTN_LOG2E, kc + at, vc + at, k16 ? k16 + at : NULL,
                                   v16 ? v16 + at : NULL, hp->n_head, hp->n_head_kv, hd, 0, st));
            } else if (L->wqkv.gemm && n > 1) { /* one GEMM (fuse_layer) into hb; the biases in the rope kernel */
                RUN(product(c, &L->wqkv, t16 ? NULL : c->xb, NULL, c->hb, GGML_TYPE_F32, n, 0));
                ld = (int)L->wqkv.rows;
                rq = c->hb;
                rk = rq + (size_t)hp->n_head * hd;
                rv = rk + kv_dim;
            } else {
                RUN(product(c, &L->wq, t16 ? NULL : c->xb, rope_bias ? NULL : L->bq, c->q, GGML_TYPE_F32, n, 0));
                if (t16 && (rope_bias || (!L->bk && !L->bv))) { /* K and V in one launch: alone, each fills few SMs */
                    RUN(cuda_gemm_pair(c->blas, &L->wk, &L->wv, c->pairs + (size_t)l * PAIR_PTRS, GGML_TYPE_F32, n,
                                       st));
                } else {
                    RUN(product(c, &L->wk, t16 ? NULL : c->xb, rope_bias ? NULL : L->bk, c->k, GGML_TYPE_F32, n, 0));
                    RUN(product(c, &L->wv, t16 ? NULL : c->xb, rope_bias ? NULL : L->bv, c->v, GGML_TYPE_F32, n, 0));
                }
            }
        }
        if (L->q_norm) {
            RUN(cuda_rmsnorm(c->q, GGML_TYPE_F32, c->q, NULL, L->q_norm, n * hp->n_head, hd, hp->norm_eps, st));
            RUN(cuda_rmsnorm(c->k, GGML_TYPE_F32, c->k, NULL, L->k_norm, n * hp->n_head_kv, hd, hp->norm_eps, st));
        }
        if (!qkv_one)
            RUN(cuda_rope_store(rq, rk, rv, ld, rope_bias ? L->bq : NULL, rope_bias ? L->bk : NULL,
                                rope_bias ? L->bv : NULL, c->q, kc, vc, k16, v16, c->d_pos, n, hp->n_head,
                                hp->n_head_kv, hd, hp->n_rot, swa && cm->inv_freq_swa ? cm->inv_freq_swa : cm->inv_freq,
                                hp->rope_neox, st));
        int in_xh;
        RUN(attention(m, s, L, kc, vc, n, *c->h_pos, swa ? hp->n_swa : 0, q_type, &in_xh));
        RUN(residual_product(c, &L->wo, in_xh ? NULL : c->att, L->attn_post_norm, n, d, hp->norm_eps));
        if (n == 1 && L->gate.type == L->up.type) {
            RUN(cuda_matvec_glu(&L->gate, &L->up, c->x, L->ffn_norm, hp->norm_eps, gelu, c->hb, st));
            RUN(residual_product(c, &L->down, c->hb, L->ffn_post_norm, n, d, hp->norm_eps));
        } else {
            uint32_t t16 = gemm16(n, &L->gate, &L->up, &L->up), d16 = gemm16(n, &L->down, &L->down, &L->down);
            /* gate and up stored in bf16 when all three products are bf16:
             * half the bytes for the GEMMs to write and the GLU to read (on
             * Qwen2.5-0.5B's shape at 2,048 tokens, 80 MB a layer); fp16's
             * range is too narrow for them, so f32 otherwise */
            uint32_t h16 = t16 == GGML_TYPE_BF16 && d16 == GGML_TYPE_BF16 ? t16 : GGML_TYPE_F32;
            const int ff = (int)L->gate.rows, one = t16 && glu_kernel_takes(cm, L, d);
            /* the normalized rows: 16-bit in xh for cuBLAS, in xb for the one
             * kernel (which writes down's input to xh), f32 in xb otherwise */
            RUN(cuda_rmsnorm(one || !t16 ? (void *)c->xb : c->xh, t16, c->x, NULL, L->ffn_norm, n, d, hp->norm_eps, st));
            if (one) {
                RUN(cuda_gemm_glu(c->xh, c->xb, L->wgu.gemm, t16, n, d, ff, gelu, 0, st));
            } else if (L->wgu.gemm && t16) { /* one product: a row of hb holds gate's n_ff values, then up's */
                RUN(product(c, &L->wgu, NULL, NULL, c->hb, h16, n, 0));
                const char *up = (const char *)c->hb + (size_t)ff * (h16 == GGML_TYPE_F32 ? 4 : 2);
                RUN(cuda_glu(c->xh, d16, c->hb, up, h16, (int64_t)n * ff, ff, (int)L->wgu.rows, gelu, st));
            } else {
                RUN(product(c, &L->gate, t16 ? NULL : c->xb, NULL, c->hb, h16, n, 0));
                RUN(product(c, &L->up, t16 ? NULL : c->xb, NULL, c->hb2, h16, n, 0));
                RUN(cuda_glu(d16 ? c->xh : (void *)c->hb, d16, c->hb, c->hb2, h16, (int64_t)n * hp->n_ff, hp->n_ff,
                             hp->n_ff, gelu, st));
            }
            RUN(residual_product(c, &L->down, d16 ? NULL : c->hb, L->ffn_post_norm, n, d, hp->norm_eps));
        }
    }
    if (result == RESULT_NONE) return cudaSuccess;
    RUN(cuda_rmsnorm(c->xb, GGML_TYPE_F32, c->x + (size_t)(n - 1) * d, NULL, cm->output_norm, 1, d, hp->norm_eps, st));
    RUN(cuda_matvec(&cm->output, c->xb, NULL, c->logits, 0, st));
    if (hp->logit_softcap > 0) RUN(cuda_softcap(c->logits, hp->n_vocab, hp->logit_softcap, st));
    if (result == RESULT_DEVICE) return cudaSuccess;
    if (result == RESULT_ARGMAX) {
        RUN(cuda_argmax(c->logits, hp->n_vocab, c->argmax_scratch, c->d_next, st));
        RUN(cudaMemcpyAsync(c->h_next, c->d_next, sizeof(int32_t), cudaMemcpyDeviceToHost, st));
    } else {
        RUN(cudaMemcpyAsync(c->h_logits, c->logits, (size_t)hp->n_vocab * sizeof(float), cudaMemcpyDeviceToHost, st));
    }
#undef RUN
    return cudaSuccess;
}

/* Enqueues the copy of the position and n token ids from pinned memory. */
static cudaError_t enqueue_inputs(cu_session *c, int n)
{
    return cudaMemcpyAsync(c->d_io, c->h_io, (size_t)(n + 1) * sizeof(int), cudaMemcpyHostToDevice, c->stream);
}

/* Captures the one-token step (input copies, forward, result copy); the
 * persistent step's inputs are copied outside its graph, when needed
 * (run_decode). */
static int capture_step(hrt_session *s, int result)
{
    cu_session *c = s->state;
    cudaGraph_t g;
    CK(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
    cudaError_t e = c->use_fused ? cudaSuccess : enqueue_inputs(c, 1);
    if (e == cudaSuccess) e = enqueue_forward(s, 1, result);
    cudaError_t e2 = cudaStreamEndCapture(c->stream, &g);
    if (e != cudaSuccess && e2 == cudaSuccess) cudaGraphDestroy(g);
    if (e != cudaSuccess || e2 != cudaSuccess)
        return hrt_err(HRT_E_BACKEND, "CUDA: capturing the decode step failed: %s",
                       cudaGetErrorString(e != cudaSuccess ? e : e2));
    e = cudaGraphInstantiate(&c->graph[result], g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) return hrt_err(HRT_E_BACKEND, "CUDA: instantiating the decode graph failed: %s", cudaGetErrorString(e));
    c->have_graph[result] = 1;
    return 0;
}

/* The persistent step cannot run here (a device shared with other work has
 * too few free multiprocessors for its grid): the per-operation kernels. */
static void fused_off(cu_session *c)
{
    cudaGetLastError();
    for (int g = 0; g < 3; g++)
        if (c->have_graph[g]) cudaGraphExecDestroy(c->graph[g]);
    memset(c->have_graph, 0, sizeof c->have_graph);
    c->use_fused = c->fused_direct = 0;
}

/* The sampler's chain (sampler.h) on the last logits, after the n_hist ids
 * of the history: the ids the device does not hold yet are copied from
 * h_hist first, where a penalty reads them. The id goes into d_ids[0] (the
 * next step's input, see chain_tok), d_hist[n_hist] and *dst (mapped host
 * memory, in the device's addresses). */
static int enqueue_sample(hrt_session *s, const sample_args *a, int n_hist, int32_t *dst)
{
    cu_session *c = s->state;
    const hrt_sampler_params *q = &a->p;
    cuda_sample_params p = {.temperature = q->temperature, .top_p = q->top_p, .min_p = q->min_p, .top_k = q->top_k,
                            .penalty = q->repeat_penalty, .penalty_last_n = q->repeat_last_n,
                            .dry_multiplier = q->dry_multiplier, .dry_base = q->dry_base,
                            .dry_allowed_length = q->dry_allowed_length, .dry_last_n = q->dry_last_n,
                            .n_hist = n_hist, .r = a->r};
    if (n_hist < 1 || n_hist > s->n_ctx) return hrt_err(HRT_E_INVALID, "CUDA: a sample after %d ids", n_hist);
    if (sampler_window(q, n_hist) && c->hist_synced < n_hist) {
        if (c->hist_known < n_hist) /* a step enqueued ahead took a token the host has not seen, and no sample stored */
            return hrt_err(HRT_E_INVALID, "CUDA: the id at position %d is on the device only", c->hist_known);
        CK(cudaMemcpyAsync(c->d_hist + c->hist_synced, c->h_hist + c->hist_synced,
                           (size_t)(n_hist - c->hist_synced) * sizeof(int32_t), cudaMemcpyHostToDevice, c->stream));
        c->hist_synced = n_hist;
    }
    cudaError_t e = cuda_sample(c->logits, s->model->hp.n_vocab, &p, c->d_hist, c->sample_scratch, c->sample_bytes,
                                c->d_ids, dst, c->stream);
    if (e != cudaSuccess) return hrt_err(HRT_E_BACKEND, "CUDA: sampling failed: %s", cudaGetErrorString(e));
    /* the next position's id is the one sampled, unless the host gives another (hist_from_host) */
    if (c->hist_synced == n_hist) c->hist_synced = n_hist + 1;
    return 0;
}

/* The host gives ids[0..n) for positions pos..pos + n - 1: the history
 * from pos on is theirs. */
static void hist_from_host(cu_session *c, const int32_t *ids, int n, int pos)
{
    memcpy(c->h_hist + pos, ids, (size_t)n * sizeof *ids);
    c->hist_known = pos + n;
    if (c->hist_synced > pos) c->hist_synced = pos;
}

/* Enqueues the one-token step of graph res, its inputs copied from h_io
 * unless the device holds them (held). A persistent step that cannot launch
 * here (a device shared with other work has too few free multiprocessors)
 * goes over to the per-operation kernels for good, which copy h_io: when
 * it does not hold the inputs (!known), that is an error. */
static int enqueue_step(hrt_session *s, int res, int held, int known)
{
    cu_session *c = s->state;
    int st;
    if (c->use_fused && !c->have_graph[res] && !c->fused_direct && capture_step(s, res)) {
        /* a driver that cannot put the cooperative launch in a graph: launched directly */
        cudaGetLastError();
        c->fused_direct = 1;
    }
    cudaError_t e = cudaSuccess;
    if (c->fused_direct) {
        e = held ? cudaSuccess : enqueue_inputs(c, 1);
        if (e == cudaSuccess) e = enqueue_forward(s, 1, res);
        if (e == cudaSuccess) return 0;
    } else {
        if (!c->have_graph[res] && (st = capture_step(s, res))) return st;
        e = c->use_fused && !held ? enqueue_inputs(c, 1) : cudaSuccess;
        if (e == cudaSuccess) e = cudaGraphLaunch(c->graph[res], c->stream);
        if (e == cudaSuccess) return 0;
    }
    if (e != cudaErrorCooperativeLaunchTooLarge || !c->use_fused)
        return hrt_err(HRT_E_BACKEND, "CUDA: the decode step failed: %s", cudaGetErrorString(e));
    fused_off(c);
    if (!known) return hrt_err(HRT_E_UNSUPPORTED, "CUDA: the persistent decode step cannot launch on this device now");
    if ((st = capture_step(s, res))) return st;
    e = cudaGraphLaunch(c->graph[res], c->stream);
    return e == cudaSuccess ? 0 : hrt_err(HRT_E_BACKEND, "CUDA: the decode step failed: %s", cudaGetErrorString(e));
}

/* Waits for the steps enqueued ahead, if any; the device then holds the
 * last one's result (argmax or id sampled) and next position. */
static int ahead_drain(cu_session *c)
{
    if (c->ahead_top < 0) return 0;
    const int top = c->ahead_top;
    c->ahead_top = -1;
    CK(cudaStreamSynchronize(c->stream));
    if (c->use_fused) c->chain_tok = c->h_argmax[top], c->chain_pos = top + 1;
    return 0;
}

/* Runs ids in micro-batches; the last leaves the logits in h_logits, and
 * in c->result their argmax (argmax set) or the id sample picks (sample
 * set). */
static int run_decode(hrt_session *s, const int32_t *ids, int n, int argmax, const sample_args *sample)
{
    const hrt_model *m = s->model;
    cu_session *c = s->state;
    int st;
    CK(cudaSetDevice(m->device));
    if ((st = ahead_drain(c))) return st;
    hist_from_host(c, ids, n, s->n_past);
    for (int done = 0; done < n; done += c->ubatch) {
        if (atomic_load(&s->cancel)) return hrt_err(HRT_E_CANCELLED, "cancelled");
        int nb = n - done < c->ubatch ? n - done : c->ubatch;
        memcpy(c->h_ids, ids + done, (size_t)nb * sizeof *ids);
        *c->h_pos = s->n_past + done;
        /* nb is 1 only for the last micro-batch: the graphs take LOGITS, ARGMAX or DEVICE */
        int res = done + nb < n ? RESULT_NONE : argmax ? RESULT_ARGMAX : sample ? RESULT_DEVICE : RESULT_LOGITS;
        /* a persistent step's input is copied only when the device does not hold it already */
        const int held = c->chain_pos == *c->h_pos && c->chain_tok == c->h_ids[0];
        c->chain_pos = -1; /* known again once this step is done */
        if (nb == 1 && (st = enqueue_step(s, res, held, 1))) return st;
        if (nb > 1) {
            CK(enqueue_inputs(c, nb));
            CK(enqueue_forward(s, nb, res));
        }
        if (res == RESULT_DEVICE && (st = enqueue_sample(s, sample, *c->h_pos + nb, c->h_next_dev))) return st;
        /* the host buffers are reused by the next micro-batch */
        CK(cudaStreamSynchronize(c->stream));
        /* the persistent step's argmax is in h_argmax; the per-operation
         * step's and the id sampled in h_next */
        c->result = nb == 1 && c->use_fused && res != RESULT_DEVICE ? c->h_argmax[*c->h_pos] : *c->h_next;
        if (nb == 1 && c->use_fused) c->chain_tok = c->result, c->chain_pos = *c->h_pos + 1;
    }
    return 0;
}

static int cuda_decode(hrt_session *s, const int32_t *ids, int n, float *logits)
{
    int st = run_decode(s, ids, n, 0, NULL);
    if (!st && logits) memcpy(logits, ((cu_session *)s->state)->h_logits, (size_t)s->model->hp.n_vocab * sizeof(float));
    return st;
}

static int cuda_decode_argmax(hrt_session *s, const int32_t *ids, int n, int32_t *next)
{
    int st = run_decode(s, ids, n, 1, NULL);
    if (!st) *next = ((cu_session *)s->state)->result;
    return st;
}

static int cuda_decode_sample(hrt_session *s, const int32_t *ids, int n, const sample_args *a, int32_t *next)
{
    cu_session *c = s->state;
    int st = run_decode(s, ids, n, 0, a);
    if (!st) {
        *next = c->result;
        c->n_sampled++;
    }
    return st;
}

/* Steps enqueued ahead (backend_ops): the persistent step's graph for the
 * argmax, or for the logits and then the sampler, which writes its id into
 * the step's slot of h_argmax; each step's event in ahead_ev[pos & 1] (a
 * later step's record of the same parity only makes a wait longer: the id
 * stays in its slot). */
static int cuda_decode_ahead(hrt_session *s, int32_t id, int pos, const sample_args *smp)
{
    cu_session *c = s->state;
    int st;
    if (!c->use_fused) return hrt_err(HRT_E_UNSUPPORTED, "CUDA: the session decodes with the per-operation kernels");
    CK(cudaSetDevice(s->model->device));
    int held = 1;
    if (id >= 0) {
        /* h_io is rewritten: no copy from it may still be waiting */
        if ((st = ahead_drain(c))) return st;
        held = c->chain_pos == pos && c->chain_tok == id;
        c->h_ids[0] = id, *c->h_pos = pos;
        hist_from_host(c, &id, 1, pos);
    } else if (c->ahead_top != pos - 1 && !(c->ahead_top < 0 && c->chain_pos == pos)) {
        return hrt_err(HRT_E_INVALID, "CUDA: no step before position %d to take the token from", pos);
    }
    c->chain_pos = -1;
    /* a failure leaves the step before (id < 0) pending, to be waited for
     * (HRT_E_UNSUPPORTED: the caller goes on a step at a time) */
    if ((st = enqueue_step(s, smp ? RESULT_DEVICE : RESULT_ARGMAX, held, id >= 0))) return st;
    if (smp) {
        if ((st = enqueue_sample(s, smp, pos + 1, c->fused.next + pos))) {
            /* the step went without its sample, and overwrote the device's token: nothing is left to wait for */
            cudaStreamSynchronize(c->stream);
            c->ahead_top = -1;
            return st;
        }
        c->n_sampled++;
    } else if (!c->use_fused) { /* it went over to the per-operation kernels: the argmax came to h_next */
        CK(cudaStreamSynchronize(c->stream));
        c->h_argmax[pos] = *c->h_next;
    }
    CK(cudaEventRecord(c->ahead_ev[pos & 1], c->stream));
    c->ahead_top = pos;
    c->n_ahead++;
    return 0;
}

static int cuda_ahead_wait(hrt_session *s, int pos, int32_t *next)
{
    cu_session *c = s->state;
    if (c->ahead_top < 0 || pos > c->ahead_top || pos < 0)
        return hrt_err(HRT_E_INVALID, "CUDA: no step enqueued at position %d", pos);
    CK(cudaEventSynchronize(c->ahead_ev[pos & 1]));
    *next = c->h_argmax[pos];
    c->h_hist[pos + 1] = *next; /* the id of the step after, when that step took it from the device */
    if (c->hist_known == pos + 1) c->hist_known = pos + 2;
    if (pos == c->ahead_top) {
        c->ahead_top = -1;
        if (c->use_fused) c->chain_tok = *next, c->chain_pos = pos + 1;
    }
    return 0;
}

/* ---- encoder (BERT) ------------------------------------------------------------------------ */
static int cuda_encode(const hrt_model *m, threadpool *tp, const int32_t *ids, const int *lens, int n_seq, float *out)
{
    (void)tp;
    const hparams *hp = &m->hp;
    cu_model *cm = m->backend_state;
    int d = hp->n_embd, st = 0, n = 0;
    CK(cudaSetDevice(m->device));
    int *start = malloc(((size_t)n_seq + 1) * sizeof *start);
    if (!start) return hrt_err(HRT_E_NOMEM, "out of memory");
    for (int i = 0; i < n_seq; i++) start[i] = n, n += lens[i];
    start[n_seq] = n;
    size_t nd = (size_t)n * d;
    pthread_mutex_lock(&cm->enc_mu);
    float *x = NULL, *xb = NULL, *q = NULL, *k = NULL, *v = NULL, *att = NULL, *h = NULL, *pooled = NULL;
    int32_t *d_ids = NULL;
    int *d_start = NULL;
    cudaStream_t sm = cm->enc_stream;
    cudaError_t e = cudaSuccess;
    if (!sm) {
        e = cudaStreamCreateWithFlags(&cm->enc_stream, cudaStreamNonBlocking);
        if (e == cudaSuccess && cublasCreate(&cm->enc_blas) != CUBLAS_STATUS_SUCCESS) e = cudaErrorUnknown;
        sm = cm->enc_stream;
    }
#define E(call)                                \
    do {                                       \
        if (e == cudaSuccess) e = (call);      \
    } while (0)
    E(cudaMalloc((void **)&x, nd * 4));
    E(cudaMalloc((void **)&xb, nd * 4));
    E(cudaMalloc((void **)&q, nd * 4));
    E(cudaMalloc((void **)&k, nd * 4));
    E(cudaMalloc((void **)&v, nd * 4));
    E(cudaMalloc((void **)&att, nd * 4));
    E(cudaMalloc((void **)&h, (size_t)n * hp->n_ff * 4));
    E(cudaMalloc((void **)&pooled, (size_t)n_seq * d * 4));
    E(cudaMalloc((void **)&d_ids, (size_t)n * 4));
    E(cudaMalloc((void **)&d_start, ((size_t)n_seq + 1) * sizeof *d_start));
    E(cudaMemcpyAsync(d_ids, ids, (size_t)n * 4, cudaMemcpyHostToDevice, sm));
    E(cudaMemcpyAsync(d_start, start, ((size_t)n_seq + 1) * sizeof *d_start, cudaMemcpyHostToDevice, sm));
    E(cuda_embed_rows(&cm->tok_embd, d_ids, n, 1.0f, x, sm));
    for (int i = 0; i < n_seq; i++) /* positions restart with each sequence */
        E(cuda_add(x + (size_t)start[i] * d, cm->pos_embd, (int64_t)lens[i] * d, sm));
    E(cuda_add_bias(x, cm->type_embd, n, d, sm)); /* token type 0 */
    E(cuda_layernorm(x, x, cm->embd_ln_w, cm->embd_ln_b, n, d, hp->norm_eps, sm));
    void *xh = NULL; /* f32 weights: cuBLAS needs no 16-bit copy */
    const cuda_gemm_ctx eg = {.blas = cm->enc_blas}; /* cublasGemmEx: embeddings' batches vary too much to time */
    for (int l = 0; l < hp->n_layer && e == cudaSuccess; l++) {
        const cu_layer *L = &cm->layers[l];
        E(cuda_gemm(&eg, &L->wq, x, xh, L->bq, q, GGML_TYPE_F32, n, 0, sm));
        E(cuda_gemm(&eg, &L->wk, x, xh, L->bk, k, GGML_TYPE_F32, n, 0, sm));
        E(cuda_gemm(&eg, &L->wv, x, xh, L->bv, v, GGML_TYPE_F32, n, 0, sm));
        for (int i = 0; i < n_seq; i++) { /* each sequence attends to itself */
            size_t o = (size_t)start[i] * d;
            E(cuda_attention_split(att + o, NULL, q + o, k + o, v + o, NULL, lens[i], hp->n_head, hp->n_head_kv,
                                   hp->head_dim, 0, lens[i], 0, hp->attn_scale, 1, sm));
        }
        E(cuda_gemm(&eg, &L->wo, att, xh, L->bo, xb, GGML_TYPE_F32, n, 0, sm));
        E(cuda_add(x, xb, (int64_t)nd, sm));
        E(cuda_layernorm(x, x, L->ln1_w, L->ln1_b, n, d, hp->norm_eps, sm));
        E(cuda_gemm(&eg, &L->up, x, xh, L->b_up, h, GGML_TYPE_F32, n, 0, sm));
        E(cuda_gelu(h, (int64_t)n * hp->n_ff, sm));
        E(cuda_gemm(&eg, &L->down, h, xh, L->b_down, xb, GGML_TYPE_F32, n, 0, sm));
        E(cuda_add(x, xb, (int64_t)nd, sm));
        E(cuda_layernorm(x, x, L->ln2_w, L->ln2_b, n, d, hp->norm_eps, sm));
    }
    E(cuda_mean_rows(pooled, x, d_start, n_seq, d, sm)); /* mean pooling */
    E(cudaMemcpyAsync(out, pooled, (size_t)n_seq * d * 4, cudaMemcpyDeviceToHost, sm));
    E(cudaStreamSynchronize(sm));
#undef E
    if (e != cudaSuccess)
        st = hrt_err(HRT_E_BACKEND, "CUDA: encoding %d sequences of %d tokens failed: %s", n_seq, n, cudaGetErrorString(e));
    void *bufs[] = {x, xb, q, k, v, att, h, pooled, d_ids, d_start};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) cudaFree(bufs[i]);
    pthread_mutex_unlock(&cm->enc_mu);
    free(start);
    return st;
}

const backend_ops backend_cuda = {
    .name = "cuda",
    .model_init = cuda_model_init,
    .model_free = cuda_model_free,
    .describe = cuda_describe,
    .session_init = cuda_session_init,
    .session_free = cuda_session_free,
    .decode = cuda_decode,
    .decode_argmax = cuda_decode_argmax,
    .decode_ahead = cuda_decode_ahead,
    .ahead_wait = cuda_ahead_wait,
    .decode_sample = cuda_decode_sample,
    .encode = cuda_encode,
};
