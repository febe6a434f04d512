/* Tokenizers from files: Hugging Face tokenizer.json and BERT vocab.txt.
 *
 * Only what hrt's two tokenizer kinds can reproduce is accepted: a
 * byte-level BPE (GPT-2, SmolLM, Llama 3 and Qwen2 pre-tokenizers) or a
 * WordPiece behind BertNormalizer and BertPreTokenizer. Anything else is
 * HRT_E_UNSUPPORTED with the component named, rather than a tokenizer that
 * silently disagrees with the model's own. */
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "file.h"

/* The Split regexes of Llama 3 and Qwen2 tokenizer.json files. */
static const char llama3_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char qwen2_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const cJSON *item(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = item(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int is_type(const cJSON *o, const char *type)
{
    const char *t = str_of(o, "type");
    return t && strcmp(t, type) == 0;
}

/* A JSON boolean, or def when absent or null. */
static int bool_of(const cJSON *o, const char *key, int def)
{
    const cJSON *v = item(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

/* The vocabulary being assembled: tokens by id. */
typedef struct {
    tokenizer_spec spec;
    tokenizer_options opt;
    const char **tokens;
    int32_t *types;
    char **merges;       /* owned "left right" strings */
    int n_merges;
    const char *path;
} hf_build;

static void build_free(hf_build *b)
{
    for (int i = 0; i < b->n_merges; i++) free(b->merges[i]);
    free(b->merges);
    free(b->tokens);
    free(b->types);
}

static int id_of(const hf_build *b, const char *s)
{
    if (!s) return -1;
    for (int i = 0; i < b->spec.n_vocab; i++)
        if (b->tokens[i] && strcmp(b->tokens[i], s) == 0) return i;
    return -1;
}

/* Sizes the vocabulary from model.vocab and added_tokens, then fills it.
 * Ids that neither names become empty unused tokens. */
static int read_vocab(hf_build *b, const cJSON *vocab, const cJSON *added)
{
    if (!cJSON_IsObject(vocab)) return hrt_err(HRT_E_FORMAT, "%s: model.vocab is not an object", b->path);
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= (1 << 24))
            return hrt_err(HRT_E_FORMAT, "%s: model.vocab['%s'] is not an id", b->path, v->string);
        if (v->valueint + 1 > n) n = v->valueint + 1;
    }
    cJSON_ArrayForEach(v, added) {
        const cJSON *id = item(v, "id");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= (1 << 24) || !str_of(v, "content"))
            return hrt_err(HRT_E_FORMAT, "%s: added_tokens entry without id or content", b->path);
        if (id->valueint + 1 > n) n = id->valueint + 1;
    }
    if (n == 0) return hrt_err(HRT_E_FORMAT, "%s: empty vocabulary", b->path);
    b->tokens = calloc((size_t)n, sizeof *b->tokens);
    b->types = malloc((size_t)n * sizeof *b->types);
    if (!b->tokens || !b->types) return hrt_err(HRT_E_NOMEM, "%s: out of memory", b->path);
    for (int i = 0; i < n; i++) b->types[i] = TOKEN_TYPE_UNUSED;
    cJSON_ArrayForEach(v, vocab) {
        b->tokens[v->valueint] = v->string;
        b->types[v->valueint] = TOKEN_TYPE_NORMAL;
    }
    cJSON_ArrayForEach(v, added) {
        int id = item(v, "id")->valueint;
        b->tokens[id] = str_of(v, "content");
        b->types[id] = bool_of(v, "special", 0) ? TOKEN_TYPE_CONTROL : TOKEN_TYPE_USER_DEFINED;
    }
    for (int i = 0; i < n; i++)
        if (!b->tokens[i]) b->tokens[i] = "";
    b->spec.n_vocab = n;
    b->spec.tokens = b->tokens;
    b->spec.token_types = b->types;
    return 0;
}

/* model.merges: "left right" strings, or ["left", "right"] pairs (the
 * format since tokenizers 0.20). */
static int read_merges(hf_build *b, const cJSON *merges)
{
    if (!cJSON_IsArray(merges)) return hrt_err(HRT_E_FORMAT, "%s: model.merges is not an array", b->path);
    int n = cJSON_GetArraySize(merges);
    b->merges = calloc((size_t)n + 1, sizeof *b->merges);
    if (!b->merges) return hrt_err(HRT_E_NOMEM, "%s: out of memory", b->path);
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        const char *l = NULL, *r = NULL;
        if (cJSON_IsString(m)) {
            l = m->valuestring;
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) {
            l = m->child->valuestring;
            r = m->child->next->valuestring;
        } else {
            return hrt_err(HRT_E_FORMAT, "%s: model.merges[%d] is neither a string nor a pair", b->path,
                           b->n_merges);
        }
        size_t len = strlen(l) + (r ? strlen(r) + 1 : 0);
        char *s = malloc(len + 1);
        if (!s) return hrt_err(HRT_E_NOMEM, "%s: out of memory", b->path);
        if (r)
            snprintf(s, len + 1, "%s %s", l, r);
        else
            memcpy(s, l, len + 1);
        b->merges[b->n_merges++] = s;
    }
    b->spec.n_merges = b->n_merges;
    b->spec.merges = (const char *const *)b->merges;
    return 0;
}

static int is_bytelevel(const cJSON *p, int use_regex)
{
    return is_type(p, "ByteLevel") && !bool_of(p, "add_prefix_space", 0) &&
           bool_of(p, "use_regex", 1) == use_regex;
}

/* Names the pre-tokenizer the GGUF way, or NULL when hrt has no match. */
static const char *bpe_pre_name(const cJSON *pre)
{
    if (is_bytelevel(pre, 1)) return "gpt2";
    if (!is_type(pre, "Sequence")) return NULL;
    const cJSON *list = item(pre, "pretokenizers");
    if (cJSON_GetArraySize(list) != 2) return NULL;
    const cJSON *a = cJSON_GetArrayItem(list, 0), *b = cJSON_GetArrayItem(list, 1);
    if (is_type(a, "Digits") && bool_of(a, "individual_digits", 0) && is_bytelevel(b, 1)) return "smollm";
    if (is_type(a, "Split") && is_bytelevel(b, 0)) {
        const char *re = str_of(item(a, "pattern"), "Regex"), *beh = str_of(a, "behavior");
        if (!re || !beh || strcmp(beh, "Isolated") != 0 || bool_of(a, "invert", 0)) return NULL;
        if (strcmp(re, llama3_regex) == 0) return "llama3";
        if (strcmp(re, qwen2_regex) == 0) return "qwen2";
    }
    return NULL;
}

/* What a TemplateProcessing or BertProcessing post-processor puts around a
 * single sequence: the ids of the tokens before and after it (-1: none). */
static void read_template(const hf_build *b, const cJSON *post, int *first, int *last)
{
    *first = *last = -1;
    if (is_type(post, "BertProcessing") || is_type(post, "RobertaProcessing")) {
        const cJSON *cls = item(post, "cls"), *sep = item(post, "sep");
        if (cJSON_GetArraySize(cls) == 2) *first = cJSON_GetArrayItem(cls, 1)->valueint;
        if (cJSON_GetArraySize(sep) == 2) *last = cJSON_GetArrayItem(sep, 1)->valueint;
        return;
    }
    if (!is_type(post, "TemplateProcessing")) return;
    const cJSON *single = item(post, "single");
    int n = cJSON_GetArraySize(single);
    if (n == 0) return;
    const cJSON *ends[2] = {cJSON_GetArrayItem(single, 0), cJSON_GetArrayItem(single, n - 1)};
    for (int k = 0; k < 2; k++) {
        const char *name = str_of(item(ends[k], "SpecialToken"), "id");
        if (!name) continue;
        /* special_tokens[name].ids[0], else the vocabulary's id of name */
        const cJSON *ids = item(item(item(post, "special_tokens"), name), "ids");
        int id = cJSON_GetArraySize(ids) == 1 ? cJSON_GetArrayItem(ids, 0)->valueint : id_of(b, name);
        if (id >= 0 && id < b->spec.n_vocab) *(k ? last : first) = id;
    }
}

static int first_of(const hf_build *b, const char *const *names)
{
    for (; *names; names++) {
        int id = id_of(b, *names);
        if (id >= 0) return id;
    }
    return -1;
}

static int setup_bpe(hf_build *b, const cJSON *root, const cJSON *model)
{
    const char *pre = bpe_pre_name(item(root, "pre_tokenizer"));
    if (!pre)
        return hrt_err(HRT_E_UNSUPPORTED, "%s: pre_tokenizer is not ByteLevel, Digits+ByteLevel "
                       "or a Llama 3/Qwen2 Split+ByteLevel", b->path);
    if (bool_of(model, "byte_fallback", 0) || str_of(model, "continuing_subword_prefix") ||
        str_of(model, "end_of_word_suffix"))
        return hrt_err(HRT_E_UNSUPPORTED, "%s: BPE with byte_fallback or word affixes", b->path);
    const cJSON *norm = item(root, "normalizer");
    if (is_type(norm, "NFC"))
        /* Qwen2 asks for NFC; text already in NFC (nearly all) is unaffected. */
        hrt_log(HRT_LOG_WARN, "%s: NFC normalizer not applied", b->path);
    else if (norm && !cJSON_IsNull(norm))
        return hrt_err(HRT_E_UNSUPPORTED, "%s: normalizer '%s' with BPE", b->path,
                       str_of(norm, "type") ? str_of(norm, "type") : "?");
    int st = read_merges(b, item(model, "merges"));
    if (st) return st;
    b->spec.type = TOKENIZER_BPE;
    b->spec.pre = pre;
    tokenizer_default_options(&b->spec, &b->opt);
    b->opt.ignore_merges = bool_of(model, "ignore_merges", 0);
    b->opt.byte_unk = str_of(model, "unk_token") != NULL;
    static const char *const bos[] = {"<|begin_of_text|>", "<s>", "<bos>", NULL};
    static const char *const eos[] = {"<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>", NULL};
    int first, last;
    read_template(b, item(root, "post_processor"), &first, &last);
    b->spec.bos_id = first >= 0 ? first : first_of(b, bos);
    b->spec.eos_id = last >= 0 ? last : first_of(b, eos);
    b->spec.add_bos = first >= 0;
    b->spec.add_eos = last >= 0;
    b->spec.unk_id = id_of(b, str_of(model, "unk_token"));
    return 0;
}

static int setup_wordpiece(hf_build *b, const cJSON *root, const cJSON *model)
{
    const cJSON *norm = item(root, "normalizer"), *pre = item(root, "pre_tokenizer");
    b->spec.type = TOKENIZER_WORDPIECE;
    tokenizer_default_options(&b->spec, &b->opt);
    if (is_type(norm, "BertNormalizer")) {
        b->opt.clean_text = bool_of(norm, "clean_text", 1);
        b->opt.handle_chinese_chars = bool_of(norm, "handle_chinese_chars", 1);
        b->opt.lowercase = bool_of(norm, "lowercase", 1);
        b->opt.strip_accents = bool_of(norm, "strip_accents", b->opt.lowercase);
    } else if (!norm || cJSON_IsNull(norm)) {
        b->opt.clean_text = b->opt.handle_chinese_chars = b->opt.lowercase = b->opt.strip_accents = 0;
    } else {
        return hrt_err(HRT_E_UNSUPPORTED, "%s: WordPiece normalizer '%s' (BertNormalizer only)", b->path,
                       str_of(norm, "type") ? str_of(norm, "type") : "?");
    }
    if (!is_type(pre, "BertPreTokenizer"))
        return hrt_err(HRT_E_UNSUPPORTED, "%s: WordPiece pre_tokenizer is not BertPreTokenizer", b->path);
    b->spec.lowercase = b->opt.lowercase;
    b->opt.continuing_prefix = str_of(model, "continuing_subword_prefix");
    const cJSON *mx = item(model, "max_input_chars_per_word");
    b->spec.max_input_chars_per_word = cJSON_IsNumber(mx) && mx->valueint > 0 ? mx->valueint : 100;
    b->spec.unk_id = id_of(b, str_of(model, "unk_token") ? str_of(model, "unk_token") : "[UNK]");
    int first, last;
    read_template(b, item(root, "post_processor"), &first, &last);
    b->spec.cls_id = first >= 0 ? first : id_of(b, "[CLS]");
    b->spec.sep_id = last >= 0 ? last : id_of(b, "[SEP]");
    b->spec.pad_id = id_of(b, "[PAD]");
    return 0;
}

int tokenizer_from_hf_json(const char *path, tokenizer **out)
{
    *out = NULL;
    char *text;
    size_t len;
    int st = file_read_all(path, 0, &text, &len);
    if (st) return st;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) return hrt_err(HRT_E_FORMAT, "%s: not valid JSON", path);
    hf_build b = {.path = path};
    b.spec.bos_id = b.spec.eos_id = b.spec.unk_id = b.spec.sep_id = b.spec.pad_id = b.spec.cls_id = -1;
    const cJSON *model = item(root, "model");
    const char *type = str_of(model, "type");
    if (!type && item(model, "merges")) type = "BPE"; /* files before "type" was written */
    if (!cJSON_IsObject(model) || !type) {
        st = hrt_err(HRT_E_FORMAT, "%s: no model.type", path);
    } else if (strcmp(type, "BPE") != 0 && strcmp(type, "WordPiece") != 0) {
        st = hrt_err(HRT_E_UNSUPPORTED, "%s: model type '%s' (BPE or WordPiece only)", path, type);
    } else if (!(st = read_vocab(&b, item(model, "vocab"), item(root, "added_tokens")))) {
        st = strcmp(type, "BPE") == 0 ? setup_bpe(&b, root, model) : setup_wordpiece(&b, root, model);
    }
    if (!st) {
        st = tokenizer_create_ex(&b.spec, &b.opt, out);
        if (st) hrt_err_prefix(st, "%s", path);
    }
    build_free(&b);
    cJSON_Delete(root);
    return st;
}

int tokenizer_from_vocab_txt(const char *path, int lowercase, tokenizer **out)
{
    *out = NULL;
    char *text;
    size_t len;
    int st = file_read_all(path, 0, &text, &len);
    if (st) return st;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += text[i] == '\n';
    if (len && text[len - 1] != '\n') n++;
    const char **tokens = malloc((n + 1) * sizeof *tokens);
    uint32_t *lens = malloc((n + 1) * sizeof *lens);
    int32_t *types = malloc((n + 1) * sizeof *types);
    if (!tokens || !lens || !types || n >= (1u << 24)) {
        st = n >= (1u << 24) ? hrt_err(HRT_E_FORMAT, "%s: %zu lines", path, n)
                             : hrt_err(HRT_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    static const char *const control[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= len && k < n; i++) {
        if (i < len && text[i] != '\n') continue;
        /* HF's WordPiece::read_file trims the end of each line. */
        size_t end = i;
        while (end > start && (text[end - 1] == '\r' || text[end - 1] == ' ' || text[end - 1] == '\t')) end--;
        tokens[k] = text + start;
        lens[k] = (uint32_t)(end - start);
        types[k] = TOKEN_TYPE_NORMAL;
        for (size_t c = 0; c < sizeof control / sizeof control[0]; c++)
            if (strlen(control[c]) == lens[k] && memcmp(control[c], tokens[k], lens[k]) == 0)
                types[k] = c == 1 ? TOKEN_TYPE_UNKNOWN : TOKEN_TYPE_CONTROL;
        k++;
        start = i + 1;
    }
    tokenizer_spec spec = {
        .type = TOKENIZER_WORDPIECE, .n_vocab = (int)k, .tokens = tokens, .token_lens = lens,
        .token_types = types, .bos_id = -1, .eos_id = -1, .unk_id = -1, .sep_id = -1,
        .pad_id = -1, .cls_id = -1, .lowercase = lowercase, .max_input_chars_per_word = 100,
    };
    st = tokenizer_create(&spec, out);
    if (st) hrt_err_prefix(st, "%s", path);
done:
    free(tokens);
    free(lens);
    free(types);
    free(text);
    return st;
}
