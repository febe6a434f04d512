/* Embedding speed on the CPU (all-MiniLM-L6-v2): query latency (SciFact
 * queries, one at a time, as a search embeds them) and chunk throughput
 * (SciFact abstracts, "title + abstract" truncated at the model's 256
 * tokens, in batches of 32 as hrt_kb_add embeds them), with the F32
 * products and the encoder's attention on OpenBLAS's sgemm and, as the peer
 * in the same run, on hrt's own loops. Runs alternate; a cell is the median
 * over runs.
 *
 * usage: bench_embed [--runs R] [--queries Q] [--chunks C] [--data DIR] */
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
    int runs = 5, nq = 100, nc = 128;
    const char *data = HRT_SOURCE_DIR "/../shared/data";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc) nq = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--chunks") && i + 1 < argc) nc = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else {
            fprintf(stderr, "usage: bench_embed [--runs R] [--queries Q] [--chunks C] [--data DIR]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 16 || nq < 10 || nc < 32) return 2;
    if (!cpu_set_blas(1)) fprintf(stderr, "bench_embed: built without OpenBLAS: both rows run hrt's loops\n");
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
    hrt_model_params mp = hrt_model_default_params();
    hrt_model *m = NULL;
    if (hrt_model_open(HRT_SOURCE_DIR "/models/all-minilm-l6-v2", &mp, &m)) {
        fprintf(stderr, "bench_embed: %s\n", hrt_last_error());
        return 1;
    }
    int dim = hrt_embed_dim(m);
    float *out = malloc((size_t)32 * dim * sizeof *out);
    double p50[2][16], p99[2][16], cps[2][16], *lat = malloc((size_t)nq * sizeof *lat);
    size_t lens[32];
    for (int r = 0; r < runs; r++)
        for (int blas = 1; blas >= 0; blas--) {
            cpu_set_blas(blas);
            for (int i = 0; i < nq; i++) {
                double t0 = now_s();
                if (hrt_embed(m, (const char *const *)&queries[i], NULL, 1, out)) return 1;
                lat[i] = (now_s() - t0) * 1e3;
            }
            qsort(lat, (size_t)nq, sizeof *lat, cmp_d);
            p50[blas][r] = lat[nq / 2];
            p99[blas][r] = lat[(int)(0.99 * (nq - 1))];
            double t0 = now_s();
            for (int i = 0; i + 32 <= nc; i += 32) {
                for (int k = 0; k < 32; k++) lens[k] = strlen(chunks[i + k]);
                if (hrt_embed(m, (const char *const *)&chunks[i], lens, 32, out)) return 1;
            }
            cps[blas][r] = (nc / 32 * 32) / (now_s() - t0);
        }
    cpu_set_blas(1);
    hrt_model_info info;
    hrt_model_info_get(m, &info);
    printf("%s on %s; %d SciFact queries, %d abstracts; median of %d runs\n\n", info.name,
           info.backend ? info.backend : "cpu", nq, nc / 32 * 32, runs);
    printf("| products on | query p50 ms | query p99 ms | chunks/s (batches of 32) |\n|---|---:|---:|---:|\n");
    static const char *names[2] = {"hrt's loops", "OpenBLAS sgemm"};
    double q50[2], c[2];
    for (int b = 1; b >= 0; b--) {
        q50[b] = median(p50[b], runs);
        double q99 = median(p99[b], runs);
        c[b] = median(cps[b], runs);
        printf("| %s | %.2f | %.2f | %.1f |\n", names[b], q50[b], q99, c[b]);
    }
    printf("\nOpenBLAS / hrt's loops: query p50 %.2fx faster, chunks %.2fx faster\n", q50[0] / q50[1], c[1] / c[0]);
    free(out);
    free(lat);
    for (int i = 0; i < nq; i++) free(queries[i]);
    for (int i = 0; i < nc; i++) free(chunks[i]);
    free(queries);
    free(chunks);
    hrt_model_free(m);
    return 0;
}
