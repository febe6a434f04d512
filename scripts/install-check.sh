#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds examples/hello.c
# against it through pkg-config, linked statically and dynamically; runs
# both on the default model when it is there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig
test -f "$prefix/include/hrt.h"
cc -std=c11 -Wall -Wextra -Werror "$root/examples/hello.c" $(pkg-config --cflags hrt) \
   "$(pkg-config --variable=libdir hrt)/libhrt.a" $(pkg-config --libs-only-l --static hrt | sed 's/-lhrt//') \
   -o "$prefix/hello-static"
cc -std=c11 -Wall -Wextra -Werror "$root/examples/hello.c" $(pkg-config --cflags --libs hrt) \
   -Wl,-rpath,"$(pkg-config --variable=libdir hrt)" -o "$prefix/hello-shared"
model=$root/models/smollm2-135m-instruct-q4_1.gguf
if [ -f "$model" ]; then
  for v in static shared; do
    out=$("$prefix/hello-$v" "$model" "What is the capital of France?" 2>/dev/null)
    echo "hello-$v: $out"
    grep -q Paris <<<"$out"
  done
fi
echo "install-check: ok"
