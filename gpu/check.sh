#!/usr/bin/env bash
# gpu/check.sh — the one script to run on the GPU machine: build with CUDA, run every test, time the
# DIP iteration with dip-bench and with PyTorch (the skip net at $SIZES, the naive ViT at $VIT_SIZE),
# and print a comparison table.
#
# Set-up (once, on a machine that has the Debian headers; the GPU machine has nvcc, cmake and
# PyTorch but no Eigen/doctest/stb and no network). .deps/ is git-ignored; carry it along:
#   mkdir -p .deps/include && cp -r /usr/include/eigen3 /usr/include/doctest /usr/include/stb .deps/include/
# Then, from the repository root on the GPU machine:
#   bash gpu/check.sh
# Environment knobs:
#   SIZES="256 512"   image sides for dip-bench and the PyTorch reference (skip net)
#   VIT_SIZE=512      image side for the ViT (patch 8, width 256, depth 6, 8 heads; a multiple of 8;
#                     empty: no ViT steps)
#   JOBS=N            build parallelism (default: all cores)
#   DIP_CUDA_ARCH=90  CUDA architecture (default: the GPU's, from nvidia-smi; else CMake's default list)
#   TEST_ARGS=...     extra doctest arguments, e.g. TEST_ARGS="-tc=cuda*"
#   SKIP_BUILD=1      reuse build-gpu as it is
#   BUDGET=570        seconds for the whole script (the device runner stops a command at 600 s);
#                     each step's limit is cut to what is left, and steps with no time left are skipped
# Every step is bounded with `timeout`; a failing step is reported and the script goes on. Logs go
# to $OUT/check-logs/ when $OUT is set (the device runner returns that folder, even after a time-out),
# else to build-gpu/check-logs/. Exit status: 0 when every step passed, 1 otherwise.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=build-gpu
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then LOGS=$OUT/check-logs; else LOGS=$BUILD/check-logs; fi
DEADLINE=$((SECONDS + ${BUDGET:-570}))
SIZES=${SIZES:-"256 512"}
VIT_SIZE=${VIT_SIZE-512}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$LOGS"
failed=()

# step NAME SECONDS SHOW CMD...: runs CMD with a time limit, its output into $LOGS/NAME.log; then
# prints the last SHOW lines of the log (all of it if the step failed and SHOW is smaller than 80).
step() {
  local name=$1 limit=$2 show=$3
  shift 3
  local log="$LOGS/$name.log" start=$SECONDS rc
  local left=$((DEADLINE - SECONDS))
  echo
  if [ "$left" -lt 20 ]; then
    echo "=== [$name] skipped: the time budget is spent"
    failed+=("$name (no time left)")
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "=== [$name] $* (limit ${limit}s)"
  timeout --kill-after=15 "$limit" "$@" >"$log" 2>&1
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$show" -lt 80 ]; then show=80; fi
  tail -n "$show" "$log"
  if [ "$rc" -eq 0 ]; then
    echo "=== [$name] ok in $((SECONDS - start)) s"
  else
    local why="exit $rc"
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && why="timed out after ${limit}s"
    echo "=== [$name] FAILED ($why) after $((SECONDS - start)) s — full log: $log"
    failed+=("$name ($why)")
  fi
  return "$rc"
}

echo "=== dip gpu/check.sh at $(date -u +%FT%TZ) in $ROOT"
nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader 2>/dev/null \
  || echo "(nvidia-smi not available)"
command -v nvcc >/dev/null && nvcc --version | tail -n 1
[ -d .deps/include ] || echo "warning: .deps/include is missing; the build needs Eigen, doctest and stb headers (see the top of gpu/check.sh)"

# ---- build -----------------------------------------------------------------------------------
arch=${DIP_CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '. ')}
arch_flag=()
[ -n "$arch" ] && arch_flag=(-DCMAKE_CUDA_ARCHITECTURES="$arch")
built=1
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  step configure 180 5 cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDIP_CUDA=on \
    -DDIP_EXTRA_INCLUDE="$ROOT/.deps/include" -DDIP_TESTS= ${arch_flag[@]+"${arch_flag[@]}"} || built=0
  if [ "$built" = 1 ]; then
    step build 480 5 cmake --build "$BUILD" -j "$JOBS" || built=0
  fi
fi

# ---- tests -------------------------------------------------------------------------------------
if [ "$built" = 1 ] && [ -x "$BUILD/dip-tests" ]; then
  # shellcheck disable=SC2086  # TEST_ARGS is split on purpose
  step tests 420 40 "$BUILD/dip-tests" ${TEST_ARGS:-}
else
  echo "=== [tests] skipped: $BUILD/dip-tests was not built"
  failed+=("tests (not built)")
fi

# ---- dip-bench ---------------------------------------------------------------------------------
if [ "$built" = 1 ] && [ -x "$BUILD/dip-bench" ]; then
  # TF32 is the default on sm_80+ (and PyTorch's for convolutions); say so explicitly.
  for size in $SIZES; do
    step "bench-$size" 240 5 "$BUILD/dip-bench" --net skip --device cuda --iters 20 --warmup 5 \
      --precision tf32 --size "$size"
  done
else
  echo "=== [bench] skipped: $BUILD/dip-bench was not built"
fi

# ---- PyTorch reference -----------------------------------------------------------------------------
have_torch=0
python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && have_torch=1
if [ "$have_torch" = 1 ]; then
  # shellcheck disable=SC2086
  step torch 420 10 python3 gpu/torch_reference.py --net skip --sizes $SIZES --iters 20
else
  echo "=== [torch] skipped: python3 cannot import torch with CUDA"
  failed+=("torch (no PyTorch with CUDA)")
fi

# ---- the naive ViT (after the skip net, so a tight budget still leaves that comparison) --------
# Its matmuls in both precisions: dip-bench TF32 and FP32; PyTorch TF32 eager and graph, FP32 eager.
if [ -n "$VIT_SIZE" ]; then
  if [ "$built" = 1 ] && [ -x "$BUILD/dip-bench" ]; then
    for prec in tf32 fp32; do
      step "bench-vit-$prec-$VIT_SIZE" 150 5 "$BUILD/dip-bench" --net vit --device cuda --iters 20 --warmup 5 \
        --precision "$prec" --size "$VIT_SIZE"
    done
  fi
  if [ "$have_torch" = 1 ]; then
    step torch-vit-tf32 180 10 python3 gpu/torch_reference.py --net vit --sizes "$VIT_SIZE" --iters 20 \
      --precision tf32
    step torch-vit-fp32 120 10 python3 gpu/torch_reference.py --net vit --sizes "$VIT_SIZE" --iters 20 \
      --precision fp32 --modes eager
  fi
fi

# ---- table -------------------------------------------------------------------------------------
echo
echo "=== summary (median ms per iteration; ratio = PyTorch eager of the same net, size and precision /"
echo "    this row, > 1 is faster than PyTorch; peak: dip's device memory held, PyTorch's allocated)"
python3 - "$LOGS"/bench-*.log "$LOGS"/torch*.log <<'EOF' || echo "(no table: python3 failed)"
import json, sys
rows = []
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
if not rows:
    print("(no timings were produced)")
    sys.exit(0)
def label(r):
    return f"pytorch {r.get('mode', '?')}" if r.get("impl") == "pytorch" else f"dip {r.get('device', '?')}"
def key(r):  # rows before the precision field: dip-bench and torch_reference both ran TF32
    return (r.get("net", "skip"), r.get("size", 0), r.get("precision", "tf32"))
eager = {key(r): r["median_ms"] for r in rows if r.get("impl") == "pytorch" and r.get("mode") == "eager"}
print(f"{'net':<5} {'implementation':<16} {'prec':<5} {'size':>5} {'median ms':>10} {'min ms':>8} "
      f"{'peak MiB':>9} {'params':>9} {'ratio':>6}")
for r in sorted(rows, key=lambda r: (key(r), label(r))):
    med = r.get("median_ms", float("nan"))
    ratio = f"{eager[key(r)] / med:.2f}" if key(r) in eager and med else "-"
    net, size, prec = key(r)
    print(f"{net:<5} {label(r):<16} {prec:<5} {size:>5} {med:>10.2f} {r.get('min_ms', float('nan')):>8.2f} "
          f"{r.get('peak_mib', float('nan')):>9.0f} {r.get('params', 0):>9} {ratio:>6}")
EOF

echo
if [ "${#failed[@]}" -eq 0 ]; then
  echo "=== all steps passed"
  exit 0
fi
echo "=== failed steps: ${failed[*]}"
exit 1
