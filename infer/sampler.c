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
    int32_t *pen;     /* (n_vocab) the ids the repetition penalty applies to */
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
    s->pen = malloc((size_t)n_vocab * sizeof *s->pen);
    if (!s->c || !s->dry_len || !s->pen) {
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
    free(s->pen);
    free(s);
}

int32_t argmax_f32(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Where the last last_n of n ids start (last_n <= 0: all of them), as
 * window_start in kernels/cuda/common.cuh for the device's penalties. */
static int window_from(int n, int last_n) { return last_n > 0 && n > last_n ? n - last_n : 0; }

/* Whether the repetition penalty and DRY are on (NaN parameters turn DRY
 * on, as on the device: cuda_sample). */
static int repeat_on(const hrt_sampler_params *p)
{
    return !(p->repeat_penalty == 1.0f || p->repeat_penalty <= 0) && p->repeat_last_n != 0;
}

static int dry_on(const hrt_sampler_params *p) { return !(p->dry_multiplier <= 0 || p->dry_base <= 1); }

/* The distinct ids of the last repeat_last_n of history that the CTRL-style
 * repetition penalty applies to, in order of first appearance, into out
 * (room for min(n, n_vocab)); their count, 0 when the penalty is off. */
static int penalized_ids(const sampler *s, const int32_t *h, int n, int32_t *out)
{
    if (!repeat_on(&s->p)) return 0;
    int from = window_from(n, s->p.repeat_last_n), k = 0;
    /* Mark each id once, so a frequent id is not penalised many times. */
    for (int i = from; i < n; i++) {
        int32_t id = h[i];
        if (id < 0 || id >= s->n_vocab || s->dry_len[id] == -1) continue;
        out[k++] = id;
        s->dry_len[id] = -1;
    }
    for (int i = 0; i < k; i++) s->dry_len[out[i]] = 0;
    return k;
}

/* The penalty itself: positive logits are divided by it, negative ones
 * multiplied. */
static void apply_repeat(const sampler *s, float *logits, const int32_t *h, int n)
{
    float pen = s->p.repeat_penalty;
    for (int i = 0, k = penalized_ids(s, h, n, s->pen); i < k; i++) {
        int32_t id = s->pen[i];
        logits[id] = logits[id] > 0 ? logits[id] / pen : logits[id] * pen;
    }
}

/* DRY's penalty for a repeat e tokens past the allowed length:
 * multiplier * base^e, the power a product of e factors in order, so that
 * the device (dry_amount in kernels/cuda/sample.cu) gets the same value
 * (its powf and the host's differ in the last bits). */
static float dry_amount(float mult, float base, int e)
{
    float f = 1.0f;
    for (int j = 0; j < e && f < INFINITY; j++) f *= base;
    return mult * f;
}

/* DRY ("don't repeat yourself", koboldcpp / llama.cpp): a token that would
 * extend a repeat of an earlier stretch of the history by a match of length
 * L >= allowed_length gets multiplier * base^(L - allowed_length)
 * subtracted from its logit. */
static void apply_dry(const sampler *s, float *logits, const int32_t *h, int n)
{
    const hrt_sampler_params *p = &s->p;
    if (!dry_on(p) || n < 2) return;
    int from = window_from(n, p->dry_last_n);
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
            logits[next] -= dry_amount(p->dry_multiplier, p->dry_base, k - p->dry_allowed_length);
        s->dry_len[next] = 0;
    }
}

static int cmp_cand_desc(const void *a, const void *b)
{
    float x = ((const cand *)a)->logit, y = ((const cand *)b)->logit;
    if (x != y) return x < y ? 1 : -1;
    return ((const cand *)a)->id - ((const cand *)b)->id;
}

/* Whether a comes after b in cmp_cand_desc's order. */
static int after(const cand *a, const cand *b) { return a->logit < b->logit || (a->logit == b->logit && a->id > b->id); }

/* Restores a heap whose every parent comes after its children (the root is
 * the last of the heap in cmp_cand_desc's order) below position i. */
static void sift_down(cand *h, int k, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, last = i;
        if (l < k && after(&h[l], &h[last])) last = l;
        if (r < k && after(&h[r], &h[last])) last = r;
        if (last == i) return;
        cand t = h[i];
        h[i] = h[last];
        h[last] = t;
        i = last;
    }
}

/* The first k of n candidates in cmp_cand_desc's order into c[0..k),
 * sorted: a heap of the best k so far, each other candidate replacing its
 * last when it comes before it, then a sort of the k (n log k, against n
 * log n for sorting all: 0.1 ms instead of several for 50k logits). */
static void top_k_sorted(cand *c, int n, int k)
{
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
    for (int i = k; i < n; i++)
        if (after(&c[0], &c[i])) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    qsort(c, (size_t)k, sizeof *c, cmp_cand_desc);
}

int sampler_window(const hrt_sampler_params *p, int n)
{
    int w = 0;
    if (repeat_on(p)) w = n - window_from(n, p->repeat_last_n);
    const int d = n - window_from(n, p->dry_last_n);
    if (dry_on(p) && d > w) w = d;
    return w;
}

void sampler_device_args(sampler *s, sample_args *a)
{
    *a = (sample_args){.p = s->p};
    if (!(s->p.temperature <= 0)) a->r = next_unit(&s->rng); /* sampler_sample draws unless temperature <= 0 */
}

int32_t sampler_sample(sampler *s, float *logits, const int32_t *history, int n_history)
{
    const hrt_sampler_params *p = &s->p;
    apply_repeat(s, logits, history, n_history);
    apply_dry(s, logits, history, n_history);
    if (p->temperature <= 0) return argmax_f32(logits, s->n_vocab);

    int n = s->n_vocab;
    for (int i = 0; i < n; i++) s->c[i] = (cand){i, logits[i], 0};
    /* Keep the top k (all when top_k <= 0), sorted by logit, ties by id. */
    if (p->top_k > 0 && p->top_k < n) {
        top_k_sorted(s->c, n, p->top_k);
        n = p->top_k;
    } else {
        qsort(s->c, (size_t)n, sizeof *s->c, cmp_cand_desc);
    }
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
