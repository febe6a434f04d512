#!/usr/bin/env bash
# Here (a Debian machine with the models fetched): fills .gpu/ with what
# scripts/gpu-check.sh needs on the GPU machine, which has no network:
# Debian's cJSON packages unpacked, the default chat models in parts of
# 50 MiB (.gpu/parts/NAME.K: a call may carry 64 MiB), the embedding
# model's small files (tokenizer, configs: the GPU machine makes random
# weights of its shape) and SciFact's queries and abstracts.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/.gpu/cjson" && cd "$root/.gpu"
apt-get download libcjson1 libcjson-dev >/dev/null
for d in libcjson1_*.deb libcjson-dev_*.deb; do dpkg -x "$d" cjson; done
rm -f libcjson*.deb
rm -rf parts && mkdir parts
split -b 50M -d -a 1 "$root/models/smollm2-135m-instruct-q4_1.gguf" parts/smollm2.
split -b 50M -d -a 1 "$root/models/gemma-3-270m-q4_k_m.gguf" parts/gemma3.
mkdir -p minilm data/scifact
(cd "$root/models/all-minilm-l6-v2" && tar cf - --exclude=model.safetensors .) | tar xf - -C minilm
cp "$root/../shared/data/scifact/queries.jsonl" "$root/../shared/data/scifact/corpus.jsonl.gz" data/scifact/
ls -la "$root/.gpu"
