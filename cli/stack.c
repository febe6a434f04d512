/* What the agent borrows (models, knowledge base, memory), opened from
 * command-line or task-file settings: shared by hrt ask, hrt chat --kb,
 * hrt run and hrt bench efficiency. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "hrt.h"

stack_opts stack_default_opts(void)
{
    return (stack_opts){.threshold = -1, .cache_threshold = -1};
}

void stack_free(stack *s)
{
    hrt_agent_free(s->agent);
    hrt_remote_free(s->remote);
    hrt_kb_free(s->kb);
    hrt_memory_free(s->mem);
    hrt_model_free(s->embed);
    if (s->full != s->light) hrt_model_free(s->full);
    hrt_model_free(s->light);
    memset(s, 0, sizeof *s);
}

int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *models_dir(void)
{
    const char *env = getenv("HRT_MODELS_DIR");
    return env && *env ? env : is_dir("models") ? "models" : HRT_SOURCE_DIR "/models";
}

static void kb_progress(float f, void *ud)
{
    fprintf(stderr, "\rindexing %s: %3d%%", (const char *)ud, (int)(f * 100.0f + 0.5f));
    if (f >= 1.0f) fprintf(stderr, "\r%70s\r", "");
}

/* Opens (creating) the knowledge base kbdir and adds the files named. */
static int open_kb(const char *cmd, const stack_opts *o, const char *kbdir, int example, stack *s)
{
    char src[4096], kbjson[4200];
    hrt_kb_params kp = hrt_kb_default_params();
    kp.embedder = s->embed;
    snprintf(kbjson, sizeof kbjson, "%s/kb.json", kbdir);
    int fresh = access(kbjson, R_OK) != 0;
    if (fresh && !o->quiet && isatty(2)) kp.progress = kb_progress, kp.progress_data = (void *)kbdir;
    if (hrt_kb_open(kbdir, &kp, &s->kb)) {
        fprintf(stderr, "hrt %s: knowledge base '%s': %s\n", cmd, kbdir, hrt_last_error());
        return EXIT_FAIL;
    }
    if (example && fresh && hrt_kb_add(s->kb, source_path(EXAMPLE_KB_SOURCE, src, sizeof src), NULL)) {
        fprintf(stderr, "hrt %s: indexing %s: %s\n", cmd, src, hrt_last_error());
        return EXIT_FAIL;
    }
    for (size_t i = 0; i < o->n_ingest; i++)
        if (hrt_kb_add(s->kb, o->ingest[i], NULL)) {
            fprintf(stderr, "hrt %s: indexing %s: %s\n", cmd, o->ingest[i], hrt_last_error());
            return EXIT_FAIL;
        }
    return 0;
}

int stack_open(const char *cmd, const stack_opts *o, stack *s)
{
    char b1[4096];
    memset(s, 0, sizeof *s);
    s->light = open_model(cmd, o->model ? o->model : default_model(DEFAULT_CHAT_MODEL, b1, sizeof b1), o->threads,
                          o->backend);
    s->full = o->full_model ? open_model(cmd, o->full_model, o->threads, o->backend) : s->light;
    s->embed = open_model(cmd, o->embed_model ? o->embed_model : default_model(DEFAULT_EMBED_MODEL, b1, sizeof b1),
                          o->threads, o->backend);
    /* the knowledge base: the one named, or the example, indexed on first use */
    int rc = 0, example = !o->no_kb && !(o->kb && *o->kb);
    if (example) {
        snprintf(s->kb_dir, sizeof s->kb_dir, "%s/%s", models_dir(), EXAMPLE_KB_DIR);
    } else if (!o->no_kb) {
        snprintf(s->kb_dir, sizeof s->kb_dir, "%s", o->kb);
        if (!is_dir(o->kb) && !o->n_ingest) {
            fprintf(stderr,
                    "hrt %s: knowledge base '%s': no such directory (make one with 'hrt kb add --kb %s FILES')\n",
                    cmd, o->kb, o->kb);
            return EXIT_FAIL;
        }
    }
    if (!o->no_kb && (rc = open_kb(cmd, o, s->kb_dir, example, s))) return rc;
    if (!o->no_memory) {
        const char *mdir = o->memory && *o->memory ? o->memory : NULL;
        if (!mdir) {
            snprintf(b1, sizeof b1, "%s/%s", models_dir(), DEFAULT_MEMORY);
            mdir = b1;
        }
        hrt_memory_params mp = hrt_memory_default_params();
        if (hrt_memory_open(mdir, &mp, &s->mem)) {
            fprintf(stderr, "hrt %s: memory '%s': %s\n", cmd, mdir, hrt_last_error());
            return EXIT_FAIL;
        }
    }
    if (o->remote_url) {
        hrt_remote_params rp = hrt_remote_default_params();
        rp.url = o->remote_url;
        if (o->remote_model) rp.model = o->remote_model;
        if (o->remote_key_env) rp.api_key_env = o->remote_key_env;
        if (o->remote_timeout_ms > 0) rp.timeout_ms = o->remote_timeout_ms;
        if (hrt_remote_open(&rp, &s->remote)) {
            fprintf(stderr, "hrt %s: --full-remote: %s\n", cmd, hrt_last_error());
            return EXIT_FAIL;
        }
    }
    hrt_agent_params ap = hrt_agent_default_params();
    ap.full_remote = s->remote;
    ap.light_model = s->light;
    ap.full_model = s->full;
    ap.embedder = s->embed;
    ap.kb = s->kb;
    ap.memory = s->mem;
    ap.prompts_dir = o->prompts ? o->prompts : source_path("prompts", s->prompts_dir, sizeof s->prompts_dir);
    ap.router_path = o->no_router ? NULL : o->router ? o->router : source_path(DEFAULT_ROUTER, s->router, sizeof s->router);
    ap.product = o->product ? o->product : example ? EXAMPLE_PRODUCT : NULL;
    if (o->threshold >= 0) ap.full_threshold = (float)o->threshold;
    if (o->full_share > 0) ap.full_share = (float)o->full_share;
    if (o->cache_threshold >= 0) ap.cache_threshold = (float)o->cache_threshold;
    s->params = ap;
    if (o->no_agent) return 0;
    if (hrt_agent_open(&ap, &s->agent)) {
        fprintf(stderr, "hrt %s: %s\n", cmd, hrt_last_error());
        return EXIT_FAIL;
    }
    return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

void rm_tree(const char *dir)
{
    if (dir && dir[0]) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *temp_dir(const char *prefix, char *buf, size_t cap)
{
    const char *t = getenv("TMPDIR");
    if (snprintf(buf, cap, "%s/%s-XXXXXX", t && *t ? t : "/tmp", prefix) >= (int)cap) {
        errno = ENAMETOOLONG;
        buf[0] = 0;
        return NULL;
    }
    if (!mkdtemp(buf)) {
        buf[0] = 0;
        return NULL;
    }
    return buf;
}
