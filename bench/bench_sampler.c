/* bench_sampler — the host sampler's time a token (infer/sampler.c), what a
 * CPU session (and a CUDA one with HRT_DEVICE_SAMPLING=0) pays on top of
 * each step when it samples: the defaults (top-k 40, top-p 0.95, min-p
 * 0.05) with a repetition penalty of 1.1 over 64 ids, at temperature 0.8,
 * for SmolLM2's and Qwen2.5's vocabularies; beside it, in the same run, the
 * same chain without top-k, which sorts every logit (what each draw cost
 * before top-k selected with a heap). Median of 31 draws on fresh copies
 * of uniform logits in [-12, 12). */
#include <stdio.h>
#include <string.h>

#include "bench_util.h"
#include "sampler.h"

/* Median ms of one sampler_sample over reps draws. */
static double time_draws(const hrt_sampler_params *p, const float *l, float *x, int V, const int32_t *h, int nh,
                         int reps)
{
    sampler *s = sampler_new(p, V);
    if (!s) return -1;
    double t[64];
    for (int r = 0; r < reps; r++) {
        memcpy(x, l, (size_t)V * sizeof *x);
        double a = now_s();
        sampler_sample(s, x, h, nh);
        t[r] = (now_s() - a) * 1e3;
    }
    sampler_free(s);
    return median(t, reps);
}

int main(void)
{
    static const int vocabs[] = {49152, 151936};
    enum { REPS = 31, NH = 64 };
    int32_t h[NH];
    printf("| vocabulary | top-k 40 (heap) | no top-k (all sorted) | ratio |\n|---|---|---|---|\n");
    for (int v = 0; v < 2; v++) {
        const int V = vocabs[v];
        float *l = malloc((size_t)V * sizeof *l), *x = malloc((size_t)V * sizeof *x);
        if (!l || !x) return 1;
        for (int i = 0; i < V; i++) l[i] = (float)(bench_rng() >> 40) / (float)(1 << 24) * 24.0f - 12.0f;
        for (int i = 0; i < NH; i++) h[i] = (int32_t)(bench_rng() % (uint64_t)V);
        hrt_sampler_params p = hrt_sampler_default_params();
        p.temperature = 0.8f;
        p.repeat_penalty = 1.1f;
        double tk = time_draws(&p, l, x, V, h, NH, REPS);
        p.top_k = 0;
        double ta = time_draws(&p, l, x, V, h, NH, REPS);
        if (tk < 0 || ta < 0) return 1;
        printf("| %d | %.3f ms | %.3f ms | %.1fx |\n", V, tk, ta, ta / tk);
        free(l);
        free(x);
    }
    return 0;
}
