/* The controller's query features: cheap counts over the query's text
 * (microseconds, no model), the inputs of the routing score beside the
 * query's embedding and the retrieval features, and what --explain
 * prints. Words are ASCII-lowercased runs of letters, digits and
 * apostrophes; other UTF-8 letters count as word characters too. */
#ifndef HRT_AGENT_QUERY_FEATURES_H
#define HRT_AGENT_QUERY_FEATURES_H

#include <stddef.h>

enum {
    QF_BYTES,     /* length in bytes */
    QF_WORDS,     /* words */
    QF_SENTENCES, /* runs of text ended by . ! ? or the end */
    QF_QUESTIONS, /* question marks */
    QF_CLAUSES,   /* commas, semicolons, colons and joining words (and, but, because, then, if, ...) */
    QF_NUMBERS,   /* runs of digits (1,250.5 is one) */
    QF_MATH,      /* arithmetic signs between or after numbers, and words such as total, percent, per */
    QF_CODE,      /* code marks: braces, brackets, backticks, ->, ==, ;, and identifiers with _ */
    QF_CUES,      /* reasoning cues: why, explain, compare, calculate, step, difference, how many, ... */
    QF_COUNT
};

typedef struct {
    float v[QF_COUNT];
} query_features;

/* Features of text (UTF-8, len bytes). */
void query_features_compute(const char *text, size_t len, query_features *out);
/* The name of feature i (QF_*), for --explain and the router file. */
const char *query_feature_name(int i);

#endif
