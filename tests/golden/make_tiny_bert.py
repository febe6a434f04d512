#!/usr/bin/env python3
"""A tiny random-weight BERT encoder and HF transformers' sentence embeddings
on it, to test hrt_embed's encoder path where all-MiniLM-L6-v2 is not at hand
(the GPU machine): tests/golden/tiny/bert/ (config.json, model.safetensors
in float32, vocab.txt: the first 2,000 entries of all-MiniLM-L6-v2's) and
tests/golden/tiny_bert.json (per sentence: the token ids and the embedding,
mean-pooled over the tokens and L2-normalised, as sentence-transformers'
all-MiniLM-L6-v2 pipeline does).

    python3 tests/golden/make_tiny_bert.py
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
import transformers  # noqa: E402
from tokenizers import BertWordPieceTokenizer  # noqa: E402
from transformers import BertConfig, BertModel  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "tiny", "bert")
MINILM_VOCAB = os.path.join(HERE, "..", "..", "models", "all-minilm-l6-v2", "vocab.txt")
SENTENCES = [
    "the cat sat on the mat.",
    "What is the capital of France?",
    "a, b; c! (d) [e] {f} 1 + 2 = 3",
    "Hello world, hello again: 42 times.",
    "x" * 50,
    "Short.",
]


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    with open(MINILM_VOCAB, encoding="utf-8") as f:
        vocab = f.read().split("\n")[:2000]
    with open(os.path.join(OUT, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    torch.manual_seed(7)
    cfg = BertConfig(vocab_size=2000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, initializer_range=0.3)
    model = BertModel(cfg, add_pooling_layer=False).eval()
    model.save_pretrained(OUT, safe_serialization=True)
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(OUT, extra)):
            os.remove(os.path.join(OUT, extra))
    # tokenizers' own WordPiece (transformers 5's BertTokenizerFast(vocab_file=...)
    # does not read the file)
    tok = BertWordPieceTokenizer(os.path.join(OUT, "vocab.txt"), lowercase=True)
    golden = {"generator": "tests/golden/make_tiny_bert.py (HF transformers, float32, CPU)",
              "transformers_version": transformers.__version__, "dir": "tiny/bert", "sentences": []}
    with torch.no_grad():
        for s in SENTENCES:
            ids = tok.encode(s).ids
            h = model(torch.tensor([ids])).last_hidden_state[0]
            e = torch.nn.functional.normalize(h.mean(0), dim=0)
            golden["sentences"].append({"text": s, "ids": ids, "embedding": [float(f"{v:.7g}") for v in e]})
    with open(os.path.join(HERE, "tiny_bert.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    print(f"tiny bert: {sum(p.numel() for p in model.parameters())} parameters", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
