/* Tokenizers: byte-level BPE (GPT-2 family: SmolLM2, Qwen2, Llama 3),
 * SentencePiece-style BPE over scores (GGUF "llama" vocabularies: Gemma,
 * Llama 2) and WordPiece (BERT). Built from plain arrays so that the GGUF loader and the
 * tokenizer.json / vocab.txt readers share one constructor.
 *
 * A tokenizer is immutable after creation and safe to share between threads. */
#ifndef HRT_TOKENIZER_H
#define HRT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

enum { TOKENIZER_BPE = 1, TOKENIZER_WORDPIECE = 2, TOKENIZER_SPM = 3 };

/* GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
enum {
    TOKEN_TYPE_NORMAL = 1,
    TOKEN_TYPE_UNKNOWN = 2,
    TOKEN_TYPE_CONTROL = 3,
    TOKEN_TYPE_USER_DEFINED = 4,
    TOKEN_TYPE_UNUSED = 5,
    TOKEN_TYPE_BYTE = 6,
};

typedef struct {
    int type;                       /* TOKENIZER_* */
    int n_vocab;
    const char *const *tokens;      /* n_vocab strings, not NUL-terminated... */
    const uint32_t *token_lens;     /* ...their byte lengths */
    const int32_t *token_types;     /* n_vocab TOKEN_TYPE_*, NULL = all normal */
    const float *scores;            /* SPM: n_vocab merge priorities (higher first) */
    int add_space_prefix;           /* SPM: a space before text that starts the
                                       input or follows a special token */
    int n_merges;                   /* BPE only: "left right" pairs by rank */
    const char *const *merges;
    const uint32_t *merge_lens;
    const char *pre;                /* BPE pre-tokenizer, GGUF tokenizer.ggml.pre:
                                       "gpt2", "smollm", "llama-bpe", "qwen2", ...;
                                       NULL = "gpt2" */
    int bos_id, eos_id, unk_id, sep_id, pad_id, cls_id; /* -1 when absent */
    int add_bos, add_eos;           /* what add_special adds for BPE and SPM */
    int lowercase;                  /* WordPiece: BERT uncased normalisation */
    int max_input_chars_per_word;   /* WordPiece: 0 = 100 */
} tokenizer_spec;

typedef struct tokenizer tokenizer;

/* Copies everything it needs from spec. Returns 0 or a negative HRT_E_*
 * (with hrt_last_error set): HRT_E_FORMAT for a bad vocabulary or merge,
 * HRT_E_UNSUPPORTED for an unknown pre-tokenizer. */
int tokenizer_create(const tokenizer_spec *spec, tokenizer **out);

/* Reads a Hugging Face tokenizer.json (model type BPE with a ByteLevel
 * pre-tokenizer, or WordPiece). */
int tokenizer_from_hf_json(const char *path, tokenizer **out);

/* Reads a BERT vocab.txt (one token per line) as an uncased WordPiece. */
int tokenizer_from_vocab_txt(const char *path, int lowercase, tokenizer **out);

void tokenizer_free(tokenizer *tok);

int tokenizer_n_vocab(const tokenizer *tok);
int tokenizer_type(const tokenizer *tok);

/* Encodes text (repairing invalid UTF-8 first). Appends to a growable
 * array: *ids (realloc'd), *n (count), *cap (capacity). add_special adds
 * BOS/EOS (BPE, per add_bos/add_eos) or [CLS] ... [SEP] (WordPiece).
 * parse_special matches control and user-defined tokens written in the
 * text as single ids (as HF tokenizers does with added tokens).
 * Returns 0 or a negative HRT_E_*. */
int tokenizer_encode(const tokenizer *tok, const char *text, size_t len,
                     int add_special, int parse_special, int32_t **ids,
                     size_t *n, size_t *cap);

/* The bytes a token id decodes to (byte-level BPE mapped back to raw bytes;
 * control tokens decode to their text; WordPiece strips "##" and puts a
 * space before word starts is NOT done here). Returns a borrowed pointer
 * and sets *len, or NULL for an id out of range. */
const char *tokenizer_piece(const tokenizer *tok, int32_t id, size_t *len);

/* Decodes ids into buf; returns bytes needed (may exceed cap), or
 * HRT_E_INVALID for an id out of range. */
int tokenizer_decode(const tokenizer *tok, const int32_t *ids, size_t n,
                     char *buf, size_t cap);

/* Id of an exact token string, or -1. */
int tokenizer_find(const tokenizer *tok, const char *s, size_t len);

int tokenizer_bos(const tokenizer *tok);
int tokenizer_eos(const tokenizer *tok);
/* Whether id ends a turn: EOS, or a control token such as <|im_end|>,
 * <|eot_id|>, <end_of_turn>. */
int tokenizer_is_eog(const tokenizer *tok, int32_t id);

/* ---- additions: options the spec has no field for ------------------------ */

/* Switches of a Hugging Face tokenizer.json that tokenizer_spec cannot
 * express. tokenizer_default_options() gives what tokenizer_create() uses. */
typedef struct {
    /* WordPiece: BertNormalizer's switches (defaults: clean_text and
     * handle_chinese_chars on, strip_accents = lowercase = spec->lowercase). */
    int clean_text, handle_chinese_chars, strip_accents, lowercase;
    const char *continuing_prefix;  /* WordPiece: NULL = "##" */
    int ignore_merges;              /* BPE: a word found whole in the vocabulary
                                       skips the merges (HF's ignore_merges);
                                       default 1 for the llama3 family */
    int byte_unk;                   /* BPE: a byte whose character is not in the
                                       vocabulary becomes unk_id (HF's BPE with
                                       an unk_token); default 0: it is dropped,
                                       as HF does without one (SmolLM2 lacks 21
                                       byte tokens, ASCII 4 6 19 20 22 29 among
                                       them, and its tokenizer.json no unk) */
} tokenizer_options;

void tokenizer_default_options(const tokenizer_spec *spec, tokenizer_options *opt);

/* tokenizer_create() with explicit options (copied, like spec).
 *
 * Notes that hold for both constructors:
 * - Vocabulary strings are UTF-8; byte-level BPE tokens use GPT-2's
 *   byte-to-unicode alphabet, as GGUF and tokenizer.json store them.
 * - A WordPiece vocabulary written the llama.cpp GGUF way (word starts
 *   prefixed with U+2581, continuations without "##") is converted back.
 * - Control (and unknown-type) tokens are matched in the text only with
 *   parse_special; user-defined tokens always (HF and llama.cpp both do so).
 *   Matching is leftmost-longest on the raw text, before normalisation.
 * - tokenizer_encode() reports repaired invalid UTF-8 through hrt_log (WARN).
 * - tokenizer_decode() concatenates raw pieces: a BPE token may end inside a
 *   UTF-8 character, and nothing is repaired. WordPiece joins words with
 *   spaces and glues "##" pieces. Control tokens are written as their text.
 * - SPM (llama.cpp's llm_tokenizer_spm): spaces become U+2581, the text
 *   splits into characters, and the adjacent pair whose concatenation is a
 *   token of the highest score merges first (leftmost among equals) until
 *   none does; a character left without a token becomes its bytes' <0xXX>
 *   tokens (or unk_id).
 * - Pre-tokenizers: "gpt2" (also "gpt-2", "starcoder", "olmo"), "smollm",
 *   "llama3" ("llama-bpe", "dbrx", "smaug-bpe"), "qwen2" ("deepseek-r1-qwen",
 *   "megrez"). */
int tokenizer_create_ex(const tokenizer_spec *spec, const tokenizer_options *opt,
                        tokenizer **out);

/* ---- internal: for infer/tokenizer*.c and the tests ----------------------- */

enum { PRE_GPT2 = 1, PRE_SMOLLM, PRE_LLAMA3, PRE_QWEN2 };

/* PRE_* for a GGUF tokenizer.ggml.pre name (NULL = gpt2), or -1. */
int tokenizer_pre_kind(const char *pre);

/* Splits code points cp[0..n) (with their unicode_flags() in fl) into the
 * words of pre-tokenizer kind: writes each word's end index to ends (room
 * for n) and returns the word count. */
size_t tokenizer_pre_split(int kind, const uint32_t *cp, const uint16_t *fl,
                           size_t n, uint32_t *ends);

enum { BERT_CLEAN = 1, BERT_CHINESE = 2, BERT_STRIP = 4, BERT_LOWER = 8 };
/* Longest output of tokenizer_bert_normalize() for one code point: two pad
 * spaces and UNICODE_MAP_MAX lowercased code points of UNICODE_MAP_MAX. */
#define BERT_NORM_MAX 18

/* BertNormalizer for one code point (flags BERT_*): writes 0 or more code
 * points to out (room for BERT_NORM_MAX) and returns their count. */
int tokenizer_bert_normalize(unsigned flags, uint32_t cp, uint32_t *out);

#endif
