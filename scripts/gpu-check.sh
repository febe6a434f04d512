#!/usr/bin/env bash
# Builds hrt with CUDA on the GPU machine, runs the GPU tests and the GPU
# benchmark, in one go. Run from the repository root on that machine:
#   scripts/gpu-check.sh build   configure + build, kernel tests, tiny-model end-to-end tests
#   scripts/gpu-check.sh stash   only keeps the model parts this call carries (see below)
#   scripts/gpu-check.sh model   the SmolLM2 and Gemma 3 end-to-end tests and the benchmarks
#   scripts/gpu-check.sh embed   embeddings on the GPU against HF, and their speed beside HF's
#                                and the CPU's (carry .gpu/minilm and .gpu/data)
#   scripts/gpu-check.sh all     build and model
# GPU_CHECK_QUICK=1 leaves out the CPU tests (CI runs them) and the Nsight profile.
# That machine has no network and no cJSON: .gpu/cjson holds Debian's
# libcjson1 and libcjson-dev unpacked (scripts/gpu-prepare.sh makes it here).
# The chat models are larger than what a call may carry, so they travel in
# parts (.gpu/parts/NAME.K, made by gpu-prepare.sh) over consecutive calls;
# every call keeps the parts it carries in /root/hrt-parts, and a model is
# joined (and checked by sha256) once all its parts are there. Results go to $OUT.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-$root/.gpu/out}
mkdir -p "$out"
stage=${1:-all}
gguf=models/smollm2-135m-instruct-q4_1.gguf
gemma=models/gemma-3-270m-q4_k_m.gguf
status=0

run() { # run NAME COMMAND...: log to $out/NAME.log, keep going on failure
  local name=$1; shift
  echo "== $name"
  if "$@" >"$out/$name.log" 2>&1; then tail -n 25 "$out/$name.log"; else
    echo "FAILED: $name"; tail -n 60 "$out/$name.log"; status=1; fi
}

mkdir -p /root/hrt-parts models
cp .gpu/parts/* /root/hrt-parts/ 2>/dev/null && ls /root/hrt-parts
# join NAME FILE SHA256 PARTS: the model from its parts, when all are kept
join() {
  local name=$1 file=$2 sum=$3 n=$4
  [ -f "$file" ] && return
  [ "$(ls /root/hrt-parts/"$name".* 2>/dev/null | wc -l)" -eq "$n" ] || return
  cat /root/hrt-parts/"$name".? >"$file.part"
  if [ "$(sha256sum "$file.part" | cut -d' ' -f1)" = "$sum" ]; then mv "$file.part" "$file"; echo "$file joined";
  else echo "$name: parts do not match the pinned sha256"; rm -f "$file.part"; fi
}
join smollm2 "$gguf" b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 2
join gemma3 "$gemma" a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 5
[ "$stage" = stash ] && exit 0

configure_and_build() {
  run configure cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DHRT_CUDA=ON -DHRT_WERROR=ON \
    -DCJSON_ROOT="$root/.gpu/cjson" -DCMAKE_CUDA_ARCHITECTURES="80;90"
  run build cmake --build build-gpu -j"$(nproc)"
}

if [ "$stage" = build ] || [ "$stage" = all ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
  nvcc --version | tail -1
  configure_and_build
  run kernels timeout 600 ./build-gpu/tests/test_cuda_kernels
  # the same with plain launches (programmatic dependent launch off; on by default on Hopper)
  run kernels-no-pdl env HRT_CUDA_PDL=0 timeout 600 ./build-gpu/tests/test_cuda_kernels
  # random-weight models: the benchmark's shapes, and test_cuda_e2e's checks of the persistent step
  [ -f /root/shaped/wide-hd128/model.safetensors ] || run shaped env PYTHONUNBUFFERED=1 python3 bench/make_shaped_models.py /root/shaped
  export HRT_TEST_SHAPED=/root/shaped
  run e2e-first timeout 600 ./build-gpu/tests/test_cuda_e2e
  # GPU_CHECK_QUICK=1: the GPU's own tests only (CI runs the others)
  [ -n "${GPU_CHECK_QUICK:-}" ] || run cpu-tests ctest --test-dir build-gpu --output-on-failure -E "cuda|cli"
fi
if [ "$stage" = model ] || [ "$stage" = all ]; then
  [ -x build-gpu/tests/test_cuda_e2e ] || configure_and_build
  [ -f /root/shaped/wide-hd128/model.safetensors ] || run shaped env PYTHONUNBUFFERED=1 python3 bench/make_shaped_models.py /root/shaped
  run e2e env HRT_TEST_SHAPED=/root/shaped timeout 600 ./build-gpu/tests/test_cuda_e2e
  if [ -f "$gguf" ]; then
    run bench-smollm2-q4_1 ./build-gpu/bench/bench_gpu --model "$gguf" --label "SmolLM2-135M Q4_1" --json "$out/bench_smollm2_q4_1.json"
    # the same with one kernel per operation (the graph of the previous version)
    run bench-smollm2-q4_1-ops env HRT_CUDA_FUSED=0 ./build-gpu/bench/bench_gpu --model "$gguf" \
      --label "SmolLM2-135M Q4_1, per-op" --json "$out/bench_smollm2_q4_1_ops.json"
  fi
  if [ -f "$gemma" ]; then
    run bench-gemma3-q4_k_m ./build-gpu/bench/bench_gpu --model "$gemma" --label "Gemma 3 270M Q4_K_M" --json "$out/bench_gemma3_q4_k_m.json"
  fi
  if [ -f "$gguf" ] && [ -z "${GPU_CHECK_QUICK:-}" ] && command -v ncu >/dev/null; then
    # where the time goes: per-kernel totals for a ~600-token prompt and 16 decode steps
    python3 -c "print(' '.join(['The history of computing is long.'] * 90))" >/tmp/prompt.txt
    run ncu-profile ncu --metrics gpu__time_duration.sum --print-summary per-kernel \
      ./build-gpu/hrt generate --backend cuda --raw -m "$gguf" -f /tmp/prompt.txt -n 16
  fi
  for m in smollm2-shape qwen05-shape; do
    run "bench-$m" ./build-gpu/bench/bench_gpu --model "/root/shaped/$m" --label "$m bf16" --json "$out/bench_$m.json"
    run "hf-$m" env PYTHONUNBUFFERED=1 python3 bench/hf_decode_gpu.py "/root/shaped/$m" 256 3
  done
  # the peer of bench_gpu's prompt attention line: PyTorch's flash attention at the same heads
  run attn-peer env PYTHONUNBUFFERED=1 python3 bench/attn_peer_gpu.py 2048 14:2:64 9:3:64 4:1:256
  # gate/up/GLU and Q/K/V/RoPE/stores as one kernel each (Hopper) against cuBLAS + a kernel, and
  # the prompt with each two-kernel path (HRT_CUDA_GLU_GEMM=0, HRT_CUDA_ROPE_GEMM=0) beside the default above
  run bench-fused-gemm ./build-gpu/bench/bench_fused_gemm
  run bench-qwen05-shape-two-kernel-glu env HRT_CUDA_GLU_GEMM=0 ./build-gpu/bench/bench_gpu \
    --model /root/shaped/qwen05-shape --label "qwen05-shape bf16, HRT_CUDA_GLU_GEMM=0" --json "$out/bench_qwen05-shape_glu0.json"
  run bench-qwen05-shape-two-kernel-rope env HRT_CUDA_ROPE_GEMM=0 ./build-gpu/bench/bench_gpu \
    --model /root/shaped/qwen05-shape --label "qwen05-shape bf16, HRT_CUDA_ROPE_GEMM=0" --json "$out/bench_qwen05-shape_rope0.json"
  # the prompt products with timed cuBLASLt plans (kernels/cuda/gemm.h)
  run bench-qwen05-shape-tuned env HRT_CUDA_GEMM_TUNE=1 ./build-gpu/bench/bench_gpu --model /root/shaped/qwen05-shape \
    --label "qwen05-shape bf16, HRT_CUDA_GEMM_TUNE=1" --json "$out/bench_qwen05-shape_tuned.json"
fi
if [ "$stage" = embed ]; then
  [ -x build-gpu/bench/bench_embed ] || configure_and_build
  run hf-embed env PYTHONUNBUFFERED=1 python3 bench/hf_embed_gpu.py /root/minilm-shape .gpu/minilm .gpu/data \
    build-gpu/hrt 5
  run bench-embed ./build-gpu/bench/bench_embed --cuda --model /root/minilm-shape --data .gpu/data
fi
echo "gpu-check: $([ $status -eq 0 ] && echo ok || echo FAILED)"
exit $status
