/* hrt run TASK.json: scripted agent tasks (docs/TASKS.md has the format).
 *
 * A task file is read whole and checked before anything runs: every
 * problem is reported with the JSON path of the value at fault
 * ("$.steps[2].expect[0].number"). Then the steps run in order; each
 * writes one JSON line (what it did, what it cost, its expectations) and
 * a summary line ends the output. A step that fails (an expectation not
 * met, a tool error) does not stop the task; the exit status says whether
 * everything passed. Memory and knowledge bases the task does not name
 * live in temporary directories that are removed afterwards, so a task
 * gives the same result on every run. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hrt.h"
#include "tools.h"

#define TASK_VERSION 1
#define MAX_STEPS 10000
#define MAX_DEPTH 16 /* nested if/then/else */
#define JPATH_MAX 160

/* ---- the parsed task (strings borrowed from the cJSON tree) ------------------------- */
enum { CK_CONTAINS, CK_NOT_CONTAINS, CK_REGEX, CK_EQUALS, CK_NUMBER };
static const char *const check_names[] = {"contains", "not_contains", "regex", "equals", "number"};
enum { IN_OUTPUT, IN_PATH, IN_SOURCES, IN_CITED };
static const char *const in_names[] = {"output", "path", "sources", "cited"};

typedef struct {
    int kind, in, icase;
    const char *text;        /* CK_NUMBER: NULL */
    double num, tol;
    const char *step;        /* conditions only: the step looked at (NULL: the one before) */
    regex_t re;
    int has_re;
    char jpath[JPATH_MAX];
} check;

enum { ST_ASK, ST_RETRIEVE, ST_REMEMBER, ST_RECALL, ST_TOOL, ST_IF };
static const char *const kind_names[] = {"ask", "retrieve", "remember", "recall", "tool", "if"};
enum { TOOL_CALCULATOR, TOOL_DATETIME, TOOL_KB_SEARCH, TOOL_MEMORY };
static const char *const tool_names[] = {"calculator", "datetime", "kb_search", "memory"};

typedef struct step {
    int kind, tool, path, cache, k;
    const char *id, *text, *key, *session;
    check *expect;
    size_t n_expect;
    check cond;              /* ST_IF */
    struct step *then, *els;
    size_t n_then, n_else;
    char jpath[JPATH_MAX];
} step;

typedef struct {
    cJSON *doc;
    const char *file, *name;
    char dir[4096];          /* the task file's directory: relative paths start here */
    step *steps;
    size_t n_steps;
    /* settings */
    const char *light_model, *full_model, *embed_model, *router, *prompts, *product, *kb_dir, *memory_dir;
    const char *remote_url, *remote_model, *remote_key_env;
    double remote_timeout_ms;
    const char **ingest;
    size_t n_ingest;
    int has_kb, no_router, memory_off, cache, prune, escalate, seed_set;
    double threshold, full_share, cache_threshold, temperature;
    uint64_t seed;
    int budgets[5];          /* light/full max tokens, light/full context, history; 0: default */
    time_t now;              /* the datetime tool's clock */
    int needs_models, needs_memory;
} task;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *const budget_names[] = {"light_max_tokens", "full_max_tokens", "light_context_tokens",
                                           "full_context_tokens", "history_tokens"};

/* ---- checking the file ---------------------------------------------------------------- */
/* out = base + suffix (with idx when suffix has %zu); a path too deep to
 * spell out ends in "...". */
static void jpath_join(char *out, const char *base, const char *suffix, size_t idx)
{
    char sfx[32];
    if (snprintf(sfx, sizeof sfx, suffix, idx) >= (int)sizeof sfx) sfx[0] = 0;
    if (snprintf(out, JPATH_MAX, "%s%s", base, sfx) >= JPATH_MAX) memcpy(out + JPATH_MAX - 4, "...", 4);
}
typedef struct {
    const char *file;
    char msg[1024];
} perr;

static int fail(perr *e, const char *jpath, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(perr *e, const char *jpath, const char *fmt, ...)
{
    int n = snprintf(e->msg, sizeof e->msg, "%s: %s: ", e->file, jpath);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof e->msg) vsnprintf(e->msg + n, sizeof e->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *json_type(const cJSON *j)
{
    return cJSON_IsString(j) ? "a string" : cJSON_IsNumber(j) ? "a number" : cJSON_IsBool(j) ? "a boolean"
           : cJSON_IsNull(j) ? "null" : cJSON_IsArray(j) ? "an array" : "an object";
}

/* Keys of obj must all be in allowed (NULL-terminated), each once (cJSON
 * would keep the first of two silently). */
static int known_keys(perr *e, const char *jpath, const cJSON *obj, const char *const *allowed)
{
    for (const cJSON *c = obj->child; c; c = c->next) {
        for (const cJSON *d = obj->child; d != c; d = d->next)
            if (!strcmp(c->string, d->string)) return fail(e, jpath, "\"%s\" appears twice", c->string);
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++) ok = !strcmp(c->string, allowed[i]);
        if (!ok) {
            char list[512] = "";
            for (int i = 0; allowed[i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", allowed[i]);
            return fail(e, jpath, "unknown key \"%s\" (known: %s)", c->string, list);
        }
    }
    return 0;
}

static int get_str(perr *e, const char *jpath, const cJSON *obj, const char *key, int required, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return required ? fail(e, jpath, "missing \"%s\"", key) : 0;
    if (!cJSON_IsString(v)) return fail(e, jpath, "\"%s\": expected a string, not %s", key, json_type(v));
    if (required && !v->valuestring[0]) return fail(e, jpath, "\"%s\": empty", key);
    *out = v->valuestring;
    return 0;
}

static int get_num(perr *e, const char *jpath, const cJSON *obj, const char *key, double lo, double hi, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v)) return fail(e, jpath, "\"%s\": expected a number, not %s", key, json_type(v));
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return fail(e, jpath, "\"%s\": %g is outside [%g, %g]", key, v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return 0;
}

static int get_bool(perr *e, const char *jpath, const cJSON *obj, const char *key, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return fail(e, jpath, "\"%s\": expected true or false, not %s", key, json_type(v));
    *out = cJSON_IsTrue(v);
    return 0;
}

/* A path named by the task: relative to the task file's directory. */
static char *resolve(const task *t, const char *p) { return path_in(t->dir, p); }

static int parse_check(perr *e, const char *jpath, const cJSON *c, int is_cond, check *out)
{
    static const char *const keys[] = {"contains", "not_contains", "regex", "equals", "number", "tolerance", "in",
                                       "ignore_case", "step", NULL};
    memset(out, 0, sizeof *out);
    jpath_join(out->jpath, jpath, "", 0);
    if (!cJSON_IsObject(c)) return fail(e, jpath, "expected an object, not %s", json_type(c));
    if (known_keys(e, jpath, c, keys)) return -1;
    int found = -1;
    for (int k = 0; k < 5; k++) {
        if (!cJSON_GetObjectItemCaseSensitive(c, check_names[k])) continue;
        if (found >= 0) return fail(e, jpath, "both \"%s\" and \"%s\": one check per object", check_names[found],
                                    check_names[k]);
        found = k;
    }
    if (found < 0) return fail(e, jpath, "no check: expected one of contains, not_contains, regex, equals, number");
    out->kind = found;
    out->tol = 0;
    if (found == CK_NUMBER) {
        if (get_num(e, jpath, c, "number", -HUGE_VAL, HUGE_VAL, &out->num) ||
            get_num(e, jpath, c, "tolerance", 0, HUGE_VAL, &out->tol))
            return -1;
    } else {
        if (get_str(e, jpath, c, check_names[found], 0, &out->text)) return -1;
        if (cJSON_GetObjectItemCaseSensitive(c, "tolerance"))
            return fail(e, jpath, "\"tolerance\" belongs to a \"number\" check");
    }
    out->icase = found == CK_CONTAINS || found == CK_NOT_CONTAINS;
    if (get_bool(e, jpath, c, "ignore_case", &out->icase)) return -1;
    if (found == CK_NUMBER && cJSON_GetObjectItemCaseSensitive(c, "ignore_case"))
        return fail(e, jpath, "\"ignore_case\" does not apply to a \"number\" check");
    const char *in = NULL;
    if (get_str(e, jpath, c, "in", 0, &in)) return -1;
    if (in) {
        out->in = -1;
        for (int k = 0; k < 4; k++)
            if (!strcmp(in, in_names[k])) out->in = k;
        if (out->in < 0) return fail(e, jpath, "\"in\": \"%s\" is not output, path, sources or cited", in);
    }
    if (get_str(e, jpath, c, "step", 0, &out->step)) return -1;
    if (out->step && !is_cond) return fail(e, jpath, "\"step\" belongs to an \"if\" condition");
    if (found == CK_REGEX) {
        if (strstr(out->text, "{{")) return fail(e, jpath, "\"regex\": templates are not expanded in a regex");
        int rc = regcomp(&out->re, out->text, REG_EXTENDED | REG_NOSUB | (out->icase ? REG_ICASE : 0));
        if (rc) {
            char buf[256];
            regerror(rc, &out->re, buf, sizeof buf);
            return fail(e, jpath, "\"regex\": %s", buf);
        }
        out->has_re = 1;
    }
    return 0;
}

static void check_free(check *c)
{
    if (c->has_re) regfree(&c->re);
}

static void steps_free(step *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        for (size_t k = 0; k < s[i].n_expect; k++) check_free(&s[i].expect[k]);
        free(s[i].expect);
        check_free(&s[i].cond);
        steps_free(s[i].then, s[i].n_then);
        steps_free(s[i].els, s[i].n_else);
    }
    free(s);
}

static int parse_steps(perr *e, task *t, const char *jpath, const cJSON *arr, int depth, step **out, size_t *n_out);

static int parse_step(perr *e, task *t, const char *jpath, const cJSON *j, int depth, step *s)
{
    /* the keys each action takes, besides its own */
    static const char *const keys[][8] = {
        [ST_ASK] = {"ask", "id", "expect", "session", "path", "cache", NULL},
        [ST_RETRIEVE] = {"retrieve", "id", "expect", "k", NULL},
        [ST_REMEMBER] = {"remember", "id", "expect", "key", NULL},
        [ST_RECALL] = {"recall", "id", "expect", NULL},
        [ST_TOOL] = {"tool", "id", "expect", "input", "k", NULL},
        [ST_IF] = {"if", "then", "else", NULL},
    };
    memset(s, 0, sizeof *s);
    jpath_join(s->jpath, jpath, "", 0);
    s->cache = 1, s->k = 3, s->kind = -1;
    if (!cJSON_IsObject(j)) return fail(e, jpath, "a step is an object, not %s", json_type(j));
    for (int k = 0; k <= ST_IF; k++) {
        if (!cJSON_GetObjectItemCaseSensitive(j, kind_names[k])) continue;
        if (s->kind >= 0)
            return fail(e, jpath, "both \"%s\" and \"%s\": one action per step", kind_names[s->kind], kind_names[k]);
        s->kind = k;
    }
    if (s->kind < 0) return fail(e, jpath, "no action: expected one of ask, retrieve, remember, recall, tool, if");
    if (s->kind == ST_IF && cJSON_GetObjectItemCaseSensitive(j, "id"))
        return fail(e, jpath, "an \"if\" step has no output for an \"id\" to name (its branches' steps may have ids)");
    if (s->kind == ST_IF && cJSON_GetObjectItemCaseSensitive(j, "expect"))
        return fail(e, jpath, "an \"if\" step has no expectations (its branches may)");
    if (known_keys(e, jpath, j, keys[s->kind])) return -1;
    if (get_str(e, jpath, j, "id", 0, &s->id)) return -1;
    if (s->id && (!s->id[0] || strspn(s->id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
                                   strlen(s->id)))
        return fail(e, jpath, "\"id\": \"%s\" must be letters, digits, '_', '-' or '.'", s->id);
    const char *path = NULL, *tool = NULL;
    double k = 3;
    switch (s->kind) {
    case ST_ASK:
        if (get_str(e, jpath, j, "ask", 1, &s->text) || get_str(e, jpath, j, "session", 0, &s->session) ||
            get_str(e, jpath, j, "path", 0, &path) || get_bool(e, jpath, j, "cache", &s->cache))
            return -1;
        if (path && strcmp(path, "auto") && strcmp(path, "light") && strcmp(path, "full"))
            return fail(e, jpath, "\"path\": \"%s\" is not auto, light or full", path);
        s->path = !path || !strcmp(path, "auto") ? HRT_PATH_AUTO : !strcmp(path, "light") ? HRT_PATH_LIGHT
                                                                                         : HRT_PATH_FULL;
        t->needs_models = 1;
        if (s->session) t->needs_memory = 1;
        break;
    case ST_RETRIEVE:
        if (get_str(e, jpath, j, "retrieve", 1, &s->text) || get_num(e, jpath, j, "k", 1, 50, &k)) return -1;
        if (!t->has_kb) return fail(e, jpath, "\"retrieve\" needs a knowledge base: $.settings.kb");
        t->needs_models = 1;
        break;
    case ST_REMEMBER:
        if (get_str(e, jpath, j, "remember", 0, &s->text) || get_str(e, jpath, j, "key", 1, &s->key)) return -1;
        if (!s->text) return fail(e, jpath, "\"remember\": expected the text to keep (a string)");
        t->needs_memory = 1;
        break;
    case ST_RECALL:
        if (get_str(e, jpath, j, "recall", 1, &s->text)) return -1;
        t->needs_memory = 1;
        break;
    case ST_TOOL:
        if (get_str(e, jpath, j, "tool", 1, &tool) || get_str(e, jpath, j, "input", 1, &s->text) ||
            get_num(e, jpath, j, "k", 1, 50, &k))
            return -1;
        s->tool = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(tool, tool_names[i])) s->tool = i;
        if (s->tool < 0)
            return fail(e, jpath, "\"tool\": \"%s\" is not calculator, datetime, kb_search or memory", tool);
        if (s->tool == TOOL_KB_SEARCH && !t->has_kb)
            return fail(e, jpath, "the kb_search tool needs a knowledge base: $.settings.kb");
        if (s->tool == TOOL_KB_SEARCH || s->tool == TOOL_MEMORY) t->needs_models = 1;
        if (s->tool == TOOL_MEMORY) t->needs_memory = 1;
        break;
    case ST_IF: {
        char p[JPATH_MAX];
        jpath_join(p, jpath, ".if", 0);
        if (parse_check(e, p, cJSON_GetObjectItemCaseSensitive(j, "if"), 1, &s->cond)) return -1;
        const cJSON *th = cJSON_GetObjectItemCaseSensitive(j, "then"), *el = cJSON_GetObjectItemCaseSensitive(j, "else");
        if (!th && !el) return fail(e, jpath, "an \"if\" needs \"then\" or \"else\" steps");
        if (depth >= MAX_DEPTH) return fail(e, jpath, "\"if\" nested more than %d deep", MAX_DEPTH);
        jpath_join(p, jpath, ".then", 0);
        if (th && parse_steps(e, t, p, th, depth + 1, &s->then, &s->n_then)) return -1;
        jpath_join(p, jpath, ".else", 0);
        if (el && parse_steps(e, t, p, el, depth + 1, &s->els, &s->n_else)) return -1;
        break;
    }
    }
    if (k != floor(k)) return fail(e, jpath, "\"k\": expected a whole number, not %g", k);
    if (s->kind == ST_TOOL && s->tool != TOOL_KB_SEARCH && cJSON_GetObjectItemCaseSensitive(j, "k"))
        return fail(e, jpath, "\"k\" belongs to retrieve and the kb_search tool");
    s->k = (int)k;
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(j, "expect");
    if (ex) {
        size_t n = cJSON_IsArray(ex) ? (size_t)cJSON_GetArraySize(ex) : 1;
        if (!cJSON_IsArray(ex) && !cJSON_IsObject(ex))
            return fail(e, jpath, "\"expect\": expected an object or an array of them, not %s", json_type(ex));
        s->expect = calloc(n ? n : 1, sizeof *s->expect);
        if (!s->expect) return fail(e, jpath, "out of memory");
        const cJSON *c = cJSON_IsArray(ex) ? ex->child : ex;
        for (size_t i = 0; i < n; i++, c = c->next) {
            char p[JPATH_MAX];
            jpath_join(p, jpath, cJSON_IsArray(ex) ? ".expect[%zu]" : ".expect", i);
            s->n_expect = i + 1;
            if (parse_check(e, p, c, 0, &s->expect[i])) return -1;
        }
    }
    return 0;
}

static int parse_steps(perr *e, task *t, const char *jpath, const cJSON *arr, int depth, step **out, size_t *n_out)
{
    if (!cJSON_IsArray(arr)) return fail(e, jpath, "expected an array of steps, not %s", json_type(arr));
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0) return fail(e, jpath, "no steps");
    if (n > MAX_STEPS) return fail(e, jpath, "%zu steps; at most %d", n, MAX_STEPS);
    step *s = calloc(n, sizeof *s);
    if (!s) return fail(e, jpath, "out of memory");
    *out = s;
    size_t i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        char p[JPATH_MAX];
        jpath_join(p, jpath, "[%zu]", i);
        *n_out = i + 1;
        if (parse_step(e, t, p, c, depth, &s[i])) return -1;
    }
    return 0;
}

/* Every id once; templates and conditions name ids that exist. */
typedef struct {
    const char **ids;
    size_t n, cap;
} idset;

static int collect_ids(perr *e, const step *s, size_t n, idset *ids)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i].id) {
            for (size_t k = 0; k < ids->n; k++)
                if (!strcmp(ids->ids[k], s[i].id)) return fail(e, s[i].jpath, "\"id\": \"%s\" is used twice", s[i].id);
            if (ids->n == ids->cap) {
                size_t cap = ids->cap ? ids->cap * 2 : 16;
                const char **p = realloc(ids->ids, cap * sizeof *p);
                if (!p) return fail(e, s[i].jpath, "out of memory");
                ids->ids = p, ids->cap = cap;
            }
            ids->ids[ids->n++] = s[i].id;
        }
        if (collect_ids(e, s[i].then, s[i].n_then, ids) || collect_ids(e, s[i].els, s[i].n_else, ids)) return -1;
    }
    return 0;
}

static int known_id(const idset *ids, const char *id, size_t n)
{
    for (size_t k = 0; k < ids->n; k++)
        if (strlen(ids->ids[k]) == n && !strncmp(ids->ids[k], id, n)) return 1;
    return 0;
}

static int check_templates(perr *e, const char *jpath, const char *text, const idset *ids)
{
    for (const char *p = text ? strstr(text, "{{") : NULL; p; p = strstr(p + 2, "{{")) {
        const char *end = strstr(p + 2, "}}");
        if (!end) return fail(e, jpath, "\"{{\" without \"}}\"");
        if (!known_id(ids, p + 2, (size_t)(end - p - 2)))
            return fail(e, jpath, "{{%.*s}} names no step id", (int)(end - p - 2), p + 2);
    }
    return 0;
}

static int check_refs(perr *e, const step *s, size_t n, const idset *ids)
{
    for (size_t i = 0; i < n; i++) {
        if (check_templates(e, s[i].jpath, s[i].text, ids) || check_templates(e, s[i].jpath, s[i].key, ids) ||
            check_templates(e, s[i].jpath, s[i].session, ids))
            return -1;
        for (size_t k = 0; k < s[i].n_expect; k++)
            if (check_templates(e, s[i].expect[k].jpath, s[i].expect[k].text, ids)) return -1;
        if (s[i].kind == ST_IF) {
            if (s[i].cond.step && !known_id(ids, s[i].cond.step, strlen(s[i].cond.step)))
                return fail(e, s[i].cond.jpath, "\"step\": \"%s\" names no step id", s[i].cond.step);
            if (check_templates(e, s[i].cond.jpath, s[i].cond.text, ids)) return -1;
        }
        if (check_refs(e, s[i].then, s[i].n_then, ids) || check_refs(e, s[i].els, s[i].n_else, ids)) return -1;
    }
    return 0;
}

static int parse_settings(perr *e, task *t, const cJSON *s)
{
    static const char *const keys[] = {"light_model", "full_model", "embed_model", "kb", "memory", "router",
                                       "prompts", "product", "threshold", "full_share", "cache", "cache_threshold",
                                       "pruning", "escalate", "budgets", "seed", "temperature", "now", "remote",
                                       NULL};
    const char *jp = "$.settings";
    if (!cJSON_IsObject(s)) return fail(e, jp, "expected an object, not %s", json_type(s));
    if (known_keys(e, jp, s, keys)) return -1;
    if (get_str(e, jp, s, "light_model", 0, &t->light_model) || get_str(e, jp, s, "full_model", 0, &t->full_model) ||
        get_str(e, jp, s, "embed_model", 0, &t->embed_model) || get_str(e, jp, s, "prompts", 0, &t->prompts) ||
        get_str(e, jp, s, "product", 0, &t->product) || get_num(e, jp, s, "threshold", 0, 1, &t->threshold) ||
        get_num(e, jp, s, "full_share", 0, 1, &t->full_share) ||
        get_num(e, jp, s, "cache_threshold", 0, 2, &t->cache_threshold) || get_bool(e, jp, s, "cache", &t->cache) ||
        get_bool(e, jp, s, "pruning", &t->prune) || get_bool(e, jp, s, "escalate", &t->escalate) ||
        get_num(e, jp, s, "temperature", 0, 10, &t->temperature))
        return -1;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(s, "router");
    if (r && (cJSON_IsNull(r) || cJSON_IsFalse(r))) t->no_router = 1;
    else if (r && get_str(e, jp, s, "router", 1, &t->router)) return -1;
    double seed = 0;
    if (get_num(e, jp, s, "seed", 0, 9007199254740991.0, &seed)) return -1;
    if (cJSON_GetObjectItemCaseSensitive(s, "seed")) {
        if (seed != floor(seed)) return fail(e, "$.settings.seed", "expected a whole number, not %g", seed);
        t->seed = (uint64_t)seed, t->seed_set = 1;
    }
    const char *now = NULL;
    if (get_str(e, jp, s, "now", 0, &now)) return -1;
    if (now && tool_parse_time(now, &t->now))
        return fail(e, "$.settings.now", "\"%s\" is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)", now);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(s, "budgets");
    if (b) {
        static const char *const bkeys[] = {"light_max_tokens", "full_max_tokens", "light_context_tokens",
                                            "full_context_tokens", "history_tokens", NULL};
        if (!cJSON_IsObject(b)) return fail(e, "$.settings.budgets", "expected an object, not %s", json_type(b));
        if (known_keys(e, "$.settings.budgets", b, bkeys)) return -1;
        for (int i = 0; i < 5; i++) {
            double v = 0;
            if (get_num(e, "$.settings.budgets", b, budget_names[i], 1, 32768, &v)) return -1;
            t->budgets[i] = (int)v;
        }
    }
    const cJSON *kb = cJSON_GetObjectItemCaseSensitive(s, "kb");
    if (kb) {
        static const char *const kkeys[] = {"dir", "ingest", NULL};
        if (!cJSON_IsObject(kb))
            return fail(e, "$.settings.kb", "expected an object ({\"dir\": ..., \"ingest\": [...]}), not %s",
                        json_type(kb));
        if (known_keys(e, "$.settings.kb", kb, kkeys) || get_str(e, "$.settings.kb", kb, "dir", 0, &t->kb_dir))
            return -1;
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(kb, "ingest");
        if (in && !cJSON_IsArray(in)) return fail(e, "$.settings.kb.ingest", "expected an array of paths");
        size_t n = in ? (size_t)cJSON_GetArraySize(in) : 0;
        if (!t->kb_dir && !n) return fail(e, "$.settings.kb", "needs \"dir\", \"ingest\" or both");
        t->ingest = calloc(n ? n : 1, sizeof *t->ingest);
        if (!t->ingest) return fail(e, "$.settings.kb", "out of memory");
        size_t i = 0;
        for (const cJSON *c = in ? in->child : NULL; c; c = c->next, i++) {
            char p[JPATH_MAX];
            jpath_join(p, "$.settings.kb.ingest", "[%zu]", i);
            if (!cJSON_IsString(c) || !c->valuestring[0]) return fail(e, p, "expected a path (a string)");
            t->ingest[t->n_ingest++] = c->valuestring;
        }
        t->has_kb = 1;
    }
    const cJSON *rm = cJSON_GetObjectItemCaseSensitive(s, "remote");
    if (rm) {
        static const char *const rkeys[] = {"url", "model", "api_key_env", "timeout_ms", NULL};
        const char *rp = "$.settings.remote";
        if (!cJSON_IsObject(rm)) return fail(e, rp, "expected an object ({\"url\": ...}), not %s", json_type(rm));
        if (known_keys(e, rp, rm, rkeys) || get_str(e, rp, rm, "url", 1, &t->remote_url) ||
            get_str(e, rp, rm, "model", 0, &t->remote_model) ||
            get_str(e, rp, rm, "api_key_env", 0, &t->remote_key_env) ||
            get_num(e, rp, rm, "timeout_ms", 1, 86400000, &t->remote_timeout_ms))
            return -1;
        if (strncmp(t->remote_url, "http://", 7) && strncmp(t->remote_url, "https://", 8))
            return fail(e, rp, "\"url\": \"%s\" is not an http:// or https:// URL", t->remote_url);
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(s, "memory");
    if (m) {
        if (cJSON_IsFalse(m)) t->memory_off = 1;
        else if (cJSON_IsObject(m)) {
            static const char *const mkeys[] = {"dir", NULL};
            if (known_keys(e, "$.settings.memory", m, mkeys) ||
                get_str(e, "$.settings.memory", m, "dir", 1, &t->memory_dir))
                return -1;
        } else if (!cJSON_IsTrue(m)) {
            return fail(e, "$.settings.memory", "expected true, false or {\"dir\": ...}, not %s", json_type(m));
        }
    }
    return 0;
}

static void task_free(task *t)
{
    steps_free(t->steps, t->n_steps);
    free(t->ingest);
    cJSON_Delete(t->doc);
}

/* Checks the task file text (len bytes) read from path; 0, or -1 with
 * e->msg. Free t with task_free either way. */
static int task_parse(const char *path, const char *text, size_t len, task *t, perr *e)
{
    const char *end = NULL;
    t->doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (t->doc && end) { /* one JSON value, then only white space */
        while (end < text + len && isspace((unsigned char)*end)) end++;
        if (end < text + len) {
            cJSON_Delete(t->doc);
            t->doc = NULL;
        }
    }
    if (!t->doc) {
        size_t off = end ? (size_t)(end - text) : 0;
        int line = 1;
        for (size_t i = 0; i < off && i < len; i++) line += text[i] == '\n';
        return fail(e, "$", "not valid JSON (near line %d, byte %zu)", line, off);
    }
    dir_of(path, t->dir, sizeof t->dir);
    const cJSON *root = t->doc;
    static const char *const keys[] = {"hrt_task", "name", "description", "settings", "steps", NULL};
    if (!cJSON_IsObject(root)) return fail(e, "$", "a task is a JSON object, not %s", json_type(root));
    if (known_keys(e, "$", root, keys)) return -1;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "hrt_task");
    if (!v) return fail(e, "$", "missing \"hrt_task\" (the format version: %d)", TASK_VERSION);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1)
        return fail(e, "$.hrt_task", "expected the format version (a whole number), not %s", json_type(v));
    if (v->valuedouble > TASK_VERSION)
        return fail(e, "$.hrt_task", "version %g is newer than this hrt reads (%d)", v->valuedouble, TASK_VERSION);
    if (get_str(e, "$", root, "name", 0, &t->name)) return -1;
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(root, "description");
    if (desc && !cJSON_IsString(desc)) return fail(e, "$.description", "expected a string, not %s", json_type(desc));
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "settings");
    if (s && parse_settings(e, t, s)) return -1;
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
    if (!steps) return fail(e, "$", "missing \"steps\"");
    if (parse_steps(e, t, "$.steps", steps, 0, &t->steps, &t->n_steps)) return -1;
    idset ids = {0};
    int rc = collect_ids(e, t->steps, t->n_steps, &ids);
    if (!rc) rc = check_refs(e, t->steps, t->n_steps, &ids);
    free(ids.ids);
    if (rc) return -1;
    if (t->needs_memory && t->memory_off)
        return fail(e, "$.settings.memory", "false, but a step needs the memory (remember, recall, the memory tool "
                                           "or an ask with a session)");
    return 0;
}

static void task_init(task *t, const char *path, perr *e)
{
    memset(t, 0, sizeof *t);
    t->cache = t->prune = t->escalate = 1;
    t->threshold = t->cache_threshold = t->temperature = -1;
    t->now = time(NULL);
    t->file = e->file = path;
}

/* Reads and checks path; 0, or -1 with e->msg. */
static int task_load(const char *path, task *t, perr *e)
{
    task_init(t, path, e);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(e, "$", "cannot open: %s", strerror(errno));
    size_t len;
    char *text = read_all(f, &len);
    fclose(f);
    if (!text) return fail(e, "$", "out of memory");
    int rc = task_parse(path, text, len, t, e);
    free(text);
    return rc;
}

/* ---- running ------------------------------------------------------------------------- */
typedef struct {
    const char *id;
    char *output, *path, *sources, *cited;
} result;

typedef struct {
    task *t;
    stack st;
    hrt_memory *mem;         /* st.mem, or one opened without models */
    FILE *out;
    result *res;             /* every step run, in order */
    size_t n_res, cap_res;
    size_t steps_run, steps_failed, expect_total, expect_failed;
    long prompt_tokens, generated_tokens, cached_tokens, saved_tokens;
    double ms;
    char failures[2048];     /* the first few, for the summary on stderr */
} runner;

static const result *find_result(const runner *r, const char *id, size_t n)
{
    for (size_t i = r->n_res; i-- > 0;)
        if (r->res[i].id && strlen(r->res[i].id) == n && !strncmp(r->res[i].id, id, n)) return &r->res[i];
    return NULL;
}

/* text with {{id}} replaced by that step's output; malloc'd, or NULL with err. */
static char *expand(const runner *r, const char *text, char *err, size_t errcap)
{
    if (!text) return NULL;
    size_t cap = strlen(text) + 1, n = 0;
    char *o = malloc(cap);
    for (const char *p = text; o && *p;) {
        const char *b = strstr(p, "{{"), *e = b ? strstr(b + 2, "}}") : NULL;
        const char *val = NULL;
        size_t take = b && e ? (size_t)(b - p) : strlen(p);
        if (b && e) {
            const result *res = find_result(r, b + 2, (size_t)(e - b - 2));
            if (!res) {
                snprintf(err, errcap, "{{%.*s}}: that step has not run", (int)(e - b - 2), b + 2);
                free(o);
                return NULL;
            }
            val = res->output ? res->output : "";
        }
        size_t need = n + take + (val ? strlen(val) : 0) + 1;
        if (need > cap) {
            char *q = realloc(o, cap = need * 2);
            if (!q) break;
            o = q;
        }
        memcpy(o + n, p, take), n += take;
        if (val) memcpy(o + n, val, strlen(val)), n += strlen(val);
        p = b && e ? e + 2 : p + take;
    }
    if (o) o[n] = 0;
    else snprintf(err, errcap, "out of memory");
    return o;
}

static int contains_icase(const char *hay, const char *needle, int icase)
{
    return icase ? strcasestr(hay, needle) != NULL : strstr(hay, needle) != NULL;
}

/* Evaluates c on res: 1 pass, 0 fail, -1 error (err). */
static int eval_check(const runner *r, const check *c, const result *res, char *err, size_t errcap)
{
    const char *fields[] = {res->output, res->path, res->sources, res->cited};
    const char *v = fields[c->in];
    if (!v) {
        snprintf(err, errcap, "the step has no \"%s\"", in_names[c->in]);
        return -1;
    }
    if (c->kind == CK_NUMBER) {
        double x;
        if (!last_number(v, &x)) {
            snprintf(err, errcap, "no number in the %s", in_names[c->in]);
            return 0;
        }
        return fabs(x - c->num) <= c->tol + 1e-9 * fabs(c->num);
    }
    if (c->kind == CK_REGEX) return regexec(&c->re, v, 0, NULL, 0) == 0;
    char *want = expand(r, c->text, err, errcap);
    if (!want) return -1;
    int ok;
    if (c->kind == CK_EQUALS) {
        size_t a = 0, n = strlen(v);
        while (a < n && isspace((unsigned char)v[a])) a++;
        while (n > a && isspace((unsigned char)v[n - 1])) n--;
        ok = strlen(want) == n - a && (c->icase ? !strncasecmp(v + a, want, n - a) : !strncmp(v + a, want, n - a));
    } else {
        ok = contains_icase(v, want, c->icase) == (c->kind == CK_CONTAINS);
    }
    free(want);
    return ok;
}

static char *dupstr(const char *s) { return s ? strdup(s) : NULL; }

static char *join_sources(const hrt_agent_result *a, int cited_only)
{
    size_t n = 1;
    for (size_t i = 0; i < a->n_citations; i++) n += strlen(a->citations[i].source) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    s[0] = 0;
    for (size_t i = 0; i < a->n_citations; i++)
        if (!cited_only || a->citations[i].cited) {
            if (s[0]) strcat(s, "\n");
            strcat(s, a->citations[i].source);
        }
    return s;
}

static void add_tokens(cJSON *j, const hrt_agent_result *a, runner *r)
{
    static const char *const stages[] = {"embed", "cache", "retrieve", "route", "rewrite", "light", "full"};
    int cached = 0;
    for (int i = 0; i < HRT_STAGE_COUNT; i++) cached += a->stage[i].cached_tokens;
    const hrt_savings *s = &a->saved;
    int saved = s->cache + s->duplicates + s->context_budget + s->history_budget + s->loop + s->answer_done;
    cJSON *tk = cJSON_AddObjectToObject(j, "tokens");
    cJSON_AddNumberToObject(tk, "prompt", a->prompt_tokens);
    cJSON_AddNumberToObject(tk, "generated", a->generated_tokens);
    cJSON_AddNumberToObject(tk, "cached", cached);
    cJSON *sv = cJSON_AddObjectToObject(tk, "saved");
    cJSON_AddNumberToObject(sv, "cache", s->cache);
    cJSON_AddNumberToObject(sv, "duplicates", s->duplicates);
    cJSON_AddNumberToObject(sv, "context_budget", s->context_budget);
    cJSON_AddNumberToObject(sv, "history_budget", s->history_budget);
    cJSON_AddNumberToObject(sv, "loop", s->loop);
    cJSON_AddNumberToObject(sv, "answer_done", s->answer_done);
    cJSON_AddNumberToObject(sv, "total", saved);
    cJSON *lat = cJSON_AddObjectToObject(j, "latency_ms");
    for (int i = 0; i < HRT_STAGE_COUNT; i++) cJSON_AddNumberToObject(lat, stages[i], round(a->stage[i].ms * 1000) / 1000);
    cJSON_AddNumberToObject(lat, "total", round(a->total_ms * 1000) / 1000);
    r->prompt_tokens += a->prompt_tokens, r->generated_tokens += a->generated_tokens;
    r->cached_tokens += cached, r->saved_tokens += saved;
}


static int do_ask(runner *r, const step *s, const char *q, const char *session, cJSON *j, result *res, char *err,
                  size_t errcap)
{
    hrt_ask_params ap = hrt_ask_default_params();
    ap.path = s->path;
    ap.use_cache = s->cache && r->t->cache;
    hrt_agent_result a;
    if (hrt_agent_ask(r->st.agent, session, q, strlen(q), &ap, &a)) {
        snprintf(err, errcap, "%s", hrt_last_error());
        return -1;
    }
    res->output = dupstr(a.answer);
    res->path = dupstr(path_name(a.path));
    res->sources = join_sources(&a, 0);
    res->cited = join_sources(&a, 1);
    cJSON_AddStringToObject(j, "path", path_name(a.path));
    cJSON_AddStringToObject(j, "routed", path_name(a.routed));
    cJSON_AddBoolToObject(j, "escalated", a.escalated);
    if (a.check) cJSON_AddStringToObject(j, "check", a.check);
    if (isfinite(a.router_score)) cJSON_AddNumberToObject(j, "router_score", round(a.router_score * 1e4) / 1e4);
    cJSON *cs = cJSON_AddArrayToObject(j, "citations");
    for (size_t i = 0; i < a.n_citations; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "n", a.citations[i].n);
        cJSON_AddStringToObject(c, "source", a.citations[i].source);
        cJSON_AddBoolToObject(c, "cited", a.citations[i].cited);
        cJSON_AddItemToArray(cs, c);
    }
    add_tokens(j, &a, r);
    hrt_agent_result_clear(&a);
    return 0;
}

static int do_search(runner *r, const char *q, int k, cJSON *j, result *res, char *err, size_t errcap)
{
    hrt_kb_search_params sp = hrt_kb_search_default_params();
    sp.k = (size_t)k;
    hrt_kb_hit hits[50];
    int n = hrt_kb_search(r->st.kb, q, &sp, hits);
    if (n < 0) {
        snprintf(err, errcap, "%s", hrt_last_error());
        return -1;
    }
    cJSON *arr = cJSON_AddArrayToObject(j, "hits");
    size_t cap = 1, len = 0, slen = 1;
    for (int i = 0; i < n; i++) cap += strlen(hits[i].text) + strlen(hits[i].source) + 32, slen += strlen(hits[i].source) + 1;
    res->output = malloc(cap);
    res->sources = malloc(slen);
    if (res->output) res->output[0] = 0;
    if (res->sources) res->sources[0] = 0;
    for (int i = 0; i < n; i++) {
        cJSON *h = cJSON_CreateObject();
        cJSON_AddStringToObject(h, "source", hits[i].source);
        cJSON_AddNumberToObject(h, "score", round(hits[i].score * 1e5) / 1e5);
        cJSON_AddStringToObject(h, "text", hits[i].text);
        cJSON_AddItemToArray(arr, h);
        if (res->output) len += (size_t)snprintf(res->output + len, cap - len, "%s[%d] %s\n%s", i ? "\n\n" : "", i + 1,
                                                 hits[i].source, hits[i].text);
        if (res->sources) {
            if (i) strcat(res->sources, "\n");
            strcat(res->sources, hits[i].source);
        }
    }
    res->cited = dupstr(res->sources);
    hrt_kb_hits_free(hits, (size_t)n);
    return 0;
}

#define FACT_PREFIX "fact/"

static int do_remember(runner *r, const char *key, const char *value, char *err, size_t errcap)
{
    size_t kl = strlen(FACT_PREFIX) + strlen(key);
    char *k = malloc(kl + 1);
    if (!k) return snprintf(err, errcap, "out of memory"), -1;
    snprintf(k, kl + 1, "%s%s", FACT_PREFIX, key);
    float *vec = NULL;
    int dim = r->st.embed ? hrt_embed_dim(r->st.embed) : 0;
    if (dim > 0 && (vec = malloc((size_t)dim * sizeof *vec))) {
        size_t len = strlen(value);
        if (hrt_embed(r->st.embed, &value, &len, 1, vec)) free(vec), vec = NULL, dim = 0;
    }
    hrt_memory_record rec = {k, kl, value, strlen(value), vec, vec ? dim : 0, 0};
    int st = hrt_memory_put(r->mem, &rec, 1);
    if (st) snprintf(err, errcap, "%s", hrt_last_error());
    free(k), free(vec);
    return st ? -1 : 0;
}

static int do_recall(runner *r, const char *key, result *res, char *err, size_t errcap)
{
    size_t kl = strlen(FACT_PREFIX) + strlen(key);
    char *k = malloc(kl + 1);
    if (!k) return snprintf(err, errcap, "out of memory"), -1;
    snprintf(k, kl + 1, "%s%s", FACT_PREFIX, key);
    void *v = NULL;
    size_t vl = 0;
    int st = hrt_memory_get(r->mem, k, kl, &v, &vl, NULL);
    free(k);
    if (st == HRT_E_RANGE) return snprintf(err, errcap, "nothing remembered under \"%s\"", key), -1;
    if (st) return snprintf(err, errcap, "%s", hrt_last_error()), -1;
    res->output = malloc(vl + 1);
    if (res->output) memcpy(res->output, v, vl), res->output[vl] = 0;
    hrt_free(v);
    return 0;
}

/* The memory tool: the remembered fact most similar to q. */
static int do_memory_lookup(runner *r, const char *q, cJSON *j, result *res, char *err, size_t errcap)
{
    int dim = hrt_embed_dim(r->st.embed);
    float *vec = malloc((size_t)(dim > 0 ? dim : 1) * sizeof *vec);
    size_t len = strlen(q);
    if (!vec || dim <= 0 || hrt_embed(r->st.embed, &q, &len, 1, vec)) {
        free(vec);
        return snprintf(err, errcap, "embedding the lookup: %s", hrt_last_error()), -1;
    }
    hrt_memory_hit hit;
    int n = hrt_memory_query(r->mem, FACT_PREFIX, strlen(FACT_PREFIX), vec, dim, 1, -1.0f, &hit);
    free(vec);
    if (n < 0) return snprintf(err, errcap, "%s", hrt_last_error()), -1;
    if (n == 0) return snprintf(err, errcap, "nothing has been remembered"), -1;
    /* keys are bytes, not NUL-terminated */
    char *key = strndup((char *)hit.key + strlen(FACT_PREFIX), hit.key_len - strlen(FACT_PREFIX));
    cJSON_AddNumberToObject(j, "score", round(hit.score * 1e4) / 1e4);
    hrt_memory_hits_free(&hit, 1);
    if (key) cJSON_AddStringToObject(j, "key", key);
    int st = key ? do_recall(r, key, res, err, errcap) : -1;
    free(key);
    return st;
}

static int run_steps(runner *r, const step *steps, size_t n);

static int push_result(runner *r, result res)
{
    if (r->n_res == r->cap_res) {
        size_t cap = r->cap_res ? r->cap_res * 2 : 32;
        result *p = realloc(r->res, cap * sizeof *p);
        if (!p) return -1;
        r->res = p, r->cap_res = cap;
    }
    r->res[r->n_res++] = res;
    return 0;
}

static void note_failure(runner *r, const step *s, const char *what)
{
    size_t n = strlen(r->failures);
    if (n + 200 < sizeof r->failures)
        snprintf(r->failures + n, sizeof r->failures - n, "  %s%s%s%s: %.160s\n", s->jpath, s->id ? " (" : "",
                 s->id ? s->id : "", s->id ? ")" : "", what);
}

/* Writes j as one line. Its strings may hold bytes that are not UTF-8 (a
 * tool's input echoed in an error, text cut inside a character): cJSON
 * passes them through, so the line is cleaned here (JSON's own syntax is
 * ASCII, so only string contents change). */
static void emit(runner *r, cJSON *j)
{
    char *line = cJSON_PrintUnformatted(j);
    char *clean = line ? utf8_clean(line, strlen(line)) : NULL;
    if (clean) fprintf(r->out, "%s\n", clean), fflush(r->out);
    free(clean);
    free(line);
}

static int run_step(runner *r, const step *s)
{
    char err[1024] = "";
    result res = {.id = s->id};
    cJSON *j = cJSON_CreateObject();
    r->steps_run++;
    cJSON_AddNumberToObject(j, "index", (double)r->steps_run);
    if (s->id) cJSON_AddStringToObject(j, "id", s->id);
    cJSON_AddStringToObject(j, "at", s->jpath);
    cJSON_AddStringToObject(j, "kind", s->kind == ST_TOOL ? tool_names[s->tool] : kind_names[s->kind]);
    double t0 = now_ms();
    int st = 0, branch = -1;
    char *in = s->kind == ST_IF ? NULL : expand(r, s->text, err, sizeof err);
    char *key = s->key ? expand(r, s->key, err, sizeof err) : NULL;
    char *session = s->session ? expand(r, s->session, err, sizeof err) : NULL;
    if ((s->kind != ST_IF && !in) || (s->key && !key) || (s->session && !session)) st = -1;
    if (in) cJSON_AddStringToObject(j, "input", in);
    if (!st) switch (s->kind) {
        case ST_ASK: st = do_ask(r, s, in, session, j, &res, err, sizeof err); break;
        case ST_RETRIEVE: st = do_search(r, in, s->k, j, &res, err, sizeof err); break;
        case ST_REMEMBER:
            st = do_remember(r, key, in, err, sizeof err);
            if (!st) res.output = dupstr(in);
            cJSON_AddStringToObject(j, "key", key);
            break;
        case ST_RECALL: st = do_recall(r, in, &res, err, sizeof err); break;
        case ST_TOOL:
            if (s->tool == TOOL_CALCULATOR) {
                double v;
                char buf[64];
                st = tool_calculate(in, &v, err, sizeof err);
                if (!st) tool_format_number(v, buf, sizeof buf), res.output = dupstr(buf);
            } else if (s->tool == TOOL_DATETIME) {
                char buf[64];
                st = tool_datetime(in, r->t->now, buf, sizeof buf, err, sizeof err);
                if (!st) res.output = dupstr(buf);
            } else if (s->tool == TOOL_KB_SEARCH) {
                st = do_search(r, in, s->k, j, &res, err, sizeof err);
            } else {
                st = do_memory_lookup(r, in, j, &res, err, sizeof err);
            }
            break;
        case ST_IF: {
            const result *target = NULL;
            if (s->cond.step && !(target = find_result(r, s->cond.step, strlen(s->cond.step))))
                snprintf(err, sizeof err, "\"step\": %s has not run", s->cond.step), st = -1;
            else if (!s->cond.step && !(target = r->n_res ? &r->res[r->n_res - 1] : NULL))
                snprintf(err, sizeof err, "no step has run before this \"if\""), st = -1;
            int v = st ? -1 : eval_check(r, &s->cond, target, err, sizeof err);
            if (v < 0) st = -1;
            else branch = v;
            break;
        }
        }
    free(session), free(key);
    if (!st && s->kind != ST_IF && !res.output) snprintf(err, sizeof err, "out of memory"), st = -1;
    if (s->kind == ST_IF && branch >= 0) cJSON_AddStringToObject(j, "branch", branch ? "then" : "else");
    if (res.output && s->kind != ST_RETRIEVE && !(s->kind == ST_TOOL && s->tool == TOOL_KB_SEARCH))
        cJSON_AddStringToObject(j, "output", res.output);
    cJSON_AddNumberToObject(j, "ms", round((now_ms() - t0) * 1000) / 1000);
    int pass = !st;
    if (st) {
        cJSON_AddStringToObject(j, "error", err);
        note_failure(r, s, err);
    } else if (s->n_expect) {
        cJSON *arr = cJSON_AddArrayToObject(j, "expect");
        for (size_t i = 0; i < s->n_expect; i++) {
            const check *c = &s->expect[i];
            char why[512] = "";
            int v = eval_check(r, c, &res, why, sizeof why);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "check", check_names[c->kind]);
            if (c->kind == CK_NUMBER) {
                cJSON_AddNumberToObject(e, "value", c->num);
                cJSON_AddNumberToObject(e, "tolerance", c->tol);
            } else {
                cJSON_AddStringToObject(e, "value", c->text);
            }
            cJSON_AddStringToObject(e, "in", in_names[c->in]);
            cJSON_AddBoolToObject(e, "pass", v == 1);
            if (why[0]) cJSON_AddStringToObject(e, "why", why);
            cJSON_AddItemToArray(arr, e);
            r->expect_total++;
            if (v != 1) {
                char what[600];
                if (c->kind == CK_NUMBER)
                    snprintf(what, sizeof what, "expected number %g (within %g) in the %s", c->num, c->tol,
                             in_names[c->in]);
                else
                    snprintf(what, sizeof what, "expected %s \"%s\" in the %s", check_names[c->kind], c->text,
                             in_names[c->in]);
                r->expect_failed++, pass = 0;
                note_failure(r, s, what);
            }
        }
    }
    cJSON_AddBoolToObject(j, "pass", pass);
    emit(r, j);
    cJSON_Delete(j);
    free(in);
    if (!pass) r->steps_failed++;
    if (s->kind != ST_IF && push_result(r, res)) {
        free(res.output), free(res.path), free(res.sources), free(res.cited);
        return -1;
    }
    if (branch == 1 && s->n_then) return run_steps(r, s->then, s->n_then);
    if (branch == 0 && s->n_else) return run_steps(r, s->els, s->n_else);
    return 0;
}

static int run_steps(runner *r, const step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (run_step(r, &steps[i])) return -1;
    return 0;
}

/* ---- the command ----------------------------------------------------------------------- */
static const char *HELP =
    "usage: hrt run [options] TASK.json\n"
    "Runs a scripted agent task: asks, retrievals, remembered facts, built-in\n"
    "tools (calculator, datetime, kb_search, memory) and branches, with\n"
    "expectations that make the task a test. Writes one JSON line per step\n"
    "and a summary line; exits 1 when an expectation fails or a step errs.\n"
    "The format is in docs/TASKS.md; examples are in examples/tasks/.\n"
    "  --check             check the task file and exit (0: valid)\n"
    "  -o, --out FILE      write the JSON lines to FILE instead of stdout\n"
    "  -q, --quiet         no summary on stderr\n"
    "  -t, --threads N, --backend B\n";

static const char *model_path(const task *t, const char *v, char *buf, size_t cap, char **owned)
{
    *owned = NULL;
    if (!v) return NULL;
    if (!strchr(v, '/')) return default_model(v, buf, cap);
    return *owned = resolve(t, v);
}

int cmd_run(int argc, char **argv)
{
    const char *file = NULL, *out_path = NULL;
    int check_only = 0, quiet = 0, threads = 0, backend = HRT_BACKEND_AUTO;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--check")) check_only = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) out_path = need_arg("run", argc, argv, &i);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
            threads = (int)parse_int("run", a, need_arg("run", argc, argv, &i));
        else if (!strcmp(a, "--backend")) backend = parse_backend("run", need_arg("run", argc, argv, &i));
        else if (a[0] == '-' && a[1]) die_usage("run", "unknown option '%s'", a);
        else if (file) die_usage("run", "one task file at a time ('%s' and '%s')", file, a);
        else file = a;
    }
    if (!file) die_usage("run", "no task file");
    task t;
    perr e = {0};
    if (task_load(file, &t, &e)) {
        fprintf(stderr, "hrt run: %s\n", e.msg);
        task_free(&t);
        return EXIT_USAGE;
    }
    if (check_only) {
        if (!quiet) fprintf(stderr, "hrt run: %s: valid (%zu top-level steps)\n", file, t.n_steps);
        task_free(&t);
        return EXIT_OK;
    }
    runner r = {.t = &t, .out = stdout};
    if (out_path && !(r.out = fopen(out_path, "w"))) {
        fprintf(stderr, "hrt run: %s: %s\n", out_path, strerror(errno));
        task_free(&t);
        return EXIT_FAIL;
    }
    int rc = EXIT_OK;
    char tmp_mem[4200] = "", tmp_kb[4200] = "", b1[4096], b2[4096], b3[4096];
    char *owned[8] = {0};
    const char **ingest = calloc(t.n_ingest ? t.n_ingest : 1, sizeof *ingest);
    stack_opts o = stack_default_opts();
    o.threads = threads, o.backend = backend, o.quiet = 1;
    o.model = model_path(&t, t.light_model, b1, sizeof b1, &owned[0]);
    o.full_model = model_path(&t, t.full_model, b2, sizeof b2, &owned[1]);
    o.embed_model = model_path(&t, t.embed_model, b3, sizeof b3, &owned[2]);
    if (t.prompts) o.prompts = owned[3] = resolve(&t, t.prompts);
    if (t.router) o.router = owned[4] = resolve(&t, t.router);
    o.no_router = t.no_router;
    o.remote_url = t.remote_url, o.remote_model = t.remote_model, o.remote_key_env = t.remote_key_env;
    o.remote_timeout_ms = (int)t.remote_timeout_ms;
    o.product = t.product;
    o.threshold = t.threshold, o.full_share = t.full_share, o.cache_threshold = t.cache_threshold;
    o.no_kb = !t.has_kb;
    for (size_t i = 0; ingest && i < t.n_ingest; i++) ingest[i] = resolve(&t, t.ingest[i]);
    o.ingest = ingest, o.n_ingest = t.n_ingest;
    if (t.has_kb) {
        if (t.kb_dir) o.kb = owned[5] = resolve(&t, t.kb_dir);
        else if (temp_dir("hrt-task-kb", tmp_kb, sizeof tmp_kb)) o.kb = tmp_kb;
        else rc = EXIT_FAIL, fprintf(stderr, "hrt run: cannot make a temporary directory: %s\n", strerror(errno));
    }
    o.no_memory = t.memory_off;
    if (!t.memory_off) {
        if (t.memory_dir) o.memory = owned[6] = resolve(&t, t.memory_dir);
        else if (temp_dir("hrt-task-mem", tmp_mem, sizeof tmp_mem)) o.memory = tmp_mem;
        else rc = EXIT_FAIL, fprintf(stderr, "hrt run: cannot make a temporary directory: %s\n", strerror(errno));
    }
    if (!rc && t.needs_models) {
        o.no_agent = 1;
        rc = stack_open("run", &o, &r.st);
        hrt_agent_params ap = r.st.params;
        if (t.escalate >= 0) ap.escalate = t.escalate;
        ap.prune = t.prune;
        if (t.temperature >= 0) ap.temperature = (float)t.temperature;
        if (t.seed_set) ap.seed = t.seed;
        if (!t.cache) ap.cache_threshold = 2; /* no cache */
        int *bud[5] = {&ap.light_max_tokens, &ap.full_max_tokens, &ap.light_context_tokens, &ap.full_context_tokens,
                       &ap.history_tokens};
        for (int i = 0; i < 5; i++)
            if (t.budgets[i]) *bud[i] = t.budgets[i];
        if (!rc && hrt_agent_open(&ap, &r.st.agent)) {
            fprintf(stderr, "hrt run: %s\n", hrt_last_error());
            rc = EXIT_FAIL;
        }
        r.mem = r.st.mem;
    } else if (!rc && t.needs_memory) {
        hrt_memory_params mp = hrt_memory_default_params();
        if (hrt_memory_open(o.memory, &mp, &r.mem)) {
            fprintf(stderr, "hrt run: memory '%s': %s\n", o.memory, hrt_last_error());
            rc = EXIT_FAIL;
        }
    }
    if (!rc) {
        double t0 = now_ms();
        if (run_steps(&r, t.steps, t.n_steps)) {
            fprintf(stderr, "hrt run: out of memory\n");
            rc = EXIT_FAIL;
        }
        r.ms = now_ms() - t0;
        int pass = !r.steps_failed && !rc;
        cJSON *j = cJSON_CreateObject(), *s = cJSON_AddObjectToObject(j, "summary");
        cJSON_AddStringToObject(s, "task", t.name ? t.name : file);
        cJSON_AddNumberToObject(s, "steps", (double)r.steps_run);
        cJSON_AddNumberToObject(s, "steps_failed", (double)r.steps_failed);
        cJSON_AddNumberToObject(s, "expectations", (double)r.expect_total);
        cJSON_AddNumberToObject(s, "expectations_failed", (double)r.expect_failed);
        cJSON *tk = cJSON_AddObjectToObject(s, "tokens");
        cJSON_AddNumberToObject(tk, "prompt", (double)r.prompt_tokens);
        cJSON_AddNumberToObject(tk, "generated", (double)r.generated_tokens);
        cJSON_AddNumberToObject(tk, "cached", (double)r.cached_tokens);
        cJSON_AddNumberToObject(tk, "saved", (double)r.saved_tokens);
        cJSON_AddNumberToObject(s, "ms", round(r.ms * 1000) / 1000);
        cJSON_AddBoolToObject(s, "pass", pass);
        emit(&r, j);
        cJSON_Delete(j);
        if (!quiet) {
            fprintf(stderr, "hrt run: %s: %zu steps, %zu of %zu expectations met, %zu steps failed; %ld tokens "
                            "generated, %.1f s\n",
                    t.name ? t.name : file, r.steps_run, r.expect_total - r.expect_failed, r.expect_total,
                    r.steps_failed, r.generated_tokens, r.ms / 1000);
            if (r.failures[0]) fprintf(stderr, "failed:\n%s", r.failures);
        }
        if (!pass && !rc) rc = EXIT_FAIL;
    }
    for (size_t i = 0; i < r.n_res; i++) free(r.res[i].output), free(r.res[i].path), free(r.res[i].sources), free(r.res[i].cited);
    free(r.res);
    if (r.mem && r.mem != r.st.mem) hrt_memory_free(r.mem);
    stack_free(&r.st);
    rm_tree(tmp_kb);
    rm_tree(tmp_mem);
    for (size_t i = 0; ingest && i < t.n_ingest; i++) free((char *)ingest[i]);
    free(ingest);
    for (int i = 0; i < 8; i++) free(owned[i]);
    if (r.out != stdout && fclose(r.out)) {
        fprintf(stderr, "hrt run: %s: %s\n", out_path, strerror(errno));
        if (!rc) rc = EXIT_FAIL;
    }
    task_free(&t);
    return rc;
}
