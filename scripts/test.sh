#!/usr/bin/env bash
# Runs hrt's tests (all of them; pass ctest arguments such as -L fast to
# select). Build first with scripts/setup.sh. BUILD_DIR picks another build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec ctest --test-dir "${BUILD_DIR:-$root/build}" --output-on-failure "$@"
