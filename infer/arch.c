#include <string.h>

#include "model.h"

static const arch_desc archs[] = {
    /* GGUF llama files carry Q/K weights permuted for adjacent-pair RoPE
     * (llama.cpp's convert_hf_to_gguf.py permutes them); the others keep
     * the HF order and rotate halves. */
    {"llama", "llama", 0, 0},
    {"qwen2", "qwen2", ARCH_QKV_BIAS, 1},
    {"qwen3", "qwen3", ARCH_QK_NORM, 1},
    {"bert", "bert", ARCH_ENCODER, 0},
};

const arch_desc *arch_find(const char *name)
{
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
        if (!strcmp(archs[i].name, name)) return &archs[i];
    return NULL;
}

const arch_desc *arch_find_hf(const char *model_type)
{
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
        if (!strcmp(archs[i].hf_type, model_type)) return &archs[i];
    return NULL;
}
