/* Prompt templates (agent/prompt.c): the project's prompts/ loads with
 * every template the agent needs and renders; variables, "#:" headers and
 * the version (changes with any rendered byte, not with a comment or the
 * order files are listed in); and bad sets: a missing directory, invalid
 * UTF-8, a malformed {{, a template too large, a required one missing, a
 * variable not supplied. */
#include <sys/stat.h>
#include <unistd.h>

#include "hrt.h"
#include "prompt.h"
#include "test.h"

static char dir[256];

static void write_tmpl(const char *name, const char *text, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(text, 1, len, f);
        fclose(f);
    }
}
static void put_str(const char *name, const char *text) { write_tmpl(name, text, strlen(text)); }

static void rm_all(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'; mkdir -p '%s'", dir, dir);
    CHECK(system(cmd) == 0);
}

static void test_project_prompts(void)
{
    static const char *const required[] = {"light_system", "light_user", "full_system", "full_user", "passage",
                                           "rewrite", NULL};
    prompt_set *ps = NULL;
    CHECK_STATUS(prompt_set_load(HRT_SOURCE_DIR "/prompts", required, &ps), 0);
    if (!ps) return;
    CHECK(strlen(prompt_set_version(ps)) == 16);
    const char *names[] = {"n", "source", "text"}, *values[] = {"2", "billing.md", "Invoices are sent monthly."};
    char *out = NULL;
    size_t len = 0;
    CHECK_STATUS(prompt_render(ps, "passage", names, values, NULL, 3, &out, &len), 0);
    CHECK(out && !strcmp(out, "[2] (billing.md) Invoices are sent monthly.") && len == strlen(out)); /* no final newline */
    free(out);
    const char *un[] = {"context", "question"}, *uv[] = {"[1] (a.md) text\n", "Why?"};
    CHECK_STATUS(prompt_render(ps, "full_user", un, uv, NULL, 2, &out, &len), 0);
    CHECK(out && strstr(out, "Question: Why?") && strstr(out, "Final answer:") && !strstr(out, "#:"));
    free(out);
    prompt_set_free(ps);
}

static void test_render_and_version(void)
{
    rm_all();
    put_str("greet.txt", "#: a comment line\n#: another\nHello {{name}}, {{name}}! {not a var} {{ x}}");
    put_str("b.txt", "plain text, no variables");
    put_str("notes.md", "not a template: ignored");
    prompt_set *ps = NULL;
    /* "{{ x}}" is malformed: the whole set is refused, naming the file and line */
    CHECK_STATUS(prompt_set_load(dir, NULL, &ps), HRT_E_FORMAT);
    CHECK(ps == NULL && strstr(hrt_last_error(), "greet.txt: line 3"));
    put_str("greet.txt", "#: a comment line\n#: another\nHello {{name}}, {{name}}! {not a var} {{day_2}}.");
    CHECK_STATUS(prompt_set_load(dir, NULL, &ps), 0);
    if (!ps) return;
    CHECK(prompt_set_has(ps, "greet") && prompt_set_has(ps, "b") && !prompt_set_has(ps, "notes"));
    const char *names[] = {"unused", "name", "day_2"}, *values[] = {"x", "Ana\xc3\xafs", "Monday, and more"};
    size_t lens[] = {1, 6, 6};
    char *out = NULL;
    size_t len = 0;
    CHECK_STATUS(prompt_render(ps, "greet", names, values, lens, 3, &out, &len), 0);
    CHECK(out && !strcmp(out, "Hello Ana\xc3\xafs, Ana\xc3\xafs! {not a var} Monday."));
    free(out);
    CHECK_STATUS(prompt_render(ps, "greet", names, values, NULL, 2, &out, &len), HRT_E_INVALID);
    CHECK(out == NULL && strstr(hrt_last_error(), "{{day_2}}") && strstr(hrt_last_error(), "greet.txt"));
    CHECK_STATUS(prompt_render(ps, "nope", names, values, NULL, 3, &out, &len), HRT_E_RANGE);
    char v1[17];
    snprintf(v1, sizeof v1, "%s", prompt_set_version(ps));
    prompt_set_free(ps);
    /* a comment changes nothing rendered: same version; one byte of text does */
    put_str("greet.txt", "#: the comment was edited\nHello {{name}}, {{name}}! {not a var} {{day_2}}.");
    CHECK_STATUS(prompt_set_load(dir, NULL, &ps), 0);
    CHECK(ps && !strcmp(prompt_set_version(ps), v1));
    prompt_set_free(ps);
    put_str("b.txt", "plain text, no variables!");
    CHECK_STATUS(prompt_set_load(dir, NULL, &ps), 0);
    CHECK(ps && strcmp(prompt_set_version(ps), v1));
    prompt_set_free(ps);
}

static void test_bad_sets(void)
{
    prompt_set *ps = NULL;
    CHECK_STATUS(prompt_set_load("/nonexistent/prompts", NULL, &ps), HRT_E_IO);
    CHECK(strstr(hrt_last_error(), "/nonexistent/prompts"));
    rm_all();
    write_tmpl("bad.txt", "line one\nline \xff\xfe two\n", 20);
    CHECK_STATUS(prompt_set_load(dir, NULL, &ps), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), "bad.txt: line 2: invalid UTF-8"));
    rm_all();
    put_str("ok.txt", "a literal replacement character \xef\xbf\xbd is fine");
    CHECK_STATUS(prompt_set_load(dir, NULL, &ps), 0);
    prompt_set_free(ps);
    put_str("open.txt", "unclosed {{name");
    CHECK_STATUS(prompt_set_load(dir, NULL, &ps), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), "open.txt: line 1"));
    rm_all();
    char *big = malloc(PROMPT_MAX_BYTES + 10);
    memset(big, 'a', PROMPT_MAX_BYTES + 10);
    write_tmpl("big.txt", big, PROMPT_MAX_BYTES + 10);
    free(big);
    CHECK_STATUS(prompt_set_load(dir, NULL, &ps), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), "big.txt: larger than"));
    rm_all();
    put_str("light_system.txt", "hi");
    static const char *const required[] = {"light_system", "full_system", NULL};
    CHECK_STATUS(prompt_set_load(dir, required, &ps), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), "full_system.txt is missing"));
    CHECK(ps == NULL);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/hrt_prompt_%d", (int)getpid());
    test_project_prompts();
    test_render_and_version();
    test_bad_sets();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return 1;
    return test_finish();
}
