/* libFuzzer harness for the safetensors reader. */
#include <stdint.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_file *f = NULL;
    if (st_parse(data, size, "fuzz.safetensors", &f)) return 0;
    volatile uint8_t sink = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        if (t->nbytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
        st_find(f, t->name);
    }
    (void)sink;
    st_close(f);
    return 0;
}
