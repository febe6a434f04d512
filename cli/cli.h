/* What the commands of cli/ share. */
#ifndef HRT_CLI_H
#define HRT_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "hrt.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_MODEL = 3 };

#define DEFAULT_CHAT_MODEL "smollm2-135m-instruct-q4_1.gguf"
#define DEFAULT_EMBED_MODEL "all-minilm-l6-v2"

/* Prints "hrt CMD: message" and a hint to stderr, exits with EXIT_USAGE. */
void die_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* The value after option argv[*i] (advancing *i), or a usage error. */
const char *need_arg(const char *cmd, int argc, char **argv, int *i);
long parse_int(const char *cmd, const char *flag, const char *v);
double parse_num(const char *cmd, const char *flag, const char *v);
/* The value of --backend (cpu, cuda, auto) as HRT_BACKEND_*, or a usage error. */
int parse_backend(const char *cmd, const char *v);
/* Writes s (n bytes) as a JSON string. */
void json_str(FILE *f, const char *s, size_t n);
/* The last number in s ("1,234.5" reads as 1234.5, "-3" as -3): 1 and *v, or 0. */
int last_number(const char *s, double *v);
/* s (n bytes) with each byte that does not begin a valid UTF-8 sequence
 * replaced by U+FFFD; malloc'd and NUL-terminated, or NULL. */
char *utf8_clean(const char *s, size_t n);
/* "cache", "light", "full" or "auto" for an HRT_PATH_* value. */
const char *path_name(int path);
/* The directory of file ("." when it names none) in buf. */
void dir_of(const char *file, char *buf, size_t cap);
/* p relative to dir (p itself when absolute, or dir is "."): malloc'd, or NULL. */
char *path_in(const char *dir, const char *p);
/* Reads f to its end; malloc'd and NUL-terminated, *len its length. */
char *read_all(FILE *f, size_t *len);

/* The path of a default model: $HRT_MODELS_DIR, ./models, then the source
 * tree's models/ (buf holds it). */
const char *default_model(const char *name, char *buf, size_t cap);

/* A path of the source tree: ./rel when present, else HRT_SOURCE_DIR/rel. */
const char *source_path(const char *rel, char *buf, size_t cap);
/* Opens a model or exits with EXIT_MODEL after naming the cause. */
struct hrt_model;
struct hrt_model *open_model(const char *cmd, const char *path, int threads, int backend);

#define EXAMPLE_KB_SOURCE "examples/helpcentre"
#define EXAMPLE_KB_DIR "helpcentre.kb"     /* in the models directory */
#define EXAMPLE_PRODUCT "Brightbox"
#define DEFAULT_ROUTER "examples/router.json"
#define DEFAULT_MEMORY "agent-memory"      /* in the models directory */

int is_dir(const char *path);
/* Makes a fresh directory $TMPDIR/PREFIX-XXXXXX (TMPDIR unset: /tmp) in buf:
 * buf, or NULL with errno (buf then empty). */
char *temp_dir(const char *prefix, char *buf, size_t cap);
/* Removes a directory and everything in it (a no-op for NULL or ""). */
void rm_tree(const char *dir);
/* The directory of models and of the example's state: $HRT_MODELS_DIR,
 * ./models, else the source tree's. */
const char *models_dir(void);

/* ---- the agent and what it borrows (cli/stack.c) ---- */

typedef struct {
    const char *kb;          /* knowledge-base directory (NULL: the example help centre) */
    const char *memory;      /* memory directory (NULL: models/agent-memory) */
    const char *router, *prompts, *model, *full_model, *embed_model, *product; /* NULL: defaults */
    int no_kb, no_memory, no_router;
    int threads, backend;
    int quiet;               /* no progress line while indexing */
    int no_agent;            /* open what the agent borrows, not the agent (s->params is filled) */
    double threshold, full_share, cache_threshold; /* < 0 (0 for full_share): the defaults */
    const char *const *ingest; /* files added to the knowledge base (created when absent) */
    size_t n_ingest;
    const char *remote_url;  /* an OpenAI-compatible endpoint for the full path (NULL: a local model) */
    const char *remote_model, *remote_key_env; /* NULL: "default", "OPENAI_API_KEY" */
    int remote_timeout_ms;   /* 0: the default */
} stack_opts;

typedef struct {
    hrt_model *light, *full, *embed;
    hrt_kb *kb;
    hrt_memory *mem;
    hrt_agent *agent;
    hrt_remote *remote;
    hrt_agent_params params; /* the agent's, borrowing the strings below */
    char kb_dir[4096], prompts_dir[4096], router[4096];
} stack;

stack_opts stack_default_opts(void);
/* Opens the models (exiting with EXIT_MODEL when one fails), the knowledge
 * base, the memory and the agent; 0 or an exit code after printing why. */
int stack_open(const char *cmd, const stack_opts *o, stack *s);
void stack_free(stack *s);

int cmd_mem(int argc, char **argv);
int cmd_ask(int argc, char **argv);
int cmd_router(int argc, char **argv);
int cmd_agent_chat(int argc, char **argv);
int cmd_kb(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
