/* bench_gpu — hrt's CUDA backend on one model, beside the device's own
 * ceilings measured in the same run:
 *   copy:   device-to-device cudaMemcpy of 1 GiB (bytes read + written / s)
 *   peak:   cuBLAS GEMM 8192^3 in fp16 and bf16 (tensor cores, f32 accumulate)
 *   decode: a 128-token prompt, then G tokens one at a time, greedy, with
 *           the argmax taken on the device (hrt_session_eval_argmax) and, in
 *           parentheses, on the host after the logits came back; median of R;
 *           weight GB/s = weight bytes read per token x tokens/s
 *   sampled: hrt_generate of up to G tokens at temperature 0.8 (top-k 40,
 *           top-p 0.95, min-p 0.05, repetition penalty 1.1), the sampler's
 *           chain on the device and, with HRT_DEVICE_SAMPLING=0, on the host
 *           after the logits came back; greedy (the argmax on the device)
 *           for the loop's own cost, with its steps enqueued ahead (the
 *           default) and one at a time (HRT_DECODE_AHEAD=0); greedy after
 *           DRY at 0.8 (the agent's default), on the device and on the
 *           host; steps/s of the generation loop
 *   TTFT:   time to the first token's logits for 512- and 2048-token prompts
 *   prefill TFLOP/s: 2 x matrix parameters x prompt tokens / TTFT
 *   prompt attention: the kernel alone at the model's heads, a 2,048-token
 *           prompt in one call (causal), f32 kernel vs tensor cores
 * Prints a table; with --json FILE also writes the numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "hrt.h"

#ifndef HRT_WITH_CUDA
int main(void)
{
    printf("bench_gpu: built without CUDA\n");
    return 0;
}
#else
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "cuda/attention.h"
#include "cuda/decode.h"
#include "cuda/prompt_attention.h"

/* Times op(ctx) on the default stream with events: `warm` untimed runs,
 * then 10 timed ones into ms[]. Returns op's first nonzero status. */
static int time_runs(int (*op)(void *), void *ctx, int warm, double ms[10])
{
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    int st = 0;
    for (int r = -warm; r < 10 && !st; r++) {
        cudaEventRecord(e0, 0);
        st = op(ctx);
        cudaEventRecord(e1, 0);
        cudaEventSynchronize(e1);
        float t;
        cudaEventElapsedTime(&t, e0, e1);
        if (r >= 0) ms[r] = t;
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return st;
}

typedef struct {
    void *a, *b, *c;
    size_t bytes;
    int n;
    cudaDataType_t dt;
    cublasHandle_t h;
} bufs;

static int copy_op(void *ctx)
{
    bufs *x = ctx;
    return cudaMemcpy(x->b, x->a, x->bytes, cudaMemcpyDeviceToDevice) != cudaSuccess;
}

/* GB/s of a device-to-device copy, counting bytes read and written. */
static double copy_bandwidth(void)
{
    bufs x = {.bytes = (size_t)1 << 30};
    if (cudaMalloc(&x.a, x.bytes) || cudaMalloc(&x.b, x.bytes)) return 0;
    cudaMemset(x.a, 1, x.bytes);
    double t[10];
    time_runs(copy_op, &x, 2, t);
    for (int r = 0; r < 10; r++) t[r] = 2.0 * (double)x.bytes / (t[r] * 1e-3) / 1e9;
    cudaFree(x.a);
    cudaFree(x.b);
    return median(t, 10);
}

static int gemm_op(void *ctx)
{
    bufs *x = ctx;
    float alpha = 1, beta = 0;
    cublasGemmEx(x->h, CUBLAS_OP_T, CUBLAS_OP_N, x->n, x->n, x->n, &alpha, x->a, x->dt, x->n, x->b, x->dt, x->n, &beta,
                 x->c, x->dt, x->n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    return 0;
}

/* TFLOP/s of an n^3 GEMM in 16-bit (random data, f32 accumulate). */
static double gemm_peak(cudaDataType_t dt)
{
    bufs x = {.n = 8192, .dt = dt};
    int n = x.n;
    size_t bytes = (size_t)n * n * 2;
    if (cudaMalloc(&x.a, bytes) || cudaMalloc(&x.b, bytes) || cudaMalloc(&x.c, bytes)) return 0;
    /* random bits, with the exponent kept small so values stay finite */
    uint16_t *h = malloc(bytes);
    uint64_t s = 12345;
    for (size_t i = 0; i < (size_t)n * n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        h[i] = (uint16_t)(((s >> 33) & 0x83ff) | (dt == CUDA_R_16F ? 0x3400 : 0x3c00));
    }
    cudaMemcpy(x.a, h, bytes, cudaMemcpyHostToDevice);
    cudaMemcpy(x.b, h, bytes, cudaMemcpyHostToDevice);
    free(h);
    cublasCreate(&x.h);
    double t[10];
    time_runs(gemm_op, &x, 3, t);
    for (int r = 0; r < 10; r++) t[r] = 2.0 * n * (double)n * n / (t[r] * 1e-3) / 1e12;
    cublasDestroy(x.h);
    cudaFree(x.a);
    cudaFree(x.b);
    cudaFree(x.c);
    return median(t, 10);
}

typedef struct {
    float *q, *kc, *vc, *out;
    void *scratch;
    size_t scratch_bytes;
    int *pos, n, nh, nkv, hd, tensor_cores;
} attn_job;

/* ATTN_CALLS calls back to back: a sample's time is theirs, so that the
 * host's time to make one call hides behind the call before (one call
 * timed alone counted it where the GPU was idle, up to twice the kernels'
 * time at 2,048 tokens on the H100) */
enum { ATTN_CALLS = 10 };

static int attention_op(void *ctx)
{
    attn_job *j = ctx;
    cudaError_t e = cudaSuccess;
    for (int c = 0; c < ATTN_CALLS && e == cudaSuccess; c++)
        e = j->tensor_cores ? cuda_prompt_attention(j->out, 0, j->q, 0, j->kc, j->vc, j->scratch, j->scratch_bytes, 0,
                                                    j->n, 0, j->n, j->nh, j->nkv, j->hd, 1, 0, 0, 0.125f, 0)
                            : cuda_attention_split(j->out, NULL, j->q, j->kc, j->vc, j->pos, j->n, j->nh, j->nkv,
                                                   j->hd, 1, 0, 0, 0.125f, 1, 0);
    return e != cudaSuccess;
}

/* The prompt's attention alone, for nh query heads of hd over nkv cache
 * heads: a 2,048-token prompt in one micro-batch (causal) through the f32
 * kernel (us[0]) and the tensor cores (us[1]: the kernel that
 * cuda_prompt_attention takes, wgmma on Hopper, HRT_CUDA_ATTN_SM90=0 for
 * mma.sync), a call's share of ATTN_CALLS, median of 10 samples after 3
 * warm-ups; tflops[k] counts 4 x hd FLOPs per (query, key seen, head).
 * 0 where a kernel refused. */
static void prompt_attention_times(int nh, int nkv, int hd, double us[2], double tflops[2])
{
    enum { N = 2048 };
    attn_job j = {.n = N, .nh = nh, .nkv = nkv, .hd = hd};
    size_t qn = (size_t)N * nh * hd, cn = (size_t)N * nkv * hd;
    us[0] = us[1] = tflops[0] = tflops[1] = 0;
    if (cudaMalloc((void **)&j.q, qn * 4) || cudaMalloc((void **)&j.out, qn * 4) ||
        cudaMalloc((void **)&j.kc, cn * 4) || cudaMalloc((void **)&j.vc, cn * 4) ||
        cudaMalloc((void **)&j.pos, sizeof *j.pos))
        goto done;
    j.scratch_bytes = cuda_prompt_attention_scratch(N, N, nh, nkv, hd);
    if (j.scratch_bytes && cudaMalloc(&j.scratch, j.scratch_bytes)) goto done;
    /* small values (the bits of 0x3c3c3c3c, 0.0115) keep every score finite */
    cudaMemset(j.q, 0x3c, qn * 4);
    cudaMemset(j.kc, 0x3c, cn * 4);
    cudaMemset(j.vc, 0x3c, cn * 4);
    cudaMemset(j.pos, 0, sizeof *j.pos); /* the prompt starts at position 0 */
    double flop = 4.0 * hd * ((double)N * (N + 1) / 2) * nh;
    for (int k = 0; k < 2; k++) {
        double t[10];
        j.tensor_cores = k;
        if (time_runs(attention_op, &j, 3, t)) continue;
        us[k] = median(t, 10) * 1e3 / ATTN_CALLS;
        tflops[k] = flop / (us[k] * 1e-6) / 1e12;
    }
done:
    cudaGetLastError();
    cudaFree(j.q);
    cudaFree(j.out);
    cudaFree(j.kc);
    cudaFree(j.vc);
    cudaFree(j.pos);
    cudaFree(j.scratch);
}

/* Steps a second of hrt_generate's loop (tokens after the first over its
 * time), sampling on the device (mode 0), on the host (1), greedy with its
 * steps enqueued ahead (2) or one at a time (3), or greedy after DRY on the
 * device (4) or on the host (5); *n the tokens made. */
static double sampled_rate(hrt_session *s, int G, int mode, int *n)
{
    static char prompt[1024];
    if (!prompt[0])
        for (int i = 0; i < 16; i++) strcat(prompt, "The history of computing is long. ");
    hrt_generate_params gp = hrt_generate_default_params();
    gp.max_tokens = G;
    gp.sampling.temperature = mode < 2 ? 0.8f : 0.0f;
    gp.sampling.repeat_penalty = mode < 2 ? 1.1f : 1.0f;
    gp.sampling.dry_multiplier = mode >= 4 ? 0.8f : 0.0f;
    hrt_usage u;
    if (mode == 1 || mode == 5) setenv("HRT_DEVICE_SAMPLING", "0", 1);
    if (mode == 3) setenv("HRT_DECODE_AHEAD", "0", 1);
    hrt_session_reset(s);
    int st = hrt_generate(s, prompt, strlen(prompt), &gp, NULL, &u);
    unsetenv("HRT_DEVICE_SAMPLING");
    unsetenv("HRT_DECODE_AHEAD");
    if (st) {
        fprintf(stderr, "bench_gpu: %s\n", hrt_last_error());
        return -1;
    }
    *n = u.generated_tokens;
    return u.generated_tokens > 1 && u.t_generate_ms > 0 ? (u.generated_tokens - 1) / (u.t_generate_ms * 1e-3) : 0;
}

int main(int argc, char **argv)
{
    const char *model = HRT_SOURCE_DIR "/models/smollm2-135m-instruct-q4_1.gguf", *json = NULL, *label = NULL;
    int G = 256, R = 5, precision = HRT_PRECISION_DEFAULT;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--gen")) G = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) R = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--json")) json = argv[i + 1];
        else if (!strcmp(argv[i], "--label")) label = argv[i + 1];
        else if (!strcmp(argv[i], "--precision")) precision = !strcmp(argv[i + 1], "f32") ? HRT_PRECISION_F32 : 0;
        else {
            fprintf(stderr, "usage: bench_gpu [--model M] [--gen G] [--reps R] [--precision f32] [--label L] [--json FILE]\n");
            return 2;
        }
    }
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("bench_gpu: no CUDA device\n");
        return 0;
    }
    struct cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    double bw = copy_bandwidth(), peak16 = gemm_peak(CUDA_R_16F), peakbf = gemm_peak(CUDA_R_16BF);
    float barrier_us = 0.0f; /* what one grid-wide barrier costs: the persistent step passes values instead */
    if (cuda_decode_barrier_cost(prop.multiProcessorCount, 20000, &barrier_us) != cudaSuccess) barrier_us = -1.0f;

    hrt_model_params mp = hrt_model_default_params();
    mp.backend = HRT_BACKEND_CUDA;
    mp.precision = precision;
    hrt_model *m = NULL;
    if (hrt_model_open(model, &mp, &m)) {
        fprintf(stderr, "bench_gpu: %s\n", hrt_last_error());
        return 1;
    }
    hrt_model_info info;
    hrt_model_info_get(m, &info);
    hrt_session_params sp = hrt_session_default_params();
    sp.n_ctx = 2048 + 16 > 128 + G + 8 ? 2048 + 16 : 128 + G + 8;
    hrt_session *s = NULL;
    if (hrt_session_open(m, &sp, &s)) {
        fprintf(stderr, "bench_gpu: %s\n", hrt_last_error());
        return 1;
    }
    float *logits = malloc((size_t)info.n_vocab * sizeof *logits);
    int32_t *prompt = malloc(2048 * sizeof *prompt);
    for (int i = 0; i < 2048; i++) prompt[i] = 100 + (i * 7919) % (info.n_vocab - 200);
    double *tg = malloc((size_t)R * sizeof *tg), *tga = malloc((size_t)R * sizeof *tga), ttft[2][16], first[2];
    double *tsd = malloc((size_t)R * sizeof *tsd), *tsh = malloc((size_t)R * sizeof *tsh);
    double *tsg = malloc((size_t)R * sizeof *tsg), *tsg1 = malloc((size_t)R * sizeof *tsg1);
    double *tdd = malloc((size_t)R * sizeof *tdd), *tdh = malloc((size_t)R * sizeof *tdh);
    int n_sampled[6] = {0};
    int lens[2] = {512, 2048};
    for (int r = -1; r < R; r++) {
        hrt_session_reset(s);
        hrt_session_eval(s, prompt, 128, logits);
        int32_t tok = argmax(logits, info.n_vocab);
        double t0 = now_s();
        for (int g = 0; g < G; g++) {
            if (hrt_session_eval(s, &tok, 1, logits)) {
                fprintf(stderr, "bench_gpu: %s\n", hrt_last_error());
                return 1;
            }
            tok = argmax(logits, info.n_vocab);
        }
        double t1 = now_s();
        /* the same, with the argmax taken on the device */
        hrt_session_reset(s);
        hrt_session_eval_argmax(s, prompt, 128, &tok);
        double t2 = now_s();
        for (int g = 0; g < G; g++) {
            if (hrt_session_eval_argmax(s, &tok, 1, &tok)) {
                fprintf(stderr, "bench_gpu: %s\n", hrt_last_error());
                return 1;
            }
        }
        double t3 = now_s();
        if (r >= 0) tga[r] = G / (t3 - t2);
        for (int h = 0; h < 6; h++) {
            double rate = sampled_rate(s, G, h, &n_sampled[h]);
            if (rate < 0) return 1;
            double *const to[6] = {tsd, tsh, tsg, tsg1, tdd, tdh};
            if (r >= 0) to[h][r] = rate;
        }
        for (int k = 0; k < 2; k++) {
            hrt_session_reset(s);
            double a = now_s();
            if (hrt_session_eval(s, prompt, (size_t)lens[k], logits)) {
                fprintf(stderr, "bench_gpu: %s\n", hrt_last_error());
                return 1;
            }
            if (r >= 0 && r < 16) ttft[k][r] = now_s() - a;
            if (r < 0) first[k] = now_s() - a;
        }
        if (r >= 0) tg[r] = G / (t1 - t0);
    }
    double tps_sd = median(tsd, R), tps_sh = median(tsh, R), tps_sg = median(tsg, R), tps_sg1 = median(tsg1, R);
    double tps_dd = median(tdd, R), tps_dh = median(tdh, R);
    double tps_logits = median(tg, R), tps = median(tga, R), t512 = median(ttft[0], R < 16 ? R : 16), t2048 = median(ttft[1], R < 16 ? R : 16);
    double gbs = (double)info.weight_bytes * tps / 1e9;
    /* Prompt FLOPs: 2 per matrix parameter per token, the parameters being
     * all but the (tied) embedding table, which a prompt reads by rows and
     * multiplies only for its last token; attention's own FLOPs are left
     * out, so this understates the work done. */
    double mat_params = (double)info.n_params - (double)info.n_vocab * info.n_embd;
    double tflops = 2.0 * mat_params * 2048 / t2048 / 1e12;
    const char *name = label ? label : info.name;
    printf("device: %s; copy bandwidth %.0f GB/s (read + write); cuBLAS 8192^3 fp16 %.0f TFLOP/s, bf16 %.0f TFLOP/s\n",
           prop.name, bw, peak16, peakbf);
    int fused = strstr(info.device, "persistent") != NULL; /* the backend says HRT_CUDA_FUSED=0 there too */
    printf("decode path: %s; a grid barrier over %d blocks (the persistent step has none) would take %.2f us\n",
           fused ? "one persistent kernel per token" : "one kernel per operation", prop.multiProcessorCount,
           (double)barrier_us);
    double att_us[2], att_tf[2];
    /* head_dim from the cache's bytes a token (K and V, f32, every layer): n_embd / n_head is not it for Gemma */
    int hd = (int)(info.kv_bytes_per_token / ((uint64_t)info.n_layer * 2 * info.n_head_kv * sizeof(float)));
    prompt_attention_times(info.n_head, info.n_head_kv, hd, att_us, att_tf);
    printf("prompt attention, 2,048 tokens (%d heads of %d, %d KV heads): f32 kernel %.0f us "
           "(%.1f TFLOP/s), tensor cores %.0f us (%.1f TFLOP/s)\n", info.n_head, hd, info.n_head_kv, att_us[0],
           att_tf[0], att_us[1], att_tf[1]);
    /* the warm-up round's first prompts of each length: the first use of
     * their kernels, and with HRT_CUDA_GEMM_TUNE=1 the timing of the
     * 2,048-token prompt's product plans (kernels/cuda/gemm.h) */
    printf("the warm-up round's first prompts of 512 and 2,048 tokens: %.1f ms and %.1f ms\n", first[0] * 1e3,
           first[1] * 1e3);
    printf("| model | weights | decode tok/s (median of %d; logits to the host) | weight GB/s | share of copy "
           "bandwidth | TTFT 512 | TTFT 2048 | prefill TFLOP/s (2048) | share of cuBLAS peak |\n"
           "|---|---|---|---|---|---|---|---|---|\n", R);
    double peak = strstr(info.weight_type, "BF16") ? peakbf : peak16;
    printf("| %s | %s, %.0f MiB | %.0f (%.0f) | %.0f | %.1f%% | %.1f ms | %.1f ms | %.1f | %.1f%% |\n", name,
           info.weight_type, (double)info.weight_bytes / 1048576.0, tps, tps_logits, gbs, 100.0 * gbs / bw, t512 * 1e3, t2048 * 1e3, tflops,
           100.0 * tflops / peak);
    printf("sampled decode (hrt_generate, temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, repetition penalty 1.1; "
           "median of %d): sampler on the device %.0f tok/s (%d tokens), on the host %.0f tok/s (%d tokens): %.2fx; "
           "greedy through hrt_generate %.0f tok/s (%d tokens), one step at a time (HRT_DECODE_AHEAD=0) %.0f tok/s "
           "(%d tokens): %.3fx; greedy after DRY 0.8 (the agent's default) on the device %.0f tok/s (%d tokens), "
           "on the host %.0f tok/s (%d tokens): %.2fx\n",
           R, tps_sd, n_sampled[0], tps_sh, n_sampled[1], tps_sh > 0 ? tps_sd / tps_sh : 0, tps_sg, n_sampled[2],
           tps_sg1, n_sampled[3], tps_sg1 > 0 ? tps_sg / tps_sg1 : 0, tps_dd, n_sampled[4], tps_dh, n_sampled[5],
           tps_dh > 0 ? tps_dd / tps_dh : 0);
    if (json) {
        FILE *f = fopen(json, "w");
        if (f) {
            fprintf(f, "{\"device\":\"%s\",\"copy_gbs\":%.1f,\"cublas_fp16_tflops\":%.1f,\"cublas_bf16_tflops\":%.1f,"
                       "\"model\":\"%s\",\"weight_type\":\"%s\",\"weight_bytes\":%llu,\"gen_tokens\":%d,\"reps\":%d,"
                       "\"decode_tps\":[", prop.name, bw, peak16, peakbf, name, info.weight_type,
                    (unsigned long long)info.weight_bytes, G, R);
            for (int r = 0; r < R; r++) fprintf(f, r ? ",%.2f" : "%.2f", tga[r]);
            fprintf(f, "],\"decode_logits_tps\":[");
            for (int r = 0; r < R; r++) fprintf(f, r ? ",%.2f" : "%.2f", tg[r]);
            fprintf(f, "],\"decode_tps_median\":%.2f,\"weight_gbs\":%.1f,\"ttft_512_ms\":%.2f,\"ttft_2048_ms\":%.2f,"
                       "\"prefill_tflops\":%.2f,\"barrier_us\":%.3f,\"fused\":%s,\"prompt_attention_us\":{\"f32\":%.1f,"
                       "\"tensor_cores\":%.1f},\"sampled_tps_device\":%.2f,\"sampled_tps_host\":%.2f,\"generate_greedy_tps\":%.2f,\"generate_greedy_one_at_a_time_tps\":%.2f,\"greedy_dry_tps_device\":%.2f,"
                       "\"greedy_dry_tps_host\":%.2f}\n", tps, gbs, t512 * 1e3, t2048 * 1e3, tflops,
                    (double)barrier_us, fused ? "true" : "false", att_us[0], att_us[1], tps_sd, tps_sh, tps_sg, tps_sg1,
                    tps_dd, tps_dh);
            fclose(f);
        }
    }
    free(logits);
    free(prompt);
    free(tg);
    free(tga);
    free(tsd);
    free(tsh);
    free(tsg);
    free(tsg1);
    free(tdd);
    free(tdh);
    hrt_session_free(s);
    hrt_model_free(m);
    return 0;
}
#endif
