#!/usr/bin/env bash
# Here (a Debian machine with the models fetched): fills .gpu/ with what
# scripts/gpu-check.sh needs on the GPU machine, which has no network:
# Debian's cJSON packages unpacked, and the default model in two halves.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/.gpu/cjson" && cd "$root/.gpu"
apt-get download libcjson1 libcjson-dev >/dev/null
for d in libcjson1_*.deb libcjson-dev_*.deb; do dpkg -x "$d" cjson; done
rm -f libcjson*.deb
gguf=$root/models/smollm2-135m-instruct-q4_1.gguf
half=$(( ($(stat -c %s "$gguf") + 1) / 2 ))
head -c "$half" "$gguf" >model.1
tail -c +"$((half + 1))" "$gguf" >model.2
ls -la "$root/.gpu"
