#!/usr/bin/env python3
"""CPU throughput of llama.cpp (via llama-cpp-python's low-level API).

Measures, for one GGUF model:

  pp  prompt processing: a P-token prompt decoded in ONE llama_decode call
      (BOS first if the model's vocab adds one, then tokens of a fixed English
      text, repeated as needed and cut to P tokens in total); logits are
      requested for the last position only.
  tg  text generation: G further tokens, one llama_decode call per token,
      each chosen by greedy argmax on the host (numpy over the logits of the
      last position).  The first generated token is the argmax of the pp
      logits, so tg runs at context depth P .. P+G-1.

One warm-up run (not reported), then R timed runs; the KV cache is cleared
between runs (llama_memory_clear, or llama_kv_self_clear on older versions).
n_threads = n_threads_batch = T.  Timing uses time.perf_counter: pp is the
single llama_decode call; tg is the whole generation loop (G llama_decode
calls plus the per-token argmax, which is the only Python work inside it).

Output (stdout, one JSON object):
  {"engine":"llama.cpp","version":...,"model":...,"threads":T,
   "prompt_tokens":P,"gen_tokens":G,"pp_tps":[R floats],"tg_tps":[R floats],
   ...extra descriptive keys}

Usage:
  python3 bench/llamacpp_cpu.py --model models/smollm2-135m-instruct-q4_1.gguf \
      [--threads 2] [--prompt 128] [--gen 256] [--reps 5] [--warmup 1]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time

import numpy as np
import llama_cpp

# Fixed English source text for the prompt tokens (repeated as needed).
PROMPT_TEXT = (
    "The history of computing stretches back thousands of years, from the "
    "abacus used by merchants in ancient Mesopotamia to the mechanical "
    "calculators of the seventeenth century. In the 1830s, Charles Babbage "
    "designed the Analytical Engine, a general-purpose machine that Ada "
    "Lovelace recognised could manipulate symbols as well as numbers. A "
    "century later, electronic computers filled entire rooms and consumed "
    "enormous amounts of power. Today, a phone in your pocket is millions of "
    "times faster than those early machines, and small language models can "
    "run on it without a network connection. "
)


# The C library logs to stderr by default; silence it (keep a reference so
# the ctypes callback is not garbage-collected).
@llama_cpp.llama_log_callback
def _quiet_log(level, text, user_data):  # noqa: ARG001
    pass


def tokenize(vocab, text: str, add_special: bool) -> list[int]:
    raw = text.encode("utf-8")
    buf = (llama_cpp.llama_token * (len(raw) + 16))()
    n = llama_cpp.llama_tokenize(vocab, raw, len(raw), buf, len(buf),
                                 add_special, False)
    if n < 0:
        raise RuntimeError("llama_tokenize failed")
    return list(buf[:n])


def make_prompt(vocab, n: int) -> list[int]:
    """BOS (if the model uses one) + tokens of PROMPT_TEXT, n tokens total."""
    toks = []
    if llama_cpp.llama_vocab_get_add_bos(vocab):
        toks.append(int(llama_cpp.llama_vocab_bos(vocab)))
    body = tokenize(vocab, PROMPT_TEXT, add_special=False)
    while len(toks) < n:
        toks.extend(body[: n - len(toks)])
    return toks[:n]


def clear_kv(ctx) -> None:
    """Empty the KV cache with whichever API this llama.cpp version has."""
    if hasattr(llama_cpp, "llama_memory_clear"):
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    elif hasattr(llama_cpp, "llama_kv_self_clear"):
        llama_cpp.llama_kv_self_clear(ctx)
    else:
        llama_cpp.llama_kv_cache_clear(ctx)


def fill_batch(batch, tokens: list[int], pos0: int) -> None:
    """Single sequence 0, positions pos0.., logits only for the last token."""
    batch.n_tokens = len(tokens)
    last = len(tokens) - 1
    for i, t in enumerate(tokens):
        batch.token[i] = t
        batch.pos[i] = pos0 + i
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = 1 if i == last else 0


def main() -> int:
    ap = argparse.ArgumentParser(
        description="llama.cpp CPU prompt/decode throughput (JSON to stdout)")
    ap.add_argument("--model", required=True, help="GGUF file")
    ap.add_argument("--threads", "-t", type=int, default=2)
    ap.add_argument("--prompt", "-p", type=int, default=128, help="prompt tokens P")
    ap.add_argument("--gen", "-g", type=int, default=256, help="generated tokens G")
    ap.add_argument("--reps", "-r", type=int, default=5, help="timed repetitions R")
    ap.add_argument("--warmup", type=int, default=1, help="untimed warm-up runs")
    ap.add_argument("--verbose", action="store_true", help="keep llama.cpp logs")
    ap.add_argument("--gpu-layers", type=int, default=0,
                    help="layers offloaded to the GPU (llama.cpp's CUDA build; 99 = all); default CPU only")
    args = ap.parse_args()
    if args.prompt < 1 or args.gen < 1 or args.reps < 1 or args.threads < 1:
        ap.error("--prompt, --gen, --reps and --threads must be >= 1")

    if not args.verbose:
        llama_cpp.llama_log_set(_quiet_log, ctypes.c_void_p())
    llama_cpp.llama_backend_init()

    mparams = llama_cpp.llama_model_default_params()
    mparams.n_gpu_layers = args.gpu_layers  # 0: CPU only
    model = llama_cpp.llama_model_load_from_file(args.model.encode(), mparams)
    if not model:
        print(f"failed to load model {args.model}", file=sys.stderr)
        return 1
    vocab = llama_cpp.llama_model_get_vocab(model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)

    # Default context parameters except: context just large enough, the whole
    # prompt in one batch, T threads for both single-token and batch work.
    n_ctx = args.prompt + args.gen + 1
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = n_ctx
    cparams.n_batch = max(cparams.n_batch, args.prompt)
    cparams.n_threads = args.threads
    cparams.n_threads_batch = args.threads
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    if not ctx:
        print("failed to create context", file=sys.stderr)
        return 1

    prompt = make_prompt(vocab, args.prompt)
    pp_batch = llama_cpp.llama_batch_init(args.prompt, 0, 1)
    tg_batch = llama_cpp.llama_batch_init(1, 0, 1)
    fill_batch(pp_batch, prompt, 0)
    fill_batch(tg_batch, [0], 0)

    decode = llama_cpp.llama_decode
    get_logits = llama_cpp.llama_get_logits_ith
    perf = time.perf_counter
    P, G = args.prompt, args.gen

    def one_run() -> tuple[float, float]:
        clear_kv(ctx)
        # --- prompt processing: one llama_decode call --------------------
        t0 = perf()
        rc = decode(ctx, pp_batch)
        t1 = perf()
        if rc != 0:
            raise RuntimeError(f"llama_decode(prompt) returned {rc}")
        logits = np.ctypeslib.as_array(get_logits(ctx, -1), shape=(n_vocab,))
        tok = int(logits.argmax())
        # --- generation: G single-token llama_decode calls + argmax ------
        tok_arr, pos_arr = tg_batch.token, tg_batch.pos
        t2 = perf()
        for i in range(G):
            tok_arr[0] = tok
            pos_arr[0] = P + i
            rc = decode(ctx, tg_batch)
            if rc != 0:
                raise RuntimeError(f"llama_decode(gen {i}) returned {rc}")
            tok = int(np.ctypeslib.as_array(get_logits(ctx, -1),
                                            shape=(n_vocab,)).argmax())
        t3 = perf()
        return P / (t1 - t0), G / (t3 - t2)

    for _ in range(args.warmup):
        one_run()
    pp_tps, tg_tps = [], []
    for _ in range(args.reps):
        pp, tg = one_run()
        pp_tps.append(round(pp, 2))
        tg_tps.append(round(tg, 2))

    desc = ctypes.create_string_buffer(256)
    llama_cpp.llama_model_desc(model, desc, len(desc))
    out = {
        "engine": "llama.cpp",
        "version": f"llama-cpp-python {llama_cpp.__version__}",
        "model": os.path.basename(args.model),
        "threads": args.threads,
        "prompt_tokens": P,
        "gen_tokens": G,
        "pp_tps": pp_tps,
        "tg_tps": tg_tps,
        # Extra descriptive keys (not part of the shared shape).
        "model_desc": desc.value.decode("utf-8", errors="replace"),
        "n_ctx": n_ctx,
        "warmup": args.warmup,
        "system_info": llama_cpp.llama_print_system_info().decode(
            "utf-8", errors="replace").strip(),
    }

    llama_cpp.llama_batch_free(pp_batch)
    llama_cpp.llama_batch_free(tg_batch)
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
