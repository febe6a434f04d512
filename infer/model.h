/* The loaded model: hyperparameters, weights bound to the file mappings,
 * tokenizer, chat template and backend. Read-only after model_load(), so one
 * model serves many sessions and threads. */
#ifndef HRT_MODEL_H
#define HRT_MODEL_H

#include <stdatomic.h>

#include "cpu/ops.h"
#include "gguf.h"
#include "hrt.h"
#include "safetensors.h"
#include "sampler.h"
#include "tokenizer.h"

/* ---- architectures ------------------------------------------------------ */
enum {
    ARCH_QKV_BIAS = 1 << 0,   /* Q, K, V projections have biases (Qwen2) */
    ARCH_QK_NORM = 1 << 1,    /* RMSNorm on each Q and K head (Qwen3) */
    ARCH_ENCODER = 1 << 2,    /* bidirectional encoder (BERT) */
    ARCH_SANDWICH_NORM = 1 << 3, /* RMSNorm also after attention and after the
                                    feed-forward, before each residual add (Gemma) */
    ARCH_GEGLU = 1 << 4,      /* feed-forward gelu(gate) * up, tanh GELU (Gemma) */
    ARCH_EMBD_SCALE = 1 << 5, /* embeddings times sqrt(n_embd) (Gemma) */
};

/* One row per supported architecture: what differs between the families.
 * Adding a Llama-like family is a row here plus, where it has a new
 * operation, a flag tested in the forward pass. */
typedef struct {
    const char *name;         /* GGUF general.architecture */
    const char *hf_type;      /* config.json model_type */
    unsigned flags;
    int rope_neox_gguf;       /* RoPE pairs (i, i+d/2) for GGUF files; HF
                                 checkpoints always use them */
    /* Interleaved local (sliding-window) and global attention, when the
     * file gives a window: layer l is global when (l + 1) % swa_pattern
     * == 0, local otherwise, and local layers rotate with rope_base_swa.
     * Gemma 3 files do not store either (llama.cpp and HF's config both
     * fix them at 6 and 10000). 0: every layer global. */
    int swa_pattern;
    float rope_base_swa;
} arch_desc;

const arch_desc *arch_find(const char *name);
const arch_desc *arch_find_hf(const char *model_type);

typedef struct {
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_rot;
    float rope_base, norm_eps;
    int rope_neox;
    /* RoPE scaling (hf config rope_scaling / rope_parameters, GGUF
     * rope.scaling.*): ROPE_SCALING_* with its parameters */
    int rope_scaling;
    float rope_factor, rope_low_freq, rope_high_freq;
    int rope_orig_ctx;
    const double *rope_inv_freq; /* (n_rot/2) angle per position of each pair, owned by the model */
    const double *rope_inv_freq_swa; /* the same for local layers (rope_base_swa); NULL without */
    int n_swa;                /* sliding window of local layers (a position sees the
                                 n_swa latest, itself included); 0 = none */
    int swa_pattern;          /* see arch_desc; 0 = none */
    float attn_scale;         /* query scale (default 1/sqrt(head_dim)) */
    float embd_scale;         /* input embedding factor (1, or sqrt(n_embd)) */
    float logit_softcap;      /* final logits cap * tanh(x / cap); 0 = none */
    int n_types;              /* BERT token types */
    int max_seq;              /* BERT: longest input (sentence-transformers' max_seq_length) */
    int untied;               /* HF config says tie_word_embeddings: false (lm_head required) */
} hparams;

enum { ROPE_SCALING_NONE = 0, ROPE_SCALING_LINEAR, ROPE_SCALING_LLAMA3 };

/* Weights of one layer. Matrices are (n_rows = outputs, n_cols = inputs);
 * vectors are f32 (converted at load time when stored otherwise). */
typedef struct {
    cpu_mat wq;               /* (n_head*head_dim, n_embd) */
    cpu_mat wk, wv;           /* (n_head_kv*head_dim, n_embd) */
    cpu_mat wo;               /* (n_embd, n_head*head_dim) */
    cpu_mat gate, up;         /* (n_ff, n_embd); BERT: up = intermediate */
    cpu_mat down;             /* (n_embd, n_ff) */
    const float *attn_norm, *ffn_norm;       /* (n_embd) RMSNorm weights */
    const float *bq, *bk, *bv, *bo;          /* biases, NULL when absent */
    const float *b_up, *b_down;
    const float *q_norm, *k_norm;            /* (head_dim) */
    const float *attn_post_norm, *ffn_post_norm; /* (n_embd) ARCH_SANDWICH_NORM */
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b; /* BERT post-attention / post-FFN LayerNorms */
} layer_weights;

struct backend_ops;

struct hrt_model {
    char *path;
    char *name;
    const arch_desc *arch;
    hparams hp;
    gguf_file *gguf;          /* GGUF models */
    st_file **st;             /* safetensors shards of an HF directory */
    int n_st;
    tokenizer *tok;
    char *chat_template;      /* NUL-terminated, NULL when none */
    cpu_mat tok_embd;         /* (n_vocab, n_embd) */
    cpu_mat output;           /* (n_vocab, n_embd); tok_embd when tied */
    const float *output_norm; /* (n_embd) */
    const float *pos_embd;    /* BERT: (max positions, n_embd) */
    const float *type_embd;   /* BERT: (n_types, n_embd) */
    const float *embd_ln_w, *embd_ln_b;
    layer_weights *layers;    /* n_layer */
    void **owned;             /* buffers converted at load time */
    int n_owned, cap_owned;
    const struct backend_ops *backend;
    void *backend_state;      /* the backend's per-model data (device weights) */
    int device;               /* CUDA device index */
    char device_text[256];    /* hrt_model_info's device description */
    int n_threads;
    int precision;            /* HRT_PRECISION_* (never DEFAULT after loading) */
    uint32_t weight_type;     /* dominant matrix type */
    uint64_t weight_bytes;
    int64_t n_params;
};

/* Whether layer l uses the sliding window (and rope_inv_freq_swa). */
static inline int layer_is_swa(const hparams *hp, int l)
{
    return hp->n_swa > 0 && hp->swa_pattern > 0 && (l + 1) % hp->swa_pattern != 0;
}

int model_load(const char *path, const hrt_model_params *params, hrt_model **out);
void model_free(hrt_model *m);

/* ---- sessions ------------------------------------------------------------ */
struct hrt_session {
    hrt_model *model;
    int n_ctx;
    int n_past;               /* tokens in the cache */
    int32_t *tokens;          /* (n_ctx) the ids held in the cache */
    void *state;              /* backend state: KV cache, scratch */
    threadpool *tp;
    _Atomic int cancel;
};

/* ---- backends -------------------------------------------------------------- */
typedef struct backend_ops {
    const char *name;
    /* Prepares the model for this backend after the CPU bindings are made
     * (the CUDA backend uploads the weights). NULL: nothing to do. */
    int (*model_init)(hrt_model *m);
    void (*model_free)(hrt_model *m);
    /* Describes the device ("NVIDIA H100 80GB HBM3, 135 MiB of weights"). */
    void (*describe)(const hrt_model *m, char *buf, size_t cap);
    /* Allocates s->state for a decoder session of s->n_ctx tokens. */
    int (*session_init)(hrt_session *s);
    void (*session_free)(hrt_session *s);
    /* Runs ids at positions n_past.. (the caller checked the context and the
     * ids); logits of the last id into logits when not NULL. Does not touch
     * n_past; the caller advances it on success. */
    int (*decode)(hrt_session *s, const int32_t *ids, int n, float *logits);
    /* As decode, returning the argmax of the last logits (lowest id on
     * ties). NULL: decode, then an argmax on the host. */
    int (*decode_argmax)(hrt_session *s, const int32_t *ids, int n, int32_t *next);
    /* As decode, then sampler_sample's chain on the device with a's
     * numbers, its penalties reading the ids the backend was given (and
     * the ids it sampled before); *next the id picked. NULL: the host
     * samples. */
    int (*decode_sample)(hrt_session *s, const int32_t *ids, int n, const sample_args *a, int32_t *next);
    /* Steps enqueued before the result of the one before is back (NULL,
     * or HRT_E_UNSUPPORTED from decode_ahead: decode_argmax or
     * decode_sample a step at a time). decode_ahead enqueues the step of id
     * at position pos and returns without waiting; its result is the
     * argmax (a NULL) or the id the sampler picks with a; id < 0 takes
     * the result of the step at pos - 1,
     * enqueued just before, as the token. ahead_wait waits for the step at
     * pos, one of the last two enqueued, and gives its result. A step
     * nobody waits for changes only the cache row at pos; the other entry
     * points wait for it first. Neither touches n_past. */
    int (*decode_ahead)(hrt_session *s, int32_t id, int pos, const sample_args *a);
    int (*ahead_wait)(hrt_session *s, int pos, int32_t *next);
    /* Encoder forward pass over a batch of n_seq sequences, their ids one
     * after another (lens[i] each): out[i * n_embd] = the mean of sequence
     * i's last hidden states, not normalised. Each sequence attends to
     * itself only. */
    int (*encode)(const hrt_model *m, threadpool *tp, const int32_t *ids, const int *lens, int n_seq, float *out);
} backend_ops;

extern const backend_ops backend_cpu;
#ifdef HRT_WITH_CUDA
extern const backend_ops backend_cuda;
/* Number of usable CUDA devices (0 when there is no driver or device). */
int cuda_device_count(void);
/* The blocks a CUDA session's persistent decode kernel runs on, 0 when it
 * decodes with the per-operation kernels (tests). */
int cuda_session_fused(const hrt_session *s);
/* How many tokens a CUDA session has sampled on the device (tests). */
long cuda_session_samples(const hrt_session *s);
/* How many steps a CUDA session has enqueued ahead (decode_ahead; tests). */
long cuda_session_ahead(const hrt_session *s);
/* A CUDA model's prompt-product plans (HRT_CUDA_GEMM_TUNE, kernels/cuda/
 * gemm.h): plans made, those on a cuBLASLt algorithm, products run by one,
 * and products whose algorithm failed and took cublasGemmEx (tests). */
void cuda_model_gemm_plans(const hrt_model *m, int *plans, int *lt, long *lt_runs, long *fallbacks);
/* Whether a CUDA model's prompts run gate, up and the GLU as one kernel
 * (kernels/cuda/gemm_glu.h; tests). */
int cuda_model_glu_gemm(const hrt_model *m);
/* Whether they run Q/K/V, RoPE and the cache stores as one kernel
 * (kernels/cuda/gemm_rope.h; tests). */
int cuda_model_rope_gemm(const hrt_model *m);
#endif

#endif
