/* The remote model (agent/remote.c) against a real HTTP server on
 * loopback, started here: one thread per connection, each answering from
 * a script of responses (status, headers, body, pieces and pauses, a cut).
 * Checked: a streamed answer and its usage, the request sent (model,
 * messages, stream, API key from the environment), a non-streamed answer,
 * 429 with Retry-After and 500 retried then answered, retries exhausted,
 * a refused connection, 401 not retried, malformed JSON in a body and in
 * an event, an error event, a stream cut after some text (not retried;
 * the text kept) and before any (retried), a silent server (the idle
 * timeout), the caller stopping the stream; then the agent's full path on
 * the remote model (with the default models; skipped without them). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hrt.h"
#include "test.h"

#ifndef HRT_WITH_CURL
int main(void) { test_skip("built without libcurl"); }
#else

/* ---- the server --------------------------------------------------------------------- */
typedef struct {
    int status;
    const char *type;        /* Content-Type (NULL: application/json) */
    const char *headers;     /* extra header lines, each ending in \r\n */
    const char *body;
    size_t piece;            /* send the body in pieces of this many bytes (0: at once) */
    int pause_ms;            /* before each piece; without pieces, before the headers */
    size_t cut;              /* close after this many body bytes (0: send it all) */
} response;

#define MAX_SCRIPT 8
static struct {
    pthread_mutex_t mu;
    response script[MAX_SCRIPT];
    int n_script;
    atomic_int hits;
    char last_request[16384];
    int port;
    int fd;
    atomic_int stop;
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void script(int n, const response *r)
{
    pthread_mutex_lock(&srv.mu);
    for (int i = 0; i < n; i++) srv.script[i] = r[i];
    srv.n_script = n;
    atomic_store(&srv.hits, 0);
    srv.last_request[0] = 0;
    pthread_mutex_unlock(&srv.mu);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return -1;
        p += k, n -= (size_t)k;
    }
    return 0;
}

static void *serve_one(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[16384];
    size_t n = 0;
    /* the request: headers, then Content-Length bytes of body */
    for (;;) {
        ssize_t k = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (k <= 0) break;
        n += (size_t)k;
        req[n] = 0;
        char *end = strstr(req, "\r\n\r\n");
        if (!end) continue;
        char *cl = strcasestr(req, "content-length:");
        size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
        if ((size_t)(req + n - (end + 4)) >= want || n == sizeof req - 1) break;
    }
    int hit = atomic_fetch_add(&srv.hits, 1);
    pthread_mutex_lock(&srv.mu);
    memcpy(srv.last_request, req, n + 1);
    response r = srv.script[hit < srv.n_script ? hit : srv.n_script - 1];
    pthread_mutex_unlock(&srv.mu);
    if (r.pause_ms && !r.piece) sleep_ms(r.pause_ms); /* pieces: the pauses fall between them */
    char head[1024];
    size_t blen = strlen(r.body);
    int sse = r.type && strstr(r.type, "event-stream");
    int hl = snprintf(head, sizeof head, "HTTP/1.1 %d Test\r\nContent-Type: %s\r\n%s%s", r.status,
                      r.type ? r.type : "application/json", r.headers ? r.headers : "", "Connection: close\r\n");
    if (!sse) hl += snprintf(head + hl, sizeof head - (size_t)hl, "Content-Length: %zu\r\n", blen);
    hl += snprintf(head + hl, sizeof head - (size_t)hl, "\r\n");
    int ok = send_all(fd, head, (size_t)hl) == 0;
    size_t limit = r.cut ? r.cut : blen, sent = 0, piece = r.piece ? r.piece : blen;
    while (ok && sent < limit) {
        size_t k = limit - sent < piece ? limit - sent : piece;
        if (r.piece && r.pause_ms) sleep_ms(r.pause_ms);
        ok = send_all(fd, r.body + sent, k) == 0;
        sent += k;
    }
    close(fd);
    return NULL;
}

static void *server(void *arg)
{
    (void)arg;
    while (!atomic_load(&srv.stop)) {
        struct pollfd p = {srv.fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        int c = accept(srv.fd, NULL, NULL);
        if (c < 0) continue;
        pthread_t t;
        if (pthread_create(&t, NULL, serve_one, (void *)(intptr_t)c) == 0) pthread_detach(t);
        else close(c);
    }
    return NULL;
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 16) ||
        getsockname(fd, (struct sockaddr *)&a, &len)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---- the client ------------------------------------------------------------------------ */
#define SSE "text/event-stream"
#define CHUNK(text) "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" text "\"},\"finish_reason\":null}]}\n\n"
#define FINISH(reason) "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"" reason "\"}]}\n\n"
#define USAGE "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}\n\n"
#define DONE "data: [DONE]\n\n"
static const char *const STREAM_OK = ": a comment line\n\n" CHUNK("Hel") CHUNK("lo") CHUNK(" world") FINISH("stop") USAGE DONE;

static char url[128];

typedef struct {
    char text[1024];
    int pieces;
    int stop_at;             /* return 1 at this piece (0: never) */
} heard;

static int on_piece(const char *p, size_t n, int32_t id, void *ud)
{
    heard *h = ud;
    size_t len = strlen(h->text);
    if (len + n < sizeof h->text) memcpy(h->text + len, p, n), h->text[len + n] = 0;
    h->pieces++;
    return id == -1 && h->stop_at && h->pieces == h->stop_at;
}

static const hrt_chat_msg MSGS[] = {{"system", "You answer briefly."}, {"user", "Say \"hello\"."}};

static int chat(hrt_remote *r, heard *h, char **text, hrt_usage *u)
{
    hrt_generate_params gp = hrt_generate_default_params();
    gp.max_tokens = 32;
    if (h) gp.on_token = on_piece, gp.user_data = h;
    return hrt_remote_chat(r, MSGS, 2, &gp, text, u);
}

static hrt_remote *open_remote(int stream, int retries)
{
    hrt_remote_params p = hrt_remote_default_params();
    p.url = url;
    p.model = "test-model";
    p.api_key_env = "HRT_TEST_API_KEY";
    p.stream = stream;
    p.retries = retries;
    p.backoff_ms = 20;
    p.idle_timeout_ms = 1000;
    p.timeout_ms = 10000;
    hrt_remote *r = NULL;
    CHECK_STATUS(hrt_remote_open(&p, &r), 0);
    return r;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_stream(void)
{
    hrt_remote *r = open_remote(1, 3);
    if (!r) return;
    setenv("HRT_TEST_API_KEY", "sk-test-123", 1);
    script(1, &(response){200, SSE, NULL, STREAM_OK, 24, 5, 0});
    heard h = {0};
    char *text = NULL;
    hrt_usage u;
    CHECK_STATUS(chat(r, &h, &text, &u), 0);
    CHECK_MSG(text && !strcmp(text, "Hello world"), "text '%s'", text ? text : "(null)");
    CHECK(!strcmp(h.text, "Hello world") && h.pieces == 3);
    CHECK(u.prompt_tokens == 12 && u.generated_tokens == 3 && u.stop_reason == HRT_STOP_EOS);
    CHECK(atomic_load(&srv.hits) == 1);
    /* what was sent */
    const char *req = srv.last_request;
    CHECK(!strncmp(req, "POST /v1/chat/completions HTTP/1.1", 34));
    CHECK(strstr(req, "Authorization: Bearer sk-test-123\r\n") != NULL);
    CHECK(strstr(req, "\"model\":\"test-model\"") && strstr(req, "\"stream\":true") &&
          strstr(req, "\"max_tokens\":32") && strstr(req, "\"include_usage\":true"));
    CHECK(strstr(req, "{\"role\":\"user\",\"content\":\"Say \\\"hello\\\".\"}") != NULL);
    hrt_free(text);
    /* no key in the environment: no Authorization header */
    unsetenv("HRT_TEST_API_KEY");
    script(1, &(response){200, SSE, NULL, STREAM_OK, 0, 0, 0});
    CHECK_STATUS(chat(r, NULL, &text, NULL), 0);
    CHECK(!strstr(srv.last_request, "Authorization:"));
    hrt_free(text);
    /* the caller stops the stream at the second piece */
    script(1, &(response){200, SSE, NULL, STREAM_OK, 0, 0, 0});
    heard stop = {.stop_at = 2};
    CHECK_STATUS(chat(r, &stop, &text, &u), 0);
    CHECK_MSG(text && !strcmp(text, "Hello") && u.stop_reason == HRT_STOP_CALLBACK, "'%s' stop %d", text,
              u.stop_reason);
    hrt_free(text);
    /* finish_reason "length" */
    script(1, &(response){200, SSE, NULL, CHUNK("cut") FINISH("length") DONE, 0, 0, 0});
    CHECK_STATUS(chat(r, NULL, &text, &u), 0);
    CHECK(u.stop_reason == HRT_STOP_LENGTH && u.generated_tokens == 1); /* no usage: pieces counted */
    hrt_free(text);
    hrt_remote_free(r);
}

static void test_plain_json(void)
{
    hrt_remote *r = open_remote(0, 0);
    if (!r) return;
    script(1, &(response){200, NULL, NULL,
                          "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                          "\"assistant\",\"content\":\"Hi there.\"},\"finish_reason\":\"stop\"}],\"usage\":{"
                          "\"prompt_tokens\":9,\"completion_tokens\":4}}",
                          0, 0, 0});
    heard h = {0};
    char *text = NULL;
    hrt_usage u;
    CHECK_STATUS(chat(r, &h, &text, &u), 0);
    CHECK(text && !strcmp(text, "Hi there.") && !strcmp(h.text, "Hi there."));
    CHECK(u.prompt_tokens == 9 && u.generated_tokens == 4);
    CHECK(strstr(srv.last_request, "\"stream\":false") != NULL);
    hrt_free(text);
    /* malformed JSON */
    script(1, &(response){200, NULL, NULL, "{\"choices\": [ {not json", 0, 0, 0});
    CHECK_STATUS(chat(r, NULL, &text, NULL), HRT_E_FORMAT);
    CHECK_MSG(strstr(hrt_last_error(), "the response is not JSON") && strstr(hrt_last_error(), url), "%s",
              hrt_last_error());
    CHECK(text == NULL);
    /* JSON, but not a chat completion */
    script(1, &(response){200, NULL, NULL, "{\"result\": \"hi\"}", 0, 0, 0});
    CHECK_STATUS(chat(r, NULL, &text, NULL), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), "no \"choices\"") != NULL);
    hrt_remote_free(r);
}

static void test_retries(void)
{
    hrt_remote *r = open_remote(1, 3);
    if (!r) return;
    char *text = NULL;
    /* 429 with Retry-After, then 500, then the answer */
    script(3, (response[]){{429, NULL, "Retry-After: 0\r\n", "{\"error\":{\"message\":\"slow down\"}}", 0, 0, 0},
                           {500, NULL, NULL, "{\"error\":{\"message\":\"oops\"}}", 0, 0, 0},
                           {200, SSE, NULL, STREAM_OK, 0, 0, 0}});
    CHECK_STATUS(chat(r, NULL, &text, NULL), 0);
    CHECK(text && !strcmp(text, "Hello world") && atomic_load(&srv.hits) == 3);
    hrt_free(text);
    /* a stream closed before any text: retried */
    script(2, (response[]){{200, SSE, NULL, ": nothing yet\n\n", 0, 0, 0}, {200, SSE, NULL, STREAM_OK, 0, 0, 0}});
    CHECK_STATUS(chat(r, NULL, &text, NULL), 0);
    CHECK(text && !strcmp(text, "Hello world") && atomic_load(&srv.hits) == 2);
    hrt_free(text);
    hrt_remote_free(r);
    /* retries exhausted: 1 + 2 attempts, the server's words quoted */
    r = open_remote(1, 2);
    if (!r) return;
    script(1, &(response){503, NULL, NULL, "{\"error\":{\"message\":\"the model is overloaded\"}}", 0, 0, 0});
    CHECK_STATUS(chat(r, NULL, &text, NULL), HRT_E_IO);
    const char *e = hrt_last_error();
    CHECK_MSG(strstr(e, "after 3 attempts") && strstr(e, "HTTP 503") && strstr(e, "the model is overloaded"), "%s", e);
    CHECK(atomic_load(&srv.hits) == 3 && text == NULL);
    /* 401: not retried, the key named */
    script(1, &(response){401, NULL, NULL, "{\"error\":{\"message\":\"Incorrect API key provided\"}}", 0, 0, 0});
    CHECK_STATUS(chat(r, NULL, &text, NULL), HRT_E_INVALID);
    CHECK_MSG(strstr(hrt_last_error(), "HTTP 401") && strstr(hrt_last_error(), "Incorrect API key") &&
              strstr(hrt_last_error(), "no API key"), "%s", hrt_last_error());
    CHECK(atomic_load(&srv.hits) == 1);
    /* 400: the request is wrong, not retried */
    script(1, &(response){400, NULL, NULL, "not json at all", 0, 0, 0});
    CHECK_STATUS(chat(r, NULL, &text, NULL), HRT_E_IO);
    CHECK(strstr(hrt_last_error(), "HTTP 400: not json at all") && atomic_load(&srv.hits) == 1);
    hrt_remote_free(r);
}

static void test_broken_streams(void)
{
    hrt_remote *r = open_remote(1, 3);
    if (!r) return;
    char *text = NULL;
    heard h = {0};
    /* cut after two pieces: not retried (they reached the caller), the text kept */
    script(1, &(response){200, SSE, NULL, STREAM_OK, 0, 0, strlen(": a comment line\n\n" CHUNK("Hel") CHUNK("lo"))});
    CHECK_STATUS(chat(r, &h, &text, NULL), HRT_E_IO);
    CHECK_MSG(strstr(hrt_last_error(), "ended before \"data: [DONE]\"") && strstr(hrt_last_error(), "cut after some"),
              "%s", hrt_last_error());
    CHECK(text && !strcmp(text, "Hello") && !strcmp(h.text, "Hello") && atomic_load(&srv.hits) == 1);
    hrt_free(text);
    text = NULL;
    /* cut in the middle of an event */
    script(1, &(response){200, SSE, NULL, STREAM_OK, 0, 0, strlen(": a comment line\n\n" CHUNK("Hel")) + 20});
    CHECK_STATUS(chat(r, NULL, &text, NULL), HRT_E_IO);
    CHECK(text && !strcmp(text, "Hel"));
    hrt_free(text);
    text = NULL;
    /* an event that is not JSON */
    script(1, &(response){200, SSE, NULL, CHUNK("ok") "data: {oops\n\n" DONE, 0, 0, 0});
    CHECK_STATUS(chat(r, NULL, &text, NULL), HRT_E_FORMAT);
    CHECK_MSG(strstr(hrt_last_error(), "an event of the stream is not a JSON object: {oops"), "%s", hrt_last_error());
    hrt_free(text);
    text = NULL;
    /* an error event */
    script(1, &(response){200, SSE, NULL, "data: {\"error\":{\"message\":\"context length exceeded\"}}\n\n", 0, 0, 0});
    CHECK_STATUS(chat(r, NULL, &text, NULL), HRT_E_IO);
    CHECK(strstr(hrt_last_error(), "context length exceeded") != NULL);
    hrt_free(text);
    text = NULL;
    hrt_remote_free(r);
    /* a server silent after its headers: cut by the idle timeout (1 s), never a hang */
    r = open_remote(1, 0);
    if (!r) return;
    script(1, &(response){200, SSE, NULL, CHUNK("late") DONE, 4, 3000, 0});
    double t0 = now_s();
    CHECK_STATUS(chat(r, NULL, &text, NULL), HRT_E_IO);
    double dt = now_s() - t0;
    CHECK_MSG(dt < 2.9, "the idle timeout took %.2f s", dt);
    CHECK_MSG(strstr(hrt_last_error(), "no data for 1000 ms (the idle timeout)"), "%s", hrt_last_error());
    hrt_free(text);
    hrt_remote_free(r);
}

static void test_deadlines(void)
{
    char *text = NULL;
    /* a non-streamed answer that takes longer than the idle timeout: not cut */
    hrt_remote *r = open_remote(0, 0);
    if (!r) return;
    script(1, &(response){200, NULL, NULL,
                          "{\"choices\":[{\"index\":0,\"message\":{\"content\":\"slow\"},\"finish_reason\":\"stop\"}]}",
                          0, 1600, 0});
    CHECK_STATUS(chat(r, NULL, &text, NULL), 0);
    CHECK(text && !strcmp(text, "slow"));
    hrt_free(text);
    text = NULL;
    hrt_remote_free(r);
    /* timeout_ms bounds the whole call: 500s answered after 400 ms each, 1.5 s in all, 20 retries allowed */
    hrt_remote_params p = hrt_remote_default_params();
    p.url = url;
    p.retries = 20;
    p.backoff_ms = 100;
    p.timeout_ms = 1500;
    CHECK_STATUS(hrt_remote_open(&p, &r), 0);
    if (!r) return;
    script(1, &(response){500, NULL, NULL, "{\"error\":{\"message\":\"busy\"}}", 0, 400, 0});
    double t0 = now_s();
    CHECK_STATUS(hrt_remote_chat(r, MSGS, 2, NULL, &text, NULL), HRT_E_IO);
    double dt = now_s() - t0;
    CHECK_MSG(dt < 2.2 && atomic_load(&srv.hits) <= 4, "%.2f s, %d attempts", dt, atomic_load(&srv.hits));
    hrt_remote_free(r);
}

static void test_refused(void)
{
    int port = 0, fd = listen_loopback(&port);
    close(fd); /* nothing listens there now */
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/v1/chat/completions", port);
    hrt_remote_params p = hrt_remote_default_params();
    p.url = u;
    p.retries = 2;
    p.backoff_ms = 10;
    hrt_remote *r = NULL;
    CHECK_STATUS(hrt_remote_open(&p, &r), 0);
    char *text = NULL;
    double t0 = now_s();
    CHECK_STATUS(hrt_remote_chat(r, MSGS, 2, NULL, &text, NULL), HRT_E_IO);
    CHECK(now_s() - t0 < 5);
    CHECK_MSG(strstr(hrt_last_error(), "after 3 attempts") && strstr(hrt_last_error(), u) &&
              (strstr(hrt_last_error(), "onnect") || strstr(hrt_last_error(), "refused")), "%s", hrt_last_error());
    CHECK(text == NULL);
    hrt_remote_free(r);
    /* bad parameters */
    p.url = "ftp://example.invalid/";
    CHECK_STATUS(hrt_remote_open(&p, &r), HRT_E_INVALID);
    p.url = NULL;
    CHECK_STATUS(hrt_remote_open(&p, &r), HRT_E_INVALID);
    CHECK(r == NULL);
    hrt_remote_free(NULL);
}

#if defined(HRT_WITH_RETRIEVAL) && defined(HRT_WITH_MEMORY)
static void *cancel_later(void *agent)
{
    sleep_ms(300);
    hrt_agent_cancel(agent, NULL);
    return NULL;
}
#endif

/* The agent's full path on the remote model: what it sends, and how the
 * streamed reply becomes the answer. */
static void test_agent(void)
{
#if defined(HRT_WITH_RETRIEVAL) && defined(HRT_WITH_MEMORY)
    char lp[512], ep[512], pp[512];
    snprintf(lp, sizeof lp, "%s/models/smollm2-135m-instruct-q4_1.gguf", HRT_SOURCE_DIR);
    snprintf(ep, sizeof ep, "%s/models/all-minilm-l6-v2", HRT_SOURCE_DIR);
    snprintf(pp, sizeof pp, "%s/prompts", HRT_SOURCE_DIR);
    if (access(lp, R_OK) || access(ep, R_OK)) {
        printf("default models absent: the agent on a remote model is not checked\n");
        return;
    }
    hrt_model_params mp = hrt_model_default_params();
    hrt_model *light = NULL;
    CHECK_STATUS(hrt_model_open(lp, &mp, &light), 0);
    hrt_remote *r = open_remote(1, 1);
    hrt_agent_params ap = hrt_agent_default_params();
    ap.light_model = light;
    ap.full_remote = r;
    ap.prompts_dir = pp;
    hrt_agent *a = NULL;
    if (light && r) CHECK_STATUS(hrt_agent_open(&ap, &a), 0);
    if (a) {
        script(1, &(response){200, SSE, NULL,
                              CHUNK("Multiply 6 by 7.") CHUNK(" Final answer:") CHUNK(" 42") CHUNK("\\n\\nMore text.")
                                  FINISH("stop") USAGE DONE,
                              0, 0, 0});
        hrt_ask_params q = hrt_ask_default_params();
        q.path = HRT_PATH_FULL;
        hrt_agent_result res;
        const char *question = "What is six times seven?";
        CHECK_STATUS(hrt_agent_ask(a, NULL, question, strlen(question), &q, &res), 0);
        CHECK(res.path == HRT_PATH_FULL);
        CHECK_MSG(res.answer && !strcmp(res.answer, "42"), "answer '%s'", res.answer ? res.answer : "(null)");
        CHECK(res.thinking && !strcmp(res.thinking, "Multiply 6 by 7."));
        /* stopped once the answer was complete, before the usage event: pieces counted, the prompt
         * counted locally */
        CHECK_MSG(res.stage[HRT_STAGE_FULL].generated_tokens == 4 && res.stage[HRT_STAGE_FULL].prompt_tokens > 20 &&
                  res.saved.answer_done == 400 - 4, "generated %d, prompt %d, saved %d",
                  res.stage[HRT_STAGE_FULL].generated_tokens, res.stage[HRT_STAGE_FULL].prompt_tokens,
                  res.saved.answer_done);
        CHECK(strstr(srv.last_request, "What is six times seven?") && strstr(srv.last_request, "\"role\":\"system\""));
        hrt_agent_result_clear(&res);
        /* cancelled while the server has not answered yet: back within about a second */
        script(1, &(response){200, SSE, NULL, CHUNK("late") DONE, 0, 4000, 0});
        pthread_t ct;
        pthread_create(&ct, NULL, cancel_later, a);
        double t0 = now_s();
        CHECK_STATUS(hrt_agent_ask(a, NULL, question, strlen(question), &q, &res), HRT_E_CANCELLED);
        CHECK_MSG(now_s() - t0 < 2.0, "cancelling took %.2f s", now_s() - t0);
        pthread_join(ct, NULL);
        hrt_agent_result_clear(&res);
        /* the server fails: the ask fails with its message */
        script(1, &(response){500, NULL, NULL, "{\"error\":{\"message\":\"down for maintenance\"}}", 0, 0, 0});
        CHECK_STATUS(hrt_agent_ask(a, NULL, question, strlen(question), &q, &res), HRT_E_IO);
        CHECK(strstr(hrt_last_error(), "down for maintenance") != NULL);
        hrt_agent_free(a);
    }
    hrt_remote_free(r);
    hrt_model_free(light);
#endif
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    srv.fd = listen_loopback(&srv.port);
    if (srv.fd < 0) test_skip("cannot listen on 127.0.0.1");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", srv.port);
    pthread_t t;
    pthread_create(&t, NULL, server, NULL);
    test_stream();
    test_plain_json();
    test_retries();
    test_broken_streams();
    test_deadlines();
    test_refused();
    test_agent();
    atomic_store(&srv.stop, 1);
    pthread_join(t, NULL);
    close(srv.fd);
    sleep_ms(100); /* connection threads still writing to a cut client finish */
    return test_finish();
}
#endif
