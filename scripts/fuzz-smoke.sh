#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan+UBSan) and runs each for a
# short time from seed inputs made here: a valid synthetic file and the
# heads of the real model files. Any crash, leak or sanitizer report fails.
#   scripts/fuzz-smoke.sh [SECONDS_PER_HARNESS]   (default 30)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-30}
cc=$(command -v clang-14 || command -v clang || true)
cxx=$(command -v clang++-14 || command -v clang++ || true) # retrieval/faiss_bridge.cpp
if [ -z "$cc" ] || [ -z "$cxx" ]; then echo "fuzz-smoke: clang not found (apt-get install clang-14)" >&2; exit 1; fi
build=$root/build-fuzz
CC=$cc CXX=$cxx cmake -S "$root" -B "$build" -DHRT_FUZZ=ON -DHRT_BUILD_TESTS=OFF -DHRT_BUILD_BENCH=OFF \
  -DHRT_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
corpus=$build/corpus
rm -rf "$corpus" && mkdir -p "$corpus"/{gguf,safetensors,tokenizer,cold,bm25,prompt,task}
gguf=$root/models/smollm2-135m-instruct-q4_1.gguf
st=$root/models/all-minilm-l6-v2/model.safetensors
[ -f "$gguf" ] && head -c 4096 "$gguf" > "$corpus/gguf/head4k"
[ -f "$st" ] && head -c 20000 "$st" > "$corpus/safetensors/head"
printf 'GGUF\3\0\0\0\0\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\4\0\0\0\0\0\0\0k.x\4\0\0\0\7\0\0\0' > "$corpus/gguf/tiny"
printf '\x40\0\0\0\0\0\0\0{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}        \0\0\x80\x3f\0\0\0\x40' \
  > "$corpus/safetensors/tiny"
printf 'HRTCOLD\0\1\0\0\0\0\0\0\0' > "$corpus/cold/header-only"
# an index file of one record (fuzz_cold: an odd first byte, then the file without its CRC)
printf '\1HRTCIDX\0\1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\20\0\0\0\0\0\0\0\1\0\0\0\0a' \
  > "$corpus/cold/index-one"
printf 'Hello, world! <|im_start|>caf\xc3\xa9 12345 \xe4\xbd\xa0\xe5\xa5\xbd\xff\xfe' > "$corpus/tokenizer/mixed"
printf 'the QUICK "fox" OR caf\xc3\xa9 -running* NEAR(x y) \xff\xfe\xe4\xbd\xa0' > "$corpus/bm25/query"
cp "$root"/prompts/*.txt "$corpus/prompt/"
printf '#: a header\nHello {{a}}, {{ b}} {{question}} {x} {{{\xff\n' > "$corpus/prompt/broken"
cp "$root"/examples/tasks/*.json "$corpus/task/"
status=0
for h in "$build"/tests/fuzz/fuzz_*; do
  name=$(basename "$h")
  kind=${name#fuzz_}
  mkdir -p "$corpus/$kind"
  echo "fuzz-smoke: $name for ${secs}s"
  if ! (cd "$root" && "$h" -max_total_time="$secs" -rss_limit_mb=4096 -max_len=65536 \
        "$corpus/$kind" > "$build/$name.log" 2>&1); then
    echo "fuzz-smoke: $name FAILED; log: $build/$name.log" >&2
    tail -40 "$build/$name.log" >&2
    status=1
  else
    grep -E "^(#[0-9]+ +DONE|Done)" "$build/$name.log" | tail -1 || true
  fi
done
rm -rf /tmp/hrt_fuzz_cold_* /tmp/hrt_fuzz_prompt_* # the harnesses' scratch files
exit $status
