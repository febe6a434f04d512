/* Crash safety of ingest: a writer process ingests a directory (documents
 * rewritten between trials, so replacements happen too) and is killed with
 * SIGKILL at a random moment, 40 times. After each kill the knowledge base
 * must open, its dense index must hold exactly the chunks of the store, and
 * every file the writer had reported done (the progress callback comes
 * after a file's documents are committed) must be found. */
#include "hrt.h"
#include "test.h"

#ifndef HRT_WITH_RETRIEVAL
int main(void) { test_skip("built without retrieval (FAISS or SQLite not found)"); }
#else
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { FILES = 40, TRIALS = 40 };
static char root[256], kbdir[300], docs[300], model_dir[512];

static void write_doc(int i, int version)
{
    char p[600];
    snprintf(p, sizeof p, "%s/doc%02d.md", docs, i);
    FILE *f = fopen(p, "wb");
    /* a unique word per file (zqx<i>) for the presence check */
    fprintf(f, "# Document %d\n\nThis is version %d of a text about topic zqx%d. ", i, version, i);
    for (int s = 0; s < 2 + (i + version) % 5; s++)
        fprintf(f, "Sentence %d adds some words so that chunks differ between versions %d and files %d. ", s, version, i);
    fprintf(f, "\n");
    fclose(f);
}

static int ack_fd;
static int files_done;

static void on_progress(float f, void *ud)
{
    (void)f, (void)ud;
    files_done++;
    if (write(ack_fd, &files_done, sizeof files_done) != sizeof files_done) _exit(5);
}

static hrt_kb *open_kb(hrt_model *m, hrt_progress_fn progress)
{
    hrt_kb_params p = hrt_kb_default_params();
    p.embedder = m;
    p.chunk_tokens = 32;
    p.chunk_overlap = 4;
    p.embed_batch = 4;
    p.progress = progress;
    hrt_kb *kb = NULL;
    return hrt_kb_open(kbdir, &p, &kb) ? NULL : kb;
}

static void writer(int fd)
{
    ack_fd = fd;
    hrt_model_params mp = hrt_model_default_params();
    mp.n_threads = 1;
    hrt_model *m = NULL;
    if (hrt_model_open(model_dir, &mp, &m)) _exit(3);
    hrt_kb *kb = open_kb(m, on_progress);
    if (!kb) _exit(4);
    hrt_kb_report r;
    if (hrt_kb_add(kb, docs, &r)) _exit(6);
    hrt_kb_free(kb);
    _exit(0);
}

/* 1 when a BM25 search for file i's unique word finds that file. */
static int present(hrt_kb *kb, int i)
{
    char q[32], want[32];
    snprintf(q, sizeof q, "zqx%d", i);
    snprintf(want, sizeof want, "/doc%02d.md", i);
    hrt_kb_search_params sp = hrt_kb_search_default_params();
    sp.mode = HRT_KB_BM25;
    sp.k = 1;
    hrt_kb_hit h[1];
    int n = hrt_kb_search(kb, q, &sp, h);
    int ok = n == 1 && strstr(h[0].source, want) != NULL;
    hrt_kb_hits_free(h, n > 0 ? (size_t)n : 0);
    return ok;
}

int main(void)
{
    snprintf(model_dir, sizeof model_dir, "%s/models/all-minilm-l6-v2", HRT_SOURCE_DIR);
    hrt_model_params mp = hrt_model_default_params();
    hrt_model *m = NULL;
    if (access(model_dir, F_OK) || hrt_model_open(model_dir, &mp, &m))
        test_skip("all-MiniLM-L6-v2 not in models/ (scripts/fetch-models.sh)");
    snprintf(root, sizeof root, "/tmp/hrt_kb_kill_%d", (int)getpid());
    snprintf(kbdir, sizeof kbdir, "%s/kb", root);
    snprintf(docs, sizeof docs, "%s/docs", root);
    mkdir(root, 0755);
    mkdir(docs, 0755);
    for (int i = 0; i < FILES; i++) write_doc(i, 0);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int opened = 0, agree = 0, lost = 0, acked_total = 0, completed = 0;
    int ever_done[FILES] = {0}; /* files some trial reported done */
    for (int t = 0; t < TRIALS; t++) {
        if (t) /* a quarter of the files change: the next ingest replaces them */
            for (int i = 0; i < FILES; i++)
                if (rand() % 4 == 0) write_doc(i, t);
        int pfd[2];
        if (pipe(pfd)) break;
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            writer(pfd[1]);
        }
        close(pfd[1]);
        usleep((useconds_t)(rand() % 600000));
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) completed++;
        int done = 0, k;
        while (read(pfd[0], &k, sizeof k) == sizeof k) done = k;
        close(pfd[0]);
        acked_total += done;
        for (int i = 0; i < done; i++) ever_done[i] = 1; /* files go in sorted order: doc00, doc01, ... */
        hrt_kb *kb = open_kb(m, NULL);
        if (!kb) {
            fprintf(stderr, "trial %d: does not open: %s\n", t, hrt_last_error());
            continue;
        }
        opened++;
        hrt_kb_stats s;
        if (hrt_kb_stats_get(kb, &s) == 0 && s.vectors == s.chunks) agree++;
        else fprintf(stderr, "trial %d: %llu vectors, %llu chunks\n", t, (unsigned long long)s.vectors, (unsigned long long)s.chunks);
        for (int i = 0; i < FILES; i++)
            if (ever_done[i] && !present(kb, i)) {
                lost++;
                fprintf(stderr, "trial %d: doc%02d reported done, not found\n", t, i);
            }
        hrt_kb_free(kb);
    }
    printf("kill -9 during ingest: %d trials (%d ran to the end), %d files reported done, %d opened, %d agreed, %d lost\n",
           TRIALS, completed, acked_total, opened, agree, lost);
    CHECK(opened == TRIALS && agree == TRIALS && lost == 0 && acked_total > 0);
    CHECK(completed < TRIALS); /* the kills did interrupt ingests */
    hrt_model_free(m);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd)) return 1;
    return test_finish();
}
#endif
