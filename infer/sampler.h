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
 * holds (kernels/cuda/sample.h), the penalties included: the parameters
 * and the draw, taken as sampler_sample would take it, so that equal
 * logits and histories give the same id either way. */
typedef struct {
    hrt_sampler_params p;
    double r; /* in [0, 1); drawn only at a positive temperature */
} sample_args;

/* Fills a for the next token, advancing the random state as
 * sampler_sample does. */
void sampler_device_args(sampler *s, sample_args *a);

/* How many of the last of n ids the penalties that are on read (the
 * larger of their windows); 0 when none is on. */
int sampler_window(const hrt_sampler_params *p, int n);

/* The argmax of n logits, lowest id on ties. */
int32_t argmax_f32(const float *x, int n);

#endif
