/* What the memory holds for the agent, as records under key prefixes:
 *
 *   turn/<session>            the number of turns of a session (decimal)
 *   turn/<session>/<16 hex>   turn i: "<role>\n<text>"
 *   answer/<16 hex>/<16 hex>  a cached answer, JSON; the first hash names
 *                             (model, prompt version), so that a query only
 *                             meets answers it may reuse; the second hashes
 *                             the query vector, which the record carries.
 *
 * A turn and its session's count are written in one put, so a crash never
 * leaves a count pointing past the last turn. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fnv.h"
#include "memory.h"

static int check_session(const char *session, const char *fn)
{
    if (!session || !*session || strchr(session, '/') || strlen(session) > 256)
        return hrt_err(HRT_E_INVALID, "%s: a session name must be 1-256 bytes without '/'", fn);
    return 0;
}

/* The turn count of session (0 when it has none). */
static int turn_count(hrt_memory *m, const char *key, uint64_t *n)
{
    void *v = NULL;
    size_t len = 0;
    int st = hrt_memory_get(m, key, strlen(key), &v, &len, NULL);
    *n = 0;
    if (st == HRT_E_RANGE) return 0;
    if (st) return st;
    char buf[24] = {0};
    memcpy(buf, v, len < sizeof buf - 1 ? len : sizeof buf - 1);
    free(v);
    char *end;
    *n = strtoull(buf, &end, 10);
    if (end == buf || *end) return hrt_err(HRT_E_FORMAT, "memory: %s: not a turn count", key);
    return 0;
}

int hrt_memory_turn_add(hrt_memory *m, const char *session, const char *role, const char *text, size_t len,
                        uint64_t *index)
{
    int st = check_session(session, "hrt_memory_turn_add");
    if (st) return st;
    if (!m || !role || (!text && len) || strchr(role, '\n'))
        return hrt_err(HRT_E_INVALID, "hrt_memory_turn_add: NULL argument or a role with a newline");
    char ckey[300], tkey[320], count[24];
    snprintf(ckey, sizeof ckey, "turn/%s", session);
    size_t rl = strlen(role);
    char *val = malloc(rl + 1 + len);
    if (!val) return hrt_err(HRT_E_NOMEM, "out of memory");
    memcpy(val, role, rl);
    val[rl] = '\n';
    if (len) memcpy(val + rl + 1, text, len);
    pthread_mutex_t *mu = memory_turn_lock(m);
    pthread_mutex_lock(mu);
    uint64_t n;
    st = turn_count(m, ckey, &n);
    if (!st) {
        snprintf(tkey, sizeof tkey, "turn/%s/%016" PRIx64, session, n);
        int cl = snprintf(count, sizeof count, "%" PRIu64, n + 1);
        hrt_memory_record r[2] = {
            {tkey, strlen(tkey), val, rl + 1 + len, NULL, 0, 0},
            {ckey, strlen(ckey), count, (size_t)cl, NULL, 0, 0},
        };
        st = hrt_memory_put(m, r, 2);
    }
    pthread_mutex_unlock(mu);
    free(val);
    if (!st && index) *index = n;
    return st;
}

void hrt_memory_turns_free(hrt_chat_msg *msgs, size_t n)
{
    for (size_t i = 0; msgs && i < n; i++) free((char *)msgs[i].role); /* role and content share it */
    free(msgs);
}

int hrt_memory_turns(hrt_memory *m, const char *session, size_t n, hrt_chat_msg **msgs, size_t *n_out)
{
    int st = check_session(session, "hrt_memory_turns");
    if (st) return st;
    if (!m || !msgs || !n_out) return hrt_err(HRT_E_INVALID, "hrt_memory_turns: NULL argument");
    *msgs = NULL;
    *n_out = 0;
    char ckey[300], tkey[320];
    snprintf(ckey, sizeof ckey, "turn/%s", session);
    uint64_t total;
    if ((st = turn_count(m, ckey, &total))) return st;
    uint64_t first = total > n ? total - n : 0;
    hrt_chat_msg *out = calloc(total - first + 1, sizeof *out);
    if (!out) return hrt_err(HRT_E_NOMEM, "out of memory");
    size_t k = 0;
    for (uint64_t i = first; !st && i < total; i++) {
        snprintf(tkey, sizeof tkey, "turn/%s/%016" PRIx64, session, i);
        void *v = NULL;
        size_t len = 0;
        st = hrt_memory_get(m, tkey, strlen(tkey), &v, &len, NULL);
        if (st == HRT_E_RANGE) { /* deleted by hand: skipped */
            st = 0;
            continue;
        }
        if (st) break;
        char *s = realloc(v, len + 1), *nl = s ? memchr(s, '\n', len) : NULL;
        if (!s) {
            free(v);
            st = hrt_err(HRT_E_NOMEM, "out of memory");
            break;
        }
        s[len] = 0;
        if (!nl) {
            free(s);
            st = hrt_err(HRT_E_FORMAT, "memory: %s: not a turn (no role line)", tkey);
            break;
        }
        *nl = 0;
        out[k].role = s;
        out[k++].content = nl + 1;
    }
    if (st) {
        hrt_memory_turns_free(out, k);
        return st;
    }
    *msgs = out;
    *n_out = k;
    return 0;
}

/* ---- the semantic answer cache ---------------------------------------------- */
static void answer_prefix(char *buf, size_t cap, const char *model, const char *prompt_version)
{
    uint64_t h = fnv1a(FNV1A_BASIS, model, strlen(model) + 1);
    h = fnv1a(h, prompt_version, strlen(prompt_version) + 1);
    snprintf(buf, cap, "answer/%016" PRIx64 "/", h);
}

int hrt_memory_answer_put(hrt_memory *m, const float *qvec, int dim, const hrt_answer *a, int64_t ttl_s)
{
    if (!m || !qvec || dim <= 0 || !a || !a->model || !a->prompt_version || !a->answer)
        return hrt_err(HRT_E_INVALID, "hrt_memory_answer_put: NULL argument (vector, model, prompt_version and "
                                      "answer are needed)");
    char key[64];
    answer_prefix(key, sizeof key, a->model, a->prompt_version);
    size_t pl = strlen(key);
    snprintf(key + pl, sizeof key - pl, "%016" PRIx64, fnv1a(FNV1A_BASIS, qvec, (size_t)dim * sizeof *qvec));
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", a->model);
    cJSON_AddStringToObject(j, "prompt_version", a->prompt_version);
    cJSON_AddStringToObject(j, "query", a->query ? a->query : "");
    cJSON_AddStringToObject(j, "answer", a->answer);
    cJSON_AddStringToObject(j, "sources", a->sources ? a->sources : "");
    cJSON_AddNumberToObject(j, "created", (double)memory_now(m));
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return hrt_err(HRT_E_NOMEM, "out of memory");
    hrt_memory_record r = {key, strlen(key), text, strlen(text), qvec, dim, ttl_s};
    int st = hrt_memory_put(m, &r, 1);
    free(text);
    return st;
}

void hrt_answer_clear(hrt_answer *a)
{
    if (!a) return;
    free((char *)a->model);
    free((char *)a->prompt_version);
    free((char *)a->query);
    free((char *)a->answer);
    free((char *)a->sources);
    memset(a, 0, sizeof *a);
}

static char *dup_field(const cJSON *j, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, name);
    return cJSON_IsString(f) ? strdup(f->valuestring) : NULL;
}

/* Parses a cached answer; HRT_E_FORMAT when a field is missing. */
static int parse_answer(const char *key, const void *v, size_t len, hrt_answer *out)
{
    cJSON *j = cJSON_ParseWithLength(v, len);
    memset(out, 0, sizeof *out);
    out->model = dup_field(j, "model");
    out->prompt_version = dup_field(j, "prompt_version");
    out->query = dup_field(j, "query");
    out->answer = dup_field(j, "answer");
    out->sources = dup_field(j, "sources");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "created");
    out->created = cJSON_IsNumber(c) ? (int64_t)c->valuedouble : 0;
    cJSON_Delete(j);
    if (!out->model || !out->prompt_version || !out->query || !out->answer || !out->sources) {
        hrt_answer_clear(out);
        return hrt_err(HRT_E_FORMAT, "memory: %s: not a cached answer (fields model, prompt_version, query, answer, "
                                     "sources)", key);
    }
    return 0;
}

int hrt_memory_answer_lookup(hrt_memory *m, const float *qvec, int dim, const char *model,
                             const char *prompt_version, float threshold, hrt_answer *out, float *score)
{
    if (!m || !qvec || !model || !prompt_version || !out)
        return hrt_err(HRT_E_INVALID, "hrt_memory_answer_lookup: NULL argument");
    memset(out, 0, sizeof *out);
    char prefix[64];
    answer_prefix(prefix, sizeof prefix, model, prompt_version);
    enum { K = 4 }; /* a best hit whose record has gone (deleted meanwhile) falls back to the next */
    hrt_memory_hit hits[K];
    int n = hrt_memory_query(m, prefix, strlen(prefix), qvec, dim, K, threshold, hits);
    if (n < 0) return n;
    int st = 0, found = 0;
    for (int i = 0; !found && !st && i < n; i++) {
        void *v = NULL;
        size_t len = 0;
        st = hrt_memory_get(m, hits[i].key, hits[i].key_len, &v, &len, NULL);
        if (st == HRT_E_RANGE) {
            st = 0;
            continue;
        }
        if (!st) {
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)hits[i].key_len, (const char *)hits[i].key);
            st = parse_answer(key, v, len, out);
            found = !st;
            if (found && score) *score = hits[i].score;
        }
        free(v);
    }
    hrt_memory_hits_free(hits, (size_t)n);
    return st ? st : found;
}
