#!/usr/bin/env python3
"""The peer for bench_gpu's "prompt attention" line: PyTorch's
scaled_dot_product_attention on the GPU, causal, batch 1, fp16 inputs
already on the device, for each (query heads, KV heads, head dimension)
given, over a prompt of N tokens. Keys and values are expanded to every
query head before timing (the flash backend takes equal head counts);
the time is a call's share of 10 calls made back to back between two CUDA
events (so that Python's time to launch one hides behind the one before,
where the kernel is longer than that: not at 512 tokens on an H100),
median of 10 such samples after 3 warm-ups. TFLOP/s count 4 x head_dim
FLOPs per (query, key seen, head), as bench_gpu does. Prints one JSON line
per shape.

    python3 bench/attn_peer_gpu.py [N] [NH:NKV:HD ...]
"""
import json
import statistics
import sys

import torch
import torch.nn.functional as F


def backend_context():
    """The flash backend where this torch has the selector, else default."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        return sdpa_kernel([SDPBackend.FLASH_ATTENTION]), "flash"
    except ImportError:
        import contextlib

        return contextlib.nullcontext(), "default"


def time_shape(n: int, nh: int, nkv: int, hd: int) -> dict:
    g = torch.Generator(device="cuda").manual_seed(1)
    q = torch.randn(1, nh, n, hd, device="cuda", dtype=torch.float16, generator=g)
    k = torch.randn(1, nkv, n, hd, device="cuda", dtype=torch.float16, generator=g)
    v = torch.randn(1, nkv, n, hd, device="cuda", dtype=torch.float16, generator=g)
    k = k.repeat_interleave(nh // nkv, dim=1).contiguous()
    v = v.repeat_interleave(nh // nkv, dim=1).contiguous()
    ctx, name = backend_context()
    times = []
    with ctx, torch.no_grad():
        for i in range(13):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            for _ in range(10):
                F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0 / hd**0.5)
            b.record()
            torch.cuda.synchronize()
            if i >= 3:
                times.append(a.elapsed_time(b) * 1e2)
    us = statistics.median(times)
    flop = 4.0 * hd * (n * (n + 1) / 2) * nh
    return {"peer": "torch sdpa " + name, "torch": torch.__version__, "device": torch.cuda.get_device_name(),
            "n": n, "heads": nh, "kv_heads": nkv, "head_dim": hd, "us": round(us, 1),
            "tflops": round(flop / (us * 1e-6) / 1e12, 1)}


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
    shapes = sys.argv[2:] or ["14:2:64", "9:3:64", "4:1:256"]
    for s in shapes:
        nh, nkv, hd = (int(x) for x in s.split(":"))
        try:
            print(json.dumps(time_shape(n, nh, nkv, hd)), flush=True)
        except RuntimeError as e:  # a backend that refuses the shape
            print(json.dumps({"n": n, "heads": nh, "kv_heads": nkv, "head_dim": hd, "error": str(e)[:200]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
