#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t id;
    float logit;
    float p;
} cand;

struct sampler {
    hrt_sampler_params p;
    int n_vocab;
    uint64_t rng;
    cand *c;          /* (n_vocab) */
    int *dry_len;     /* (n_vocab) longest repeat each token would extend */
};

/* splitmix64: small, fast, and the same sequence on every platform. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double next_unit(uint64_t *s) { return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }

sampler *sampler_new(const hrt_sampler_params *p, int n_vocab)
{
    sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->rng = p->seed;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->dry_len = calloc((size_t)n_vocab, sizeof *s->dry_len);
    if (!s->c || !s->dry_len) {
        sampler_free(s);
        return NULL;
    }
    return s;
}

void sampler_free(sampler *s)
{
    if (!s) return;
    free(s->c);
    free(s->dry_len);
    free(s);
}

int32_t argmax_f32(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* CTRL-style repetition penalty over the last repeat_last_n ids: positive
 * logits are divided by the penalty, negative ones multiplied. */
static void apply_repeat(const sampler *s, float *logits, const int32_t *h, int n)
{
    float pen = s->p.repeat_penalty;
    if (pen == 1.0f || pen <= 0 || s->p.repeat_last_n == 0) return;
    int from = s->p.repeat_last_n < 0 || n < s->p.repeat_last_n ? 0 : n - s->p.repeat_last_n;
    /* Mark each id once, so a frequent id is not penalised many times. */
    for (int i = from; i < n; i++) {
        int32_t id = h[i];
        if (id < 0 || id >= s->n_vocab || s->dry_len[id] == -1) continue;
        logits[id] = logits[id] > 0 ? logits[id] / pen : logits[id] * pen;
        s->dry_len[id] = -1;
    }
    for (int i = from; i < n; i++)
        if (h[i] >= 0 && h[i] < s->n_vocab) s->dry_len[h[i]] = 0;
}

/* DRY ("don't repeat yourself", koboldcpp / llama.cpp): a token that would
 * extend a repeat of an earlier stretch of the history by a match of length
 * L >= allowed_length gets multiplier * base^(L - allowed_length)
 * subtracted from its logit. */
static void apply_dry(const sampler *s, float *logits, const int32_t *h, int n)
{
    const hrt_sampler_params *p = &s->p;
    if (p->dry_multiplier <= 0 || p->dry_base <= 1 || n < 2) return;
    int from = p->dry_last_n > 0 && n > p->dry_last_n ? n - p->dry_last_n : 0;
    const int32_t *w = h + from;
    int len = n - from;
    /* For each earlier end position i, the length of the match between the
     * history ending at i and the history's current suffix; the token after
     * position i is the one that would continue the repeat. */
    for (int i = len - 2; i >= 0; i--) {
        int k = 0;
        while (k <= i && w[i - k] == w[len - 1 - k]) k++;
        int32_t next = w[i + 1];
        if (k > 0 && next >= 0 && next < s->n_vocab && k > s->dry_len[next]) s->dry_len[next] = k;
    }
    for (int i = 0; i + 1 < len; i++) {
        int32_t next = w[i + 1];
        if (next < 0 || next >= s->n_vocab) continue;
        int k = s->dry_len[next];
        if (k >= p->dry_allowed_length && k > 0)
            logits[next] -= p->dry_multiplier * powf(p->dry_base, (float)(k - p->dry_allowed_length));
        s->dry_len[next] = 0;
    }
}

static int cmp_cand_desc(const void *a, const void *b)
{
    float x = ((const cand *)a)->logit, y = ((const cand *)b)->logit;
    if (x != y) return x < y ? 1 : -1;
    return ((const cand *)a)->id - ((const cand *)b)->id;
}

int32_t sampler_sample(sampler *s, float *logits, const int32_t *history, int n_history)
{
    const hrt_sampler_params *p = &s->p;
    apply_repeat(s, logits, history, n_history);
    apply_dry(s, logits, history, n_history);
    if (p->temperature <= 0) return argmax_f32(logits, s->n_vocab);

    int n = s->n_vocab;
    for (int i = 0; i < n; i++) s->c[i] = (cand){i, logits[i], 0};
    /* Keep the top k (all when top_k <= 0), sorted by logit. A partial
     * selection would be faster; a full sort of 50k floats is ~2 ms. */
    qsort(s->c, (size_t)n, sizeof *s->c, cmp_cand_desc);
    if (p->top_k > 0 && p->top_k < n) n = p->top_k;
    /* Probabilities at temperature 1 for top-p and min-p, as llama.cpp. */
    float mx = s->c[0].logit;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (s->c[i].p = expf(s->c[i].logit - mx));
    for (int i = 0; i < n; i++) s->c[i].p /= (float)sum;
    if (p->top_p < 1.0f && p->top_p > 0) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += s->c[i].p;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0) {
        float floor_p = s->c[0].p * p->min_p;
        int keep = 1;
        while (keep < n && s->c[keep].p >= floor_p) keep++;
        n = keep;
    }
    sum = 0;
    for (int i = 0; i < n; i++) sum += (s->c[i].p = expf((s->c[i].logit - mx) / p->temperature));
    double r = next_unit(&s->rng) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += s->c[i].p;
        if (r < acc) return s->c[i].id;
    }
    return s->c[n - 1].id;
}
