#!/usr/bin/env python3
"""Generate tests/golden/<model>_logits.json: reference logits from llama.cpp.

The reference engine is llama.cpp, driven through llama-cpp-python's
low-level ctypes API (llama_cpp.llama_* functions), on the CPU with
n_threads = n_threads_batch = 2, n_ctx = 512 and otherwise default context
parameters.

For each of a fixed set of prompts the script records:

  tokens       prompt token ids, tokenized by llama.cpp with add_special=True
               (so BOS is added iff the GGUF's tokenizer.ggml.add_bos_token
               says so) and parse_special=True (ChatML markers become single
               special tokens)
  top20        the 20 largest raw logits of the last prompt position, as
               [token_id, logit] pairs sorted by logit descending, ties broken
               by ascending token id
  greedy       64 greedily decoded token ids: argmax of the raw logits, ties
               to the lowest id; EOS/EOG tokens do NOT stop decoding, so the
               sequence always has exactly 64 ids.  Every chosen token is fed
               back with its own llama_decode call (batch of 1).
  steps_top20  for k = 0..7: the top-20 of the logits produced by evaluating
               greedy[k], i.e. the distribution from which greedy[k+1] was
               chosen.  (top20 itself is the distribution of greedy[0].)
  greedy_text  the 64 ids detokenized, special tokens rendered as text

Logits are stored rounded to 6 significant digits.

Usage:  python3 tests/golden/make_logits_golden.py [--model-name smollm2|gemma3]
                                                  [--model PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import sys

import numpy as np
import llama_cpp

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))

# --model-name: file in models/, its sha256, the context, and the prompts
MODELS = {
    "smollm2": ("smollm2-135m-instruct-q4_1.gguf",
                "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 512),
    "gemma3": ("gemma-3-270m-q4_k_m.gguf",
               "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", 1024),
}
MODEL_FILE, MODEL_SHA256, N_CTX = MODELS["smollm2"]

N_THREADS = 2
TOP_K = 20          # entries per top-k list
N_GREEDY = 64       # greedy tokens per prompt
N_STEPS_TOPK = 8    # generated steps for which the top-k is also recorded

PROMPTS = [
    # (1) ChatML, no system message.
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
    "<|im_start|>assistant\n",
    # (2) Short plain-English completion prompt.
    "The quick brown fox jumps over the lazy dog. Once upon a time, there was a",
    # (3) Code prompt.
    "def fibonacci(n):",
    # (4) Longer multi-sentence prompt (~100 tokens).
    "The history of computing stretches back thousands of years, from the "
    "abacus used by merchants in ancient Mesopotamia to the mechanical "
    "calculators of the seventeenth century. In the 1830s, Charles Babbage "
    "designed the Analytical Engine, a general-purpose machine that Ada "
    "Lovelace recognised could manipulate symbols as well as numbers. A "
    "century later, electronic computers filled entire rooms and consumed "
    "enormous amounts of power. Today, a phone in your pocket is millions of "
    "times faster, and small language models can run on it. In the next "
    "decade,",
    # (5) ChatML with a system message and a math question.
    "<|im_start|>system\nYou are a helpful assistant who solves math problems "
    "step by step.<|im_end|>\n"
    "<|im_start|>user\nWhat is 17 multiplied by 23?<|im_end|>\n"
    "<|im_start|>assistant\n",
]

# Gemma 3: the same texts, chat prompts in Gemma's turn format (a system
# message goes into the first user turn), plus one prompt longer than the
# 512-token sliding window of its local layers, made of the example help
# centre's articles (written for this project), so that the window matters.
def _helpcentre_text(n_words: int) -> str:
    words = []
    base = os.path.join(REPO, "examples", "helpcentre")
    for d in sorted(os.listdir(base)):
        for f in sorted(os.listdir(os.path.join(base, d))):
            with open(os.path.join(base, d, f), encoding="utf-8") as fh:
                words += fh.read().split()
    return " ".join(words[:n_words])


GEMMA_PROMPTS = [
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n"
    "<start_of_turn>model\n",
    PROMPTS[1],
    PROMPTS[2],
    PROMPTS[3],
    "<start_of_turn>user\nYou are a helpful assistant who solves math problems "
    "step by step.\n\nWhat is 17 multiplied by 23?<end_of_turn>\n"
    "<start_of_turn>model\n",
    _helpcentre_text(520),
]


def sig6(x: float) -> float:
    """Round a float to 6 significant digits (keeps the JSON small)."""
    return float(f"{float(x):.6g}")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# Keep a reference to the ctypes callback so it is not garbage-collected.
@llama_cpp.llama_log_callback
def _quiet_log(level, text, user_data):  # noqa: ARG001
    pass


class Engine:
    """Minimal single-sequence wrapper over the llama.cpp C API."""

    def __init__(self, model_path: str):
        llama_cpp.llama_log_set(_quiet_log, ctypes.c_void_p())
        llama_cpp.llama_backend_init()

        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = 0  # CPU only
        self.model = llama_cpp.llama_model_load_from_file(
            model_path.encode(), mparams)
        if not self.model:
            raise RuntimeError(f"failed to load {model_path}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))

        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = N_CTX
        cparams.n_threads = N_THREADS
        cparams.n_threads_batch = N_THREADS
        self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise RuntimeError("failed to create context")
        self.batch = llama_cpp.llama_batch_init(N_CTX, 0, 1)
        self.n_past = 0

    def close(self) -> None:
        llama_cpp.llama_batch_free(self.batch)
        llama_cpp.llama_free(self.ctx)
        llama_cpp.llama_model_free(self.model)

    def tokenize(self, text: str) -> list[int]:
        raw = text.encode("utf-8")
        buf = (llama_cpp.llama_token * (len(raw) + 16))()
        n = llama_cpp.llama_tokenize(self.vocab, raw, len(raw), buf, len(buf),
                                     True, True)  # add_special, parse_special
        if n < 0:
            raise RuntimeError("tokenize: buffer too small")
        return list(buf[:n])

    def piece(self, tok: int) -> bytes:
        buf = ctypes.create_string_buffer(256)
        n = llama_cpp.llama_token_to_piece(self.vocab, tok, buf, len(buf), 0,
                                           True)  # render special tokens
        if n < 0:
            raise RuntimeError("token_to_piece: buffer too small")
        return buf.raw[:n]

    def reset(self) -> None:
        """Empty the KV cache (whatever this llama.cpp version calls it)."""
        if hasattr(llama_cpp, "llama_memory_clear"):
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.ctx), True)
        else:
            llama_cpp.llama_kv_self_clear(self.ctx)
        self.n_past = 0

    def eval(self, tokens: list[int]) -> np.ndarray:
        """Decode `tokens` in one batch; return a copy of the last logits."""
        b = self.batch
        b.n_tokens = len(tokens)
        for i, t in enumerate(tokens):
            b.token[i] = t
            b.pos[i] = self.n_past + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = 1 if i == len(tokens) - 1 else 0
        rc = llama_cpp.llama_decode(self.ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        self.n_past += len(tokens)
        ptr = llama_cpp.llama_get_logits_ith(self.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()


def topk(logits: np.ndarray, k: int = TOP_K) -> list[list]:
    """Top-k [id, logit] pairs: logit descending, ties to the lowest id."""
    # A stable sort of -logits keeps equal logits in ascending id order.
    order = np.argsort(-logits, kind="stable")[:k]
    return [[int(i), sig6(logits[i])] for i in order]


def greedy_pick(logits: np.ndarray) -> int:
    # np.argmax returns the first (lowest-index) maximum.
    return int(np.argmax(logits))


def run_prompt(eng: Engine, text: str) -> dict:
    eng.reset()
    tokens = eng.tokenize(text)
    logits = eng.eval(tokens)
    entry = {"text": text, "tokens": tokens, "top20": topk(logits),
             "steps_top20": [], "greedy": [], "greedy_text": ""}
    for step in range(N_GREEDY):
        tok = greedy_pick(logits)
        entry["greedy"].append(tok)
        logits = eng.eval([tok])  # keep going even past EOS
        if step < N_STEPS_TOPK:
            entry["steps_top20"].append(topk(logits))
    entry["greedy_text"] = b"".join(eng.piece(t) for t in entry["greedy"]) \
        .decode("utf-8", errors="replace")
    return entry


def main() -> int:
    global MODEL_FILE, MODEL_SHA256, N_CTX
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--model-name", default="smollm2", choices=sorted(MODELS))
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    MODEL_FILE, MODEL_SHA256, N_CTX = MODELS[args.model_name]
    args.model = args.model or os.path.join(REPO, "models", MODEL_FILE)
    args.out = args.out or os.path.join(HERE, f"{args.model_name}_logits.json")
    prompt_texts = GEMMA_PROMPTS if args.model_name == "gemma3" else PROMPTS

    sha = sha256_file(args.model)
    if sha != MODEL_SHA256:
        print(f"warning: model sha256 {sha} != expected {MODEL_SHA256}",
              file=sys.stderr)

    eng = Engine(args.model)
    try:
        prompts = [run_prompt(eng, p) for p in prompt_texts]
    finally:
        eng.close()

    out = {
        "generator": "tests/golden/make_logits_golden.py (llama.cpp via "
                     "llama-cpp-python low-level API, CPU)",
        "llama_cpp_python_version": llama_cpp.__version__,
        "model_file": MODEL_FILE,
        "model_sha256": sha,
        "settings": {
            "n_threads": N_THREADS, "n_threads_batch": N_THREADS,
            "n_ctx": N_CTX, "add_bos": eng.add_bos, "parse_special": True,
            "n_vocab": eng.n_vocab, "logit_digits": 6,
            "greedy": "argmax of raw logits, ties to lowest id, no EOS stop, "
                      "one token per llama_decode",
            "steps_top20": "steps_top20[k] = top-20 of the logits produced by "
                           "evaluating greedy[k] (the distribution of "
                           "greedy[k+1])",
        },
        "prompts": prompts,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")

    for i, p in enumerate(prompts, 1):
        print(f"[{i}] {len(p['tokens'])} tokens -> {p['greedy_text'][:80]!r}")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
