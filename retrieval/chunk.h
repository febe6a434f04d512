/* The chunker: splits a document's text into passages sized in tokens of
 * the embedding model, following its structure.
 *
 * The text is cut into units: sentences (ended by . ! ? before white
 * space), lines that are Markdown headings, and paragraphs (ended by a
 * blank line). Units are packed into chunks of at most max_tokens; a
 * heading always starts a new chunk, and so does a paragraph once the
 * chunk is at least half full; a unit longer than max_tokens is cut at
 * word boundaries. Each chunk after the first repeats the last units of
 * the one before, up to overlap tokens (not across a heading). A chunk is
 * one contiguous byte range of the text, so its offsets cite it exactly. */
#ifndef HRT_CHUNK_H
#define HRT_CHUNK_H

#include <stddef.h>

/* The number of tokens in text[0..len), or a negative status. */
typedef int (*chunk_count_fn)(void *ud, const char *text, size_t len);

typedef struct {
    size_t start, end; /* byte range in the text */
    int tokens;        /* as counted unit by unit */
} chunk_span;

/* *out malloc'd (caller frees), *n its length (0 for a text of white space). */
int chunk_text(const char *text, size_t len, int max_tokens, int overlap, chunk_count_fn count, void *ud,
               chunk_span **out, size_t *n);

#endif
