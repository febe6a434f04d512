/* Chat templates: family recognition from real templates' text and the
 * exact rendering of each family (ChatML with and without a default system
 * message, Llama 3, Gemma), plus the refusals. */
#include "chat.h"
#include "test.h"

static const char *SMOL =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' "
    "}}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
static const char *LLAMA3 =
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";
static const char *GEMMA =
    "{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim "
    "+ '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

static void expect(const char *tpl, const hrt_chat_msg *m, size_t n, int gen, const char *want)
{
    char buf[1024];
    int len = chat_render(tpl, m, n, gen, buf, sizeof buf);
    CHECK_MSG(len == (int)strlen(want) && !strcmp(buf, want), "rendered:\n%s\nwanted:\n%s", len >= 0 ? buf : "(error)",
              want);
}

int main(void)
{
    CHECK(chat_family(SMOL) == CHAT_CHATML && chat_family(LLAMA3) == CHAT_LLAMA3 && chat_family(GEMMA) == CHAT_GEMMA);
    CHECK(chat_family(NULL) == CHAT_NONE && chat_family("{{ messages }}") == CHAT_NONE);
    hrt_chat_msg conv[3] = {{"system", "Be brief."}, {"user", "  Hi there \n"}, {"assistant", "Hello."}};
    /* ChatML: a default system message only when the conversation has none */
    expect(SMOL, conv + 1, 1, 1,
           "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
           "<|im_start|>user\n  Hi there \n<|im_end|>\n<|im_start|>assistant\n");
    expect(SMOL, conv, 3, 0,
           "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n  Hi there \n<|im_end|>\n"
           "<|im_start|>assistant\nHello.<|im_end|>\n");
    expect("{{'<|im_start|>' + message['role']}}", conv + 1, 1, 1,
           "<|im_start|>user\n  Hi there \n<|im_end|>\n<|im_start|>assistant\n");
    /* Llama 3: trimmed contents, no BOS (tokenization adds it) */
    expect(LLAMA3, conv, 3, 1,
           "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\n");
    /* Gemma: the system message joins the first user turn; assistant is "model" */
    expect(GEMMA, conv, 3, 1,
           "<start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
           "<start_of_turn>model\n");
    /* size query: too small a buffer gets the needed size and no overrun */
    char small[10];
    memset(small, 'x', sizeof small);
    int need = chat_render(LLAMA3, conv, 2, 1, small, 5);
    CHECK(need > 5 && small[5] == 'x');
    /* refusals */
    CHECK(chat_render("{{ messages }}", conv, 1, 1, small, sizeof small) == HRT_E_UNSUPPORTED);
    CHECK(chat_render(NULL, conv, 1, 1, small, sizeof small) == HRT_E_UNSUPPORTED);
    hrt_chat_msg bad = {NULL, "x"};
    CHECK(chat_render(SMOL, &bad, 1, 1, small, sizeof small) == HRT_E_INVALID);
    return test_finish();
}
