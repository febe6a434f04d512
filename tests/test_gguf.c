/* The GGUF reader on synthetic files (every value type, arrays, alignment,
 * tensor bounds) and on damaged ones: each damage gives an error that names
 * the file and the field, never a crash. Then the real default model. */
#include "gguf.h"
#include "cpu/quant.h"
#include "gguf_writer.h"
#include "hrt.h"
#include "test.h"
#include <unistd.h>

/* A small valid file: scalar of each type, a string array, an int array,
 * a nested array, and two F32 tensors. */
static gw_buf make_valid(void)
{
    gw_buf b = {0};
    gw_u32(&b, 0x46554747u);
    gw_u32(&b, 3);
    gw_u64(&b, 2);  /* tensors */
    gw_u64(&b, 17); /* kv */
    uint8_t u8 = 200; int8_t i8 = -5; uint16_t u16 = 60000; int16_t i16 = -30000; int32_t i32 = -7;
    uint64_t u64 = 1ull << 40; int64_t i64 = -(1ll << 40); double f64 = 2.5; uint8_t bl = 1;
    struct { const char *k; uint32_t t; const void *v; size_t n; } sc[] = {
        {"t.u8", 0, &u8, 1}, {"t.i8", 1, &i8, 1}, {"t.u16", 2, &u16, 2}, {"t.i16", 3, &i16, 2},
        {"t.i32", 5, &i32, 4}, {"t.bool", 7, &bl, 1}, {"t.u64", 10, &u64, 8}, {"t.i64", 11, &i64, 8},
        {"t.f64", 12, &f64, 8},
    };
    for (size_t i = 0; i < sizeof sc / sizeof *sc; i++) {
        gw_str(&b, sc[i].k);
        gw_u32(&b, sc[i].t);
        gw_put(&b, sc[i].v, sc[i].n);
    }
    gw_kv_u32(&b, "t.u32", 123456);
    gw_kv_f32(&b, "t.f32", 0.125f);
    gw_kv_str(&b, "general.architecture", "test");
    gw_kv_str(&b, "t.empty", "");
    gw_str(&b, "t.strs"); gw_u32(&b, 9); gw_u32(&b, 8); gw_u64(&b, 3);
    gw_str(&b, "a"); gw_str(&b, ""); gw_str(&b, "h\xc3\xa9llo");
    gw_str(&b, "t.ints"); gw_u32(&b, 9); gw_u32(&b, 5); gw_u64(&b, 4);
    for (int32_t v = -1; v < 3; v++) gw_u32(&b, (uint32_t)v);
    gw_str(&b, "t.nested"); gw_u32(&b, 9); gw_u32(&b, 9); gw_u64(&b, 2);
    gw_u32(&b, 4); gw_u64(&b, 1); gw_u32(&b, 7);
    gw_u32(&b, 8); gw_u64(&b, 1); gw_str(&b, "x");
    gw_kv_u32(&b, "general.alignment", 64);
    gw_tensor(&b, "w.a", 32, 2, GGML_TYPE_F32, 0);
    gw_tensor(&b, "w.b", 32, 1, GGML_TYPE_Q8_0, 256);
    gw_pad(&b, 64);
    for (int i = 0; i < 64; i++) gw_f32(&b, (float)i);       /* w.a: 256 bytes */
    uint8_t q[34] = {0x00, 0x3c};                             /* d = 1.0 */
    for (int i = 0; i < 32; i++) q[2 + i] = (uint8_t)i;
    gw_put(&b, q, sizeof q);
    return b;
}

static void test_valid(void)
{
    gw_buf b = make_valid();
    gguf_file *f = NULL;
    CHECK_STATUS(gguf_parse(b.p, b.len, "mem.gguf", &f), 0);
    if (!f) return;
    uint32_t u;
    float x;
    int bl;
    const char *s;
    size_t n;
    CHECK(f->version == 3 && f->alignment == 64 && f->n_tensors == 2);
    CHECK(gguf_get_u32(f, "t.u32", &u) == 0 && u == 123456);
    CHECK(gguf_get_u32(f, "t.u16", &u) == 0 && u == 60000);
    CHECK(gguf_get_u32(f, "t.u8", &u) == 0 && u == 200);
    CHECK(gguf_get_u32(f, "t.i32", &u) == HRT_E_FORMAT); /* negative */
    CHECK(gguf_get_u32(f, "t.u64", &u) == HRT_E_FORMAT); /* too large */
    CHECK(gguf_get_u32(f, "absent", &u) == HRT_E_RANGE);
    CHECK(gguf_get_f32(f, "t.f32", &x) == 0 && x == 0.125f);
    CHECK(gguf_get_f32(f, "t.f64", &x) == 0 && x == 2.5f);
    CHECK(gguf_get_bool(f, "t.bool", &bl) == 0 && bl == 1);
    CHECK(gguf_get_str(f, "general.architecture", &s, &n) == 0 && n == 4 && !memcmp(s, "test", 4));
    CHECK(gguf_get_str(f, "t.empty", &s, &n) == 0 && n == 0);
    CHECK_STATUS(gguf_get_str(f, "t.u32", &s, &n), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), "mem.gguf") && strstr(hrt_last_error(), "t.u32"));
    const char *ptrs[3];
    uint32_t lens[3];
    uint64_t cnt;
    CHECK(gguf_get_str_arr(f, "t.strs", ptrs, lens, &cnt) == 0 && cnt == 3 && lens[1] == 0 &&
          lens[2] == 6 && !memcmp(ptrs[2], "h\xc3\xa9llo", 6));
    int32_t iv[4];
    CHECK(gguf_get_i32_arr(f, "t.ints", iv, &cnt) == 0 && cnt == 4 && iv[0] == -1 && iv[3] == 2);
    const gguf_kv *kv = gguf_find(f, "t.nested");
    CHECK(kv && kv->type == GGUF_ARRAY && kv->arr_type == GGUF_ARRAY && kv->arr_count == 2);
    char txt[64];
    CHECK(gguf_kv_to_text(gguf_find(f, "t.strs"), txt, sizeof txt) > 0 && strstr(txt, "string x 3"));
    const gguf_tensor *a = gguf_find_tensor(f, "w.a"), *q = gguf_find_tensor(f, "w.b");
    CHECK(a && a->ne[0] == 32 && a->ne[1] == 2 && a->nbytes == 256 && ((const float *)a->data)[63] == 63.0f);
    CHECK(q && q->type == GGML_TYPE_Q8_0 && q->nbytes == 34);
    if (q) {
        float out[32];
        dequantize_row(q->type, q->data, out, 32);
        CHECK(out[31] == 31.0f);
    }
    CHECK(gguf_find_tensor(f, "w.c") == NULL);
    gguf_close(f);
    free(b.p);
}

/* Parses damaged bytes and expects failure with a message naming the file
 * and containing want. */
static void expect_bad(const uint8_t *p, size_t n, int want_code, const char *want, const char *what)
{
    gguf_file *f = NULL;
    int st = gguf_parse(p, n, "bad.gguf", &f);
    CHECK_MSG(st == want_code && f == NULL, "%s: status %d, want %d", what, st, want_code);
    CHECK_MSG(strstr(hrt_last_error(), "bad.gguf") && (!want || strstr(hrt_last_error(), want)),
              "%s: message '%s' lacks '%s'", what, hrt_last_error(), want ? want : "");
    gguf_close(f);
}

static void patch_u64_after(gw_buf *b, const char *marker, uint64_t v, size_t skip)
{
    uint8_t *m = memmem(b->p, b->len, marker, strlen(marker));
    if (m) memcpy(m + strlen(marker) + skip, &v, 8);
}

static void test_damaged(void)
{
    gw_buf b = make_valid();
    /* Every truncation fails cleanly (the data section included). */
    int bad = 0;
    for (size_t n = 0; n < b.len; n++) {
        gguf_file *f = NULL;
        if (gguf_parse(b.p, n, "bad.gguf", &f) == 0) bad++;
        gguf_close(f);
    }
    CHECK_MSG(bad == 0, "%d truncations were accepted", bad);
    expect_bad(b.p, b.len - 1, HRT_E_FORMAT, "past the end", "truncated data");
    expect_bad(b.p, 20, HRT_E_FORMAT, "truncated", "truncated header");

    gw_buf c = {0};
    gw_put(&c, b.p, b.len);
    c.p[0] = 'X';
    expect_bad(c.p, c.len, HRT_E_FORMAT, "magic", "wrong magic");
    memcpy(c.p, b.p, b.len);
    uint32_t v1 = 1;
    memcpy(c.p + 4, &v1, 4);
    expect_bad(c.p, c.len, HRT_E_UNSUPPORTED, "version 1", "old version");
    memcpy(c.p, b.p, b.len);
    uint64_t huge = 1ull << 50;
    memcpy(c.p + 16, &huge, 8);
    expect_bad(c.p, c.len, HRT_E_FORMAT, "metadata count", "absurd kv count");
    memcpy(c.p, b.p, b.len);
    memcpy(c.p + 8, &huge, 8);
    expect_bad(c.p, c.len, HRT_E_FORMAT, "tensor count", "absurd tensor count");
    /* a string length far past the end */
    memcpy(c.p, b.p, b.len);
    patch_u64_after(&c, "general.architecture", huge, 4);
    expect_bad(c.p, c.len, HRT_E_FORMAT, "general.architecture", "absurd string length");
    /* an array count past the end */
    memcpy(c.p, b.p, b.len);
    patch_u64_after(&c, "t.ints", huge, 8);
    expect_bad(c.p, c.len, HRT_E_FORMAT, "t.ints", "absurd array count");
    /* an unknown value type */
    memcpy(c.p, b.p, b.len);
    uint8_t *m = memmem(c.p, c.len, "t.u32", 5);
    uint32_t t99 = 99;
    memcpy(m + 5, &t99, 4);
    expect_bad(c.p, c.len, HRT_E_FORMAT, "unknown value type", "unknown value type");
    /* an unknown tensor type */
    memcpy(c.p, b.p, b.len);
    m = memmem(c.p, c.len, "w.a", 3);
    memcpy(m + 3 + 4 + 16, &t99, 4);
    expect_bad(c.p, c.len, HRT_E_FORMAT, "unknown tensor type", "unknown tensor type");
    /* five dimensions */
    memcpy(c.p, b.p, b.len);
    uint32_t five = 5;
    memcpy(m + 3, &five, 4);
    expect_bad(c.p, c.len, HRT_E_FORMAT, "n_dims", "too many dims");
    /* a zero dimension */
    memcpy(c.p, b.p, b.len);
    uint64_t zero = 0;
    memcpy(m + 3 + 4, &zero, 8);
    expect_bad(c.p, c.len, HRT_E_FORMAT, "dimension", "zero dim");
    /* a misaligned offset and one past the end */
    memcpy(c.p, b.p, b.len);
    m = memmem(c.p, c.len, "w.b", 3);
    uint64_t off = 100;
    memcpy(m + 3 + 4 + 8 + 4, &off, 8);
    expect_bad(c.p, c.len, HRT_E_FORMAT, "alignment", "misaligned offset");
    off = 1ull << 20;
    memcpy(m + 3 + 4 + 8 + 4, &off, 8);
    expect_bad(c.p, c.len, HRT_E_FORMAT, "past the end", "data past end");
    /* a duplicate tensor name */
    memcpy(c.p, b.p, b.len);
    m = memmem(c.p, c.len, "w.b", 3);
    m[2] = 'a';
    expect_bad(c.p, c.len, HRT_E_FORMAT, "twice", "duplicate tensor");
    /* a bad alignment value */
    memcpy(c.p, b.p, b.len);
    m = memmem(c.p, c.len, "general.alignment", 17);
    uint32_t al = 48;
    memcpy(m + 17 + 4, &al, 4);
    expect_bad(c.p, c.len, HRT_E_FORMAT, "alignment", "non power of two alignment");
    free(c.p);
    free(b.p);
    /* Deeply nested arrays are refused, not recursed into without bound. */
    gw_buf d = {0};
    gw_u32(&d, 0x46554747u); gw_u32(&d, 3); gw_u64(&d, 0); gw_u64(&d, 1);
    gw_str(&d, "deep"); gw_u32(&d, 9);
    for (int i = 0; i < 20; i++) { gw_u32(&d, 9); gw_u64(&d, 1); }
    gw_u32(&d, 4); gw_u64(&d, 0);
    expect_bad(d.p, d.len, HRT_E_FORMAT, "nested", "deep nesting");
    free(d.p);
}

/* The model loader on synthetic files: missing required metadata and
 * missing tensors are named. */
static void test_model_errors(void)
{
    char path[] = "/tmp/hrt_test_XXXXXX.gguf";
    int fd = mkstemps(path, 5);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    gw_buf b = {0};
    gw_u32(&b, 0x46554747u); gw_u32(&b, 3); gw_u64(&b, 0); gw_u64(&b, 2);
    gw_kv_str(&b, "general.architecture", "llama");
    gw_kv_u32(&b, "llama.embedding_length", 64);
    FILE *f = fopen(path, "wb");
    fwrite(b.p, 1, b.len, f);
    fclose(f);
    hrt_model *m = NULL;
    CHECK_STATUS(hrt_model_open(path, NULL, &m), HRT_E_FORMAT);
    CHECK(m == NULL && strstr(hrt_last_error(), path) && strstr(hrt_last_error(), "llama.block_count"));
    free(b.p);
    b = (gw_buf){0};
    gw_u32(&b, 0x46554747u); gw_u32(&b, 3); gw_u64(&b, 0); gw_u64(&b, 1);
    gw_kv_str(&b, "general.architecture", "mamba");
    f = fopen(path, "wb");
    fwrite(b.p, 1, b.len, f);
    fclose(f);
    CHECK_STATUS(hrt_model_open(path, NULL, &m), HRT_E_UNSUPPORTED);
    CHECK(strstr(hrt_last_error(), "mamba") != NULL);
    free(b.p);
    unlink(path);
    CHECK_STATUS(hrt_model_open("/nonexistent/model.gguf", NULL, &m), HRT_E_IO);
    CHECK(strstr(hrt_last_error(), "/nonexistent/model.gguf") != NULL);
}

/* The real model file, whole and truncated. */
static void test_real(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/smollm2-135m-instruct-q4_1.gguf", HRT_SOURCE_DIR);
    gguf_file *f = NULL;
    if (gguf_open(path, &f)) {
        printf("real model absent (%s): skipping that part\n", hrt_last_error());
        return;
    }
    uint32_t v;
    CHECK(f->n_tensors == 272 && f->n_kv == 33);
    CHECK(gguf_get_u32(f, "llama.block_count", &v) == 0 && v == 30);
    CHECK(gguf_get_u32(f, "llama.embedding_length", &v) == 0 && v == 576);
    const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
    CHECK(t && t->type == GGML_TYPE_Q8_0 && t->ne[0] == 576 && t->ne[1] == 49152);
    uint64_t n;
    CHECK(gguf_get_str_arr(f, "tokenizer.ggml.tokens", NULL, NULL, &n) == 0 && n == 49152);
    /* Truncated copies: at the header, inside the vocabulary, and inside
     * the last tensor. Each is refused with the file named. */
    size_t cuts[] = {10, 1000000, f->size - 1000};
    for (size_t i = 0; i < 3; i++) {
        char tp[] = "/tmp/hrt_trunc_XXXXXX.gguf";
        int fd = mkstemps(tp, 5);
        if (fd < 0) continue;
        CHECK(write(fd, f->base, cuts[i]) == (ssize_t)cuts[i]);
        close(fd);
        hrt_model *m = NULL;
        CHECK_STATUS(hrt_model_open(tp, NULL, &m), HRT_E_FORMAT);
        CHECK_MSG(strstr(hrt_last_error(), tp) != NULL, "message '%s' does not name the file", hrt_last_error());
        unlink(tp);
    }
    gguf_close(f);
}

int main(void)
{
    test_valid();
    test_damaged();
    test_model_errors();
    test_real();
    return test_finish();
}
