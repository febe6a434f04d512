/* The public API of the inference core (include/hrt.h): models, tokens,
 * chat rendering, sessions, generation and embeddings. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"
#include "clock.h"
#include "cpu/quant.h"
#include "error.h"
#include "model.h"
#include "sampler.h"
#include "strbuf.h"
#include "unicode.h"

void hrt_free(void *p) { free(p); }

/* ---- models ------------------------------------------------------------------ */
hrt_model_params hrt_model_default_params(void)
{
    return (hrt_model_params){.n_threads = 0, .backend = HRT_BACKEND_AUTO, .device = 0};
}

int hrt_model_open(const char *path, const hrt_model_params *params, hrt_model **out)
{
    if (!out) return hrt_err(HRT_E_INVALID, "hrt_model_open: out is NULL");
    *out = NULL;
    if (!path) return hrt_err(HRT_E_INVALID, "hrt_model_open: path is NULL");
    hrt_model_params p = params ? *params : hrt_model_default_params();
    if (p.backend < HRT_BACKEND_AUTO || p.backend > HRT_BACKEND_CUDA)
        return hrt_err(HRT_E_INVALID, "hrt_model_open: backend %d is not an HRT_BACKEND_* value", p.backend);
    return model_load(path, &p, out);
}

void hrt_model_free(hrt_model *model) { model_free(model); }

int hrt_model_info_get(hrt_model *m, hrt_model_info *out)
{
    if (!m || !out) return hrt_err(HRT_E_INVALID, "hrt_model_info_get: NULL argument");
    const hparams *hp = &m->hp;
    *out = (hrt_model_info){
        .arch = m->arch->name, .name = m->name, .path = m->path,
        .weight_type = ggml_type_name(m->weight_type), .backend = m->backend->name,
        .is_encoder = (m->arch->flags & ARCH_ENCODER) != 0,
        .n_vocab = hp->n_vocab, .n_ctx_train = hp->n_ctx_train, .n_embd = hp->n_embd,
        .n_layer = hp->n_layer, .n_head = hp->n_head, .n_head_kv = hp->n_head_kv, .n_ff = hp->n_ff,
        .n_threads = m->n_threads, .n_params = m->n_params, .weight_bytes = m->weight_bytes,
        .bos_id = tokenizer_bos(m->tok), .eos_id = tokenizer_eos(m->tok),
        .kv_bytes_per_token = (uint64_t)hp->n_layer * 2 * hp->n_head_kv * hp->head_dim * sizeof(float),
        .has_chat_template = m->chat_template != NULL,
    };
    if (m->backend->describe) m->backend->describe(m, m->device_text, sizeof m->device_text);
    else snprintf(m->device_text, sizeof m->device_text, "%d CPU threads", m->n_threads);
    out->device = m->device_text;
    return 0;
}

int hrt_model_meta(const hrt_model *m, const char *key, char *buf, size_t cap)
{
    if (!m || !key) return hrt_err(HRT_E_INVALID, "hrt_model_meta: NULL argument");
    const gguf_kv *kv = m->gguf ? gguf_find(m->gguf, key) : NULL;
    if (!kv) return hrt_err(HRT_E_RANGE, "%s: no metadata key '%s'", m->path, key);
    return gguf_kv_to_text(kv, buf, cap);
}

/* ---- tokens ------------------------------------------------------------------- */
int hrt_tokenize(const hrt_model *m, const char *text, size_t len, int add_special, int parse_special,
                 int32_t *ids, size_t cap)
{
    if (!m || (!text && len)) return hrt_err(HRT_E_INVALID, "hrt_tokenize: NULL argument");
    int32_t *v = NULL;
    size_t n = 0, vcap = 0;
    int st = tokenizer_encode(m->tok, text ? text : "", len, add_special, parse_special, &v, &n, &vcap);
    if (st) {
        free(v);
        return st;
    }
    if (ids) memcpy(ids, v, (n < cap ? n : cap) * sizeof *ids);
    free(v);
    if (n > INT32_MAX) return hrt_err(HRT_E_RANGE, "too many tokens");
    return (int)n;
}

int hrt_detokenize(const hrt_model *m, const int32_t *ids, size_t n, char *buf, size_t cap)
{
    if (!m || (!ids && n)) return hrt_err(HRT_E_INVALID, "hrt_detokenize: NULL argument");
    return tokenizer_decode(m->tok, ids, n, buf, cap);
}

int hrt_chat_render(const hrt_model *m, const hrt_chat_msg *msgs, size_t n, int add_gen, char *buf,
                    size_t cap)
{
    if (!m || (!msgs && n)) return hrt_err(HRT_E_INVALID, "hrt_chat_render: NULL argument");
    return chat_render(m->chat_template, msgs, n, add_gen, buf, cap);
}

/* ---- sessions ------------------------------------------------------------------ */
hrt_session_params hrt_session_default_params(void) { return (hrt_session_params){.n_ctx = 0}; }

int hrt_session_open(hrt_model *m, const hrt_session_params *params, hrt_session **out)
{
    if (!out) return hrt_err(HRT_E_INVALID, "hrt_session_open: out is NULL");
    *out = NULL;
    if (!m) return hrt_err(HRT_E_INVALID, "hrt_session_open: model is NULL");
    if (m->arch->flags & ARCH_ENCODER)
        return hrt_err(HRT_E_INVALID, "%s: an encoder model has no sessions; use hrt_embed", m->path);
    hrt_session_params p = params ? *params : hrt_session_default_params();
    if (p.n_ctx < 0) return hrt_err(HRT_E_INVALID, "hrt_session_open: n_ctx %d is negative", p.n_ctx);
    int n_ctx = p.n_ctx ? p.n_ctx : (m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096);
    hrt_session *s = calloc(1, sizeof *s);
    if (!s) return hrt_err(HRT_E_NOMEM, "out of memory");
    s->model = m;
    s->n_ctx = n_ctx;
    s->tokens = malloc((size_t)n_ctx * sizeof *s->tokens);
    s->tp = tp_create(m->n_threads);
    int st = (!s->tokens || !s->tp) ? hrt_err(HRT_E_NOMEM, "out of memory") : m->backend->session_init(s);
    if (st) {
        hrt_session_free(s);
        return st;
    }
    *out = s;
    return 0;
}

void hrt_session_free(hrt_session *s)
{
    if (!s) return;
    if (s->state) s->model->backend->session_free(s);
    tp_free(s->tp);
    free(s->tokens);
    free(s);
}

void hrt_session_reset(hrt_session *s)
{
    if (s) s->n_past = 0;
}

int hrt_session_n_past(const hrt_session *s) { return s ? s->n_past : 0; }

void hrt_session_cancel(hrt_session *s)
{
    if (s) atomic_store(&s->cancel, 1);
}

/* Evaluates ids after the cached ones; the cancel flag is not cleared here.
 * Either logits (may be NULL) receive the last logits, or, when next is
 * set, *next their argmax, or, when smp is set too, the id smp picks on the
 * device (the backend has decode_sample). */
static int session_eval_to(hrt_session *s, const int32_t *ids, size_t n, float *logits, int32_t *next, sampler *smp)
{
    if (n == 0) return hrt_err(HRT_E_INVALID, "hrt_session_eval: no tokens");
    if (n > (size_t)(s->n_ctx - s->n_past))
        return hrt_err(HRT_E_RANGE, "context full: %d tokens held, %zu more do not fit in %d",
                       s->n_past, n, s->n_ctx);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= s->model->hp.n_vocab)
            return hrt_err(HRT_E_INVALID, "token id %d at index %zu is outside the vocabulary (%d)",
                           ids[i], i, s->model->hp.n_vocab);
    const backend_ops *b = s->model->backend;
    int st;
    if (next && smp) {
        sample_args a; /* the penalties read the ids the backend was given */
        sampler_device_args(smp, &a);
        st = b->decode_sample(s, ids, (int)n, &a, next);
    } else if (next && b->decode_argmax) {
        st = b->decode_argmax(s, ids, (int)n, next);
    } else if (next) {
        float *lg = malloc((size_t)s->model->hp.n_vocab * sizeof *lg);
        if (!lg) return hrt_err(HRT_E_NOMEM, "out of memory");
        st = b->decode(s, ids, (int)n, lg);
        if (!st) *next = argmax_f32(lg, s->model->hp.n_vocab);
        free(lg);
    } else {
        st = b->decode(s, ids, (int)n, logits);
    }
    if (st == HRT_E_CANCELLED) {
        s->n_past = 0;
        return st;
    }
    if (st) return st;
    memcpy(s->tokens + s->n_past, ids, n * sizeof *ids);
    s->n_past += (int)n;
    return 0;
}

static int session_eval(hrt_session *s, const int32_t *ids, size_t n, float *logits)
{
    return session_eval_to(s, ids, n, logits, NULL, NULL);
}

int hrt_session_eval(hrt_session *s, const int32_t *ids, size_t n, float *logits)
{
    if (!s || !ids) return hrt_err(HRT_E_INVALID, "hrt_session_eval: NULL argument");
    atomic_store(&s->cancel, 0);
    return session_eval(s, ids, n, logits);
}

int hrt_session_eval_argmax(hrt_session *s, const int32_t *ids, size_t n, int32_t *next)
{
    if (!s || !ids || !next) return hrt_err(HRT_E_INVALID, "hrt_session_eval_argmax: NULL argument");
    atomic_store(&s->cancel, 0);
    return session_eval_to(s, ids, n, NULL, next, NULL);
}

/* Plain greedy decoding: no temperature and no penalty that reads the
 * logits, so the argmax alone decides (and may be taken on the device). */
static int plain_greedy(const hrt_sampler_params *p)
{
    return p->temperature <= 0 && (p->repeat_penalty == 1.0f || p->repeat_last_n == 0) && p->dry_multiplier <= 0;
}

/* Whether the sampler's chain runs where the logits are: a backend that
 * can (CUDA), and HRT_DEVICE_SAMPLING not 0. */
static int device_sampling(const hrt_session *s)
{
    const char *env = getenv("HRT_DEVICE_SAMPLING");
    return s->model->backend->decode_sample && !(env && !strcmp(env, "0"));
}

/* ---- generation --------------------------------------------------------------- */
hrt_sampler_params hrt_sampler_default_params(void)
{
    return (hrt_sampler_params){
        .temperature = 0.0f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
        .repeat_penalty = 1.0f, .repeat_last_n = 64,
        .dry_multiplier = 0.0f, .dry_base = 1.75f, .dry_allowed_length = 2, .dry_last_n = 256,
        .seed = 0x68727421ull,
    };
}

hrt_generate_params hrt_generate_default_params(void)
{
    return (hrt_generate_params){.max_tokens = 256, .sampling = hrt_sampler_default_params()};
}

/* Text produced so far, with how much of it the callback has seen. */
typedef struct {
    strbuf s;
    size_t emitted;
} gen_text;

/* Bytes at the end of s[0..n) that form an incomplete UTF-8 sequence. */
static size_t utf8_incomplete_tail(const char *s, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

static long find_stop(const gen_text *g, const hrt_generate_params *p)
{
    long best = -1;
    for (size_t i = 0; i < p->n_stop; i++) {
        if (!p->stop[i] || !*p->stop[i]) continue;
        const char *f = strstr(g->s.p, p->stop[i]);
        if (f && (best < 0 || f - g->s.p < best)) best = f - g->s.p;
    }
    return best;
}

/* How much of the text can be shown: not an incomplete UTF-8 tail, and not
 * a tail that might be the start of a stop string. */
static size_t safe_len(const gen_text *g, const hrt_generate_params *p)
{
    size_t n = g->s.len - utf8_incomplete_tail(g->s.p, g->s.len);
    size_t hold = 0;
    for (size_t i = 0; i < p->n_stop; i++) {
        const char *s = p->stop[i];
        if (!s) continue;
        size_t sl = strlen(s);
        for (size_t k = sl > 1 ? sl - 1 : 0; k > hold; k--)
            if (k <= n && !memcmp(g->s.p + n - k, s, k)) {
                hold = k;
                break;
            }
    }
    return n - hold;
}

/* Steps enqueued ahead (decode_ahead): on while the backend can, the
 * position of the step enqueued for the next token (queued), and the
 * sampler's numbers drawn for a step that could not be enqueued (have_args:
 * the next step takes them, so that the draws stay in order). */
typedef struct {
    int on, queued, have_args;
    sample_args args;
} ahead_state;

/* The generation's step of id at n_past with steps enqueued ahead: id's
 * step, unless the step before enqueued it, and when want_next the step of
 * the token it will give, so that the device never waits for the host
 * between the two; then the step's result into *next: the argmax, or the
 * id smp's chain picks on the device (its penalties read the history
 * there). Where the backend cannot, h->on is cleared and the step runs on
 * its own. */
static int step_ahead(hrt_session *s, int32_t id, int want_next, sampler *smp, ahead_state *h, int32_t *next)
{
    const backend_ops *b = s->model->backend;
    sample_args a, *ap = NULL;
    int st, enqueued = h->queued == s->n_past;
    h->queued = -1;
    s->tokens[s->n_past] = id;
    if (smp && !enqueued) {
        if (h->have_args) a = h->args, h->have_args = 0;
        else sampler_device_args(smp, &a);
        ap = &a;
    }
    if (!enqueued && h->on) {
        st = b->decode_ahead(s, id, s->n_past, ap);
        if (st == HRT_E_UNSUPPORTED) h->on = 0;
        else if (st) return st;
        else enqueued = 1;
    }
    if (!enqueued) { /* on its own, with the numbers drawn above */
        st = smp ? b->decode_sample(s, &id, 1, ap, next) : b->decode_argmax(s, &id, 1, next);
        if (st == HRT_E_CANCELLED) s->n_past = 0;
        if (!st) s->n_past++;
        return st;
    }
    if (want_next && h->on) {
        sample_args a2, *ap2 = NULL;
        if (smp) sampler_device_args(smp, &a2), ap2 = &a2;
        st = b->decode_ahead(s, -1, s->n_past + 1, ap2);
        if (st == HRT_E_UNSUPPORTED) {
            h->on = 0;
            if (smp) h->args = a2, h->have_args = 1;
        } else if (st) {
            return st;
        } else {
            h->queued = s->n_past + 1;
        }
    }
    if ((st = b->ahead_wait(s, s->n_past, next))) return st;
    s->n_past++;
    return 0;
}

static int emit(gen_text *g, size_t upto, const hrt_generate_params *p, int32_t id)
{
    if (upto <= g->emitted) return 0;
    int r = p->on_token ? p->on_token(g->s.p + g->emitted, upto - g->emitted, id, p->user_data) : 0;
    g->emitted = upto;
    return r;
}

int hrt_generate(hrt_session *s, const char *prompt, size_t len, const hrt_generate_params *params,
                 char **text_out, hrt_usage *usage)
{
    if (text_out) *text_out = NULL;
    if (usage) memset(usage, 0, sizeof *usage);
    if (!s || (!prompt && len)) return hrt_err(HRT_E_INVALID, "hrt_generate: NULL argument");
    hrt_generate_params p = params ? *params : hrt_generate_default_params();
    hrt_model *m = s->model;
    hrt_usage u = {0};
    gen_text g = {0};
    int32_t *ids = NULL;
    size_t n_ids = 0, ids_cap = 0;
    float *logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
    sampler *smp = sampler_new(&p.sampling, m->hp.n_vocab);
    atomic_store(&s->cancel, 0);
    int st = (!logits || !smp) ? hrt_err(HRT_E_NOMEM, "out of memory") : 0;
    if (!st) st = tokenizer_encode(m->tok, prompt ? prompt : "", len, 1, 1, &ids, &n_ids, &ids_cap);
    if (!st && n_ids == 0) st = hrt_err(HRT_E_INVALID, "hrt_generate: the prompt is empty");
    if (!st && n_ids >= (size_t)s->n_ctx)
        st = hrt_err(HRT_E_RANGE, "the prompt has %zu tokens; the context holds %d", n_ids, s->n_ctx);
    if (st) goto done;

    /* Reuse the longest cached prefix; at least the last prompt token is
     * evaluated again, since its logits are needed. */
    size_t keep = 0;
    while (keep < n_ids - 1 && keep < (size_t)s->n_past && s->tokens[keep] == ids[keep]) keep++;
    s->n_past = (int)keep;
    u.prompt_tokens = (int)n_ids;
    u.cached_tokens = (int)keep;
    /* greedy: the argmax comes back; dev: the sampled id; otherwise the logits */
    int greedy = plain_greedy(&p.sampling), dev = !greedy && device_sampling(s);
    int32_t next = 0, *to = greedy || dev ? &next : NULL;
    sampler *on_dev = dev ? smp : NULL;
    /* steps enqueued ahead where the backend can, unless HRT_DECODE_AHEAD
     * is 0: greedy ones, and those sampled on the device; a generation
     * that stops on a token (EOS, a stop string, the callback) leaves one
     * step whose result is not used */
    const char *ahead_env = getenv("HRT_DECODE_AHEAD"); /* 0: one step at a time (tests, benchmarks) */
    const int ahead = (greedy || dev) && m->backend->decode_ahead && !(ahead_env && !strcmp(ahead_env, "0"));
    ahead_state ah = {.on = 1, .queued = -1};
    double t0 = now_ms();
    st = session_eval_to(s, ids + keep, n_ids - keep, to ? NULL : logits, to, on_dev);
    double t1 = now_ms();
    u.t_prompt_ms = t1 - t0;
    if (st == HRT_E_CANCELLED) {
        /* A cancellation is a way to stop, not a failure. */
        st = 0;
        u.stop_reason = HRT_STOP_CANCELLED;
        goto finish;
    }
    if (st) goto done;

    u.stop_reason = HRT_STOP_LENGTH;
    for (int i = 0; p.max_tokens <= 0 || i < p.max_tokens; i++) {
        if (atomic_load(&s->cancel)) {
            u.stop_reason = HRT_STOP_CANCELLED;
            break;
        }
        int32_t id = to ? next : sampler_sample(smp, logits, s->tokens, s->n_past);
        if (tokenizer_is_eog(m->tok, id)) {
            u.stop_reason = HRT_STOP_EOS;
            break;
        }
        size_t plen;
        const char *piece = tokenizer_piece(m->tok, id, &plen);
        u.generated_tokens++;
        if ((st = strbuf_put(&g.s, piece ? piece : "", piece ? plen : 0))) goto done;
        long stop_at = find_stop(&g, &p);
        if (stop_at >= 0) {
            strbuf_cut(&g.s, (size_t)stop_at);
            emit(&g, g.s.len, &p, id);
            u.stop_reason = HRT_STOP_STRING;
            break;
        }
        if (emit(&g, safe_len(&g, &p), &p, id)) {
            u.stop_reason = HRT_STOP_CALLBACK;
            break;
        }
        if (s->n_past >= s->n_ctx) {
            u.stop_reason = HRT_STOP_CONTEXT;
            break;
        }
        if (p.max_tokens > 0 && i + 1 >= p.max_tokens) break; /* no need to evaluate it */
        if (ahead) {
            const int want_next = (p.max_tokens <= 0 || i + 2 < p.max_tokens) && s->n_past + 1 < s->n_ctx;
            st = step_ahead(s, id, want_next, on_dev, &ah, &next);
        } else {
            st = session_eval_to(s, &id, 1, to ? NULL : logits, to, on_dev);
        }
        if (st == HRT_E_CANCELLED) {
            st = 0;
            u.stop_reason = HRT_STOP_CANCELLED;
            break;
        }
        if (st) goto done;
    }
    if (u.stop_reason != HRT_STOP_STRING && u.stop_reason != HRT_STOP_CALLBACK) emit(&g, g.s.len, &p, -1);
    u.t_generate_ms = now_ms() - t1;
finish:
    if (text_out) {
        if (!g.s.p && strbuf_put(&g.s, "", 0)) {
            st = HRT_E_NOMEM;
            goto done;
        }
        *text_out = g.s.p;
        g.s.p = NULL;
    }
done:
    if (usage) *usage = u;
    free(g.s.p);
    free(ids);
    free(logits);
    sampler_free(smp);
    return st;
}

/* ---- embeddings ------------------------------------------------------------------ */
int hrt_embed_dim(const hrt_model *m)
{
    if (!m || !(m->arch->flags & ARCH_ENCODER))
        return hrt_err(HRT_E_INVALID, "hrt_embed_dim: not an encoder model");
    return m->hp.n_embd;
}

/* Tokens per forward pass of the encoder: texts are batched up to this
 * many (a text longer than the model's window is cut to it first). */
#define EMBED_BATCH_TOKENS 8192

/* Encodes texts [first, first + n_seq) whose ids lie in ids, then
 * normalises their embeddings. */
static int embed_batch(hrt_model *m, threadpool *tp, const int32_t *ids, const int *lens, size_t first, int n_seq,
                       float *out)
{
    int d = m->hp.n_embd;
    float *e = out + first * (size_t)d;
    int st = m->backend->encode(m, tp, ids, lens, n_seq, e);
    for (int i = 0; !st && i < n_seq; i++, e += d) {
        double ss = 0;
        for (int k = 0; k < d; k++) ss += (double)e[k] * e[k];
        float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (int k = 0; k < d; k++) e[k] *= inv;
    }
    return st;
}

int hrt_embed(hrt_model *m, const char *const *texts, const size_t *lens, size_t n, float *out)
{
    if (!m || (n && (!texts || !out))) return hrt_err(HRT_E_INVALID, "hrt_embed: NULL argument");
    if (!(m->arch->flags & ARCH_ENCODER))
        return hrt_err(HRT_E_INVALID, "%s: hrt_embed needs an encoder model", m->path);
    int st = 0, max_seq = m->hp.max_seq;
    threadpool *tp = tp_create(m->n_threads);
    size_t one_cap = 0, used = 0, first = 0, budget = EMBED_BATCH_TOKENS > max_seq ? EMBED_BATCH_TOKENS : (size_t)max_seq;
    int32_t *ids = NULL, *one = NULL;
    int *seq = malloc((n ? n : 1) * sizeof *seq), n_seq = 0;
    if (!tp || !seq) st = hrt_err(HRT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n && !st; i++) {
        size_t len = lens ? lens[i] : (texts[i] ? strlen(texts[i]) : 0), n_ids = 0;
        if (!texts[i] && len) {
            st = hrt_err(HRT_E_INVALID, "hrt_embed: text %zu is NULL", i);
            break;
        }
        if ((st = tokenizer_encode(m->tok, texts[i] ? texts[i] : "", len, 1, 0, &one, &n_ids, &one_cap))) break;
        /* Truncate as sentence-transformers does: keep the first max_seq - 1
         * ids and end with the final [SEP]. */
        if (n_ids > (size_t)max_seq) {
            one[max_seq - 1] = one[n_ids - 1];
            n_ids = (size_t)max_seq;
        }
        if (used + n_ids > budget && n_seq) { /* the batch is full: encode it */
            if ((st = embed_batch(m, tp, ids, seq, first, n_seq, out))) break;
            first += (size_t)n_seq;
            used = 0, n_seq = 0;
        }
        int32_t *grown = realloc(ids, (used + n_ids) * sizeof *ids);
        if (!grown) {
            st = hrt_err(HRT_E_NOMEM, "out of memory");
            break;
        }
        ids = grown;
        memcpy(ids + used, one, n_ids * sizeof *ids);
        used += n_ids;
        seq[n_seq++] = (int)n_ids;
    }
    if (!st && n_seq) st = embed_batch(m, tp, ids, seq, first, n_seq, out);
    free(ids);
    free(one);
    free(seq);
    tp_free(tp);
    return st;
}
