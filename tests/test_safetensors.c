/* The safetensors reader on synthetic files and damaged ones, and model
 * directories with missing or malformed parts. */
#include <sys/stat.h>
#include <unistd.h>

#include "cpu/quant.h"
#include "hrt.h"
#include "safetensors.h"
#include "test.h"

/* header JSON + data bytes -> file image */
static uint8_t *image(const char *hdr, const void *data, size_t dlen, size_t *len)
{
    uint64_t h = strlen(hdr);
    *len = 8 + h + dlen;
    uint8_t *p = malloc(*len);
    memcpy(p, &h, 8);
    memcpy(p + 8, hdr, h);
    if (dlen) memcpy(p + 8 + h, data, dlen);
    return p;
}

static void expect_bad(const char *hdr, size_t dlen, int code, const char *want)
{
    static uint8_t data[256];
    size_t len;
    uint8_t *p = image(hdr, data, dlen, &len);
    st_file *f = NULL;
    int st = st_parse(p, len, "bad.safetensors", &f);
    CHECK_MSG(st == code && !f, "header %s: status %d, want %d", hdr, st, code);
    CHECK_MSG(strstr(hrt_last_error(), "bad.safetensors") && strstr(hrt_last_error(), want),
              "message '%s' lacks '%s'", hrt_last_error(), want);
    st_close(f);
    free(p);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

int main(void)
{
    float data[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[2] = {0x3c00, 0x4000};
    uint8_t buf[32];
    memcpy(buf, data, 24);
    memcpy(buf + 24, h, 4);
    size_t len;
    uint8_t *p = image("{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"F16\",\"shape\":[2],"
                       "\"data_offsets\":[24,28]},\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}",
                       buf, 28, &len);
    st_file *f = NULL;
    CHECK_STATUS(st_parse(p, len, "ok.safetensors", &f), 0);
    if (f) {
        const st_tensor *a = st_find(f, "a"), *b = st_find(f, "b");
        CHECK(f->n_tensors == 2 && a && b && a->shape[0] == 2 && a->shape[1] == 3 && a->type == GGML_TYPE_F32);
        float a5 = 0;
        if (a) memcpy(&a5, (const char *)a->data + 20, 4); /* the test image leaves it unaligned */
        CHECK(a5 == 6.0f);
        uint16_t b1 = 0;
        if (b) memcpy(&b1, (const char *)b->data + 2, 2);
        CHECK(b && b->type == GGML_TYPE_F16 && fp16_to_fp32(b1) == 2.0f);
        CHECK(st_find(f, "c") == NULL);
        st_close(f);
    }
    /* every truncation is refused */
    int accepted = 0;
    for (size_t n = 0; n < len; n++) {
        f = NULL;
        if (st_parse(p, n, "t.safetensors", &f) == 0) accepted++;
        st_close(f);
    }
    CHECK_MSG(accepted == 0, "%d truncations accepted", accepted);
    free(p);

    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, HRT_E_FORMAT, "past the end");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}", 16, HRT_E_FORMAT, "12 bytes");
    expect_bad("{\"a\":{\"dtype\":\"Q9\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, HRT_E_UNSUPPORTED, "Q9");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16, HRT_E_FORMAT, "shape");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", 16, HRT_E_FORMAT, "data_offsets");
    expect_bad("{\"a\":{\"shape\":[4]}}", 16, HRT_E_FORMAT, "dtype");
    expect_bad("{\"a\": [1, 2", 16, HRT_E_FORMAT, "JSON");
    expect_bad("[]", 0, HRT_E_FORMAT, "JSON object");
    uint64_t huge = 1ull << 62;
    st_file *g = NULL;
    CHECK_STATUS(st_parse(&huge, 8, "huge.safetensors", &g), HRT_E_FORMAT);

    /* Model directories. */
    char dir[] = "/tmp/hrt_st_XXXXXX", path[512];
    CHECK(mkdtemp(dir) != NULL);
    hrt_model *m = NULL;
    CHECK_STATUS(hrt_model_open(dir, NULL, &m), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), "config.json") != NULL);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, "{\"model_type\": ", 15);
    CHECK_STATUS(hrt_model_open(dir, NULL, &m), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), "JSON") != NULL);
    const char *cfg = "{\"model_type\":\"gpt_neox\"}";
    write_file(path, cfg, strlen(cfg));
    CHECK_STATUS(hrt_model_open(dir, NULL, &m), HRT_E_UNSUPPORTED);
    CHECK(strstr(hrt_last_error(), "gpt_neox") != NULL);
    cfg = "{\"model_type\":\"bert\",\"hidden_size\":8}";
    write_file(path, cfg, strlen(cfg));
    CHECK_STATUS(hrt_model_open(dir, NULL, &m), HRT_E_FORMAT);
    CHECK(strstr(hrt_last_error(), "num_hidden_layers") != NULL);
    unlink(path);
    rmdir(dir);

    /* A checkpoint whose data section starts at an odd offset (the header
     * padded with one space, valid JSON) loads and computes exactly as the
     * original: misaligned tensors are copied, never read in place. */
    {
        char src_dir[1024], odd_dir[] = "/tmp/hrt_odd_XXXXXX", src[1200], dst[1200];
        snprintf(src_dir, sizeof src_dir, "%s/tests/golden/tiny/llama", HRT_SOURCE_DIR);
        CHECK(mkdtemp(odd_dir) != NULL);
        const char *names[] = {"config.json", "tokenizer.json", "model.safetensors"};
        for (int i = 0; i < 3; i++) {
            size_t n;
            snprintf(src, sizeof src, "%s/%s", src_dir, names[i]);
            snprintf(dst, sizeof dst, "%s/%s", odd_dir, names[i]);
            char *c = test_read_file(src, &n);
            CHECK(c != NULL);
            if (!c) continue;
            if (i == 2) {
                uint64_t hl;
                memcpy(&hl, c, 8);
                char *o = malloc(n + 1);
                uint64_t hl1 = hl + 1;
                memcpy(o, &hl1, 8);
                memcpy(o + 8, c + 8, hl);
                o[8 + hl] = ' ';
                memcpy(o + 9 + hl, c + 8 + hl, n - 8 - hl);
                write_file(dst, o, n + 1);
                free(o);
            } else {
                write_file(dst, c, n);
            }
            free(c);
        }
        hrt_model *a = NULL, *b = NULL;
        CHECK_STATUS(hrt_model_open(src_dir, NULL, &a), 0);
        CHECK_STATUS(hrt_model_open(odd_dir, NULL, &b), 0);
        if (a && b) {
            hrt_session *sa = NULL, *sb = NULL;
            hrt_session_open(a, NULL, &sa);
            hrt_session_open(b, NULL, &sb);
            int32_t ids[5] = {10, 20, 30, 40, 50};
            float la[384], lb[384];
            CHECK_STATUS(hrt_session_eval(sa, ids, 5, la), 0);
            CHECK_STATUS(hrt_session_eval(sb, ids, 5, lb), 0);
            CHECK(!memcmp(la, lb, sizeof la));
            hrt_session_free(sa);
            hrt_session_free(sb);
        }
        hrt_model_free(a);
        hrt_model_free(b);
        for (int i = 0; i < 3; i++) {
            snprintf(dst, sizeof dst, "%s/%s", odd_dir, names[i]);
            unlink(dst);
        }
        rmdir(odd_dir);
    }

    /* The real embedding model with a truncated weights file. */
    char real[1024];
    snprintf(real, sizeof real, "%s/models/all-minilm-l6-v2/model.safetensors", HRT_SOURCE_DIR);
    size_t rlen;
    char *whole = test_read_file(real, &rlen);
    if (whole) {
        char tdir[] = "/tmp/hrt_st_XXXXXX";
        CHECK(mkdtemp(tdir) != NULL);
        const char *files[] = {"config.json", "tokenizer.json", "vocab.txt"};
        for (int i = 0; i < 3; i++) {
            char src[1024], dst[1024];
            size_t n;
            snprintf(src, sizeof src, "%s/models/all-minilm-l6-v2/%s", HRT_SOURCE_DIR, files[i]);
            snprintf(dst, sizeof dst, "%s/%s", tdir, files[i]);
            char *c = test_read_file(src, &n);
            if (c) write_file(dst, c, n);
            free(c);
        }
        snprintf(path, sizeof path, "%s/model.safetensors", tdir);
        write_file(path, whole, rlen / 2);
        CHECK_STATUS(hrt_model_open(tdir, NULL, &m), HRT_E_FORMAT);
        CHECK_MSG(strstr(hrt_last_error(), "model.safetensors") && strstr(hrt_last_error(), "past the end"),
                  "message: %s", hrt_last_error());
        free(whole);
        const char *rm[] = {"config.json", "tokenizer.json", "vocab.txt", "model.safetensors"};
        for (int i = 0; i < 4; i++) {
            snprintf(path, sizeof path, "%s/%s", tdir, rm[i]);
            unlink(path);
        }
        rmdir(tdir);
    } else {
        printf("embedding model absent: skipped the truncated-weights case\n");
    }
    return test_finish();
}
