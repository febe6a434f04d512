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

/* The argmax of n logits, lowest id on ties. */
int32_t argmax_f32(const float *x, int n);

#endif
