/* Embedding speed (all-MiniLM-L6-v2): query latency (SciFact
 * queries, one at a time, as a search embeds them) and chunk throughput
 * (SciFact abstracts, "title + abstract" truncated at the model's 256
 * tokens, in batches of 32 as hrt_kb_add embeds them), with the F32
 * products and the encoder's attention on OpenBLAS's sgemm and, as the peer
 * in the same run, on hrt's own loops. Runs alternate; a cell is the median
 * over runs.
 *
 * With --cuda, the same on the GPU in the same run (a GPU row beside the
 * CPU rows). --model DIR: another encoder of the same kind (the GPU check
 * uses a MiniLM-shaped checkpoint with random weights: the speed is the
 * same).
 *
 * usage: bench_embed [--runs R] [--queries Q] [--chunks C] [--data DIR] [--model DIR] [--cuda] */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "cpu/ops.h"
#include "hrt.h"

static char **read_lines(const char *cmd, const char *field, const char *title, int max, int *n)
{
    FILE *f = popen(cmd, "r");
    char **out = calloc((size_t)max, sizeof *out), *line = NULL;
    size_t cap = 0;
    *n = 0;
    while (f && *n < max && getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, field),
                    *h = title ? cJSON_GetObjectItemCaseSensitive(j, title) : NULL;
        if (cJSON_IsString(t)) {
            size_t len = strlen(t->valuestring) + (cJSON_IsString(h) ? strlen(h->valuestring) : 0) + 4;
            out[*n] = malloc(len);
            snprintf(out[(*n)++], len, "%s%s%s", cJSON_IsString(h) ? h->valuestring : "", cJSON_IsString(h) ? "\n\n" : "",
                     t->valuestring);
        }
        cJSON_Delete(j);
    }
    free(line);
    if (f) pclose(f);
    return out;
}

int main(int argc, char **argv)
{
    int runs = 5, nq = 100, nc = 128, cuda = 0;
    const char *data = HRT_SOURCE_DIR "/../shared/data", *model = HRT_SOURCE_DIR "/models/all-minilm-l6-v2";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc) nq = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--chunks") && i + 1 < argc) nc = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--cuda")) cuda = 1;
        else {
            fprintf(stderr, "usage: bench_embed [--runs R] [--queries Q] [--chunks C] [--data DIR] [--model DIR] [--cuda]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 16 || nq < 10 || nc < 32) return 2;
    int blas = cpu_set_blas(1);
    if (!blas) fprintf(stderr, "bench_embed: built without OpenBLAS: the CPU runs hrt's loops only\n");
    char cmd[1200];
    int n_q = 0, n_c = 0;
    snprintf(cmd, sizeof cmd, "cat '%s/scifact/queries.jsonl'", data);
    char **queries = read_lines(cmd, "text", NULL, nq, &n_q);
    snprintf(cmd, sizeof cmd, "gzip -dc '%s/scifact/corpus.jsonl.gz'", data);
    char **chunks = read_lines(cmd, "text", "title", nc, &n_c);
    if (n_q < nq || n_c < nc) {
        fprintf(stderr, "bench_embed: SciFact not found under %s (%d queries, %d abstracts)\n", data, n_q, n_c);
        return 1;
    }
    /* rows: the GPU (with --cuda), the CPU with OpenBLAS, the CPU with hrt's loops */
    enum { ROWS = 3 };
    static const char *names[ROWS] = {"GPU (CUDA, cuBLAS)", "CPU, OpenBLAS sgemm", "CPU, hrt's loops"};
    hrt_model *ms[ROWS] = {NULL, NULL, NULL};
    int use[ROWS] = {cuda, blas, 1};
    for (int r = 0; r < ROWS; r++) {
        if (!use[r] || (r == 2 && ms[1])) continue;
        hrt_model_params mp = hrt_model_default_params();
        mp.backend = r == 0 ? HRT_BACKEND_CUDA : HRT_BACKEND_CPU;
        if (hrt_model_open(model, &mp, &ms[r])) {
            fprintf(stderr, "bench_embed: %s\n", hrt_last_error());
            return 1;
        }
    }
    if (!ms[2]) ms[2] = ms[1];
    int dim = hrt_embed_dim(ms[2]);
    float *out = malloc((size_t)nc * dim * sizeof *out);
    size_t *lens = malloc((size_t)nc * sizeof *lens);
    for (int i = 0; i < nc; i++) lens[i] = strlen(chunks[i]);
    double p50[ROWS][16], p99[ROWS][16], cps[ROWS][16], *lat = malloc((size_t)nq * sizeof *lat);
    for (int r = 0; r < runs; r++)
        for (int row = 0; row < ROWS; row++) { /* rows alternate within each run */
            if (!use[row]) continue;
            hrt_model *m = ms[row];
            cpu_set_blas(row == 1);
            for (int i = 0; i < nq; i++) {
                double t0 = now_s();
                if (hrt_embed(m, (const char *const *)&queries[i], NULL, 1, out)) goto fail;
                lat[i] = (now_s() - t0) * 1e3;
            }
            qsort(lat, (size_t)nq, sizeof *lat, cmp_d);
            p50[row][r] = lat[nq / 2];
            p99[row][r] = lat[(int)(0.99 * (nq - 1))];
            double t0 = now_s();
            for (int i = 0; i + 32 <= nc; i += 32) /* as hrt_kb_add hands them over */
                if (hrt_embed(m, (const char *const *)&chunks[i], lens + i, 32, out + (size_t)i * dim)) goto fail;
            cps[row][r] = (nc / 32 * 32) / (now_s() - t0);
        }
    cpu_set_blas(blas);
    hrt_model_info info;
    hrt_model_info_get(ms[2], &info);
    printf("%s; %d SciFact queries one at a time, %d abstracts in calls of 32; median of %d runs\n\n", info.name, nq,
           nc / 32 * 32, runs);
    printf("| embedding on | query p50 ms | query p99 ms | chunks/s |\n|---|---:|---:|---:|\n");
    double c[ROWS] = {0, 0, 0};
    for (int row = 0; row < ROWS; row++) {
        if (!use[row]) continue;
        c[row] = median(cps[row], runs);
        printf("| %s | %.2f | %.2f | %.1f |\n", names[row], median(p50[row], runs), median(p99[row], runs), c[row]);
    }
    printf("\n");
    if (blas) printf("chunks/s: OpenBLAS / hrt's loops = %.2fx\n", c[1] / c[2]);
    if (cuda) printf("chunks/s: GPU / best CPU row = %.1fx\n", c[0] / (c[1] > c[2] ? c[1] : c[2]));
    free(out);
    free(lens);
    free(lat);
    for (int i = 0; i < nq; i++) free(queries[i]);
    for (int i = 0; i < nc; i++) free(chunks[i]);
    free(queries);
    free(chunks);
    hrt_model_free(ms[0]);
    hrt_model_free(ms[1]);
    if (ms[2] != ms[1]) hrt_model_free(ms[2]);
    return 0;
fail:
    fprintf(stderr, "bench_embed: %s\n", hrt_last_error());
    return 1;
}
