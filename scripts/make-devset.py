#!/usr/bin/env python3
"""Builds the mixed development set of `hrt bench efficiency` from ../shared/data.

Writes OUT/devset.jsonl and the knowledge-base files it names (OUT/kb/*.jsonl). The first line
is a header: {"hrt_devset": 1, "kbs": {NAME: {"files": [...], "product": ...}}}; every other line
is one query: {"id", "kind", "query", "kb" (a header name or null), "reference": [...],
"source" (the knowledge-base record that answers it, or null)}. Kinds:
  support  StackFAQ user paraphrases against the FAQ entries (reference: the entry's answers,
           source: the entry), and BANKING77 customer queries (no knowledge base, no reference:
           tokens and latency only); both include paraphrases of one question, as real support
           traffic does, so the answer cache has something to find
  squad    SQuAD v1.1 questions against the passages (reference: the answer spans)
  gsm8k    grade-school math word problems (reference: the final number)
  open     MT-Bench first turns (no reference: tokens and latency only)
The choice is seeded, so the same data gives the same set. Another mix, e.g. held-out data in the
same formats: point --data at it, or change the counts.

usage: scripts/make-devset.py [--data ../shared/data] [--out models/devset] [--seed 7]
       [--faq 24] [--banking 8] [--squad 20] [--gsm8k 20] [--open 8]
"""
import argparse
import csv
import json
import os
import random
import re
import sys


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--data", default=os.path.join(root, "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(root, "models", "devset"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--faq", type=int, default=24)
    ap.add_argument("--banking", type=int, default=8)
    ap.add_argument("--squad", type=int, default=20)
    ap.add_argument("--gsm8k", type=int, default=20)
    ap.add_argument("--open", type=int, default=8)
    a = ap.parse_args()
    for d in ("stackfaq", "banking77", "squad", "gsm8k", "mt_bench"):
        if not os.path.isdir(os.path.join(a.data, d)):
            sys.exit(f"make-devset: {os.path.join(a.data, d)}: no such directory (--data names the data sets)")
    rng = random.Random(a.seed)
    os.makedirs(os.path.join(a.out, "kb"), exist_ok=True)
    items = []

    # StackFAQ: the FAQ entries are the knowledge base; two paraphrases per chosen entry
    faq = {e["id"]: e for e in jsonl(os.path.join(a.data, "stackfaq", "faq.jsonl"))}
    with open(os.path.join(a.out, "kb", "stackfaq.jsonl"), "w", encoding="utf-8") as f:
        for e in faq.values():
            text = e["question"] + "\n\n" + "\n\n".join(e["answers"])
            f.write(json.dumps({"id": e["id"], "text": text}) + "\n")
    by_faq = {}
    for q in jsonl(os.path.join(a.data, "stackfaq", "queries.jsonl")):
        by_faq.setdefault(q["faq"], []).append(q)
    entries = sorted(k for k, v in by_faq.items() if len(v) >= 2)
    for fid in rng.sample(entries, a.faq // 2):
        for q in rng.sample(by_faq[fid], 2):
            items.append({"id": "faq-" + q["id"], "kind": "support", "query": q["query"], "kb": "stackfaq",
                          "reference": faq[fid]["answers"], "source": fid})

    # BANKING77: pairs of queries with one intent
    with open(os.path.join(a.data, "banking77", "train.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_intent = {}
    for i, r in enumerate(rows):
        by_intent.setdefault(r["category"], []).append((i, r["text"]))
    for intent in rng.sample(sorted(by_intent), a.banking // 2):
        for i, text in rng.sample(by_intent[intent], 2):
            items.append({"id": f"bank-{i}", "kind": "support", "query": text, "kb": None, "reference": [],
                          "source": None, "intent": intent})

    # SQuAD: the passages are the knowledge base; questions from different passages
    with open(os.path.join(a.out, "kb", "squad.jsonl"), "w", encoding="utf-8") as f:
        for p in jsonl(os.path.join(a.data, "squad", "passages.jsonl")):
            f.write(json.dumps({"id": p["id"], "text": p["title"].replace("_", " ") + "\n\n" + p["text"]}) + "\n")
    qs = jsonl(os.path.join(a.data, "squad", "questions.jsonl"))
    by_passage = {}
    for q in qs:
        by_passage.setdefault(q["passage"], []).append(q)
    for pid in rng.sample(sorted(by_passage), a.squad):
        q = rng.choice(by_passage[pid])
        items.append({"id": "squad-" + q["id"], "kind": "squad", "query": q["question"].strip(), "kb": "squad",
                      "reference": q["answers"], "source": pid})

    # GSM8K: the final number after "####"
    for i, q in sorted(rng.sample(list(enumerate(jsonl(os.path.join(a.data, "gsm8k", "dev.jsonl")))), a.gsm8k)):
        m = re.search(r"####\s*(-?[\d,]*\.?\d+)", q["answer"])
        items.append({"id": f"gsm8k-{i}", "kind": "gsm8k", "query": q["question"], "kb": None,
                      "reference": [m.group(1).replace(",", "")], "source": None})

    # MT-Bench: first turns, one per category first
    mt = jsonl(os.path.join(a.data, "mt_bench", "questions.jsonl"))
    cats = sorted({q["category"] for q in mt})
    chosen = [rng.choice([q for q in mt if q["category"] == c]) for c in cats][: a.open]
    for q in chosen:
        items.append({"id": f"mt-{q['question_id']}", "kind": "open", "query": q["turns"][0], "kb": None,
                      "reference": [], "source": None})

    rng.shuffle(items)
    header = {"hrt_devset": 1, "seed": a.seed,
              "kbs": {"stackfaq": {"files": ["kb/stackfaq.jsonl"], "product": "StackExchange FAQ"},
                      "squad": {"files": ["kb/squad.jsonl"], "product": "Wikipedia articles"}}}
    with open(os.path.join(a.out, "devset.jsonl"), "w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for it in items:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    kinds = {}
    for it in items:
        kinds[it["kind"]] = kinds.get(it["kind"], 0) + 1
    print(f"make-devset: {len(items)} queries ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}) "
          f"in {os.path.join(a.out, 'devset.jsonl')}")


if __name__ == "__main__":
    main()
