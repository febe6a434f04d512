#include <string.h>

#include "model.h"

static const arch_desc archs[] = {
    /* GGUF llama files carry Q/K weights permuted for adjacent-pair RoPE
     * (llama.cpp's convert_hf_to_gguf.py permutes them); the others keep
     * the HF order and rotate halves. */
    {"llama", "llama", 0, 0, 0, 0},
    {"qwen2", "qwen2", ARCH_QKV_BIAS, 1, 0, 0},
    {"qwen3", "qwen3", ARCH_QK_NORM, 1, 0, 0},
    {"bert", "bert", ARCH_ENCODER, 0, 0, 0},
    /* GGUF only: llama.cpp's converter stores Gemma's RMSNorm weights as
     * 1 + w (HF keeps w), so the norms are plain RMSNorms here. */
    {"gemma3", NULL, ARCH_QK_NORM | ARCH_SANDWICH_NORM | ARCH_GEGLU | ARCH_EMBD_SCALE, 1, 6, 10000.0f},
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
        if (archs[i].hf_type && !strcmp(archs[i].hf_type, model_type)) return &archs[i];
    return NULL;
}
