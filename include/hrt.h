/* hrt.h — the public interface of hrt, the hybrid-reasoning runtime.
 *
 * Conventions
 * - Functions return an int status: 0 (HRT_OK) or a negative HRT_E_* code.
 *   hrt_last_error() then holds a thread-local message naming the file, the
 *   field or the call at fault. Functions that fill a caller's buffer return
 *   the size they need (>= 0); when it exceeds the capacity given, only the
 *   capacity was written and the caller retries with a larger buffer.
 * - Handles are opaque, opened with hrt_x_open(), released with hrt_x_free();
 *   hrt_x_free(NULL) is a no-op. Parameters come from hrt_x_default_params(),
 *   so that new fields keep old callers working.
 * - Text in and out is UTF-8 with explicit lengths. Invalid UTF-8 in input is
 *   replaced by U+FFFD (one per maximal invalid subsequence) and reported
 *   through the log callback.
 * - The library never writes to stdout or stderr: it logs through the
 *   callback set with hrt_set_log().
 * - Thread safety: an hrt_model is read-only after hrt_model_open() and may be
 *   shared by threads; an hrt_session is used by one thread at a time, except
 *   hrt_session_cancel(), which any thread may call.
 */
#ifndef HRT_H
#define HRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define HRT_API
#else
#define HRT_API __attribute__((visibility("default")))
#endif

#define HRT_VERSION_MAJOR 0
#define HRT_VERSION_MINOR 1
#define HRT_VERSION_PATCH 0

/* ---- status codes ------------------------------------------------------ */
enum {
    HRT_OK = 0,
    HRT_E_INVALID = -1,     /* a bad argument (NULL where not allowed, bad value) */
    HRT_E_IO = -2,          /* a file could not be opened, read or mapped */
    HRT_E_FORMAT = -3,      /* a file is malformed: truncated, wrong magic, bad field */
    HRT_E_UNSUPPORTED = -4, /* well-formed but not supported (architecture, tensor type) */
    HRT_E_NOMEM = -5,       /* an allocation failed */
    HRT_E_CANCELLED = -6,   /* stopped by hrt_session_cancel() */
    HRT_E_RANGE = -7,       /* a limit was reached (context length, buffer size) */
    HRT_E_BACKEND = -8,     /* the compute backend failed (no device, device error) */
};

/* Thread-local message describing the last failure on this thread. Borrowed;
 * valid until the next hrt call on this thread. Never NULL. */
HRT_API const char *hrt_last_error(void);
/* Static text for a status code. */
HRT_API const char *hrt_strerror(int status);

enum { HRT_LOG_DEBUG = 0, HRT_LOG_INFO = 1, HRT_LOG_WARN = 2, HRT_LOG_ERROR = 3 };
typedef void (*hrt_log_fn)(int level, const char *msg, void *user_data);
/* Sets the log callback for the whole process (NULL: discard). Not
 * thread-safe against concurrent logging: call it once at start-up. */
HRT_API void hrt_set_log(hrt_log_fn fn, void *user_data);

/* ---- models ------------------------------------------------------------ */
typedef struct hrt_model hrt_model;

enum { HRT_BACKEND_AUTO = 0, HRT_BACKEND_CPU = 1, HRT_BACKEND_CUDA = 2 };

/* How activations meet quantized weights on the CPU when tokens are
 * decoded one at a time. INT8 rounds each activation to 8 bits, as
 * llama.cpp does (K-quant weights keep 16 bits): the logits of small
 * models then carry about 1% of rounding noise, enough to flip close
 * decisions. INT16 rounds to 16 bits (noise 256 times smaller) and still
 * multiplies in integers. F32 keeps activations as floats and dequantizes
 * the weights: the exact product, the slowest. Prompts of 16 tokens or
 * more take the exact product in every mode when hrt has OpenBLAS (tiles
 * of weights dequantized, then sgemm). */
enum {
    HRT_PRECISION_DEFAULT = 0,  /* INT16 */
    HRT_PRECISION_INT8 = 1,
    HRT_PRECISION_INT16 = 2,
    HRT_PRECISION_F32 = 3,
};

/* Progress while loading: fraction in [0,1]. */
typedef void (*hrt_progress_fn)(float fraction, void *user_data);

typedef struct {
    int n_threads;           /* CPU threads; 0 = number of online cores */
    int backend;             /* HRT_BACKEND_*; AUTO uses CUDA when the library
                                was built with it and a device is present */
    int device;              /* CUDA device index */
    int precision;           /* HRT_PRECISION_*: activations vs quantized weights */
    hrt_progress_fn progress;
    void *progress_user_data;
} hrt_model_params;

HRT_API hrt_model_params hrt_model_default_params(void);

/* Opens a model: a GGUF file, or a directory holding a Hugging Face
 * checkpoint (config.json, *.safetensors, tokenizer.json or vocab.txt).
 * On success *out owns the model (free with hrt_model_free). On failure *out
 * is NULL and nothing stays allocated.
 *   HRT_E_IO: the path cannot be opened or mapped;
 *   HRT_E_FORMAT: the file is malformed (the message names file and field);
 *   HRT_E_UNSUPPORTED: an architecture or tensor type hrt does not run. */
HRT_API int hrt_model_open(const char *path, const hrt_model_params *params,
                           hrt_model **out);
HRT_API void hrt_model_free(hrt_model *model);

typedef struct {
    const char *arch;        /* "llama", "bert", ... (borrowed from the model) */
    const char *name;        /* general.name or the directory name */
    const char *path;
    const char *weight_type; /* dominant tensor type, e.g. "Q4_1" */
    const char *backend;     /* "cpu" or "cuda" */
    int is_encoder;          /* 1 for embedding models (hrt_embed), 0 for decoders */
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_ff;
    int n_threads;
    int64_t n_params;
    uint64_t weight_bytes;   /* bytes of tensor data */
    int bos_id, eos_id;      /* -1 when the model has none */
    uint64_t kv_bytes_per_token; /* KV cache bytes one token of context takes */
    const char *device;      /* the compute device and its memory, as text */
    int has_chat_template;   /* the file carries a chat template (a base model
                                such as Gemma 3 270M's GGUF has none) */
} hrt_model_info;

/* Fills *out; strings are borrowed from the model and valid until the next
 * call on it. Not thread-safe against itself on one model. */
HRT_API int hrt_model_info_get(hrt_model *model, hrt_model_info *out);

/* Reads one metadata value of a GGUF model as text (numbers printed,
 * arrays summarised). Returns the length needed (without the NUL) or
 * HRT_E_RANGE when the key is absent. */
HRT_API int hrt_model_meta(const hrt_model *model, const char *key, char *buf,
                           size_t cap);

/* ---- tokens ------------------------------------------------------------ */
/* Encodes text into token ids. add_special: add the model's BOS/EOS or
 * [CLS]/[SEP] as the model's tokenizer does; parse_special: recognise special
 * tokens such as "<|im_start|>" written in the text. Returns the number of
 * ids (may exceed cap: then only cap were written), or a negative status. */
HRT_API int hrt_tokenize(const hrt_model *model, const char *text, size_t len,
                         int add_special, int parse_special, int32_t *ids,
                         size_t cap);
/* Decodes ids to UTF-8 text. Returns the bytes needed (no NUL is written;
 * may exceed cap) or a negative status (an id out of range). */
HRT_API int hrt_detokenize(const hrt_model *model, const int32_t *ids, size_t n,
                           char *buf, size_t cap);

/* ---- chat templates ---------------------------------------------------- */
typedef struct {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
} hrt_chat_msg;

/* Renders messages with the model's own chat template (ChatML, Llama 3,
 * Gemma families recognised from the template text). add_generation_prompt
 * appends the assistant header. Returns the bytes needed (a NUL is written
 * when room remains), or HRT_E_UNSUPPORTED for a template it does not know. */
HRT_API int hrt_chat_render(const hrt_model *model, const hrt_chat_msg *msgs,
                            size_t n_msgs, int add_generation_prompt,
                            char *buf, size_t cap);

/* ---- sessions and generation ------------------------------------------ */
typedef struct hrt_session hrt_session;

typedef struct {
    int n_ctx;                /* context length in tokens; 0 = min(model's, 4096) */
} hrt_session_params;

HRT_API hrt_session_params hrt_session_default_params(void);

/* Opens a sequence on a decoder model: allocates its KV cache.
 * HRT_E_INVALID for an encoder model; HRT_E_NOMEM when the cache does not fit. */
HRT_API int hrt_session_open(hrt_model *model, const hrt_session_params *params,
                             hrt_session **out);
HRT_API void hrt_session_free(hrt_session *session);
/* Forgets all tokens (the KV cache is reused). */
HRT_API void hrt_session_reset(hrt_session *session);
/* Number of tokens held in the session's cache. */
HRT_API int hrt_session_n_past(const hrt_session *session);

/* Appends ids to the sequence and runs the model over them. When logits is
 * not NULL it receives the n_vocab logits after the last id.
 *   HRT_E_RANGE: the context would overflow (nothing appended);
 *   HRT_E_INVALID: an id is out of range (nothing appended);
 *   HRT_E_CANCELLED: hrt_session_cancel() was called (the session is reset). */
HRT_API int hrt_session_eval(hrt_session *session, const int32_t *ids, size_t n,
                             float *logits);

/* As hrt_session_eval, but returns only the id of the largest logit after
 * the last id (the lowest id on ties) in *next: greedy decoding without
 * moving the logits (the CUDA backend picks it on the device). */
HRT_API int hrt_session_eval_argmax(hrt_session *session, const int32_t *ids, size_t n, int32_t *next);

/* Asks a running hrt_session_eval/hrt_generate to stop at the next token.
 * Safe from any thread. The flag clears when the next call starts. */
HRT_API void hrt_session_cancel(hrt_session *session);

/* The sampling chain, in llama.cpp's default order: repetition penalty,
 * DRY, top-k, top-p, min-p, temperature, draw. On the CUDA backend
 * hrt_generate runs all of it on the device (HRT_DEVICE_SAMPLING=0 in the
 * environment brings the logits back for the host); the device picks the
 * host's ids from the same logits, but where a sum falls within float
 * rounding of a cut. DRY's penalty, multiplier * base^(length - allowed),
 * takes the power as a product of float factors on both. */
typedef struct {
    float temperature;        /* <= 0: greedy */
    int top_k;                /* 0: off */
    float top_p;              /* 1: off */
    float min_p;              /* 0: off */
    float repeat_penalty;     /* 1: off */
    int repeat_last_n;        /* window for repeat_penalty */
    float dry_multiplier;     /* 0: off; DRY n-gram repetition penalty */
    float dry_base;
    int dry_allowed_length;
    int dry_last_n;
    uint64_t seed;
} hrt_sampler_params;

HRT_API hrt_sampler_params hrt_sampler_default_params(void);

/* Called for each generated token with its text (may be empty while a
 * multi-byte character is incomplete). Return non-zero to stop. */
typedef int (*hrt_token_fn)(const char *piece, size_t len, int32_t id,
                            void *user_data);

enum {
    HRT_STOP_NONE = 0,
    HRT_STOP_EOS = 1,        /* the model ended its turn */
    HRT_STOP_LENGTH = 2,     /* max_tokens reached */
    HRT_STOP_STRING = 3,     /* a stop string appeared */
    HRT_STOP_CALLBACK = 4,   /* the token callback asked to stop */
    HRT_STOP_CANCELLED = 5,  /* hrt_session_cancel() */
    HRT_STOP_CONTEXT = 6,    /* the context is full */
};

typedef struct {
    int max_tokens;              /* 0: until EOS or the context is full */
    const char *const *stop;     /* stop strings (not part of the output) */
    size_t n_stop;
    hrt_sampler_params sampling;
    hrt_token_fn on_token;
    void *user_data;
} hrt_generate_params;

HRT_API hrt_generate_params hrt_generate_default_params(void);

/* Accounting for one generation (DESIGN: every generation returns it). */
typedef struct {
    int prompt_tokens;       /* tokens of the prompt */
    int cached_tokens;       /* prompt tokens whose KV was reused from the session */
    int generated_tokens;
    int saved_tokens;        /* tokens avoided by pruning (stop strings, loops) */
    int stop_reason;         /* HRT_STOP_* */
    double t_prompt_ms;      /* prompt processing wall time */
    double t_generate_ms;    /* generation wall time */
} hrt_usage;

/* Generates a continuation of prompt (raw text, tokenized with special
 * tokens parsed; use hrt_chat_render for chat). The session keeps the
 * longest prefix it already holds and evaluates only the rest.
 * *text (may be NULL to skip) receives the generated text, NUL-terminated,
 * caller frees with hrt_free(). usage may be NULL.
 * Stopping (EOS, length, stop string, callback, hrt_session_cancel, full
 * context) is a success: usage->stop_reason says which. On a GPU the next
 * token's step may already be under way when a generation stops on a
 * token; it is not used, and the session's next call waits for it. Errors:
 *   HRT_E_RANGE: the prompt does not fit the context (session unchanged);
 *   HRT_E_NOMEM, HRT_E_BACKEND: the session keeps the tokens evaluated
 *   before the failure. */
HRT_API int hrt_generate(hrt_session *session, const char *prompt, size_t len,
                         const hrt_generate_params *params, char **text,
                         hrt_usage *usage);

/* ---- embeddings -------------------------------------------------------- */
/* Embedding dimension of an encoder model, or HRT_E_INVALID for a decoder. */
HRT_API int hrt_embed_dim(const hrt_model *model);

/* Embeds n texts with an encoder model (mean pooling over tokens, then L2
 * normalisation, as sentence-transformers does for all-MiniLM-L6-v2). Texts
 * longer than the model's limit are truncated. out holds n * dim floats.
 * The texts of one call are encoded together, in forward passes of up to
 * 8,192 tokens: pass many texts per call for throughput (on a GPU most). */
HRT_API int hrt_embed(hrt_model *model, const char *const *texts,
                      const size_t *lens, size_t n, float *out);

/* ---- memory: hot, warm and cold tiers ---------------------------------- */
/* A memory is a directory: warm.sqlite (the warm tier and the vectors),
 * cold/ (zstd-compressed segment files) and memory.json (its format
 * version); the hot tier lives in the process. Records are byte keys and
 * byte values, optionally with a vector (for hrt_memory_query) and an
 * expiry. A put writes through to the warm tier and returns once it is
 * committed (it survives kill -9 and power loss); gets look hot, then warm,
 * then cold, and copy what they find upwards (hot always, warm from cold).
 * Maintenance moves warm records to cold by age and by byte budget, drops
 * expired records and compacts cold segments; puts run the budget part
 * themselves when auto_maintain is set.
 * Keys are namespaced by prefix by convention: "turn/" (conversation
 * turns), "answer/" (the semantic answer cache) and "chunk/" (knowledge
 * chunks) are used by the functions below and by hrt's agent.
 * Thread safety: every function may be called from several threads at
 * once; a reader waits for at most one commit of a writer. */
typedef struct hrt_memory hrt_memory;

typedef struct {
    size_t hot_bytes;            /* hot tier budget, keys + values + 64 B each (64 MiB) */
    size_t hot_max_value;        /* admission: larger values skip the hot tier (hot_bytes / 64) */
    uint64_t warm_bytes;         /* warm tier budget, keys + values (1 GiB) */
    int64_t warm_max_age_s;      /* maintenance moves records unused this long to cold (7 days; 0: never) */
    int promote_cold;            /* a cold hit is copied back to the warm tier (1) */
    double cold_compact_dead;    /* compact a cold segment once this share of it is dead (0.5) */
    uint64_t cold_segment_bytes; /* size at which a cold segment is sealed (64 MiB) */
    int zstd_level;              /* cold tier compression level (3) */
    int auto_maintain;           /* puts move records to cold when warm is over budget (1) */
} hrt_memory_params;

HRT_API hrt_memory_params hrt_memory_default_params(void);

/* Opens or creates the memory directory dir. Returns 0, or
 *   HRT_E_IO: the directory or a file in it cannot be created or opened;
 *   HRT_E_FORMAT: a file is not what it should be, or of a newer version;
 *   HRT_E_UNSUPPORTED: this libhrt was built without the memory tiers. */
HRT_API int hrt_memory_open(const char *dir, const hrt_memory_params *params,
                            hrt_memory **out);
/* Writes pending access times and closes. */
HRT_API void hrt_memory_free(hrt_memory *mem);

typedef struct {
    const void *key;
    size_t key_len;          /* at most 1 MiB */
    const void *value;
    size_t value_len;
    const float *vector;     /* optional (NULL): indexes the record for queries */
    int dim;                 /* its length */
    int64_t ttl_s;           /* seconds until it expires; 0: never */
} hrt_memory_record;

/* Writes n records in one transaction: all of them are durable when it
 * returns 0, none when it fails. A record replaces any earlier one of its
 * key, in every tier. */
HRT_API int hrt_memory_put(hrt_memory *mem, const hrt_memory_record *recs, size_t n);

enum { HRT_TIER_NONE = 0, HRT_TIER_HOT = 1, HRT_TIER_WARM = 2, HRT_TIER_COLD = 3 };

/* The value of key: *value malloc'd (caller frees with hrt_free), *tier
 * (optional) the tier that held it. HRT_E_RANGE when absent or expired;
 * HRT_E_FORMAT when its cold block is damaged (the record is then gone). */
HRT_API int hrt_memory_get(hrt_memory *mem, const void *key, size_t key_len,
                           void **value /* out */, size_t *value_len /* out */,
                           int *tier /* out */);

/* Deletes key from every tier, with its vector. HRT_E_RANGE when absent. */
HRT_API int hrt_memory_delete(hrt_memory *mem, const void *key, size_t key_len);

typedef struct {
    void *key;               /* malloc'd: free with hrt_memory_hits_free */
    size_t key_len;
    float score;             /* cosine similarity */
} hrt_memory_hit;

/* The k records most similar to vector (cosine) among those of the same
 * dimension whose key starts with prefix, best first, scoring at least
 * min_score. Exact search over the vectors held in memory. Returns the
 * number of hits written (<= k) or a negative status. */
HRT_API int hrt_memory_query(hrt_memory *mem, const void *prefix, size_t prefix_len,
                             const float *vector, int dim, size_t k, float min_score,
                             hrt_memory_hit *hits /* out, k of them */);
HRT_API void hrt_memory_hits_free(hrt_memory_hit *hits, size_t n);

typedef struct {
    uint64_t expired;        /* records dropped for their expiry */
    uint64_t demoted_age;    /* moved warm -> cold for their age */
    uint64_t demoted_budget; /* moved warm -> cold for the warm budget */
    uint64_t cold_segments_compacted;
    uint64_t cold_dropped;   /* records compaction did not keep (expired, damaged) */
} hrt_memory_report;

/* Runs the policies once: expiry, demotion by age and by budget, and cold
 * compaction of segments at least cold_compact_dead dead (of every sealed
 * segment when full is set). report is optional. */
HRT_API int hrt_memory_maintain(hrt_memory *mem, int full, hrt_memory_report *report);

#define HRT_MEMORY_HIST 40 /* latency histogram buckets: [2^i, 2^(i+1)) ns */

typedef struct {
    uint64_t hits, misses;   /* gets answered here / that looked here and missed */
    uint64_t entries, bytes, budget; /* budget 0: none */
    uint64_t promotions;     /* records copied into this tier by a get */
    uint64_t demotions;      /* records moved out of it (hot: evictions) */
    uint64_t get_ns[HRT_MEMORY_HIST]; /* latency of the gets this tier answered */
    double p50_us, p99_us;   /* from the histogram (bucket midpoints) */
} hrt_memory_tier_stats;

typedef struct {
    hrt_memory_tier_stats tier[4]; /* indexed by HRT_TIER_*; [HRT_TIER_NONE]: misses everywhere */
    uint64_t puts, put_records;
    uint64_t put_ns[HRT_MEMORY_HIST];
    double put_p50_us, put_p99_us;
    uint64_t vectors;        /* records with a vector */
    uint64_t cold_segments, cold_corrupt_blocks;
} hrt_memory_stats;

HRT_API int hrt_memory_stats_get(hrt_memory *mem, hrt_memory_stats *out);

/* Conversation turns, kept per session under "turn/<session>/". Appends a
 * turn; *index (optional) is its number in the session, from 0. */
HRT_API int hrt_memory_turn_add(hrt_memory *mem, const char *session, const char *role,
                                const char *text, size_t len, uint64_t *index /* out */);
/* The last n turns of session, oldest first: *msgs malloc'd with its
 * strings, freed with hrt_memory_turns_free; *n_out how many. */
HRT_API int hrt_memory_turns(hrt_memory *mem, const char *session, size_t n,
                             hrt_chat_msg **msgs /* out */, size_t *n_out /* out */);
HRT_API void hrt_memory_turns_free(hrt_chat_msg *msgs, size_t n);

/* The semantic answer cache, under "answer/". An answer is found again by a
 * query whose embedding is similar enough, for the same model and prompt
 * version (a new prompt version makes older answers miss). */
typedef struct {
    const char *model;           /* model id */
    const char *prompt_version;
    const char *query;           /* the query text, kept for --explain */
    const char *answer;
    const char *sources;         /* citations, as text (e.g. JSON); may be NULL */
    int64_t created;             /* unix seconds; set by the cache */
} hrt_answer;

HRT_API int hrt_memory_answer_put(hrt_memory *mem, const float *query_vec, int dim,
                                  const hrt_answer *answer, int64_t ttl_s);
/* The best cached answer with cosine similarity >= threshold for model and
 * prompt_version: returns 1 and fills *out (strings malloc'd, released with
 * hrt_answer_clear) and *score, 0 on a miss, or a negative status. */
HRT_API int hrt_memory_answer_lookup(hrt_memory *mem, const float *query_vec, int dim,
                                     const char *model, const char *prompt_version,
                                     float threshold, hrt_answer *out /* out */,
                                     float *score /* out */);
HRT_API void hrt_answer_clear(hrt_answer *answer);

/* ---- knowledge bases: ingest, hybrid search, citations ------------------- */
/* A knowledge base is a directory: kb.sqlite (documents, chunks with their
 * vectors, an FTS5 index for BM25), vectors.faiss (the dense index, a
 * cache of the vectors in kb.sqlite) and kb.json (format version, the
 * embedding model, chunking settings, the index type). Search fuses dense
 * (FAISS, cosine) and sparse (BM25) rankings by reciprocal-rank fusion and
 * drops near-duplicate passages; each hit cites its source and byte range.
 * Thread safety: searches may run on several threads at once; hrt_kb_add
 * and hrt_kb_remove wait for them and for each other. Threads: the first
 * hybrid search starts one helper thread per handle (the BM25 half of a
 * hybrid search runs there while the caller's thread searches FAISS);
 * hrt_kb_free ends it. */
typedef struct hrt_kb hrt_kb;

typedef struct {
    hrt_model *embedder;     /* borrowed: an encoder (hrt_embed); it must be the model the
                                knowledge base was built with */
    int chunk_tokens;        /* chunk size in the embedder's tokens, for a new knowledge base (200) */
    int chunk_overlap;       /* tokens repeated between chunks (32) */
    const char *index_type;  /* FAISS index_factory string; NULL: chosen by size */
    const char *text_field;  /* .json/.jsonl records: the text ("text") */
    const char *id_field;    /* .json/.jsonl records: the id ("id") */
    int embed_batch;         /* texts per hrt_embed call (32) */
    hrt_progress_fn progress; /* called during hrt_kb_add (may be NULL) */
    void *progress_data;
} hrt_kb_params;

HRT_API hrt_kb_params hrt_kb_default_params(void);

/* Opens the knowledge base in dir, creating it when absent. Returns 0, or
 *   HRT_E_INVALID: no embedder, or not the model the knowledge base was built with;
 *   HRT_E_IO, HRT_E_FORMAT: a file cannot be opened or is not what it should be
 *     (a newer format is refused); HRT_E_UNSUPPORTED: built without retrieval.
 * A dense index that does not match kb.sqlite (after a crash) is rebuilt. */
HRT_API int hrt_kb_open(const char *dir, const hrt_kb_params *params, hrt_kb **out);
HRT_API void hrt_kb_free(hrt_kb *kb);

typedef struct {
    uint64_t files;          /* files looked at */
    uint64_t docs_added, docs_updated, docs_unchanged;
    uint64_t files_skipped;  /* binary, empty or of an unknown kind (each logged) */
    uint64_t utf8_repaired;  /* documents whose invalid UTF-8 was replaced */
    uint64_t chunks_added, chunks_removed;
    double seconds;
} hrt_kb_report;

/* Ingests a file or a directory (recursively; hidden entries skipped).
 * Each document is committed with its chunks before the next: after a
 * crash, every document counted as added is present. Unchanged documents
 * (same content hash) are skipped. HRT_E_IO for a missing path; a
 * malformed JSON file stops the run with HRT_E_FORMAT naming the line. */
HRT_API int hrt_kb_add(hrt_kb *kb, const char *path, hrt_kb_report *report /* optional */);
/* Removes the documents of path: the file itself, the records of a JSON
 * file, every file under a directory. *n_docs (optional): how many.
 * HRT_E_RANGE when none was there. */
HRT_API int hrt_kb_remove(hrt_kb *kb, const char *path, uint64_t *n_docs);

enum { HRT_KB_HYBRID = 0, HRT_KB_DENSE = 1, HRT_KB_BM25 = 2 };

typedef struct {
    int mode;                /* HRT_KB_HYBRID (default), HRT_KB_DENSE or HRT_KB_BM25 */
    size_t k;                /* results (10) */
    size_t candidates;       /* per ranking before fusion (max(4k, 50)) */
    float dedup;             /* drop a hit this similar (cosine) to a better one (0.95; 1: keep all) */
    float mmr_lambda;        /* 1: rank by relevance only (default); < 1: maximal marginal relevance */
    const char *filter_path; /* a JSON path into the document's metadata, e.g. "$.lang" (NULL: none) */
    const char *filter_value;/* the value it must have, as text */
    const float *query_vector; /* the query's embedding by the kb's embedder, when the caller
                                  has it (saves embedding the query again); NULL: embedded here */
} hrt_kb_search_params;

HRT_API hrt_kb_search_params hrt_kb_search_default_params(void);

typedef struct {
    int64_t chunk_id;
    char *source;            /* the file, or "file#id" for a JSON record */
    char *text;              /* the chunk */
    uint64_t start, end;     /* its byte range in the document's text */
    float score;             /* the fused score (or the one ranking's) */
    int dense_rank, bm25_rank; /* 1-based; 0: not in that ranking's candidates */
} hrt_kb_hit;

/* Searches; returns the number of hits written to hits (at most
 * params->k) or a negative status. Free them with hrt_kb_hits_free. */
HRT_API int hrt_kb_search(hrt_kb *kb, const char *query, const hrt_kb_search_params *params,
                          hrt_kb_hit *hits /* out */);
HRT_API void hrt_kb_hits_free(hrt_kb_hit *hits, size_t n);

typedef struct {
    uint64_t documents, chunks, bytes; /* bytes: of the documents' text */
    uint64_t vectors;        /* in the dense index (HNSW keeps removed ones until a rebuild) */
    int dim;
    const char *index_type;  /* borrowed from kb */
    const char *embedding_model;
} hrt_kb_stats;

HRT_API int hrt_kb_stats_get(hrt_kb *kb, hrt_kb_stats *out);

/* ---- a remote model: an OpenAI-compatible chat-completions endpoint ----- */
/* A client for a server that speaks OpenAI's chat-completions API (vLLM,
 * llama.cpp's server, hosted APIs), usable as the agent's full path. It
 * streams through server-sent events, retries a failed connection, a
 * timeout, 429, 500, 502, 503 and 504 with exponential back-off (honouring
 * Retry-After) as long as no text has reached the caller, and bounds every
 * wait.
 * Thread safety: one hrt_remote may serve several threads at once. */
typedef struct hrt_remote hrt_remote;

typedef struct {
    const char *url;         /* the endpoint, e.g. "http://127.0.0.1:8080/v1/chat/completions" */
    const char *model;       /* the request's "model" ("default") */
    const char *api_key_env; /* the environment variable holding the API key, read at each request
                                ("OPENAI_API_KEY"); unset or empty: no Authorization header */
    int stream;              /* stream the answer as server-sent events (1) */
    int connect_timeout_ms;  /* (10000) */
    int timeout_ms;          /* the whole call, retries and back-off included; 0: none (120000) */
    int idle_timeout_ms;     /* a stream silent this long after its status line is cut, to within about
                                a second (30000) */
    int retries;             /* further attempts after a failure that may pass (3; at most 20) */
    int backoff_ms;          /* the first wait between attempts, doubled each time, at most 30 s (500) */
} hrt_remote_params;

HRT_API hrt_remote_params hrt_remote_default_params(void);
/* HRT_E_INVALID: no URL, not http(s), a negative timeout; HRT_E_UNSUPPORTED:
 * this libhrt was built without libcurl. Nothing is sent until a chat. */
HRT_API int hrt_remote_open(const hrt_remote_params *params, hrt_remote **out);
HRT_API void hrt_remote_free(hrt_remote *remote);
/* Sends the conversation and returns the reply. From params it takes
 * max_tokens, stop (the first 4), sampling.temperature (0: greedy) and
 * seed, on_token (called with each piece of text as it arrives, id -1;
 * non-zero stops: status 0, stop_reason HRT_STOP_CALLBACK). *text (may be
 * NULL) receives the reply, caller frees with hrt_free; usage takes the
 * server's token counts (generated: the pieces received when the server
 * reports none). Returns 0, or
 *   HRT_E_IO: no connection, a timeout, an error status (the server's
 *     message quoted), or a stream cut before its end; when some text had
 *     already arrived, *text holds it;
 *   HRT_E_FORMAT: a body or an event that is not the API's JSON;
 *   HRT_E_INVALID: 401/403, the API key missing or refused. */
HRT_API int hrt_remote_chat(hrt_remote *remote, const hrt_chat_msg *msgs, size_t n,
                            const hrt_generate_params *params, char **text /* out */,
                            hrt_usage *usage /* out, optional */);

/* ---- the agent: routing between a cache, a light and a full path ------- */
/* The router is a logistic regression over a query's embedding and its
 * cheap text features (length, clauses, questions, numbers, arithmetic,
 * code marks, reasoning cues), giving the probability that the query
 * needs the full path. hrt_router_train fits one on labelled queries:
 * JSONL files, one object per line, with the text in "query", "question",
 * "prompt" or "text" and the label either in "label" (0/1, false/true or
 * "light"/"full") or as "weak_correct" and "strong_correct" booleans (full
 * when the weak model was wrong and the strong one right, as RouteLLM's
 * data marks it). A share of the queries (chosen by a hash of the text,
 * the same on every run) is held out to measure the router; the saved
 * router is then fitted on all of them. The file (JSON) records the
 * embedding model, so the agent refuses a router made for another one. */
typedef struct {
    double holdout;          /* share held out for evaluation (0.2; 0: none) */
    double l2;               /* L2 penalty on the standardised weights (0.5) */
    int epochs;              /* full-batch Adam steps (400) */
    double full_share;       /* default threshold: this share of the training queries scores
                                above it (0: the share labelled full) */
    const char *const *calibration_files; /* JSONL files of unlabelled queries from where the router
                                will be used: full_share and the agent's full_share then refer
                                to them instead of the training queries (RouteLLM calibrates
                                its thresholds on a sample of real queries the same way) */
    size_t n_calibration;
    hrt_progress_fn progress; /* called while embedding (may be NULL) */
    void *progress_data;
} hrt_router_train_params;

typedef struct {
    size_t rows, full_rows, holdout_rows, calibration_rows;
    double auc_train;        /* area under the ROC curve on the training rows */
    double auc_holdout;      /* on the held-out rows, of a router fitted without them (NaN: none) */
    double threshold;        /* the default threshold saved */
    double holdout_share;    /* share of held-out queries sent to the full path by a threshold at
                                full_share of the training queries */
    double holdout_recall;   /* share of held-out full-labelled queries it sends there */
    double seconds_embed, seconds_train;
} hrt_router_report;

HRT_API hrt_router_train_params hrt_router_train_default_params(void);
/* Trains a router with embedder on the labels in files and writes it to
 * out_path (atomically). HRT_E_IO: a file unreadable or out_path not
 * writable; HRT_E_FORMAT: a line is malformed (file:line named);
 * HRT_E_INVALID: fewer than 10 queries, or a single label. */
HRT_API int hrt_router_train(hrt_model *embedder, const char *const *files, size_t n_files, const char *out_path,
                             const hrt_router_train_params *params, hrt_router_report *report /* optional */);

/* An agent answers queries over a knowledge base: it embeds the query,
 * looks in the semantic answer cache, retrieves passages, scores the
 * query with the router and answers on
 *  - the cache path: an earlier answer to a similar enough query (0 tokens);
 *  - the light path: a few passages, a compact prompt, greedy decoding, a
 *    short budget;
 *  - the full path: the query rewritten into more search queries, more
 *    passages, a think-then-answer prompt and a larger budget; generation
 *    stops once the final answer is written.
 * A light answer that fails a cheap check (cut off, a refusal, or words
 * mostly absent from the passages) is retried on the full path
 * ("escalation"). Generation stops on loops (a repeated sentence or word
 * sequence) and a DRY penalty discourages repeated phrases; passages that
 * repeat others are dropped and the context is fitted to a token budget.
 * Each saving is counted in tokens in the result.
 * Prompts are the text files of a prompts directory (see prompts/ in the
 * source tree); their version is recorded with cached answers, so editing
 * a prompt invalidates them.
 * Thread safety: hrt_agent_ask may be called from several threads at once
 * (for different sessions or none); hrt_agent_cancel from any thread. */
typedef struct hrt_agent hrt_agent;

typedef struct {
    hrt_model *light_model;  /* borrowed, required: a chat decoder for the light path */
    hrt_model *full_model;   /* borrowed: the full path's decoder (NULL: the light model) */
    hrt_remote *full_remote; /* borrowed: a remote model for the full path instead (its prompt budgets
                                are counted with full_model's tokenizer, else the light model's) */
    hrt_model *embedder;     /* borrowed: an encoder; required with a kb, a memory or a router */
    hrt_kb *kb;              /* borrowed (NULL: answer without passages) */
    hrt_memory *memory;      /* borrowed (NULL: no answer cache, no conversation memory) */
    const char *prompts_dir; /* required */
    const char *router_path; /* a router file (NULL: every query takes the light path) */
    const char *product;     /* what the knowledge base is about, for the system prompts */
    float full_threshold;    /* router score from which the full path is taken (< 0: the router's own) */
    float full_share;        /* > 0: instead, the threshold that sends this share of the router's
                                training queries to the full path */
    float cache_threshold;   /* cosine similarity of a cache hit (0.92; > 1: no cache) */
    int64_t cache_ttl_s;     /* cached answers expire after this (30 days; 0: never) */
    int light_k, full_k;     /* passages retrieved per search (3, 5) */
    int light_context_tokens, full_context_tokens; /* budget for passages (400, 900) */
    int history_tokens;      /* budget for earlier turns of the session (300) */
    int light_max_tokens, full_max_tokens; /* generation budgets (160, 400) */
    int light_max_sentences; /* a light answer is complete after this many sentences (3; 0: no limit) */
    float dry_multiplier;    /* DRY repetition penalty (0.8; 0: off) */
    int escalate;            /* retry failed light answers on the full path (1) */
    int n_ctx;               /* context of the agent's sessions (0: min(model's, 4096)) */
    int prune;               /* redundancy pruning (1): stop generation on loops, once the answer is
                                complete (the full path's final answer, the light path's sentence
                                limit), the DRY penalty, and repeated passages dropped; 0 turns all of
                                them off (generation then ends at EOS, a stop string or the budget) */
    float temperature;       /* sampling temperature (0: greedy, the default) */
    uint64_t seed;           /* sampler seed when temperature > 0 */
} hrt_agent_params;

HRT_API hrt_agent_params hrt_agent_default_params(void);
/* HRT_E_INVALID: no light model, an embedder missing where needed, a
 * router for another embedding model; HRT_E_IO/HRT_E_FORMAT: the prompts
 * or the router file (named). */
HRT_API int hrt_agent_open(const hrt_agent_params *params, hrt_agent **out);
HRT_API void hrt_agent_free(hrt_agent *agent);

enum { HRT_PATH_AUTO = 0, HRT_PATH_CACHE = 1, HRT_PATH_LIGHT = 2, HRT_PATH_FULL = 3 };
enum { HRT_PART_ANSWER = 0, HRT_PART_THINKING = 1, HRT_PART_ESCALATE = 2 };

/* Streams an answer as it is generated: part says whether the text is the
 * full path's reasoning (before its "Final answer:") or the answer; when
 * the full path writes no such marker, its text streams as reasoning and
 * then arrives whole as the answer. A light answer is streamed before its
 * check; when it fails, HRT_PART_ESCALATE arrives (text: the failed check)
 * and the full path's text follows. Return non-zero to stop: the result
 * then holds what was generated, with no escalation, and nothing is
 * cached or added to the conversation. */
typedef int (*hrt_text_fn)(const char *text, size_t len, int part, void *user_data);

typedef struct {
    int path;                /* HRT_PATH_AUTO: the router decides; LIGHT or FULL forces one */
    int use_cache;           /* look in and add to the answer cache (1) */
    hrt_text_fn on_text;     /* may be NULL */
    void *user_data;
} hrt_ask_params;

HRT_API hrt_ask_params hrt_ask_default_params(void);

typedef struct {
    int n;                   /* the passage's number in the prompt ([n] in the answer) */
    char *source;
    uint64_t start, end;     /* byte range in the document */
    int cited;               /* 1 when the answer cites [n] */
} hrt_citation;

/* Stages of one query, each with its wall time and tokens. */
enum { HRT_STAGE_EMBED, HRT_STAGE_CACHE, HRT_STAGE_RETRIEVE, HRT_STAGE_ROUTE, HRT_STAGE_REWRITE,
       HRT_STAGE_LIGHT, HRT_STAGE_FULL, HRT_STAGE_COUNT };

typedef struct {
    double ms;
    int prompt_tokens, cached_tokens, generated_tokens;
} hrt_stage;

/* Tokens saved, by mechanism. */
typedef struct {
    int cache;               /* a cache hit: the tokens the cached answer cost when it was made */
    int duplicates;          /* passages dropped or merged because they repeat others */
    int context_budget;      /* passage text cut to fit the context budget */
    int history_budget;      /* earlier turns shortened to fit the history budget */
    int loop;                /* budget left when a loop stopped generation */
    int answer_done;         /* budget left when a stop string or the final answer ended it */
} hrt_savings;

typedef struct {
    char *answer;            /* the answer (malloc'd, NUL-terminated) */
    char *thinking;          /* the full path's reasoning before its answer (NULL if none) */
    hrt_citation *citations; /* the passages given to the model */
    size_t n_citations;
    int path;                /* HRT_PATH_CACHE, LIGHT or FULL: the path that answered */
    int routed;              /* the path chosen before any escalation */
    int escalated;           /* 1: a light answer failed a check and the full path answered */
    const char *check;       /* the failed check ("cut off", "refusal", "ungrounded"), or NULL */
    int stop_reason;         /* HRT_STOP_* of the answering generation; HRT_STOP_NONE on a cache hit */
    int loop_stopped;        /* 1 when the loop check stopped it */
    float router_score, threshold; /* NaN without a router */
    float cache_score;       /* best cosine in the cache (NaN: not looked up) */
    char *explain;           /* why: features, scores, retrieval, path, checks (malloc'd text) */
    hrt_stage stage[HRT_STAGE_COUNT];
    hrt_savings saved;
    int prompt_tokens, generated_tokens; /* totals over the stages */
    double total_ms;
} hrt_agent_result;

/* Answers query (UTF-8; invalid bytes are replaced and logged). session:
 * a conversation name whose earlier turns (kept in the memory) are used
 * and extended, or NULL for a one-off query. result is filled on success
 * and must be released with hrt_agent_result_clear.
 *   HRT_E_INVALID: an empty query; HRT_E_RANGE: a query over 16 KiB, or a
 *   prompt that does not fit the context; HRT_E_CANCELLED: stopped by
 *   hrt_agent_cancel (result holds what was generated). */
HRT_API int hrt_agent_ask(hrt_agent *agent, const char *session, const char *query, size_t len,
                          const hrt_ask_params *params, hrt_agent_result *result /* out */);
HRT_API void hrt_agent_result_clear(hrt_agent_result *result);
/* Stops the asks running for session (NULL: every ask of the agent). */
HRT_API void hrt_agent_cancel(hrt_agent *agent, const char *session);
/* The prompt set's version (16 hex digits), borrowed. */
HRT_API const char *hrt_agent_prompt_version(const hrt_agent *agent);

/* Frees memory the library handed to the caller. */
HRT_API void hrt_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
