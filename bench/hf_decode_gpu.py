#!/usr/bin/env python3
"""HF transformers' batch-1 greedy decode speed on the GPU, the peer that
bench_gpu's numbers stand beside: a 128-token prompt, then G new tokens
through model.generate (KV cache, no sampling), median of R runs after a
warm-up. Prints one JSON line.

    python3 bench/hf_decode_gpu.py MODEL_DIR [G] [R]
"""
import json
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402


def main() -> int:
    path = sys.argv[1]
    gen = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.bfloat16).cuda().eval()
    vocab = model.config.vocab_size
    ids = torch.tensor([[100 + (i * 7919) % (vocab - 200) for i in range(128)]], device="cuda")
    tps = []
    with torch.no_grad():
        for r in range(reps + 1):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = model.generate(ids, max_new_tokens=gen, min_new_tokens=gen, do_sample=False,
                                 pad_token_id=0, eos_token_id=None)
            torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            assert out.shape[1] == 128 + gen
            if r:
                tps.append(gen / dt)  # includes the 128-token prompt, as a user sees it
    print(json.dumps({"engine": "hf-transformers", "version": transformers.__version__, "model": path,
                      "gen_tokens": gen, "decode_tps": tps, "decode_tps_median": statistics.median(tps)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
