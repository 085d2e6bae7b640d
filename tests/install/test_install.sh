#!/usr/bin/env bash
# The library as another program sees it: install the build into a temporary prefix, configure and
# build examples/ as a separate CMake project against that prefix (find_package(dip) only: no
# include directory or library path given by hand), run each example briefly on the CPU and check
# what it prints. Usage: tests/install/test_install.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/dip-install-test-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "install test: FAILED: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" || fail "cmake --install (see $work/install.log)"
[ -f "$work/prefix/include/dip/tensor/tensor.h" ] || fail "headers not under include/dip/"
[ -f "$work/prefix/lib/cmake/dip/dipConfig.cmake" ] || fail "no CMake package"
cmake -S "$root/examples" -B "$work/examples" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" \
  >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configuring examples/ against the prefix"; }
cmake --build "$work/examples" -j "$(nproc)" >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; fail "building examples/"; }

# 1. The MLP: the loss must fall at least 10x.
"$work/examples/mlp_fit" --steps 300 >"$work/mlp.txt"
first=$(awk '/^step/ {print $4; exit}' "$work/mlp.txt")
last=$(awk '/^step/ {v=$4} END {print v}' "$work/mlp.txt")
awk -v a="$first" -v b="$last" 'BEGIN {exit !(a != "" && b != "" && b * 10 <= a + 0)}' ||
  fail "mlp_fit: loss $first -> $last, not 10x lower"
# 2. The DIP hello world: the output's PSNR must beat the noisy input's by 3 dB at some point.
"$work/examples/dip_hello" --device cpu --steps 100 >"$work/dip.txt"
noisy=$(awk '/^noisy input/ {print $4}' "$work/dip.txt")
best=$(awk '/output PSNR/ {if ($7 + 0 > b + 0) b = $7} END {print b}' "$work/dip.txt")
awk -v a="$noisy" -v b="$best" 'BEGIN {exit !(a != "" && b != "" && b + 0 >= a + 3)}' ||
  fail "dip_hello: PSNR $noisy -> best $best: $(cat "$work/dip.txt")"
# 3. The custom op: its gradient check passes (exit status 0 and says so).
"$work/examples/custom_op" >"$work/op.txt" || fail "custom_op: $(cat "$work/op.txt")"
grep -q "gradient check: passed" "$work/op.txt" || fail "custom_op: $(cat "$work/op.txt")"
# pkg-config knows the package too.
if command -v pkg-config >/dev/null; then
  PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs dip >/dev/null || fail "pkg-config dip"
fi
echo "install test: passed (mlp_fit loss $first -> $last; dip_hello PSNR $noisy -> $best dB; custom_op gradient check)"
