/* The remote model (hrt.h, hrt_remote): an OpenAI-compatible
 * chat-completions client over libcurl.
 *
 * Invariants:
 *  1. A request is retried (refused or failed connection, a timeout, 429,
 *     500, 502, 503, 504, a stream that ends early) only while no text has
 *     reached the caller: a retry never repeats text already streamed.
 *  2. Every wait is bounded: the connection by connect_timeout_ms, silence
 *     in a stream by idle_timeout_ms, the whole call (attempts and back-off)
 *     by timeout_ms, a back-off by 30 s (Retry-After included).
 *  3. The response is checked as it arrives: an error status, a body or an
 *     event that is not the JSON the API defines, and a stream that ends
 *     without "data: [DONE]" or a finish reason are errors naming the URL.
 * The request's wire format follows the OpenAI chat-completions reference
 * (platform.openai.com/docs/api-reference/chat): "messages", "max_tokens",
 * "stream" with "stream_options": {"include_usage": true}, server-sent
 * events of "chat.completion.chunk" objects ending with "data: [DONE]". */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "error.h"
#include "hrt.h"
#include "remote.h"
#include "strbuf.h"

hrt_remote_params hrt_remote_default_params(void)
{
    return (hrt_remote_params){.api_key_env = "OPENAI_API_KEY", .stream = 1, .connect_timeout_ms = 10000,
                               .timeout_ms = 120000, .idle_timeout_ms = 30000, .retries = 3, .backoff_ms = 500};
}

#ifndef HRT_WITH_CURL
struct hrt_remote {
    int unused;
};

const char *remote_name(const hrt_remote *r)
{
    (void)r;
    return "remote";
}

int hrt_remote_open(const hrt_remote_params *p, hrt_remote **out)
{
    (void)p;
    if (out) *out = NULL;
    return hrt_err(HRT_E_UNSUPPORTED, "hrt_remote_open: this libhrt was built without libcurl");
}

void hrt_remote_free(hrt_remote *r) { (void)r; }

int remote_chat(hrt_remote *r, const hrt_chat_msg *msgs, size_t n, const hrt_generate_params *gp, char **text,
                hrt_usage *usage, const atomic_int *cancel)
{
    (void)r, (void)msgs, (void)n, (void)gp, (void)cancel;
    if (text) *text = NULL;
    if (usage) memset(usage, 0, sizeof *usage);
    return hrt_err(HRT_E_UNSUPPORTED, "hrt_remote_chat: this libhrt was built without libcurl");
}
#else
#include <curl/curl.h>

struct hrt_remote {
    hrt_remote_params p;
    char *url, *model, *key_env;
    char *name;              /* remote:MODEL@URL */
};

const char *remote_name(const hrt_remote *r) { return r->name; }

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int hrt_remote_open(const hrt_remote_params *params, hrt_remote **out)
{
    if (out) *out = NULL;
    if (!params || !out || !params->url || !params->url[0])
        return hrt_err(HRT_E_INVALID, "hrt_remote_open: no URL");
    if (strncmp(params->url, "http://", 7) && strncmp(params->url, "https://", 8))
        return hrt_err(HRT_E_INVALID, "hrt_remote_open: '%s' is not an http:// or https:// URL", params->url);
    if (params->retries < 0 || params->retries > 20 || params->timeout_ms < 0 || params->connect_timeout_ms < 0 ||
        params->idle_timeout_ms < 0 || params->backoff_ms < 0)
        return hrt_err(HRT_E_INVALID, "hrt_remote_open: a negative timeout, or retries outside [0, 20]");
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc) return hrt_err(HRT_E_BACKEND, "hrt_remote_open: libcurl: %s", curl_easy_strerror(curl_init_rc));
    hrt_remote *r = calloc(1, sizeof *r);
    if (!r) return hrt_err(HRT_E_NOMEM, "out of memory");
    r->p = *params;
    r->url = strdup(params->url);
    r->model = strdup(params->model ? params->model : "default");
    r->key_env = params->api_key_env ? strdup(params->api_key_env) : NULL;
    size_t nl = strlen(r->url ? r->url : "") + strlen(r->model ? r->model : "") + 9;
    if ((r->name = malloc(nl))) snprintf(r->name, nl, "remote:%s@%s", r->model, r->url);
    if (!r->url || !r->model || !r->name || (params->api_key_env && !r->key_env)) {
        hrt_remote_free(r);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    r->p.url = r->url, r->p.model = r->model, r->p.api_key_env = r->key_env;
    *out = r;
    return 0;
}

void hrt_remote_free(hrt_remote *r)
{
    if (!r) return;
    free(r->url), free(r->model), free(r->key_env), free(r->name);
    free(r);
}

/* One transfer's state. */
typedef struct {
    const hrt_remote *r;
    const hrt_generate_params *gp;
    long status;             /* from the status line */
    double retry_after_s;    /* Retry-After, or -1 */
    strbuf body;             /* a non-streamed body, an error body, or the unparsed tail of a stream */
    strbuf text;             /* the answer so far */
    int event_stream;        /* the response is text/event-stream */
    int delivered;           /* text has reached the caller (no retry after this) */
    int stopped;             /* the caller's callback asked to stop */
    int done;                /* "[DONE]" or a finish reason seen */
    int finish_length;       /* finish_reason "length" */
    int prompt_tokens, completion_tokens, chunks;
    int err;                 /* an HRT_E_* found while parsing (the message is set) */
    double last_ms;          /* when bytes of the body last arrived (or the status line) */
    int idle_cut;            /* the idle timeout ended the transfer */
    const atomic_int *cancel;
    int cancelled;
} xfer;

/* Cancellation and the idle timeout. The idle timeout applies to a stream
 * once its status line has come (the wait for the answer to begin, and a
 * non-streamed answer, are bounded by timeout_ms): libcurl's low-speed
 * limit averages over seconds of history, so silence is timed here from
 * the last byte received. libcurl calls this at least once a second. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    xfer *x = ud;
    if (x->cancel && atomic_load(x->cancel)) {
        x->cancelled = 1;
        return 1;
    }
    if (x->r->p.stream && x->status && x->r->p.idle_timeout_ms > 0 &&
        now_ms() - x->last_ms > x->r->p.idle_timeout_ms) {
        x->idle_cut = 1;
        return 1;
    }
    return 0;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    x->last_ms = now_ms();
    if (len > 5 && !strncmp(buf, "HTTP/", 5)) {
        const char *sp = memchr(buf, ' ', len);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->retry_after_s = -1, x->event_stream = 0;
    } else if (len > 12 && !strncasecmp(buf, "retry-after:", 12)) {
        char tmp[32];
        size_t k = len - 12 < sizeof tmp - 1 ? len - 12 : sizeof tmp - 1;
        memcpy(tmp, buf + 12, k), tmp[k] = 0;
        char *end;
        double v = strtod(tmp, &end);
        if (end != tmp) x->retry_after_s = v;
    } else if (len > 13 && !strncasecmp(buf, "content-type:", 13)) {
        x->event_stream = memmem(buf, len, "text/event-stream", 17) != NULL; /* buf is not NUL-terminated */
    }
    return len;
}

static int parse_fail(xfer *x, int code, const char *what, const char *data)
{
    if (!x->err) x->err = hrt_err(code, "remote %s: %s: %.200s", x->r->url, what, data ? data : "");
    return x->err;
}

/* Takes the text, usage and finish reason of one response object (a
 * stream chunk or the whole body). */
static int take_object(xfer *x, const cJSON *j, int chunk, const char *raw)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (e) {
        const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
        return parse_fail(x, HRT_E_IO, "the server reported an error", cJSON_IsString(m) ? m->valuestring : raw);
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(u)) {
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
        if (cJSON_IsNumber(pt)) x->prompt_tokens = pt->valueint;
        if (cJSON_IsNumber(ct)) x->completion_tokens = ct->valueint;
    }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
    if (!cJSON_IsArray(ch)) {
        if (cJSON_IsObject(u) && chunk) return 0; /* the usage chunk has no choices (or an empty array) */
        return parse_fail(x, HRT_E_FORMAT, "no \"choices\" in the response", raw);
    }
    const cJSON *c0 = cJSON_GetArrayItem(ch, 0);
    if (!c0) return 0;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(c0, chunk ? "delta" : "message");
    const cJSON *content = cJSON_IsObject(msg) ? cJSON_GetObjectItemCaseSensitive(msg, "content") : NULL;
    if (!chunk && !cJSON_IsObject(msg)) return parse_fail(x, HRT_E_FORMAT, "no \"message\" in the choice", raw);
    if (content && !cJSON_IsString(content) && !cJSON_IsNull(content))
        return parse_fail(x, HRT_E_FORMAT, "\"content\" is not a string", raw);
    if (cJSON_IsString(content) && content->valuestring[0] && !x->stopped) {
        size_t len = strlen(content->valuestring);
        if (strbuf_put(&x->text, content->valuestring, len)) return x->err = HRT_E_NOMEM;
        x->chunks++;
        x->delivered = 1;
        if (x->gp->on_token && x->gp->on_token(content->valuestring, len, -1, x->gp->user_data)) x->stopped = 1;
    }
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c0, "finish_reason");
    if (cJSON_IsString(fr)) {
        x->done = 1;
        x->finish_length = !strcmp(fr->valuestring, "length");
    }
    return 0;
}

/* Handles the complete lines of a server-sent event stream in x->body. */
static int take_events(xfer *x)
{
    size_t start = 0;
    for (;;) {
        char *nl = memchr(x->body.p + start, '\n', x->body.len - start);
        if (!nl) break;
        size_t end = (size_t)(nl - x->body.p), len = end - start;
        char *line = x->body.p + start;
        if (len && line[len - 1] == '\r') len--;
        line[len] = 0;
        start = end + 1;
        if (len < 5 || strncmp(line, "data:", 5)) continue; /* blank, comments, event:, id:, retry: */
        const char *data = line + 5;
        while (*data == ' ') data++;
        if (!strcmp(data, "[DONE]")) {
            x->done = 1;
            continue;
        }
        cJSON *j = cJSON_Parse(data);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            return parse_fail(x, HRT_E_FORMAT, "an event of the stream is not a JSON object", data);
        }
        int st = take_object(x, j, 1, data);
        cJSON_Delete(j);
        if (st) return st;
        if (x->stopped) break;
    }
    memmove(x->body.p, x->body.p + start, x->body.len - start);
    strbuf_cut(&x->body, x->body.len - start);
    return 0;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    x->last_ms = now_ms();
    if (x->err || x->stopped) return 0; /* aborts the transfer */
    if (x->body.len + len > (64u << 20)) {
        parse_fail(x, HRT_E_FORMAT, "the response is over 64 MiB", NULL);
        return 0;
    }
    if (strbuf_put(&x->body, buf, len)) {
        x->err = HRT_E_NOMEM;
        return 0;
    }
    if (x->status == 200 && x->event_stream && take_events(x)) return 0;
    return x->stopped ? 0 : len;
}

static char *request_body(const hrt_remote *r, const hrt_chat_msg *msgs, size_t n, const hrt_generate_params *gp)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", r->model);
    cJSON *arr = cJSON_AddArrayToObject(j, "messages");
    for (size_t i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", msgs[i].role);
        cJSON_AddStringToObject(m, "content", msgs[i].content);
        cJSON_AddItemToArray(arr, m);
    }
    if (gp->max_tokens > 0) cJSON_AddNumberToObject(j, "max_tokens", gp->max_tokens);
    cJSON_AddNumberToObject(j, "temperature", gp->sampling.temperature > 0 ? gp->sampling.temperature : 0);
    if (gp->sampling.temperature > 0) cJSON_AddNumberToObject(j, "seed", (double)(gp->sampling.seed & 0x7fffffff));
    if (gp->n_stop) {
        cJSON *s = cJSON_AddArrayToObject(j, "stop");
        for (size_t i = 0; i < gp->n_stop && i < 4; i++) cJSON_AddItemToArray(s, cJSON_CreateString(gp->stop[i]));
    }
    cJSON_AddBoolToObject(j, "stream", r->p.stream);
    if (r->p.stream) cJSON_AddBoolToObject(cJSON_AddObjectToObject(j, "stream_options"), "include_usage", 1);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static int retryable_status(long s) { return s == 429 || s == 500 || s == 502 || s == 503 || s == 504; }

/* The server's own words for an error body: error.message, or the start of the body. */
static void error_words(const strbuf *b, char *out, size_t cap)
{
    cJSON *j = b->p ? cJSON_Parse(b->p) : NULL;
    const cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
    if (cJSON_IsString(m)) snprintf(out, cap, "%s", m->valuestring);
    else snprintf(out, cap, "%.200s", b->p ? b->p : "(no body)");
    cJSON_Delete(j);
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

static void sleep_ms(double ms)
{
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(fmod(ms, 1000) * 1e6)};
    nanosleep(&ts, NULL);
}

/* libcurl failures worth another attempt: the connection, the network, a timeout. */
static int retryable_curl(CURLcode cc)
{
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_GOT_NOTHING ||
           cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR || cc == CURLE_PARTIAL_FILE ||
           cc == CURLE_ABORTED_BY_CALLBACK;
}

int remote_chat(hrt_remote *r, const hrt_chat_msg *msgs, size_t n, const hrt_generate_params *params, char **text,
                hrt_usage *usage, const atomic_int *cancel)
{
    if (text) *text = NULL;
    if (usage) memset(usage, 0, sizeof *usage);
    if (!r || (!msgs && n)) return hrt_err(HRT_E_INVALID, "hrt_remote_chat: NULL argument");
    hrt_generate_params gp = params ? *params : hrt_generate_default_params();
    char *body = request_body(r, msgs, n, &gp);
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    if (!body || !c) {
        free(body);
        if (c) curl_easy_cleanup(c);
        return hrt_err(HRT_E_NOMEM, "hrt_remote_chat: out of memory");
    }
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, r->p.stream ? "Accept: text/event-stream" : "Accept: application/json");
    const char *key = r->key_env ? getenv(r->key_env) : NULL;
    if (key && *key) {
        size_t kl = strlen(key) + 32;
        char *h = malloc(kl);
        if (h) {
            snprintf(h, kl, "Authorization: Bearer %s", key);
            hdr = curl_slist_append(hdr, h);
            memset(h, 0, kl);
            free(h);
        }
    }
    char cerr[CURL_ERROR_SIZE];
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)r->p.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "hrt");
    double t0 = now_ms();
    xfer x = {0};
    int st = 0, attempt = 0;
    double backoff = r->p.backoff_ms;
    char why[400] = "";
    for (;; attempt++) {
        free(x.body.p), free(x.text.p);
        x = (xfer){.r = r, .gp = &gp, .retry_after_s = -1, .last_ms = now_ms(), .cancel = cancel};
        cerr[0] = 0;
        /* timeout_ms bounds the whole call, retries and waits included */
        double left = r->p.timeout_ms > 0 ? r->p.timeout_ms - (now_ms() - t0) : 0;
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(r->p.timeout_ms > 0 ? (left > 1 ? left : 1) : 0));
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
        CURLcode cc = curl_easy_perform(c);
        int retry = 0;
        st = 0;
        if (x.cancelled) {
            st = hrt_err(HRT_E_CANCELLED, "remote %s: cancelled", r->url);
        } else if (x.err) {
            st = x.err; /* a parse error or an error event, already described */
        } else if (x.stopped) {
            st = 0;
        } else if (cc != CURLE_OK) {
            if (x.idle_cut) snprintf(why, sizeof why, "no data for %d ms (the idle timeout)", r->p.idle_timeout_ms);
            else snprintf(why, sizeof why, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
            retry = !x.delivered && retryable_curl(cc);
            st = hrt_err(HRT_E_IO, "remote %s: %s%s", r->url, why,
                         x.delivered ? " (the stream was cut after some of the answer)" : "");
        } else if (x.status != 200) {
            char words[256];
            error_words(&x.body, words, sizeof words);
            retry = retryable_status(x.status);
            snprintf(why, sizeof why, "HTTP %ld: %s", x.status, words);
            st = hrt_err(x.status == 401 || x.status == 403 ? HRT_E_INVALID : HRT_E_IO, "remote %s: %s%s", r->url, why,
                         x.status == 401 ? (key && *key ? " (the API key was refused)"
                                                        : " (no API key: set the environment variable named by "
                                                          "api_key_env)")
                                         : "");
        } else if (r->p.stream && !x.event_stream) {
            /* a server that ignored "stream": take the whole body */
            cJSON *j = x.body.p ? cJSON_Parse(x.body.p) : NULL;
            if (!cJSON_IsObject(j)) st = parse_fail(&x, HRT_E_FORMAT, "the response is not JSON", x.body.p);
            else st = take_object(&x, j, 0, x.body.p);
            cJSON_Delete(j);
            x.done = 1;
        } else if (!r->p.stream) {
            cJSON *j = x.body.p ? cJSON_Parse(x.body.p) : NULL;
            if (!cJSON_IsObject(j)) st = parse_fail(&x, HRT_E_FORMAT, "the response is not JSON", x.body.p);
            else st = take_object(&x, j, 0, x.body.p);
            cJSON_Delete(j);
            x.done = 1;
        } else if (!x.done) {
            retry = !x.delivered;
            st = hrt_err(HRT_E_IO, "remote %s: the stream ended before \"data: [DONE]\"%s", r->url,
                         x.delivered ? " (cut after some of the answer)" : "");
            snprintf(why, sizeof why, "the stream ended early");
        }
        if (!st || !retry || attempt >= r->p.retries) break;
        double wait = x.retry_after_s >= 0 ? x.retry_after_s * 1000 : backoff;
        if (wait > 30000) wait = 30000;
        if (r->p.timeout_ms > 0 && now_ms() - t0 + wait >= r->p.timeout_ms) break; /* no time left for another */
        hrt_log(HRT_LOG_WARN, "remote %s: %s; retrying in %.0f ms (%d of %d)", r->url, why, wait, attempt + 1,
                r->p.retries);
        for (double slept = 0; slept < wait && !(cancel && atomic_load(cancel)); slept += 50)
            sleep_ms(wait - slept < 50 ? wait - slept : 50);
        if (cancel && atomic_load(cancel)) {
            st = hrt_err(HRT_E_CANCELLED, "remote %s: cancelled", r->url);
            break;
        }
        backoff *= 2;
    }
    if (st && attempt > 0) hrt_err_prefix(st, "after %d attempts", attempt + 1);
    if (usage) {
        usage->prompt_tokens = x.prompt_tokens;
        usage->generated_tokens = x.completion_tokens ? x.completion_tokens : x.chunks;
        usage->stop_reason = x.stopped ? HRT_STOP_CALLBACK : x.finish_length ? HRT_STOP_LENGTH : HRT_STOP_EOS;
        usage->t_generate_ms = now_ms() - t0;
    }
    if (text && (!st || x.delivered)) {
        if (!x.text.p) strbuf_put(&x.text, "", 0);
        *text = x.text.p;
        x.text.p = NULL;
    }
    free(x.body.p), free(x.text.p);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    free(body);
    return st;
}
#endif

int hrt_remote_chat(hrt_remote *r, const hrt_chat_msg *msgs, size_t n, const hrt_generate_params *params, char **text,
                    hrt_usage *usage)
{
    return remote_chat(r, msgs, n, params, text, usage, NULL);
}
