/* Readers: files into documents for the knowledge base.
 *   .txt .text       the text as it is;
 *   .md .markdown    the text as it is (the chunker follows its headings);
 *   .html .htm       tags stripped, script and style dropped, entities
 *                    decoded, block tags turned into line breaks and h1-h6
 *                    into Markdown headings;
 *   .json            an array of objects (or one object), each a document;
 *   .jsonl           one object per line, read line by line.
 * A JSON record's text is its text field (default "text"), its source
 * "path#<id field>" (default "id"; the line or element number when
 * absent), and its other scalar fields become its metadata.
 * Text files over READ_PART_BYTES are read in parts of about that size, cut
 * at a paragraph or line break, each a document "path#part-N", so a large
 * file is streamed rather than read whole.
 * Invalid UTF-8 is replaced by U+FFFD and counted. */
#ifndef HRT_READ_H
#define HRT_READ_H

#include <stddef.h>
#include <stdint.h>

#define READ_PART_BYTES ((size_t)8 << 20)

typedef struct {
    const char *source;   /* borrowed for the call */
    const char *text;
    size_t len;
    const char *meta;     /* a JSON object */
    size_t n_repaired;    /* invalid UTF-8 sequences replaced */
} read_doc;

typedef int (*read_doc_fn)(void *ud, const read_doc *d);

typedef struct {
    const char *text_field, *id_field;
} read_opts;

/* 1 when path has a kind the readers know (by its extension). */
int read_known(const char *path);
/* Reads path, calling fn for each document (none for an empty file).
 * Returns 0; HRT_E_UNSUPPORTED for a binary file or an unknown kind (the
 * caller skips it with a warning); HRT_E_IO when it cannot be read;
 * HRT_E_FORMAT for malformed JSON (naming the line); or fn's status. */
int read_file(const char *path, const read_opts *o, read_doc_fn fn, void *ud);

/* HTML to text, as described above. *out malloc'd. For tests. */
char *read_html_text(const char *html, size_t len, size_t *out_len);

#endif
