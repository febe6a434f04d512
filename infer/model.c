/* Loading a model: a GGUF file, or a Hugging Face directory (config.json +
 * *.safetensors + tokenizer.json / vocab.txt). Tensors stay in the file
 * mappings; only vectors stored in 16-bit types are converted to f32 copies
 * (model->owned). Every tensor is checked for presence, shape and type
 * before the model is handed out. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu/quant.h"
#include "error.h"
#include "file.h"
#include "model.h"

/* ---- tensor names ---------------------------------------------------------- */
enum tname {
    T_TOK_EMBD, T_OUTPUT, T_OUTPUT_NORM,
    T_ATTN_NORM, T_Q, T_K, T_V, T_O, T_Q_B, T_K_B, T_V_B, T_Q_NORM, T_K_NORM,
    T_FFN_NORM, T_GATE, T_UP, T_DOWN, T_ATTN_POST_NORM, T_FFN_POST_NORM,
    T_COUNT
};

/* GGUF names as llama.cpp writes them; HF names as transformers' Llama,
 * Qwen2 and Qwen3 checkpoints have them. */
static const char *const gguf_names[T_COUNT] = {
    "token_embd.weight", "output.weight", "output_norm.weight",
    "blk.%d.attn_norm.weight", "blk.%d.attn_q.weight", "blk.%d.attn_k.weight",
    "blk.%d.attn_v.weight", "blk.%d.attn_output.weight", "blk.%d.attn_q.bias",
    "blk.%d.attn_k.bias", "blk.%d.attn_v.bias", "blk.%d.attn_q_norm.weight",
    "blk.%d.attn_k_norm.weight", "blk.%d.ffn_norm.weight", "blk.%d.ffn_gate.weight",
    "blk.%d.ffn_up.weight", "blk.%d.ffn_down.weight", "blk.%d.post_attention_norm.weight",
    "blk.%d.post_ffw_norm.weight",
};
static const char *const hf_names[T_COUNT] = {
    "model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
    "model.layers.%d.input_layernorm.weight", "model.layers.%d.self_attn.q_proj.weight",
    "model.layers.%d.self_attn.k_proj.weight", "model.layers.%d.self_attn.v_proj.weight",
    "model.layers.%d.self_attn.o_proj.weight", "model.layers.%d.self_attn.q_proj.bias",
    "model.layers.%d.self_attn.k_proj.bias", "model.layers.%d.self_attn.v_proj.bias",
    "model.layers.%d.self_attn.q_norm.weight", "model.layers.%d.self_attn.k_norm.weight",
    "model.layers.%d.post_attention_layernorm.weight", "model.layers.%d.mlp.gate_proj.weight",
    "model.layers.%d.mlp.up_proj.weight", "model.layers.%d.mlp.down_proj.weight",
    NULL, NULL, /* no HF architecture with sandwich norms is read */
};

/* A tensor seen through either file format: rows x cols, row-major. */
typedef struct {
    uint32_t type;
    int64_t rows, cols;
    const void *data;
} tref;

static int lookup(const hrt_model *m, const char *name, tref *t)
{
    if (m->gguf) {
        const gguf_tensor *g = gguf_find_tensor(m->gguf, name);
        if (!g) return 0;
        t->type = g->type;
        t->cols = g->ne[0];
        t->rows = g->ne[1] * g->ne[2] * g->ne[3];
        t->data = g->data;
        return 1;
    }
    for (int i = 0; i < m->n_st; i++) {
        const st_tensor *s = st_find(m->st[i], name);
        if (!s) continue;
        t->type = s->type;
        t->rows = s->n_dims >= 2 ? s->shape[0] : 1;
        t->cols = s->n_dims >= 2 ? s->shape[1] * s->shape[2] * s->shape[3] : s->shape[0];
        t->data = s->data;
        return 1;
    }
    return 0;
}

static int own(hrt_model *m, void *p);

/* Tensor data read in place through typed pointers must be aligned to its
 * element; safetensors does not promise that (GGUF does), so a misaligned
 * tensor is copied into aligned memory owned by the model. */
static int align_tensor(hrt_model *m, const char *name, tref *t, size_t nbytes)
{
    size_t esize = ggml_type_block(t->type) == 1 ? ggml_type_block_bytes(t->type) : 2;
    if ((uintptr_t)t->data % esize == 0) return 0;
    void *copy = malloc(nbytes ? nbytes : 1);
    if (!copy || !own(m, copy)) {
        free(copy);
        return hrt_err(HRT_E_NOMEM, "%s: out of memory copying misaligned tensor '%s'", m->path, name);
    }
    memcpy(copy, t->data, nbytes);
    t->data = copy;
    return 0;
}

static int own(hrt_model *m, void *p)
{
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **o = realloc(m->owned, (size_t)cap * sizeof *o);
        if (!o) return 0;
        m->owned = o;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return 1;
}

/* The activation format a weight type is multiplied with. */
static uint32_t act_type(const hrt_model *m, uint32_t wt)
{
    if (vec_dot_type(wt) == GGML_TYPE_F32) return GGML_TYPE_F32; /* float weights */
    switch (m->precision) {
    case HRT_PRECISION_INT8: return vec_dot_type(wt);
    case HRT_PRECISION_F32: return GGML_TYPE_F32;
    default: return HRT_ACT_Q16;
    }
}

/* Binds a matrix of rows x cols. required = 0 leaves it empty when absent. */
static int get_mat(hrt_model *m, const char *name, int64_t rows, int64_t cols, int required,
                   cpu_mat *out)
{
    tref t;
    memset(out, 0, sizeof *out);
    if (!lookup(m, name, &t)) {
        if (!required) return 0;
        return hrt_err(HRT_E_FORMAT, "%s: tensor '%s' is missing", m->path, name);
    }
    if (t.rows != rows || t.cols != cols)
        return hrt_err(HRT_E_FORMAT, "%s: tensor '%s' is %lld x %lld, expected %lld x %lld", m->path,
                       name, (long long)t.rows, (long long)t.cols, (long long)rows, (long long)cols);
    if (!ggml_type_supported(t.type))
        return hrt_err(HRT_E_UNSUPPORTED, "%s: tensor '%s' has type %s, which hrt cannot compute with",
                       m->path, name, ggml_type_name(t.type) ? ggml_type_name(t.type) : "?");
    int st = align_tensor(m, name, &t, ggml_row_bytes(t.type, cols) * (size_t)rows);
    if (st) return st;
    out->type = t.type;
    out->act_type = act_type(m, t.type);
    out->n_rows = rows;
    out->n_cols = cols;
    out->row_bytes = ggml_row_bytes(t.type, cols);
    out->data = t.data;
    m->weight_bytes += out->row_bytes * (uint64_t)rows;
    m->n_params += rows * cols;
    return 0;
}

/* Binds a vector of n floats, converting 16-bit types to an owned copy. */
static int get_vec(hrt_model *m, const char *name, int64_t n, int required, const float **out)
{
    tref t;
    *out = NULL;
    if (!lookup(m, name, &t)) {
        if (!required) return 0;
        return hrt_err(HRT_E_FORMAT, "%s: tensor '%s' is missing", m->path, name);
    }
    if (t.rows * t.cols != n)
        return hrt_err(HRT_E_FORMAT, "%s: tensor '%s' has %lld elements, expected %lld", m->path, name,
                       (long long)(t.rows * t.cols), (long long)n);
    m->n_params += n;
    m->weight_bytes += ggml_row_bytes(t.type, n);
    int st = align_tensor(m, name, &t, ggml_row_bytes(t.type, n));
    if (st) return st;
    if (t.type == GGML_TYPE_F32) {
        *out = t.data;
        return 0;
    }
    if (t.type != GGML_TYPE_F16 && t.type != GGML_TYPE_BF16)
        return hrt_err(HRT_E_UNSUPPORTED, "%s: tensor '%s' has type %s, expected F32, F16 or BF16",
                       m->path, name, ggml_type_name(t.type) ? ggml_type_name(t.type) : "?");
    float *v = malloc((size_t)n * sizeof *v);
    if (!v || !own(m, v)) {
        free(v);
        return hrt_err(HRT_E_NOMEM, "%s: out of memory converting '%s'", m->path, name);
    }
    dequantize_row(t.type, t.data, v, n);
    *out = v;
    return 0;
}

static const char *tn(const hrt_model *m, enum tname id, int layer, char *buf, size_t cap)
{
    snprintf(buf, cap, m->gguf ? gguf_names[id] : hf_names[id], layer);
    return buf;
}

/* ---- decoder weights ------------------------------------------------------- */
static int bind_decoder(hrt_model *m)
{
    const hparams *hp = &m->hp;
    char nb[128];
    int st;
    int64_t q_out = (int64_t)hp->n_head * hp->head_dim, kv_out = (int64_t)hp->n_head_kv * hp->head_dim;
    if ((st = get_mat(m, tn(m, T_TOK_EMBD, 0, nb, sizeof nb), hp->n_vocab, hp->n_embd, 1, &m->tok_embd)))
        return st;
    if ((st = get_mat(m, tn(m, T_OUTPUT, 0, nb, sizeof nb), hp->n_vocab, hp->n_embd, hp->untied, &m->output)))
        return st;
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */
    if ((st = get_vec(m, tn(m, T_OUTPUT_NORM, 0, nb, sizeof nb), hp->n_embd, 1, &m->output_norm)))
        return st;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return hrt_err(HRT_E_NOMEM, "%s: out of memory", m->path);
    int bias = (m->arch->flags & ARCH_QKV_BIAS) != 0, qkn = (m->arch->flags & ARCH_QK_NORM) != 0;
    int sandwich = (m->arch->flags & ARCH_SANDWICH_NORM) != 0;
    for (int l = 0; l < hp->n_layer; l++) {
        layer_weights *L = &m->layers[l];
        if ((st = get_vec(m, tn(m, T_ATTN_NORM, l, nb, sizeof nb), hp->n_embd, 1, &L->attn_norm)) ||
            (st = get_mat(m, tn(m, T_Q, l, nb, sizeof nb), q_out, hp->n_embd, 1, &L->wq)) ||
            (st = get_mat(m, tn(m, T_K, l, nb, sizeof nb), kv_out, hp->n_embd, 1, &L->wk)) ||
            (st = get_mat(m, tn(m, T_V, l, nb, sizeof nb), kv_out, hp->n_embd, 1, &L->wv)) ||
            (st = get_mat(m, tn(m, T_O, l, nb, sizeof nb), hp->n_embd, q_out, 1, &L->wo)) ||
            (st = get_vec(m, tn(m, T_Q_B, l, nb, sizeof nb), q_out, bias, &L->bq)) ||
            (st = get_vec(m, tn(m, T_K_B, l, nb, sizeof nb), kv_out, bias, &L->bk)) ||
            (st = get_vec(m, tn(m, T_V_B, l, nb, sizeof nb), kv_out, bias, &L->bv)) ||
            (st = get_vec(m, tn(m, T_Q_NORM, l, nb, sizeof nb), hp->head_dim, qkn, &L->q_norm)) ||
            (st = get_vec(m, tn(m, T_K_NORM, l, nb, sizeof nb), hp->head_dim, qkn, &L->k_norm)) ||
            (st = get_vec(m, tn(m, T_FFN_NORM, l, nb, sizeof nb), hp->n_embd, 1, &L->ffn_norm)) ||
            (st = get_mat(m, tn(m, T_GATE, l, nb, sizeof nb), hp->n_ff, hp->n_embd, 1, &L->gate)) ||
            (st = get_mat(m, tn(m, T_UP, l, nb, sizeof nb), hp->n_ff, hp->n_embd, 1, &L->up)) ||
            (st = get_mat(m, tn(m, T_DOWN, l, nb, sizeof nb), hp->n_embd, hp->n_ff, 1, &L->down)))
            return st;
        if (sandwich &&
            ((st = get_vec(m, tn(m, T_ATTN_POST_NORM, l, nb, sizeof nb), hp->n_embd, 1, &L->attn_post_norm)) ||
             (st = get_vec(m, tn(m, T_FFN_POST_NORM, l, nb, sizeof nb), hp->n_embd, 1, &L->ffn_post_norm))))
            return st;
        /* Fused products (Q,K,V and gate,up) share one activation format:
         * where the weight types want different 8-bit ones (a Q4_K_M file
         * mixes Q5_0, Q8_0 and K-quants), all take 16-bit activations. */
        cpu_mat *qkv[3] = {&L->wq, &L->wk, &L->wv}, *gu[2] = {&L->gate, &L->up};
        if (L->wq.act_type != L->wk.act_type || L->wq.act_type != L->wv.act_type)
            for (int k = 0; k < 3; k++) qkv[k]->act_type = HRT_ACT_Q16;
        if (L->gate.act_type != L->up.act_type)
            for (int k = 0; k < 2; k++) gu[k]->act_type = HRT_ACT_Q16;
        if (l == 0) m->weight_type = L->wq.type;
    }
    return 0;
}

/* ---- BERT weights (HF checkpoints, with or without a "bert." prefix) ---------- */
static int bert_name(const hrt_model *m, const char *suffix, int layer, char *buf, size_t cap)
{
    char s[160];
    snprintf(s, sizeof s, suffix, layer);
    tref t;
    snprintf(buf, cap, "%s", s);
    if (lookup(m, buf, &t)) return 1;
    snprintf(buf, cap, "bert.%s", s);
    return lookup(m, buf, &t);
}

static int bert_mat(hrt_model *m, const char *suffix, int layer, int64_t rows, int64_t cols, cpu_mat *out)
{
    char nb[200];
    bert_name(m, suffix, layer, nb, sizeof nb);
    return get_mat(m, nb, rows, cols, 1, out);
}

static int bert_vec(hrt_model *m, const char *suffix, int layer, int64_t n, const float **out)
{
    char nb[200];
    bert_name(m, suffix, layer, nb, sizeof nb);
    return get_vec(m, nb, n, 1, out);
}

static int bind_bert(hrt_model *m)
{
    const hparams *hp = &m->hp;
    int st;
    int64_t d = hp->n_embd;
    if ((st = bert_mat(m, "embeddings.word_embeddings.weight", 0, hp->n_vocab, d, &m->tok_embd)) ||
        (st = bert_vec(m, "embeddings.position_embeddings.weight", 0, (int64_t)hp->n_ctx_train * d,
                       &m->pos_embd)) ||
        (st = bert_vec(m, "embeddings.token_type_embeddings.weight", 0, (int64_t)hp->n_types * d,
                       &m->type_embd)) ||
        (st = bert_vec(m, "embeddings.LayerNorm.weight", 0, d, &m->embd_ln_w)) ||
        (st = bert_vec(m, "embeddings.LayerNorm.bias", 0, d, &m->embd_ln_b)))
        return st;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return hrt_err(HRT_E_NOMEM, "%s: out of memory", m->path);
    for (int l = 0; l < hp->n_layer; l++) {
        layer_weights *L = &m->layers[l];
        if ((st = bert_mat(m, "encoder.layer.%d.attention.self.query.weight", l, d, d, &L->wq)) ||
            (st = bert_vec(m, "encoder.layer.%d.attention.self.query.bias", l, d, &L->bq)) ||
            (st = bert_mat(m, "encoder.layer.%d.attention.self.key.weight", l, d, d, &L->wk)) ||
            (st = bert_vec(m, "encoder.layer.%d.attention.self.key.bias", l, d, &L->bk)) ||
            (st = bert_mat(m, "encoder.layer.%d.attention.self.value.weight", l, d, d, &L->wv)) ||
            (st = bert_vec(m, "encoder.layer.%d.attention.self.value.bias", l, d, &L->bv)) ||
            (st = bert_mat(m, "encoder.layer.%d.attention.output.dense.weight", l, d, d, &L->wo)) ||
            (st = bert_vec(m, "encoder.layer.%d.attention.output.dense.bias", l, d, &L->bo)) ||
            (st = bert_vec(m, "encoder.layer.%d.attention.output.LayerNorm.weight", l, d, &L->ln1_w)) ||
            (st = bert_vec(m, "encoder.layer.%d.attention.output.LayerNorm.bias", l, d, &L->ln1_b)) ||
            (st = bert_mat(m, "encoder.layer.%d.intermediate.dense.weight", l, hp->n_ff, d, &L->up)) ||
            (st = bert_vec(m, "encoder.layer.%d.intermediate.dense.bias", l, hp->n_ff, &L->b_up)) ||
            (st = bert_mat(m, "encoder.layer.%d.output.dense.weight", l, d, hp->n_ff, &L->down)) ||
            (st = bert_vec(m, "encoder.layer.%d.output.dense.bias", l, d, &L->b_down)) ||
            (st = bert_vec(m, "encoder.layer.%d.output.LayerNorm.weight", l, d, &L->ln2_w)) ||
            (st = bert_vec(m, "encoder.layer.%d.output.LayerNorm.bias", l, d, &L->ln2_b)))
            return st;
        if (l == 0) m->weight_type = L->wq.type;
    }
    return 0;
}

/* ---- hyperparameters ------------------------------------------------------- */
static int validate_hparams(hrt_model *m)
{
    hparams *hp = &m->hp;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_head <= 0 || hp->n_vocab <= 0 || hp->n_ff <= 0)
        return hrt_err(HRT_E_FORMAT, "%s: embedding length, layer, head, vocabulary and "
                       "feed-forward sizes must all be positive", m->path);
    if (hp->n_embd > (1 << 16) || hp->n_layer > 1024 || hp->n_head > 1024 || hp->n_vocab > (1 << 24) ||
        hp->n_ff > (1 << 20))
        return hrt_err(HRT_E_FORMAT, "%s: hyperparameters out of any sane range", m->path);
    if (hp->n_head_kv <= 0) hp->n_head_kv = hp->n_head;
    if (hp->n_head % hp->n_head_kv)
        return hrt_err(HRT_E_FORMAT, "%s: head count %d is not a multiple of the KV head count %d",
                       m->path, hp->n_head, hp->n_head_kv);
    if (hp->head_dim <= 0) {
        if (hp->n_embd % hp->n_head)
            return hrt_err(HRT_E_FORMAT, "%s: embedding length %d is not divisible by %d heads",
                           m->path, hp->n_embd, hp->n_head);
        hp->head_dim = hp->n_embd / hp->n_head;
    }
    if (hp->n_rot <= 0) hp->n_rot = hp->head_dim;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return hrt_err(HRT_E_FORMAT, "%s: rope dimension %d does not fit head size %d", m->path,
                       hp->n_rot, hp->head_dim);
    if (hp->n_ctx_train <= 0) hp->n_ctx_train = 2048;
    if (hp->rope_base <= 0) hp->rope_base = 10000.0f;
    if (hp->norm_eps <= 0) hp->norm_eps = 1e-5f;
    if (hp->n_swa < 0) hp->n_swa = 0;
    if (!(hp->logit_softcap >= 0 && hp->logit_softcap < 1e30f))
        return hrt_err(HRT_E_FORMAT, "%s: final logit soft-capping %g is not a positive number", m->path,
                       (double)hp->logit_softcap);
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    /* Gemma 3 27B scales queries by its query_pre_attn_scalar, n_embd /
     * n_head = 168, not by head_dim = 128; its GGUF does not say so, and
     * llama.cpp (llama-model.cpp, LLM_ARCH_GEMMA3) also tells it by its 62
     * layers. The other sizes use head_dim. */
    if (!strcmp(m->arch->name, "gemma3") && hp->n_layer == 62)
        hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
    hp->embd_scale = m->arch->flags & ARCH_EMBD_SCALE ? sqrtf((float)hp->n_embd) : 1.0f;
    return 0;
}

/* The RoPE angle per position of each rotated pair: base^(-2i/n_rot), with
 * the checkpoint's scaling applied when scaled is set (linear: divided by the factor; llama3:
 * HF's _compute_llama3_parameters, which divides only the low frequencies
 * and blends in between), then divided by GGUF's per-pair rope_freqs
 * factors when the file has them. */
static int rope_table(hrt_model *m, const float *freq_factors, float base, int scaled, const double **out)
{
    hparams *hp = &m->hp;
    int half = hp->n_rot / 2;
    double *inv = malloc((size_t)half * sizeof *inv);
    if (!inv || !own(m, inv)) {
        free(inv);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < half; i++) {
        double f = pow((double)base, -2.0 * i / (double)hp->n_rot);
        if (!scaled) {
        } else if (hp->rope_scaling == ROPE_SCALING_LINEAR) {
            f /= hp->rope_factor;
        } else if (hp->rope_scaling == ROPE_SCALING_LLAMA3) {
            double low_wl = hp->rope_orig_ctx / hp->rope_low_freq, high_wl = hp->rope_orig_ctx / hp->rope_high_freq;
            double wl = 2 * M_PI / f;
            if (wl > low_wl) {
                f /= hp->rope_factor;
            } else if (wl >= high_wl) {
                double smooth = (hp->rope_orig_ctx / wl - hp->rope_low_freq) / (hp->rope_high_freq - hp->rope_low_freq);
                f = (1 - smooth) * f / hp->rope_factor + smooth * f;
            }
        }
        if (freq_factors) f /= freq_factors[i];
        inv[i] = f;
    }
    *out = inv;
    return 0;
}

/* Checks the scaling parameters read from a file. */
static int check_rope_scaling(hrt_model *m, const char *where)
{
    hparams *hp = &m->hp;
    if (hp->rope_scaling != ROPE_SCALING_NONE && !(hp->rope_factor > 0))
        return hrt_err(HRT_E_FORMAT, "%s: RoPE scaling factor must be positive", where);
    if (hp->rope_scaling == ROPE_SCALING_LLAMA3 &&
        !(hp->rope_orig_ctx > 0 && hp->rope_low_freq > 0 && hp->rope_high_freq > hp->rope_low_freq))
        return hrt_err(HRT_E_FORMAT, "%s: llama3 RoPE scaling needs original_max_position_embeddings > 0 "
                       "and 0 < low_freq_factor < high_freq_factor", where);
    return 0;
}

/* Reads an integer hyperparameter "<arch>.<key>". */
static int gguf_arch_u32(hrt_model *m, const char *key, int required, int *out)
{
    char full[128];
    uint32_t v;
    snprintf(full, sizeof full, "%s.%s", m->arch->name, key);
    int st = gguf_get_u32(m->gguf, full, &v);
    if (st == HRT_E_RANGE) {
        if (!required) return 0;
        return hrt_err(HRT_E_FORMAT, "%s: required metadata '%s' is missing", m->path, full);
    }
    if (st) return st;
    if (v > INT32_MAX) return hrt_err(HRT_E_FORMAT, "%s: metadata '%s' is too large", m->path, full);
    *out = (int)v;
    return 0;
}

static int gguf_arch_f32(hrt_model *m, const char *key, float *out)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", m->arch->name, key);
    int st = gguf_get_f32(m->gguf, full, out);
    return st == HRT_E_RANGE ? 0 : st;
}

/* Builds the tokenizer from tokenizer.ggml.* metadata. */
static int gguf_tokenizer(hrt_model *m)
{
    gguf_file *g = m->gguf;
    const char *model_s = NULL, *pre_s = NULL;
    size_t model_len = 0, pre_len = 0;
    char tmodel[32] = "", pre[64] = "gpt2";
    int st = gguf_get_str(g, "tokenizer.ggml.model", &model_s, &model_len);
    if (st == HRT_E_RANGE) return hrt_err(HRT_E_FORMAT, "%s: required metadata 'tokenizer.ggml.model' is missing", m->path);
    if (st) return st;
    snprintf(tmodel, sizeof tmodel, "%.*s", (int)model_len, model_s);
    if (!gguf_get_str(g, "tokenizer.ggml.pre", &pre_s, &pre_len))
        snprintf(pre, sizeof pre, "%.*s", (int)pre_len, pre_s);

    tokenizer_spec spec = {0};
    if (!strcmp(tmodel, "gpt2"))
        spec.type = TOKENIZER_BPE;
    else if (!strcmp(tmodel, "bert"))
        spec.type = TOKENIZER_WORDPIECE;
    else if (!strcmp(tmodel, "llama"))
        spec.type = TOKENIZER_SPM;
    else
        return hrt_err(HRT_E_UNSUPPORTED, "%s: tokenizer.ggml.model '%s' is not supported (gpt2, llama, bert)",
                       m->path, tmodel);

    uint64_t n_tok = 0, n_merges = 0, n_types = 0;
    if ((st = gguf_get_str_arr(g, "tokenizer.ggml.tokens", NULL, NULL, &n_tok)))
        return st == HRT_E_RANGE
                   ? hrt_err(HRT_E_FORMAT, "%s: required metadata 'tokenizer.ggml.tokens' is missing", m->path)
                   : st;
    if (n_tok == 0 || n_tok > (1u << 24))
        return hrt_err(HRT_E_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries", m->path,
                       (unsigned long long)n_tok);
    if (spec.type == TOKENIZER_BPE && (st = gguf_get_str_arr(g, "tokenizer.ggml.merges", NULL, NULL, &n_merges)))
        return st == HRT_E_RANGE
                   ? hrt_err(HRT_E_FORMAT, "%s: required metadata 'tokenizer.ggml.merges' is missing", m->path)
                   : st;
    const char **toks = malloc(n_tok * sizeof *toks), **merges = malloc((n_merges + 1) * sizeof *merges);
    uint32_t *tlens = malloc(n_tok * sizeof *tlens), *mlens = malloc((n_merges + 1) * sizeof *mlens);
    int32_t *types = malloc(n_tok * sizeof *types);
    float *scores = NULL;
    if (!toks || !merges || !tlens || !mlens || !types) {
        st = hrt_err(HRT_E_NOMEM, "%s: out of memory reading the vocabulary", m->path);
        goto done;
    }
    if ((st = gguf_get_str_arr(g, "tokenizer.ggml.tokens", toks, tlens, &n_tok))) goto done;
    if (n_merges && (st = gguf_get_str_arr(g, "tokenizer.ggml.merges", merges, mlens, &n_merges))) goto done;
    st = gguf_get_i32_arr(g, "tokenizer.ggml.token_type", NULL, &n_types);
    if (st == 0 && n_types == n_tok) {
        if ((st = gguf_get_i32_arr(g, "tokenizer.ggml.token_type", types, &n_types))) goto done;
        spec.token_types = types;
    } else if (st == 0 || st == HRT_E_RANGE) {
        if (st == 0)
            hrt_log(HRT_LOG_WARN, "%s: tokenizer.ggml.token_type has %llu entries for %llu tokens; ignored",
                    m->path, (unsigned long long)n_types, (unsigned long long)n_tok);
        st = 0;
    } else {
        goto done;
    }
    if (spec.type == TOKENIZER_SPM) {
        uint64_t n_scores = 0;
        st = gguf_get_f32_arr(g, "tokenizer.ggml.scores", NULL, &n_scores);
        if (st == HRT_E_RANGE || (!st && n_scores != n_tok)) {
            st = hrt_err(HRT_E_FORMAT, "%s: tokenizer.ggml.scores is missing or not one per token", m->path);
            goto done;
        }
        if (st) goto done;
        if (!(scores = malloc(n_tok * sizeof *scores))) {
            st = hrt_err(HRT_E_NOMEM, "%s: out of memory reading the vocabulary", m->path);
            goto done;
        }
        if ((st = gguf_get_f32_arr(g, "tokenizer.ggml.scores", scores, &n_scores))) goto done;
        spec.scores = scores;
        spec.add_space_prefix = 1; /* llama.cpp's default for SPM vocabularies */
        gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &spec.add_space_prefix);
    }
    spec.n_vocab = (int)n_tok;
    spec.tokens = toks;
    spec.token_lens = tlens;
    spec.n_merges = (int)n_merges;
    spec.merges = merges;
    spec.merge_lens = mlens;
    spec.pre = pre;
    struct { const char *key; int *dst; } ids[] = {
        {"tokenizer.ggml.bos_token_id", &spec.bos_id}, {"tokenizer.ggml.eos_token_id", &spec.eos_id},
        {"tokenizer.ggml.unknown_token_id", &spec.unk_id}, {"tokenizer.ggml.seperator_token_id", &spec.sep_id},
        {"tokenizer.ggml.padding_token_id", &spec.pad_id}, {"tokenizer.ggml.cls_token_id", &spec.cls_id},
    };
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        uint32_t v;
        *ids[i].dst = -1;
        int s2 = gguf_get_u32(g, ids[i].key, &v);
        if (s2 == 0 && v < n_tok) *ids[i].dst = (int)v;
        else if (s2 == 0)
            hrt_log(HRT_LOG_WARN, "%s: %s = %u is outside the vocabulary; ignored", m->path, ids[i].key, v);
        else if (s2 != HRT_E_RANGE) { st = s2; goto done; }
    }
    /* without the key: llama.cpp's defaults (BOS for WordPiece and SPM) */
    spec.add_bos = spec.type == TOKENIZER_WORDPIECE || spec.type == TOKENIZER_SPM;
    spec.add_eos = 0;
    gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &spec.add_bos);
    gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &spec.add_eos);
    spec.lowercase = 1;
    st = tokenizer_create(&spec, &m->tok);
    if (st) hrt_err_prefix(st, "%s", m->path);
done:
    free(toks);
    free(merges);
    free(tlens);
    free(mlens);
    free(types);
    free(scores);
    return st;
}

static int load_gguf(hrt_model *m)
{
    int st;
    const char *s;
    size_t len;
    char arch[64];
    if ((st = gguf_open(m->path, &m->gguf))) return st;
    st = gguf_get_str(m->gguf, "general.architecture", &s, &len);
    if (st == HRT_E_RANGE)
        return hrt_err(HRT_E_FORMAT, "%s: required metadata 'general.architecture' is missing", m->path);
    if (st) return st;
    snprintf(arch, sizeof arch, "%.*s", (int)len, s);
    if (!(m->arch = arch_find(arch)) || (m->arch->flags & ARCH_ENCODER))
        return hrt_err(HRT_E_UNSUPPORTED, "%s: architecture '%s' is not supported in GGUF files "
                       "(llama, qwen2, qwen3, gemma3)", m->path, arch);
    if (!gguf_get_str(m->gguf, "general.name", &s, &len) && len) m->name = strndup(s, len);
    hparams *hp = &m->hp;
    if ((st = gguf_arch_u32(m, "embedding_length", 1, &hp->n_embd)) ||
        (st = gguf_arch_u32(m, "block_count", 1, &hp->n_layer)) ||
        (st = gguf_arch_u32(m, "attention.head_count", 1, &hp->n_head)) ||
        (st = gguf_arch_u32(m, "feed_forward_length", 1, &hp->n_ff)) ||
        (st = gguf_arch_u32(m, "attention.head_count_kv", 0, &hp->n_head_kv)) ||
        (st = gguf_arch_u32(m, "context_length", 0, &hp->n_ctx_train)) ||
        (st = gguf_arch_u32(m, "rope.dimension_count", 0, &hp->n_rot)) ||
        (st = gguf_arch_u32(m, "attention.key_length", 0, &hp->head_dim)) ||
        (st = gguf_arch_f32(m, "rope.freq_base", &hp->rope_base)) ||
        (st = gguf_arch_f32(m, "attention.layer_norm_rms_epsilon", &hp->norm_eps)) ||
        (st = gguf_arch_u32(m, "attention.sliding_window", 0, &hp->n_swa)) ||
        (st = gguf_arch_f32(m, "final_logit_softcapping", &hp->logit_softcap)))
        return st;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch->name);
    if (!gguf_get_str(m->gguf, key, &s, &len)) {
        if (len == 6 && !memcmp(s, "linear", 6)) {
            hp->rope_scaling = ROPE_SCALING_LINEAR;
            if ((st = gguf_arch_f32(m, "rope.scaling.factor", &hp->rope_factor))) return st;
        } else if (!(len == 4 && !memcmp(s, "none", 4))) {
            return hrt_err(HRT_E_UNSUPPORTED, "%s: %s '%.*s' is not supported (linear, none)", m->path, key,
                           (int)len, s);
        }
    }
    if ((st = check_rope_scaling(m, m->path))) return st;
    if ((st = gguf_tokenizer(m))) return st;
    hp->n_vocab = tokenizer_n_vocab(m->tok);
    hp->rope_neox = m->arch->rope_neox_gguf;
    if (!gguf_get_str(m->gguf, "tokenizer.chat_template", &s, &len) && len)
        m->chat_template = strndup(s, len);
    if ((st = validate_hparams(m))) return st;
    /* Llama 3.1-style files carry per-pair frequency divisors. */
    const float *ff = NULL;
    if ((st = get_vec(m, "rope_freqs.weight", hp->n_rot / 2, 0, &ff)) ||
        (st = rope_table(m, ff, hp->rope_base, 1, &hp->rope_inv_freq)))
        return st;
    if (hp->n_swa > 0 && m->arch->swa_pattern > 0) {
        hp->swa_pattern = m->arch->swa_pattern;
        /* HF's Gemma 3 scales only the global layers' RoPE */
        if ((st = rope_table(m, ff, m->arch->rope_base_swa, 0, &hp->rope_inv_freq_swa))) return st;
    } else {
        hp->n_swa = 0;
    }
    return bind_decoder(m);
}

/* ---- Hugging Face directories -------------------------------------------------- */
/* A text file of a checkpoint directory (under 1 GiB), or NULL. */
static char *read_text(const char *path, size_t *len)
{
    char *buf;
    size_t n;
    if (file_read_all(path, (size_t)1 << 30, &buf, &n)) return NULL;
    if (len) *len = n;
    return buf;
}

static cJSON *read_json(const char *path)
{
    size_t len;
    char *text = read_text(path, &len);
    if (!text) return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    return j;
}

static int json_int(const cJSON *o, const char *key, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return 0;
    if (v->valuedouble < 0 || v->valuedouble > INT32_MAX) return 0;
    *out = (int)v->valuedouble;
    return 1;
}

static int json_float(const cJSON *o, const char *key, float *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return 0;
    *out = (float)v->valuedouble;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Maps every *.safetensors file of the directory (sorted, for stable
 * error messages). */
static int open_shards(hrt_model *m)
{
    DIR *d = opendir(m->path);
    if (!d) return hrt_err(HRT_E_IO, "%s: cannot open directory: %s", m->path, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0, st = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 12 || strcmp(e->d_name + l - 12, ".safetensors")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) { st = hrt_err(HRT_E_NOMEM, "out of memory"); break; }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) { st = hrt_err(HRT_E_NOMEM, "out of memory"); break; }
        n++;
    }
    closedir(d);
    if (!st && n == 0) st = hrt_err(HRT_E_FORMAT, "%s: no *.safetensors file in the directory", m->path);
    if (!st) {
        qsort(names, (size_t)n, sizeof *names, cmp_str);
        m->st = calloc((size_t)n, sizeof *m->st);
        if (!m->st) st = hrt_err(HRT_E_NOMEM, "out of memory");
        for (int i = 0; !st && i < n; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", m->path, names[i]);
            if (!(st = st_open(p, &m->st[i]))) m->n_st++;
        }
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}

static int load_hf_dir(hrt_model *m)
{
    char p[4096];
    int st;
    snprintf(p, sizeof p, "%s/config.json", m->path);
    cJSON *cfg = read_json(p);
    if (!cfg) {
        if (access(p, R_OK) != 0) return hrt_err(HRT_E_FORMAT, "%s: missing config.json", m->path);
        return hrt_err(HRT_E_FORMAT, "%s: not valid JSON", p);
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    if (!cJSON_IsString(mt)) {
        cJSON_Delete(cfg);
        return hrt_err(HRT_E_FORMAT, "%s: required field 'model_type' is missing", p);
    }
    if (!(m->arch = arch_find_hf(mt->valuestring))) {
        st = hrt_err(HRT_E_UNSUPPORTED, "%s: model_type '%s' is not supported (llama, qwen2, qwen3, bert)",
                     p, mt->valuestring);
        cJSON_Delete(cfg);
        return st;
    }
    hparams *hp = &m->hp;
    int ok = json_int(cfg, "hidden_size", &hp->n_embd) && json_int(cfg, "num_hidden_layers", &hp->n_layer) &&
             json_int(cfg, "num_attention_heads", &hp->n_head) &&
             json_int(cfg, "intermediate_size", &hp->n_ff) && json_int(cfg, "vocab_size", &hp->n_vocab);
    json_int(cfg, "num_key_value_heads", &hp->n_head_kv);
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(cfg, "tie_word_embeddings");
    hp->untied = cJSON_IsFalse(tie);
    json_int(cfg, "max_position_embeddings", &hp->n_ctx_train);
    json_int(cfg, "head_dim", &hp->head_dim);
    json_float(cfg, "rope_theta", &hp->rope_base);
    /* transformers 5 writes rope_parameters (with rope_theta inside);
     * older checkpoints rope_theta and rope_scaling. */
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(cfg, "rope_parameters");
    if (!cJSON_IsObject(rp)) rp = cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling");
    if (cJSON_IsObject(rp)) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(rp, "rope_type");
        if (!cJSON_IsString(ty)) ty = cJSON_GetObjectItemCaseSensitive(rp, "type");
        const char *type = cJSON_IsString(ty) ? ty->valuestring : "default";
        json_float(rp, "rope_theta", &hp->rope_base);
        json_float(rp, "factor", &hp->rope_factor);
        if (!strcmp(type, "linear")) {
            hp->rope_scaling = ROPE_SCALING_LINEAR;
        } else if (!strcmp(type, "llama3")) {
            hp->rope_scaling = ROPE_SCALING_LLAMA3;
            json_float(rp, "low_freq_factor", &hp->rope_low_freq);
            json_float(rp, "high_freq_factor", &hp->rope_high_freq);
            json_int(rp, "original_max_position_embeddings", &hp->rope_orig_ctx);
        } else if (strcmp(type, "default")) {
            st = hrt_err(HRT_E_UNSUPPORTED, "%s: RoPE scaling '%s' is not supported (default, linear, llama3)", p, type);
            cJSON_Delete(cfg);
            return st;
        }
    } else if (rp && !cJSON_IsNull(rp)) {
        cJSON_Delete(cfg);
        return hrt_err(HRT_E_FORMAT, "%s: rope_scaling must be an object", p);
    }
    if (m->arch->flags & ARCH_ENCODER) {
        json_float(cfg, "layer_norm_eps", &hp->norm_eps);
        hp->n_types = 2;
        json_int(cfg, "type_vocab_size", &hp->n_types);
    } else {
        json_float(cfg, "rms_norm_eps", &hp->norm_eps);
    }
    hp->rope_neox = 1;
    cJSON_Delete(cfg);
    if (!ok)
        return hrt_err(HRT_E_FORMAT, "%s: hidden_size, num_hidden_layers, num_attention_heads, "
                       "intermediate_size and vocab_size are required", p);
    if ((st = validate_hparams(m)) || (st = check_rope_scaling(m, p)) || (st = rope_table(m, NULL, hp->rope_base, 1, &hp->rope_inv_freq))) return st;
    hp->max_seq = hp->n_ctx_train;
    snprintf(p, sizeof p, "%s/sentence_bert_config.json", m->path);
    cJSON *sb = read_json(p);
    if (sb) {
        int ms;
        if (json_int(sb, "max_seq_length", &ms) && ms > 0 && ms < hp->max_seq) hp->max_seq = ms;
        cJSON_Delete(sb);
    }

    snprintf(p, sizeof p, "%s/tokenizer.json", m->path);
    if (access(p, R_OK) == 0) {
        st = tokenizer_from_hf_json(p, &m->tok);
    } else {
        snprintf(p, sizeof p, "%s/vocab.txt", m->path);
        if (access(p, R_OK) != 0)
            return hrt_err(HRT_E_FORMAT, "%s: no tokenizer.json or vocab.txt", m->path);
        st = tokenizer_from_vocab_txt(p, 1, &m->tok);
    }
    if (st) return st;
    if (tokenizer_n_vocab(m->tok) > hp->n_vocab)
        return hrt_err(HRT_E_FORMAT, "%s: the tokenizer has %d tokens, the model only %d", m->path,
                       tokenizer_n_vocab(m->tok), hp->n_vocab);
    /* The chat template: tokenizer_config.json's "chat_template", or (as
     * transformers 5 saves it) chat_template.jinja. */
    snprintf(p, sizeof p, "%s/tokenizer_config.json", m->path);
    cJSON *tc = read_json(p);
    if (tc) {
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(tc, "chat_template");
        if (cJSON_IsString(ct)) m->chat_template = strdup(ct->valuestring);
        cJSON_Delete(tc);
    }
    if (!m->chat_template) {
        snprintf(p, sizeof p, "%s/chat_template.jinja", m->path);
        m->chat_template = read_text(p, NULL);
    }
    const char *base = strrchr(m->path, '/');
    m->name = strdup(base && base[1] ? base + 1 : m->path);
    if ((st = open_shards(m))) return st;
    return (m->arch->flags & ARCH_ENCODER) ? bind_bert(m) : bind_decoder(m);
}

/* CUDA when asked for, or (AUTO) when the library has it and a device is
 * there; the CPU otherwise. */
static int choose_backend(hrt_model *m, const hrt_model_params *p)
{
    m->backend = &backend_cpu;
    m->device = p->device;
    if (p->backend == HRT_BACKEND_CPU) return 0;
#ifdef HRT_WITH_CUDA
    int n = cuda_device_count();
    if (p->backend == HRT_BACKEND_CUDA && n == 0)
        return hrt_err(HRT_E_BACKEND, "%s: the CUDA backend was asked for, but no CUDA device is present", m->path);
    if (n > 0) {
        if (p->device < 0 || p->device >= n)
            return hrt_err(HRT_E_INVALID, "%s: CUDA device %d does not exist (%d present)", m->path, p->device, n);
        m->backend = &backend_cuda;
    }
    return 0;
#else
    if (p->backend == HRT_BACKEND_CUDA)
        return hrt_err(HRT_E_BACKEND, "%s: this build of hrt has no CUDA backend (configure with -DHRT_CUDA=ON)",
                       m->path);
    return 0;
#endif
}

/* Touches every page of the weights so that the first token does not pay
 * for page faults, reporting progress as it goes. */
static void prefault(const hrt_model *m, const hrt_model_params *p)
{
    const uint8_t *base;
    size_t size;
    int n_files = m->gguf ? 1 : m->n_st;
    volatile uint8_t sink = 0;
    size_t total = 0, done = 0;
    for (int i = 0; i < n_files; i++) total += m->gguf ? m->gguf->size : m->st[i]->size;
    for (int i = 0; i < n_files; i++) {
        base = m->gguf ? m->gguf->base : m->st[i]->base;
        size = m->gguf ? m->gguf->size : m->st[i]->size;
        for (size_t off = 0; off < size; off += 4096) {
            sink ^= base[off];
            if (p->progress && (off & ((1u << 24) - 1)) == 0)
                p->progress((float)(done + off) / (float)total, p->progress_user_data);
        }
        done += size;
    }
    (void)sink;
    if (p->progress) p->progress(1.0f, p->progress_user_data);
}

int model_load(const char *path, const hrt_model_params *params, hrt_model **out)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return hrt_err(HRT_E_IO, "%s: %s", path, strerror(errno));
    hrt_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    if (params->precision < HRT_PRECISION_DEFAULT || params->precision > HRT_PRECISION_F32) {
        model_free(m);
        return hrt_err(HRT_E_INVALID, "hrt_model_open: precision %d is not an HRT_PRECISION_* value",
                       params->precision);
    }
    m->precision = params->precision == HRT_PRECISION_DEFAULT ? HRT_PRECISION_INT16 : params->precision;
    size_t pl = strlen(m->path);
    while (pl > 1 && m->path[pl - 1] == '/') m->path[--pl] = 0;
    int st = S_ISDIR(sb.st_mode) ? load_hf_dir(m) : load_gguf(m);
    if (st) {
        model_free(m);
        return st;
    }
    if (!m->name) m->name = strdup(m->arch->name);
    m->n_threads = params->n_threads > 0 ? params->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (m->n_threads < 1) m->n_threads = 1;
    if ((st = choose_backend(m, params))) {
        model_free(m);
        return st;
    }
    prefault(m, params);
    if (m->backend->model_init && (st = m->backend->model_init(m))) {
        model_free(m);
        return st;
    }
    *out = m;
    return 0;
}

void model_free(hrt_model *m)
{
    if (!m) return;
    if (m->backend && m->backend->model_free) m->backend->model_free(m);
    gguf_close(m->gguf);
    for (int i = 0; i < m->n_st; i++) st_close(m->st[i]);
    free(m->st);
    tokenizer_free(m->tok);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    free(m->chat_template);
    free(m->name);
    free(m->path);
    free(m);
}
