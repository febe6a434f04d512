#!/usr/bin/env python3
"""Writes tests/golden/tokenizer_gemma3.golden: Gemma 3's token ids for every
line of tests/golden/tokenizer_corpus.hex, from llama.cpp's tokenizer (its
SPM implementation, through llama-cpp-python's low-level API) on
models/gemma-3-270m-q4_k_m.gguf, with add_special=False and
parse_special=True, as test_tokenizer encodes. Lines that are not valid
UTF-8 are given as bytes.decode('utf-8', 'replace'), which hrt's repair
reproduces (tokenizer_repair.golden).

It also prints how many lines HF transformers' tokenizer (converted from the
same GGUF by transformers' GGUF loader) tokenizes the same way: a second
opinion, not the golden.

    pip install llama-cpp-python transformers
    python3 tests/golden/make_tokenizer_gemma_golden.py
"""
import ctypes
import os
import sys
from pathlib import Path

import llama_cpp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MODEL = ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"


@llama_cpp.llama_log_callback
def _quiet_log(level, text, user_data):  # noqa: ARG001
    pass


def main() -> int:
    llama_cpp.llama_log_set(_quiet_log, ctypes.c_void_p())
    llama_cpp.llama_backend_init()
    mp = llama_cpp.llama_model_default_params()
    mp.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(str(MODEL).encode(), mp)
    if not model:
        print(f"cannot load {MODEL}", file=sys.stderr)
        return 1
    vocab = llama_cpp.llama_model_get_vocab(model)
    lines = [bytes.fromhex(h.strip()) for h in open(HERE / "tokenizer_corpus.hex")]
    out, texts = [], []
    for raw in lines:
        text = raw.decode("utf-8", "replace")
        texts.append(text)
        b = text.encode("utf-8")
        cap = len(b) + 16
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(vocab, b, len(b), buf, cap, False, True)
        if n < 0:
            raise RuntimeError("buffer too small")
        out.append(" ".join(str(t) for t in buf[:n]))
    llama_cpp.llama_model_free(model)
    with open(HERE / "tokenizer_gemma3.golden", "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {len(out)} lines")
    try:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(str(MODEL.parent), gguf_file=MODEL.name)
        same = sum(" ".join(str(t) for t in tok(t, add_special_tokens=False).input_ids) == o
                   for t, o in zip(texts, out))
        print(f"HF transformers (tokenizer converted from the GGUF) agrees on {same}/{len(out)} lines")
    except Exception as e:  # a second opinion only
        print(f"HF comparison not run: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
