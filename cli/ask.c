/* hrt ask, hrt chat --kb, hrt router: the agent from the command line. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "hrt.h"


static const char *HELP_ASK =
    "usage: hrt ask [options] QUESTION\n"
    "Answers a question from a knowledge base with citations. The controller\n"
    "serves it from the answer cache, or sends it down the light path (a few\n"
    "passages, a short answer) or the full path (rewritten searches, think then\n"
    "answer); a light answer that fails a check is retried on the full path.\n"
    "With no options it answers from the example help centre (examples/helpcentre,\n"
    "indexed into models/" EXAMPLE_KB_DIR " on first use) with the default models.\n"
    "  --kb DIR            knowledge base ($HRT_KB_DIR; default: the example)\n"
    "  --product TEXT      what the knowledge base is about (for the prompts)\n"
    "  --memory DIR        answer cache and conversations ($HRT_MEMORY_DIR, else\n"
    "                      models/" DEFAULT_MEMORY "); --no-memory: neither\n"
    "  --session NAME      a conversation: earlier turns are used and extended\n"
    "  --path P            auto (default), light or full\n"
    "  --no-cache          neither look in nor add to the answer cache\n"
    "  --router FILE       router (default " DEFAULT_ROUTER "); --no-router: light\n"
    "  --threshold T       router score from which the full path is taken\n"
    "  --full-share S      instead: send this share of queries to the full path\n"
    "  --cache-threshold C cosine similarity of a cache hit (0.92)\n"
    "  --prompts DIR       prompt templates (default prompts/)\n"
    "  -m, --model PATH    light-path model; --full-model PATH the full path's;\n"
    "                      --embed-model PATH the encoder\n"
    "  --full-remote URL   the full path on an OpenAI-compatible server instead\n"
    "                      (e.g. http://127.0.0.1:8080/v1/chat/completions);\n"
    "                      --remote-model NAME its model, --remote-key-env VAR the\n"
    "                      variable holding the API key (OPENAI_API_KEY)\n"
    "  --explain           print why: features, scores, retrieval, path, checks\n"
    "  --thinking          also print the full path's reasoning (to stderr)\n"
    "  --json              one JSON object with the answer, path and accounting\n"
    "  -t, --threads N, --backend B, -v\n";

static const char *HELP_ROUTER =
    "usage: hrt router train [options] LABELS.jsonl...\n"
    "Trains the router (logistic regression over the query embedding and text\n"
    "features) on labelled queries and writes it to a file. Each JSONL line has\n"
    "the text in \"query\", \"question\", \"prompt\" or \"text\" and a label: \"label\"\n"
    "(0/1 or \"light\"/\"full\"), or \"weak_correct\"/\"strong_correct\" booleans (full\n"
    "when the weak model was wrong and the strong one right).\n"
    "  -o, --out FILE      the router file (default router.json)\n"
    "  --holdout F         share held out for evaluation (0.2)\n"
    "  --l2 X              L2 penalty (0.5); --epochs N (400)\n"
    "  --full-share S      default threshold: this share of queries goes full\n"
    "                      (default: the share labelled full)\n"
    "  --calibrate FILE    unlabelled queries (JSONL) from where the router will\n"
    "                      be used: shares then refer to them (repeatable)\n"
    "  -m, --model PATH    the encoder (default all-minilm-l6-v2)\n"
    "  --json              print the report as JSON\n";

typedef struct {
    stack_opts st;
    const char *session;
    int path, no_cache, explain, thinking, json, verbose;
    char **args;
    int n_args;
} ask_opts;

static int parse(const char *cmd, int argc, char **argv, ask_opts *o)
{
    memset(o, 0, sizeof *o);
    o->st = stack_default_opts();
    o->args = argv;
    o->st.kb = getenv("HRT_KB_DIR");
    o->st.memory = getenv("HRT_MEMORY_DIR");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        else if (!strcmp(a, "--kb")) o->st.kb = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "--memory")) o->st.memory = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "--no-memory")) o->st.no_memory = 1;
        else if (!strcmp(a, "--router")) o->st.router = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "--no-router")) o->st.no_router = 1;
        else if (!strcmp(a, "--prompts")) o->st.prompts = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "--product")) o->st.product = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "--session")) o->session = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->st.model = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "--full-model")) o->st.full_model = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "--embed-model")) o->st.embed_model = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "--full-remote")) o->st.remote_url = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "--remote-model")) o->st.remote_model = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "--remote-key-env")) o->st.remote_key_env = need_arg(cmd, argc, argv, &i);
        else if (!strcmp(a, "--no-cache")) o->no_cache = 1;
        else if (!strcmp(a, "--explain")) o->explain = 1;
        else if (!strcmp(a, "--thinking")) o->thinking = 1;
        else if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) o->verbose = 1;
        else if (!strcmp(a, "--threshold")) o->st.threshold = parse_num(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--full-share")) o->st.full_share = parse_num(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--cache-threshold"))
            o->st.cache_threshold = parse_num(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
            o->st.threads = (int)parse_int(cmd, a, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--backend")) o->st.backend = parse_backend(cmd, need_arg(cmd, argc, argv, &i));
        else if (!strcmp(a, "--path")) {
            const char *v = need_arg(cmd, argc, argv, &i);
            if (!strcmp(v, "auto")) o->path = HRT_PATH_AUTO;
            else if (!strcmp(v, "light")) o->path = HRT_PATH_LIGHT;
            else if (!strcmp(v, "full")) o->path = HRT_PATH_FULL;
            else die_usage(cmd, "--path: '%s' is not auto, light or full", v);
        } else if (a[0] == '-' && a[1]) die_usage(cmd, "unknown option '%s'", a);
        else o->args[o->n_args++] = argv[i];
    }
    if (o->st.full_share < 0 || o->st.full_share > 1) die_usage(cmd, "--full-share must be in [0, 1]");
    o->st.quiet = o->json;
    return 0;
}

/* ---- printing ----------------------------------------------------------------------------- */
typedef struct {
    const ask_opts *o;
    int answer_shown;
} stream_state;

static int on_text(const char *text, size_t len, int part, void *ud)
{
    stream_state *s = ud;
    if (part == HRT_PART_ANSWER) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        s->answer_shown = 1;
    } else if (part == HRT_PART_THINKING && s->o->thinking) {
        fwrite(text, 1, len, stderr);
    } else if (part == HRT_PART_ESCALATE) {
        if (s->answer_shown) printf("\n");
        fprintf(stderr, "[the light answer failed a check (%.*s): asking the full path]\n", (int)len, text);
        s->answer_shown = 0;
    }
    return 0;
}

static void json_num(const char *key, double v)
{
    if (isfinite(v)) printf(",\"%s\":%.4g", key, v);
    else printf(",\"%s\":null", key);
}

static void print_json(const hrt_agent_result *r)
{
    static const char *stage[] = {"embed", "cache", "retrieve", "route", "rewrite", "light", "full"};
    printf("{\"answer\":");
    json_str(stdout, r->answer, strlen(r->answer));
    printf(",\"thinking\":");
    if (r->thinking) json_str(stdout, r->thinking, strlen(r->thinking));
    else printf("null");
    printf(",\"path\":\"%s\",\"routed\":\"%s\",\"escalated\":%s,\"check\":", path_name(r->path),
           path_name(r->routed), r->escalated ? "true" : "false");
    if (r->check) json_str(stdout, r->check, strlen(r->check));
    else printf("null");
    json_num("router_score", r->router_score);
    json_num("threshold", r->threshold);
    json_num("cache_score", r->cache_score);
    printf(",\"loop_stopped\":%s,\"citations\":[", r->loop_stopped ? "true" : "false");
    for (size_t i = 0; i < r->n_citations; i++) {
        printf("%s{\"n\":%d,\"source\":", i ? "," : "", r->citations[i].n);
        json_str(stdout, r->citations[i].source, strlen(r->citations[i].source));
        printf(",\"start\":%llu,\"end\":%llu,\"cited\":%s}", (unsigned long long)r->citations[i].start,
               (unsigned long long)r->citations[i].end, r->citations[i].cited ? "true" : "false");
    }
    printf("],\"stages\":{");
    for (int i = 0; i < HRT_STAGE_COUNT; i++)
        printf("%s\"%s\":{\"ms\":%.3f,\"prompt_tokens\":%d,\"cached_tokens\":%d,\"generated_tokens\":%d}",
               i ? "," : "", stage[i], r->stage[i].ms, r->stage[i].prompt_tokens, r->stage[i].cached_tokens,
               r->stage[i].generated_tokens);
    printf("},\"saved\":{\"cache\":%d,\"duplicates\":%d,\"context_budget\":%d,\"history_budget\":%d,\"loop\":%d,"
           "\"answer_done\":%d},\"prompt_tokens\":%d,\"generated_tokens\":%d,\"total_ms\":%.3f,\"explain\":",
           r->saved.cache, r->saved.duplicates, r->saved.context_budget, r->saved.history_budget, r->saved.loop,
           r->saved.answer_done, r->prompt_tokens, r->generated_tokens, r->total_ms);
    json_str(stdout, r->explain ? r->explain : "", r->explain ? strlen(r->explain) : 0);
    printf("}\n");
}

/* The passages the answer cites, or, when it cites none by number, the
 * passages it was given. */
static void print_sources(const hrt_agent_result *r)
{
    int any = 0, cited = 0;
    for (size_t i = 0; i < r->n_citations; i++) cited |= r->citations[i].cited;
    for (size_t i = 0; i < r->n_citations; i++)
        if (r->citations[i].cited || !cited) {
            if (!any++) printf(cited ? "\nSources:\n" : "\nSources (the passages given):\n");
            printf("  [%d] %s (bytes %llu-%llu)\n", r->citations[i].n, r->citations[i].source,
                   (unsigned long long)r->citations[i].start, (unsigned long long)r->citations[i].end);
        }
}

static hrt_agent *active_agent;
static void on_sigint(int sig)
{
    (void)sig;
    if (active_agent) hrt_agent_cancel(active_agent, NULL);
}

/* One question: prints the answer (streamed), sources and --explain. */
static int ask_one(const ask_opts *o, stack *s, const char *q, size_t len)
{
    hrt_ask_params p = hrt_ask_default_params();
    stream_state ss = {o, 0};
    p.path = o->path;
    p.use_cache = !o->no_cache;
    if (!o->json) p.on_text = on_text, p.user_data = &ss;
    hrt_agent_result r;
    int st = hrt_agent_ask(s->agent, o->session, q, len, &p, &r);
    if (st && st != HRT_E_CANCELLED) {
        fprintf(stderr, "hrt ask: %s\n", hrt_last_error());
        return EXIT_FAIL;
    }
    if (o->json) {
        print_json(&r);
    } else {
        if (!ss.answer_shown) fputs(r.answer, stdout);
        printf("\n");
        print_sources(&r);
        if (o->explain) printf("\n%s", r.explain ? r.explain : "");
        if (o->verbose)
            fprintf(stderr, "[%s path, %d prompt tokens, %d generated, %.0f ms]\n", path_name(r.path), r.prompt_tokens,
                    r.generated_tokens, r.total_ms);
    }
    hrt_agent_result_clear(&r);
    return st == HRT_E_CANCELLED ? 130 : EXIT_OK;
}

int cmd_ask(int argc, char **argv)
{
    ask_opts o;
    if (parse("ask", argc, argv, &o)) { fputs(HELP_ASK, stdout); return EXIT_OK; }
    if (o.n_args != 1) die_usage("ask", "one question is needed (quote it)");
    stack s;
    int rc = stack_open("ask", &o.st, &s);
    if (!rc) {
        active_agent = s.agent;
        signal(SIGINT, on_sigint);
        rc = ask_one(&o, &s, o.args[0], strlen(o.args[0]));
        active_agent = NULL;
    }
    stack_free(&s);
    return rc;
}

/* hrt chat --kb DIR: a conversation through the agent, turns kept in memory. */
int cmd_agent_chat(int argc, char **argv)
{
    ask_opts o;
    if (parse("chat", argc, argv, &o)) { fputs(HELP_ASK, stdout); return EXIT_OK; }
    if (!o.session) o.session = "chat";
    if (o.st.no_memory) die_usage("chat", "--kb keeps the conversation in a memory: --no-memory does not apply");
    stack s;
    int rc = stack_open("chat", &o.st, &s);
    char *line = NULL;
    size_t cap = 0;
    int tty = isatty(STDIN_FILENO);
    active_agent = s.agent;
    signal(SIGINT, on_sigint);
    while (!rc) {
        if (tty) { printf("> "); fflush(stdout); }
        ssize_t k = getline(&line, &cap, stdin);
        if (k < 0) break;
        while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r')) line[--k] = 0;
        if (!k) continue;
        if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) break;
        int r = ask_one(&o, &s, line, (size_t)k);
        if (r == EXIT_FAIL && !tty) rc = r;
    }
    active_agent = NULL;
    free(line);
    stack_free(&s);
    return rc;
}

/* ---- hrt router train ---------------------------------------------------------------------- */
static void train_progress(float f, void *ud)
{
    (void)ud;
    fprintf(stderr, "\rembedding the labelled queries: %3d%%", (int)(f * 100.0f + 0.5f));
    if (f >= 1.0f) fprintf(stderr, "\r%50s\r", "");
}

int cmd_router(int argc, char **argv)
{
    const char *out = "router.json", *model = NULL;
    int json = 0, threads = 0;
    hrt_router_train_params p = hrt_router_train_default_params();
    char **files = argv;
    int n = 0;
    const char *cal[16];
    size_t n_cal = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(HELP_ROUTER, stdout); return EXIT_OK; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) out = need_arg("router", argc, argv, &i);
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = need_arg("router", argc, argv, &i);
        else if (!strcmp(a, "--holdout")) p.holdout = parse_num("router", a, need_arg("router", argc, argv, &i));
        else if (!strcmp(a, "--l2")) p.l2 = parse_num("router", a, need_arg("router", argc, argv, &i));
        else if (!strcmp(a, "--epochs")) p.epochs = (int)parse_int("router", a, need_arg("router", argc, argv, &i));
        else if (!strcmp(a, "--full-share")) p.full_share = parse_num("router", a, need_arg("router", argc, argv, &i));
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) threads = (int)parse_int("router", a, need_arg("router", argc, argv, &i));
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--calibrate")) {
            if (n_cal == 16) die_usage("router", "at most 16 --calibrate files");
            cal[n_cal++] = need_arg("router", argc, argv, &i);
        }
        else if (a[0] == '-' && a[1]) die_usage("router", "unknown option '%s'", a);
        else files[n++] = argv[i];
    }
    if (n < 2 || strcmp(files[0], "train")) die_usage("router", "usage: hrt router train [options] LABELS.jsonl...");
    char mbuf[4096];
    hrt_model *m = open_model("router", model ? model : default_model(DEFAULT_EMBED_MODEL, mbuf, sizeof mbuf), threads,
                              HRT_BACKEND_AUTO);
    if (isatty(2) && !json) p.progress = train_progress;
    p.calibration_files = cal;
    p.n_calibration = n_cal;
    hrt_router_report r;
    int st = hrt_router_train(m, (const char *const *)files + 1, (size_t)n - 1, out, &p, &r);
    hrt_model_free(m);
    if (st) {
        fprintf(stderr, "hrt router train: %s\n", hrt_last_error());
        return EXIT_FAIL;
    }
    if (json) {
        printf("{\"out\":");
        json_str(stdout, out, strlen(out));
        printf(",\"rows\":%zu,\"full_rows\":%zu,\"holdout_rows\":%zu,\"calibration_rows\":%zu", r.rows, r.full_rows,
               r.holdout_rows, r.calibration_rows);
        json_num("auc_train", r.auc_train);
        json_num("auc_holdout", r.auc_holdout);
        json_num("threshold", r.threshold);
        json_num("holdout_share", r.holdout_share);
        json_num("holdout_recall", r.holdout_recall);
        printf(",\"seconds_embed\":%.2f,\"seconds_train\":%.2f}\n", r.seconds_embed, r.seconds_train);
    } else {
        printf("router written to %s\n"
               "queries            %zu (%zu labelled full, %.1f%%)\n"
               "held out           %zu\n"
               "AUC                %.3f on the training rows, %.3f held out\n"
               "threshold          %.4f (calibrated on %zu queries%s)\n"
               "held out, routed   %.1f%% to the full path, catching %.1f%% of the full-labelled ones\n"
               "time               %.1f s embedding, %.1f s fitting\n",
               out, r.rows, r.full_rows, 100.0 * (double)r.full_rows / (double)r.rows, r.holdout_rows, r.auc_train,
               r.auc_holdout, r.threshold, r.calibration_rows ? r.calibration_rows : r.rows,
               r.calibration_rows ? "" : ", the training ones", 100 * r.holdout_share, 100 * r.holdout_recall, r.seconds_embed,
               r.seconds_train);
    }
    return EXIT_OK;
}
