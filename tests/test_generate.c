/* Generation through the public API on the default chat model: chat
 * rendering, a coherent answer, stop strings, token limits, the streaming
 * callback, prefix reuse, cancellation from another thread, context limits
 * and bad arguments. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "hrt.h"
#include "test.h"

static hrt_model *model;

static char *render_user(const char *q)
{
    hrt_chat_msg msg = {"user", q};
    int n = hrt_chat_render(model, &msg, 1, 1, NULL, 0);
    char *buf = malloc((size_t)n + 1);
    CHECK(hrt_chat_render(model, &msg, 1, 1, buf, (size_t)n + 1) == n);
    return buf;
}

static void test_chat_render(void)
{
    char *p = render_user("Hi");
    /* SmolLM2's template inserts its default system message. */
    CHECK(!strcmp(p, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
                     "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
    free(p);
    hrt_chat_msg msgs[2] = {{"system", "Be brief."}, {"user", "Hi"}};
    char buf[256];
    int n = hrt_chat_render(model, msgs, 2, 0, buf, sizeof buf);
    CHECK(n > 0 && !strcmp(buf, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"));
    /* too small a buffer: the needed size comes back */
    char tiny[8];
    CHECK(hrt_chat_render(model, msgs, 2, 0, tiny, sizeof tiny) == n);
}

static void test_answer(hrt_model *m)
{
    hrt_session *s = NULL;
    CHECK_STATUS(hrt_session_open(m, NULL, &s), 0);
    char *p = render_user("What is the capital of France?");
    hrt_generate_params gp = hrt_generate_default_params();
    gp.max_tokens = 32;
    char *text = NULL;
    hrt_usage u;
    CHECK_STATUS(hrt_generate(s, p, strlen(p), &gp, &text, &u), 0);
    printf("answer: %s\n", text);
    CHECK(text && strstr(text, "Paris"));
    CHECK(u.stop_reason == HRT_STOP_EOS && u.generated_tokens > 0 && u.generated_tokens < 32);
    CHECK(u.prompt_tokens > 10 && u.cached_tokens == 0 && u.t_prompt_ms > 0);
    hrt_free(text);
    /* The same prompt again reuses all but its last token. */
    CHECK_STATUS(hrt_generate(s, p, strlen(p), &gp, &text, &u), 0);
    CHECK(u.cached_tokens == u.prompt_tokens - 1);
    CHECK(text && strstr(text, "Paris"));
    hrt_free(text);
    free(p);
    hrt_session_free(s);
}

typedef struct {
    int calls;
    size_t bytes;
    char seen[4096];
    int stop_after;
} cb_state;

static int on_token(const char *piece, size_t len, int32_t id, void *ud)
{
    cb_state *c = ud;
    c->calls++;
    if (c->bytes + len < sizeof c->seen) memcpy(c->seen + c->bytes, piece, len);
    c->bytes += len;
    c->seen[c->bytes < sizeof c->seen ? c->bytes : sizeof c->seen - 1] = 0;
    return c->stop_after && c->calls >= c->stop_after;
}

static void test_limits_and_stops(void)
{
    hrt_session *s = NULL;
    CHECK_STATUS(hrt_session_open(model, NULL, &s), 0);
    const char *prompt = "One, two, three, four, five, six,";
    hrt_generate_params gp = hrt_generate_default_params();
    gp.max_tokens = 5;
    char *text = NULL;
    hrt_usage u;
    cb_state cb = {0};
    gp.on_token = on_token;
    gp.user_data = &cb;
    CHECK_STATUS(hrt_generate(s, prompt, strlen(prompt), &gp, &text, &u), 0);
    CHECK(u.generated_tokens == 5 && u.stop_reason == HRT_STOP_LENGTH);
    /* the streamed pieces add up to the returned text */
    CHECK(text && cb.bytes == strlen(text) && !strcmp(cb.seen, text));
    printf("counting: '%s'\n", text);
    hrt_free(text);

    /* A stop string ends generation and is not part of the text. */
    gp.max_tokens = 40;
    const char *stops[] = {"nine"};
    gp.stop = stops;
    gp.n_stop = 1;
    memset(&cb, 0, sizeof cb);
    CHECK_STATUS(hrt_generate(s, prompt, strlen(prompt), &gp, &text, &u), 0);
    CHECK(u.stop_reason == HRT_STOP_STRING && text && !strstr(text, "nine") && strstr(text, "eight"));
    CHECK(!strcmp(cb.seen, text));
    printf("stopped: '%s'\n", text);
    hrt_free(text);

    /* The callback can stop generation. */
    gp.n_stop = 0;
    memset(&cb, 0, sizeof cb);
    cb.stop_after = 3;
    CHECK_STATUS(hrt_generate(s, prompt, strlen(prompt), &gp, &text, &u), 0);
    CHECK(u.stop_reason == HRT_STOP_CALLBACK && cb.calls == 3);
    hrt_free(text);

    /* Seeded sampling repeats itself; another seed (almost surely) not. */
    gp.on_token = NULL;
    gp.max_tokens = 24;
    gp.sampling.temperature = 1.0f;
    gp.sampling.top_k = 0;
    gp.sampling.top_p = 1.0f;
    gp.sampling.min_p = 0;
    char *a = NULL, *b = NULL, *c = NULL;
    const char *open = "Once upon a time";
    CHECK_STATUS(hrt_generate(s, open, strlen(open), &gp, &a, NULL), 0);
    CHECK_STATUS(hrt_generate(s, open, strlen(open), &gp, &b, NULL), 0);
    gp.sampling.seed = 12345;
    CHECK_STATUS(hrt_generate(s, open, strlen(open), &gp, &c, NULL), 0);
    CHECK(a && b && c && !strcmp(a, b) && strcmp(a, c));
    hrt_free(a);
    hrt_free(b);
    hrt_free(c);
    hrt_session_free(s);
}

/* The canceller waits until the generation has streamed tokens, so the
 * test does not depend on how fast the machine is. */
typedef struct {
    hrt_session *s;
    _Atomic int tokens, done;
} cancel_state;

static int count_tokens(const char *piece, size_t len, int32_t id, void *ud)
{
    (void)piece, (void)len, (void)id;
    atomic_fetch_add(&((cancel_state *)ud)->tokens, 1);
    return 0;
}

static void *cancel_later(void *p)
{
    cancel_state *c = p;
    while (atomic_load(&c->tokens) < 3 && !atomic_load(&c->done)) usleep(1000);
    hrt_session_cancel(c->s);
    return NULL;
}

static void test_cancel_and_context(void)
{
    hrt_session_params sp = hrt_session_default_params();
    sp.n_ctx = 64;
    hrt_session *s = NULL;
    CHECK_STATUS(hrt_session_open(model, &sp, &s), 0);
    /* Unbounded generation in a 64-token context stops at the context. */
    hrt_generate_params gp = hrt_generate_default_params();
    gp.max_tokens = 0;
    gp.sampling.repeat_penalty = 1.3f; /* keep it talking */
    hrt_usage u;
    const char *prompt = "Write a long story about a dragon.";
    CHECK_STATUS(hrt_generate(s, prompt, strlen(prompt), &gp, NULL, &u), 0);
    CHECK_MSG(u.stop_reason == HRT_STOP_CONTEXT || u.stop_reason == HRT_STOP_EOS, "stop %d", u.stop_reason);
    CHECK(hrt_session_n_past(s) <= 64);
    /* A prompt longer than the context is refused. */
    char longp[2048];
    for (int i = 0; i < 200; i++) memcpy(longp + i * 6, "hello ", 6);
    longp[1200] = 0;
    CHECK_STATUS(hrt_generate(s, longp, strlen(longp), &gp, NULL, &u), HRT_E_RANGE);
    /* eval past the end is refused and leaves the session as it was */
    int32_t ids[80];
    for (int i = 0; i < 80; i++) ids[i] = 100 + i;
    hrt_session_reset(s);
    CHECK_STATUS(hrt_session_eval(s, ids, 80, NULL), HRT_E_RANGE);
    CHECK(hrt_session_n_past(s) == 0);
    int32_t bad_id = 1 << 30;
    CHECK_STATUS(hrt_session_eval(s, &bad_id, 1, NULL), HRT_E_INVALID);
    CHECK(strstr(hrt_last_error(), "vocabulary") != NULL);
    hrt_session_free(s);

    /* Cancellation from another thread, in the middle of a long answer. */
    CHECK_STATUS(hrt_session_open(model, NULL, &s), 0);
    char *story = render_user("Write a long story about a dragon who learns to paint. Use at least 600 words.");
    cancel_state cs = {s, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, cancel_later, &cs);
    gp.max_tokens = 100000;
    gp.on_token = count_tokens;
    gp.user_data = &cs;
    CHECK_STATUS(hrt_generate(s, story, strlen(story), &gp, NULL, &u), 0);
    atomic_store(&cs.done, 1);
    pthread_join(th, NULL);
    CHECK_MSG(u.stop_reason == HRT_STOP_CANCELLED && u.generated_tokens > 0, "stop %d after %d tokens",
              u.stop_reason, u.generated_tokens);
    printf("cancelled after %d tokens\n", u.generated_tokens);
    free(story);
    hrt_session_free(s);
}

/* hrt_session_eval_argmax equals the argmax of hrt_session_eval's logits,
 * step after step. */
static void test_eval_argmax(void)
{
    hrt_session *a = NULL, *b = NULL;
    CHECK_STATUS(hrt_session_open(model, NULL, &a), 0);
    CHECK_STATUS(hrt_session_open(model, NULL, &b), 0);
    hrt_model_info info;
    hrt_model_info_get(model, &info);
    float *lg = malloc((size_t)info.n_vocab * sizeof *lg);
    int32_t ids[3] = {504, 2365, 6354}, na = 0, nb = 0, same = 1;
    CHECK_STATUS(hrt_session_eval(a, ids, 3, lg), 0);
    CHECK_STATUS(hrt_session_eval_argmax(b, ids, 3, &nb), 0);
    for (int k = 0; k < 10; k++) {
        na = 0;
        for (int i = 1; i < info.n_vocab; i++)
            if (lg[i] > lg[na]) na = i;
        same &= na == nb;
        CHECK_STATUS(hrt_session_eval(a, &na, 1, lg), 0);
        CHECK_STATUS(hrt_session_eval_argmax(b, &nb, 1, &nb), 0);
    }
    CHECK(same);
    CHECK_STATUS(hrt_session_eval_argmax(b, ids, 1, NULL), HRT_E_INVALID);
    free(lg);
    hrt_session_free(a);
    hrt_session_free(b);
}

static void test_bad_args(void)
{
    hrt_model *m = (hrt_model *)1;
    CHECK_STATUS(hrt_model_open(NULL, NULL, &m), HRT_E_INVALID);
    CHECK(m == NULL);
    CHECK_STATUS(hrt_session_open(NULL, NULL, NULL), HRT_E_INVALID);
    hrt_model_free(NULL);
    hrt_session_free(NULL);
    int32_t ids[4];
    CHECK(hrt_tokenize(model, "hello", 5, 0, 0, ids, 4) == 1);
    /* decode of an id out of range fails */
    int32_t bad = -3;
    char out[16];
    CHECK(hrt_detokenize(model, &bad, 1, out, sizeof out) < 0);
    float f;
    CHECK(hrt_embed(model, NULL, NULL, 1, &f) < 0);
}

int main(void)
{
    char mpath[1024];
    test_model_path("smollm2-135m-instruct-q4_1.gguf", mpath, sizeof mpath);
    CHECK_STATUS(hrt_model_open(mpath, NULL, &model), 0);
    if (!model) return test_finish();
    test_chat_render();
    test_answer(model);
    test_limits_and_stops();
    test_cancel_and_context();
    test_eval_argmax();
    test_bad_args();
    hrt_model_free(model);
    return test_finish();
}
