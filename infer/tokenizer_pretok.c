/* Pre-tokenizers: text (as code points) to words.
 *
 * The byte-level BPE families split text with a regular expression. hrt has
 * no regex engine; each expression below is matched by hand, alternative by
 * alternative in the expression's order, reproducing what a backtracking
 * engine (Oniguruma, which Hugging Face tokenizers uses) returns, the way
 * llama.cpp's unicode.cpp does for its common expressions.
 *
 * GPT-2 ("gpt2"; "smollm" first isolates every \p{N} code point, as HF's
 * Digits(individual_digits=true) does, then applies it to each piece):
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Llama 3 ("llama3"; "qwen2" is the same with \p{N} for \p{N}{1,3}):
 *     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *      ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *
 * Each matcher returns the end of the word starting at i; a word is never
 * empty, and every code point falls in some alternative, so the words tile
 * the input. Matching is linear: each alternative scans forward once. */
#include "tokenizer.h"

#include <string.h>

#include "unicode.h"

int tokenizer_pre_kind(const char *pre)
{
    static const struct {
        const char *name;
        int kind;
    } names[] = {
        {"gpt2", PRE_GPT2},       {"gpt-2", PRE_GPT2},
        {"starcoder", PRE_GPT2},  {"olmo", PRE_GPT2},
        {"smollm", PRE_SMOLLM},   {"llama3", PRE_LLAMA3},
        {"llama-bpe", PRE_LLAMA3}, {"dbrx", PRE_LLAMA3},
        {"smaug-bpe", PRE_LLAMA3}, {"qwen2", PRE_QWEN2},
        {"deepseek-r1-qwen", PRE_QWEN2}, {"megrez", PRE_QWEN2},
    };
    if (!pre) return PRE_GPT2;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(pre, names[i].name) == 0) return names[i].kind;
    return -1;
}

/* Case folding for the (?i:...) contractions: ASCII, plus U+017F LONG S,
 * whose simple case folding is 's' (Oniguruma applies it). */
static uint32_t fold(uint32_t c, int icase)
{
    if (!icase) return c;
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c == 0x17F) return 's';
    return c;
}

/* 's|'t|'re|'ve|'m|'ll|'d at i: the match length, or 0. */
static size_t match_contraction(const uint32_t *cp, size_t i, size_t n, int icase)
{
    if (cp[i] != '\'' || i + 1 >= n) return 0;
    uint32_t a = fold(cp[i + 1], icase);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 >= n) return 0;
    uint32_t b = fold(cp[i + 2], icase);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

static size_t skip_class(const uint16_t *fl, size_t j, size_t n, unsigned mask)
{
    while (j < n && (fl[j] & mask)) j++;
    return j;
}

/* [^\s\p{L}\p{N}]+ from j. */
static size_t skip_other(const uint16_t *fl, size_t j, size_t n)
{
    while (j < n && !(fl[j] & (UCAT_SPACE | UCAT_LETTER | UCAT_NUMBER))) j++;
    return j;
}

/* \s+(?!\S)|\s+ at i, where cp[i] is white space: the greedy run, less its
 * last code point when a non-space follows (the lookahead backtracks one). */
static size_t match_space_run(const uint16_t *fl, size_t i, size_t n)
{
    size_t k = skip_class(fl, i, n, UCAT_SPACE);
    if (k == n || k - i < 2) return k;
    return k - 1;
}

static size_t gpt2_next(const uint32_t *cp, const uint16_t *fl, size_t i, size_t n)
{
    size_t k = match_contraction(cp, i, n, 0);
    if (k) return i + k;
    /* " ?" takes only U+0020, and only when something follows it. */
    size_t j = i + (cp[i] == ' ' && i + 1 < n);
    unsigned f = fl[j];
    if (f & UCAT_LETTER) return skip_class(fl, j, n, UCAT_LETTER);
    if (f & UCAT_NUMBER) return skip_class(fl, j, n, UCAT_NUMBER);
    if (!(f & UCAT_SPACE)) return skip_other(fl, j, n);
    return match_space_run(fl, i, n);
}

static int is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

static size_t llama3_next(const uint32_t *cp, const uint16_t *fl, size_t i, size_t n,
                          size_t max_digits)
{
    size_t k = match_contraction(cp, i, n, 1);
    if (k) return i + k;
    unsigned f = fl[i];
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (f & UCAT_LETTER) return skip_class(fl, i, n, UCAT_LETTER);
    if (!(f & UCAT_NUMBER) && !is_crlf(cp[i]) && i + 1 < n && (fl[i + 1] & UCAT_LETTER))
        return skip_class(fl, i + 1, n, UCAT_LETTER);
    /* \p{N}{1,3} */
    if (f & UCAT_NUMBER) {
        size_t j = i;
        while (j < n && j - i < max_digits && (fl[j] & UCAT_NUMBER)) j++;
        return j;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t j = i + (cp[i] == ' ' && i + 1 < n);
    if (!(fl[j] & UCAT_SPACE)) {
        j = skip_other(fl, j, n);
        while (j < n && is_crlf(cp[j])) j++;
        return j;
    }
    /* \s*[\r\n]+ : the run up to its last CR or LF, if it has one. */
    size_t end = i, last_nl = 0;
    int has_nl = 0;
    while (end < n && (fl[end] & UCAT_SPACE)) {
        if (is_crlf(cp[end])) {
            last_nl = end;
            has_nl = 1;
        }
        end++;
    }
    if (has_nl) return last_nl + 1;
    return match_space_run(fl, i, n);
}

/* Applies one expression to cp[0..n), appending word ends (offset by base)
 * to ends; returns the new count. */
static size_t split_run(int kind, const uint32_t *cp, const uint16_t *fl, size_t n,
                        uint32_t base, uint32_t *ends, size_t count)
{
    size_t i = 0;
    while (i < n) {
        size_t e;
        if (kind == PRE_LLAMA3)
            e = llama3_next(cp, fl, i, n, 3);
        else if (kind == PRE_QWEN2)
            e = llama3_next(cp, fl, i, n, 1);
        else
            e = gpt2_next(cp, fl, i, n);
        ends[count++] = base + (uint32_t)e;
        i = e;
    }
    return count;
}

size_t tokenizer_pre_split(int kind, const uint32_t *cp, const uint16_t *fl, size_t n,
                           uint32_t *ends)
{
    if (kind != PRE_SMOLLM) return split_run(kind, cp, fl, n, 0, ends, 0);
    /* Digits(individual_digits=true) first: each number code point is a
     * word, and the expression sees the pieces between them separately
     * (its lookahead stops at a piece's end). */
    size_t count = 0, i = 0;
    while (i < n) {
        if (fl[i] & UCAT_NUMBER) {
            ends[count++] = (uint32_t)++i;
            continue;
        }
        size_t j = i;
        while (j < n && !(fl[j] & UCAT_NUMBER)) j++;
        count = split_run(PRE_GPT2, cp + i, fl + i, j - i, (uint32_t)i, ends, count);
        i = j;
    }
    return count;
}

/* ---- BERT ---------------------------------------------------------------- */

_Static_assert(BERT_NORM_MAX >= 2 + UNICODE_MAP_MAX * UNICODE_MAP_MAX, "BERT_NORM_MAX too small");

int tokenizer_bert_normalize(unsigned flags, uint32_t cp, uint32_t *out)
{
    unsigned f = unicode_flags(cp);
    if (flags & BERT_CLEAN) {
        /* clean_text: drop NUL, U+FFFD and "other" characters except the
         * three ASCII controls that are white space; all white space
         * becomes a plain space. */
        if (cp == 0 || cp == 0xFFFD) return 0;
        if ((f & UCAT_BERT_CONTROL) && cp != '\t' && cp != '\n' && cp != '\r') return 0;
        if (f & UCAT_SPACE) cp = ' ';
    }
    int n = 0;
    int pad = (flags & BERT_CHINESE) && unicode_is_cjk(cp);
    if (pad) out[n++] = ' ';
    uint32_t stripped[UNICODE_MAP_MAX];
    int ns = 1;
    stripped[0] = cp;
    if (flags & BERT_STRIP) ns = unicode_strip_accents(cp, stripped);
    for (int k = 0; k < ns; k++) {
        if (flags & BERT_LOWER)
            n += unicode_lower(stripped[k], out + n);
        else
            out[n++] = stripped[k];
    }
    if (pad) out[n++] = ' ';
    return n;
}
