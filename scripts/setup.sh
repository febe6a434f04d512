#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a built hrt:
#   1. installs the Debian packages the build needs (only those missing;
#      needs root or sudo for that step),
#   2. fetches the default models into models/ (scripts/fetch-models.sh),
#   3. configures and builds into build/.
# Safe to run again: each step does nothing when its work is already done.
# Extra CMake arguments: HRT_CMAKE_ARGS="-DHRT_CUDA=OFF ..." scripts/setup.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

packages=(build-essential cmake pkg-config git ca-certificates python3 python3-pip
          libcjson-dev libcurl4-openssl-dev libzstd-dev libsqlite3-dev libfaiss-dev libopenblas-dev clang-14 libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages present"
fi

"$root/scripts/fetch-models.sh"

# shellcheck disable=SC2086
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release ${HRT_CMAKE_ARGS:-}
cmake --build "$root/build" -j"$(nproc)"
echo "setup: done. Try: ./build/hrt ask \"How do I reset my password?\""
