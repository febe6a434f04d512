/* libFuzzer harness for the tokenizers: arbitrary bytes through UTF-8
 * repair, every BPE pre-tokenizer, byte-level BPE and BERT WordPiece.
 *
 *   clang -fsanitize=fuzzer,address,undefined ... ; ./fuzz_tokenizer corpus/
 *
 * Tokenizers come from the committed tests/golden/tokenizer_tiny_*.json (a
 * byte-level BPE holding all 256 byte tokens, so that decode(encode(s)) must
 * give back the repaired s) and from models/all-minilm-l6-v2 when present,
 * else a small inline WordPiece vocabulary. Besides the sanitizers, the
 * harness traps on a broken invariant: a round trip that differs, ids out of
 * range, or pre-tokenizer words that do not tile the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "unicode.h"

#ifndef HRT_SOURCE_DIR
#define HRT_SOURCE_DIR "."
#endif

static tokenizer *bpe, *bpe_llama3, *bert;

static tokenizer *inline_wordpiece(void)
{
    static const char *const vocab[] = {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "the", "##s", "##ing", "un",
        "##aff", "##able", "!", ",", ".", "##a", "##b", "\xe4\xb8\xad", "1", "##1", "e",
    };
    tokenizer_spec spec = {
        .type = TOKENIZER_WORDPIECE, .n_vocab = (int)(sizeof vocab / sizeof vocab[0]), .tokens = vocab,
        .bos_id = -1, .eos_id = -1, .unk_id = 1, .sep_id = 3, .pad_id = 0, .cls_id = 2, .lowercase = 1,
    };
    tokenizer *t = NULL;
    tokenizer_create(&spec, &t);
    return t;
}

static void setup(void)
{
    if (tokenizer_from_hf_json(HRT_SOURCE_DIR "/tests/golden/tokenizer_tiny_bpe.json", &bpe) ||
        tokenizer_from_hf_json(HRT_SOURCE_DIR "/tests/golden/tokenizer_tiny_llama3.json", &bpe_llama3))
        abort(); /* the committed files must load */
    if (tokenizer_from_hf_json(HRT_SOURCE_DIR "/models/all-minilm-l6-v2/tokenizer.json", &bert))
        bert = inline_wordpiece();
    if (!bert) abort();
}

static void check_ids(const tokenizer *t, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= tokenizer_n_vocab(t)) __builtin_trap();
}

/* Every pre-tokenizer's words tile the code points, each non-empty. */
static void check_splits(const char *s, size_t len)
{
    uint32_t *cp = malloc((len + 1) * sizeof *cp), *ends = malloc((len + 1) * sizeof *ends);
    uint16_t *fl = malloc((len + 1) * sizeof *fl);
    size_t n = 0, adv;
    for (size_t i = 0; i < len; i += adv, n++) {
        cp[n] = utf8_decode((const unsigned char *)s + i, len - i, &adv);
        fl[n] = (uint16_t)unicode_flags(cp[n]);
    }
    static const int kinds[] = {PRE_GPT2, PRE_SMOLLM, PRE_LLAMA3, PRE_QWEN2};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t nw = tokenizer_pre_split(kinds[k], cp, fl, n, ends);
        uint32_t prev = 0;
        for (size_t w = 0; w < nw; w++) {
            if (ends[w] <= prev) __builtin_trap();
            prev = ends[w];
        }
        if (prev != n || (n > 0 && nw == 0)) __builtin_trap();
    }
    free(cp);
    free(ends);
    free(fl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!bpe) setup();
    if (size == 0) return 0;
    /* The first byte picks the flags; the rest is the text. */
    int add_special = data[0] & 1, parse_special = (data[0] >> 1) & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    size_t rlen, n_bad;
    char *fixed = utf8_repair(text, len, &rlen, &n_bad);
    if (!fixed) return 0;
    check_splits(fixed, rlen);

    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    if (tokenizer_encode(bpe, text, len, 0, parse_special, &ids, &n, &cap) == 0) {
        check_ids(bpe, ids, n);
        /* Without parse_special every byte comes back: the tiny BPE has all
         * 256 byte tokens. With it, added tokens decode to their text too. */
        int need = tokenizer_decode(bpe, ids, n, NULL, 0);
        char *back = malloc((size_t)(need > 0 ? need : 1));
        if (need < 0 || tokenizer_decode(bpe, ids, n, back, (size_t)need) != need ||
            (size_t)need != rlen || memcmp(back, fixed, rlen) != 0)
            __builtin_trap();
        free(back);
    }
    n = 0;
    if (tokenizer_encode(bpe_llama3, text, len, add_special, parse_special, &ids, &n, &cap) == 0)
        check_ids(bpe_llama3, ids, n);
    n = 0;
    if (tokenizer_encode(bert, text, len, add_special, parse_special, &ids, &n, &cap) == 0) {
        check_ids(bert, ids, n);
        int need = tokenizer_decode(bert, ids, n, NULL, 0);
        if (need > 0) {
            char *back = malloc((size_t)need);
            tokenizer_decode(bert, ids, n, back, (size_t)need);
            free(back);
        }
    }
    free(ids);
    free(fixed);
    return 0;
}
