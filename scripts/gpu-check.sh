#!/usr/bin/env bash
# Builds hrt with CUDA on the GPU machine, runs the GPU tests and the GPU
# benchmark, in one go. Run from the repository root on that machine:
#   scripts/gpu-check.sh build   configure + build, kernel tests, tiny-model end-to-end tests
#   scripts/gpu-check.sh model   the SmolLM2 end-to-end tests and the benchmarks
#   scripts/gpu-check.sh embed   embeddings on the GPU against HF, and their speed beside HF's
#                                and the CPU's (carry .gpu/minilm and .gpu/data)
#   scripts/gpu-check.sh all     build and model
# That machine has no network and no cJSON: .gpu/cjson holds Debian's
# libcjson1 and libcjson-dev unpacked (scripts/gpu-prepare.sh makes it here).
# The default model is larger than what a call may carry, so it travels in
# two halves, .gpu/model.1 and .gpu/model.2, over two consecutive calls;
# the first half waits in /root/hrt-model.1 meanwhile. Results go to $OUT.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-$root/.gpu/out}
mkdir -p "$out"
stage=${1:-all}
gguf=models/smollm2-135m-instruct-q4_1.gguf
sum=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
status=0

run() { # run NAME COMMAND...: log to $out/NAME.log, keep going on failure
  local name=$1; shift
  echo "== $name"
  if "$@" >"$out/$name.log" 2>&1; then tail -n 25 "$out/$name.log"; else
    echo "FAILED: $name"; tail -n 60 "$out/$name.log"; status=1; fi
}

[ -f .gpu/model.1 ] && cp .gpu/model.1 /root/hrt-model.1
if [ ! -f "$gguf" ] && [ -f .gpu/model.2 ] && [ -f /root/hrt-model.1 ]; then
  mkdir -p models && cat /root/hrt-model.1 .gpu/model.2 >"$gguf.part"
  if [ "$(sha256sum "$gguf.part" | cut -d' ' -f1)" = "$sum" ]; then mv "$gguf.part" "$gguf"; echo "model reassembled";
  else echo "model halves do not match the pinned sha256"; rm -f "$gguf.part"; fi
fi

if [ "$stage" = build ] || [ "$stage" = all ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
  nvcc --version | tail -1
  run configure cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DHRT_CUDA=ON -DHRT_WERROR=ON \
    -DCJSON_ROOT="$root/.gpu/cjson" -DCMAKE_CUDA_ARCHITECTURES="80;90"
  run build cmake --build build-gpu -j"$(nproc)"
  run kernels ./build-gpu/tests/test_cuda_kernels
  run e2e-first ./build-gpu/tests/test_cuda_e2e
  run cpu-tests ctest --test-dir build-gpu --output-on-failure -E "cuda|cli"
fi
if [ "$stage" = model ] || [ "$stage" = all ]; then
  [ -x build-gpu/tests/test_cuda_e2e ] || run build cmake --build build-gpu -j"$(nproc)"
  run e2e ./build-gpu/tests/test_cuda_e2e
  run shaped env PYTHONUNBUFFERED=1 python3 bench/make_shaped_models.py /root/shaped
  if [ -f "$gguf" ]; then
    run bench-smollm2-q4_1 ./build-gpu/bench/bench_gpu --model "$gguf" --label "SmolLM2-135M Q4_1" --json "$out/bench_smollm2_q4_1.json"
  fi
  if [ -f "$gguf" ] && command -v ncu >/dev/null; then
    # where the time goes: per-kernel totals for a ~600-token prompt and 16 decode steps
    python3 -c "print(' '.join(['The history of computing is long.'] * 90))" >/tmp/prompt.txt
    run ncu-profile ncu --metrics gpu__time_duration.sum --print-summary per-kernel \
      ./build-gpu/hrt generate --backend cuda --raw -m "$gguf" -f /tmp/prompt.txt -n 16
  fi
  for m in smollm2-shape qwen05-shape; do
    run "bench-$m" ./build-gpu/bench/bench_gpu --model "/root/shaped/$m" --label "$m bf16" --json "$out/bench_$m.json"
    run "hf-$m" env PYTHONUNBUFFERED=1 python3 bench/hf_decode_gpu.py "/root/shaped/$m" 256 3
  done
fi
if [ "$stage" = embed ]; then
  [ -x build-gpu/bench/bench_embed ] || run build cmake --build build-gpu -j"$(nproc)"
  run hf-embed env PYTHONUNBUFFERED=1 python3 bench/hf_embed_gpu.py /root/minilm-shape .gpu/minilm .gpu/data \
    build-gpu/hrt 5
  run bench-embed ./build-gpu/bench/bench_embed --cuda --model /root/minilm-shape --data .gpu/data
fi
echo "gpu-check: $([ $status -eq 0 ] && echo ok || echo FAILED)"
exit $status
