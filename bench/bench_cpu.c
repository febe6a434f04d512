/* bench_cpu — hrt's CPU speed on a GGUF model, in the shape
 * bench/llamacpp_cpu.py measures llama.cpp, so that bench/cpu_vs_llamacpp.py
 * can put them side by side:
 *   pp: one evaluation of a P-token prompt (fixed English text, repeated);
 *   tg: G further tokens, one evaluation each, greedy argmax of the logits.
 * One warm-up run, then R timed runs; prints a table, or JSON with --json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "cpu/ops.h"
#include "hrt.h"

/* The same text as bench/llamacpp_cpu.py uses. */
static const char *TEXT =
    "The history of computing stretches back thousands of years, from the abacus used"
    " by merchants in ancient Mesopotamia to the mechanical calculators of the sevent"
    "eenth century. In the 1830s, Charles Babbage designed the Analytical Engine, a g"
    "eneral-purpose machine that Ada Lovelace recognised could manipulate symbols as "
    "well as numbers. A century later, electronic computers filled entire rooms and c"
    "onsumed enormous amounts of power. Today, a phone in your pocket is millions of "
    "times faster than those early machines, and small language models can run on it "
    "without a network connection. ";

int main(int argc, char **argv)
{
    const char *model = HRT_SOURCE_DIR "/models/smollm2-135m-instruct-q4_1.gguf";
    int threads = 0, P = 128, G = 256, R = 5, json = 0, precision = 0;
    const char *prec_name = "int16";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!strcmp(a, "--no-blas")) { cpu_set_blas(0); continue; }
        if (!v) { fprintf(stderr, "bench_cpu: %s needs a value\n", a); return 2; }
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--prompt")) P = atoi(v);
        else if (!strcmp(a, "--gen")) G = atoi(v);
        else if (!strcmp(a, "--reps")) R = atoi(v);
        else if (!strcmp(a, "--precision")) {
            prec_name = v;
            precision = !strcmp(v, "int8") ? HRT_PRECISION_INT8 : !strcmp(v, "int16") ? HRT_PRECISION_INT16
                        : !strcmp(v, "f32") ? HRT_PRECISION_F32 : -1;
            if (precision < 0) { fprintf(stderr, "bench_cpu: --precision int8|int16|f32\n"); return 2; }
        }
        else { fprintf(stderr, "usage: bench_cpu [--model GGUF] [--threads T] [--prompt P] [--gen G] [--reps R] [--precision int8|int16|f32] [--no-blas] [--json]\n"); return 2; }
        i++;
    }
    if (P < 1 || G < 1 || R < 1) { fprintf(stderr, "bench_cpu: P, G and R must be positive\n"); return 2; }
    hrt_model_params mp = hrt_model_default_params();
    mp.n_threads = threads;
    mp.precision = precision;
    hrt_model *m = NULL;
    if (hrt_model_open(model, &mp, &m)) { fprintf(stderr, "bench_cpu: %s\n", hrt_last_error()); return 1; }
    hrt_model_info info;
    hrt_model_info_get(m, &info);
    hrt_session_params sp = hrt_session_default_params();
    sp.n_ctx = P + G + 8;
    hrt_session *s = NULL;
    if (hrt_session_open(m, &sp, &s)) { fprintf(stderr, "bench_cpu: %s\n", hrt_last_error()); return 1; }

    /* BOS (when the model adds one) + the text's tokens, cut to P. */
    int32_t *prompt = malloc((size_t)P * sizeof *prompt), body[512];
    int nb = hrt_tokenize(m, TEXT, strlen(TEXT), 0, 0, body, 512), n = 0;
    int32_t bos_probe[4];
    if (hrt_tokenize(m, "", 0, 1, 0, bos_probe, 4) > 0) prompt[n++] = bos_probe[0];
    for (int k = 0; n < P; k++) prompt[n++] = body[k % nb];
    float *logits = malloc((size_t)info.n_vocab * sizeof *logits);
    double *pp = malloc((size_t)R * sizeof *pp), *tg = malloc((size_t)R * sizeof *tg);
    for (int r = -1; r < R; r++) {
        hrt_session_reset(s);
        double t0 = now_s();
        if (hrt_session_eval(s, prompt, (size_t)P, logits)) { fprintf(stderr, "bench_cpu: %s\n", hrt_last_error()); return 1; }
        double t1 = now_s();
        int32_t tok = argmax(logits, info.n_vocab);
        for (int g = 0; g < G; g++) {
            if (hrt_session_eval(s, &tok, 1, logits)) { fprintf(stderr, "bench_cpu: %s\n", hrt_last_error()); return 1; }
            tok = argmax(logits, info.n_vocab);
        }
        double t2 = now_s();
        if (r >= 0) {
            pp[r] = P / (t1 - t0);
            tg[r] = G / (t2 - t1);
        }
    }
    if (json) {
        printf("{\"engine\":\"hrt\",\"precision\":\"%s\",", prec_name);
        printf("\"version\":\"%d.%d.%d\",\"model\":\"%s\",\"threads\":%d,\"prompt_tokens\":%d,"
               "\"gen_tokens\":%d,\"pp_tps\":[",
               HRT_VERSION_MAJOR, HRT_VERSION_MINOR, HRT_VERSION_PATCH, model, info.n_threads, P, G);
        for (int r = 0; r < R; r++) printf(r ? ",%.3f" : "%.3f", pp[r]);
        printf("],\"tg_tps\":[");
        for (int r = 0; r < R; r++) printf(r ? ",%.3f" : "%.3f", tg[r]);
        printf("]}\n");
    } else {
        double pp_med = median(pp, R), tg_med = median(tg, R); /* sorts them too */
        printf("model    %s (%s, %s activations)\nthreads  %d\n", info.name, info.weight_type, prec_name,
               info.n_threads);
        printf("| test  | tok/s (median of %d) | min     | max     |\n|-------|------|---------|---------|\n", R);
        printf("| pp%-3d | %8.1f | %7.1f | %7.1f |\n", P, pp_med, pp[0], pp[R - 1]);
        printf("| tg%-3d | %8.1f | %7.1f | %7.1f |\n", G, tg_med, tg[0], tg[R - 1]);
    }
    free(prompt);
    free(logits);
    free(pp);
    free(tg);
    hrt_session_free(s);
    hrt_model_free(m);
    return 0;
}
