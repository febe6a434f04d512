#!/usr/bin/env python3
"""Reference logits for the default chat model from HF transformers.

transformers loads the GGUF file itself (dequantizing every tensor through
the `gguf` package into float32 torch tensors, and undoing llama.cpp's Q/K
permutation), then runs its own Llama implementation in float32 on the CPU.
That is the exact arithmetic of the quantized model, without the 8-bit
rounding of activations that llama.cpp (and hrt's fast path) apply; hrt's
f32-activation path is tested against it (tests/test_logits.c).

The prompts and their token ids are those of <model>_logits.json (made by
make_logits_golden.py with llama.cpp), so both goldens share inputs.

Output: tests/golden/<model>_logits_hf.json with, per prompt, the top-20
logits after the prompt, the greedy 64-token continuation (argmax of the
float32 logits, ties to the lowest id) and the top-20 after each of its first
8 tokens.

    pip install torch transformers accelerate gguf
    python3 tests/golden/make_logits_hf_golden.py [smollm2|gemma3]
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL_DIR = os.path.join(ROOT, "models")
MODEL_FILES = {"smollm2": "smollm2-135m-instruct-q4_1.gguf", "gemma3": "gemma-3-270m-q4_k_m.gguf"}
N_GREEDY = 64
N_STEPS = 8


def top20(logits: torch.Tensor) -> list:
    # sort by logit descending, ties to the lower id
    vals, idx = torch.sort(logits, descending=True, stable=True)
    return [[int(i), float(f"{float(v):.7g}")] for i, v in zip(idx[:20], vals[:20])]


def main() -> int:
    torch.manual_seed(0)
    name = sys.argv[1] if len(sys.argv) > 1 else "smollm2"
    MODEL_FILE = MODEL_FILES[name]
    src = json.load(open(os.path.join(HERE, f"{name}_logits.json")))
    model = AutoModelForCausalLM.from_pretrained(
        MODEL_DIR, gguf_file=MODEL_FILE, torch_dtype=torch.float32)
    model.eval()
    out = {
        "generator": "tests/golden/make_logits_hf_golden.py (HF transformers, float32, CPU, "
                     "weights dequantized from the GGUF file)",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "model_file": MODEL_FILE,
        "model_sha256": src["model_sha256"],
        "prompts": [],
    }
    with torch.no_grad():
        for p in src["prompts"]:
            ids = list(p["tokens"])
            res = model(torch.tensor([ids]), use_cache=True)
            past, logits = res.past_key_values, res.logits[0, -1]
            entry = {"text": p["text"], "tokens": ids, "top20": top20(logits),
                     "greedy": [], "steps_top20": []}
            for k in range(N_GREEDY):
                tok = int(torch.argmax(logits))  # first maximum: lowest id on ties
                entry["greedy"].append(tok)
                res = model(torch.tensor([[tok]]), past_key_values=past, use_cache=True)
                past, logits = res.past_key_values, res.logits[0, -1]
                if k < N_STEPS:
                    entry["steps_top20"].append(top20(logits))
            out["prompts"].append(entry)
            print(f"prompt {len(out['prompts'])}: {len(ids)} tokens, greedy {entry['greedy'][:8]}...",
                  file=sys.stderr)
    with open(os.path.join(HERE, f"{name}_logits_hf.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
