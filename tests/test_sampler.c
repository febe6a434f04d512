/* The sampler on hand-made logits: greedy, truncations, penalties, and the
 * distribution of draws at temperature 1 against the softmax. */
#include "sampler.h"
#include "test.h"

#define NV 8

static hrt_sampler_params base(void)
{
    hrt_sampler_params p = hrt_sampler_default_params();
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0;
    return p;
}

static int32_t draw(hrt_sampler_params p, const float *l, const int32_t *h, int nh)
{
    float x[NV];
    memcpy(x, l, sizeof x);
    sampler *s = sampler_new(&p, NV);
    int32_t id = sampler_sample(s, x, h, nh);
    sampler_free(s);
    return id;
}

static int by_logit_then_id(const void *a, const void *b)
{
    const float *x = a, *y = b; /* {logit, id} pairs */
    if (x[0] != y[0]) return x[0] < y[0] ? 1 : -1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* top-k among many ties: at a temperature that flattens the logits every
 * draw is one of the k best by (logit, lowest id) and every one of them
 * comes up, whatever the order the selection saw them in. */
static void test_top_k_ties(void)
{
    enum { V = 3000, K = 25, DRAWS = 3000 };
    static float l[V], x[V], pairs[V][2];
    uint64_t r = 12345;
    for (int i = 0; i < V; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        l[i] = (float)((r >> 33) % 40) / 4; /* 40 values: ~75 ids each */
        pairs[i][0] = l[i];
        pairs[i][1] = (float)i;
    }
    qsort(pairs, V, sizeof pairs[0], by_logit_then_id);
    static char in_top[V];
    for (int i = 0; i < K; i++) in_top[(int)pairs[i][1]] = 1;
    hrt_sampler_params p = base();
    p.temperature = 1e6f;
    p.top_k = K;
    sampler *s = sampler_new(&p, V);
    int seen[V] = {0}, outside = 0, distinct = 0;
    for (int d = 0; d < DRAWS; d++) {
        memcpy(x, l, sizeof x);
        int32_t id = sampler_sample(s, x, NULL, 0);
        outside += !in_top[id];
        distinct += !seen[id]++;
    }
    sampler_free(s);
    CHECK_MSG(outside == 0 && distinct == K, "top-%d among ties: %d draws outside, %d distinct ids", K, outside,
              distinct);
}

int main(void)
{
    const float l[NV] = {1.0f, 3.0f, 2.5f, -1.0f, 0.0f, 2.9f, 0.5f, 3.0f};
    hrt_sampler_params p = base();
    /* greedy: the highest logit, lowest id on ties */
    CHECK(draw(p, l, NULL, 0) == 1);
    CHECK(argmax_f32(l, NV) == 1);
    /* top_k = 1 at any temperature is greedy */
    p.temperature = 5.0f;
    p.top_k = 1;
    for (int seed = 0; seed < 20; seed++) {
        p.seed = (uint64_t)seed;
        CHECK(draw(p, l, NULL, 0) == 1);
    }
    /* top_p keeping only the mass of the best two (ids 1 and 7) */
    p = base();
    p.temperature = 1.0f;
    p.top_p = 0.3f;
    int only[NV] = {0};
    for (int seed = 0; seed < 200; seed++) {
        p.seed = (uint64_t)seed;
        only[draw(p, l, NULL, 0)]++;
    }
    CHECK(only[1] + only[7] == 200 && only[1] > 50 && only[7] > 50);
    /* min_p = 0.9 keeps the tokens within 90% of the best probability */
    p = base();
    p.temperature = 1.0f;
    p.min_p = 0.9f;
    int mp[NV] = {0};
    for (int seed = 0; seed < 300; seed++) {
        p.seed = (uint64_t)seed;
        mp[draw(p, l, NULL, 0)]++;
    }
    CHECK(mp[1] + mp[7] + mp[5] == 300 && mp[5] > 0);
    /* repetition penalty: the repeated best token loses to the next one */
    p = base();
    p.repeat_penalty = 2.0f;
    int32_t hist[3] = {1, 7, 1};
    CHECK(draw(p, l, hist, 3) == 5);
    /* DRY: history "4 6 2 4 6" makes 2 the continuation of a repeat of
     * length 2 ("4 6"): it is penalised */
    p = base();
    float l2[NV] = {0, 0, 5.0f, 0, 0, 0, 0, 4.9f};
    int32_t rep[5] = {4, 6, 2, 4, 6};
    CHECK(draw(p, l2, rep, 5) == 2);
    p.dry_multiplier = 0.8f;
    p.dry_base = 1.75f;
    p.dry_allowed_length = 2;
    CHECK(draw(p, l2, rep, 5) == 7);
    p.dry_allowed_length = 3; /* a repeat of 2 is allowed */
    CHECK(draw(p, l2, rep, 5) == 2);
    /* Temperature 1: frequencies follow the softmax (chi-square-like bound). */
    p = base();
    p.temperature = 1.0f;
    p.seed = 7;
    sampler *s = sampler_new(&p, NV);
    int count[NV] = {0};
    enum { DRAWS = 40000 };
    for (int i = 0; i < DRAWS; i++) {
        float x[NV];
        memcpy(x, l, sizeof x);
        count[sampler_sample(s, x, NULL, 0)]++;
    }
    sampler_free(s);
    double z = 0, pr[NV];
    for (int i = 0; i < NV; i++) z += exp(l[i]);
    int off = 0;
    for (int i = 0; i < NV; i++) {
        pr[i] = exp(l[i]) / z;
        double sd = sqrt(DRAWS * pr[i] * (1 - pr[i]));
        if (fabs(count[i] - DRAWS * pr[i]) > 5 * sd + 1) off++;
    }
    CHECK_MSG(off == 0, "%d tokens drawn far from their softmax probability", off);
    /* The same seed gives the same sequence. */
    p.seed = 99;
    int32_t a[10], b[10];
    for (int r = 0; r < 2; r++) {
        sampler *t = sampler_new(&p, NV);
        for (int i = 0; i < 10; i++) {
            float x[NV];
            memcpy(x, l, sizeof x);
            (r ? b : a)[i] = sampler_sample(t, x, NULL, 0);
        }
        sampler_free(t);
    }
    CHECK(!memcmp(a, b, sizeof a));
    /* A device's numbers (sampler_device_args): the parameters, and the
     * random state advanced as sampler_sample advances it. */
    p = base();
    p.temperature = 1.0f;
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 6;
    p.dry_multiplier = 0.8f;
    p.seed = 5;
    int32_t h8[8] = {5, 3, 5, 7, -1, 3, NV, 2};
    sampler *dv = sampler_new(&p, NV), *hs = sampler_new(&p, NV);
    sample_args sa;
    for (int i = 0; i < 3; i++) {
        float x[NV];
        memcpy(x, l, sizeof x);
        sampler_device_args(dv, &sa);
        sampler_sample(hs, x, h8, 8);
    }
    CHECK(!memcmp(&sa.p, &p, sizeof p) && sa.r >= 0 && sa.r < 1);
    for (int i = 0; i < 10; i++) { /* in step after three draws each */
        float x[NV], y[NV];
        memcpy(x, l, sizeof x);
        memcpy(y, l, sizeof y);
        CHECK(sampler_sample(dv, x, NULL, 0) == sampler_sample(hs, y, NULL, 0));
    }
    sampler_free(dv);
    sampler_free(hs);
    p.temperature = 0.0f; /* greedy: no draw, the state stays */
    dv = sampler_new(&p, NV);
    sampler_device_args(dv, &sa);
    CHECK(sa.r == 0 && sa.p.temperature == 0.0f);
    sampler_free(dv);
    /* The penalties' window (what a device's history must hold): the
     * larger of the two that are on, the whole history where one says so */
    p = base();
    CHECK(sampler_window(&p, 300) == 0);
    p.repeat_penalty = 1.1f;
    p.repeat_last_n = 64;
    CHECK(sampler_window(&p, 300) == 64 && sampler_window(&p, 10) == 10);
    p.dry_multiplier = 0.8f;
    p.dry_last_n = 256;
    CHECK(sampler_window(&p, 300) == 256 && sampler_window(&p, 100) == 100);
    p.dry_last_n = 0;
    CHECK(sampler_window(&p, 300) == 300);
    p.repeat_penalty = 1.0f;
    p.dry_multiplier = NAN; /* NaN runs DRY on the host */
    p.dry_last_n = 32;
    CHECK(sampler_window(&p, 300) == 32);
    /* DRY's amount: multiplier * base^e as a product of e factors (the
     * device computes the same): "1 2 3 4 6 1 2 3 4" makes 6 the
     * continuation of a repeat of 4, 3 past an allowed length of 1; the
     * other logits stay */
    p = base();
    p.dry_multiplier = 0.8f;
    p.dry_base = 1.75f;
    p.dry_allowed_length = 1;
    {
        int32_t h9[9] = {1, 2, 3, 4, 6, 1, 2, 3, 4};
        float x[NV] = {0}, want[NV] = {0};
        sampler *t = sampler_new(&p, NV);
        sampler_sample(t, x, h9, 9);
        sampler_free(t);
        float f = 1.75f;
        f *= 1.75f;
        f *= 1.75f;
        want[6] = -(0.8f * f);
        CHECK(!memcmp(x, want, sizeof x));
    }
    test_top_k_ties();
    return test_finish();
}
