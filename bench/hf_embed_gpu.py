#!/usr/bin/env python3
"""The GPU embedding check and its peer, on a MiniLM-shaped encoder.

1. Makes OUT_DIR (if absent): a BertModel with all-MiniLM-L6-v2's shape and
   random weights (seed 0), saved by HF transformers as config.json +
   model.safetensors, with MiniLM's tokenizer and sentence-transformers
   files copied from FILES_DIR (scripts/gpu-prepare.sh puts them in
   .gpu/minilm). Speed does not depend on the weights' values.
2. Correctness: embeds 64 SciFact texts (abstracts, one line each, some
   past the 256-token window) with HF (mean pooling, L2 norm, fp32) and
   with `hrt embed --backend cuda` (one call: hrt batches them), and
   prints the lowest cosine between the two; exit status 1 below 0.999.
3. Speed, the peer of bench_embed's GPU row: queries one at a time and
   abstracts in batches of 32 (padded, attention-masked, truncated at 256)
   through HF on the GPU in fp32, median of R runs after a warm-up. Prints
   one JSON line.

    python3 bench/hf_embed_gpu.py OUT_DIR FILES_DIR DATA_DIR HRT_BIN [R]
"""
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoTokenizer, BertConfig, BertModel  # noqa: E402

SHAPE = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
             intermediate_size=1536, max_position_embeddings=512, hidden_act="gelu", layer_norm_eps=1e-12)


def make(out, files):
    if os.path.exists(os.path.join(out, "model.safetensors")):
        return
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = BertModel(BertConfig(**SHAPE), add_pooling_layer=False)
    model.save_pretrained(out, safe_serialization=True)
    for name in os.listdir(files):
        if name != "config.json":
            src = os.path.join(files, name)
            (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(out, name))


def embed(model, tok, texts):
    enc = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt").to("cuda")
    h = model(**enc).last_hidden_state
    m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
    e = (h * m).sum(1) / m.sum(1)
    return torch.nn.functional.normalize(e, dim=-1)


def main() -> int:
    out, files, data, hrt = sys.argv[1:5]
    reps = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    make(out, files)
    with open(os.path.join(data, "scifact", "queries.jsonl")) as f:
        queries = [json.loads(line)["text"] for line in f][:100]
    with gzip.open(os.path.join(data, "scifact", "corpus.jsonl.gz"), "rt") as f:
        docs = [json.loads(line) for _, line in zip(range(128), f)]
    chunks = [d["title"] + "\n\n" + d["text"] for d in docs]
    tok = AutoTokenizer.from_pretrained(out)
    model = BertModel.from_pretrained(out, add_pooling_layer=False).cuda().eval()

    # 2. hrt on the GPU against HF on the same texts
    lines = [" ".join(c.split()) for c in chunks[:64]]
    path = os.path.join(out, "check.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    got = subprocess.run([hrt, "embed", "--backend", "cuda", "-m", out, "-f", path], capture_output=True, text=True)
    if got.returncode:
        print(got.stderr, file=sys.stderr)
        return 1
    mine = torch.tensor([[float(x) for x in row.split()] for row in got.stdout.splitlines()], device="cuda")
    with torch.no_grad():
        ref = embed(model, tok, lines)
    cos = (mine * ref).sum(-1) / (mine.norm(dim=-1) * ref.norm(dim=-1))
    long = sum(len(tok(t)["input_ids"]) > 256 for t in lines)
    print(f"hrt embed --backend cuda vs HF on {len(lines)} texts ({long} cut at 256 tokens): "
          f"lowest cosine {cos.min().item():.6f}", file=sys.stderr)
    ok = cos.min().item() >= 0.999

    # 3. HF's speed
    q50, q99, cps = [], [], []
    with torch.no_grad():
        for r in range(reps + 1):
            lat = []
            for q in queries:
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                embed(model, tok, [q]).cpu()
                lat.append((time.perf_counter() - t0) * 1e3)
            lat.sort()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(0, len(chunks) // 32 * 32, 32):
                embed(model, tok, chunks[i:i + 32]).cpu()
            dt = time.perf_counter() - t0
            if r:
                q50.append(lat[len(lat) // 2])
                q99.append(lat[int(0.99 * (len(lat) - 1))])
                cps.append(len(chunks) // 32 * 32 / dt)
    print(json.dumps({"engine": "hf-transformers", "version": transformers.__version__, "torch": torch.__version__,
                      "device": torch.cuda.get_device_name(), "dtype": "float32", "query_p50_ms": statistics.median(q50),
                      "query_p99_ms": statistics.median(q99), "chunks_per_s": statistics.median(cps),
                      "lowest_cosine_vs_hrt": cos.min().item(), "runs": reps}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
