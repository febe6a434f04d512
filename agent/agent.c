/* The agent (hrt.h): cache, light and full paths, the controller that
 * chooses between them, escalation, and redundancy pruning.
 *
 * One query goes: embed -> cache lookup -> retrieval -> router -> the
 * light or full path -> checks (escalation) -> cache and conversation
 * writes. Generation is watched token by token (monitor below): a
 * repeated sentence or word sequence stops it, and on the full path the
 * completed final answer does. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "error.h"
#include "fnv.h"
#include "hrt.h"
#include "prompt.h"
#include "query_features.h"
#include "remote.h"
#include "router.h"
#include "strbuf.h"
#include "unicode.h"

#define MAX_QUERY_BYTES (16 * 1024)
#define MAX_HITS 16          /* passages retrieved per search */
#define MAX_PASSAGES 24      /* after multi-query fusion */
#define HISTORY_TURNS 8      /* earlier turns read from memory */
#define MARKER "final answer:"
#define MARKER_LEN 13

static const char *const required_prompts[] = {"light_system", "light_user", "full_system", "full_user",
                                               "passage", "rewrite", NULL};

hrt_agent_params hrt_agent_default_params(void)
{
    return (hrt_agent_params){
        .full_threshold = -1, .cache_threshold = 0.92f, .cache_ttl_s = 30 * 86400, .light_k = 3, .full_k = 5,
        .light_context_tokens = 400, .full_context_tokens = 900, .history_tokens = 300,
        .light_max_tokens = 160, .full_max_tokens = 400, .light_max_sentences = 3, .dry_multiplier = 0.8f,
        .escalate = 1, .prune = 1, .seed = 0x68727421ull,
    };
}

hrt_ask_params hrt_ask_default_params(void) { return (hrt_ask_params){.path = HRT_PATH_AUTO, .use_cache = 1}; }

/* ---- the handle -------------------------------------------------------------------- */
typedef struct ask_ctx {
    const char *session;
    hrt_session *cur;        /* the session generating now (under the agent's lock) */
    atomic_int cancelled;
    struct ask_ctx *next;
} ask_ctx;

typedef struct {
    hrt_model *model;
    int plain;               /* the model has no chat template: plain-text prompts */
    hrt_session **free;
    size_t n, cap;
} session_pool;

struct hrt_agent {
    hrt_agent_params p;
    char *product, *model_id;
    prompt_set *ps;
    router *rt;
    float threshold;
    int dim;
    pthread_mutex_t mu;      /* pools and the list of running asks */
    session_pool pool[2];    /* light, full (the same model: one pool) */
    ask_ctx *running;
};

const char *hrt_agent_prompt_version(const hrt_agent *a) { return a ? prompt_set_version(a->ps) : ""; }

void hrt_agent_free(hrt_agent *a)
{
    if (!a) return;
    for (int i = 0; i < 2; i++) {
        for (size_t k = 0; k < a->pool[i].n; k++) hrt_session_free(a->pool[i].free[k]);
        free(a->pool[i].free);
    }
    prompt_set_free(a->ps);
    router_free(a->rt);
    pthread_mutex_destroy(&a->mu);
    free(a->product);
    free(a->model_id);
    free(a);
}

int hrt_agent_open(const hrt_agent_params *params, hrt_agent **out)
{
    if (!out) return hrt_err(HRT_E_INVALID, "hrt_agent_open: NULL argument");
    *out = NULL;
    if (!params || !params->light_model || !params->prompts_dir)
        return hrt_err(HRT_E_INVALID, "hrt_agent_open: a light model and a prompts directory are required");
    const hrt_agent_params *p = params;
    if ((p->kb || p->memory || p->router_path) && !p->embedder)
        return hrt_err(HRT_E_INVALID, "hrt_agent_open: a knowledge base, a memory or a router needs an embedder");
    if (p->light_k < 1 || p->light_k > MAX_HITS || p->full_k < 1 || p->full_k > MAX_HITS ||
        p->light_max_tokens < 1 || p->full_max_tokens < 1 || p->light_context_tokens < 0 ||
        p->full_context_tokens < 0 || p->history_tokens < 0)
        return hrt_err(HRT_E_INVALID, "hrt_agent_open: passages per search must be 1..%d, token budgets positive",
                       MAX_HITS);
    hrt_model_info li, fi, ei;
    if (hrt_model_info_get(p->light_model, &li)) return HRT_E_INVALID;
    if (li.is_encoder) return hrt_err(HRT_E_INVALID, "hrt_agent_open: the light model is an encoder");
    hrt_model *fm = p->full_model ? p->full_model : p->light_model;
    if (hrt_model_info_get(fm, &fi)) return HRT_E_INVALID;
    if (fi.is_encoder) return hrt_err(HRT_E_INVALID, "hrt_agent_open: the full model is an encoder");
    hrt_agent *a = calloc(1, sizeof *a);
    if (!a) return hrt_err(HRT_E_NOMEM, "out of memory");
    a->p = *p;
    a->p.full_model = fm;
    pthread_mutex_init(&a->mu, NULL);
    a->pool[0].model = p->light_model;
    a->pool[1].model = fm;
    a->pool[0].plain = !li.has_chat_template;
    a->pool[1].plain = !fi.has_chat_template;
    a->threshold = NAN;
    a->dim = p->embedder ? hrt_embed_dim(p->embedder) : 0;
    /* cached answers are kept per pair of models: a remote full path is named by its URL and model */
    const char *fname = p->full_remote ? remote_name(p->full_remote) : fi.name;
    size_t idn = strlen(li.name) + strlen(fname) + 2;
    a->model_id = malloc(idn);
    a->product = strdup(p->product && p->product[0] ? p->product : "our product");
    int st = (!a->model_id || !a->product) ? hrt_err(HRT_E_NOMEM, "out of memory") : 0;
    if (!st) snprintf(a->model_id, idn, "%s+%s", li.name, fname);
    if (!st && a->dim < 0) st = hrt_err(HRT_E_INVALID, "hrt_agent_open: the embedder is not an encoder model");
    if (!st && p->kb) { /* the agent's query vectors go to the kb: they must be its embedder's */
        hrt_kb_stats ks;
        st = hrt_kb_stats_get(p->kb, &ks);
        if (!st && hrt_model_info_get(p->embedder, &ei) == 0 &&
            (ks.dim != a->dim || !ks.embedding_model || strcmp(ks.embedding_model, ei.name)))
            st = hrt_err(HRT_E_INVALID, "hrt_agent_open: the knowledge base was built with '%s' (%d dimensions), "
                                        "the embedder is '%s' (%d)",
                         ks.embedding_model ? ks.embedding_model : "?", ks.dim, ei.name, a->dim);
    }
    if (!st) st = prompt_set_load(p->prompts_dir, required_prompts, &a->ps);
    if (!st && p->router_path) {
        st = router_load(p->router_path, &a->rt);
        if (!st && hrt_model_info_get(p->embedder, &ei) == 0 &&
            (router_dim(a->rt) != a->dim || strcmp(router_embedding_model(a->rt), ei.name)))
            st = hrt_err(HRT_E_INVALID, "%s: the router was trained with embedding model '%s' (%d dimensions), "
                                        "not '%s' (%d)", p->router_path, router_embedding_model(a->rt),
                         router_dim(a->rt), ei.name, a->dim);
        if (!st)
            a->threshold = p->full_share > 0 ? router_threshold_for_share(a->rt, p->full_share)
                           : p->full_threshold >= 0 ? p->full_threshold
                                                    : router_default_threshold(a->rt);
    }
    if (st) {
        hrt_agent_free(a);
        return st;
    }
    *out = a;
    return 0;
}

void hrt_agent_cancel(hrt_agent *a, const char *session)
{
    if (!a) return;
    pthread_mutex_lock(&a->mu);
    for (ask_ctx *c = a->running; c; c = c->next)
        if (!session || (c->session && !strcmp(c->session, session))) {
            atomic_store(&c->cancelled, 1);
            if (c->cur) hrt_session_cancel(c->cur);
        }
    pthread_mutex_unlock(&a->mu);
}

static int session_take(hrt_agent *a, int full, hrt_session **out)
{
    session_pool *pl = &a->pool[full && a->p.full_model != a->p.light_model];
    pthread_mutex_lock(&a->mu);
    *out = pl->n ? pl->free[--pl->n] : NULL;
    pthread_mutex_unlock(&a->mu);
    if (*out) return 0;
    hrt_session_params sp = hrt_session_default_params();
    sp.n_ctx = a->p.n_ctx;
    return hrt_session_open(pl->model, &sp, out);
}

static void session_give(hrt_agent *a, int full, hrt_session *s)
{
    session_pool *pl = &a->pool[full && a->p.full_model != a->p.light_model];
    pthread_mutex_lock(&a->mu);
    if (pl->n == pl->cap) {
        size_t nc = pl->cap ? 2 * pl->cap : 4;
        hrt_session **f = realloc(pl->free, nc * sizeof *f);
        if (f) pl->free = f, pl->cap = nc;
    }
    if (pl->n < pl->cap) pl->free[pl->n++] = s, s = NULL;
    pthread_mutex_unlock(&a->mu);
    hrt_session_free(s);
}

static int count_tokens(const hrt_model *m, const char *s, size_t n)
{
    int k = hrt_tokenize(m, s, n, 0, 0, NULL, 0);
    return k > 0 ? k : 0;
}

/* ---- watching generation: loops, the final answer, streaming ----------------------- */
typedef struct {
    strbuf text;
    int full;                /* look for the final-answer marker */
    long marker;             /* where it starts (-1: not yet) */
    size_t answer_from;      /* where the answer starts after it */
    size_t emitted;          /* bytes passed to on_text */
    size_t sent_start;       /* where the current sentence starts */
    int loop, done, stopped;
    int max_sentences;       /* the answer is complete after this many (0: no limit) */
    int plain;               /* a plain-text prompt (no chat template): the
                                answer ends at its first blank line */
    int prune;               /* stop on loops and once the answer is complete */
    int sentences;
    size_t cut;              /* the text ends here when loop or done */
    hrt_text_fn fn;
    void *ud;
    ask_ctx *ctx;
} monitor;

static int is_end(char c) { return c == '.' || c == '!' || c == '?' || c == '\n'; }

static size_t skip_space(const char *s, size_t i, size_t n)
{
    while (i < n && isspace((unsigned char)s[i])) i++;
    return i;
}

/* Does a sentence start at t[i]? (Only spaces lie between it and the
 * end of the previous one, or the start of the text.) */
static int sentence_start(const char *t, size_t i)
{
    while (i > 0 && isspace((unsigned char)t[i - 1])) i--;
    return i == 0 || is_end(t[i - 1]);
}

/* Does the sentence text[from, to) (leading spaces skipped, its end mark
 * included) appear as a sentence in text[base, from)? Sentences shorter
 * than 12 bytes (list numbers, "Yes.") do not count. */
static int repeated_sentence(const char *t, size_t base, size_t from, size_t to)
{
    from = skip_space(t, from, to);
    size_t n = to - from;
    if (n < 12) return 0;
    for (size_t i = base; i + n <= from; i++)
        if (!memcmp(t + i, t + from, n) && sentence_start(t, i)) return 1;
    return 0;
}

/* Is the unfinished sentence text[from, to) the start of an earlier
 * sentence? (Then it is held back until it proves to be new.) */
static int may_repeat(const char *t, size_t base, size_t from, size_t to)
{
    from = skip_space(t, from, to);
    size_t n = to - from;
    if (n == 0) return 0;
    for (size_t i = base; i + n <= from; i++)
        if (!memcmp(t + i, t + from, n) && sentence_start(t, i)) return 1;
    return 0;
}

#define LOOP_NGRAM 6 /* words */

/* A run of LOOP_NGRAM words seen for the third time: returns where its
 * second occurrence starts (the text is cut there), or 0. */
static int is_word_byte(unsigned char c) { return isalnum(c) || (c & 0x80); }

/* The next word of t[*i, n) (letters, digits, bytes of UTF-8 characters):
 * 0 at the end; else *start, *hash (FNV-1a of its ASCII-lowercased bytes),
 * and *i past it. */
static int next_word(const char *t, size_t n, size_t *i, size_t *start, uint64_t *hash)
{
    size_t k = *i;
    while (k < n && !is_word_byte((unsigned char)t[k])) k++;
    if (k == n) return 0;
    *start = k;
    uint64_t x = FNV1A_BASIS;
    for (; k < n && is_word_byte((unsigned char)t[k]); k++) {
        unsigned char c = (unsigned char)tolower((unsigned char)t[k]);
        x = fnv1a(x, &c, 1);
    }
    *hash = x, *i = k;
    return 1;
}

/* A run of LOOP_NGRAM words seen for the third time in text[base, n)
 * (at most its last 6,000 bytes are read): returns where its second
 * occurrence starts (the text is cut there), or 0. */
static size_t repeated_ngram(const char *t, size_t base, size_t n)
{
    size_t starts[1024], nw = 0, i = n - base > 6000 ? n - 6000 : base;
    uint64_t h[1024];
    /* the last word may be incomplete: only words followed by something */
    while (nw < 1024 && next_word(t, n, &i, &starts[nw], &h[nw]) && i < n) nw++;
    if (nw < 3 * LOOP_NGRAM) return 0;
    size_t last = nw - LOOP_NGRAM, seen = 0;
    for (size_t k = 0; k + LOOP_NGRAM <= last; k++)
        if (!memcmp(h + k, h + last, LOOP_NGRAM * sizeof *h) && ++seen == 2) return starts[k];
    return 0;
}

static int mon_emit(monitor *m, size_t from, size_t to, int part)
{
    if (to <= from || !m->fn) return 0;
    return m->fn(m->text.p + from, to - from, part, m->ud);
}

/* Passes on what can be shown: not a sentence that may turn out to be a
 * repeat, not a tail that may be the start of the marker. */
static int mon_flush(monitor *m, size_t upto)
{
    int r = 0;
    if (m->full && m->marker >= 0) {
        size_t mk = (size_t)m->marker;
        if (m->emitted < mk) r |= mon_emit(m, m->emitted, upto < mk ? upto : mk, HRT_PART_THINKING);
        size_t from = m->emitted > m->answer_from ? m->emitted : m->answer_from;
        if (upto > from) r |= mon_emit(m, from, upto, HRT_PART_ANSWER);
    } else {
        r |= mon_emit(m, m->emitted, upto, m->full ? HRT_PART_THINKING : HRT_PART_ANSWER);
    }
    if (upto > m->emitted) m->emitted = upto;
    return r;
}

static int on_token(const char *piece, size_t len, int32_t id, void *ud)
{
    (void)id;
    monitor *m = ud;
    if (atomic_load(&m->ctx->cancelled)) return 1;
    if (strbuf_put(&m->text, piece, len)) return 1;
    const char *t = m->text.p;
    size_t n = m->text.len;
    /* the final answer may restate the reasoning: only its own repeats count */
    size_t base = m->full && m->marker >= 0 ? m->answer_from : 0;
    /* sentences completed by this piece */
    for (size_t i = n - len; i < n && m->prune; i++) {
        if (!is_end(t[i])) continue;
        if (repeated_sentence(t, base, m->sent_start, i + 1)) {
            m->loop = 1, m->cut = m->sent_start;
            return 1;
        }
        size_t b = skip_space(t, m->sent_start, i + 1);
        m->sent_start = i + 1;
        if (i + 1 - b >= 12 && m->max_sentences && ++m->sentences == m->max_sentences) {
            m->done = 1, m->cut = i + 1;
            mon_flush(m, m->cut);
            return 1;
        }
    }
    size_t at = m->prune ? repeated_ngram(t, base, n) : 0;
    if (at) {
        m->loop = 1, m->cut = at;
        return 1;
    }
    if (m->full && m->marker < 0) {
        size_t from = n - len > MARKER_LEN ? n - len - MARKER_LEN : 0;
        const char *f = strcasestr(t + from, MARKER);
        if (f) {
            m->marker = f - t;
            size_t a = (size_t)m->marker + MARKER_LEN;
            while (a < n && (t[a] == '*' || t[a] == ' ')) a++;
            m->answer_from = a;
        }
    }
    if (m->prune && ((m->full && m->marker >= 0) || m->plain)) {
        /* the answer is complete at the first blank line after some of it */
        size_t a = skip_space(t, m->full && m->marker >= 0 ? m->answer_from : 0, n);
        const char *bl = a < n ? strstr(t + a, "\n\n") : NULL;
        if (bl) {
            m->done = 1, m->cut = (size_t)(bl - t);
            mon_flush(m, m->cut);
            return 1;
        }
    }
    size_t show = n;
    if (may_repeat(t, base, m->sent_start, n)) show = m->sent_start;
    /* before the marker, its first bytes may be arriving: hold them */
    size_t hold = n < MARKER_LEN ? n : MARKER_LEN;
    if (m->full && m->marker < 0 && show > n - hold) show = n - hold;
    if (show > m->emitted && mon_flush(m, show)) {
        m->stopped = 1;
        return 1;
    }
    return 0;
}

/* ---- passages --------------------------------------------------------------------- */
typedef struct {
    int64_t chunk_id;
    char *source, *text;
    size_t len;
    uint64_t start, end;
    float score;             /* fused over the searches */
    int dense_rank, bm25_rank;
} passage;

static void passages_free(passage *ps, size_t n)
{
    for (size_t i = 0; i < n; i++) free(ps[i].source), free(ps[i].text);
}

static int cmp_passage(const void *a, const void *b)
{
    float x = ((const passage *)a)->score, y = ((const passage *)b)->score;
    return (x < y) - (x > y);
}

/* Runs one search and merges its hits into ps by chunk id (reciprocal
 * rank fusion across searches: 1 / (60 + rank)). */
static int search_into(hrt_agent *a, const char *q, const float *qvec, int k, passage *ps, size_t *n)
{
    hrt_kb_search_params sp = hrt_kb_search_default_params();
    sp.k = (size_t)k;
    sp.dedup = 1.0f; /* the agent drops repeats itself, counting them */
    sp.query_vector = qvec;
    hrt_kb_hit hits[MAX_HITS];
    int got = hrt_kb_search(a->p.kb, q, &sp, hits);
    if (got < 0) return got;
    for (int i = 0; i < got; i++) {
        size_t j = 0;
        while (j < *n && ps[j].chunk_id != hits[i].chunk_id) j++;
        float s = 1.0f / (60.0f + (float)(i + 1));
        if (j < *n) {
            ps[j].score += s;
            continue;
        }
        if (*n == MAX_PASSAGES) continue;
        ps[j] = (passage){.chunk_id = hits[i].chunk_id, .source = hits[i].source, .text = hits[i].text,
                          .len = strlen(hits[i].text), .start = hits[i].start, .end = hits[i].end, .score = s,
                          .dense_rank = hits[i].dense_rank, .bm25_rank = hits[i].bm25_rank};
        hits[i].source = hits[i].text = NULL;
        (*n)++;
    }
    hrt_kb_hits_free(hits, (size_t)got);
    return 0;
}

/* Word 3-gram hashes of a text, for containment between passages. */
static size_t shingles(const char *t, size_t n, uint64_t *out, size_t cap)
{
    uint64_t w[3] = {0};
    size_t nw = 0, k = 0, i = 0, start;
    while (k < cap && next_word(t, n, &i, &start, &w[2])) {
        if (++nw >= 3) out[k++] = w[0] * 31 + w[1] * 7 + w[2];
        w[0] = w[1], w[1] = w[2];
    }
    return k;
}

/* The share of a's shingles that are also b's. */
static double containment(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    if (!na) return 0;
    size_t hit = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (a[i] == b[j]) {
                hit++;
                break;
            }
    return (double)hit / (double)na;
}

/* Drops repeats among ps (best first): a passage overlapping a better one
 * of the same document keeps only its new bytes (chunks overlap by
 * design); one whose word 3-grams are 80% inside a better one's goes.
 * Returns the tokens saved. */
static int drop_repeats(const hrt_model *m, passage *ps, size_t *n)
{
    int saved = 0;
    for (size_t i = 1; i < *n; i++) {
        for (size_t j = 0; j < i && ps[i].len; j++) {
            if (strcmp(ps[i].source, ps[j].source) || !ps[j].len) continue;
            passage *p = &ps[i], *q = &ps[j];
            if (p->start >= q->start && p->end <= q->end) { /* inside: all of it is sent already */
                saved += count_tokens(m, p->text, p->len);
                p->len = 0;
            } else if (p->start >= q->start && p->start < q->end) { /* its head repeats q's tail */
                size_t cut = (size_t)(q->end - p->start);
                if (cut > p->len) cut = p->len;
                saved += count_tokens(m, p->text, cut);
                memmove(p->text, p->text + cut, p->len - cut + 1);
                p->len -= cut, p->start += cut;
            } else if (p->start < q->start && p->end > q->start && p->end <= q->end) { /* its tail repeats q's head */
                size_t cut = (size_t)(p->end - q->start);
                if (cut > p->len) cut = p->len;
                saved += count_tokens(m, p->text + p->len - cut, cut);
                p->len -= cut, p->end -= cut;
                p->text[p->len] = 0;
            }
        }
    }
    uint64_t *sh = malloc(MAX_PASSAGES * 512 * sizeof *sh);
    size_t nsh[MAX_PASSAGES];
    for (size_t i = 0; sh && i < *n; i++) {
        nsh[i] = shingles(ps[i].text, ps[i].len, sh + i * 512, 512);
        for (size_t j = 0; j < i && ps[i].len; j++)
            if (ps[j].len && containment(sh + i * 512, nsh[i], sh + j * 512, nsh[j]) >= 0.8) {
                saved += count_tokens(m, ps[i].text, ps[i].len);
                ps[i].len = 0;
            }
    }
    free(sh);
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        if (ps[i].len) ps[k++] = ps[i];
        else free(ps[i].source), free(ps[i].text);
    }
    *n = k;
    return saved;
}

/* A source as the prompt names it: its last two path components (the
 * citations keep the whole path). */
static const char *short_source(const char *s)
{
    const char *p = s + strlen(s);
    int slashes = 0;
    while (p > s && !(p[-1] == '/' && ++slashes == 2)) p--;
    return p;
}

/* Renders up to max passages into context within budget tokens; the
 * passage that overflows is cut at a sentence end (or dropped when less
 * than 48 tokens would remain). Fills the citations. */
static int build_context(hrt_agent *a, const hrt_model *m, passage *ps, size_t n, size_t max, int budget,
                         strbuf *ctx, hrt_agent_result *res, int *saved)
{
    int used = 0, st = 0;
    res->citations = calloc(max ? max : 1, sizeof *res->citations);
    if (!res->citations) return hrt_err(HRT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n && !st; i++) {
        if (res->n_citations == max) break;
        int tok = count_tokens(m, ps[i].text, ps[i].len);
        size_t len = ps[i].len;
        if (used + tok > budget) {
            int room = budget - used;
            if (room < 48) {
                *saved += tok;
                continue;
            }
            /* keep the sentences that fit */
            size_t keep = (size_t)((double)len * room / tok);
            int kt = room + 1;
            while (keep > 0 && kt > room) {
                while (keep > 0 && !is_end(ps[i].text[keep - 1])) keep--;
                if (keep > 0 && (kt = count_tokens(m, ps[i].text, keep)) > room) keep--;
            }
            if (keep == 0) {
                *saved += tok;
                continue;
            }
            *saved += tok - kt;
            tok = kt, len = keep;
        }
        used += tok;
        char num[16];
        snprintf(num, sizeof num, "%zu", res->n_citations + 1);
        const char *names[] = {"n", "source", "text"};
        const char *src = short_source(ps[i].source);
        const char *vals[] = {num, src, ps[i].text};
        size_t lens[] = {strlen(num), strlen(src), len};
        char *out;
        size_t olen;
        if ((st = prompt_render(a->ps, "passage", names, vals, lens, 3, &out, &olen))) break;
        if (ctx->len) st = strbuf_put(ctx, "\n\n", 2);
        if (!st) st = strbuf_put(ctx, out, olen);
        free(out);
        hrt_citation *c = &res->citations[res->n_citations];
        c->n = (int)res->n_citations + 1;
        c->source = strdup(ps[i].source);
        c->start = ps[i].start, c->end = ps[i].start + len;
        if (!c->source) st = hrt_err(HRT_E_NOMEM, "out of memory");
        res->n_citations++;
    }
    if (!st && !ctx->p) st = strbuf_put(ctx, "(no passages)", 13);
    return st;
}

/* ---- checks ----------------------------------------------------------------------- */
static const char *const refusals[] = {"i don't know", "i do not know", "i cannot answer", "i can't answer",
                                       "i'm sorry", "i am sorry", "not in the passages", "no information",
                                       "do not contain", "don't contain", "unable to answer", NULL};

static const char *const stop_words[] = {"that", "this", "with", "from", "have", "will", "your", "their", "there",
                                         "which", "what", "when", "where", "about", "into", "also", "they",
                                         "them", "then", "than", "been", "were", "would", "could", "should",
                                         "these", "those", "more", "some", "such", "only", "other", "each", NULL};

/* The share of the answer's content words (4+ letters, not a stop word)
 * found in the passages or the question; -1 with fewer than 3 of them. */
static double grounding(const char *ans, const char *src, const char *question)
{
    size_t n = strlen(ans), words = 0, found = 0;
    char w[64];
    for (size_t i = 0; i < n;) {
        while (i < n && !isalnum((unsigned char)ans[i])) i++;
        size_t s = i;
        while (i < n && isalnum((unsigned char)ans[i])) i++;
        size_t l = i - s;
        if (l < 4 || l >= sizeof w) continue;
        for (size_t k = 0; k < l; k++) w[k] = (char)tolower((unsigned char)ans[s + k]);
        w[l] = 0;
        int stop = 0;
        for (int k = 0; stop_words[k] && !stop; k++) stop = !strcmp(w, stop_words[k]);
        if (stop || isdigit((unsigned char)w[0])) continue;
        words++;
        if (strcasestr(src, w) || strcasestr(question, w)) found++;
    }
    return words < 3 ? -1 : (double)found / (double)words;
}

/* The check a light answer fails, or NULL. */
static const char *light_check(const char *ans, int stop_reason, int loop, const char *sources, const char *question)
{
    const char *t = ans + skip_space(ans, 0, strlen(ans));
    if (!*t) return "empty";
    if (stop_reason == HRT_STOP_LENGTH || stop_reason == HRT_STOP_CONTEXT) return "cut off";
    if (loop) return "loop";
    for (int i = 0; refusals[i]; i++)
        if (strcasestr(t, refusals[i])) return "refusal";
    if (sources) {
        double g = grounding(t, sources, question);
        if (g >= 0 && g < 0.5) return "ungrounded";
    }
    return NULL;
}

/* ---- generation ------------------------------------------------------------------- */
typedef struct {
    hrt_agent *a;
    ask_ctx *ctx;
    const hrt_ask_params *ap;
    hrt_agent_result *res;
    const char *q;
    size_t qlen;
    hrt_chat_msg *hist;      /* earlier turns, fitted to the budget */
    size_t n_hist;
    float *qvec;
    passage ps[MAX_PASSAGES];
    size_t n_ps;
    int user_stopped;        /* on_text asked to stop: no escalation, nothing remembered */
    strbuf explain;
} ask;

static void explain(ask *k, const char *fmt, ...) HRT_PRINTF(2, 3);
static void explain(ask *k, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) strbuf_put(&k->explain, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A model without a chat template (a base model, such as Gemma 3 270M's
 * GGUF) gets the conversation as plain text to continue: the system text,
 * earlier turns as "Question:" / "Answer:" lines, the user text, then
 * "Answer:". Returns the malloc'd text, or NULL. */
static char *render_plain(const hrt_chat_msg *msgs, size_t n)
{
    strbuf b = {0};
    int e = strbuf_put(&b, "", 0);
    for (size_t i = 0; i < n && !e; i++) {
        const char *c = msgs[i].content;
        int last = i + 1 == n, user = !strcmp(msgs[i].role, "user");
        if (!strcmp(msgs[i].role, "system")) {
            e = strbuf_put(&b, c, strlen(c)) || strbuf_put(&b, "\n\n", 2);
        } else if (last) {
            e = strbuf_put(&b, c, strlen(c)) || strbuf_put(&b, "\n\nAnswer:", 9);
        } else {
            e = strbuf_put(&b, user ? "Question: " : "Answer: ", user ? 10 : 8) || strbuf_put(&b, c, strlen(c)) ||
                strbuf_put(&b, user ? "\n" : "\n\n", user ? 1 : 2);
        }
    }
    if (e) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* Renders the chat and generates on the light (full = 0) or full model.
 * mon->text receives the text, cut where the monitor stopped it. */
static int generate(ask *k, int full, int stage, const char *system, const char *user, int max_tokens,
                    int watch_full, int max_sentences, float dry, monitor *mon, hrt_usage *u)
{
    hrt_agent *a = k->a;
    hrt_model *m = full ? a->p.full_model : a->p.light_model;
    hrt_remote *remote = full ? a->p.full_remote : NULL;
    size_t nm = 0;
    hrt_chat_msg *msgs = malloc((k->n_hist + 2) * sizeof *msgs);
    if (!msgs) return hrt_err(HRT_E_NOMEM, "out of memory");
    msgs[nm++] = (hrt_chat_msg){"system", system};
    for (size_t i = 0; i < k->n_hist && stage != HRT_STAGE_REWRITE; i++) msgs[nm++] = k->hist[i];
    msgs[nm++] = (hrt_chat_msg){"user", user};
    int plain = !remote && a->pool[full].plain, need = 0, st = 0;
    char *prompt = NULL;
    hrt_session *s = NULL;
    if (!remote) { /* a local model: the rendered chat on a pooled session */
        need = plain ? 0 : hrt_chat_render(m, msgs, nm, 1, NULL, 0);
        prompt = plain ? render_plain(msgs, nm) : need >= 0 ? malloc((size_t)need + 1) : NULL;
        if (prompt && !plain) hrt_chat_render(m, msgs, nm, 1, prompt, (size_t)need + 1);
        if (!prompt) st = need < 0 ? need : hrt_err(HRT_E_NOMEM, "out of memory");
        if (plain && stage != HRT_STAGE_REWRITE)
            explain(k, "%s model: no chat template, the prompt is plain text ending in \"Answer:\"\n",
                    full ? "full" : "light");
        if (!st) st = session_take(a, full, &s);
        if (st) {
            free(msgs), free(prompt);
            return st;
        }
        pthread_mutex_lock(&a->mu);
        k->ctx->cur = s;
        pthread_mutex_unlock(&a->mu);
    }
    *mon = (monitor){.full = watch_full, .marker = -1, .max_sentences = max_sentences, .plain = plain,
                     .prune = a->p.prune, .ctx = k->ctx};
    if (stage != HRT_STAGE_REWRITE) mon->fn = k->ap->on_text, mon->ud = k->ap->user_data;
    hrt_generate_params gp = hrt_generate_default_params();
    static const char *const stops[] = {"\nQuestion:", "\nPassages:"};
    gp.max_tokens = max_tokens;
    gp.stop = stops;
    gp.n_stop = 2;
    gp.sampling.dry_multiplier = a->p.prune ? dry : 0.0f;
    gp.sampling.temperature = a->p.temperature;
    gp.sampling.seed = a->p.seed;
    gp.on_token = on_token;
    gp.user_data = mon;
    double t0 = now_ms();
    if (atomic_load(&k->ctx->cancelled)) st = HRT_E_CANCELLED;
    else if (remote) {
        st = remote_chat(remote, msgs, nm, &gp, NULL, u, &k->ctx->cancelled);
        /* a stream stopped once the answer was complete ends before the server's usage: the
         * prompt is then counted with the local tokenizer */
        if (!st && u->prompt_tokens == 0)
            for (size_t i = 0; i < nm; i++) u->prompt_tokens += count_tokens(m, msgs[i].content, strlen(msgs[i].content));
    }
    else st = hrt_generate(s, prompt, strlen(prompt), &gp, NULL, u);
    free(msgs);
    if (s) {
        pthread_mutex_lock(&a->mu);
        k->ctx->cur = NULL;
        pthread_mutex_unlock(&a->mu);
        session_give(a, full, s);
    }
    free(prompt);
    if (!st && (u->stop_reason == HRT_STOP_CANCELLED || atomic_load(&k->ctx->cancelled)))
        st = hrt_err(HRT_E_CANCELLED, "hrt_agent_ask: cancelled");
    if (!mon->text.p && strbuf_put(&mon->text, "", 0)) st = HRT_E_NOMEM;
    if (mon->loop || mon->done) strbuf_cut(&mon->text, mon->cut);
    if (!st && !mon->stopped) mon_flush(mon, mon->text.len); /* what was held back (none past a cut) */
    hrt_stage *sg = &k->res->stage[stage];
    sg->ms += now_ms() - t0;
    sg->prompt_tokens += u->prompt_tokens;
    sg->cached_tokens += u->cached_tokens;
    sg->generated_tokens += u->generated_tokens;
    int left = max_tokens - u->generated_tokens;
    if (mon->loop) k->res->saved.loop += left;
    else if (mon->done || u->stop_reason == HRT_STOP_STRING) k->res->saved.answer_done += left;
    return st;
}

static void trim(char *s)
{
    size_t n = strlen(s), i = skip_space(s, 0, n);
    while (n > i && isspace((unsigned char)s[n - 1])) n--;
    memmove(s, s + i, n - i);
    s[n - i] = 0;
}

/* Marks the citations the answer refers to as [n]. */
static void mark_cited(hrt_agent_result *res)
{
    for (size_t i = 0; i < res->n_citations; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "[%d]", res->citations[i].n);
        res->citations[i].cited = res->answer && strstr(res->answer, tag) != NULL;
    }
}

static void citations_clear(hrt_agent_result *res)
{
    for (size_t i = 0; i < res->n_citations; i++) free(res->citations[i].source);
    free(res->citations);
    res->citations = NULL;
    res->n_citations = 0;
}

static int render2(hrt_agent *a, const char *name, const char *n1, const char *v1, const char *n2, const char *v2,
                   char **out)
{
    const char *names[] = {n1, n2};
    const char *vals[] = {v1, v2};
    size_t len;
    return prompt_render(a->ps, name, names, vals, NULL, n2 ? 2 : 1, out, &len);
}

/* The light path. *check: the failed check or NULL. */
static int light_path(ask *k, const char **check)
{
    hrt_agent *a = k->a;
    hrt_agent_result *res = k->res;
    strbuf ctx = {0};
    char *sys = NULL, *user = NULL;
    monitor mon = {0};
    hrt_usage u = {0};
    size_t n = k->n_ps;
    int st = build_context(a, a->p.light_model, k->ps, n, (size_t)a->p.light_k, a->p.light_context_tokens, &ctx,
                           res, &res->saved.context_budget);
    if (!st) st = render2(a, "light_system", "product", a->product, NULL, NULL, &sys);
    if (!st) st = render2(a, "light_user", "context", ctx.p, "question", k->q, &user);
    if (!st) st = generate(k, 0, HRT_STAGE_LIGHT, sys, user, a->p.light_max_tokens, 0, a->p.light_max_sentences,
                           a->p.dry_multiplier, &mon, &u);
    if (!st || st == HRT_E_CANCELLED) {
        trim(mon.text.p);
        res->answer = mon.text.p;
        mon.text.p = NULL;
        res->stop_reason = u.stop_reason;
        res->loop_stopped = mon.loop;
        *check = light_check(res->answer, u.stop_reason, mon.loop, k->n_ps ? ctx.p : NULL, k->q);
        k->user_stopped = mon.stopped;
    }
    free(mon.text.p);
    free(ctx.p), free(sys), free(user);
    return st;
}

/* The full path: rewrite the query into more searches, then think and answer. */
static int full_path(ask *k)
{
    hrt_agent *a = k->a;
    hrt_agent_result *res = k->res;
    strbuf ctx = {0};
    char *sys = NULL, *user = NULL, *rw = NULL;
    monitor mon = {0};
    hrt_usage u = {0};
    int st = 0;
    if (a->p.kb) {
        /* query rewriting on the light model: short and greedy */
        st = render2(a, "rewrite", "question", k->q, NULL, NULL, &rw);
        if (!st) st = generate(k, 0, HRT_STAGE_REWRITE, "You write search queries.", rw, 48, 0, 0, 0, &mon, &u);
        double t0 = now_ms();
        int added = 0;
        for (char *line = mon.text.p, *nl; !st && line && *line && added < 2; line = nl) {
            nl = strchr(line, '\n');
            if (nl) *nl++ = 0;
            while (*line == '-' || *line == '*' || isdigit((unsigned char)*line) || *line == '.' || *line == ' ')
                line++;
            trim(line);
            if (strlen(line) < 4 || !strcasecmp(line, k->q)) continue;
            st = search_into(a, line, NULL, a->p.full_k, k->ps, &k->n_ps);
            added++;
            explain(k, "rewrite: \"%s\"\n", line);
        }
        free(mon.text.p);
        mon.text.p = NULL;
        qsort(k->ps, k->n_ps, sizeof *k->ps, cmp_passage);
        if (a->p.prune) res->saved.duplicates += drop_repeats(a->p.full_model, k->ps, &k->n_ps);
        res->stage[HRT_STAGE_RETRIEVE].ms += now_ms() - t0;
    }
    citations_clear(res);
    if (!st)
        st = build_context(a, a->p.full_model, k->ps, k->n_ps, MAX_PASSAGES, a->p.full_context_tokens, &ctx, res,
                           &res->saved.context_budget);
    if (!st) st = render2(a, "full_system", "product", a->product, NULL, NULL, &sys);
    if (!st) st = render2(a, "full_user", "context", ctx.p, "question", k->q, &user);
    if (!st) st = generate(k, 1, HRT_STAGE_FULL, sys, user, a->p.full_max_tokens, 1, 0, a->p.dry_multiplier, &mon, &u);
    if (!st || st == HRT_E_CANCELLED) {
        free(res->answer);
        res->answer = NULL;
        if (mon.marker >= 0 && (size_t)mon.marker <= mon.text.len) {
            res->thinking = strndup(mon.text.p, (size_t)mon.marker);
            res->answer = strdup(mon.answer_from <= mon.text.len ? mon.text.p + mon.answer_from : "");
            if (!res->thinking || !res->answer) st = hrt_err(HRT_E_NOMEM, "out of memory");
            else trim(res->thinking);
        } else {
            res->answer = mon.text.p;
            mon.text.p = NULL;
        }
        if (res->answer) trim(res->answer);
        k->user_stopped = mon.stopped;
        /* without the marker it all streamed as reasoning: the answer is all of it */
        if (!st && mon.marker < 0 && res->answer && !mon.stopped && k->ap->on_text)
            k->ap->on_text(res->answer, strlen(res->answer), HRT_PART_ANSWER, k->ap->user_data);
        res->stop_reason = u.stop_reason;
        res->loop_stopped = mon.loop;
    }
    free(mon.text.p);
    free(ctx.p), free(sys), free(user), free(rw);
    return st;
}

/* ---- the cache -------------------------------------------------------------------- */
static char *sources_json(const hrt_agent_result *res, int path, int tokens)
{
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "citations");
    cJSON_AddStringToObject(j, "path", path == HRT_PATH_FULL ? "full" : "light");
    cJSON_AddNumberToObject(j, "tokens", tokens);
    for (size_t i = 0; arr && i < res->n_citations; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "n", res->citations[i].n);
        cJSON_AddStringToObject(c, "source", res->citations[i].source);
        cJSON_AddNumberToObject(c, "start", (double)res->citations[i].start);
        cJSON_AddNumberToObject(c, "end", (double)res->citations[i].end);
        cJSON_AddItemToArray(arr, c);
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* Fills citations and the saved tokens from a cached answer's sources. */
static int sources_read(const char *s, hrt_agent_result *res)
{
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    if (!j) return 0; /* an answer without citations */
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "tokens");
    if (cJSON_IsNumber(t)) res->saved.cache = t->valueint;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "citations"), *c;
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0, st = 0;
    res->citations = calloc((size_t)(n ? n : 1), sizeof *res->citations);
    if (!res->citations) st = hrt_err(HRT_E_NOMEM, "out of memory");
    if (!st && n) cJSON_ArrayForEach(c, arr) {
        const cJSON *num = cJSON_GetObjectItemCaseSensitive(c, "n"), *src = cJSON_GetObjectItemCaseSensitive(c, "source"),
                    *b = cJSON_GetObjectItemCaseSensitive(c, "start"), *e = cJSON_GetObjectItemCaseSensitive(c, "end");
        if (!cJSON_IsNumber(num) || !cJSON_IsString(src)) continue;
        hrt_citation *ci = &res->citations[res->n_citations];
        ci->n = num->valueint;
        ci->source = strdup(src->valuestring);
        ci->start = cJSON_IsNumber(b) ? (uint64_t)b->valuedouble : 0;
        ci->end = cJSON_IsNumber(e) ? (uint64_t)e->valuedouble : 0;
        if (!ci->source) {
            st = hrt_err(HRT_E_NOMEM, "out of memory");
            break;
        }
        res->n_citations++;
    }
    cJSON_Delete(j);
    return st;
}

/* ---- conversation history ------------------------------------------------------------ */
/* Reads the session's last turns and fits them into the history budget,
 * newest first: a turn that does not fit whole keeps its first sentence,
 * older ones are left out. */
static int load_history(ask *k)
{
    hrt_agent *a = k->a;
    hrt_chat_msg *t = NULL;
    size_t n = 0;
    int st = hrt_memory_turns(a->p.memory, k->ctx->session, HISTORY_TURNS, &t, &n);
    if (st) return st;
    k->hist = calloc(n ? n : 1, sizeof *k->hist);
    if (!k->hist) {
        hrt_memory_turns_free(t, n);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    int left = a->p.history_tokens;
    size_t first = n;
    for (size_t i = n; i-- > 0;) {
        size_t len = strlen(t[i].content);
        int tok = count_tokens(a->p.light_model, t[i].content, len);
        if (tok > left) {
            /* its first sentence (with its end mark), or its first 300 bytes
             * cut at a character boundary */
            size_t e = 0;
            while (e < len && e < 300 && !is_end(t[i].content[e])) e++;
            if (e < len && is_end(t[i].content[e])) e++;
            while (e > 0 && e < len && ((unsigned char)t[i].content[e] & 0xC0) == 0x80) e--;
            int kt = count_tokens(a->p.light_model, t[i].content, e);
            if (kt <= left && kt < tok) {
                ((char *)t[i].content)[e] = 0;
                k->res->saved.history_budget += tok - kt;
                tok = kt;
            } else {
                for (size_t j = 0; j <= i; j++)
                    k->res->saved.history_budget += count_tokens(a->p.light_model, t[j].content, strlen(t[j].content));
                break;
            }
        }
        left -= tok;
        first = i;
    }
    explain(k, "history: %zu earlier turns read, %zu kept within %d tokens\n", n, n - first, a->p.history_tokens);
    /* keep whole user/assistant pairs, oldest first */
    if (first < n && strcmp(t[first].role, "user")) first++;
    for (size_t i = first; i < n; i++) {
        k->hist[k->n_hist].role = strdup(t[i].role);
        k->hist[k->n_hist].content = strdup(t[i].content);
        if (!k->hist[k->n_hist].role || !k->hist[k->n_hist].content) st = hrt_err(HRT_E_NOMEM, "out of memory");
        k->n_hist++;
    }
    hrt_memory_turns_free(t, n);
    return st;
}

/* ---- ask ------------------------------------------------------------------------------ */
static const char *path_name(int p)
{
    return p == HRT_PATH_CACHE ? "cache" : p == HRT_PATH_LIGHT ? "light" : p == HRT_PATH_FULL ? "full" : "auto";
}

void hrt_agent_result_clear(hrt_agent_result *res)
{
    if (!res) return;
    free(res->answer);
    free(res->thinking);
    free(res->explain);
    citations_clear(res);
    memset(res, 0, sizeof *res);
}

static void explain_features(ask *k, const query_features *qf)
{
    explain(k, "features:");
    for (int i = 0; i < QF_COUNT; i++) explain(k, " %s=%g", query_feature_name(i), (double)qf->v[i]);
    explain(k, "\n");
}

static void explain_route(ask *k, const router_parts *rp, float score)
{
    /* the three largest parts by size */
    typedef struct {
        const char *name;
        float v;
    } named;
    named part[QF_COUNT + 2];
    int np = 0;
    part[np++] = (named){"embedding", rp->embedding};
    part[np++] = (named){"bias", rp->bias};
    for (int i = 0; i < QF_COUNT; i++) part[np++] = (named){query_feature_name(i), rp->feature[i]};
    for (int i = 0; i < np; i++)
        for (int j = i + 1; j < np; j++)
            if (fabsf(part[j].v) > fabsf(part[i].v)) {
                named t = part[i];
                part[i] = part[j], part[j] = t;
            }
    explain(k, "router: score %.3f %s threshold %.3f (logit parts: %s %+.2f, %s %+.2f, %s %+.2f)\n", (double)score,
            score >= k->a->threshold ? ">=" : "<", (double)k->a->threshold, part[0].name, (double)part[0].v,
            part[1].name, (double)part[1].v, part[2].name, (double)part[2].v);
}

static void explain_retrieval(ask *k)
{
    if (!k->n_ps) {
        explain(k, "retrieval: no passages\n");
        return;
    }
    size_t both = 0, top = k->n_ps < 3 ? k->n_ps : 3;
    for (size_t i = 0; i < top; i++) both += k->ps[i].dense_rank > 0 && k->ps[i].bm25_rank > 0;
    explain(k, "retrieval: %zu passages; best from %s (dense rank %d, BM25 rank %d); %zu of the top %zu found by both "
               "rankings; score spread %.4f\n",
            k->n_ps, k->ps[0].source, k->ps[0].dense_rank, k->ps[0].bm25_rank, both, top,
            (double)(k->ps[0].score - k->ps[top - 1].score));
}

static int do_ask(ask *k, const char *session)
{
    hrt_agent *a = k->a;
    hrt_agent_result *res = k->res;
    const hrt_ask_params *ap = k->ap;
    int st = 0;
    double t0 = now_ms();
    if (a->p.memory && session && (st = load_history(k))) return st;
    if (a->dim > 0) {
        k->qvec = malloc((size_t)a->dim * sizeof *k->qvec);
        if (!k->qvec) return hrt_err(HRT_E_NOMEM, "out of memory");
        if ((st = hrt_embed(a->p.embedder, &k->q, &k->qlen, 1, k->qvec))) return st;
    }
    res->stage[HRT_STAGE_EMBED].ms = now_ms() - t0;
    query_features qf;
    query_features_compute(k->q, k->qlen, &qf);
    explain_features(k, &qf);

    /* 1. the cache: only for a query that does not follow earlier turns */
    int forced = ap->path == HRT_PATH_LIGHT || ap->path == HRT_PATH_FULL;
    if (a->p.memory && ap->use_cache && !forced && a->p.cache_threshold <= 1) {
        double t = now_ms();
        if (k->n_hist) {
            explain(k, "cache: not used (the query follows %zu earlier turns)\n", k->n_hist);
        } else {
            hrt_answer hit;
            float sc = 0;
            st = hrt_memory_answer_lookup(a->p.memory, k->qvec, a->dim, a->model_id, prompt_set_version(a->ps),
                                          a->p.cache_threshold, &hit, &sc);
            res->stage[HRT_STAGE_CACHE].ms = now_ms() - t;
            if (st < 0) return st;
            res->cache_score = st == 1 ? sc : NAN;
            if (st == 1) {
                explain(k, "cache: hit, similarity %.3f >= %.3f to \"%s\"\n", (double)sc, (double)a->p.cache_threshold,
                        hit.query ? hit.query : "");
                res->answer = strdup(hit.answer);
                st = res->answer ? sources_read(hit.sources, res) : hrt_err(HRT_E_NOMEM, "out of memory");
                hrt_answer_clear(&hit);
                res->path = res->routed = HRT_PATH_CACHE;
                if (!st && ap->on_text) ap->on_text(res->answer, strlen(res->answer), HRT_PART_ANSWER, ap->user_data);
                return st;
            }
            explain(k, "cache: miss (no answer with similarity >= %.3f)\n", (double)a->p.cache_threshold);
        }
    }

    /* 2. retrieval */
    if (a->p.kb) {
        double t = now_ms();
        st = search_into(a, k->q, k->qvec, a->p.full_k > a->p.light_k ? a->p.full_k : a->p.light_k, k->ps, &k->n_ps);
        if (st) return st;
        if (a->p.prune) res->saved.duplicates += drop_repeats(a->p.light_model, k->ps, &k->n_ps);
        res->stage[HRT_STAGE_RETRIEVE].ms = now_ms() - t;
        explain_retrieval(k);
    }

    /* 3. the route */
    double t = now_ms();
    res->threshold = a->threshold;
    res->router_score = NAN;
    int path = HRT_PATH_LIGHT;
    if (a->rt) {
        router_parts rp;
        res->router_score = router_score(a->rt, k->qvec, &qf, &rp);
        explain_route(k, &rp, res->router_score);
        if (res->router_score >= a->threshold) path = HRT_PATH_FULL;
    } else {
        explain(k, "router: none loaded; the light path by default\n");
    }
    if (forced) {
        path = ap->path;
        explain(k, "path: %s (forced by the caller)\n", path_name(path));
    }
    res->stage[HRT_STAGE_ROUTE].ms = now_ms() - t;
    res->routed = path;

    /* 4. answer, escalating a light answer that fails its check */
    if (path == HRT_PATH_LIGHT) {
        const char *check = NULL;
        st = light_path(k, &check);
        if (st) return st;
        res->path = HRT_PATH_LIGHT;
        if (k->user_stopped) {
            explain(k, "stopped by the caller\n");
        } else if (check) {
            res->check = check;
            explain(k, "light answer failed the check: %s\n", check);
            if (a->p.escalate && ap->path != HRT_PATH_LIGHT) {
                res->escalated = 1;
                path = HRT_PATH_FULL;
                explain(k, "escalated to the full path\n");
                if (ap->on_text) ap->on_text(check, strlen(check), HRT_PART_ESCALATE, ap->user_data);
            }
        } else {
            explain(k, "light answer passed the checks\n");
        }
    }
    if (path == HRT_PATH_FULL) {
        if ((st = full_path(k))) return st;
        res->path = HRT_PATH_FULL;
        if (!res->thinking) explain(k, "full answer: no \"Final answer:\" marker; the whole text is the answer\n");
    }
    if (res->loop_stopped) explain(k, "generation stopped on a loop\n");
    mark_cited(res);
    return 0;
}

/* Writes the answer to the cache and the turns to the conversation. */
static void remember(ask *k, const char *session)
{
    hrt_agent *a = k->a;
    hrt_agent_result *res = k->res;
    if (!a->p.memory || k->user_stopped) return;
    int ok = res->answer && res->answer[0] && res->stop_reason != HRT_STOP_LENGTH &&
             res->stop_reason != HRT_STOP_CONTEXT && !res->loop_stopped &&
             (res->path == HRT_PATH_FULL || !res->check);
    if (ok && k->ap->use_cache && res->path != HRT_PATH_CACHE && !k->n_hist && a->p.cache_threshold <= 1) {
        int tokens = 0;
        for (int i = 0; i < HRT_STAGE_COUNT; i++)
            tokens += res->stage[i].prompt_tokens - res->stage[i].cached_tokens + res->stage[i].generated_tokens;
        char *src = sources_json(res, res->path, tokens);
        hrt_answer an = {.model = a->model_id, .prompt_version = prompt_set_version(a->ps), .query = k->q,
                         .answer = res->answer, .sources = src};
        if (hrt_memory_answer_put(a->p.memory, k->qvec, a->dim, &an, a->p.cache_ttl_s))
            hrt_log(HRT_LOG_WARN, "agent: the answer was not cached: %s", hrt_last_error());
        free(src);
    }
    if (session && res->answer &&
        (hrt_memory_turn_add(a->p.memory, session, "user", k->q, k->qlen, NULL) ||
         hrt_memory_turn_add(a->p.memory, session, "assistant", res->answer, strlen(res->answer), NULL)))
        hrt_log(HRT_LOG_WARN, "agent: the turn was not saved: %s", hrt_last_error());
}

int hrt_agent_ask(hrt_agent *a, const char *session, const char *query, size_t len, const hrt_ask_params *params,
                  hrt_agent_result *res)
{
    if (res) memset(res, 0, sizeof *res);
    if (!a || !res || (!query && len)) return hrt_err(HRT_E_INVALID, "hrt_agent_ask: NULL argument");
    if (len > MAX_QUERY_BYTES)
        return hrt_err(HRT_E_RANGE, "hrt_agent_ask: the query is %zu bytes; at most %d are accepted", len,
                       MAX_QUERY_BYTES);
    size_t i = 0;
    while (i < len && isspace((unsigned char)query[i])) i++;
    if (i == len) return hrt_err(HRT_E_INVALID, "hrt_agent_ask: the query is empty");
    hrt_ask_params ap = params ? *params : hrt_ask_default_params();
    if (ap.path < HRT_PATH_AUTO || ap.path > HRT_PATH_FULL)
        return hrt_err(HRT_E_INVALID, "hrt_agent_ask: path %d is not one of HRT_PATH_*", ap.path);
    size_t qlen, repaired = 0;
    char *q = utf8_repair(query, len, &qlen, &repaired);
    if (!q) return hrt_err(HRT_E_NOMEM, "out of memory");
    if (repaired) hrt_log(HRT_LOG_WARN, "hrt_agent_ask: %zu invalid UTF-8 sequences in the query replaced", repaired);
    trim(q);
    qlen = strlen(q);
    if (qlen == 0) {
        free(q);
        return hrt_err(HRT_E_INVALID, "hrt_agent_ask: the query is empty (or starts with a NUL byte)");
    }
    res->router_score = res->threshold = res->cache_score = NAN;

    ask_ctx ctx = {.session = session};
    pthread_mutex_lock(&a->mu);
    ctx.next = a->running;
    a->running = &ctx;
    pthread_mutex_unlock(&a->mu);
    ask k = {.a = a, .ctx = &ctx, .ap = &ap, .res = res, .q = q, .qlen = qlen};
    double t0 = now_ms();
    int st = do_ask(&k, session);
    res->total_ms = now_ms() - t0;
    for (int s = 0; s < HRT_STAGE_COUNT; s++) {
        res->prompt_tokens += res->stage[s].prompt_tokens;
        res->generated_tokens += res->stage[s].generated_tokens;
    }
    if (!st) {
        remember(&k, session);
        explain(&k, "path: %s%s; tokens: prompt %d (%d reused), generated %d; saved: cache %d, duplicates %d, "
                    "context budget %d, history budget %d, loop %d, answer done %d; %.1f ms\n",
                path_name(res->path), res->escalated ? " (escalated from light)" : "", res->prompt_tokens,
                res->stage[HRT_STAGE_LIGHT].cached_tokens + res->stage[HRT_STAGE_FULL].cached_tokens +
                    res->stage[HRT_STAGE_REWRITE].cached_tokens,
                res->generated_tokens, res->saved.cache, res->saved.duplicates, res->saved.context_budget,
                res->saved.history_budget, res->saved.loop, res->saved.answer_done, res->total_ms);
    }
    pthread_mutex_lock(&a->mu);
    for (ask_ctx **p = &a->running; *p; p = &(*p)->next)
        if (*p == &ctx) {
            *p = ctx.next;
            break;
        }
    pthread_mutex_unlock(&a->mu);
    res->explain = k.explain.p;
    if (!res->answer && st == HRT_E_CANCELLED) res->answer = strdup("");
    passages_free(k.ps, k.n_ps);
    for (size_t h = 0; h < k.n_hist; h++) free((char *)k.hist[h].role), free((char *)k.hist[h].content);
    free(k.hist);
    free(k.qvec);
    free(q);
    if (st && st != HRT_E_CANCELLED) hrt_agent_result_clear(res);
    return st;
}
