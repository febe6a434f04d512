/* Token sampling: penalties, then truncation, then a draw.
 * Order as in llama.cpp's default chain: repetition penalty, DRY, top-k,
 * top-p, min-p, temperature, draw. Temperature <= 0 means greedy (argmax
 * after the penalties; ties go to the lowest id). */
#ifndef HRT_SAMPLER_H
#define HRT_SAMPLER_H

#include <stdint.h>

#include "hrt.h"

typedef struct sampler sampler;

sampler *sampler_new(const hrt_sampler_params *p, int n_vocab);
void sampler_free(sampler *s);
/* Picks the next id from logits (modified in place by the penalties).
 * history holds the ids so far (prompt and generated), oldest first. */
int32_t sampler_sample(sampler *s, float *logits, const int32_t *history, int n_history);

/* sampler_sample's numbers for a device that runs the chain on logits it
 * holds (kernels/cuda/sample.h): the distinct ids the repetition penalty
 * applies to and the draw, taken as sampler_sample would take them, so
 * that equal logits give the same id either way. DRY is not part of it. */
typedef struct {
    float temperature, top_p, min_p, repeat_penalty;
    int top_k;
    double r;                  /* in [0, 1); drawn only at a positive temperature */
    const int32_t *penalized;  /* owned by the sampler, valid until its next call */
    int n_penalized;
} sample_args;

/* Whether the chain can run on a device: DRY is off. */
int sampler_device_ok(const hrt_sampler_params *p);

/* Fills a for the token after history (oldest first), advancing the
 * random state as sampler_sample does. */
void sampler_device_args(sampler *s, const int32_t *history, int n_history, sample_args *a);

/* The argmax of n logits, lowest id on ties. */
int32_t argmax_f32(const float *x, int n);

#endif
