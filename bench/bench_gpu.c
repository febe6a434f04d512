/* bench_gpu — hrt's CUDA backend on one model, beside the device's own
 * ceilings measured in the same run:
 *   copy:   device-to-device cudaMemcpy of 1 GiB (bytes read + written / s)
 *   peak:   cuBLAS GEMM 8192^3 in fp16 and bf16 (tensor cores, f32 accumulate)
 *   decode: a 128-token prompt, then G tokens one at a time, greedy, with
 *           the argmax taken on the device (hrt_session_eval_argmax) and, in
 *           parentheses, on the host after the logits came back; median of R;
 *           weight GB/s = weight bytes read per token x tokens/s
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

/* GB/s of a device-to-device copy, counting bytes read and written. */
static double copy_bandwidth(void)
{
    size_t bytes = (size_t)1 << 30;
    void *a, *b;
    if (cudaMalloc(&a, bytes) || cudaMalloc(&b, bytes)) return 0;
    cudaMemset(a, 1, bytes);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    double t[10];
    for (int r = -2; r < 10; r++) {
        cudaEventRecord(e0, 0);
        cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
        cudaEventRecord(e1, 0);
        cudaEventSynchronize(e1);
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        if (r >= 0) t[r] = 2.0 * (double)bytes / (ms * 1e-3) / 1e9;
    }
    cudaFree(a);
    cudaFree(b);
    return median(t, 10);
}

/* TFLOP/s of an n^3 GEMM in 16-bit (random data, f32 accumulate). */
static double gemm_peak(cudaDataType_t dt)
{
    int n = 8192;
    size_t bytes = (size_t)n * n * 2;
    void *a, *b, *c;
    if (cudaMalloc(&a, bytes) || cudaMalloc(&b, bytes) || cudaMalloc(&c, bytes)) return 0;
    /* random bits, with the exponent kept small so values stay finite */
    uint16_t *h = malloc(bytes);
    uint64_t s = 12345;
    for (size_t i = 0; i < (size_t)n * n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        h[i] = (uint16_t)(((s >> 33) & 0x83ff) | (dt == CUDA_R_16F ? 0x3400 : 0x3c00));
    }
    cudaMemcpy(a, h, bytes, cudaMemcpyHostToDevice);
    cudaMemcpy(b, h, bytes, cudaMemcpyHostToDevice);
    free(h);
    cublasHandle_t hd;
    cublasCreate(&hd);
    float alpha = 1, beta = 0;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    double t[10];
    for (int r = -3; r < 10; r++) {
        cudaEventRecord(e0, 0);
        cublasGemmEx(hd, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, a, dt, n, b, dt, n, &beta, c, dt, n,
                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        cudaEventRecord(e1, 0);
        cudaEventSynchronize(e1);
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        if (r >= 0) t[r] = 2.0 * n * (double)n * n / (ms * 1e-3) / 1e12;
    }
    cublasDestroy(hd);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    return median(t, 10);
}

/* The prompt's attention alone, for nh query heads of hd over nkv cache
 * heads: a 2,048-token prompt in one micro-batch (causal) through the f32
 * kernel (us[0]) and the tensor cores (us[1]), median of 10 after 3
 * warm-ups; tflops[k] counts 4 x hd FLOPs per (query, key seen, head).
 * 0 where a kernel refused. */
static void prompt_attention_times(int nh, int nkv, int hd, double us[2], double tflops[2])
{
    enum { N = 2048, POS0 = 0 };
    size_t qn = (size_t)N * nh * hd, cn = (size_t)(POS0 + N) * nkv * hd;
    float *q = NULL, *kc = NULL, *vc = NULL, *out = NULL, *part = NULL;
    int *pos = NULL;
    us[0] = us[1] = tflops[0] = tflops[1] = 0;
    if (cudaMalloc((void **)&q, qn * 4) || cudaMalloc((void **)&out, qn * 4) || cudaMalloc((void **)&kc, cn * 4) ||
        cudaMalloc((void **)&vc, cn * 4) || cudaMalloc((void **)&pos, sizeof *pos))
        goto done;
    /* small values (the bits of 0x3c3c3c3c, 0.0115) keep every score finite */
    cudaMemset(q, 0x3c, qn * 4);
    cudaMemset(kc, 0x3c, cn * 4);
    cudaMemset(vc, 0x3c, cn * 4);
    int pos0 = POS0;
    cudaMemcpy(pos, &pos0, sizeof pos0, cudaMemcpyHostToDevice);
    double seen = (double)N * POS0 + (double)N * (N + 1) / 2, flop = 4.0 * hd * seen * nh;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    for (int k = 0; k < 2; k++) {
        double t[10];
        int ok = 1;
        for (int r = -3; r < 10 && ok; r++) {
            cudaEventRecord(e0, 0);
            cudaError_t e = k == 0 ? cuda_attention_split(out, part, q, kc, vc, pos, N, nh, nkv, hd, 1, 0, 0, 0.125f, 1, 0)
                                   : cuda_prompt_attention(out, q, kc, vc, pos, N, nh, nkv, hd, 1, 0, 0, 0.125f, 0);
            cudaEventRecord(e1, 0);
            cudaEventSynchronize(e1);
            float ms;
            cudaEventElapsedTime(&ms, e0, e1);
            ok = e == cudaSuccess;
            if (r >= 0) t[r] = ms * 1e3;
        }
        if (ok) {
            us[k] = median(t, 10);
            tflops[k] = flop / (us[k] * 1e-6) / 1e12;
        }
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
done:
    cudaGetLastError();
    cudaFree(q);
    cudaFree(out);
    cudaFree(kc);
    cudaFree(vc);
    cudaFree(pos);
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
    float barrier_us = 0.0f; /* what one grid-wide barrier of the persistent decode step costs */
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
    double *tg = malloc((size_t)R * sizeof *tg), *tga = malloc((size_t)R * sizeof *tga), ttft[2][16];
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
        for (int k = 0; k < 2; k++) {
            hrt_session_reset(s);
            double a = now_s();
            if (hrt_session_eval(s, prompt, (size_t)lens[k], logits)) {
                fprintf(stderr, "bench_gpu: %s\n", hrt_last_error());
                return 1;
            }
            if (r >= 0 && r < 16) ttft[k][r] = now_s() - a;
        }
        if (r >= 0) tg[r] = G / (t1 - t0);
    }
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
    printf("decode path: %s; grid barrier over %d blocks: %.2f us\n", fused ? "one persistent kernel per token" : "one kernel per operation", prop.multiProcessorCount,
           (double)barrier_us);
    double att_us[2], att_tf[2];
    /* head_dim from the cache's bytes a token (K and V, f32, every layer): n_embd / n_head is not it for Gemma */
    int hd = (int)(info.kv_bytes_per_token / ((uint64_t)info.n_layer * 2 * info.n_head_kv * sizeof(float)));
    prompt_attention_times(info.n_head, info.n_head_kv, hd, att_us, att_tf);
    printf("prompt attention, 2,048 tokens (%d heads of %d, %d KV heads): f32 kernel %.0f us "
           "(%.1f TFLOP/s), tensor cores %.0f us (%.1f TFLOP/s)\n", info.n_head, hd, info.n_head_kv, att_us[0],
           att_tf[0], att_us[1], att_tf[1]);
    printf("| model | weights | decode tok/s (median of %d; logits to the host) | weight GB/s | share of copy "
           "bandwidth | TTFT 512 | TTFT 2048 | prefill TFLOP/s (2048) | share of cuBLAS peak |\n"
           "|---|---|---|---|---|---|---|---|---|\n", R);
    double peak = strstr(info.weight_type, "BF16") ? peakbf : peak16;
    printf("| %s | %s, %.0f MiB | %.0f (%.0f) | %.0f | %.1f%% | %.1f ms | %.1f ms | %.1f | %.1f%% |\n", name,
           info.weight_type, (double)info.weight_bytes / 1048576.0, tps, tps_logits, gbs, 100.0 * gbs / bw, t512 * 1e3, t2048 * 1e3, tflops,
           100.0 * tflops / peak);
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
                       "\"tensor_cores\":%.1f}}\n", tps, gbs, t512 * 1e3, t2048 * 1e3, tflops,
                    (double)barrier_us, fused ? "true" : "false", att_us[0], att_us[1]);
            fclose(f);
        }
    }
    free(logits);
    free(prompt);
    free(tg);
    free(tga);
    hrt_session_free(s);
    hrt_model_free(m);
    return 0;
}
#endif
