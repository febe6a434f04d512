/* libFuzzer harness for prompt templates (agent/prompt.c): the input is
 * one template file's bytes (any: invalid UTF-8, stray or unclosed "{{",
 * "#:" headers, NULs). Loading either fails with HRT_E_FORMAT or gives a
 * template that renders; rendered with values free of braces, the output
 * holds no "{{" (every one opened a variable, and each was replaced), and
 * rendering without the variables fails cleanly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hrt.h"
#include "prompt.h"

static char dir[64], file[96];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/hrt_fuzz_prompt_%d", (int)getpid());
        mkdir(dir, 0700);
        snprintf(file, sizeof file, "%s/t.txt", dir);
    }
    FILE *f = fopen(file, "wb");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
    prompt_set *ps = NULL;
    int st = prompt_set_load(dir, NULL, &ps);
    if (st) {
        if (ps || (st != HRT_E_FORMAT)) abort();
        return 0;
    }
    if (strlen(prompt_set_version(ps)) != 16 || !prompt_set_has(ps, "t")) abort();
    /* every variable a template may use is a-z, 0-9, _: supply a few */
    const char *names[] = {"a", "b", "question", "context", "x_1"};
    const char *values[] = {"alpha", "", "why?", "[1] text", "\xc3\xa9"};
    char *out = NULL;
    size_t len = 0;
    st = prompt_render(ps, "t", names, values, NULL, 5, &out, &len);
    if (st == 0) {
        if (!out || memmem(out, len, "{{", 2)) abort();
        free(out);
    } else if (st != HRT_E_INVALID || out) {
        abort();
    }
    out = NULL;
    st = prompt_render(ps, "t", NULL, NULL, NULL, 0, &out, &len);
    if (st == 0) free(out);
    else if (st != HRT_E_INVALID) abort();
    if (prompt_render(ps, "absent", NULL, NULL, NULL, 0, &out, &len) != HRT_E_RANGE) abort();
    prompt_set_free(ps);
    return 0;
}
