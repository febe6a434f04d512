#include "elementwise.h"

#include "mat.cuh"

static __global__ void embed_kernel(cuda_mat E, const int32_t *ids, float scale, float *out)
{
    pdl_wait();
    int t = blockIdx.x;
    int64_t row = ids[t];
    for (int64_t c = threadIdx.x; c < E.cols; c += blockDim.x)
        out[(size_t)t * E.cols + c] = mat_at(E, row, c) * scale;
}

extern "C" cudaError_t cuda_embed_rows(const cuda_mat *E, const int32_t *ids, int n, float scale, float *out,
                                       cudaStream_t s)
{
    return launch_pdl(embed_kernel, n, 256, 0, s, *E, ids, scale, out);
}

static __global__ void dequant_kernel(cuda_mat W)
{
    int64_t total = W.rows * W.cols;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        store_act(W.gemm, W.gemm_type, (size_t)i, mat_at(W, i / W.cols, i % W.cols));
    }
}

extern "C" cudaError_t cuda_mat_dequant(const cuda_mat *W, cudaStream_t s)
{
    dequant_kernel<<<1024, 256, 0, s>>>(*W);
    return cudaGetLastError();
}

#define GRID_STRIDE(i, n) \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

static int grid_for(int64_t n) { return (int)((n + 255) / 256 < 4096 ? (n + 255) / 256 : 4096); }

/* Elements 4 i .. 4 i + 3 of an array of type t (f32, f16 or bf16): one
 * 16- or 8-byte access. */
static __device__ __forceinline__ float4 load4(const void *p, uint32_t t, int64_t i)
{
    if (t == T_F32) return ((const float4 *)p)[i];
    const uint2 w = ((const uint2 *)p)[i];
    if (t == T_F16) return make_float4(h2f(w.x & 0xffffu), h2f(w.x >> 16), h2f(w.y & 0xffffu), h2f(w.y >> 16));
    return make_float4(bf2f(w.x & 0xffffu), bf2f(w.x >> 16), bf2f(w.y & 0xffffu), bf2f(w.y >> 16));
}

static __device__ __forceinline__ float load1(const void *p, uint32_t t, int64_t i)
{
    if (t == T_F32) return ((const float *)p)[i];
    const uint16_t h = ((const uint16_t *)p)[i];
    return t == T_F16 ? h2f(h) : bf2f(h);
}

/* Rows of 4 w4 values (row r, vector c: inputs at vector r ld4 + c, the
 * output dense at r w4 + c), rows over the grid's y and two vectors a
 * thread over its x, both loads of each before any store (out may be an
 * input, the same elements in place), no division. The n % 4 values past
 * the last whole vector of one dense row (tail) go to block (0, 0)'s first
 * threads. */
static __global__ void glu_kernel(void *out, uint32_t out_type, const void *g, const void *u, uint32_t in_type,
                                  int64_t rows, int64_t w4, int64_t ld4, int tail, int gelu)
{
    pdl_wait();
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        for (int64_t c0 = 2 * (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c0 < w4;
             c0 += 2 * (int64_t)gridDim.x * blockDim.x) {
            const int64_t c1 = c0 + blockDim.x, in = r * ld4, o = r * w4;
            const float4 a0 = load4(g, in_type, in + c0), b0 = load4(u, in_type, in + c0);
            float4 a1 = a0, b1 = b0;
            if (c1 < w4) a1 = load4(g, in_type, in + c1), b1 = load4(u, in_type, in + c1);
            const float v0[4] = {glu1(a0.x, b0.x, gelu), glu1(a0.y, b0.y, gelu), glu1(a0.z, b0.z, gelu),
                                 glu1(a0.w, b0.w, gelu)};
            store4_act(out, out_type, (size_t)(o + c0), v0);
            if (c1 < w4) {
                const float v1[4] = {glu1(a1.x, b1.x, gelu), glu1(a1.y, b1.y, gelu), glu1(a1.z, b1.z, gelu),
                                     glu1(a1.w, b1.w, gelu)};
                store4_act(out, out_type, (size_t)(o + c1), v1);
            }
        }
    }
    if (blockIdx.x == 0 && blockIdx.y == 0 && (int)threadIdx.x < tail) {
        const int64_t t = 4 * w4 + threadIdx.x;
        store_act(out, out_type, (size_t)t, glu1(load1(g, in_type, t), load1(u, in_type, t), gelu));
    }
}

static __global__ void softcap_kernel(float *x, int64_t n, float cap)
{
    pdl_wait();
    GRID_STRIDE(i, n) x[i] = cap * tanhf(x[i] / cap);
}

static __global__ void gelu_kernel(float *x, int64_t n)
{
    GRID_STRIDE(i, n) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

static __global__ void add_kernel(float *y, const float *x, int64_t n)
{
    pdl_wait();
    GRID_STRIDE(i, n) y[i] += x[i];
}

static __global__ void bias_kernel(float *y, const float *b, int64_t n, int dim)
{
    GRID_STRIDE(i, n) y[i] += b[i % dim];
}

/* block (s, column tile): the mean of sequence s's rows, one column per thread */
static __global__ void mean_rows_kernel(float *out, const float *x, const int *start, int dim)
{
    int seq = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= dim) return;
    int r0 = start[seq], r1 = start[seq + 1];
    float acc = 0;
    for (int r = r0; r < r1; r++) acc += x[(int64_t)r * dim + c];
    out[(int64_t)seq * dim + c] = r1 > r0 ? acc / (float)(r1 - r0) : 0.0f;
}

static __global__ void to16_kernel(void *dst, uint32_t type, const float *src, int64_t n)
{
    GRID_STRIDE(i, n) store_act(dst, type, (size_t)i, src[i]);
}

extern "C" cudaError_t cuda_glu(void *out, uint32_t out_type, const void *gate, const void *up, uint32_t in_type,
                                int64_t n, int width, int ld, int gelu, cudaStream_t s)
{
    const uint32_t ok[3] = {T_F32, T_F16, T_BF16};
    int in_ok = 0, out_ok = 0;
    for (int k = 0; k < 3; k++) in_ok |= in_type == ok[k], out_ok |= out_type == ok[k];
    if (!in_ok || !out_ok || n < 0) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    if (width < 1 || ld < width) return cudaErrorInvalidValue;
    const int rows = ld != width; /* rows apart: n whole rows of a width of whole vectors */
    if (rows && (n % width || width % 4 || ld % 4)) return cudaErrorInvalidValue;
    /* out over an input: only the same elements in place (dense rows, one element size), else threads race */
    const size_t in_el = in_type == T_F32 ? 4 : 2, out_el = out_type == T_F32 ? 4 : 2;
    const char *o0 = (const char *)out, *o1 = o0 + (size_t)n * out_el;
    /* an input's span ends with its last value (rows: the last row's width, not its ld) */
    const size_t in_span = (rows ? (size_t)(n / width - 1) * ld + width : (size_t)n) * in_el;
    for (int k = 0; k < 2; k++) {
        const char *i0 = (const char *)(k ? up : gate), *i1 = i0 + in_span;
        if (o0 < i1 && i0 < o1 && (rows || o0 != i0 || in_type != out_type)) return cudaErrorInvalidValue;
    }
    const uintptr_t in_align = in_type == T_F32 ? 16 : 8, out_align = out_type == T_F32 ? 16 : 8;
    if ((uintptr_t)gate % in_align || (uintptr_t)up % in_align || (uintptr_t)out % out_align)
        return cudaErrorInvalidValue;
    /* rows apart: n / width rows of width / 4 vectors; else one dense row */
    const int64_t n_rows = rows ? n / width : 1, w4 = rows ? width / 4 : n / 4, ld4 = rows ? ld / 4 : w4;
    const int64_t gx = (w4 + 511) / 512;
    const dim3 grid((unsigned)(gx < 1 ? 1 : gx < 65535 ? gx : 65535), (unsigned)(n_rows < 65535 ? n_rows : 65535));
    return launch_pdl(glu_kernel, grid, 256, 0, s, out, out_type, gate, up, in_type, n_rows, w4, ld4,
                      rows ? 0 : (int)(n % 4), gelu);
}

extern "C" cudaError_t cuda_softcap(float *x, int64_t n, float cap, cudaStream_t s)
{
    return launch_pdl(softcap_kernel, grid_for(n), 256, 0, s, x, n, cap);
}

extern "C" cudaError_t cuda_gelu(float *x, int64_t n, cudaStream_t s)
{
    gelu_kernel<<<grid_for(n), 256, 0, s>>>(x, n);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_add(float *y, const float *x, int64_t n, cudaStream_t s)
{
    return launch_pdl(add_kernel, grid_for(n), 256, 0, s, y, x, n);
}

extern "C" cudaError_t cuda_add_bias(float *y, const float *b, int n_rows, int dim, cudaStream_t s)
{
    int64_t n = (int64_t)n_rows * dim;
    bias_kernel<<<grid_for(n), 256, 0, s>>>(y, b, n, dim);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_mean_rows(float *out, const float *x, const int *start, int n_seq, int dim, cudaStream_t s)
{
    if (n_seq <= 0) return cudaSuccess;
    mean_rows_kernel<<<dim3((unsigned)n_seq, (unsigned)((dim + 127) / 128)), 128, 0, s>>>(out, x, start, dim);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_to_16bit(void *dst, uint32_t type, const float *src, int64_t n, cudaStream_t s)
{
    if (type != T_F16 && type != T_BF16) return cudaErrorInvalidValue;
    to16_kernel<<<grid_for(n), 256, 0, s>>>(dst, type, src, n);
    return cudaGetLastError();
}
