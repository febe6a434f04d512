#!/usr/bin/env python3
"""Generate tests/golden/minilm_embed.json: reference sentence embeddings.

Reference: sentence-transformers, SentenceTransformer(
'/work/main/models/all-minilm-l6-v2', device='cpu') with its default
pipeline (modules.json: Transformer -> mean Pooling -> Normalize, so the
embeddings come out L2-normalised, which is what hrt produces too).  The
script checks the norms and, if a pipeline without the Normalize module is
ever used, normalises itself and says so in the "note" field.

For each of the 50 sentences below it records:
  ids        the word-piece ids of model.tokenizer(text, truncation=True,
             max_length=model.max_seq_length) -- [CLS] ... [SEP], truncated to
             max_seq_length (256 for this model)
  embedding  the 384-d sentence embedding, 7 significant digits

The sentence set mixes questions, statements, a few long sentences of more
than 128 word pieces, one of more than 256 word pieces (exercises truncation),
and some with accents, CJK and emoji.  The script asserts those properties.

Usage:  HF_HUB_OFFLINE=1 python3 tests/golden/make_embed_golden.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import sentence_transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))

# A long passage (> 256 word pieces) that must be truncated.
_VERY_LONG = (
    "The lighthouse keeper had lived on the island for thirty-seven years, and "
    "in that time he had seen the sea in every one of its moods: glassy and "
    "silver on windless mornings in late August, grey and sullen under the "
    "low clouds of November, white with spray when the winter gales came "
    "roaring out of the northwest and flung waves higher than the lamp room "
    "itself. He kept a logbook in which he recorded the weather four times a "
    "day, the ships that passed, the birds that rested on the gallery rail, "
    "and, in a small cramped hand at the bottom of each page, the thoughts "
    "that came to him during the long watches of the night. When the "
    "lighthouse was finally automated, engineers arrived with crates of "
    "electronic equipment, solar panels, batteries, and a satellite modem, "
    "and within a week the old clockwork mechanism that he had wound every "
    "evening was silent. They offered him a small pension and a cottage on "
    "the mainland, near the harbour, where he could watch the fishing boats "
    "come and go. He accepted, because there was nothing else to do, but "
    "every evening at dusk he walked to the end of the breakwater and waited "
    "until he saw the beam sweep across the water, regular as a heartbeat, "
    "and only then did he turn around and walk slowly home. Years later, "
    "when a historian asked to read his logbooks, he handed over forty-one "
    "volumes bound in faded blue cloth, and the historian spent an entire "
    "winter reading them, discovering in their pages a record not only of "
    "storms and shipwrecks but of a quiet, patient, observant life lived at "
    "the edge of the world, far from everything that most people consider "
    "important, and yet somehow close to whatever it is that really matters."
)

SENTENCES = [
    # Short statements and questions.
    "The cat sat on the mat.",
    "A man is playing a guitar.",
    "What is the capital of France?",
    "Paris is the capital and largest city of France.",
    "How do I reset my password?",
    "Click the 'Forgot password' link on the login page to reset it.",
    "The weather is lovely today.",
    "It is raining heavily in London this afternoon.",
    "Who wrote the novel Pride and Prejudice?",
    "Jane Austen published Pride and Prejudice in 1813.",
    "Python is a popular programming language for data science.",
    "How many legs does a spider have?",
    "Spiders have eight legs, while insects have six.",
    "I would like to book a table for two at 7 pm.",
    "The stock market fell sharply after the announcement.",
    "Can you recommend a good book about machine learning?",
    "Water boils at 100 degrees Celsius at sea level.",
    "Why is the sky blue?",
    "Rayleigh scattering makes shorter wavelengths of light scatter more.",
    "She sells sea shells by the sea shore.",
    "The meeting has been moved to Thursday at 3:30.",
    "Do you know where the nearest train station is?",
    "Photosynthesis converts light energy into chemical energy.",
    "The quick brown fox jumps over the lazy dog.",
    "Error 404: the requested page could not be found.",
    "What's the difference between RAM and storage?",
    "I can't believe it's already December!",
    "Mix 200 g of flour with 2 eggs and 250 ml of milk.",
    "The function returns None when the list is empty.",
    "hello",
    "Thanks!",
    "   Leading and trailing whitespace   ",
    "THIS SENTENCE IS WRITTEN ENTIRELY IN UPPER CASE LETTERS.",
    "Embeddings map sentences with similar meanings to nearby vectors.",
    # Accents, CJK, emoji, other scripts.
    "Café crème brûlée à la française, s'il vous plaît.",
    "Ich möchte ein Glas Wasser, bitte. Schöne Grüße aus München!",
    "El niño comió una manzana en el jardín.",
    "東京は日本の首都です。",
    "我喜欢学习新的编程语言。",
    "서울은 대한민국의 수도입니다.",
    "I love pizza 🍕 and ice cream 🍦!",
    "Great job team 🎉🎉🎉 — see you tomorrow 👋",
    "Привет, как дела?",
    "naïve coöperation façade jalapeño Zürich",
    # Long sentences (> 128 word pieces, < 256).
    "Although the committee had spent several months reviewing the proposals "
    "submitted by the various research groups, including detailed budgets, "
    "timelines, staffing plans, risk assessments, and letters of support from "
    "industry partners and local government agencies, it was ultimately "
    "unable to reach a consensus on which project should receive the "
    "funding, partly because the criteria for evaluation had never been "
    "clearly defined and partly because several members felt that none of "
    "the proposals adequately addressed the long-term maintenance costs of "
    "the equipment that would need to be purchased, installed, calibrated, "
    "and eventually replaced, and because the chair, who had been expected to "
    "break any deadlock, announced at the final meeting that she would be "
    "stepping down at the end of the year to take up a position abroad.",
    "To install the software, first download the archive from the official "
    "website, verify its checksum against the published value, extract it "
    "into a directory of your choice, open a terminal in that directory, run "
    "the configuration script with the appropriate options for your system "
    "(for example, --prefix=/usr/local or --enable-shared), compile the "
    "sources with make, run the test suite to make sure everything works as "
    "expected, and finally install the binaries and libraries with sudo make "
    "install, after which you may need to update your library cache, add the "
    "installation directory to your PATH, restart your shell, and check the "
    "installed version with the --version flag before filing any bug reports.",
    "In the small village at the foot of the mountains, where the river "
    "curved gently around the old stone mill and the church bell rang every "
    "hour from dawn until dusk, the people still remembered the winter of "
    "the great snow, when the roads were closed for six weeks, the bakery "
    "ran out of flour, the schoolchildren built an igloo in the market "
    "square, and the mayor organised sledge convoys to bring food and "
    "medicine from the neighbouring town across the frozen fields, while the "
    "old men sat by the fire in the tavern telling stories of even harder "
    "winters that nobody else could remember and that, in all likelihood, "
    "had never happened quite the way they described them.",
    # Very long passage (> 256 word pieces): truncated at max_seq_length.
    _VERY_LONG,
    # A couple more short ones to reach 50.
    "Is it safe to eat raw cookie dough?",
    "The train to Edinburgh departs from platform 9.",
]


def sig7(x: float) -> float:
    """Round to 7 significant digits."""
    return float(f"{float(x):.7g}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--model", default=os.path.join(REPO, "models", "all-minilm-l6-v2"))
    ap.add_argument("--out", default=os.path.join(HERE, "minilm_embed.json"))
    args = ap.parse_args()

    assert len(SENTENCES) == 50, len(SENTENCES)

    model = SentenceTransformer(args.model, device="cpu")
    max_len = int(model.max_seq_length)
    tok = model.tokenizer

    # Default encode(): the model's own pipeline (incl. its Normalize module).
    emb = model.encode(SENTENCES, convert_to_numpy=True, batch_size=16,
                       show_progress_bar=False).astype(np.float64)
    norms = np.linalg.norm(emb, axis=1)
    has_normalize = any(type(m).__name__ == "Normalize" for m in model)
    note = ("Embeddings are the SentenceTransformer pipeline output "
            "(Transformer -> mean Pooling -> Normalize); they are already "
            "L2-normalised, no extra normalisation applied.")
    if not has_normalize or not np.allclose(norms, 1.0, atol=1e-5):
        emb = emb / np.maximum(norms, 1e-12)[:, None]
        note = ("The SentenceTransformer pipeline did not L2-normalise; the "
                "script normalised the embeddings itself (as hrt does).")

    entries = []
    n_long = n_trunc = 0
    for text, vec in zip(SENTENCES, emb):
        ids = tok(text, truncation=True, max_length=max_len)["input_ids"]
        full = tok(text)["input_ids"]
        n_long += len(full) > 128
        n_trunc += len(full) > max_len
        entries.append({"text": text, "ids": [int(i) for i in ids],
                        "embedding": [sig7(x) for x in vec]})
    # The set must exercise long inputs and truncation.
    assert n_long >= 3 and n_trunc >= 1, (n_long, n_trunc)

    out = {
        "generator": "tests/golden/make_embed_golden.py (sentence-transformers, "
                     "CPU, default encode())",
        "sentence_transformers_version": sentence_transformers.__version__,
        "model": "all-minilm-l6-v2",
        "max_seq_length": max_len,
        "dim": int(emb.shape[1]),
        "normalized": True,
        "note": note,
        "sentences": entries,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"{len(entries)} sentences, {n_long} over 128 word pieces, "
          f"{n_trunc} over {max_len} (truncated); norms "
          f"{norms.min():.6f}..{norms.max():.6f}; {note}")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
