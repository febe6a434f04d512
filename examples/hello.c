/* The smallest hrt program: load a chat model, ask one question through the
 * model's chat template, stream the answer.
 *
 *   cc hello.c $(pkg-config --cflags --libs hrt) -o hello
 *   ./hello models/smollm2-135m-instruct-q4_1.gguf "What is the capital of France?"
 */
#include <hrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int print_piece(const char *piece, size_t len, int32_t id, void *ud)
{
    (void)id;
    (void)ud;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0; /* non-zero would stop generation */
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf QUESTION\n", argv[0]);
        return 2;
    }
    hrt_model *model = NULL;
    if (hrt_model_open(argv[1], NULL, &model)) {
        fprintf(stderr, "cannot load: %s\n", hrt_last_error());
        return 1;
    }
    hrt_session *session = NULL;
    if (hrt_session_open(model, NULL, &session)) {
        fprintf(stderr, "%s\n", hrt_last_error());
        hrt_model_free(model);
        return 1;
    }
    hrt_chat_msg msg = {"user", argv[2]};
    int need = hrt_chat_render(model, &msg, 1, 1, NULL, 0); /* size query */
    char *prompt = malloc((size_t)need + 1);
    hrt_chat_render(model, &msg, 1, 1, prompt, (size_t)need + 1);

    hrt_generate_params gp = hrt_generate_default_params();
    gp.max_tokens = 64;
    gp.on_token = print_piece;
    hrt_usage usage;
    int st = hrt_generate(session, prompt, strlen(prompt), &gp, NULL, &usage);
    printf("\n");
    if (st)
        fprintf(stderr, "%s\n", hrt_last_error());
    else
        fprintf(stderr, "[%d prompt tokens, %d generated, %.1f ms]\n", usage.prompt_tokens,
                usage.generated_tokens, usage.t_prompt_ms + usage.t_generate_ms);
    free(prompt);
    hrt_session_free(session);
    hrt_model_free(model);
    return st ? 1 : 0;
}
