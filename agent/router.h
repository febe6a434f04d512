/* The controller's learned router: a logistic regression over a query's
 * embedding and its query features (log1p of each, see query_features.h),
 * each input standardised by the training set's mean and deviation. Its
 * output is the probability that the query needs the full path.
 *
 * A router file is JSON (format 1): the embedding model it was trained
 * with, the input names, means, deviations, weights and bias, and the
 * scores of the training queries at each percentile, so that a target
 * share of full-path queries maps to a threshold (as RouteLLM calibrates
 * its routers). hrt_router_train (hrt.h) writes it. */
#ifndef HRT_AGENT_ROUTER_H
#define HRT_AGENT_ROUTER_H

#include <stddef.h>

#include "query_features.h"

#define ROUTER_FORMAT 1

typedef struct router router;

/* Reads a router file. HRT_E_IO (unreadable), HRT_E_FORMAT (malformed,
 * a newer format, or inconsistent sizes; the message names the field). */
int router_load(const char *path, router **out);
void router_free(router *r);

/* The embedding dimension it expects and the embedding model's name. */
int router_dim(const router *r);
const char *router_embedding_model(const router *r);
/* The threshold on the score that sends that share of the training queries
 * to the full path (interpolated between percentiles), and the one stored
 * as its default. */
float router_threshold_for_share(const router *r, float share);
float router_default_threshold(const router *r);

/* How a score came about, for --explain: the logit's parts. */
typedef struct {
    float embedding;          /* the embedding's weights' total */
    float feature[QF_COUNT];  /* each query feature's */
    float bias;
} router_parts;

/* The probability that the query needs the full path. parts optional. */
float router_score(const router *r, const float *embedding, const query_features *qf, router_parts *parts);

#endif
