/* The CPU backend: the reference every other backend is tested against.
 *
 * Decoder state (one per session):
 *   1. k_cache, v_cache hold, for each layer, n_ctx rows of n_head_kv*head_dim
 *      floats; row p holds the (roped) key / value of position p.
 *   2. Rows [0, n_past) are valid; decode() writes rows n_past .. n_past+n-1
 *      and the caller advances n_past only when decode() succeeded, so a
 *      failed or cancelled call leaves the valid rows untouched.
 *   3. Tokens are processed in micro-batches of at most UBATCH so that the
 *      scratch buffers stay small whatever the prompt length. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/quant.h"
#include "error.h"
#include "model.h"

#define UBATCH 256

typedef struct {
    float *k_cache, *v_cache;  /* (n_layer, n_ctx, n_head_kv*head_dim) */
    float *x, *xb;             /* (UBATCH, n_embd) residual stream, normed copy */
    float *q, *k, *v;          /* (UBATCH, n_head*head_dim), (UBATCH, kv_dim) x2 */
    float *att;                /* (UBATCH, n_head*head_dim) attention output */
    float *hb, *hb2;           /* (UBATCH, n_ff) */
    float *scores;             /* (n_threads, n_ctx) */
    float *rope_cs;            /* (UBATCH, n_rot) */
    float *rope_cs_swa;        /* (UBATCH, n_rot) local layers' (when they differ) */
    void *act;                 /* activation scratch for cpu_matmul */
} cpu_state;

static int cpu_session_init(hrt_session *s)
{
    const hparams *hp = &s->model->hp;
    int nth = tp_size(s->tp);
    size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim, q_dim = (size_t)hp->n_head * hp->head_dim;
    size_t cache = (size_t)hp->n_layer * (size_t)s->n_ctx * kv_dim;
    size_t widest = (size_t)(hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd);
    if (q_dim > widest) widest = q_dim;
    cpu_state *c = calloc(1, sizeof *c);
    if (!c) return hrt_err(HRT_E_NOMEM, "out of memory");
    c->k_cache = malloc(cache * sizeof(float));
    c->v_cache = malloc(cache * sizeof(float));
    c->x = malloc((size_t)UBATCH * hp->n_embd * sizeof(float));
    c->xb = malloc((size_t)UBATCH * hp->n_embd * sizeof(float));
    c->q = malloc((size_t)UBATCH * q_dim * sizeof(float));
    c->k = malloc((size_t)UBATCH * kv_dim * sizeof(float));
    c->v = malloc((size_t)UBATCH * kv_dim * sizeof(float));
    c->att = malloc((size_t)UBATCH * q_dim * sizeof(float));
    c->hb = malloc((size_t)UBATCH * hp->n_ff * sizeof(float));
    c->hb2 = malloc((size_t)UBATCH * hp->n_ff * sizeof(float));
    c->scores = malloc((size_t)nth * s->n_ctx * sizeof(float));
    c->rope_cs = malloc((size_t)UBATCH * hp->n_rot * sizeof(float));
    c->rope_cs_swa = malloc((size_t)UBATCH * hp->n_rot * sizeof(float));
    /* The largest activation format is f32 (4 bytes per element; q16 takes
     * 2.25). */
    c->act = malloc((size_t)UBATCH * widest * sizeof(float) + 64);
    s->state = c;
    if (!c->k_cache || !c->v_cache || !c->x || !c->xb || !c->q || !c->k || !c->v || !c->att ||
        !c->hb || !c->hb2 || !c->scores || !c->rope_cs || !c->rope_cs_swa || !c->act)
        return hrt_err(HRT_E_NOMEM, "out of memory allocating a KV cache of %zu MiB for %d tokens",
                       2 * cache * sizeof(float) >> 20, s->n_ctx);
    return 0;
}

static void cpu_session_free(hrt_session *s)
{
    cpu_state *c = s->state;
    if (!c) return;
    free(c->k_cache); free(c->v_cache); free(c->x); free(c->xb); free(c->q); free(c->k);
    free(c->v); free(c->att); free(c->hb); free(c->hb2); free(c->scores); free(c->rope_cs);
    free(c->rope_cs_swa); free(c->act);
    free(c);
    s->state = NULL;
}

/* ---- attention ------------------------------------------------------------ */
typedef struct {
    const hparams *hp;
    const float *q;           /* (n, n_head*head_dim) */
    const float *kc, *vc;     /* this layer's cache: (n_ctx, kv_dim) */
    float *out;               /* (n, n_head*head_dim) */
    float *scores;            /* (nth, n_ctx) */
    int n_ctx;
    int n, pos0;              /* tokens, position of the first */
    int causal;               /* 0: every token sees all n (encoder) */
    int kv_len;               /* encoder: keys visible to all */
    int window;               /* causal: a token sees its window latest positions; 0 = all */
} attn_job;

static void attn_fn(void *p, int ith, int nth)
{
    const attn_job *j = p;
    const hparams *hp = j->hp;
    int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    int kv_dim = hp->n_head_kv * hd, q_dim = hp->n_head * hd;
    float scale = hp->attn_scale;
    float *sc = j->scores + (size_t)ith * j->n_ctx;
    for (int w = ith; w < j->n * hp->n_head; w += nth) {
        int t = w / hp->n_head, h = w % hp->n_head, kvh = h / group;
        int end = j->causal ? j->pos0 + t + 1 : j->kv_len;
        int start = j->window > 0 && end > j->window ? end - j->window : 0, len = end - start;
        const float *qv = j->q + (size_t)t * q_dim + (size_t)h * hd;
        const float *kc = j->kc + (size_t)start * kv_dim + (size_t)kvh * hd;
        const float *vc = j->vc + (size_t)start * kv_dim + (size_t)kvh * hd;
        for (int i = 0; i < len; i++) sc[i] = cpu_dot_f32(qv, kc + (size_t)i * kv_dim, hd) * scale;
        cpu_softmax(sc, len);
        float *o = j->out + (size_t)t * q_dim + (size_t)h * hd;
        memset(o, 0, (size_t)hd * sizeof *o);
        for (int i = 0; i < len; i++) cpu_axpy(o, sc[i], vc + (size_t)i * kv_dim, hd);
    }
}

/* ---- decoder ----------------------------------------------------------------- */
static void add_bias(float *y, const float *b, int n_tok, int dim)
{
    if (!b) return;
    for (int t = 0; t < n_tok; t++)
        for (int i = 0; i < dim; i++) y[(size_t)t * dim + i] += b[i];
}

/* RMSNorm of rows consecutive rows of dim floats (out may be x); nothing
 * when w is NULL (a norm the architecture does not have). */
static void rmsnorm_rows(float *out, const float *x, const float *w, int rows, int dim, float eps)
{
    if (!w) return;
    for (int r = 0; r < rows; r++) cpu_rmsnorm(out + (size_t)r * dim, x + (size_t)r * dim, w, dim, eps);
}

/* One micro-batch of n tokens at positions pos0.. through all layers;
 * leaves the final hidden state of each token in c->x. */
static void decoder_ubatch(hrt_session *s, const int32_t *ids, int n, int pos0)
{
    const hrt_model *m = s->model;
    const hparams *hp = &m->hp;
    cpu_state *c = s->state;
    int d = hp->n_embd, hd = hp->head_dim;
    int q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;

    for (int t = 0; t < n; t++) {
        float *xt = c->x + (size_t)t * d;
        dequantize_row(m->tok_embd.type, (const char *)m->tok_embd.data + (size_t)ids[t] * m->tok_embd.row_bytes,
                       xt, d);
        if (hp->embd_scale != 1.0f)
            for (int i = 0; i < d; i++) xt[i] *= hp->embd_scale;
        cpu_rope_cache(c->rope_cs + (size_t)t * hp->n_rot, hp->n_rot, pos0 + t, hp->rope_inv_freq);
        if (hp->rope_inv_freq_swa)
            cpu_rope_cache(c->rope_cs_swa + (size_t)t * hp->n_rot, hp->n_rot, pos0 + t, hp->rope_inv_freq_swa);
    }
    for (int l = 0; l < hp->n_layer; l++) {
        const layer_weights *L = &m->layers[l];
        int swa = layer_is_swa(hp, l);
        const float *rope_cs = swa && hp->rope_inv_freq_swa ? c->rope_cs_swa : c->rope_cs;
        float *kc = c->k_cache + (size_t)l * s->n_ctx * kv_dim;
        float *vc = c->v_cache + (size_t)l * s->n_ctx * kv_dim;
        rmsnorm_rows(c->xb, c->x, L->attn_norm, n, d, hp->norm_eps);
        const cpu_mat *qkv[3] = {&L->wq, &L->wk, &L->wv};
        float *qkv_out[3] = {c->q, c->k, c->v};
        cpu_matmul(s->tp, qkv, qkv_out, 3, c->xb, n, c->act);
        add_bias(c->q, L->bq, n, q_dim);
        add_bias(c->k, L->bk, n, kv_dim);
        add_bias(c->v, L->bv, n, kv_dim);
        for (int t = 0; t < n; t++) {
            float *qt = c->q + (size_t)t * q_dim, *kt = c->k + (size_t)t * kv_dim;
            rmsnorm_rows(qt, qt, L->q_norm, hp->n_head, hd, hp->norm_eps);
            rmsnorm_rows(kt, kt, L->k_norm, hp->n_head_kv, hd, hp->norm_eps);
            const float *cs = rope_cs + (size_t)t * hp->n_rot;
            cpu_rope(qt, hp->n_head, hd, hp->n_rot, cs, hp->rope_neox);
            cpu_rope(kt, hp->n_head_kv, hd, hp->n_rot, cs, hp->rope_neox);
            memcpy(kc + (size_t)(pos0 + t) * kv_dim, kt, (size_t)kv_dim * sizeof(float));
            memcpy(vc + (size_t)(pos0 + t) * kv_dim, c->v + (size_t)t * kv_dim, (size_t)kv_dim * sizeof(float));
        }
        attn_job aj = {hp, c->q, kc, vc, c->att, c->scores, s->n_ctx, n, pos0, 1, 0, swa ? hp->n_swa : 0};
        tp_run(s->tp, attn_fn, &aj);
        const cpu_mat *wo[1] = {&L->wo};
        float *o_out[1] = {c->xb};
        cpu_matmul(s->tp, wo, o_out, 1, c->att, n, c->act);
        rmsnorm_rows(c->xb, c->xb, L->attn_post_norm, n, d, hp->norm_eps); /* sandwich norm */
        for (size_t i = 0; i < (size_t)n * d; i++) c->x[i] += c->xb[i];

        rmsnorm_rows(c->xb, c->x, L->ffn_norm, n, d, hp->norm_eps);
        const cpu_mat *gu[2] = {&L->gate, &L->up};
        float *gu_out[2] = {c->hb, c->hb2};
        cpu_matmul(s->tp, gu, gu_out, 2, c->xb, n, c->act);
        if (m->arch->flags & ARCH_GEGLU)
            cpu_gelu_tanh_mul(c->hb, c->hb, c->hb2, n * hp->n_ff);
        else
            cpu_silu_mul(c->hb, c->hb, c->hb2, n * hp->n_ff);
        const cpu_mat *dn[1] = {&L->down};
        float *dn_out[1] = {c->xb};
        cpu_matmul(s->tp, dn, dn_out, 1, c->hb, n, c->act);
        rmsnorm_rows(c->xb, c->xb, L->ffn_post_norm, n, d, hp->norm_eps);
        for (size_t i = 0; i < (size_t)n * d; i++) c->x[i] += c->xb[i];
    }
}

static int cpu_decode(hrt_session *s, const int32_t *ids, int n, float *logits)
{
    const hrt_model *m = s->model;
    cpu_state *c = s->state;
    int d = m->hp.n_embd;
    int last = 0;
    for (int done = 0; done < n; done += UBATCH) {
        if (atomic_load(&s->cancel)) return hrt_err(HRT_E_CANCELLED, "cancelled");
        int nb = n - done < UBATCH ? n - done : UBATCH;
        decoder_ubatch(s, ids + done, nb, s->n_past + done);
        last = nb - 1;
    }
    if (logits) {
        cpu_rmsnorm(c->xb, c->x + (size_t)last * d, m->output_norm, d, m->hp.norm_eps);
        const cpu_mat *out[1] = {&m->output};
        cpu_matmul(s->tp, out, &logits, 1, c->xb, 1, c->act);
        float cap = m->hp.logit_softcap;
        if (cap > 0)
            for (int i = 0; i < m->hp.n_vocab; i++) logits[i] = cap * tanhf(logits[i] / cap);
    }
    return 0;
}

/* ---- encoder (BERT) ---------------------------------------------------------- */
/* Attention of n tokens that all see each other, head by head as two
 * matrix products (a head's columns are a strided block of q, k, v), when
 * cpu_gemm has a BLAS to run them: 0 when it has not (nothing done). s
 * holds n * n floats. */
static int encoder_attention_gemm(const hparams *hp, threadpool *tp, const float *q, const float *k, const float *v,
                                  float *out, float *s, int n)
{
    int hd = hp->head_dim, d = hp->n_head * hd;
    if (!s || hp->n_head != hp->n_head_kv) return 0;
    for (int h = 0; h < hp->n_head; h++) {
        if (!cpu_gemm(tp, 1, n, n, hd, hp->attn_scale, q + h * hd, d, k + h * hd, d, s, n)) return 0;
        for (int t = 0; t < n; t++) cpu_softmax(s + (size_t)t * n, n);
        cpu_gemm(tp, 0, n, hd, n, 1.0f, s, n, v + h * hd, d, out + h * hd, d);
    }
    return 1;
}

static int cpu_encode(const hrt_model *m, threadpool *tp, const int32_t *ids, const int *lens, int n_seq, float *out)
{
    const hparams *hp = &m->hp;
    int d = hp->n_embd, n = 0, longest = 0;
    for (int i = 0; i < n_seq; i++) {
        n += lens[i];
        if (lens[i] > longest) longest = lens[i];
    }
    size_t nd = (size_t)n * d;
    int nth = tp_size(tp);
    float *x = malloc(nd * sizeof *x), *xb = malloc(nd * sizeof *xb);
    float *q = malloc(nd * sizeof *q), *k = malloc(nd * sizeof *k), *v = malloc(nd * sizeof *v);
    float *att = malloc(nd * sizeof *att), *h = malloc((size_t)n * hp->n_ff * sizeof *h);
    float *scores = malloc((size_t)nth * longest * sizeof *scores);
    float *scores_big = malloc((size_t)longest * longest * sizeof *scores_big);
    void *act = malloc((size_t)n * (hp->n_ff > d ? hp->n_ff : d) * sizeof(float) + 64);
    int st = 0;
    if (!x || !xb || !q || !k || !v || !att || !h || !scores || !act) {
        st = hrt_err(HRT_E_NOMEM, "out of memory encoding %d tokens", n);
        goto done;
    }
    for (int i = 0, t0 = 0; i < n_seq; t0 += lens[i++])
        for (int t = 0; t < lens[i]; t++) { /* positions restart with each sequence */
            float *xt = x + (size_t)(t0 + t) * d;
            const char *row = (const char *)m->tok_embd.data + (size_t)ids[t0 + t] * m->tok_embd.row_bytes;
            dequantize_row(m->tok_embd.type, row, xt, d);
            for (int c = 0; c < d; c++) xt[c] += m->pos_embd[(size_t)t * d + c] + m->type_embd[c];
            cpu_layernorm(xt, xt, m->embd_ln_w, m->embd_ln_b, d, hp->norm_eps);
        }
    for (int l = 0; l < hp->n_layer; l++) {
        const layer_weights *L = &m->layers[l];
        const cpu_mat *qkv[3] = {&L->wq, &L->wk, &L->wv};
        float *qkv_out[3] = {q, k, v};
        cpu_matmul(tp, qkv, qkv_out, 3, x, n, act);
        add_bias(q, L->bq, n, d);
        add_bias(k, L->bk, n, d);
        add_bias(v, L->bv, n, d);
        for (int i = 0, t0 = 0; i < n_seq; t0 += lens[i++]) {
            size_t o = (size_t)t0 * d;
            if (!encoder_attention_gemm(hp, tp, q + o, k + o, v + o, att + o, scores_big, lens[i])) {
                attn_job aj = {hp, q + o, k + o, v + o, att + o, scores, longest, lens[i], 0, 0, lens[i], 0};
                tp_run(tp, attn_fn, &aj);
            }
        }
        const cpu_mat *wo[1] = {&L->wo};
        cpu_matmul(tp, wo, &xb, 1, att, n, act);
        add_bias(xb, L->bo, n, d);
        for (int t = 0; t < n; t++) {
            float *xt = x + (size_t)t * d, *bt = xb + (size_t)t * d;
            for (int c = 0; c < d; c++) xt[c] += bt[c];
            cpu_layernorm(xt, xt, L->ln1_w, L->ln1_b, d, hp->norm_eps);
        }
        const cpu_mat *up[1] = {&L->up};
        cpu_matmul(tp, up, &h, 1, x, n, act);
        add_bias(h, L->b_up, n, hp->n_ff);
        cpu_gelu(h, n * hp->n_ff);
        const cpu_mat *dn[1] = {&L->down};
        cpu_matmul(tp, dn, &xb, 1, h, n, act);
        add_bias(xb, L->b_down, n, d);
        for (int t = 0; t < n; t++) {
            float *xt = x + (size_t)t * d, *bt = xb + (size_t)t * d;
            for (int c = 0; c < d; c++) xt[c] += bt[c];
            cpu_layernorm(xt, xt, L->ln2_w, L->ln2_b, d, hp->norm_eps);
        }
    }
    /* Mean pooling over each sequence's tokens (no padding: all count). */
    for (int i = 0, t0 = 0; i < n_seq; t0 += lens[i++]) {
        float *o = out + (size_t)i * d;
        memset(o, 0, (size_t)d * sizeof *o);
        for (int t = 0; t < lens[i]; t++) cpu_axpy(o, 1.0f / (float)lens[i], x + (size_t)(t0 + t) * d, d);
    }
done:
    free(x); free(xb); free(q); free(k); free(v); free(att); free(h); free(scores); free(scores_big); free(act);
    return st;
}

const backend_ops backend_cpu = {
    .name = "cpu",
    .session_init = cpu_session_init,
    .session_free = cpu_session_free,
    .decode = cpu_decode,
    .encode = cpu_encode,
};
