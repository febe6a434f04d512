/* Tokenizers: byte-level BPE, SentencePiece-style BPE and WordPiece, built
 * from plain arrays.
 *
 * Design
 * 1. A tokenizer is immutable after tokenizer_create(); encoding keeps all
 *    its scratch in a per-call enc_state, so threads may share one.
 * 2. text[text_off[i] .. text_off[i+1]) is token i as the vocabulary writes
 *    it (byte-level alphabet for BPE); piece[piece_off[i] ..) is what it
 *    decodes to (raw bytes for BPE, the same text for WordPiece).
 * 3. vmap maps a vocabulary string to the lowest id holding it; mkeys/mvals
 *    map a merge pair (left id, right id) to its rank (first occurrence in
 *    the merge list) and the id of the merged token.
 * 4. Encoding: repair UTF-8, cut out added tokens (control tokens only with
 *    parse_special), then per remaining segment: BPE pre-tokenizer + merges,
 *    SPM score merges, or BERT normaliser + pre-tokenizer + WordPiece. This
 *    is the order of Hugging Face tokenizers and llama.cpp, whose ids the
 *    golden tests compare with. */
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "unicode.h"

enum { ATTR_CONTROL = 1, ATTR_USER = 2, ATTR_EOG = 4 };

struct tokenizer {
    int type, n_vocab, pre;
    char *text;            /* all vocabulary strings */
    uint32_t *text_off;    /* (n_vocab + 1) */
    char *piece;           /* decoded bytes */
    uint32_t *piece_off;   /* (n_vocab + 1) */
    uint8_t *attr;         /* (n_vocab) ATTR_* */
    int32_t *vmap;         /* (vmap_mask + 1) ids, -1 = empty */
    uint32_t vmap_mask;
    uint64_t *mkeys;       /* (mmask + 1) left << 32 | right, ~0 = empty */
    uint64_t *mvals;       /* rank << 32 | merged id */
    uint32_t mmask;
    int32_t byte_id[256];  /* BPE: the token of each single byte; SPM: its
                              <0xXX> token; -1 = none */
    float *score;          /* SPM: (n_vocab) merge priorities */
    int add_space_prefix;  /* SPM */
    char byte_char[256][2]; /* BPE: each byte's character in UTF-8... */
    uint8_t byte_char_len[256]; /* ...of 1 or 2 bytes (all are < U+0144) */
    int32_t *special;      /* added tokens to cut out, by first byte, longest first */
    uint32_t special_first[257]; /* special[special_first[b] .. special_first[b+1]) */
    size_t max_token_len;
    int bos, eos, unk, sep, cls, add_bos, add_eos;
    unsigned bert;         /* BERT_* normaliser switches */
    int max_chars, ignore_merges, byte_unk;
    char prefix[16];       /* WordPiece continuation prefix */
    size_t prefix_len;
};

/* ---- hashing ---------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static uint32_t hash_pair(uint64_t key, uint32_t mask)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static uint32_t table_size(size_t n)
{
    uint32_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    return cap;
}

static const char *tok_text(const tokenizer *t, int32_t id, size_t *len)
{
    *len = t->text_off[id + 1] - t->text_off[id];
    return t->text + t->text_off[id];
}

static int32_t vocab_find(const tokenizer *t, const char *s, size_t len)
{
    for (uint32_t h = (uint32_t)hash_bytes(s, len) & t->vmap_mask;; h = (h + 1) & t->vmap_mask) {
        int32_t id = t->vmap[h];
        if (id < 0) return -1;
        size_t tl;
        const char *ts = tok_text(t, id, &tl);
        if (tl == len && memcmp(ts, s, len) == 0) return id;
    }
}

static int vocab_build(tokenizer *t)
{
    t->vmap_mask = table_size((size_t)t->n_vocab) - 1;
    t->vmap = malloc(((size_t)t->vmap_mask + 1) * sizeof *t->vmap);
    if (!t->vmap) return hrt_err(HRT_E_NOMEM, "tokenizer: out of memory");
    memset(t->vmap, 0xff, ((size_t)t->vmap_mask + 1) * sizeof *t->vmap);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t len;
        const char *s = tok_text(t, id, &len);
        uint32_t h = (uint32_t)hash_bytes(s, len) & t->vmap_mask;
        int dup = 0;
        for (; t->vmap[h] >= 0; h = (h + 1) & t->vmap_mask) {
            size_t ol;
            const char *os = tok_text(t, t->vmap[h], &ol);
            if (ol == len && memcmp(os, s, len) == 0) {
                dup = 1; /* keep the lowest id, as llama.cpp does */
                break;
            }
        }
        if (!dup) t->vmap[h] = id;
    }
    return 0;
}

/* Returns rank << 32 | merged id, or ~0 when left, right do not merge. */
static uint64_t merge_find(const tokenizer *t, int32_t left, int32_t right)
{
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint32_t h = hash_pair(key, t->mmask);; h = (h + 1) & t->mmask) {
        if (t->mkeys[h] == key) return t->mvals[h];
        if (t->mkeys[h] == ~0ull) return ~0ull;
    }
}

/* ---- byte-level alphabet ------------------------------------------------------ */

/* GPT-2 maps printable Latin-1 bytes to themselves and the other 68 bytes,
 * in order, to U+0100 onwards, so that every byte is a visible character. */
static int byte_is_printable(int b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static uint32_t byte_to_char(int b)
{
    if (byte_is_printable(b)) return (uint32_t)b;
    uint32_t k = 0;
    for (int x = 0; x < b; x++) k += !byte_is_printable(x);
    return 0x100 + k;
}

/* The byte of a byte-level character, or -1. */
static int char_to_byte(uint32_t c)
{
    if (c < 0x100) return byte_is_printable((int)c) ? (int)c : -1;
    if (c >= 0x100 + 68) return -1;
    uint32_t k = c - 0x100;
    for (int b = 0; b < 256; b++)
        if (!byte_is_printable(b) && k-- == 0) return b;
    return -1;
}

/* Raw bytes of a byte-level token; tokens with a character outside the
 * alphabet (added tokens with spaces, say) stay as written, as HF's
 * ByteLevel decoder does. Writes to out (room for len), returns the length. */
static size_t bytelevel_decode(const char *s, size_t len, char *out)
{
    size_t i = 0, o = 0;
    while (i < len) {
        size_t adv;
        int b = char_to_byte(utf8_decode((const unsigned char *)s + i, len - i, &adv));
        if (b < 0) {
            memcpy(out, s, len);
            return len;
        }
        out[o++] = (char)b;
        i += adv;
    }
    return o;
}

/* ---- construction ---------------------------------------------------------------- */

void tokenizer_default_options(const tokenizer_spec *spec, tokenizer_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->clean_text = 1;
    opt->handle_chinese_chars = 1;
    opt->strip_accents = opt->lowercase = spec->lowercase;
    int kind = tokenizer_pre_kind(spec->pre);
    opt->ignore_merges = kind == PRE_LLAMA3;
}

static size_t spec_len(const tokenizer_spec *spec, int i)
{
    return spec->token_lens ? spec->token_lens[i] : strlen(spec->tokens[i]);
}

static int has_prefix(const char *s, size_t len, const char *p)
{
    size_t pl = strlen(p);
    return len >= pl && memcmp(s, p, pl) == 0;
}

/* llama.cpp's GGUF conversion of BERT vocabularies writes word starts as
 * "\u2581word" and continuations without "##". Detected when no token has
 * the "##" prefix but some have U+2581. */
static int is_phantom_vocab(const tokenizer_spec *spec)
{
    int n_hash = 0, n_phantom = 0;
    for (int i = 0; i < spec->n_vocab; i++) {
        size_t len = spec_len(spec, i);
        n_hash += has_prefix(spec->tokens[i], len, "##");
        n_phantom += has_prefix(spec->tokens[i], len, "\xE2\x96\x81");
    }
    return n_hash == 0 && n_phantom > 0;
}

static int token_is_special_type(const tokenizer_spec *spec, int i)
{
    int ty = spec->token_types ? spec->token_types[i] : TOKEN_TYPE_NORMAL;
    return ty == TOKEN_TYPE_CONTROL || ty == TOKEN_TYPE_UNKNOWN || ty == TOKEN_TYPE_USER_DEFINED;
}

/* Copies the vocabulary into t->text, converting a phantom-space WordPiece
 * vocabulary back to the "##" form. */
static int copy_vocab(tokenizer *t, const tokenizer_spec *spec)
{
    int phantom = spec->type == TOKENIZER_WORDPIECE && is_phantom_vocab(spec);
    size_t total = 0;
    for (int i = 0; i < spec->n_vocab; i++) {
        if (!spec->tokens[i]) return hrt_err(HRT_E_FORMAT, "tokenizer: token %d is NULL", i);
        total += spec_len(spec, i) + 2;
    }
    if (total >= UINT32_MAX) return hrt_err(HRT_E_FORMAT, "tokenizer: vocabulary text over 4 GiB");
    t->text = malloc(total + 1);
    t->text_off = malloc(((size_t)spec->n_vocab + 1) * sizeof *t->text_off);
    if (!t->text || !t->text_off) return hrt_err(HRT_E_NOMEM, "tokenizer: out of memory");
    size_t o = 0;
    for (int i = 0; i < spec->n_vocab; i++) {
        const char *s = spec->tokens[i];
        size_t len = spec_len(spec, i);
        t->text_off[i] = (uint32_t)o;
        if (phantom && has_prefix(s, len, "\xE2\x96\x81")) {
            s += 3;
            len -= 3;
        } else if (phantom && !token_is_special_type(spec, i) &&
                   !(len >= 2 && s[0] == '[' && s[len - 1] == ']')) {
            memcpy(t->text + o, "##", 2);
            o += 2;
        }
        memcpy(t->text + o, s, len);
        o += len;
        if (len > t->max_token_len) t->max_token_len = len;
    }
    t->text_off[spec->n_vocab] = (uint32_t)o;
    t->max_token_len += 2;
    return 0;
}

/* "<0xXX>": the byte it stands for, else -1. */
static int spm_byte_token(const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    if (len != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    const char *h = memchr(hex, s[3], 16), *l = memchr(hex, s[4], 16);
    return h && l && s[3] && s[4] ? (int)((h - hex) << 4 | (l - hex)) : -1;
}

/* What an SPM token decodes to: <0xXX> its byte, U+2581 a space. Never
 * longer than the token. */
static size_t spm_piece(const char *s, size_t len, char *out)
{
    int b = spm_byte_token(s, len);
    if (b >= 0) {
        out[0] = (char)b;
        return 1;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (i + 3 <= len && !memcmp(s + i, "\xE2\x96\x81", 3)) {
            out[o++] = ' ';
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

static int build_pieces(tokenizer *t)
{
    size_t total = t->text_off[t->n_vocab];
    t->piece = malloc(total + 1);
    t->piece_off = malloc(((size_t)t->n_vocab + 1) * sizeof *t->piece_off);
    if (!t->piece || !t->piece_off) return hrt_err(HRT_E_NOMEM, "tokenizer: out of memory");
    size_t o = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t len;
        const char *s = tok_text(t, id, &len);
        t->piece_off[id] = (uint32_t)o;
        if (t->type == TOKENIZER_BPE) {
            o += bytelevel_decode(s, len, t->piece + o);
        } else if (t->type == TOKENIZER_SPM) {
            o += spm_piece(s, len, t->piece + o);
        } else {
            memcpy(t->piece + o, s, len);
            o += len;
        }
    }
    t->piece_off[t->n_vocab] = (uint32_t)o;
    return 0;
}

static void build_byte_ids(tokenizer *t)
{
    for (int b = 0; b < 256; b++) {
        char s[4];
        int n = utf8_encode(byte_to_char(b), s);
        memcpy(t->byte_char[b], s, 2);
        t->byte_char_len[b] = (uint8_t)n;
        t->byte_id[b] = vocab_find(t, s, (size_t)n);
    }
}

/* SPM: the scores, and the <0xXX> token of each byte. */
static int build_spm(tokenizer *t, const tokenizer_spec *spec)
{
    t->score = malloc((size_t)t->n_vocab * sizeof *t->score);
    if (!t->score) return hrt_err(HRT_E_NOMEM, "tokenizer: out of memory");
    for (int32_t id = 0; id < t->n_vocab; id++) t->score[id] = spec->scores ? spec->scores[id] : 0.0f;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    for (int32_t id = t->n_vocab - 1; id >= 0; id--) {
        size_t len;
        const char *s = tok_text(t, id, &len);
        int b = spm_byte_token(s, len);
        if (b >= 0) t->byte_id[b] = id;
    }
    t->add_space_prefix = spec->add_space_prefix;
    return 0;
}

static int build_merges(tokenizer *t, const tokenizer_spec *spec)
{
    t->mmask = table_size((size_t)spec->n_merges) - 1;
    t->mkeys = malloc(((size_t)t->mmask + 1) * sizeof *t->mkeys);
    t->mvals = malloc(((size_t)t->mmask + 1) * sizeof *t->mvals);
    char *buf = malloc(2 * t->max_token_len + 1);
    if (!t->mkeys || !t->mvals || !buf) {
        free(buf);
        return hrt_err(HRT_E_NOMEM, "tokenizer: out of memory");
    }
    memset(t->mkeys, 0xff, ((size_t)t->mmask + 1) * sizeof *t->mkeys);
    int st = 0;
    for (int r = 0; r < spec->n_merges && !st; r++) {
        const char *m = spec->merges[r];
        size_t len = !m ? 0 : spec->merge_lens ? spec->merge_lens[r] : strlen(m);
        /* "left right"; the search starts at 1 so that a left token of " "
         * still splits (llama.cpp does the same). */
        const char *sp = len > 1 ? memchr(m + 1, ' ', len - 1) : NULL;
        if (!sp) {
            st = hrt_err(HRT_E_FORMAT, "tokenizer: merge %d '%.*s' is not 'left right'", r,
                         (int)(len > 64 ? 64 : len), m ? m : "");
            break;
        }
        size_t ll = (size_t)(sp - m), rl = len - ll - 1;
        int32_t left = vocab_find(t, m, ll), right = vocab_find(t, sp + 1, rl), merged = -1;
        if (left >= 0 && right >= 0 && ll + rl <= 2 * t->max_token_len) {
            memcpy(buf, m, ll);
            memcpy(buf + ll, sp + 1, rl);
            merged = vocab_find(t, buf, ll + rl);
        }
        if (merged < 0) {
            st = hrt_err(HRT_E_FORMAT, "tokenizer: merge %d '%.*s': a part or the result is not in the vocabulary",
                         r, (int)(len > 64 ? 64 : len), m);
            break;
        }
        uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
        uint32_t h = hash_pair(key, t->mmask);
        while (t->mkeys[h] != ~0ull && t->mkeys[h] != key) h = (h + 1) & t->mmask;
        if (t->mkeys[h] == key) continue; /* a repeated pair keeps its first rank */
        t->mkeys[h] = key;
        t->mvals[h] = (uint64_t)r << 32 | (uint32_t)merged;
    }
    free(buf);
    return st;
}

/* Whether a control token's text names an end of turn. */
static int is_eog_text(const char *s, size_t len)
{
    static const char *const names[] = {
        "<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|endoftext|>", "<|end|>",
        "<|eom_id|>", "<|end_of_text|>", "</s>", "<|return|>",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) return 1;
    return 0;
}

typedef struct {
    uint64_t key; /* special_key() */
    int32_t id;
} special_entry;

/* Orders added tokens by first byte, then longest first, then by id, so
 * that the first match at a position is the longest (HF's leftmost-longest
 * rule). */
static uint64_t special_key(unsigned char first, size_t len)
{
    return (uint64_t)first << 32 | (uint32_t)(UINT32_MAX - (uint32_t)len);
}

static int cmp_special(const void *a, const void *b)
{
    const special_entry *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int build_attrs(tokenizer *t, const tokenizer_spec *spec)
{
    t->attr = calloc((size_t)t->n_vocab, 1);
    t->special = malloc(((size_t)t->n_vocab + 1) * sizeof *t->special);
    if (!t->attr || !t->special) return hrt_err(HRT_E_NOMEM, "tokenizer: out of memory");
    size_t n_special = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        int ty = spec->token_types ? spec->token_types[id] : TOKEN_TYPE_NORMAL;
        size_t len;
        const char *s = tok_text(t, id, &len);
        if (ty == TOKEN_TYPE_CONTROL || ty == TOKEN_TYPE_UNKNOWN) t->attr[id] |= ATTR_CONTROL;
        if (ty == TOKEN_TYPE_USER_DEFINED) t->attr[id] |= ATTR_USER;
        if (id == t->eos || ((t->attr[id] & ATTR_CONTROL) && is_eog_text(s, len))) t->attr[id] |= ATTR_EOG;
        /* A duplicate string is matched as its lowest id only. */
        if ((t->attr[id] & (ATTR_CONTROL | ATTR_USER)) && len > 0 && vocab_find(t, s, len) == id)
            t->special[n_special++] = id;
    }
    int32_t *shrunk = realloc(t->special, (n_special + 1) * sizeof *t->special);
    if (shrunk) t->special = shrunk;
    special_entry *e = malloc((n_special + 1) * sizeof *e);
    if (!e) return hrt_err(HRT_E_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < n_special; i++) {
        size_t len;
        const char *s = tok_text(t, t->special[i], &len);
        e[i].key = special_key((unsigned char)s[0], len);
        e[i].id = t->special[i];
    }
    qsort(e, n_special, sizeof *e, cmp_special);
    for (size_t i = 0; i < n_special; i++) t->special[i] = e[i].id;
    free(e);
    memset(t->special_first, 0, sizeof t->special_first);
    for (size_t i = 0; i < n_special; i++) {
        size_t len;
        t->special_first[(unsigned char)tok_text(t, t->special[i], &len)[0] + 1]++;
    }
    for (int b = 0; b < 256; b++) t->special_first[b + 1] += t->special_first[b];
    return 0;
}

/* An id from the spec, or the id of a conventional name when absent. */
static int pick_id(const tokenizer *t, int id, const char *const *names)
{
    if (id >= 0 && id < t->n_vocab) return id;
    for (; names && *names; names++) {
        int32_t f = vocab_find(t, *names, strlen(*names));
        if (f >= 0) return f;
    }
    return -1;
}

static int check_spec(const tokenizer_spec *spec, const tokenizer_options *opt)
{
    if (spec->type != TOKENIZER_BPE && spec->type != TOKENIZER_WORDPIECE && spec->type != TOKENIZER_SPM)
        return hrt_err(HRT_E_INVALID, "tokenizer: unknown type %d", spec->type);
    if (spec->n_vocab <= 0 || !spec->tokens)
        return hrt_err(HRT_E_FORMAT, "tokenizer: empty vocabulary");
    if (spec->n_merges < 0 || (spec->n_merges > 0 && !spec->merges))
        return hrt_err(HRT_E_FORMAT, "tokenizer: %d merges without a merge list", spec->n_merges);
    if (spec->type == TOKENIZER_BPE && tokenizer_pre_kind(spec->pre) < 0)
        return hrt_err(HRT_E_UNSUPPORTED, "tokenizer: pre-tokenizer '%s' is not supported "
                       "(gpt2, smollm, llama3/llama-bpe, qwen2)", spec->pre);
    if (opt->continuing_prefix && strlen(opt->continuing_prefix) >= 16)
        return hrt_err(HRT_E_UNSUPPORTED, "tokenizer: continuing prefix '%s' too long",
                       opt->continuing_prefix);
    const int ids[] = {spec->bos_id, spec->eos_id, spec->unk_id, spec->sep_id, spec->pad_id, spec->cls_id};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i] < -1 || ids[i] >= spec->n_vocab)
            return hrt_err(HRT_E_FORMAT, "tokenizer: special id %d outside the vocabulary of %d",
                           ids[i], spec->n_vocab);
    return 0;
}

static void set_ids(tokenizer *t, const tokenizer_spec *spec)
{
    static const char *const unk[] = {"[UNK]", "<unk>", NULL};
    static const char *const cls[] = {"[CLS]", NULL};
    static const char *const sep[] = {"[SEP]", NULL};
    int wp = t->type == TOKENIZER_WORDPIECE;
    t->bos = spec->bos_id;
    t->eos = spec->eos_id;
    t->unk = pick_id(t, spec->unk_id, wp ? unk : NULL);
    t->cls = pick_id(t, spec->cls_id, wp ? cls : NULL);
    t->sep = pick_id(t, spec->sep_id, wp ? sep : NULL);
    t->add_bos = spec->add_bos;
    t->add_eos = spec->add_eos;
}

int tokenizer_create_ex(const tokenizer_spec *spec, const tokenizer_options *opt, tokenizer **out)
{
    *out = NULL;
    int st = check_spec(spec, opt);
    if (st) return st;
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) return hrt_err(HRT_E_NOMEM, "tokenizer: out of memory");
    t->type = spec->type;
    t->n_vocab = spec->n_vocab;
    t->pre = tokenizer_pre_kind(spec->pre);
    t->ignore_merges = opt->ignore_merges;
    t->byte_unk = opt->byte_unk;
    t->bert = (opt->clean_text ? BERT_CLEAN : 0) | (opt->handle_chinese_chars ? BERT_CHINESE : 0) |
              (opt->strip_accents ? BERT_STRIP : 0) | (opt->lowercase ? BERT_LOWER : 0);
    t->max_chars = spec->max_input_chars_per_word > 0 ? spec->max_input_chars_per_word : 100;
    const char *prefix = opt->continuing_prefix ? opt->continuing_prefix : "##";
    t->prefix_len = strlen(prefix);
    memcpy(t->prefix, prefix, t->prefix_len + 1);

    if (!(st = copy_vocab(t, spec)) && !(st = vocab_build(t)) && !(st = build_pieces(t))) {
        set_ids(t, spec);
        st = build_attrs(t, spec);
    }
    if (!st && t->type == TOKENIZER_BPE) {
        build_byte_ids(t);
        st = build_merges(t, spec);
    }
    if (!st && t->type == TOKENIZER_SPM) st = build_spm(t, spec);
    if (!st && t->type == TOKENIZER_WORDPIECE && t->unk < 0)
        st = hrt_err(HRT_E_FORMAT, "tokenizer: WordPiece vocabulary without an unknown token");
    if (st) {
        tokenizer_free(t);
        return st;
    }
    *out = t;
    return 0;
}

int tokenizer_create(const tokenizer_spec *spec, tokenizer **out)
{
    tokenizer_options opt;
    tokenizer_default_options(spec, &opt);
    return tokenizer_create_ex(spec, &opt, out);
}

void tokenizer_free(tokenizer *t)
{
    if (!t) return;
    free(t->text);
    free(t->text_off);
    free(t->piece);
    free(t->piece_off);
    free(t->attr);
    free(t->vmap);
    free(t->mkeys);
    free(t->mvals);
    free(t->special);
    free(t->score);
    free(t);
}

int tokenizer_n_vocab(const tokenizer *t) { return t->n_vocab; }
int tokenizer_type(const tokenizer *t) { return t->type; }
int tokenizer_bos(const tokenizer *t) { return t->type == TOKENIZER_WORDPIECE && t->bos < 0 ? t->cls : t->bos; }
int tokenizer_eos(const tokenizer *t) { return t->type == TOKENIZER_WORDPIECE && t->eos < 0 ? t->sep : t->eos; }

int tokenizer_is_eog(const tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && (t->attr[id] & ATTR_EOG);
}

int tokenizer_find(const tokenizer *t, const char *s, size_t len)
{
    return vocab_find(t, s, len);
}

const char *tokenizer_piece(const tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_vocab) return NULL;
    *len = t->piece_off[id + 1] - t->piece_off[id];
    return t->piece + t->piece_off[id];
}

/* ---- encoding state ---------------------------------------------------------- */

/* Scratch for one tokenizer_encode() call; grown as needed, freed at the end. */
typedef struct {
    uint32_t *cp;      /* code points of a segment */
    uint16_t *fl;      /* their unicode_flags() */
    uint32_t *off;     /* their byte offsets, plus the end */
    uint32_t *ends;    /* word ends from the pre-tokenizer */
    size_t cap_cp;
    int32_t *sym;      /* BPE symbols: token id, -1 once merged away;
                          SPM: byte offset in buf */
    int32_t *slen;     /* SPM: symbol bytes, 0 once merged away */
    int32_t *prev, *next;
    uint64_t *heap;    /* rank << 32 | position, a min-heap */
    size_t cap_sym, cap_heap, n_heap;
    char *buf;         /* a word being built (byte-level text, WordPiece key) */
    size_t cap_buf;
    int prev_special;  /* SPM: the segment starts the text or follows an added token */
    int32_t **ids;     /* the caller's output vector */
    size_t *n, *cap;
} enc_state;

static void enc_free(enc_state *st)
{
    free(st->cp);
    free(st->fl);
    free(st->off);
    free(st->ends);
    free(st->sym);
    free(st->slen);
    free(st->prev);
    free(st->next);
    free(st->heap);
    free(st->buf);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return hrt_err(HRT_E_NOMEM, "tokenizer: out of memory");
    *p = q;
    *cap = nc;
    return 0;
}

/* Room for n merge symbols (sym, slen, prev, next) and a heap of 3n pairs:
 * each merge queues at most two. */
static int grow_symbols(enc_state *st, size_t n)
{
    int32_t **arr[4] = {&st->sym, &st->slen, &st->prev, &st->next};
    size_t c = st->cap_sym;
    for (int i = 0; i < 4; i++) {
        c = st->cap_sym;
        int e = grow((void **)arr[i], &c, n, sizeof(int32_t));
        if (e) return e;
    }
    st->cap_sym = c;
    return grow((void **)&st->heap, &st->cap_heap, 3 * n, sizeof *st->heap);
}

static int push_id(enc_state *st, int32_t id)
{
    if (*st->n == *st->cap) {
        size_t nc = *st->cap ? *st->cap * 2 : 64;
        int32_t *q = realloc(*st->ids, nc * sizeof *q);
        if (!q) return hrt_err(HRT_E_NOMEM, "tokenizer: out of memory");
        *st->ids = q;
        *st->cap = nc;
    }
    (*st->ids)[(*st->n)++] = id;
    return 0;
}

static int buf_reserve(enc_state *st, size_t need)
{
    return grow((void **)&st->buf, &st->cap_buf, need, 1);
}

/* Decodes a valid UTF-8 segment into st->cp / fl / off; returns the count
 * through *n_out. */
static int decode_segment(enc_state *st, const char *s, size_t len, size_t *n_out)
{
    size_t cap = st->cap_cp;
    if (len + 1 > cap) {
        size_t c = cap;
        int e = grow((void **)&st->cp, &c, len + 1, sizeof *st->cp);
        c = cap;
        if (!e) e = grow((void **)&st->fl, &c, len + 1, sizeof *st->fl);
        c = cap;
        if (!e) e = grow((void **)&st->off, &c, len + 1, sizeof *st->off);
        c = cap;
        if (!e) e = grow((void **)&st->ends, &c, len + 1, sizeof *st->ends);
        if (e) return e;
        st->cap_cp = c;
    }
    size_t n = 0, i = 0;
    while (i < len) {
        size_t adv;
        uint32_t c = utf8_decode((const unsigned char *)s + i, len - i, &adv);
        st->cp[n] = c;
        st->fl[n] = (uint16_t)unicode_flags(c);
        st->off[n++] = (uint32_t)i;
        i += adv;
    }
    st->off[n] = (uint32_t)len;
    *n_out = n;
    return 0;
}

/* ---- BPE ----------------------------------------------------------------------- */

static void heap_push(enc_state *st, uint64_t v)
{
    size_t i = st->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (st->heap[p] <= v) break;
        st->heap[i] = st->heap[p];
        i = p;
    }
    st->heap[i] = v;
}

static uint64_t heap_pop(enc_state *st)
{
    uint64_t top = st->heap[0], v = st->heap[--st->n_heap];
    size_t i = 0, n = st->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && st->heap[c + 1] < st->heap[c]) c++;
        if (v <= st->heap[c]) break;
        st->heap[i] = st->heap[c];
        i = c;
    }
    if (n) st->heap[i] = v;
    return top;
}

/* Queues the merge of the symbol at pos with its right neighbour, if any. */
static void queue_pair(const tokenizer *t, enc_state *st, int32_t pos)
{
    if (pos < 0 || st->next[pos] < 0) return;
    int32_t r = st->next[pos];
    uint64_t m = merge_find(t, st->sym[pos], st->sym[r]);
    if (m != ~0ull) heap_push(st, (m & 0xFFFFFFFF00000000ull) | (uint32_t)pos);
}

/* Merges one word the way HF's BPE model does: always the pair of lowest
 * rank, the leftmost among equals, until no pair merges. A heap with lazy
 * deletion keeps long words (no spaces for megabytes) O(n log n). */
static int bpe_word(const tokenizer *t, enc_state *st, const unsigned char *w, size_t len)
{
    if (t->ignore_merges && len > 1) {
        int e = buf_reserve(st, 2 * len);
        if (e) return e;
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
            memcpy(st->buf + o, t->byte_char[w[i]], 2);
            o += t->byte_char_len[w[i]];
        }
        int32_t id = vocab_find(t, st->buf, o);
        if (id >= 0) return push_id(st, id);
    }
    int e = grow_symbols(st, len);
    if (e) return e;

    int32_t m = 0;
    for (size_t i = 0; i < len; i++) {
        /* A byte without a token is dropped or becomes the unknown token
         * (tokenizer_options.byte_unk). */
        int32_t id = t->byte_id[w[i]] >= 0 ? t->byte_id[w[i]] : t->byte_unk ? t->unk : -1;
        if (id < 0) continue;
        st->sym[m] = id;
        st->prev[m] = m - 1;
        st->next[m] = m + 1;
        m++;
    }
    if (m == 0) return 0;
    st->next[m - 1] = -1;
    st->n_heap = 0;
    for (int32_t i = 0; i + 1 < m; i++) queue_pair(t, st, i);
    while (st->n_heap) {
        uint64_t top = heap_pop(st);
        int32_t pos = (int32_t)(uint32_t)top, r = st->next[pos];
        if (st->sym[pos] < 0 || r < 0) continue;
        uint64_t mv = merge_find(t, st->sym[pos], st->sym[r]);
        /* Stale when either symbol changed since the pair was queued. */
        if (mv == ~0ull || (mv >> 32) != (top >> 32)) continue;
        st->sym[pos] = (int32_t)(uint32_t)mv;
        st->sym[r] = -1;
        st->next[pos] = st->next[r];
        if (st->next[r] >= 0) st->prev[st->next[r]] = pos;
        queue_pair(t, st, st->prev[pos]);
        queue_pair(t, st, pos);
    }
    for (int32_t i = 0; i >= 0; i = st->next[i])
        if ((e = push_id(st, st->sym[i]))) return e;
    return 0;
}

static int bpe_segment(const tokenizer *t, enc_state *st, const char *s, size_t len)
{
    size_t n;
    int e = decode_segment(st, s, len, &n);
    if (e) return e;
    size_t nw = tokenizer_pre_split(t->pre, st->cp, st->fl, n, st->ends);
    size_t start = 0;
    for (size_t k = 0; k < nw && !e; k++) {
        size_t end = st->ends[k];
        e = bpe_word(t, st, (const unsigned char *)s + st->off[start], st->off[end] - st->off[start]);
        start = end;
    }
    return e;
}

/* ---- SPM ----------------------------------------------------------------------------- */

/* A float's order as an unsigned integer (larger float, larger key). */
static uint32_t float_order(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

/* Queues the merge of SPM symbol pos with its right neighbour when their
 * bytes form a token: highest score first, then the leftmost. */
static void spm_queue(const tokenizer *t, enc_state *st, int32_t pos)
{
    if (pos < 0 || st->next[pos] < 0) return;
    int32_t r = st->next[pos];
    int32_t id = vocab_find(t, st->buf + st->sym[pos], (size_t)(st->slen[pos] + st->slen[r]));
    if (id >= 0) heap_push(st, (uint64_t)~float_order(t->score[id]) << 32 | (uint32_t)pos);
}

/* llama.cpp's llm_tokenizer_spm_session::tokenize over one segment. A
 * popped pair is stale when its left symbol was merged away or its bytes
 * with the current right neighbour no longer make a token of the queued
 * score. */
static int spm_segment(const tokenizer *t, enc_state *st, const char *s, size_t len)
{
    size_t need = 3 * len + 3; /* each space becomes 3 bytes */
    if (need > INT32_MAX)
        return hrt_err(HRT_E_RANGE, "tokenizer: a text of %zu bytes without added tokens is too long for SPM "
                       "(at most %d)", len, INT32_MAX / 3 - 1);
    int e = buf_reserve(st, need);
    if (e) return e;
    size_t o = 0;
    if (t->add_space_prefix && st->prev_special) {
        memcpy(st->buf, "\xE2\x96\x81", 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            memcpy(st->buf + o, "\xE2\x96\x81", 3);
            o += 3;
        } else {
            st->buf[o++] = s[i];
        }
    }
    if ((e = grow_symbols(st, o))) return e;

    int32_t m = 0;
    for (size_t i = 0; i < o; m++) {
        size_t adv;
        utf8_decode((const unsigned char *)st->buf + i, o - i, &adv); /* valid: repaired */
        st->sym[m] = (int32_t)i;
        st->slen[m] = (int32_t)adv;
        st->prev[m] = m - 1;
        st->next[m] = m + 1;
        i += adv;
    }
    if (m == 0) return 0;
    st->next[m - 1] = -1;
    st->n_heap = 0;
    for (int32_t i = 0; i + 1 < m; i++) spm_queue(t, st, i);
    while (st->n_heap) {
        uint64_t top = heap_pop(st);
        int32_t pos = (int32_t)(uint32_t)top, r = st->next[pos];
        if (st->slen[pos] == 0 || r < 0) continue;
        int32_t id = vocab_find(t, st->buf + st->sym[pos], (size_t)(st->slen[pos] + st->slen[r]));
        if (id < 0 || ~float_order(t->score[id]) != (uint32_t)(top >> 32)) continue;
        st->slen[pos] += st->slen[r];
        st->slen[r] = 0;
        st->next[pos] = st->next[r];
        if (st->next[r] >= 0) st->prev[st->next[r]] = pos;
        spm_queue(t, st, st->prev[pos]);
        spm_queue(t, st, pos);
    }
    for (int32_t i = 0; i >= 0 && !e; i = st->next[i]) {
        const char *p = st->buf + st->sym[i];
        int32_t id = vocab_find(t, p, (size_t)st->slen[i]);
        if (id >= 0) {
            e = push_id(st, id);
            continue;
        }
        /* no token: the bytes, each as its <0xXX> token (or unknown) */
        for (int32_t k = 0; k < st->slen[i] && !e; k++) {
            int32_t b = t->byte_id[(unsigned char)p[k]];
            if (b >= 0 || t->unk >= 0) e = push_id(st, b >= 0 ? b : t->unk);
        }
    }
    return e;
}

/* ---- WordPiece --------------------------------------------------------------------- */

/* Greedy longest-match-first over one normalised word in st->buf[0..len)
 * (HF's WordPiece): a word with no full cover becomes one unknown token. */
static int wordpiece_word(const tokenizer *t, enc_state *st, size_t len, size_t n_chars)
{
    if (len == 0) return 0;
    if (n_chars > (size_t)t->max_chars) return push_id(st, t->unk);
    size_t mark = *st->n, start = 0;
    /* The key (prefix + piece) is built after the word in buf. */
    int e = buf_reserve(st, 2 * len + t->prefix_len);
    if (e) return e;
    char *key = st->buf + len;
    while (start < len) {
        size_t pl = start > 0 ? t->prefix_len : 0;
        size_t end = len - start > t->max_token_len ? start + t->max_token_len : len;
        int32_t found = -1;
        memcpy(key, t->prefix, pl);
        for (; end > start; end--) {
            if (end < len && ((unsigned char)st->buf[end] & 0xC0) == 0x80) continue;
            memcpy(key + pl, st->buf + start, end - start);
            if ((found = vocab_find(t, key, pl + end - start)) >= 0) break;
        }
        if (found < 0) {
            *st->n = mark;
            return push_id(st, t->unk);
        }
        if ((e = push_id(st, found))) return e;
        start = end;
    }
    return 0;
}

/* Appends code point c to the word in st->buf. */
static int word_append(enc_state *st, size_t *len, uint32_t c)
{
    int e = buf_reserve(st, *len + 4);
    if (e) return e;
    *len += (size_t)utf8_encode(c, st->buf + *len);
    return 0;
}

/* BertNormalizer, then BertPreTokenizer (split at white space, isolate
 * punctuation), then WordPiece per word. */
static int wordpiece_segment(const tokenizer *t, enc_state *st, const char *s, size_t len)
{
    size_t i = 0, wlen = 0, wchars = 0;
    int e = 0;
    while (i < len && !e) {
        size_t adv;
        uint32_t norm[BERT_NORM_MAX];
        int nn = tokenizer_bert_normalize(t->bert, utf8_decode((const unsigned char *)s + i, len - i, &adv), norm);
        i += adv;
        for (int k = 0; k < nn && !e; k++) {
            unsigned f = unicode_flags(norm[k]);
            if (!(f & (UCAT_SPACE | UCAT_BERT_PUNCT))) {
                e = word_append(st, &wlen, norm[k]);
                wchars++;
                continue;
            }
            /* White space ends the word; punctuation also makes a word of
             * its own. */
            e = wordpiece_word(t, st, wlen, wchars);
            wlen = wchars = 0;
            if (!e && (f & UCAT_BERT_PUNCT)) {
                e = word_append(st, &wlen, norm[k]);
                if (!e) e = wordpiece_word(t, st, wlen, 1);
                wlen = 0;
            }
        }
    }
    if (!e) e = wordpiece_word(t, st, wlen, wchars);
    return e;
}

/* ---- encode / decode ------------------------------------------------------------------ */

static int encode_segment(const tokenizer *t, enc_state *st, const char *s, size_t len)
{
    if (len == 0) return 0;
    int e = t->type == TOKENIZER_BPE   ? bpe_segment(t, st, s, len)
            : t->type == TOKENIZER_SPM ? spm_segment(t, st, s, len)
                                       : wordpiece_segment(t, st, s, len);
    st->prev_special = 0;
    return e;
}

/* The added token starting at s (longest first), or -1. */
static int32_t match_special(const tokenizer *t, const char *s, size_t len, int parse_special,
                             size_t *mlen)
{
    unsigned char b = (unsigned char)s[0];
    for (uint32_t k = t->special_first[b]; k < t->special_first[b + 1]; k++) {
        int32_t id = t->special[k];
        if (!parse_special && (t->attr[id] & ATTR_CONTROL)) continue;
        size_t tl;
        const char *ts = tok_text(t, id, &tl);
        if (tl <= len && memcmp(ts, s, tl) == 0) {
            *mlen = tl;
            return id;
        }
    }
    return -1;
}

int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int add_special,
                     int parse_special, int32_t **ids, size_t *n, size_t *cap)
{
    if (!t || (!text && len) || !ids || !n || !cap)
        return hrt_err(HRT_E_INVALID, "tokenizer_encode: NULL argument");
    if (len >= UINT32_MAX) return hrt_err(HRT_E_RANGE, "tokenizer_encode: text over 4 GiB");
    size_t rlen, n_bad;
    char *s = utf8_repair(text ? text : "", len, &rlen, &n_bad);
    if (!s) return hrt_err(HRT_E_NOMEM, "tokenizer: out of memory");
    if (n_bad) hrt_log(HRT_LOG_WARN, "tokenizer: replaced %zu invalid UTF-8 sequences with U+FFFD", n_bad);
    if (rlen >= UINT32_MAX) {
        free(s);
        return hrt_err(HRT_E_RANGE, "tokenizer_encode: text over 4 GiB");
    }
    enc_state st = {.ids = ids, .n = n, .cap = cap, .prev_special = 1};
    int wp = t->type == TOKENIZER_WORDPIECE, e = 0;
    if (add_special) {
        int32_t first = wp ? t->cls : t->add_bos ? t->bos : -1;
        if (first >= 0) e = push_id(&st, first);
    }
    size_t seg = 0, p = 0;
    while (p < rlen && !e) {
        size_t mlen = 0;
        int32_t id = t->special_first[(unsigned char)s[p]] < t->special_first[(unsigned char)s[p] + 1]
                         ? match_special(t, s + p, rlen - p, parse_special, &mlen)
                         : -1;
        if (id < 0) {
            p++;
            continue;
        }
        if (!(e = encode_segment(t, &st, s + seg, p - seg))) e = push_id(&st, id);
        st.prev_special = 1;
        p += mlen;
        seg = p;
    }
    if (!e) e = encode_segment(t, &st, s + seg, rlen - seg);
    if (!e && add_special) {
        int32_t last = wp ? t->sep : t->add_eos ? t->eos : -1;
        if (last >= 0) e = push_id(&st, last);
    }
    enc_free(&st);
    free(s);
    return e;
}

int tokenizer_decode(const tokenizer *t, const int32_t *ids, size_t n, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *p = tokenizer_piece(t, ids[i], &len);
        if (!p) return hrt_err(HRT_E_INVALID, "tokenizer_decode: id %d outside the vocabulary of %d",
                               (int)ids[i], t->n_vocab);
        if (t->type == TOKENIZER_WORDPIECE) {
            /* Continuations glue to the word; everything else starts a new
             * one after a space. */
            if (has_prefix(p, len, t->prefix) && len > t->prefix_len) {
                p += t->prefix_len;
                len -= t->prefix_len;
            } else if (i > 0) {
                if (o < cap) buf[o] = ' ';
                o++;
            }
        }
        if (o < cap) memcpy(buf + o, p, len < cap - o ? len : cap - o);
        o += len;
        if (o > INT32_MAX) return hrt_err(HRT_E_RANGE, "tokenizer_decode: output over 2 GiB");
    }
    return (int)o;
}
