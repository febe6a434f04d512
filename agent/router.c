/* The learned router (router.h) and its training (hrt_router_train). */
#include "router.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "error.h"
#include "file.h"
#include "fnv.h"
#include "strbuf.h"
#include "unicode.h"

#define N_PCT 101 /* scores at percentiles 0..100 */

struct router {
    int dim, n_in;            /* n_in = dim + QF_COUNT */
    char *embedding_model;
    float *mean, *std, *w;    /* n_in each */
    float b;
    float pct[N_PCT];         /* ascending */
    float threshold;
};

void router_free(router *r)
{
    if (!r) return;
    free(r->embedding_model);
    free(r->mean);
    free(r->std);
    free(r->w);
    free(r);
}

int router_dim(const router *r) { return r->dim; }
const char *router_embedding_model(const router *r) { return r->embedding_model; }
float router_default_threshold(const router *r) { return r->threshold; }

float router_threshold_for_share(const router *r, float share)
{
    if (share <= 0) return 1.01f; /* nothing goes full */
    if (share >= 1) return 0.0f;
    float q = (1.0f - share) * (N_PCT - 1);
    int i = (int)q;
    if (i >= N_PCT - 1) return r->pct[N_PCT - 1];
    return r->pct[i] + (q - (float)i) * (r->pct[i + 1] - r->pct[i]);
}

/* The router's inputs for one query: the embedding, then log1p of each
 * query feature. */
static void inputs(int dim, const float *emb, const query_features *qf, float *x)
{
    memcpy(x, emb, (size_t)dim * sizeof *x);
    for (int i = 0; i < QF_COUNT; i++) x[dim + i] = log1pf(qf->v[i]);
}

static float sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

/* The logit of one row of inputs x, and its parts when asked. */
static float logit(const router *r, const float *x, router_parts *parts)
{
    router_parts p = {.bias = r->b};
    for (int i = 0; i < r->n_in; i++) {
        float c = r->w[i] * (x[i] - r->mean[i]) / r->std[i];
        if (i < r->dim) p.embedding += c;
        else p.feature[i - r->dim] = c;
    }
    float z = p.bias + p.embedding;
    for (int i = 0; i < QF_COUNT; i++) z += p.feature[i];
    if (parts) *parts = p;
    return z;
}

float router_score(const router *r, const float *embedding, const query_features *qf, router_parts *parts)
{
    float x[4096 + QF_COUNT];
    inputs(r->dim, embedding, qf, x);
    return sigmoid(logit(r, x, parts));
}

/* ---- the file ------------------------------------------------------------------- */
static int read_floats(const char *path, const cJSON *o, const char *key, int n, float **out)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return hrt_err(HRT_E_FORMAT, "%s: '%s' is not an array of %d numbers", path, key, n);
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return hrt_err(HRT_E_NOMEM, "out of memory");
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) {
            free(v);
            return hrt_err(HRT_E_FORMAT, "%s: '%s'[%d] is not a finite number", path, key, i);
        }
        v[i++] = (float)e->valuedouble;
    }
    *out = v;
    return 0;
}

int router_load(const char *path, router **out)
{
    *out = NULL;
    char *text;
    size_t len;
    int st = file_read_all(path, 0, &text, &len);
    if (st) return hrt_err_prefix(st, "router file");
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) return hrt_err(HRT_E_FORMAT, "%s: not valid JSON", path);
    router *r = calloc(1, sizeof *r);
    if (!r) {
        cJSON_Delete(j);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    const cJSON *dim = cJSON_GetObjectItemCaseSensitive(j, "dim");
    const cJSON *em = cJSON_GetObjectItemCaseSensitive(j, "embedding_model");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "bias");
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(j, "threshold");
    const cJSON *feat = cJSON_GetObjectItemCaseSensitive(j, "features");
    float *pct = NULL;
    if (!cJSON_IsNumber(fmt) || fmt->valueint < 1)
        st = hrt_err(HRT_E_FORMAT, "%s: no 'format' number: not an hrt router file", path);
    else if (fmt->valueint > ROUTER_FORMAT)
        st = hrt_err(HRT_E_FORMAT, "%s: router format %d is newer than this hrt reads (%d)", path, fmt->valueint,
                     ROUTER_FORMAT);
    else if (!cJSON_IsNumber(dim) || dim->valueint < 1 || dim->valueint > 4096)
        st = hrt_err(HRT_E_FORMAT, "%s: 'dim' is not a number in 1..4096", path);
    else if (!cJSON_IsString(em))
        st = hrt_err(HRT_E_FORMAT, "%s: 'embedding_model' is not a string", path);
    else if (!cJSON_IsNumber(b) || !cJSON_IsNumber(th))
        st = hrt_err(HRT_E_FORMAT, "%s: 'bias' or 'threshold' is not a number", path);
    else if (!cJSON_IsArray(feat) || cJSON_GetArraySize(feat) != QF_COUNT)
        st = hrt_err(HRT_E_FORMAT, "%s: 'features' does not list the %d query features", path, QF_COUNT);
    if (!st) {
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, feat) {
            if (!cJSON_IsString(e) || strcmp(e->valuestring, query_feature_name(i))) {
                st = hrt_err(HRT_E_FORMAT, "%s: features[%d] is not '%s'", path, i, query_feature_name(i));
                break;
            }
            i++;
        }
    }
    if (!st) {
        r->dim = dim->valueint;
        r->n_in = r->dim + QF_COUNT;
        r->b = (float)b->valuedouble;
        r->threshold = (float)th->valuedouble;
        r->embedding_model = strdup(em->valuestring);
        if (!r->embedding_model) st = hrt_err(HRT_E_NOMEM, "out of memory");
    }
    if (!st) st = read_floats(path, j, "mean", r->n_in, &r->mean);
    if (!st) st = read_floats(path, j, "std", r->n_in, &r->std);
    if (!st) st = read_floats(path, j, "weights", r->n_in, &r->w);
    if (!st) st = read_floats(path, j, "percentiles", N_PCT, &pct);
    if (!st) {
        memcpy(r->pct, pct, sizeof r->pct);
        for (int i = 0; i < r->n_in && !st; i++)
            if (!(r->std[i] > 0)) st = hrt_err(HRT_E_FORMAT, "%s: std[%d] is not positive", path, i);
        for (int i = 1; i < N_PCT && !st; i++)
            if (r->pct[i] < r->pct[i - 1]) st = hrt_err(HRT_E_FORMAT, "%s: 'percentiles' is not ascending", path);
    }
    free(pct);
    cJSON_Delete(j);
    if (st) {
        router_free(r);
        return st;
    }
    *out = r;
    return 0;
}

static int put_floats(strbuf *sb, const char *key, const float *v, int n)
{
    char num[48];
    int st = strbuf_put(sb, ",\n\"", 3);
    if (!st) st = strbuf_put(sb, key, strlen(key));
    if (!st) st = strbuf_put(sb, "\": [", 4);
    for (int i = 0; i < n && !st; i++) {
        int k = snprintf(num, sizeof num, "%s%.9g", i ? "," : "", (double)v[i]);
        st = strbuf_put(sb, num, (size_t)k);
    }
    if (!st) st = strbuf_put(sb, "]", 1);
    return st;
}

static int router_save(const router *r, const char *path, const hrt_router_report *rep)
{
    strbuf sb = {0};
    char head[1024];
    cJSON *em = cJSON_CreateString(r->embedding_model);
    char *ems = em ? cJSON_PrintUnformatted(em) : NULL;
    cJSON_Delete(em);
    if (!ems) return hrt_err(HRT_E_NOMEM, "out of memory");
    char auc_ho[32] = "null"; /* JSON has no NaN */
    if (isfinite(rep->auc_holdout)) snprintf(auc_ho, sizeof auc_ho, "%.4f", rep->auc_holdout);
    int k = snprintf(head, sizeof head, "{\"format\": %d,\n\"embedding_model\": ", ROUTER_FORMAT);
    int st = strbuf_put(&sb, head, (size_t)k);
    if (!st) st = strbuf_put(&sb, ems, strlen(ems)); /* the model's name: any length */
    free(ems);
    k = snprintf(head, sizeof head,
                 ",\n\"dim\": %d,\n\"trained\": {\"rows\": %zu, \"full_rows\": %zu, \"holdout_rows\": %zu, "
                 "\"calibration_rows\": %zu, \"auc_train\": %.4f, \"auc_holdout\": %s},\n\"features\": [",
                 r->dim, rep->rows, rep->full_rows, rep->holdout_rows, rep->calibration_rows,
                 isfinite(rep->auc_train) ? rep->auc_train : 0.0, auc_ho);
    if (!st) st = strbuf_put(&sb, head, (size_t)k);
    for (int i = 0; i < QF_COUNT && !st; i++) {
        k = snprintf(head, sizeof head, "%s\"%s\"", i ? "," : "", query_feature_name(i));
        st = strbuf_put(&sb, head, (size_t)k);
    }
    k = snprintf(head, sizeof head, "],\n\"bias\": %.9g,\n\"threshold\": %.9g", (double)r->b, (double)r->threshold);
    if (!st) st = strbuf_put(&sb, head, (size_t)k);
    if (!st) st = put_floats(&sb, "percentiles", r->pct, N_PCT);
    if (!st) st = put_floats(&sb, "mean", r->mean, r->n_in);
    if (!st) st = put_floats(&sb, "std", r->std, r->n_in);
    if (!st) st = put_floats(&sb, "weights", r->w, r->n_in);
    if (!st) st = strbuf_put(&sb, "}\n", 2);
    if (!st) st = file_write_atomic(path, sb.p, sb.len);
    free(sb.p);
    return st;
}

/* ---- training -------------------------------------------------------------------- */
hrt_router_train_params hrt_router_train_default_params(void)
{
    return (hrt_router_train_params){.holdout = 0.2, .l2 = 0.5, .epochs = 400, .full_share = 0};
}

typedef struct {
    char **text;
    unsigned char *label;
    size_t n, cap;
} label_set;

static void labels_free(label_set *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->text[i]);
    free(s->text);
    free(s->label);
}

static const char *const text_keys[] = {"query", "question", "prompt", "text", NULL};

/* One JSONL line: the text and its label (1: needs the full path);
 * label NULL: the text alone (a calibration file). */
static int parse_label(const char *path, size_t line, const char *s, char **text, int *label)
{
    cJSON *j = cJSON_Parse(s);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return hrt_err(HRT_E_FORMAT, "%s:%zu: not a JSON object", path, line);
    }
    const cJSON *t = NULL;
    for (int i = 0; text_keys[i] && !cJSON_IsString(t); i++) t = cJSON_GetObjectItemCaseSensitive(j, text_keys[i]);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "label");
    const cJSON *weak = cJSON_GetObjectItemCaseSensitive(j, "weak_correct");
    const cJSON *strong = cJSON_GetObjectItemCaseSensitive(j, "strong_correct");
    int st = 0;
    if (!cJSON_IsString(t) || !t->valuestring[0])
        st = hrt_err(HRT_E_FORMAT, "%s:%zu: no text (a non-empty \"query\", \"question\", \"prompt\" or \"text\")",
                     path, line);
    else if (!label)
        ;
    else if (cJSON_IsBool(l) || cJSON_IsNumber(l))
        *label = cJSON_IsTrue(l) || (cJSON_IsNumber(l) && l->valuedouble != 0);
    else if (cJSON_IsString(l) && (!strcmp(l->valuestring, "full") || !strcmp(l->valuestring, "light")))
        *label = !strcmp(l->valuestring, "full");
    else if (cJSON_IsBool(weak) && cJSON_IsBool(strong))
        /* the weak model failed where the strong one succeeded */
        *label = cJSON_IsFalse(weak) && cJSON_IsTrue(strong);
    else
        st = hrt_err(HRT_E_FORMAT,
                     "%s:%zu: no label (\"label\": 0/1 or \"light\"/\"full\", or \"weak_correct\" and "
                     "\"strong_correct\" booleans)",
                     path, line);
    if (!st) {
        size_t n = strlen(t->valuestring), nr = 0;
        *text = utf8_repair(t->valuestring, n, &n, &nr);
        if (!*text) st = hrt_err(HRT_E_NOMEM, "out of memory");
    }
    cJSON_Delete(j);
    return st;
}

static int labels_read(const char *path, label_set *s, int with_labels)
{
    FILE *f = fopen(path, "rb");
    if (!f) return hrt_err(HRT_E_IO, "%s: cannot open the labels file", path);
    char *line = NULL;
    size_t cap = 0, no = 0;
    ssize_t k;
    int st = 0;
    while (!st && (k = getline(&line, &cap, f)) >= 0) {
        no++;
        while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r' || line[k - 1] == ' ')) line[--k] = 0;
        if (!k) continue;
        char *text = NULL;
        int label = 0;
        if ((st = parse_label(path, no, line, &text, with_labels ? &label : NULL))) break;
        if (s->n == s->cap) {
            size_t nc = s->cap ? 2 * s->cap : 1024;
            char **t = realloc(s->text, nc * sizeof *t);
            if (t) s->text = t;
            unsigned char *l = t ? realloc(s->label, nc) : NULL;
            if (l) s->label = l;
            if (!t || !l) {
                free(text);
                st = hrt_err(HRT_E_NOMEM, "out of memory");
                break;
            }
            s->cap = nc;
        }
        s->text[s->n] = text;
        s->label[s->n++] = (unsigned char)label;
    }
    free(line);
    fclose(f);
    return st;
}

/* Area under the ROC curve of scores against labels over rows idx
 * (the probability that a random positive outscores a random negative). */
typedef struct {
    float s;
    unsigned char y;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

static double auc(const float *score, const unsigned char *y, const size_t *idx, size_t n)
{
    scored *v = malloc(n * sizeof *v);
    if (!v) return NAN;
    for (size_t i = 0; i < n; i++) v[i] = (scored){score[idx[i]], y[idx[i]]};
    qsort(v, n, sizeof *v, cmp_scored);
    double rank_sum = 0, pos = 0;
    for (size_t i = 0; i < n;) { /* average ranks over ties */
        size_t j = i;
        while (j < n && v[j].s == v[i].s) j++;
        double r = (double)(i + j + 1) / 2.0;
        for (size_t k = i; k < j; k++)
            if (v[k].y) rank_sum += r, pos++;
        i = j;
    }
    free(v);
    double neg = (double)n - pos;
    if (pos == 0 || neg == 0) return NAN;
    return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg);
}

/* Fits mean, std, w, b on rows idx of X (n_in columns) by full-batch Adam
 * on the class-balanced, L2-regularised log loss. */
static int fit(router *r, const float *X, const unsigned char *y, const size_t *idx, size_t n, double l2,
               int epochs)
{
    int d = r->n_in;
    double *g = calloc((size_t)d, sizeof *g), *m1 = calloc((size_t)d, sizeof *m1),
           *m2 = calloc((size_t)d, sizeof *m2);
    float *z = malloc((size_t)d * sizeof *z);
    if (!g || !m1 || !m2 || !z) {
        free(g), free(m1), free(m2), free(z);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) pos += y[idx[i]];
    double wpos = pos ? (double)n / (2.0 * (double)pos) : 1, wneg = pos < n ? (double)n / (2.0 * (double)(n - pos)) : 1;
    for (int k = 0; k < d; k++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) {
            double v = X[idx[i] * (size_t)d + k];
            s += v, s2 += v * v;
        }
        double mu = s / (double)n, var = s2 / (double)n - mu * mu;
        r->mean[k] = (float)mu;
        r->std[k] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
        r->w[k] = 0;
    }
    r->b = 0;
    double gb, mb1 = 0, mb2 = 0, lr = 0.01, b1 = 0.9, b2 = 0.999;
    for (int e = 1; e <= epochs; e++) {
        memset(g, 0, (size_t)d * sizeof *g);
        gb = 0;
        for (size_t i = 0; i < n; i++) {
            const float *x = X + idx[i] * (size_t)d;
            float zz = r->b;
            for (int k = 0; k < d; k++) {
                z[k] = (x[k] - r->mean[k]) / r->std[k];
                zz += r->w[k] * z[k];
            }
            int yi = y[idx[i]];
            double err = ((double)sigmoid(zz) - yi) * (yi ? wpos : wneg);
            for (int k = 0; k < d; k++) g[k] += err * z[k];
            gb += err;
        }
        double c1 = 1 - pow(b1, e), c2 = 1 - pow(b2, e);
        for (int k = 0; k < d; k++) {
            double gk = g[k] / (double)n + l2 * r->w[k];
            m1[k] = b1 * m1[k] + (1 - b1) * gk;
            m2[k] = b2 * m2[k] + (1 - b2) * gk * gk;
            r->w[k] -= (float)(lr * (m1[k] / c1) / (sqrt(m2[k] / c2) + 1e-8));
        }
        gb /= (double)n;
        mb1 = b1 * mb1 + (1 - b1) * gb;
        mb2 = b2 * mb2 + (1 - b2) * gb * gb;
        r->b -= (float)(lr * (mb1 / c1) / (sqrt(mb2 / c2) + 1e-8));
    }
    free(g), free(m1), free(m2), free(z);
    return 0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Scores of every row under r. */
static void score_all(const router *r, const float *X, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) out[i] = sigmoid(logit(r, X + i * (size_t)r->n_in, NULL));
}

/* The router inputs of every text of s into X (n_in floats per row):
 * embeddings in calls of 64 texts (hrt_embed batches them), then the
 * query features. */
static int embed_rows(hrt_model *embedder, int dim, const label_set *s, float *X, const hrt_router_train_params *p)
{
    int n_in = dim + QF_COUNT, st = 0;
    float *emb = malloc(64 * (size_t)dim * sizeof *emb);
    if (!emb) return hrt_err(HRT_E_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < s->n; i += 64) {
        size_t m = s->n - i < 64 ? s->n - i : 64;
        st = hrt_embed(embedder, (const char *const *)s->text + i, NULL, m, emb);
        for (size_t k = 0; !st && k < m; k++) {
            query_features qf;
            query_features_compute(s->text[i + k], strlen(s->text[i + k]), &qf);
            inputs(dim, emb + k * (size_t)dim, &qf, X + (i + k) * (size_t)n_in);
        }
        if (p->progress) p->progress((float)(i + m) / (float)s->n, p->progress_data);
    }
    free(emb);
    return st;
}

int hrt_router_train(hrt_model *embedder, const char *const *files, size_t n_files, const char *out_path,
                     const hrt_router_train_params *params, hrt_router_report *report)
{
    hrt_router_train_params p = params ? *params : hrt_router_train_default_params();
    hrt_router_report rep = {0};
    if (report) *report = rep;
    if (!embedder || !files || !n_files || !out_path)
        return hrt_err(HRT_E_INVALID, "hrt_router_train: NULL argument or no labels file");
    if (!(p.holdout >= 0 && p.holdout < 1) || !(p.l2 >= 0) || p.epochs < 1 || !(p.full_share < 1))
        return hrt_err(HRT_E_INVALID, "hrt_router_train: holdout must be in [0,1), l2 >= 0, epochs >= 1, "
                                      "full_share < 1");
    int dim = hrt_embed_dim(embedder);
    if (dim < 0) return dim;
    if (dim > 4096) return hrt_err(HRT_E_UNSUPPORTED, "hrt_router_train: embedding dimension %d > 4096", dim);
    hrt_model_info info;
    hrt_model_info_get(embedder, &info);

    label_set s = {0};
    int st = 0;
    for (size_t i = 0; i < n_files && !st; i++) st = labels_read(files[i], &s, 1);
    if (!st && s.n < 10) st = hrt_err(HRT_E_INVALID, "hrt_router_train: %zu labelled queries; at least 10 needed", s.n);
    router *r = calloc(1, sizeof *r);
    int n_in = dim + QF_COUNT;
    float *X = NULL, *score = NULL;
    size_t *all = NULL, *tr = NULL, *ho = NULL, n_tr = 0, n_ho = 0;
    if (!st && r) {
        r->dim = dim, r->n_in = n_in;
        r->embedding_model = strdup(info.name);
        r->mean = malloc((size_t)n_in * sizeof(float));
        r->std = malloc((size_t)n_in * sizeof(float));
        r->w = malloc((size_t)n_in * sizeof(float));
        X = malloc(s.n * (size_t)n_in * sizeof *X);
        score = malloc(s.n * sizeof *score);
        all = malloc(s.n * sizeof *all), tr = malloc(s.n * sizeof *tr), ho = malloc(s.n * sizeof *ho);
    }
    if (!st && (!r || !r->embedding_model || !r->mean || !r->std || !r->w || !X || !score || !all || !tr || !ho))
        st = hrt_err(HRT_E_NOMEM, "out of memory");
    double t0 = now_s();
    if (!st) st = embed_rows(embedder, dim, &s, X, &p);
    rep.seconds_embed = now_s() - t0;
    t0 = now_s();
    if (!st) {
        /* A query is held out by a hash of its text: the same split on every run. */
        for (size_t i = 0; i < s.n; i++) {
            all[i] = i;
            uint64_t h = fnv1a(FNV1A_BASIS, s.text[i], strlen(s.text[i]));
            if ((double)(h % 10000) < p.holdout * 10000) ho[n_ho++] = i;
            else tr[n_tr++] = i;
            rep.full_rows += s.label[i];
        }
        rep.rows = s.n, rep.holdout_rows = n_ho;
        if (!rep.full_rows || rep.full_rows == s.n)
            st = hrt_err(HRT_E_INVALID, "hrt_router_train: every query has the same label (%s); both are needed",
                         rep.full_rows ? "full" : "light");
    }
    double share = p.full_share > 0 ? p.full_share : (double)rep.full_rows / (double)(s.n ? s.n : 1);
    if (!st && p.n_calibration && !p.calibration_files)
        st = hrt_err(HRT_E_INVALID, "hrt_router_train: n_calibration without calibration_files");
    float *sorted = st ? NULL : malloc(s.n * sizeof *sorted);
    if (!st && !sorted) st = hrt_err(HRT_E_NOMEM, "out of memory");
    /* 1. fit on the training rows; evaluate on the held-out ones (when
     * the split leaves both labels to train on) */
    size_t tr_full = 0;
    for (size_t i = 0; i < n_tr; i++) tr_full += s.label[tr[i]];
    if (n_ho && (tr_full == 0 || tr_full == n_tr)) {
        hrt_log(HRT_LOG_WARN, "hrt_router_train: the held-out split leaves one label to train on; not evaluated");
        n_ho = 0, rep.holdout_rows = 0;
    }
    if (!st && n_ho) {
        st = fit(r, X, s.label, tr, n_tr, p.l2, p.epochs);
        if (!st) {
            score_all(r, X, s.n, score);
            rep.auc_holdout = auc(score, s.label, ho, n_ho);
            for (size_t i = 0; i < n_tr; i++) sorted[i] = score[tr[i]];
            qsort(sorted, n_tr, sizeof *sorted, cmp_float);
            float th = sorted[(size_t)((1.0 - share) * (double)(n_tr - 1))];
            size_t routed = 0, hit = 0, full = 0;
            for (size_t i = 0; i < n_ho; i++) {
                int go = score[ho[i]] >= th;
                routed += go;
                full += s.label[ho[i]];
                hit += go && s.label[ho[i]];
            }
            rep.holdout_share = (double)routed / (double)n_ho;
            rep.holdout_recall = full ? (double)hit / (double)full : NAN;
        }
    }
    /* 2. fit on every row: the router that is saved */
    if (!st) st = fit(r, X, s.label, all, s.n, p.l2, p.epochs);
    if (!st) {
        score_all(r, X, s.n, score);
        rep.auc_train = auc(score, s.label, all, s.n);
        if (!n_ho) rep.auc_holdout = NAN;
        /* the percentiles: of the calibration queries' scores when given,
         * else of the training queries' */
        label_set c = {0};
        float *cs = NULL, *cX = NULL;
        size_t nc = s.n;
        for (size_t i = 0; !st && i < p.n_calibration; i++) st = labels_read(p.calibration_files[i], &c, 0);
        if (!st && p.n_calibration && c.n < 10)
            st = hrt_err(HRT_E_INVALID, "hrt_router_train: %zu calibration queries; at least 10 needed", c.n);
        if (!st && c.n) {
            cX = malloc(c.n * (size_t)n_in * sizeof *cX);
            cs = malloc(c.n * sizeof *cs);
            float *ns = realloc(sorted, (c.n > s.n ? c.n : s.n) * sizeof *sorted);
            if (ns) sorted = ns;
            st = cX && cs && ns ? embed_rows(embedder, dim, &c, cX, &p) : hrt_err(HRT_E_NOMEM, "out of memory");
            if (!st) score_all(r, cX, c.n, cs);
            nc = c.n;
            rep.calibration_rows = c.n;
        }
        if (!st) {
            memcpy(sorted, c.n ? cs : score, nc * sizeof *sorted);
            qsort(sorted, nc, sizeof *sorted, cmp_float);
            for (int i = 0; i < N_PCT; i++) r->pct[i] = sorted[(size_t)((double)i / (N_PCT - 1) * (double)(nc - 1))];
        }
        free(cs), free(cX);
        labels_free(&c);
    }
    if (!st) {
        r->threshold = router_threshold_for_share(r, (float)share);
        rep.threshold = r->threshold;
        rep.seconds_train = now_s() - t0;
        st = router_save(r, out_path, &rep);
    }
    free(sorted);
    free(X), free(score), free(all), free(tr), free(ho);
    router_free(r);
    labels_free(&s);
    if (report) *report = rep;
    return st;
}
