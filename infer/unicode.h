/* UTF-8 and Unicode character classes used by the tokenizers. */
#ifndef HRT_UNICODE_H
#define HRT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one code point at s[0..len). On invalid input returns 0xFFFD and
 * sets *adv to the length of the maximal invalid subsequence (Unicode's
 * "substitution of maximal subparts", the rule Python's errors='replace'
 * follows); *adv is always >= 1. */
uint32_t utf8_decode(const unsigned char *s, size_t len, size_t *adv);
/* Writes cp as UTF-8 into out (>= 4 bytes); returns the byte count. */
int utf8_encode(uint32_t cp, char *out);

/* Returns a malloc'd copy of s with each maximal invalid subsequence
 * replaced by U+FFFD; *out_len gets its length, *n_repaired the number of
 * replacements. NULL on allocation failure. */
char *utf8_repair(const char *s, size_t len, size_t *out_len, size_t *n_repaired);

enum {
    UCAT_LETTER = 1 << 0,      /* \p{L} */
    UCAT_NUMBER = 1 << 1,      /* \p{N} */
    UCAT_PUNCT = 1 << 2,       /* \p{P} */
    UCAT_SYMBOL = 1 << 3,      /* \p{S} */
    UCAT_MARK = 1 << 4,        /* \p{M} */
    UCAT_SPACE = 1 << 5,       /* White_Space (regex \s) */
    UCAT_CONTROL = 1 << 6,     /* Cc, Cf */
    UCAT_MN = 1 << 7,          /* Mn (nonspacing mark; BERT strips these) */
};

unsigned unicode_flags(uint32_t cp);

/* ---- BERT normalisation (Hugging Face BertNormalizer) --------------------
 * HF takes three classes from older Unicode data than the rest (see
 * scripts/gen-unicode.py); these flags follow HF exactly. */
enum {
    UCAT_BERT_PUNCT = 1 << 8,   /* BertPreTokenizer punctuation: ASCII 33-47,
                                   58-64, 91-96, 123-126 or P* */
    UCAT_BERT_MN = 1 << 9,      /* dropped by strip_accents */
    UCAT_BERT_CONTROL = 1 << 10 /* Cc, Cf, Co: dropped by clean_text (the
                                   caller keeps \t \n \r) */
};

/* Longest output of unicode_lower() and unicode_strip_accents(). */
#define UNICODE_MAP_MAX 4

/* Writes the full lowercase mapping of cp (Python's chr(cp).lower(), Rust's
 * char::to_lowercase) to out and returns its length (1..UNICODE_MAP_MAX). */
int unicode_lower(uint32_t cp, uint32_t *out);
/* Writes the canonical decomposition (NFD) of cp without the UCAT_BERT_MN
 * marks to out and returns its length (0 when cp is such a mark). NFD's
 * canonical reordering is not applied: it only changes the order of two
 * adjacent combining marks, and nearly all of them are dropped here. */
int unicode_strip_accents(uint32_t cp, uint32_t *out);
/* Whether cp is in the CJK ideograph blocks BERT pads with spaces. */
int unicode_is_cjk(uint32_t cp);

#endif
