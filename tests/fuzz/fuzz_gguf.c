/* libFuzzer harness for the GGUF reader: parse arbitrary bytes, then read
 * every metadata value and tensor through the accessors. */
#include <stdint.h>
#include <stdlib.h>

#include "cpu/quant.h"
#include "gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_file *f = NULL;
    if (gguf_parse(data, size, "fuzz.gguf", &f)) return 0;
    char buf[256];
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        gguf_kv_to_text(kv, buf, sizeof buf);
        uint32_t u;
        float x;
        int b;
        const char *s;
        size_t n;
        uint64_t cnt = 0;
        gguf_get_u32(f, kv->key, &u);
        gguf_get_f32(f, kv->key, &x);
        gguf_get_bool(f, kv->key, &b);
        gguf_get_str(f, kv->key, &s, &n);
        if (gguf_get_str_arr(f, kv->key, NULL, NULL, &cnt) == 0 && cnt < (1u << 20)) {
            const char **p = malloc((cnt + 1) * sizeof *p);
            uint32_t *l = malloc((cnt + 1) * sizeof *l);
            gguf_get_str_arr(f, kv->key, p, l, &cnt);
            free(p);
            free(l);
        }
        if (gguf_get_i32_arr(f, kv->key, NULL, &cnt) == 0 && cnt < (1u << 20)) {
            int32_t *v = malloc((cnt + 1) * sizeof *v);
            gguf_get_i32_arr(f, kv->key, v, &cnt);
            free(v);
        }
    }
    /* Tensor data must lie inside the input: touch its first and last byte. */
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        if (t->nbytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
        gguf_find_tensor(f, t->name);
    }
    (void)sink;
    gguf_close(f);
    return 0;
}
