#!/usr/bin/env python3
"""Writes the tokenizer golden files from Hugging Face `tokenizers`, the
reference hrt's tokenizers must match id for id.

    pip install gguf tokenizers
    python3 tests/golden/make_tokenizer_corpus.py     # the inputs
    python3 tests/golden/make_tokenizer_golden.py     # the expected outputs

Inputs: tests/golden/tokenizer_corpus.hex (one hex-encoded byte string a
line), models/smollm2-135m-instruct-q4_1.gguf, models/all-minilm-l6-v2/.
For invalid UTF-8 the reference text is bytes.decode('utf-8', 'replace'),
which hrt's utf8_repair() must reproduce.

Outputs (one line per corpus line, ids separated by spaces):
  tokenizer_smollm.golden  SmolLM2 as its original tokenizer.json is set up:
                           BPE from the GGUF's vocab and merges, pre-tokenizer
                           Sequence[Digits(individual_digits), ByteLevel],
                           the GGUF's control tokens as special added tokens;
                           add_special_tokens=False.
  tokenizer_llama3.golden  the same vocabulary behind Llama 3's Split regex
                           and ignore_merges, as Llama 3's tokenizer.json has.
  tokenizer_split_{gpt2,smollm,llama3,qwen2}.golden
                           the words HF's pre-tokenizers cut each line into,
                           to test hrt's hand-written matchers against
                           Oniguruma directly (SmolLM2's vocabulary has no
                           multi-digit tokens, so ids alone cannot tell
                           llama3's \p{N}{1,3} from qwen2's \p{N}). A line
                           lists word lengths in code points, one character
                           each: 1-9, a-z for 10-35, "(n)" for longer.
  tokenizer_bert.golden    all-MiniLM-L6-v2's tokenizer.json (truncation and
                           padding off), add_special_tokens=True.
  tokenizer_repair.golden  hex of the UTF-8 of decode('utf-8', 'replace') for
                           lines that are not valid UTF-8, "=" for the rest.
  tokenizer_tiny_bpe.json / tokenizer_tiny_llama3.json and their .golden:
                           small BPE tokenizer.json files (the first merges of
                           SmolLM2) in both merge formats, to test hrt's
                           tokenizer.json reader; ids for every 4th corpus line.
"""
import json
import sys
from pathlib import Path

import gguf
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
GGUF_PATH = ROOT / "models" / "smollm2-135m-instruct-q4_1.gguf"
BERT_JSON = ROOT / "models" / "all-minilm-l6-v2" / "tokenizer.json"

LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
            r"|\s*[\r\n]+|\s+(?!\S)|\s+")
TOKEN_TYPE_CONTROL = 3
TINY_MERGES = 1500
TINY_EVERY = 4


def read_gguf(path):
    r = gguf.GGUFReader(str(path))

    def arr(key):
        f = r.fields[key]
        return [f.parts[i] for i in f.data]

    tokens = [bytes(p).decode("utf-8") for p in arr("tokenizer.ggml.tokens")]
    merges = [bytes(p).decode("utf-8") for p in arr("tokenizer.ggml.merges")]
    types = [int(p[0]) for p in arr("tokenizer.ggml.token_type")]
    f = r.fields["tokenizer.ggml.pre"]
    pre = bytes(f.parts[f.data[0]]).decode("utf-8")
    return tokens, merges, types, pre


def bpe_tokenizer(tokens, merges, types, pre_tokenizer, ignore_merges=False):
    vocab = {t: i for i, t in enumerate(tokens)}
    pairs = [tuple(m.split(" ")) for m in merges]
    tk = Tokenizer(models.BPE(vocab, pairs, ignore_merges=ignore_merges))
    tk.pre_tokenizer = pre_tokenizer
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False)
                           for t, ty in zip(tokens, types) if ty == TOKEN_TYPE_CONTROL])
    return tk


def smollm_pre():
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])


def split_pre(regex):
    return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


def length_code(n):
    if 1 <= n <= 9:
        return str(n)
    if 10 <= n <= 35:
        return chr(ord("a") + n - 10)
    return f"({n})"


def split_lengths(pre_tokenizer, text):
    pieces = pre_tokenizer.pre_tokenize_str(text)
    pos = 0
    for _, (start, end) in pieces:
        assert start == pos and end > start, (text, pieces)
        pos = end
    assert pos == len(text), (text, pieces)
    return "".join(length_code(end - start) for _, (start, end) in pieces)


def encode_all(tk, texts, add_special):
    return [tk.encode(t, add_special_tokens=add_special).ids for t in texts]


def write_ids(name, rows):
    path = HERE / name
    path.write_text("".join(" ".join(map(str, r)) + "\n" for r in rows))
    return path


def tiny_tokenizer(tokens, merges, types):
    """The control tokens, the 256 byte characters and the results of the
    first TINY_MERGES merges of SmolLM2, renumbered."""
    vocab = {}
    for t, ty in zip(tokens, types):
        if ty == TOKEN_TYPE_CONTROL:
            vocab[t] = len(vocab)
    byte_chars = pre_tokenizers.ByteLevel.alphabet()
    for c in sorted(byte_chars):
        vocab.setdefault(c, len(vocab))
    pairs = [tuple(m.split(" ")) for m in merges[:TINY_MERGES]]
    for a, b in pairs:
        vocab.setdefault(a + b, len(vocab))
    ctrl = [t for t, ty in zip(tokens, types) if ty == TOKEN_TYPE_CONTROL]
    return vocab, pairs, ctrl


def write_tiny(tokens, merges, types, texts):
    vocab, pairs, ctrl = tiny_tokenizer(tokens, merges, types)
    out = {}
    for name, pre, ignore, legacy in (("tiny_bpe", smollm_pre(), False, False),
                                      ("tiny_llama3", split_pre(LLAMA3_RE), True, True)):
        tk = Tokenizer(models.BPE(vocab, pairs, ignore_merges=ignore))
        tk.pre_tokenizer = pre
        tk.decoder = decoders.ByteLevel()
        tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ctrl])
        cfg = json.loads(tk.to_str())
        if legacy:  # the "left right" string form older files use
            cfg["model"]["merges"] = [" ".join(p) for p in cfg["model"]["merges"]]
        (HERE / f"tokenizer_{name}.json").write_text(json.dumps(cfg, ensure_ascii=False, indent=None) + "\n")
        rows = encode_all(tk, texts[::TINY_EVERY], False)
        out[name] = write_ids(f"tokenizer_{name}.golden", rows)
    return out


def main():
    lines = (HERE / "tokenizer_corpus.hex").read_text().splitlines()
    raw = [bytes.fromhex(l) for l in lines]
    texts = [b.decode("utf-8", "replace") for b in raw]

    tokens, merges, types, pre = read_gguf(GGUF_PATH)
    assert pre == "smollm", pre
    written = []

    smol = bpe_tokenizer(tokens, merges, types, smollm_pre())
    rows = encode_all(smol, texts, False)
    # Sanity: the reference round-trips (control tokens decoded as text),
    # except for the ASCII controls whose byte has no token in SmolLM2's
    # vocabulary: its tokenizer.json has no unk_token, so HF drops them.
    dropped = {chr(b) for b in range(128) if not smol.encode(chr(b), add_special_tokens=False).ids}
    assert dropped == {chr(b) for b in (4, 6, 19, 20, 22, 29)}, dropped
    for t, ids in zip(texts, rows):
        want = "".join(c for c in t if c not in dropped)
        assert smol.decode(ids, skip_special_tokens=False) == want, t
    written.append(write_ids("tokenizer_smollm.golden", rows))

    llama3 = bpe_tokenizer(tokens, merges, types, split_pre(LLAMA3_RE), ignore_merges=True)
    written.append(write_ids("tokenizer_llama3.golden", encode_all(llama3, texts, False)))

    splitters = {
        "gpt2": pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        "smollm": smollm_pre(),
        "llama3": pre_tokenizers.Split(Regex(LLAMA3_RE), behavior="isolated", invert=False),
        "qwen2": pre_tokenizers.Split(Regex(QWEN2_RE), behavior="isolated", invert=False),
    }
    for name, pt in splitters.items():
        path = HERE / f"tokenizer_split_{name}.golden"
        path.write_text("".join(split_lengths(pt, t) + "\n" for t in texts))
        written.append(path)

    bert = Tokenizer.from_file(str(BERT_JSON))
    bert.no_truncation()
    bert.no_padding()
    written.append(write_ids("tokenizer_bert.golden", encode_all(bert, texts, True)))

    rep = []
    for b, t in zip(raw, texts):
        fixed = t.encode("utf-8")
        rep.append("=" if fixed == b else fixed.hex())
    path = HERE / "tokenizer_repair.golden"
    path.write_text("".join(r + "\n" for r in rep))
    written.append(path)

    written += write_tiny(tokens, merges, types, texts).values()
    written += [HERE / "tokenizer_tiny_bpe.json", HERE / "tokenizer_tiny_llama3.json"]
    for p in written:
        print(f"{p.name}: {p.stat().st_size} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
