/* hrt — the command-line front end of the hybrid-reasoning runtime.
 *
 * Exit codes: 0 success; 1 the operation failed; 2 bad usage; 3 the model
 * could not be loaded (missing, malformed or unsupported file). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hrt.h"


/* ---- options ----------------------------------------------------------------- */
typedef struct {
    const char *model, *prompt, *system, *file;
    int n_predict, threads, ctx, json, raw, verbose, add_special, parse_special, precision, backend, device;
    const char *stops[16];
    int n_stops;
    hrt_sampler_params sp;
    char **args;       /* positional arguments: compacted in place in argv */
    int n_args;
} opts;

/* Parses the options common to all commands; returns 0, or 1 for --help. */
static int parse_opts(const char *cmd, int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->n_predict = 256;
    o->add_special = 1;
    o->parse_special = 1;
    o->sp = hrt_sampler_default_params();
    o->args = argv; /* positional i is stored at argv[i]: never ahead of the reading */
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "-s") || !strcmp(a, "--system")) o->system = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) o->file = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) o->n_predict = (int)parse_int(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) o->threads = (int)parse_int(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) o->ctx = (int)parse_int(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--temp")) o->sp.temperature = (float)parse_num(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--top-k")) o->sp.top_k = (int)parse_int(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--top-p")) o->sp.top_p = (float)parse_num(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--min-p")) o->sp.min_p = (float)parse_num(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--repeat-penalty")) o->sp.repeat_penalty = (float)parse_num(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--repeat-last-n")) o->sp.repeat_last_n = (int)parse_int(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--dry-multiplier")) o->sp.dry_multiplier = (float)parse_num(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--seed")) o->sp.seed = (uint64_t)parse_int(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--stop")) {
            if (o->n_stops == 16) die_usage(cmd, "at most 16 --stop strings");
            o->stops[o->n_stops++] = need_arg(cmd, argc, argv, &i);
        }
        else if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "--raw")) o->raw = 1;
        else if (!strcmp(a, "--backend")) o->backend = parse_backend(cmd, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--device")) o->device = (int)parse_int(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--precision")) {
            const char *v = need_arg(cmd, argc, argv, &i);
            if (!strcmp(v, "int8")) o->precision = HRT_PRECISION_INT8;
            else if (!strcmp(v, "int16")) o->precision = HRT_PRECISION_INT16;
            else if (!strcmp(v, "f32")) o->precision = HRT_PRECISION_F32;
            else die_usage(cmd, "--precision: '%s' is not int8, int16 or f32", v);
        }
        else if (!strcmp(a, "--no-special")) o->add_special = 0, o->parse_special = 0;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) o->verbose = 1;
        else if (a[0] == '-' && a[1]) die_usage(cmd, "unknown option '%s'", a);
        else o->args[o->n_args++] = a;
    }
    if (o->n_predict < 0) die_usage(cmd, "-n must be >= 0");
    if (o->threads < 0) die_usage(cmd, "--threads must be >= 0");
    return 0;
}

/* ---- model loading ---------------------------------------------------------------- */

static void progress(float f, void *ud)
{
    (void)ud;
    int w = 30, k = (int)(f * (float)w + 0.5f);
    fprintf(stderr, "\rloading [%.*s%*s] %3d%%", k, "##############################", w - k, "",
            (int)(f * 100.0f + 0.5f));
    if (f >= 1.0f) fprintf(stderr, "\r%*s\r", w + 20, "");
    fflush(stderr);
}

static void log_cb(int level, const char *msg, void *ud)
{
    int verbose = *(int *)ud;
    if (level >= HRT_LOG_WARN || verbose) fprintf(stderr, "hrt: %s\n", msg);
}

static hrt_model *load_model(const char *path, const opts *o)
{
    hrt_model_params mp = hrt_model_default_params();
    mp.n_threads = o->threads;
    mp.precision = o->precision;
    mp.backend = o->backend;
    mp.device = o->device;
    if (isatty(STDERR_FILENO) && !o->json) mp.progress = progress;
    hrt_model *m = NULL;
    int st = hrt_model_open(path, &mp, &m);
    if (st) {
        fprintf(stderr, "hrt: cannot load model: %s\n", hrt_last_error());
        if (st == HRT_E_IO && !strncmp(path, "models/", 7))
            fprintf(stderr, "hrt: the default models are fetched by scripts/fetch-models.sh\n");
        exit(EXIT_MODEL);
    }
    return m;
}

/* ---- JSON output ----------------------------------------------------------------- */
static const char *stop_name(int r)
{
    static const char *names[] = {"none", "eos", "length", "stop_string", "callback", "cancelled", "context"};
    return r >= 0 && r <= HRT_STOP_CONTEXT ? names[r] : "?";
}

/* ---- generate ----------------------------------------------------------------------- */
static volatile sig_atomic_t interrupted;
static hrt_session *active_session;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
    if (active_session) hrt_session_cancel(active_session);
}

static int print_piece(const char *piece, size_t len, int32_t id, void *ud)
{
    (void)id;
    (void)ud;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

/* Renders the chat prompt for one user turn (or the raw text). Caller frees. */
static char *render(const hrt_model *m, const hrt_chat_msg *msgs, size_t n)
{
    int need = hrt_chat_render(m, msgs, n, 1, NULL, 0);
    if (need < 0) return NULL;
    char *buf = malloc((size_t)need + 1);
    if (buf) hrt_chat_render(m, msgs, n, 1, buf, (size_t)need + 1);
    return buf;
}

static const char *HELP_GENERATE =
    "usage: hrt generate [-m MODEL] -p TEXT [options]\n"
    "Generates a continuation. With a chat model, TEXT is sent as a user message\n"
    "through the model's chat template (use --raw to send it as it is).\n"
    "  -m, --model PATH        GGUF file or HF directory (default: models/" DEFAULT_CHAT_MODEL ")\n"
    "  -p, --prompt TEXT       the prompt (or -f FILE; '-' reads standard input)\n"
    "  -s, --system TEXT       a system message\n"
    "  -n, --n-predict N       at most N new tokens (default 256; 0 = until the end)\n"
    "  --temp T                temperature (default 0: greedy)\n"
    "  --top-k K, --top-p P, --min-p P, --repeat-penalty R, --repeat-last-n N,\n"
    "  --dry-multiplier M, --seed S   sampling settings\n"
    "  --stop TEXT             stop when TEXT appears (repeatable)\n"
    "  -t, --threads N         CPU threads (default: all cores)\n"
    "  --backend B             cpu, cuda or auto (default: cuda when a device is present)\n"
    "  --device N              CUDA device (default 0)\n"
    "  -c, --ctx N             context length (default: min(model's, 4096))\n"
    "  --raw                   no chat template\n"
    "  --precision P           activations against quantized weights: int16 (default),\n"
    "                          int8 (as llama.cpp; faster, ~1% logit noise) or f32 (exact)\n"
    "  --json                  print one JSON object with the text and accounting\n"
    "  -v, --verbose           timings and log messages on stderr\n";

static int cmd_generate(int argc, char **argv)
{
    opts o;
    if (parse_opts("generate", argc, argv, &o)) { fputs(HELP_GENERATE, stdout); return EXIT_OK; }
    char mbuf[4096], *file_text = NULL;
    if (o.file) {
        size_t len;
        FILE *f = strcmp(o.file, "-") ? fopen(o.file, "rb") : stdin;
        if (!f) { fprintf(stderr, "hrt generate: %s: %s\n", o.file, strerror(errno)); return EXIT_FAIL; }
        file_text = read_all(f, &len);
        if (f != stdin) fclose(f);
        o.prompt = file_text;
    }
    if (!o.prompt && o.n_args) o.prompt = o.args[0];
    if (!o.prompt) die_usage("generate", "a prompt is required (-p TEXT or -f FILE)");
    hrt_model *m = load_model(o.model ? o.model : default_model(DEFAULT_CHAT_MODEL, mbuf, sizeof mbuf), &o);
    hrt_session_params spp = hrt_session_default_params();
    spp.n_ctx = o.ctx;
    hrt_session *s = NULL;
    if (hrt_session_open(m, &spp, &s)) {
        fprintf(stderr, "hrt generate: %s\n", hrt_last_error());
        hrt_model_free(m);
        return EXIT_FAIL;
    }
    char *prompt = NULL;
    if (!o.raw) {
        hrt_chat_msg msgs[2];
        size_t n = 0;
        if (o.system) msgs[n++] = (hrt_chat_msg){"system", o.system};
        msgs[n++] = (hrt_chat_msg){"user", o.prompt};
        prompt = render(m, msgs, n);
        if (!prompt && o.verbose) fprintf(stderr, "hrt: %s; sending the prompt as it is\n", hrt_last_error());
    }
    hrt_generate_params gp = hrt_generate_default_params();
    gp.max_tokens = o.n_predict;
    gp.sampling = o.sp;
    gp.stop = o.stops;
    gp.n_stop = (size_t)o.n_stops;
    if (!o.json) gp.on_token = print_piece;
    active_session = s;
    signal(SIGINT, on_sigint);
    char *text = NULL;
    hrt_usage u;
    const char *pt = prompt ? prompt : o.prompt;
    int st = hrt_generate(s, pt, strlen(pt), &gp, &text, &u);
    int rc = EXIT_OK;
    if (st) {
        fprintf(stderr, "%shrt generate: %s\n", o.json ? "" : "\n", hrt_last_error());
        rc = EXIT_FAIL;
    } else if (o.json) {
        printf("{\"text\":");
        json_str(stdout, text, strlen(text));
        printf(",\"stop_reason\":\"%s\",\"prompt_tokens\":%d,\"cached_tokens\":%d,"
               "\"generated_tokens\":%d,\"t_prompt_ms\":%.3f,\"t_generate_ms\":%.3f}\n",
               stop_name(u.stop_reason), u.prompt_tokens, u.cached_tokens, u.generated_tokens,
               u.t_prompt_ms, u.t_generate_ms);
    } else {
        printf("\n");
    }
    if (!st && o.verbose)
        fprintf(stderr, "prompt: %d tokens in %.1f ms (%.1f tok/s); generated: %d tokens in %.1f ms "
                        "(%.1f tok/s); stop: %s\n",
                u.prompt_tokens - u.cached_tokens, u.t_prompt_ms,
                u.t_prompt_ms > 0 ? (u.prompt_tokens - u.cached_tokens) * 1e3 / u.t_prompt_ms : 0,
                u.generated_tokens, u.t_generate_ms,
                u.t_generate_ms > 0 ? u.generated_tokens * 1e3 / u.t_generate_ms : 0, stop_name(u.stop_reason));
    if (!st && u.stop_reason == HRT_STOP_CANCELLED) rc = 130;
    hrt_free(text);
    free(prompt);
    free(file_text);
    hrt_session_free(s);
    hrt_model_free(m);
    return rc;
}

/* ---- chat ------------------------------------------------------------------------------ */
static const char *HELP_CHAT =
    "usage: hrt chat [-m MODEL] [-s SYSTEM] [options]\n"
    "An interactive conversation: type a message and press Enter; the answer\n"
    "streams back. Commands: /reset forgets the conversation, /quit (or EOF) ends.\n"
    "Ctrl-C stops the current answer. Takes the sampling options of 'hrt generate'.\n"
    "With --kb DIR the agent answers from that knowledge base instead, with the\n"
    "conversation kept in its memory across turns (--session NAME, default 'chat');\n"
    "it then takes the options of 'hrt ask' (see hrt ask --help).\n";

static int cmd_chat(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) /* with a knowledge base, the agent answers */
        if (!strcmp(argv[i], "--kb")) return cmd_agent_chat(argc, argv);
    opts o;
    if (parse_opts("chat", argc, argv, &o)) { fputs(HELP_CHAT, stdout); return EXIT_OK; }
    char mbuf[4096];
    hrt_model *m = load_model(o.model ? o.model : default_model(DEFAULT_CHAT_MODEL, mbuf, sizeof mbuf), &o);
    hrt_session_params spp = hrt_session_default_params();
    spp.n_ctx = o.ctx;
    hrt_session *s = NULL;
    if (hrt_session_open(m, &spp, &s)) {
        fprintf(stderr, "hrt chat: %s\n", hrt_last_error());
        hrt_model_free(m);
        return EXIT_FAIL;
    }
    active_session = s;
    signal(SIGINT, on_sigint);
    hrt_chat_msg *msgs = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    int tty = isatty(STDIN_FILENO), rc = EXIT_OK;
    if (o.system) {
        msgs = malloc(sizeof *msgs * (cap = 8));
        msgs[n++] = (hrt_chat_msg){"system", strdup(o.system)};
    }
    for (;;) {
        if (tty) { printf("> "); fflush(stdout); }
        ssize_t k = getline(&line, &lcap, stdin);
        if (k < 0) break;
        while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r')) line[--k] = 0;
        if (!k) continue;
        if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) break;
        if (!strcmp(line, "/reset")) {
            for (size_t i = o.system ? 1 : 0; i < n; i++) free((char *)msgs[i].content);
            n = o.system ? 1 : 0;
            hrt_session_reset(s);
            continue;
        }
        if (n + 2 > cap) {
            cap = cap ? 2 * cap : 8;
            msgs = realloc(msgs, cap * sizeof *msgs);
        }
        msgs[n++] = (hrt_chat_msg){"user", strdup(line)};
        char *prompt = render(m, msgs, n);
        if (!prompt) {
            fprintf(stderr, "hrt chat: %s\n", hrt_last_error());
            rc = EXIT_FAIL;
            break;
        }
        hrt_generate_params gp = hrt_generate_default_params();
        gp.max_tokens = o.n_predict;
        gp.sampling = o.sp;
        gp.on_token = print_piece;
        char *text = NULL;
        hrt_usage u;
        interrupted = 0;
        int st = hrt_generate(s, prompt, strlen(prompt), &gp, &text, &u);
        free(prompt);
        printf("\n");
        if (st) {
            fprintf(stderr, "hrt chat: %s\n", hrt_last_error());
            free((char *)msgs[--n].content);
            if (st != HRT_E_RANGE) { rc = EXIT_FAIL; break; }
            continue;
        }
        if (o.verbose)
            fprintf(stderr, "[%d prompt tokens, %d reused, %d generated, %.1f tok/s]\n", u.prompt_tokens,
                    u.cached_tokens, u.generated_tokens,
                    u.t_generate_ms > 0 ? u.generated_tokens * 1e3 / u.t_generate_ms : 0);
        msgs[n++] = (hrt_chat_msg){"assistant", text};
    }
    for (size_t i = 0; i < n; i++) free((char *)msgs[i].content);
    free(msgs);
    free(line);
    hrt_session_free(s);
    hrt_model_free(m);
    return rc;
}

/* ---- embed ------------------------------------------------------------------------------- */
static const char *HELP_EMBED =
    "usage: hrt embed [-m MODEL] [--json] TEXT... | -f FILE\n"
    "Prints one embedding per text (L2-normalised, mean-pooled), one per line as\n"
    "space-separated numbers, or with --json an array of arrays. -f reads one\n"
    "text per line ('-' for standard input).\n"
    "  -m, --model PATH   encoder model directory (default: models/" DEFAULT_EMBED_MODEL ")\n"
    "  -t, --threads N    CPU threads\n";

static int cmd_embed(int argc, char **argv)
{
    opts o;
    if (parse_opts("embed", argc, argv, &o)) { fputs(HELP_EMBED, stdout); return EXIT_OK; }
    char mbuf[4096];
    char **texts = NULL;
    size_t n = 0, cap = 0;
    if (o.file) {
        FILE *f = strcmp(o.file, "-") ? fopen(o.file, "rb") : stdin;
        if (!f) { fprintf(stderr, "hrt embed: %s: %s\n", o.file, strerror(errno)); return EXIT_FAIL; }
        char *line = NULL;
        size_t lcap = 0;
        ssize_t k;
        while ((k = getline(&line, &lcap, f)) >= 0) {
            while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r')) line[--k] = 0;
            if (n == cap) texts = realloc(texts, (cap = cap ? 2 * cap : 64) * sizeof *texts);
            texts[n++] = strdup(line);
        }
        free(line);
        if (f != stdin) fclose(f);
    } else {
        texts = calloc((size_t)o.n_args + 1, sizeof *texts);
        for (int i = 0; i < o.n_args; i++) texts[n++] = strdup(o.args[i]);
    }
    if (n == 0) die_usage("embed", "no text given");
    hrt_model *m = load_model(o.model ? o.model : default_model(DEFAULT_EMBED_MODEL, mbuf, sizeof mbuf), &o);
    int d = hrt_embed_dim(m), rc = EXIT_OK;
    if (d < 0) {
        fprintf(stderr, "hrt embed: %s\n", hrt_last_error());
        rc = EXIT_FAIL;
    } else {
        float *e = malloc(n * (size_t)d * sizeof *e);
        if (hrt_embed(m, (const char *const *)texts, NULL, n, e)) {
            fprintf(stderr, "hrt embed: %s\n", hrt_last_error());
            rc = EXIT_FAIL;
        } else {
            if (o.json) printf("[");
            for (size_t i = 0; i < n; i++) {
                if (o.json) printf(i ? ",[" : "[");
                for (int k = 0; k < d; k++)
                    printf(o.json ? (k ? ",%.7g" : "%.7g") : (k ? " %.7g" : "%.7g"), e[i * (size_t)d + k]);
                printf(o.json ? "]" : "\n");
            }
            if (o.json) printf("]\n");
        }
        free(e);
    }
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    hrt_model_free(m);
    return rc;
}

/* ---- info, tokenize ------------------------------------------------------------------------ */
static const char *HELP_INFO =
    "usage: hrt info [MODEL] [--json] [--backend B] [--device N]\n"
    "Describes a model: architecture, sizes, weight type, tokenizer, chat template,\n"
    "and the device it runs on with its memory.\n";

static int cmd_info(int argc, char **argv)
{
    opts o;
    if (parse_opts("info", argc, argv, &o)) { fputs(HELP_INFO, stdout); return EXIT_OK; }
    char mbuf[4096];
    const char *path = o.model ? o.model : o.n_args ? o.args[0] : default_model(DEFAULT_CHAT_MODEL, mbuf, sizeof mbuf);
    hrt_model *m = load_model(path, &o);
    hrt_model_info in;
    hrt_model_info_get(m, &in);
    hrt_chat_msg probe = {"user", "x"};
    int has_chat = hrt_chat_render(m, &probe, 1, 1, NULL, 0) >= 0;
    if (o.json) {
        printf("{\"path\":");
        json_str(stdout, in.path, strlen(in.path));
        printf(",\"name\":");
        json_str(stdout, in.name, strlen(in.name));
        printf(",\"device\":");
        json_str(stdout, in.device, strlen(in.device));
        printf(",\"kv_bytes_per_token\":%llu", (unsigned long long)in.kv_bytes_per_token);
        printf(",\"arch\":\"%s\",\"encoder\":%s,\"weight_type\":\"%s\",\"backend\":\"%s\",\"n_params\":%lld,"
               "\"weight_bytes\":%llu,\"n_vocab\":%d,\"n_ctx_train\":%d,\"n_embd\":%d,\"n_layer\":%d,"
               "\"n_head\":%d,\"n_head_kv\":%d,\"n_ff\":%d,\"bos_id\":%d,\"eos_id\":%d,\"chat_template\":%s,"
               "\"n_threads\":%d}\n",
               in.arch, in.is_encoder ? "true" : "false", in.weight_type ? in.weight_type : "?", in.backend,
               (long long)in.n_params, (unsigned long long)in.weight_bytes, in.n_vocab, in.n_ctx_train,
               in.n_embd, in.n_layer, in.n_head, in.n_head_kv, in.n_ff, in.bos_id, in.eos_id,
               has_chat ? "true" : "false", in.n_threads);
    } else {
        printf("path          %s\nname          %s\narchitecture  %s%s\nparameters    %.1f M\n"
               "weights       %s, %.1f MiB\nbackend       %s: %s\nKV cache      %.1f KiB per token\nvocabulary    %d\n"
               "context       %d (trained)\nlayers        %d\nembedding     %d\nheads         %d (%d KV)\n"
               "feed-forward  %d\nBOS / EOS     %d / %d\nchat template %s\n",
               in.path, in.name, in.arch, in.is_encoder ? " (encoder)" : "", (double)in.n_params / 1e6,
               in.weight_type ? in.weight_type : "?", (double)in.weight_bytes / 1048576.0, in.backend,
               in.device, (double)in.kv_bytes_per_token / 1024.0, in.n_vocab, in.n_ctx_train, in.n_layer, in.n_embd, in.n_head, in.n_head_kv,
               in.n_ff, in.bos_id, in.eos_id, has_chat ? "yes" : "none recognised");
    }
    hrt_model_free(m);
    return EXIT_OK;
}

static const char *HELP_TOKENIZE =
    "usage: hrt tokenize [-m MODEL] [--json] [--no-special] TEXT\n"
    "Prints the token ids of TEXT and the piece each decodes to.\n";

static int cmd_tokenize(int argc, char **argv)
{
    opts o;
    if (parse_opts("tokenize", argc, argv, &o)) { fputs(HELP_TOKENIZE, stdout); return EXIT_OK; }
    const char *text = o.prompt ? o.prompt : o.n_args ? o.args[0] : NULL;
    if (!text) die_usage("tokenize", "no text given");
    char mbuf[4096];
    hrt_model *m = load_model(o.model ? o.model : default_model(DEFAULT_CHAT_MODEL, mbuf, sizeof mbuf), &o);
    int n = hrt_tokenize(m, text, strlen(text), o.add_special, o.parse_special, NULL, 0);
    int rc = EXIT_OK;
    if (n < 0) {
        fprintf(stderr, "hrt tokenize: %s\n", hrt_last_error());
        rc = EXIT_FAIL;
    } else {
        int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
        hrt_tokenize(m, text, strlen(text), o.add_special, o.parse_special, ids, (size_t)n);
        if (o.json) printf("[");
        for (int i = 0; i < n; i++) {
            char piece[256];
            int k = hrt_detokenize(m, &ids[i], 1, piece, sizeof piece);
            if (k < 0) k = 0;
            if (k > (int)sizeof piece) k = (int)sizeof piece;
            if (o.json) printf(i ? ",%d" : "%d", ids[i]);
            else {
                printf("%6d  ", ids[i]);
                json_str(stdout, piece, (size_t)k);
                printf("\n");
            }
        }
        if (o.json) printf("]\n");
        free(ids);
    }
    hrt_model_free(m);
    return rc;
}

/* ---- main --------------------------------------------------------------------------------------- */
static const char *HELP =
    "usage: hrt COMMAND [options]\n"
    "hrt, the hybrid-reasoning runtime.\n\n"
    "commands:\n"
    "  ask        answer a question from a knowledge base, with citations (the agent)\n"
    "  generate   generate text from a prompt (the default chat model answers)\n"
    "  chat       an interactive conversation\n"
    "  embed      embed texts with an encoder model\n"
    "  info       describe a model\n"
    "  tokenize   show the token ids of a text\n"
    "  mem        the memory tiers: stats, get, put, del, compact, turns\n"
    "  kb         knowledge bases: create, add, rm, search, stats\n"
    "  router     train the agent's router on labelled queries\n"
    "  run        run a scripted agent task (a JSON file of steps and expectations)\n"
    "  bench      benchmarks: 'hrt bench efficiency' (accuracy vs tokens per agent configuration)\n\n"
    "'hrt COMMAND --help' describes a command. Default models are looked up in\n"
    "$HRT_MODELS_DIR, ./models and the source tree's models/ (scripts/fetch-models.sh).\n";

int main(int argc, char **argv)
{
    static int verbose;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) verbose = 1;
    hrt_set_log(log_cb, &verbose);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("hrt %d.%d.%d\n", HRT_VERSION_MAJOR, HRT_VERSION_MINOR, HRT_VERSION_PATCH);
        return EXIT_OK;
    }
    static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        {"generate", cmd_generate}, {"chat", cmd_chat}, {"embed", cmd_embed},
        {"info", cmd_info}, {"tokenize", cmd_tokenize}, {"mem", cmd_mem}, {"kb", cmd_kb},
        {"ask", cmd_ask}, {"router", cmd_router}, {"run", cmd_run}, {"bench", cmd_bench},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "hrt: unknown command '%s'\n\n%s", argv[1], HELP);
    return EXIT_USAGE;
}
