/* hrt bench efficiency: a set of queries answered under several agent
 * configurations, with accuracy, tokens, latency and the tokens each
 * mechanism saved; a CSV, a per-query CSV and an SVG plot of accuracy
 * against generated tokens, with the router's threshold swept as a curve.
 *
 * The sweep is computed, not run: every query is answered once on the
 * light path and once on the full path (the always-light and always-full
 * configurations, whose router score is recorded too), and the routed
 * agent at threshold t gives a query the full answer when its score is at
 * least t, else the light answer, followed by the full one when the light
 * answer failed the agent's check (escalation) — what the agent does,
 * token for token, under greedy decoding. RouteLLM draws its
 * quality-versus-cost curves from fixed outputs of the two models the same
 * way. The routed configuration, run for real, is printed beside the
 * computed point at its threshold. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hrt.h"

#define MAX_KBS 8

enum { K_SUPPORT, K_SQUAD, K_GSM8K, K_OPEN, K_COUNT };
static const char *const kind_names[] = {"support", "squad", "gsm8k", "open"};

typedef struct {
    char *id, *query, *kb, *source;
    int kind;
    char **refs;
    size_t n_refs;
} item;

typedef struct {
    char *name, *product, **files;
    size_t n_files;
    hrt_kb *kb;
} kbdef;

typedef struct {
    char *answer, *chosen;   /* chosen: the source the answer cites first (else the top passage) */
    int path, routed, escalated, failed_check, generated, prompt, error;
    float score, threshold; /* the router's score and the threshold in force (NaN: no router) */
    double ms;
    hrt_savings saved;
} outcome;

typedef struct {
    const char *name;
    int path, prune, cache;
} config;

static const config configs[] = {
    {"always-full", HRT_PATH_FULL, 0, 0},
    {"always-light", HRT_PATH_LIGHT, 0, 0},
    {"routed", HRT_PATH_AUTO, 0, 0},
    {"routed+pruning", HRT_PATH_AUTO, 1, 0},
    {"routed+pruning+cache", HRT_PATH_AUTO, 1, 1},
};
#define N_CONFIGS (sizeof configs / sizeof *configs)

/* ---- the set ------------------------------------------------------------------------- */
typedef struct {
    item *items;
    size_t n;
    kbdef kbs[MAX_KBS];
    size_t n_kbs;
} devset;

static char *jdup(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static void devset_free(devset *d)
{
    for (size_t i = 0; i < d->n; i++) {
        item *it = &d->items[i];
        free(it->id), free(it->query), free(it->kb), free(it->source);
        for (size_t k = 0; k < it->n_refs; k++) free(it->refs[k]);
        free(it->refs);
    }
    free(d->items);
    for (size_t i = 0; i < d->n_kbs; i++) {
        hrt_kb_free(d->kbs[i].kb);
        for (size_t k = 0; k < d->kbs[i].n_files; k++) free(d->kbs[i].files[k]);
        free(d->kbs[i].files), free(d->kbs[i].name), free(d->kbs[i].product);
    }
}

/* Reads the set (scripts/make-devset.py writes one); 0 or -1 after naming
 * the line at fault. Knowledge-base files are relative to the set's file. */
static int devset_load(const char *path, size_t limit, devset *d)
{
    memset(d, 0, sizeof *d);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "hrt bench: %s: %s (make one with scripts/make-devset.py)\n", path, strerror(errno));
        return -1;
    }
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    size_t icap = 0;
    while (getline(&line, &cap, f) > 0 && !rc) {
        lineno++;
        if (!line[strspn(line, " \t\r\n")]) continue;
        cJSON *j = cJSON_Parse(line);
        if (!cJSON_IsObject(j)) {
            fprintf(stderr, "hrt bench: %s:%d: not a JSON object\n", path, lineno);
            cJSON_Delete(j);
            rc = -1;
            break;
        }
        if (lineno == 1) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "hrt_devset");
            if (!cJSON_IsNumber(v) || v->valueint != 1) {
                fprintf(stderr, "hrt bench: %s:1: expected the header {\"hrt_devset\": 1, ...}\n", path);
                rc = -1;
            }
            const cJSON *kbs = cJSON_GetObjectItemCaseSensitive(j, "kbs");
            for (const cJSON *k = kbs ? kbs->child : NULL; k && !rc; k = k->next) {
                if (d->n_kbs == MAX_KBS) {
                    fprintf(stderr, "hrt bench: %s:1: more than %d knowledge bases\n", path, MAX_KBS);
                    rc = -1;
                    break;
                }
                kbdef *kd = &d->kbs[d->n_kbs++];
                kd->name = strdup(k->string);
                kd->product = jdup(k, "product");
                const cJSON *fs = cJSON_GetObjectItemCaseSensitive(k, "files");
                size_t n = cJSON_IsArray(fs) ? (size_t)cJSON_GetArraySize(fs) : 0;
                kd->files = calloc(n ? n : 1, sizeof *kd->files);
                for (const cJSON *x = n ? fs->child : NULL; x && kd->files; x = x->next) {
                    if (!cJSON_IsString(x)) continue;
                    char *p = path_in(dir, x->valuestring);
                    if (p) kd->files[kd->n_files++] = p;
                }
                if (!kd->n_files) {
                    fprintf(stderr, "hrt bench: %s:1: knowledge base \"%s\" names no files\n", path, kd->name);
                    rc = -1;
                }
            }
            cJSON_Delete(j);
            continue;
        }
        if (limit && d->n == limit) {
            cJSON_Delete(j);
            break;
        }
        if (d->n == icap) {
            icap = icap ? icap * 2 : 64;
            item *p = realloc(d->items, icap * sizeof *p);
            if (!p) {
                cJSON_Delete(j);
                rc = -1;
                break;
            }
            d->items = p;
        }
        item *it = &d->items[d->n];
        memset(it, 0, sizeof *it);
        it->id = jdup(j, "id"), it->query = jdup(j, "query"), it->kb = jdup(j, "kb"), it->source = jdup(j, "source");
        char *kind = jdup(j, "kind");
        it->kind = -1;
        for (int k = 0; kind && k < K_COUNT; k++)
            if (!strcmp(kind, kind_names[k])) it->kind = k;
        free(kind);
        const cJSON *refs = cJSON_GetObjectItemCaseSensitive(j, "reference");
        size_t nr = cJSON_IsArray(refs) ? (size_t)cJSON_GetArraySize(refs) : 0;
        it->refs = calloc(nr ? nr : 1, sizeof *it->refs);
        for (const cJSON *x = nr ? refs->child : NULL; x && it->refs; x = x->next)
            if (cJSON_IsString(x)) it->refs[it->n_refs++] = strdup(x->valuestring);
        cJSON_Delete(j);
        d->n++;
        if (!it->id || !it->query || it->kind < 0) {
            fprintf(stderr, "hrt bench: %s:%d: needs \"id\", \"query\" and \"kind\" (support, squad, gsm8k, open)\n",
                    path, lineno);
            rc = -1;
        }
        int found = !it->kb;
        for (size_t k = 0; k < d->n_kbs && !found; k++) found = !strcmp(d->kbs[k].name, it->kb);
        if (!rc && !found) {
            fprintf(stderr, "hrt bench: %s:%d: \"kb\": \"%s\" is not in the header\n", path, lineno, it->kb);
            rc = -1;
        }
    }
    free(line);
    fclose(f);
    if (!rc && lineno == 0) fprintf(stderr, "hrt bench: %s: empty\n", path), rc = -1;
    if (!rc && d->n == 0) fprintf(stderr, "hrt bench: %s: no queries\n", path), rc = -1;
    return rc;
}

/* ---- scoring (SQuAD's official normalisation: lower case, no punctuation,
 * no articles, single spaces; token F1 over the bag of words) ---------- */
static size_t normalize(const char *s, char words[][32], size_t max)
{
    size_t n = 0;
    char w[32];
    size_t wl = 0;
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c && ispunct(c)) continue;
        if (c && !isspace(c)) {
            if (wl + 1 < sizeof w) w[wl++] = (char)tolower(c);
            continue;
        }
        if (wl) {
            w[wl] = 0;
            if (strcmp(w, "a") && strcmp(w, "an") && strcmp(w, "the") && n < max) memcpy(words[n++], w, wl + 1);
            wl = 0;
        }
        if (!c) break;
    }
    return n;
}

#define MAX_WORDS 1024

static double token_f1(const char *pred, const char *ref, int *exact)
{
    static _Thread_local char a[MAX_WORDS][32], b[MAX_WORDS][32];
    size_t na = normalize(pred, a, MAX_WORDS), nb = normalize(ref, b, MAX_WORDS);
    *exact = na == nb;
    for (size_t i = 0; i < na && i < nb && *exact; i++) *exact = !strcmp(a[i], b[i]);
    if (!na || !nb) return na == nb;
    char used[MAX_WORDS] = {0};
    size_t common = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t k = 0; k < nb; k++)
            if (!used[k] && !strcmp(a[i], b[k])) {
                used[k] = 1, common++;
                break;
            }
    if (!common) return 0;
    double p = (double)common / (double)na, r = (double)common / (double)nb;
    return 2 * p * r / (p + r);
}

typedef struct {
    double sum[6];           /* support cited right, support F1, squad EM, squad F1, gsm8k right, accuracy */
    size_t n[6];
    long generated, prompt;
    double *ms;
    size_t n_ms;
    long saved[6];           /* cache, duplicates, context, history, loop, answer done */
    int full, escalated, cache_hits, errors;
} metrics;

enum { M_SRC, M_SUPF1, M_EM, M_F1, M_GSM, M_ACC };

static void score_one(const item *it, const outcome *o, metrics *m, double *src, double *f1, double *em)
{
    *src = *f1 = *em = NAN;
    if (!it->n_refs) return;
    /* a query that failed (a remote error) scores 0: an answer not given is a wrong one */
    const char *ans = o->answer && !o->error ? o->answer : "";
    if (it->kind == K_GSM8K) {
        double v, want = strtod(it->refs[0], NULL);
        *em = last_number(ans, &v) && fabs(v - want) < 1e-6 * (1 + fabs(want));
        m->sum[M_GSM] += *em, m->n[M_GSM]++;
        return;
    }
    double best = 0;
    int ex = 0;
    for (size_t r = 0; r < it->n_refs; r++) {
        int e;
        double x = token_f1(ans, it->refs[r], &e);
        if (x > best) best = x;
        ex |= e;
    }
    *f1 = best;
    if (it->kind == K_SQUAD) {
        *em = ex;
        m->sum[M_EM] += ex, m->n[M_EM]++;
        m->sum[M_F1] += best, m->n[M_F1]++;
    } else if (it->kind == K_SUPPORT) {
        m->sum[M_SUPF1] += best, m->n[M_SUPF1]++;
        if (it->source) {
            size_t n = o->chosen && !o->error ? strlen(o->chosen) : 0, k = strlen(it->source);
            /* a JSONL record is cited as "file#id", a file by its path */
            *src = n > k && (o->chosen[n - k - 1] == '#' || o->chosen[n - k - 1] == '/') &&
                   !strcmp(o->chosen + n - k, it->source);
            m->sum[M_SRC] += *src, m->n[M_SRC]++;
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double q)
{
    if (!n) return NAN;
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    return i + 1 < n ? v[i] + (pos - (double)i) * (v[i + 1] - v[i]) : v[n - 1];
}

/* Metrics of outcomes o[i] for items it[i]. The accuracy is the mean of the
 * four per-kind measures that exist (support: cited entry right and answer
 * F1; squad: F1; gsm8k: final number right), each weighing the same. */
static void measure(const item *it, const outcome *o, size_t n, metrics *m)
{
    memset(m, 0, sizeof *m);
    m->ms = malloc((n ? n : 1) * sizeof *m->ms);
    for (size_t i = 0; i < n; i++) {
        double a, b, c;
        score_one(&it[i], &o[i], m, &a, &b, &c);
        m->generated += o[i].generated, m->prompt += o[i].prompt;
        if (m->ms && !o[i].error) m->ms[m->n_ms++] = o[i].ms;
        const hrt_savings *s = &o[i].saved;
        long v[6] = {s->cache, s->duplicates, s->context_budget, s->history_budget, s->loop, s->answer_done};
        for (int k = 0; k < 6; k++) m->saved[k] += v[k];
        m->full += o[i].path == HRT_PATH_FULL;
        m->escalated += o[i].escalated;
        m->cache_hits += o[i].path == HRT_PATH_CACHE;
        m->errors += o[i].error;
    }
    if (m->ms) qsort(m->ms, m->n_ms, sizeof *m->ms, cmp_double);
    int parts[4] = {M_SRC, M_SUPF1, M_F1, M_GSM};
    for (int k = 0; k < 4; k++)
        if (m->n[parts[k]]) m->sum[M_ACC] += m->sum[parts[k]] / (double)m->n[parts[k]], m->n[M_ACC]++;
}

static double mean(const metrics *m, int k) { return m->n[k] ? m->sum[k] / (double)m->n[k] : NAN; }

/* ---- running a configuration ---------------------------------------------------------- */
static void outcome_clear(outcome *o)
{
    free(o->answer), free(o->chosen);
    memset(o, 0, sizeof *o);
}

static void record(const hrt_agent_result *r, outcome *o)
{
    o->answer = strdup(r->answer ? r->answer : "");
    o->path = r->path, o->routed = r->routed, o->escalated = r->escalated;
    o->failed_check = r->check != NULL;
    o->generated = r->generated_tokens, o->prompt = r->prompt_tokens;
    o->score = r->router_score, o->threshold = r->threshold;
    o->ms = r->total_ms;
    o->saved = r->saved;
    const hrt_citation *pick = NULL;
    for (size_t i = 0; i < r->n_citations && !pick; i++)
        if (r->citations[i].cited) pick = &r->citations[i];
    if (!pick && r->n_citations) pick = &r->citations[0];
    o->chosen = pick ? strdup(pick->source) : NULL;
}

typedef struct {
    stack *st;
    devset *d;
    int quiet;
} bench_ctx;

static int run_config(bench_ctx *b, const config *c, outcome *out)
{
    char memdir[4200] = "";
    hrt_memory *mem = NULL;
    if (c->cache) {
        hrt_memory_params mp = hrt_memory_default_params();
        if (!temp_dir("hrt-bench-mem", memdir, sizeof memdir)) {
            fprintf(stderr, "hrt bench: a temporary directory: %s\n", strerror(errno));
            return EXIT_FAIL;
        }
        if (hrt_memory_open(memdir, &mp, &mem)) {
            fprintf(stderr, "hrt bench: memory '%s': %s\n", memdir, hrt_last_error());
            rm_tree(memdir);
            return EXIT_FAIL;
        }
    }
    /* one agent per knowledge base (index n_kbs: none) */
    hrt_agent *agents[MAX_KBS + 1] = {0};
    int rc = 0;
    for (size_t k = 0; k <= b->d->n_kbs && !rc; k++) {
        hrt_agent_params ap = b->st->params;
        ap.kb = k < b->d->n_kbs ? b->d->kbs[k].kb : NULL;
        ap.product = k < b->d->n_kbs ? b->d->kbs[k].product : NULL;
        ap.memory = mem;
        ap.prune = c->prune;
        if (!c->cache) ap.cache_threshold = 2;
        if (hrt_agent_open(&ap, &agents[k])) {
            fprintf(stderr, "hrt bench: %s\n", hrt_last_error());
            rc = EXIT_FAIL;
        }
    }
    for (size_t i = 0; i < b->d->n && !rc; i++) {
        const item *it = &b->d->items[i];
        size_t k = b->d->n_kbs;
        for (size_t x = 0; it->kb && x < b->d->n_kbs; x++)
            if (!strcmp(b->d->kbs[x].name, it->kb)) k = x;
        hrt_ask_params p = hrt_ask_default_params();
        p.path = c->path;
        p.use_cache = c->cache;
        hrt_agent_result r;
        if (hrt_agent_ask(agents[k], NULL, it->query, strlen(it->query), &p, &r)) {
            fprintf(stderr, "\nhrt bench: %s: %s\n", it->id, hrt_last_error());
            out[i].error = 1;
            out[i].answer = strdup("");
        } else {
            record(&r, &out[i]);
            hrt_agent_result_clear(&r);
        }
        if (!b->quiet && isatty(2)) fprintf(stderr, "\r%-22s %zu/%zu", c->name, i + 1, b->d->n);
    }
    if (!b->quiet && isatty(2)) fprintf(stderr, "\r%40s\r", "");
    for (size_t k = 0; k <= b->d->n_kbs; k++) hrt_agent_free(agents[k]);
    hrt_memory_free(mem);
    rm_tree(memdir);
    return rc;
}

/* The routed agent at threshold t, computed from the light and full runs. */
static void simulate(const devset *d, const outcome *light, const outcome *full, double t, int escalate,
                     outcome *out)
{
    for (size_t i = 0; i < d->n; i++) {
        int go_full = isfinite(light[i].score) && light[i].score >= t;
        int esc = !go_full && escalate && light[i].failed_check;
        out[i] = go_full || esc ? full[i] : light[i];
        out[i].escalated = esc;
        out[i].path = go_full || esc ? HRT_PATH_FULL : HRT_PATH_LIGHT;
        if (esc) {
            out[i].generated += light[i].generated, out[i].prompt += light[i].prompt;
            out[i].ms += light[i].ms;
        }
        out[i].error = esc ? light[i].error || full[i].error : go_full ? full[i].error : light[i].error;
    }
}

/* ---- output --------------------------------------------------------------------------- */
static void csv_str(FILE *f, const char *text)
{
    char *clean = utf8_clean(text ? text : "", text ? strlen(text) : 0);
    const char *s = clean;
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
    fputc('"', f);
    free(clean);
}

static void csv_num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, ",%.4f", v);
    else fprintf(f, ",");
}

static void csv_row(FILE *f, const char *name, double threshold, size_t n, const metrics *m)
{
    csv_str(f, name);
    csv_num(f, threshold);
    fprintf(f, ",%zu", n);
    csv_num(f, mean(m, M_ACC));
    csv_num(f, mean(m, M_SRC));
    csv_num(f, mean(m, M_SUPF1));
    csv_num(f, mean(m, M_EM));
    csv_num(f, mean(m, M_F1));
    csv_num(f, mean(m, M_GSM));
    fprintf(f, ",%ld,%ld", m->generated, m->prompt);
    csv_num(f, pct(m->ms, m->n_ms, 0.5));
    csv_num(f, pct(m->ms, m->n_ms, 0.95));
    fprintf(f, ",%d,%d,%d,%d", m->full, m->escalated, m->cache_hits, m->errors);
    for (int k = 0; k < 6; k++) fprintf(f, ",%ld", m->saved[k]);
    fputc('\n', f);
}

typedef struct {
    double x, y;
} pt;

static void svg(FILE *f, const char *title, const metrics *cm, const int *ran, const pt *sweep, size_t ns,
                size_t nq)
{
    const double W = 760, H = 480, L = 70, R = 200, T = 40, B = 60;
    double xmax = 1, ymax = 0.05;
    for (size_t i = 0; i < N_CONFIGS; i++)
        if (ran[i]) {
            double x = (double)cm[i].generated / (double)nq, y = mean(&cm[i], M_ACC);
            if (x > xmax) xmax = x;
            if (isfinite(y) && y > ymax) ymax = y;
        }
    for (size_t i = 0; i < ns; i++) {
        if (sweep[i].x > xmax) xmax = sweep[i].x;
        if (isfinite(sweep[i].y) && sweep[i].y > ymax) ymax = sweep[i].y;
    }
    xmax *= 1.1, ymax = ceil(ymax * 1.15 * 20) / 20;
#define PX(v) (L + (v) / xmax * (W - L - R))
#define PY(v) (H - B - (v) / ymax * (H - T - B))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"14\">", L);
    for (const char *p = title; *p; p++)
        if (*p == '<') fputs("&lt;", f);
        else if (*p == '&') fputs("&amp;", f);
        else fputc(*p, f);
    fprintf(f, "</text>\n");
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", L, H - B, W - R, H - B);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", L, T, L, H - B);
    for (int i = 0; i <= 5; i++) {
        double xv = xmax * i / 5, yv = ymax * i / 5;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", PX(xv), H - B + 18, xv);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.0f%%</text>\n", L - 6, PY(yv) + 4, yv * 100);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, PY(yv), W - R, PY(yv));
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">generated tokens per query</text>\n",
            (L + W - R) / 2, H - 18);
    fprintf(f, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">accuracy</text>\n",
            (T + H - B) / 2);
    if (ns) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"#888\" stroke-width=\"1.5\" points=\"");
        for (size_t i = 0; i < ns; i++)
            if (isfinite(sweep[i].y)) fprintf(f, "%.1f,%.1f ", PX(sweep[i].x), PY(sweep[i].y));
        fprintf(f, "\"/>\n");
        for (size_t i = 0; i < ns; i++)
            if (isfinite(sweep[i].y))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"#888\"/>\n", PX(sweep[i].x), PY(sweep[i].y));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" stroke-width=\"1.5\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\">routed, threshold swept</text>\n",
                W - R + 14, T + 10, W - R + 34, T + 10, W - R + 40, T + 14);
    }
    static const char *const colours[] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"};
    int row = 1;
    for (size_t i = 0; i < N_CONFIGS; i++) {
        if (!ran[i]) continue;
        double x = (double)cm[i].generated / (double)nq, y = mean(&cm[i], M_ACC);
        if (isfinite(y))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/>\n", PX(x), PY(y), colours[i]);
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                W - R + 24, T + 10 + 20.0 * row, colours[i], W - R + 40, T + 14 + 20.0 * row, configs[i].name);
        row++;
    }
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
}

/* A table cell: a share as a percentage, or a mean F1; "-" when there was nothing to measure. */
static void fmt_cell(char *buf, double v, int percent)
{
    if (!isfinite(v)) snprintf(buf, 16, "-");
    else if (percent) snprintf(buf, 16, "%.1f%%", 100 * v);
    else snprintf(buf, 16, "%.3f", v);
}

/* ---- the command ------------------------------------------------------------------------ */
static const char *HELP =
    "usage: hrt bench efficiency [options]\n"
    "Answers a development set under the agent's configurations -- always-full,\n"
    "always-light, routed, routed+pruning, routed+pruning+cache -- and reports\n"
    "accuracy, generated and prompt tokens, latency p50/p95 and the tokens each\n"
    "mechanism saved; writes a CSV per configuration, a CSV per query and an SVG\n"
    "plot of accuracy against generated tokens with the router's threshold swept.\n"
    "Make the set with scripts/make-devset.py (from ../shared/data).\n"
    "  --set FILE          the set (default models/devset/devset.jsonl)\n"
    "  --configs LIST      comma-separated configurations to run (default: all;\n"
    "                      the sweep needs always-full and always-light)\n"
    "  --limit N           only the first N queries\n"
    "  --sweep N           thresholds on the swept curve (21)\n"
    "  --out PREFIX        write PREFIX.csv, PREFIX-queries.csv, PREFIX.svg\n"
    "                      (default bench/results/efficiency-DATE in the source tree)\n"
    "  --kb-dir DIR        where the set's knowledge bases are built (default: beside the set)\n"
    "  --router FILE, --threshold T, -m/--model, --full-model, --embed-model,\n"
    "  --light-max-tokens N, --full-max-tokens N  generation budgets (160, 400)\n"
    "  --full-remote URL, --remote-model NAME (the full path on a server),\n"
    "  -t/--threads N, --backend B, -q/--quiet\n";

static int cmd_efficiency(int argc, char **argv)
{
    const char *set = NULL, *configs_arg = NULL, *out_prefix = NULL, *kb_dir = NULL;
    long limit = 0, sweep_n = 21;
    int quiet = 0, light_max = 0, full_max = 0;
    stack_opts o = stack_default_opts();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--set")) set = need_arg("bench", argc, argv, &i);
        else if (!strcmp(a, "--configs")) configs_arg = need_arg("bench", argc, argv, &i);
        else if (!strcmp(a, "--limit")) limit = parse_int("bench", a, need_arg("bench", argc, argv, &i));
        else if (!strcmp(a, "--sweep")) sweep_n = parse_int("bench", a, need_arg("bench", argc, argv, &i));
        else if (!strcmp(a, "--out")) out_prefix = need_arg("bench", argc, argv, &i);
        else if (!strcmp(a, "--kb-dir")) kb_dir = need_arg("bench", argc, argv, &i);
        else if (!strcmp(a, "--router")) o.router = need_arg("bench", argc, argv, &i);
        else if (!strcmp(a, "--threshold")) o.threshold = parse_num("bench", a, need_arg("bench", argc, argv, &i));
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o.model = need_arg("bench", argc, argv, &i);
        else if (!strcmp(a, "--full-model")) o.full_model = need_arg("bench", argc, argv, &i);
        else if (!strcmp(a, "--embed-model")) o.embed_model = need_arg("bench", argc, argv, &i);
        else if (!strcmp(a, "--light-max-tokens"))
            light_max = (int)parse_int("bench", a, need_arg("bench", argc, argv, &i));
        else if (!strcmp(a, "--full-max-tokens"))
            full_max = (int)parse_int("bench", a, need_arg("bench", argc, argv, &i));
        else if (!strcmp(a, "--full-remote")) o.remote_url = need_arg("bench", argc, argv, &i);
        else if (!strcmp(a, "--remote-model")) o.remote_model = need_arg("bench", argc, argv, &i);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
            o.threads = (int)parse_int("bench", a, need_arg("bench", argc, argv, &i));
        else if (!strcmp(a, "--backend")) o.backend = parse_backend("bench", need_arg("bench", argc, argv, &i));
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else die_usage("bench", "unknown option '%s'", a);
    }
    if (limit < 0) die_usage("bench", "--limit must be at least 0");
    if (sweep_n < 2 || sweep_n > 1000) die_usage("bench", "--sweep must be in [2, 1000]");
    int ran[N_CONFIGS] = {0};
    if (configs_arg) {
        char *copy = strdup(configs_arg), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            size_t k = 0;
            while (k < N_CONFIGS && strcmp(configs[k].name, t)) k++;
            if (k == N_CONFIGS) /* (exits: copy, which t points into, is not freed) */
                die_usage("bench", "--configs: '%s' is not always-full, always-light, routed, routed+pruning or "
                                   "routed+pruning+cache", t);
            ran[k] = 1;
        }
        free(copy);
    } else {
        for (size_t k = 0; k < N_CONFIGS; k++) ran[k] = 1;
    }
    char setbuf[4096];
    if (!set) {
        snprintf(setbuf, sizeof setbuf, "%s/devset/devset.jsonl", models_dir());
        set = setbuf;
    }
    devset d;
    if (devset_load(set, (size_t)limit, &d)) {
        devset_free(&d);
        return EXIT_USAGE;
    }
    o.no_kb = 1, o.no_memory = 1, o.no_agent = 1, o.quiet = 1;
    stack st;
    int rc = stack_open("bench", &o, &st);
    if (light_max > 0) st.params.light_max_tokens = light_max;
    if (full_max > 0) st.params.full_max_tokens = full_max;
    /* the set's knowledge bases, built once (unchanged files are skipped) */
    for (size_t k = 0; k < d.n_kbs && !rc; k++) {
        char dir[4096];
        if (kb_dir) snprintf(dir, sizeof dir, "%s/kb-%s", kb_dir, d.kbs[k].name);
        else {
            char setdir[4000];
            dir_of(set, setdir, sizeof setdir);
            snprintf(dir, sizeof dir, "%s/kb-%s", setdir, d.kbs[k].name);
        }
        hrt_kb_params kp = hrt_kb_default_params();
        kp.embedder = st.embed;
        if (hrt_kb_open(dir, &kp, &d.kbs[k].kb)) {
            fprintf(stderr, "hrt bench: knowledge base '%s': %s\n", dir, hrt_last_error());
            rc = EXIT_FAIL;
        }
        for (size_t f = 0; f < d.kbs[k].n_files && !rc; f++)
            if (hrt_kb_add(d.kbs[k].kb, d.kbs[k].files[f], NULL)) {
                fprintf(stderr, "hrt bench: indexing %s: %s\n", d.kbs[k].files[f], hrt_last_error());
                rc = EXIT_FAIL;
            }
    }
    outcome *out[N_CONFIGS] = {0};
    metrics cm[N_CONFIGS];
    memset(cm, 0, sizeof cm);
    bench_ctx b = {&st, &d, quiet};
    for (size_t c = 0; c < N_CONFIGS && !rc; c++) {
        if (!ran[c]) continue;
        if (!(out[c] = calloc(d.n, sizeof *out[c]))) rc = EXIT_FAIL;
        if (!rc) rc = run_config(&b, &configs[c], out[c]);
        if (!rc) measure(d.items, out[c], d.n, &cm[c]);
    }
    /* the sweep, from the two fixed-path runs */
    pt *sweep = NULL;
    metrics *sm = NULL;
    double *thr = NULL;
    size_t ns = 0;
    if (!rc && ran[0] && ran[1]) {
        double *scores = malloc(d.n * sizeof *scores);
        size_t nsc = 0;
        for (size_t i = 0; scores && i < d.n; i++)
            if (isfinite(out[1][i].score)) scores[nsc++] = out[1][i].score;
        sweep = calloc((size_t)sweep_n, sizeof *sweep);
        sm = calloc((size_t)sweep_n, sizeof *sm);
        thr = calloc((size_t)sweep_n, sizeof *thr);
        outcome *tmp = calloc(d.n, sizeof *tmp);
        if (scores && nsc && sweep && sm && thr && tmp) {
            qsort(scores, nsc, sizeof *scores, cmp_double);
            /* thresholds at quantiles of the scores: from all-full (below the lowest) to all-light */
            for (long s = 0; s < sweep_n; s++) {
                double q = (double)s / (double)(sweep_n - 1);
                thr[s] = s == 0 ? scores[0] - 1e-6 : s == sweep_n - 1 ? scores[nsc - 1] + 1e-6 : pct(scores, nsc, q);
                simulate(&d, out[1], out[0], thr[s], st.params.escalate, tmp);
                measure(d.items, tmp, d.n, &sm[s]);
                sweep[s] = (pt){(double)sm[s].generated / (double)d.n, mean(&sm[s], M_ACC)};
            }
            ns = (size_t)sweep_n;
        }
        free(tmp);
        free(scores);
    }
    if (!rc) {
        /* the table */
        printf("set: %s (%zu queries)\n", set, d.n);
        size_t kinds[K_COUNT] = {0};
        for (size_t i = 0; i < d.n; i++) kinds[d.items[i].kind]++;
        printf("kinds: support %zu, squad %zu, gsm8k %zu, open %zu\n\n", kinds[K_SUPPORT], kinds[K_SQUAD],
               kinds[K_GSM8K], kinds[K_OPEN]);
        printf("| configuration | accuracy | support: cited right | support F1 | squad EM | squad F1 | gsm8k | "
               "generated | prompt | p50 ms | p95 ms | full | escalated | cache hits |\n");
        printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (size_t c = 0; c < N_CONFIGS; c++) {
            if (!ran[c]) continue;
            const metrics *m = &cm[c];
            char v[6][16];
            fmt_cell(v[0], mean(m, M_ACC), 1), fmt_cell(v[1], mean(m, M_SRC), 1), fmt_cell(v[2], mean(m, M_SUPF1), 0);
            fmt_cell(v[3], mean(m, M_EM), 1), fmt_cell(v[4], mean(m, M_F1), 0), fmt_cell(v[5], mean(m, M_GSM), 1);
            printf("| %s | %s | %s | %s | %s | %s | %s | %ld | %ld | %.0f | %.0f | %d | %d | %d |\n", configs[c].name,
                   v[0], v[1], v[2], v[3], v[4], v[5], m->generated, m->prompt, pct(m->ms, m->n_ms, 0.5),
                   pct(m->ms, m->n_ms, 0.95), m->full, m->escalated, m->cache_hits);
        }
        printf("\ntokens saved, by mechanism (hrt_savings; loop and answer-done count the budget left, an upper "
               "bound):\n\n| configuration | cache | duplicates | context budget | history budget | loop | "
               "answer done |\n|---|---|---|---|---|---|---|\n");
        for (size_t c = 0; c < N_CONFIGS; c++)
            if (ran[c])
                printf("| %s | %ld | %ld | %ld | %ld | %ld | %ld |\n", configs[c].name, cm[c].saved[0],
                       cm[c].saved[1], cm[c].saved[2], cm[c].saved[3], cm[c].saved[4], cm[c].saved[5]);
        if (ran[0]) {
            printf("\nagainst always-full (generated tokens; accuracy in points):\n");
            for (size_t c = 1; c < N_CONFIGS; c++)
                if (ran[c] && cm[0].generated > 0)
                    printf("  %-22s %+6.1f%% tokens, %+5.1f points\n", configs[c].name,
                           100.0 * ((double)cm[c].generated / (double)cm[0].generated - 1),
                           100 * (mean(&cm[c], M_ACC) - mean(&cm[0], M_ACC)));
        }
        if (ns) {
            printf("\nthe threshold swept (computed from always-light and always-full):\n\n"
                   "| threshold | full share | accuracy | generated | escalated |\n|---|---|---|---|---|\n");
            for (size_t s = 0; s < ns; s++)
                printf("| %.4f | %.2f | %.1f%% | %ld | %d |\n", thr[s], (double)(sm[s].full - sm[s].escalated) / (double)d.n,
                       100 * mean(&sm[s], M_ACC), sm[s].generated, sm[s].escalated);
            if (ran[2] && isfinite(out[2][0].threshold)) {
                /* the routed run beside the computed point at its threshold: they differ only where
                 * a session's reused KV prefix changed a greedy choice */
                outcome *tmp = calloc(d.n, sizeof *tmp);
                if (tmp) {
                    metrics m;
                    simulate(&d, out[1], out[0], out[2][0].threshold, st.params.escalate, tmp);
                    measure(d.items, tmp, d.n, &m);
                    printf("\nrouted at its threshold %.4f: run %ld tokens, %.1f%%; computed %ld tokens, %.1f%%\n",
                           (double)out[2][0].threshold, cm[2].generated, 100 * mean(&cm[2], M_ACC), m.generated,
                           100 * mean(&m, M_ACC));
                    free(m.ms);
                    free(tmp);
                }
            }
        }
        /* files */
        char prefix[4096], path[4200];
        if (out_prefix) snprintf(prefix, sizeof prefix, "%s", out_prefix);
        else {
            time_t now = time(NULL);
            struct tm tm;
            char date[16];
            localtime_r(&now, &tm);
            strftime(date, sizeof date, "%Y-%m-%d", &tm);
            snprintf(prefix, sizeof prefix, "%s/bench/results/efficiency-%s", HRT_SOURCE_DIR, date);
        }
        snprintf(path, sizeof path, "%s.csv", prefix);
        FILE *f = fopen(path, "w");
        if (!f) {
            fprintf(stderr, "hrt bench: %s: %s\n", path, strerror(errno));
            rc = EXIT_FAIL;
        } else {
            fprintf(f, "configuration,threshold,queries,accuracy,support_cited_right,support_f1,squad_em,squad_f1,"
                       "gsm8k_right,generated_tokens,prompt_tokens,p50_ms,p95_ms,full,escalated,cache_hits,errors,"
                       "saved_cache,saved_duplicates,saved_context_budget,saved_history_budget,saved_loop,"
                       "saved_answer_done\n");
            for (size_t c = 0; c < N_CONFIGS; c++)
                if (ran[c]) csv_row(f, configs[c].name, NAN, d.n, &cm[c]);
            for (size_t s = 0; s < ns; s++) csv_row(f, "routed (computed)", thr[s], d.n, &sm[s]);
            if (fclose(f)) rc = EXIT_FAIL;
        }
        snprintf(path, sizeof path, "%s-queries.csv", prefix);
        if (!rc && (f = fopen(path, "w"))) {
            fprintf(f, "configuration,id,kind,path,routed,escalated,router_score,generated_tokens,prompt_tokens,ms,"
                       "cited_source,source_right,f1,exact,answer\n");
            for (size_t c = 0; c < N_CONFIGS; c++) {
                if (!ran[c]) continue;
                metrics scratch;
                memset(&scratch, 0, sizeof scratch);
                for (size_t i = 0; i < d.n; i++) {
                    const outcome *x = &out[c][i];
                    double src, f1, em;
                    score_one(&d.items[i], x, &scratch, &src, &f1, &em);
                    csv_str(f, configs[c].name);
                    fputc(',', f), csv_str(f, d.items[i].id);
                    fprintf(f, ",%s,%s,%s,%d", kind_names[d.items[i].kind], path_name(x->path), path_name(x->routed),
                            x->escalated);
                    csv_num(f, x->score);
                    fprintf(f, ",%d,%d", x->generated, x->prompt);
                    csv_num(f, x->ms);
                    fputc(',', f), csv_str(f, x->chosen ? x->chosen : "");
                    csv_num(f, src), csv_num(f, f1), csv_num(f, em);
                    fputc(',', f), csv_str(f, x->answer);
                    fputc('\n', f);
                }
            }
            if (fclose(f)) rc = EXIT_FAIL;
        } else if (!rc) {
            fprintf(stderr, "hrt bench: %s: %s\n", path, strerror(errno));
            rc = EXIT_FAIL;
        }
        snprintf(path, sizeof path, "%s.svg", prefix);
        if (!rc && (f = fopen(path, "w"))) {
            char title[256];
            snprintf(title, sizeof title, "hrt bench efficiency: accuracy vs generated tokens (%zu queries)", d.n);
            svg(f, title, cm, ran, sweep, ns, d.n);
            if (fclose(f)) rc = EXIT_FAIL;
        } else if (!rc) {
            fprintf(stderr, "hrt bench: %s: %s\n", path, strerror(errno));
            rc = EXIT_FAIL;
        }
        if (!rc) printf("\nwrote %s.csv, %s-queries.csv, %s.svg\n", prefix, prefix, prefix);
    }
    for (size_t c = 0; c < N_CONFIGS; c++) {
        for (size_t i = 0; out[c] && i < d.n; i++) outcome_clear(&out[c][i]);
        free(out[c]);
        free(cm[c].ms);
    }
    for (size_t s = 0; sm && s < ns; s++) free(sm[s].ms);
    free(sm), free(sweep), free(thr);
    devset_free(&d);
    stack_free(&st);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) {
        fputs(HELP, argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : EXIT_OK;
    }
    if (!strcmp(argv[0], "efficiency")) return cmd_efficiency(argc - 1, argv + 1);
    die_usage("bench", "unknown benchmark '%s' (there is: efficiency)", argv[0]);
}
