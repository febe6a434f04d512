#!/usr/bin/env python3
"""How much llama.cpp's logits on the default chat model move with its own
settings — the noise floor that any comparison with 8-bit activations has.

For each llama.cpp configuration (default: f16 KV cache, flash attention
auto; f16 KV without flash attention; f32 KV without flash attention) it
evaluates the 5 golden prompts and follows the golden greedy tokens, and
prints the largest relative difference of the golden top-20 logits (after
the prompt and after each of the first 8 tokens) and, per prompt, the first
step where its own argmax leaves the golden continuation (-1: never).

    python3 tests/golden/llamacpp_config_spread.py [GOLDEN.json]
GOLDEN defaults to smollm2_logits_hf.json (HF transformers, exact float32);
smollm2_logits.json (llama.cpp default) is the other choice.
Numbers quoted in tests/test_logits.c and docs/PERFORMANCE.md come from it.
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import llama_cpp  # noqa: E402
import make_logits_golden as M  # noqa: E402

CONFIGS = {
    "default (f16 KV, flash attention auto)": {},
    "f16 KV, no flash attention": {"flash_attn_type": 0},
    "f32 KV, no flash attention": {"type_k": 0, "type_v": 0, "flash_attn_type": 0},
}


def main() -> int:
    golden = sys.argv[1] if len(sys.argv) > 1 else "smollm2_logits_hf.json"
    g = json.load(open(os.path.join(HERE, golden)))
    model = os.path.join(os.path.dirname(os.path.dirname(HERE)), "models", g["model_file"])
    orig = llama_cpp.llama_context_default_params
    for name, fields in CONFIGS.items():
        def patched(fields=fields):
            cp = orig()
            for k, v in fields.items():
                setattr(cp, k, v)
            return cp
        llama_cpp.llama_context_default_params = patched
        eng = M.Engine(model)
        worst, diverged = 0.0, []
        for p in g["prompts"]:
            eng.reset()
            lg = eng.eval(p["tokens"])
            tops = [p["top20"]] + p["steps_top20"]
            d = -1
            for k, tok in enumerate(p["greedy"]):
                if k < len(tops):
                    for i, want in tops[k]:
                        worst = max(worst, abs(lg[i] - want) / max(abs(want), 1.0))
                if int(np.argmax(lg)) != tok and d < 0:
                    d = k
                lg = eng.eval([tok])
            diverged.append(d)
        eng.close()
        print(f"{name:40s} vs {golden}: largest relative top-20 difference {worst:.3g}; "
              f"greedy divergence per prompt {diverged}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
