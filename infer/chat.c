/* Chat templates. hrt does not run Jinja: it recognises the template
 * families by their markers and renders them in C.
 *   ChatML (SmolLM2, Qwen):  <|im_start|>ROLE\nCONTENT<|im_end|>\n
 *   Llama 3:                 <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>
 *   Gemma:                   <start_of_turn>ROLE\nCONTENT<end_of_turn>\n (assistant -> model,
 *                            a system message is prepended to the first user turn)
 * A ChatML template that inserts a default system message when the
 * conversation has none (SmolLM2's does) gets that message from the
 * template text itself. The BOS token is not rendered: tokenization with
 * add_special adds it for models that want it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "error.h"

typedef struct {
    char *buf;
    size_t cap, len;
} out_buf;

static void put(out_buf *o, const char *s, size_t n)
{
    if (o->len < o->cap) {
        size_t k = o->cap - o->len < n ? o->cap - o->len : n;
        memcpy(o->buf + o->len, s, k);
    }
    o->len += n;
}

static void puts_(out_buf *o, const char *s) { put(o, s, strlen(s)); }

/* The default system message a ChatML template inserts, or NULL. */
static int chatml_default_system(const char *tpl, const char **s, size_t *n)
{
    if (!strstr(tpl, "!= 'system'") && !strstr(tpl, "!= \"system\"")) return 0;
    const char *m = strstr(tpl, "<|im_start|>system\n");
    if (!m) return 0;
    m += strlen("<|im_start|>system\n");
    const char *e = strstr(m, "<|im_end|>");
    if (!e || memchr(m, '{', (size_t)(e - m)) || memchr(m, '\'', (size_t)(e - m))) return 0;
    *s = m;
    *n = (size_t)(e - m);
    return 1;
}

int chat_family(const char *tpl)
{
    if (!tpl) return CHAT_NONE;
    if (strstr(tpl, "<|im_start|>")) return CHAT_CHATML;
    if (strstr(tpl, "<|start_header_id|>")) return CHAT_LLAMA3;
    if (strstr(tpl, "<start_of_turn>")) return CHAT_GEMMA;
    return CHAT_NONE;
}

/* Trims leading and trailing white space (Llama 3 and Gemma templates trim
 * message contents). */
static void trimmed(const char *s, const char **b, size_t *n)
{
    const char *e = s + strlen(s);
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r')) e--;
    *b = s;
    *n = (size_t)(e - s);
}

int chat_render(const char *tpl, const hrt_chat_msg *msgs, size_t n, int add_gen, char *buf, size_t cap)
{
    int fam = chat_family(tpl);
    out_buf o = {buf, cap, 0};
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content)
            return hrt_err(HRT_E_INVALID, "chat message %zu has no role or content", i);
    switch (fam) {
    case CHAT_CHATML: {
        const char *ds;
        size_t dn;
        if ((n == 0 || strcmp(msgs[0].role, "system")) && chatml_default_system(tpl, &ds, &dn)) {
            puts_(&o, "<|im_start|>system\n");
            put(&o, ds, dn);
            puts_(&o, "<|im_end|>\n");
        }
        for (size_t i = 0; i < n; i++) {
            puts_(&o, "<|im_start|>");
            puts_(&o, msgs[i].role);
            puts_(&o, "\n");
            puts_(&o, msgs[i].content);
            puts_(&o, "<|im_end|>\n");
        }
        if (add_gen) puts_(&o, "<|im_start|>assistant\n");
        break;
    }
    case CHAT_LLAMA3:
        for (size_t i = 0; i < n; i++) {
            const char *b;
            size_t k;
            trimmed(msgs[i].content, &b, &k);
            puts_(&o, "<|start_header_id|>");
            puts_(&o, msgs[i].role);
            puts_(&o, "<|end_header_id|>\n\n");
            put(&o, b, k);
            puts_(&o, "<|eot_id|>");
        }
        if (add_gen) puts_(&o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case CHAT_GEMMA: {
        const char *sys = NULL;
        size_t sys_n = 0, i = 0;
        if (n && !strcmp(msgs[0].role, "system")) {
            trimmed(msgs[0].content, &sys, &sys_n);
            i = 1;
        }
        for (; i < n; i++) {
            const char *b;
            size_t k;
            trimmed(msgs[i].content, &b, &k);
            puts_(&o, "<start_of_turn>");
            puts_(&o, !strcmp(msgs[i].role, "assistant") ? "model" : msgs[i].role);
            puts_(&o, "\n");
            if (sys) {
                put(&o, sys, sys_n);
                puts_(&o, "\n\n");
                sys = NULL;
            }
            put(&o, b, k);
            puts_(&o, "<end_of_turn>\n");
        }
        if (add_gen) puts_(&o, "<start_of_turn>model\n");
        break;
    }
    default:
        return hrt_err(HRT_E_UNSUPPORTED, tpl ? "the model's chat template is not one hrt knows "
                                                "(ChatML, Llama 3, Gemma)"
                                              : "the model has no chat template");
    }
    if (o.len < o.cap) buf[o.len] = 0;
    if (o.len > INT32_MAX) return hrt_err(HRT_E_RANGE, "rendered chat is too long");
    return (int)o.len;
}
