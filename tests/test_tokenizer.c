/* Tokenizer tests: UTF-8 repair, Unicode classes, and golden ids from
 * Hugging Face tokenizers (tests/golden/make_tokenizer_golden.py) for every
 * string of tests/golden/tokenizer_corpus.hex:
 *   - SmolLM2's byte-level BPE built with tokenizer_create() from the GGUF's
 *     own metadata arrays, read here by a small GGUF reader so that the test
 *     does not depend on infer/gguf.c; also the same vocabulary behind the
 *     gpt2, llama3 and qwen2 pre-tokenizers;
 *   - all-MiniLM-L6-v2's WordPiece from tokenizer.json and from vocab.txt;
 *   - Gemma 3's SPM vocabulary (loaded with its model), against llama.cpp's
 *     ids (tests/golden/make_tokenizer_gemma_golden.py), and a small
 *     synthetic SPM vocabulary for the rules one by one;
 *   - two small committed BPE tokenizer.json files.
 * Model-free checks run first; without models/ the test then skips. */
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "model.h"
#include "test.h"
#include "tokenizer.h"
#include "unicode.h"

#define GOLDEN HRT_SOURCE_DIR "/tests/golden/"

/* ---- small helpers ---------------------------------------------------------------- */

typedef struct {
    unsigned char *data;
    size_t len;
} bytes;

typedef struct {
    bytes *items;
    size_t n;
} lines;

static void lines_free(lines *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->items[i].data);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* Splits a file into lines (without the '\n'). */
static int read_lines(const char *path, lines *out)
{
    size_t len;
    char *text = test_read_file(path, &len);
    if (!text) return -1;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += text[i] == '\n';
    out->items = calloc(n + 1, sizeof *out->items);
    out->n = 0;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\n') continue;
        bytes *b = &out->items[out->n++];
        b->len = i - start;
        b->data = malloc(b->len + 1);
        memcpy(b->data, text + start, b->len);
        b->data[b->len] = 0;
        start = i + 1;
    }
    free(text);
    return 0;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes hex lines in place. */
static void unhex_lines(lines *l)
{
    for (size_t i = 0; i < l->n; i++) {
        bytes *b = &l->items[i];
        for (size_t k = 0; k + 1 < b->len + 1 && 2 * k + 1 < b->len; k++)
            b->data[k] = (unsigned char)(hexval(b->data[2 * k]) << 4 | hexval(b->data[2 * k + 1]));
        b->len /= 2;
    }
}

/* Parses "1 2 3" into ids (caller frees); returns the count. */
static size_t parse_ids(const bytes *line, int32_t **ids)
{
    size_t n = 0;
    *ids = malloc((line->len / 2 + 1) * sizeof **ids);
    const char *p = (const char *)line->data;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        (*ids)[n++] = (int32_t)v;
        p = end;
    }
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    fprintf(stderr, "  %s (%zu):", label, n);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

static void print_text(const bytes *b)
{
    fprintf(stderr, "  text (%zu bytes): \"", b->len);
    for (size_t i = 0; i < b->len && i < 120; i++) {
        unsigned char c = b->data[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, b->len > 120 ? "\"...\n" : "\"\n");
}

/* ---- UTF-8 and Unicode -------------------------------------------------------------- */

/* Expected results are Python's bytes.decode('utf-8', 'replace'). */
static void test_utf8_repair_cases(void)
{
    static const struct {
        const char *in;
        size_t in_len;
        const char *out;
        size_t out_len;
        size_t n_bad;
    } cases[] = {
        {"", 0, "", 0, 0}, /* empty */
        {"\x61\x62\x63", 3, "\x61\x62\x63", 3, 0}, /* ascii */
        {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6, 2}, /* overlong 2-byte: C0, C1 never valid */
        {"\xc1\xbf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6, 2}, /* overlong 2-byte */
        {"\xe0\x80\xaf", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, 3}, /* overlong 3-byte: E0 needs A0..BF */
        {"\xe0\x9f\xbf", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, 3}, /* overlong 3-byte max */
        {"\xf0\x80\x80\xaf", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12, 4}, /* overlong 4-byte */
        {"\xf0\x8f\xbf\xbf", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12, 4}, /* overlong 4-byte max */
        {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, 3}, /* surrogate D800: ED needs 80..9F */
        {"\xed\xbf\xbf", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, 3}, /* surrogate DFFF */
        {"\xed\xa0\xbd\xed\xb8\x80", 6,
         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 18, 6}, /* CESU-8 pair */
        {"\xed\x9f\xbf", 3, "\xed\x9f\xbf", 3, 0}, /* U+D7FF, valid */
        {"\xee\x80\x80", 3, "\xee\x80\x80", 3, 0}, /* U+E000, valid */
        {"\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf", 4, 0}, /* U+10FFFF, valid */
        {"\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12, 4}, /* > U+10FFFF */
        {"\xf5\x80\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12, 4}, /* F5 lead */
        {"\xf8\x88\x80\x80\x80", 5, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 15, 5}, /* 5-byte */
        {"\xfc\x84\x80\x80\x80\x80", 6,
         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 18, 6}, /* 6-byte form */
        {"\xfe\xff", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6, 2}, /* FE FF */
        {"\xe2\x82", 2, "\xef\xbf\xbd", 3, 1}, /* truncated euro at end */
        {"\xe2\x82\x61", 3, "\xef\xbf\xbd\x61", 4, 1}, /* truncated euro then ASCII */
        {"\xf0\x9f\x98", 3, "\xef\xbf\xbd", 3, 1}, /* truncated emoji */
        {"\xf0\x9f\x98\xf0\x9f\x98\x80", 7, "\xef\xbf\xbd\xf0\x9f\x98\x80", 7, 1}, /* truncated, then whole */
        {"\xc3", 1, "\xef\xbf\xbd", 3, 1}, /* lone lead at end */
        {"\xc3\x28", 2, "\xef\xbf\xbd\x28", 4, 1}, /* lead then ASCII */
        {"\x80", 1, "\xef\xbf\xbd", 3, 1}, /* lone continuation */
        {"\x80\x80\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, 3}, /* continuation run: one each */
        {"\xe2\x28\xa1", 3, "\xef\xbf\xbd\x28\xef\xbf\xbd", 7, 2}, /* E2, ASCII, continuation */
        {"\xf0\x28\x8c\xbc", 4, "\xef\xbf\xbd\x28\xef\xbf\xbd\xef\xbf\xbd", 10, 3}, /* F0 then ASCII */
        {"\xf0\x90\x28\xbc", 4, "\xef\xbf\xbd\x28\xef\xbf\xbd", 7, 2}, /* F0 90 then ASCII */
        {"\xef\xbf\xbd", 3, "\xef\xbf\xbd", 3, 0}, /* U+FFFD itself, valid */
        {"\xef\xbf", 2, "\xef\xbf\xbd", 3, 1}, /* truncated U+FFFD */
        {"\x61\xff\x62\xfe\x63", 5, "\x61\xef\xbf\xbd\x62\xef\xbf\xbd\x63", 9, 2}, /* FF, FE in text */
        {"\xe0\xa0", 2, "\xef\xbf\xbd", 3, 1}, /* truncated U+0800 */
        {"\xf4\x80", 2, "\xef\xbf\xbd", 3, 1}, /* truncated F4 */
        {"\xed\x80", 2, "\xef\xbf\xbd", 3, 1}, /* truncated ED */
        {"\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64", 13,
         "\x61\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\x62\xef\xbf\xbd\x63\xef\xbf\xbd\xef\xbf\xbd\x64", 22,
         6}, /* Unicode's example, Table 3-8 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t out_len = 0, n_bad = 99;
        char *out = utf8_repair(cases[i].in, cases[i].in_len, &out_len, &n_bad);
        CHECK_MSG(out && out_len == cases[i].out_len && memcmp(out, cases[i].out, out_len) == 0 &&
                      n_bad == cases[i].n_bad,
                  "utf8_repair case %zu: got %zu bytes, %zu repairs", i, out_len, n_bad);
        free(out);
    }
}

static void test_utf8_codec(void)
{
    /* Every scalar value encodes and decodes back, with the right length. */
    int bad = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        char buf[4];
        int n = utf8_encode(cp, buf);
        size_t adv;
        uint32_t back = utf8_decode((const unsigned char *)buf, (size_t)n, &adv);
        int want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (back != cp || adv != (size_t)n || n != want) bad++;
    }
    CHECK_MSG(bad == 0, "%d code points fail to round-trip through UTF-8", bad);
    size_t adv = 0;
    CHECK(utf8_decode((const unsigned char *)"\xf0\x9f\x98", 3, &adv) == 0xFFFD && adv == 3);
    CHECK(utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 2, &adv) == 0xFFFD && adv == 2);
    CHECK(utf8_decode((const unsigned char *)"\xc0\x80", 2, &adv) == 0xFFFD && adv == 1);
    CHECK(utf8_decode((const unsigned char *)"\xed\xa0\x80", 3, &adv) == 0xFFFD && adv == 1);
}

static void test_unicode_classes(void)
{
    CHECK(unicode_flags('a') & UCAT_LETTER);
    CHECK(unicode_flags('7') & UCAT_NUMBER);
    CHECK(unicode_flags('!') & UCAT_PUNCT);
    CHECK(unicode_flags('$') & UCAT_SYMBOL);
    CHECK(unicode_flags(' ') == (UCAT_SPACE));
    CHECK(unicode_flags('\t') & UCAT_SPACE);
    CHECK(unicode_flags('\t') & UCAT_CONTROL);
    CHECK(unicode_flags(0x85) & UCAT_SPACE);
    CHECK(unicode_flags(0xA0) & UCAT_SPACE);
    CHECK(unicode_flags(0x3000) & UCAT_SPACE);
    CHECK(unicode_flags(0x202F) & UCAT_SPACE);
    CHECK(!(unicode_flags(0x200B) & UCAT_SPACE)); /* ZWSP is Cf, not White_Space */
    CHECK(unicode_flags(0x200B) & UCAT_CONTROL);
    CHECK(!(unicode_flags(0x1C) & UCAT_SPACE));   /* Python's isspace() says yes; PropList no */
    CHECK(unicode_flags(0x4E2D) & UCAT_LETTER);   /* 中 */
    CHECK(unicode_flags(0xAC00) & UCAT_LETTER);   /* 가 */
    CHECK(unicode_flags(0x0301) & UCAT_MN);
    CHECK(unicode_flags(0x0301) & UCAT_MARK);
    CHECK(unicode_flags(0x0903) & UCAT_MARK);     /* Mc */
    CHECK(!(unicode_flags(0x0903) & UCAT_MN));
    CHECK(unicode_flags(0x2166) & UCAT_NUMBER);   /* Ⅶ Nl */
    CHECK(unicode_flags(0x00BD) & UCAT_NUMBER);   /* ½ No */
    CHECK(unicode_flags(0x1F600) & UCAT_SYMBOL);
    CHECK(unicode_flags(0x1D400) & UCAT_LETTER);  /* 𝐀 */
    CHECK(unicode_flags(0x0378) == 0);            /* unassigned */
    CHECK(unicode_flags(0x110000) == 0);
    CHECK(unicode_flags('$') & UCAT_BERT_PUNCT);  /* ASCII symbols are BERT punctuation */
    CHECK(!(unicode_flags(0x20AC) & UCAT_BERT_PUNCT)); /* € is not */
    CHECK(unicode_flags(0x2E3B) & UCAT_BERT_PUNCT);
    CHECK(!(unicode_flags(0x2E43) & UCAT_BERT_PUNCT)); /* newer than HF's tables */
    CHECK(unicode_flags(0xE000) & UCAT_BERT_CONTROL);  /* Co */
    CHECK(unicode_is_cjk(0x4E2D) && unicode_is_cjk(0xF900) && unicode_is_cjk(0x20000));
    CHECK(!unicode_is_cjk(0x3042) && !unicode_is_cjk(0xAC00));

    uint32_t out[UNICODE_MAP_MAX];
    CHECK(unicode_lower('A', out) == 1 && out[0] == 'a');
    CHECK(unicode_lower(0x130, out) == 2 && out[0] == 'i' && out[1] == 0x307); /* İ */
    CHECK(unicode_lower(0x1E9E, out) == 1 && out[0] == 0xDF);                 /* ẞ -> ß */
    CHECK(unicode_lower(0x10400, out) == 1 && out[0] == 0x10428);             /* Deseret */
    CHECK(unicode_lower(0x03A3, out) == 1 && out[0] == 0x03C3);               /* Σ -> σ */
    CHECK(unicode_strip_accents(0xE9, out) == 1 && out[0] == 'e');            /* é */
    CHECK(unicode_strip_accents(0x1E69, out) == 1 && out[0] == 's');          /* ṩ */
    CHECK(unicode_strip_accents(0x301, out) == 0);
    CHECK(unicode_strip_accents(0xD55C, out) == 3 && out[0] == 0x1112 && out[1] == 0x1161 && out[2] == 0x11AB);
    CHECK(unicode_strip_accents(0xF900, out) == 1 && out[0] == 0x8C48);       /* CJK compatibility */
}

/* ignore_merges and byte_unk on a toy vocabulary where they matter: "abc"
 * is a token, but the merges only reach "a" + "bc". Expected ids are HF
 * tokenizers' for the same BPE model. */
/* encode(text) with the given flags equals want[0..nw). */
static void check_ids(const tokenizer *tok, const char *text, int add_special, const int32_t *want, size_t nw)
{
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    CHECK_STATUS(tokenizer_encode(tok, text, strlen(text), add_special, 1, &ids, &n, &cap), 0);
    int same = n == nw && (n == 0 || !memcmp(ids, want, n * sizeof *ids));
    CHECK_MSG(same, "'%s': %zu ids, want %zu", text, n, nw);
    if (!same) {
        print_ids("want", want, nw);
        print_ids("got ", ids, n);
    }
    free(ids);
}

/* SPM rules one at a time on a vocabulary made for it: spaces become
 * U+2581, the highest-scoring pair merges first (the leftmost among equal
 * scores), characters without a token fall back to <0xXX> tokens, bytes
 * without one to the unknown token, the space prefix goes before the text
 * and after each added token, and decoding reverses it all. */
static void test_spm_rules(void)
{
    const char *toks[] = {"<unk>", "<s>", "<0x61>", "<0xC3>", "\xE2\x96\x81", "b", "c", "bc", "\xE2\x96\x81" "b",
                          "\xE2\x96\x81" "bc", "cb", "<ctl>", "x", "y", "z", "xy", "yz", "q", "r", "s", "qr", "rs"};
    float scores[] = {0, 0, 0, 0, -1, -1, -1, -2, -3, -4, -2, 0, -1, -1, -1, -5, -5, -1, -1, -1, -6, -2};
    int32_t types[] = {TOKEN_TYPE_CONTROL, TOKEN_TYPE_CONTROL, TOKEN_TYPE_BYTE, TOKEN_TYPE_BYTE, 1, 1, 1, 1, 1,
                       1, 1, TOKEN_TYPE_CONTROL, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    tokenizer_spec spec = {.type = TOKENIZER_SPM, .n_vocab = 22, .tokens = toks, .token_types = types,
                           .scores = scores, .bos_id = 1, .eos_id = -1, .unk_id = 0, .sep_id = -1,
                           .pad_id = -1, .cls_id = -1, .add_bos = 1};
    tokenizer *tok = NULL;
    CHECK_STATUS(tokenizer_create(&spec, &tok), 0);
    if (!tok) return;
    /* "bc▁b": bc (-2) merges first, then ▁b (-3) */
    check_ids(tok, "bc b", 0, (const int32_t[]){7, 8}, 2);
    /* bc (-2) and cb (-2) tie on "bcb": the leftmost pair merges */
    check_ids(tok, "bcb", 0, (const int32_t[]){7, 5}, 2);
    /* xy and yz tie (-5) on "xyz": the leftmost wins */
    check_ids(tok, "xyz", 0, (const int32_t[]){15, 14}, 2);
    /* on "qrs", rs (-2) beats qr (-6) although qr is further left */
    check_ids(tok, "qrs", 0, (const int32_t[]){17, 21}, 2);
    /* 'a' has a byte token; "é" = C3 A9 has one byte token and one unknown */
    check_ids(tok, "a\xC3\xA9", 0, (const int32_t[]){2, 3, 0}, 3);
    /* BOS with add_special; the control token only as written */
    check_ids(tok, "b<ctl>b", 1, (const int32_t[]){1, 5, 11, 5}, 4);
    char out[64];
    int n = tokenizer_decode(tok, (const int32_t[]){7, 8, 2}, 3, out, sizeof out);
    CHECK(n == 5 && !memcmp(out, "bc ba", 5));
    tokenizer_free(tok);

    spec.add_space_prefix = 1;
    CHECK_STATUS(tokenizer_create(&spec, &tok), 0);
    if (!tok) return;
    check_ids(tok, "bc", 0, (const int32_t[]){9}, 1);
    check_ids(tok, "bc<ctl>b", 0, (const int32_t[]){9, 11, 8}, 3);
    tokenizer_free(tok);
}

static void test_bpe_options(void)
{
    const char *vocab[] = {"a", "b", "c", "bc", "abc", "<unk>"};
    const char *merges[] = {"b c"};
    tokenizer_spec spec = {
        .type = TOKENIZER_BPE, .n_vocab = 6, .tokens = vocab, .n_merges = 1, .merges = merges,
        .pre = "llama3", .bos_id = -1, .eos_id = -1, .unk_id = 5, .sep_id = -1, .pad_id = -1, .cls_id = -1,
    };
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    tokenizer *tok = NULL;
    CHECK_STATUS(tokenizer_create(&spec, &tok), 0); /* llama3: ignore_merges by default */
    if (tok) {
        CHECK_STATUS(tokenizer_encode(tok, "abc", 3, 0, 0, &ids, &n, &cap), 0);
        CHECK(n == 1 && ids[0] == 4);
        n = 0;
        CHECK_STATUS(tokenizer_encode(tok, "abxc", 4, 0, 0, &ids, &n, &cap), 0);
        CHECK(n == 2 && ids[0] == 0 && ids[1] == 3); /* 'x' has no token: dropped, then "bc" */
        tokenizer_free(tok);
    }
    tokenizer_options opt;
    spec.pre = "qwen2";
    tokenizer_default_options(&spec, &opt);
    CHECK(opt.ignore_merges == 0 && opt.byte_unk == 0);
    opt.byte_unk = 1;
    CHECK_STATUS(tokenizer_create_ex(&spec, &opt, &tok), 0);
    if (tok) {
        n = 0;
        CHECK_STATUS(tokenizer_encode(tok, "abc", 3, 0, 0, &ids, &n, &cap), 0);
        CHECK(n == 2 && ids[0] == 0 && ids[1] == 3);
        n = 0;
        CHECK_STATUS(tokenizer_encode(tok, "xbc", 3, 0, 0, &ids, &n, &cap), 0);
        CHECK(n == 2 && ids[0] == 5 && ids[1] == 3); /* byte_unk: 'x' becomes <unk> */
        n = 0;
        CHECK_STATUS(tokenizer_encode(tok, "abxc", 4, 0, 0, &ids, &n, &cap), 0);
        CHECK(n == 4 && ids[0] == 0 && ids[1] == 1 && ids[2] == 5 && ids[3] == 2);
        tokenizer_free(tok);
    }
    free(ids);
}

/* ---- golden comparisons ----------------------------------------------------------- */

/* Encodes every corpus line (every `every`-th) and compares with a golden
 * file; returns the number of matching lines. */
static size_t compare_golden(const char *label, const tokenizer *tok, const lines *corpus,
                             const char *golden_name, size_t every, int add_special)
{
    char path[1024];
    snprintf(path, sizeof path, GOLDEN "%s", golden_name);
    lines gold = {0};
    if (read_lines(path, &gold) != 0) {
        CHECK_MSG(0, "%s: cannot read %s", label, path);
        return 0;
    }
    size_t want_lines = (corpus->n + every - 1) / every;
    CHECK_MSG(gold.n == want_lines, "%s: %s has %zu lines, want %zu", label, golden_name, gold.n, want_lines);
    size_t ok = 0, shown = 0;
    int32_t *ids = NULL;
    size_t cap = 0;
    for (size_t g = 0; g < gold.n && g * every < corpus->n; g++) {
        const bytes *text = &corpus->items[g * every];
        size_t n = 0;
        int st = tokenizer_encode(tok, (const char *)text->data, text->len, add_special, 1, &ids, &n, &cap);
        int32_t *want;
        size_t nw = parse_ids(&gold.items[g], &want);
        if (st == 0 && n == nw && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0)) {
            ok++;
        } else if (shown++ < 5) {
            fprintf(stderr, "%s: corpus line %zu differs (status %d)\n", label, g * every + 1, st);
            print_text(text);
            print_ids("want", want, nw);
            print_ids("got ", ids, n);
        }
        free(want);
    }
    free(ids);
    CHECK_MSG(ok == gold.n, "%s: %zu of %zu corpus strings differ", label, gold.n - ok, gold.n);
    printf("%-28s %zu/%zu strings match\n", label, ok, gold.n);
    lines_free(&gold);
    return ok;
}

/* utf8_repair() on every corpus line against Python's decode('utf-8', 'replace'). */
static void test_repair_golden(const lines *corpus)
{
    lines gold = {0};
    if (read_lines(GOLDEN "tokenizer_repair.golden", &gold) != 0) {
        CHECK_MSG(0, "cannot read tokenizer_repair.golden");
        return;
    }
    CHECK(gold.n == corpus->n);
    size_t ok = 0, invalid = 0;
    for (size_t i = 0; i < gold.n && i < corpus->n; i++) {
        const bytes *in = &corpus->items[i];
        size_t out_len, n_bad;
        char *out = utf8_repair((const char *)in->data, in->len, &out_len, &n_bad);
        int same = gold.items[i].len == 1 && gold.items[i].data[0] == '=';
        if (same) {
            ok += out_len == in->len && memcmp(out, in->data, in->len) == 0 && n_bad == 0;
        } else {
            lines one = {&gold.items[i], 1};
            unhex_lines(&one);
            invalid++;
            ok += out_len == gold.items[i].len && memcmp(out, gold.items[i].data, out_len) == 0 && n_bad > 0;
        }
        free(out);
    }
    CHECK_MSG(ok == gold.n, "utf8_repair: %zu of %zu corpus strings differ from Python", gold.n - ok, gold.n);
    printf("%-28s %zu/%zu strings match (%zu invalid UTF-8)\n", "utf8_repair", ok, gold.n, invalid);
    lines_free(&gold);
}

/* The pre-tokenizers against HF's on every corpus line: word lengths in
 * code points, coded as make_tokenizer_golden.py's length_code(). */
static void test_split_golden(const char *name, const lines *corpus)
{
    char path[1024];
    snprintf(path, sizeof path, GOLDEN "tokenizer_split_%s.golden", name);
    lines gold = {0};
    if (read_lines(path, &gold) != 0) {
        CHECK_MSG(0, "cannot read %s", path);
        return;
    }
    CHECK(gold.n == corpus->n);
    int kind = tokenizer_pre_kind(name);
    size_t ok = 0, shown = 0, words = 0;
    for (size_t i = 0; i < gold.n && i < corpus->n; i++) {
        size_t rlen;
        char *text = utf8_repair((const char *)corpus->items[i].data, corpus->items[i].len, &rlen, NULL);
        uint32_t *cp = malloc((rlen + 1) * sizeof *cp), *ends = malloc((rlen + 1) * sizeof *ends);
        uint16_t *fl = malloc((rlen + 1) * sizeof *fl);
        size_t n = 0, adv;
        for (size_t k = 0; k < rlen; k += adv, n++) {
            cp[n] = utf8_decode((const unsigned char *)text + k, rlen - k, &adv);
            fl[n] = (uint16_t)unicode_flags(cp[n]);
        }
        size_t nw = tokenizer_pre_split(kind, cp, fl, n, ends);
        /* Code the lengths the way the golden does. */
        char *got = malloc(nw * 12 + 1), *o = got;
        for (size_t w = 0, start = 0; w < nw; start = ends[w++]) {
            size_t len = ends[w] - start;
            if (len >= 1 && len <= 9)
                *o++ = (char)('0' + len);
            else if (len >= 10 && len <= 35)
                *o++ = (char)('a' + len - 10);
            else
                o += sprintf(o, "(%zu)", len);
        }
        *o = 0;
        words += nw;
        if (strcmp(got, (const char *)gold.items[i].data) == 0) {
            ok++;
        } else if (shown++ < 5) {
            fprintf(stderr, "split %s: corpus line %zu differs\n  want %s\n  got  %s\n", name, i + 1,
                    (const char *)gold.items[i].data, got);
            print_text(&corpus->items[i]);
        }
        free(got);
        free(cp);
        free(ends);
        free(fl);
        free(text);
    }
    CHECK_MSG(ok == gold.n, "split %s: %zu of %zu corpus strings differ", name, gold.n - ok, gold.n);
    char label[64];
    snprintf(label, sizeof label, "pre-tokenizer %s", name);
    printf("%-28s %zu/%zu strings match (%zu words)\n", label, ok, gold.n, words);
    lines_free(&gold);
}

/* BPE decode(encode(s)) is the repaired s, less the bytes the vocabulary
 * has no token for (dropped, as HF does for SmolLM2). */
static void test_round_trip(const char *label, const tokenizer *tok, const lines *corpus)
{
    int dropped[128] = {0};
    int32_t *ids = NULL;
    size_t cap = 0, n;
    for (int b = 1; b < 128; b++) {
        char c = (char)b;
        n = 0;
        tokenizer_encode(tok, &c, 1, 0, 0, &ids, &n, &cap);
        dropped[b] = n == 0;
    }
    size_t ok = 0;
    for (size_t i = 0; i < corpus->n; i++) {
        const bytes *in = &corpus->items[i];
        size_t rlen, n_bad;
        char *want = utf8_repair((const char *)in->data, in->len, &rlen, &n_bad);
        size_t w = 0;
        for (size_t k = 0; k < rlen; k++)
            if (!((unsigned char)want[k] < 128 && dropped[(unsigned char)want[k]])) want[w++] = want[k];
        n = 0;
        tokenizer_encode(tok, (const char *)in->data, in->len, 0, 1, &ids, &n, &cap);
        int need = tokenizer_decode(tok, ids, n, NULL, 0);
        char *got = malloc((size_t)(need > 0 ? need : 1));
        int got_n = tokenizer_decode(tok, ids, n, got, (size_t)need);
        ok += got_n == need && (size_t)need == w && (w == 0 || memcmp(got, want, w) == 0);
        free(got);
        free(want);
    }
    free(ids);
    CHECK_MSG(ok == corpus->n, "%s round trip: %zu of %zu strings differ", label, corpus->n - ok, corpus->n);
    printf("%-28s %zu/%zu strings round-trip\n", label, ok, corpus->n);
}

/* ---- a minimal GGUF reader: only the metadata this test needs ------------------------ */

typedef struct {
    FILE *f;
    int err;
} rd;

static uint64_t rd_u(rd *r, int size)
{
    unsigned char b[8] = {0};
    if (fread(b, 1, (size_t)size, r->f) != (size_t)size) r->err = 1;
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; i--) v = v << 8 | b[i]; /* GGUF is little-endian */
    return v;
}

static char *rd_str(rd *r, uint32_t *len)
{
    uint64_t n = rd_u(r, 8);
    if (r->err || n > (1u << 30)) {
        r->err = 1;
        return NULL;
    }
    char *s = malloc(n + 1);
    if (fread(s, 1, n, r->f) != n) r->err = 1;
    s[n] = 0;
    if (len) *len = (uint32_t)n;
    return s;
}

static int type_size(uint32_t t)
{
    static const int sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < 13 ? sizes[t] : -1;
}

static void rd_skip(rd *r, uint32_t type)
{
    if (type == 8) {
        free(rd_str(r, NULL));
    } else if (type == 9) {
        uint32_t et = (uint32_t)rd_u(r, 4);
        uint64_t n = rd_u(r, 8);
        for (uint64_t i = 0; i < n && !r->err; i++) rd_skip(r, et);
    } else if (type_size(type) > 0) {
        rd_u(r, type_size(type));
    } else {
        r->err = 1;
    }
}

typedef struct {
    char **tokens, **merges, *pre;
    uint32_t *token_lens, *merge_lens;
    int32_t *types;
    uint64_t n_tokens, n_merges, n_types;
    int bos, eos, unk, pad, add_bos;
} gguf_vocab;

static void vocab_free(gguf_vocab *v)
{
    for (uint64_t i = 0; i < v->n_tokens; i++) free(v->tokens[i]);
    for (uint64_t i = 0; i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->merges);
    free(v->token_lens);
    free(v->merge_lens);
    free(v->types);
    free(v->pre);
}

static int read_str_array(rd *r, char ***out, uint32_t **lens, uint64_t *n)
{
    uint32_t et = (uint32_t)rd_u(r, 4);
    *n = rd_u(r, 8);
    if (et != 8 || r->err || *n > (1u << 24)) return -1;
    *out = calloc(*n, sizeof **out);
    *lens = calloc(*n, sizeof **lens);
    for (uint64_t i = 0; i < *n && !r->err; i++) (*out)[i] = rd_str(r, &(*lens)[i]);
    return r->err ? -1 : 0;
}

static int read_gguf_vocab(const char *path, gguf_vocab *v)
{
    memset(v, 0, sizeof *v);
    v->bos = v->eos = v->unk = v->pad = -1;
    rd r = {fopen(path, "rb"), 0};
    if (!r.f) return -1;
    char magic[4];
    if (fread(magic, 1, 4, r.f) != 4 || memcmp(magic, "GGUF", 4) != 0) r.err = 1;
    uint32_t version = (uint32_t)rd_u(&r, 4);
    rd_u(&r, 8); /* tensor count */
    uint64_t n_kv = rd_u(&r, 8);
    if (version != 3) r.err = 1;
    for (uint64_t k = 0; k < n_kv && !r.err; k++) {
        char *key = rd_str(&r, NULL);
        uint32_t type = (uint32_t)rd_u(&r, 4);
        if (r.err) {
            free(key);
            break;
        }
        if (type == 9 && strcmp(key, "tokenizer.ggml.tokens") == 0) {
            if (read_str_array(&r, &v->tokens, &v->token_lens, &v->n_tokens)) r.err = 1;
        } else if (type == 9 && strcmp(key, "tokenizer.ggml.merges") == 0) {
            if (read_str_array(&r, &v->merges, &v->merge_lens, &v->n_merges)) r.err = 1;
        } else if (type == 9 && strcmp(key, "tokenizer.ggml.token_type") == 0) {
            uint32_t et = (uint32_t)rd_u(&r, 4);
            v->n_types = rd_u(&r, 8);
            if (et != 5 || v->n_types > (1u << 24)) {
                r.err = 1;
            } else {
                v->types = malloc(v->n_types * sizeof *v->types);
                for (uint64_t i = 0; i < v->n_types; i++) v->types[i] = (int32_t)rd_u(&r, 4);
            }
        } else if (type == 8 && strcmp(key, "tokenizer.ggml.pre") == 0) {
            v->pre = rd_str(&r, NULL);
        } else if (type == 4 && strncmp(key, "tokenizer.ggml.", 15) == 0 &&
                   (strstr(key, "bos_token_id") || strstr(key, "eos_token_id") ||
                    strstr(key, "unknown_token_id") || strstr(key, "padding_token_id"))) {
            int val = (int)rd_u(&r, 4);
            *(strstr(key, "bos") ? &v->bos : strstr(key, "eos") ? &v->eos : strstr(key, "unknown") ? &v->unk
                                                                                                    : &v->pad) = val;
        } else if (type == 7 && strcmp(key, "tokenizer.ggml.add_bos_token") == 0) {
            v->add_bos = (int)rd_u(&r, 1);
        } else {
            rd_skip(&r, type);
        }
        free(key);
    }
    fclose(r.f);
    if (r.err || !v->tokens || !v->merges || v->n_types != v->n_tokens) {
        vocab_free(v);
        return -1;
    }
    return 0;
}

static tokenizer *bpe_from_gguf(const gguf_vocab *v, const char *pre)
{
    tokenizer_spec spec = {
        .type = TOKENIZER_BPE,
        .n_vocab = (int)v->n_tokens,
        .tokens = (const char *const *)v->tokens,
        .token_lens = v->token_lens,
        .token_types = v->types,
        .n_merges = (int)v->n_merges,
        .merges = (const char *const *)v->merges,
        .merge_lens = v->merge_lens,
        .pre = pre,
        .bos_id = v->bos, .eos_id = v->eos, .unk_id = v->unk,
        .sep_id = -1, .pad_id = v->pad, .cls_id = -1,
        .add_bos = v->add_bos,
    };
    tokenizer *tok = NULL;
    CHECK_STATUS(tokenizer_create(&spec, &tok), 0);
    return tok;
}

/* ---- behaviour checks on the real vocabularies ----------------------------------------------- */

static size_t encode(const tokenizer *tok, const char *s, int add_special, int parse_special, int32_t *out,
                     size_t max)
{
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    int st = tokenizer_encode(tok, s, strlen(s), add_special, parse_special, &ids, &n, &cap);
    if (st) n = 0;
    for (size_t i = 0; i < n && i < max; i++) out[i] = ids[i];
    free(ids);
    return n;
}

static void test_smollm_behaviour(const tokenizer *tok, const gguf_vocab *v)
{
    int32_t ids[64];
    CHECK(tokenizer_n_vocab(tok) == 49152);
    CHECK(tokenizer_type(tok) == TOKENIZER_BPE);
    CHECK(tokenizer_find(tok, "<|im_start|>", 12) == 1);
    CHECK(tokenizer_find(tok, "\xc4\xa0the", 5) >= 0); /* "Ġthe" */
    CHECK(tokenizer_find(tok, "no-such-token-xyz", 17) == -1);
    CHECK(tokenizer_bos(tok) == 1 && tokenizer_eos(tok) == 2);
    CHECK(tokenizer_is_eog(tok, 2) && tokenizer_is_eog(tok, 0) && !tokenizer_is_eog(tok, 1));
    CHECK(!tokenizer_is_eog(tok, 100) && !tokenizer_is_eog(tok, -1) && !tokenizer_is_eog(tok, 1 << 20));
    /* Control tokens only with parse_special. */
    CHECK(encode(tok, "<|im_start|>", 0, 1, ids, 64) == 1 && ids[0] == 1);
    CHECK(encode(tok, "<|im_start|>", 0, 0, ids, 64) > 1);
    /* add_special follows the GGUF's add_bos_token (false for SmolLM2). */
    size_t n0 = encode(tok, "hi", 0, 1, ids, 64);
    CHECK(encode(tok, "hi", 1, 1, ids, 64) == n0 + (v->add_bos ? 1 : 0));
    size_t len;
    const char *p = tokenizer_piece(tok, tokenizer_find(tok, "\xc4\xa0the", 5), &len);
    CHECK(p && len == 4 && memcmp(p, " the", 4) == 0);
    p = tokenizer_piece(tok, 1, &len);
    CHECK(p && len == 12 && memcmp(p, "<|im_start|>", 12) == 0);
    CHECK(tokenizer_piece(tok, -1, &len) == NULL && tokenizer_piece(tok, 49152, &len) == NULL);
    /* decode reports the size it needs and writes only what fits. */
    size_t n = encode(tok, "Hello world", 0, 1, ids, 64);
    char buf[8] = "XXXXXXX";
    CHECK(tokenizer_decode(tok, ids, n, buf, 5) == 11 && memcmp(buf, "Hello", 5) == 0 && buf[5] == 'X');
    int32_t bad = 49152;
    CHECK(tokenizer_decode(tok, &bad, 1, buf, sizeof buf) == HRT_E_INVALID);
    /* Appends to an existing vector. */
    int32_t *vec = NULL;
    size_t vn = 0, vcap = 0;
    CHECK_STATUS(tokenizer_encode(tok, "a", 1, 0, 0, &vec, &vn, &vcap), 0);
    CHECK_STATUS(tokenizer_encode(tok, "b", 1, 0, 0, &vec, &vn, &vcap), 0);
    CHECK(vn == 2 && vec[0] == tokenizer_find(tok, "a", 1) && vec[1] == tokenizer_find(tok, "b", 1));
    free(vec);
}

static void test_bad_specs(const gguf_vocab *v)
{
    tokenizer_spec spec = {
        .type = TOKENIZER_BPE, .n_vocab = (int)v->n_tokens, .tokens = (const char *const *)v->tokens,
        .token_lens = v->token_lens, .n_merges = (int)v->n_merges,
        .merges = (const char *const *)v->merges, .merge_lens = v->merge_lens, .pre = "no-such-pre",
        .bos_id = -1, .eos_id = -1, .unk_id = -1, .sep_id = -1, .pad_id = -1, .cls_id = -1,
    };
    tokenizer *tok = (tokenizer *)1;
    CHECK_STATUS(tokenizer_create(&spec, &tok), HRT_E_UNSUPPORTED);
    CHECK(tok == NULL);
    spec.pre = "smollm";
    const char *bad_merge[] = {"\xc4\xa0 t", "nospace"};
    spec.merges = bad_merge;
    spec.merge_lens = NULL;
    spec.n_merges = 2;
    CHECK_STATUS(tokenizer_create(&spec, &tok), HRT_E_FORMAT);
    bad_merge[1] = "zzzq zzzq"; /* parts not in the vocabulary */
    CHECK_STATUS(tokenizer_create(&spec, &tok), HRT_E_FORMAT);
    spec.n_merges = 1;
    spec.eos_id = (int)v->n_tokens;
    CHECK_STATUS(tokenizer_create(&spec, &tok), HRT_E_FORMAT);
    tokenizer_free(NULL);
}

static void test_bert_behaviour(const tokenizer *tok)
{
    int32_t ids[64];
    CHECK(tokenizer_type(tok) == TOKENIZER_WORDPIECE && tokenizer_n_vocab(tok) == 30522);
    size_t n = encode(tok, "Hello, WORLD! unaffable", 1, 1, ids, 64);
    CHECK(n >= 6 && ids[0] == 101 && ids[n - 1] == 102);
    int need = tokenizer_decode(tok, ids, n, NULL, 0);
    char buf[128];
    CHECK(need > 0 && need < (int)sizeof buf && tokenizer_decode(tok, ids, n, buf, sizeof buf) == need);
    buf[need > 0 && need < (int)sizeof buf ? need : 0] = 0;
    CHECK_MSG(strcmp(buf, "[CLS] hello , world ! unaffable [SEP]") == 0, "decoded '%s'", buf);
    CHECK(encode(tok, "[MASK]", 0, 1, ids, 64) == 1 && ids[0] == 103);
    CHECK(encode(tok, "", 1, 1, ids, 64) == 2);
    char word[202];
    memset(word, 'a', 201);
    word[201] = 0;
    CHECK(encode(tok, word, 0, 1, ids, 64) == 1 && ids[0] == 100); /* > 100 chars: [UNK] */
}

/* A GGUF BERT vocabulary (llama.cpp's "\u2581word" / "suffix" form) gives the
 * same ids as the "##" form. */
static void test_phantom_vocab(const tokenizer *ref, const lines *corpus)
{
    size_t len;
    char *text = test_read_file(HRT_SOURCE_DIR "/models/all-minilm-l6-v2/vocab.txt", &len);
    if (!text) return;
    int n = 0;
    for (size_t i = 0; i < len; i++) n += text[i] == '\n';
    char **toks = calloc((size_t)n, sizeof *toks);
    int32_t *types = calloc((size_t)n, sizeof *types);
    char *line = strtok(text, "\n");
    int k = 0;
    for (; line && k < n; line = strtok(NULL, "\n"), k++) {
        size_t l = strlen(line);
        toks[k] = malloc(l + 4);
        types[k] = TOKEN_TYPE_NORMAL;
        if (line[0] == '[' && line[l - 1] == ']') {
            memcpy(toks[k], line, l + 1);
            types[k] = TOKEN_TYPE_CONTROL;
        } else if (strncmp(line, "##", 2) == 0) {
            memcpy(toks[k], line + 2, l - 1);
        } else {
            memcpy(toks[k], "\xe2\x96\x81", 3);
            memcpy(toks[k] + 3, line, l + 1);
        }
    }
    tokenizer_spec spec = {
        .type = TOKENIZER_WORDPIECE, .n_vocab = k, .tokens = (const char *const *)toks,
        .token_types = types, .bos_id = 101, .eos_id = 102, .unk_id = 100, .sep_id = 102, .pad_id = 0,
        .cls_id = 101, .lowercase = 1,
    };
    tokenizer *tok = NULL;
    CHECK_STATUS(tokenizer_create(&spec, &tok), 0);
    size_t same = 0;
    int32_t *a = NULL, *b = NULL;
    size_t ca = 0, cb = 0;
    for (size_t i = 0; tok && i < corpus->n; i++) {
        size_t na = 0, nb = 0;
        tokenizer_encode(ref, (const char *)corpus->items[i].data, corpus->items[i].len, 1, 1, &a, &na, &ca);
        tokenizer_encode(tok, (const char *)corpus->items[i].data, corpus->items[i].len, 1, 1, &b, &nb, &cb);
        same += na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
    }
    CHECK_MSG(same == corpus->n, "phantom-space vocabulary: %zu of %zu strings differ", corpus->n - same,
              corpus->n);
    free(a);
    free(b);
    tokenizer_free(tok);
    for (int i = 0; i < k; i++) free(toks[i]);
    free(toks);
    free(types);
    free(text);
}

/* ---- speed (reported, not asserted: benchmarks belong in bench/) ------------------------------ */

static void report_speed(const char *label, const tokenizer *tok, const lines *corpus, size_t first,
                         size_t count, size_t target)
{
    size_t len = 0;
    char *text = malloc(target + 4096);
    while (len < target) {
        for (size_t i = first; i < first + count && i < corpus->n && len < target; i++) {
            memcpy(text + len, corpus->items[i].data, corpus->items[i].len);
            len += corpus->items[i].len;
            text[len++] = ' ';
        }
    }
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    double t0 = now_s();
    int st = tokenizer_encode(tok, text, len, 0, 1, &ids, &n, &cap);
    double dt = now_s() - t0;
    CHECK_STATUS(st, 0);
    printf("%-28s %.2f MB in %.3f s: %.1f MB/s, %zu tokens\n", label, len / 1e6, dt, len / 1e6 / dt, n);
    free(ids);
    free(text);
}

static void report_speed_one_word(const tokenizer *tok)
{
    size_t len = 1 << 20;
    char *text = malloc(len);
    for (size_t i = 0; i < len; i++) text[i] = "abcdefghij"[(i * 7 + i / 13) % 10];
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    double t0 = now_s();
    CHECK_STATUS(tokenizer_encode(tok, text, len, 0, 1, &ids, &n, &cap), 0);
    printf("%-28s 1 MB without spaces in %.3f s, %zu tokens\n", "smollm one long word", now_s() - t0, n);
    free(ids);
    free(text);
}

/* ---- main ----------------------------------------------------------------------------------------- */

int main(void)
{
    test_utf8_repair_cases();
    test_utf8_codec();
    test_unicode_classes();
    test_bpe_options();
    test_spm_rules();

    lines corpus = {0};
    CHECK_MSG(read_lines(GOLDEN "tokenizer_corpus.hex", &corpus) == 0, "cannot read the corpus");
    unhex_lines(&corpus);
    printf("corpus: %zu strings\n", corpus.n);
    test_repair_golden(&corpus);

    const char *splitters[] = {"gpt2", "smollm", "llama3", "qwen2"};
    for (int i = 0; i < 4; i++) test_split_golden(splitters[i], &corpus);

    /* The committed tokenizer.json files need no model. */
    const char *tiny[][2] = {{"tokenizer_tiny_bpe.json", "tokenizer_tiny_bpe.golden"},
                             {"tokenizer_tiny_llama3.json", "tokenizer_tiny_llama3.golden"}};
    for (int i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, GOLDEN "%s", tiny[i][0]);
        tokenizer *tok = NULL;
        CHECK_STATUS(tokenizer_from_hf_json(path, &tok), 0);
        if (tok) compare_golden(tiny[i][0], tok, &corpus, tiny[i][1], 4, 0);
        tokenizer_free(tok);
    }

    char path[1024];
    snprintf(path, sizeof path, "%s/models/smollm2-135m-instruct-q4_1.gguf", HRT_SOURCE_DIR);
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        lines_free(&corpus);
        if (test_failed) return test_finish();
        test_skip("models/ absent: run scripts/fetch-models.sh");
    }
    fclose(probe);

    gguf_vocab v;
    CHECK_MSG(read_gguf_vocab(path, &v) == 0, "cannot read the vocabulary of %s", path);
    if (v.tokens) {
        CHECK(v.pre && strcmp(v.pre, "smollm") == 0);
        const char *variants[][2] = {{"smollm", "tokenizer_smollm.golden"},
                                     {"llama-bpe", "tokenizer_llama3.golden"}};
        for (int i = 0; i < 2; i++) {
            /* The GGUF's own pre name, then Llama 3's (with its default
             * ignore_merges) on the same vocabulary. */
            tokenizer *tok = bpe_from_gguf(&v, i == 0 ? v.pre : variants[i][0]);
            if (!tok) continue;
            char label[64];
            snprintf(label, sizeof label, "bpe %s", variants[i][0]);
            compare_golden(label, tok, &corpus, variants[i][1], 1, 0);
            if (i == 0) {
                test_round_trip("smollm decode(encode(s))", tok, &corpus);
                test_smollm_behaviour(tok, &v);
                report_speed("smollm encode, English", tok, &corpus, 1, 60, 1 << 20);
                report_speed_one_word(tok);
            } else {
                report_speed("llama-bpe encode, English", tok, &corpus, 1, 60, 1 << 20);
            }
            tokenizer_free(tok);
        }
        test_bad_specs(&v);
        vocab_free(&v);
    }

    /* Gemma 3's SPM vocabulary, when its model is there. */
    hrt_model_params mp = hrt_model_default_params();
    mp.backend = HRT_BACKEND_CPU;
    hrt_model *gemma = NULL;
    if (access(HRT_SOURCE_DIR "/models/gemma-3-270m-q4_k_m.gguf", R_OK) == 0) {
        CHECK_STATUS(hrt_model_open(HRT_SOURCE_DIR "/models/gemma-3-270m-q4_k_m.gguf", &mp, &gemma), 0);
    } else {
        printf("Gemma 3 270M absent: the SPM comparisons are not run\n");
    }
    if (gemma) {
        CHECK(tokenizer_type(gemma->tok) == TOKENIZER_SPM);
        /* its turns: <start_of_turn> one id, <end_of_turn> ends generation like <eos> */
        int32_t sot = tokenizer_find(gemma->tok, "<start_of_turn>", 15), eot = tokenizer_find(gemma->tok, "<end_of_turn>", 13);
        CHECK(sot == 105 && eot == 106 && tokenizer_is_eog(gemma->tok, eot) && tokenizer_is_eog(gemma->tok, 1));
        CHECK(!tokenizer_is_eog(gemma->tok, sot) && tokenizer_bos(gemma->tok) == 2);
        compare_golden("spm gemma3", gemma->tok, &corpus, "tokenizer_gemma3.golden", 1, 0);
        test_round_trip("gemma3 decode(encode(s))", gemma->tok, &corpus);
        report_speed("gemma3 encode, English", gemma->tok, &corpus, 1, 60, 1 << 20);
        hrt_model_free(gemma);
    }

    /* The embedding model's part, when that model is there (the GPU
     * machine carries only the chat model). */
    FILE *bert_probe = fopen(HRT_SOURCE_DIR "/models/all-minilm-l6-v2/vocab.txt", "rb");
    if (!bert_probe) {
        printf("all-MiniLM-L6-v2 absent: the WordPiece comparisons are not run\n");
        lines_free(&corpus);
        return test_finish();
    }
    fclose(bert_probe);
    tokenizer *bert = NULL;
    CHECK_STATUS(tokenizer_from_hf_json(HRT_SOURCE_DIR "/models/all-minilm-l6-v2/tokenizer.json", &bert), 0);
    if (bert) {
        compare_golden("bert tokenizer.json", bert, &corpus, "tokenizer_bert.golden", 1, 1);
        test_bert_behaviour(bert);
        test_phantom_vocab(bert, &corpus);
        report_speed("bert encode, English", bert, &corpus, 1, 60, 1 << 20);
    }
    tokenizer *bert_txt = NULL;
    CHECK_STATUS(tokenizer_from_vocab_txt(HRT_SOURCE_DIR "/models/all-minilm-l6-v2/vocab.txt", 1, &bert_txt), 0);
    if (bert_txt) compare_golden("bert vocab.txt", bert_txt, &corpus, "tokenizer_bert.golden", 1, 1);
    tokenizer_free(bert);
    tokenizer_free(bert_txt);

    lines_free(&corpus);
    return test_finish();
}
