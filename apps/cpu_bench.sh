#!/usr/bin/env bash
# The README's CPU table: dip-bench (Winograd, and --conv im2col) next to PyTorch on the same
# iteration, alternated round by round in one session so that a shared machine's drift hits all
# three alike. Prints one markdown row per (size, threads): the median over rounds of each run's
# median iteration time, the speed-ups, and the peak memory.
#
#   apps/cpu_bench.sh [BUILD_DIR] [ROUNDS] [SIZES] [THREADS]
#   apps/cpu_bench.sh build 3 "128 256" "2 1"
#
# Needs Debian's python3-torch for /usr/bin/python3 (apt-get install python3-torch); without it the
# PyTorch columns say "n/a".
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
sizes=${3:-128 256}
threads_list=${4:-2 1}
cd "$(dirname "$0")/.."
bench="$build/dip-bench"
[ -x "$bench" ] || { echo "cpu_bench.sh: $bench not found; run make build first" >&2; exit 2; }
have_torch=0
/usr/bin/python3 -c "import torch" 2>/dev/null && have_torch=1

field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.stdin.readlines()[-1])['$1'])"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

isa=$(grep -qw avx512f /proc/cpuinfo && echo "AVX-512" || echo "AVX2, no AVX-512")
# The model name alone can hide the generation (a VM may say just "AMD EPYC"): family and model too.
family=$(sed -n 's/^cpu family[[:space:]]*: *//p' /proc/cpuinfo | head -1)
model=$(sed -n 's/^model[[:space:]]*: *//p' /proc/cpuinfo | head -1)
echo "cpu: $(lscpu | sed -n "s/^Model name: *//p" | head -1) (family ${family:-?}, model ${model:-?}), $(nproc) cores, $isa"
echo "| size | threads | dip (Winograd) | dip --conv im2col | PyTorch | speed-up vs PyTorch | peak MiB dip / PyTorch |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for size in $sizes; do
  for threads in $threads_list; do
    iters=10
    [ "$size" -ge 256 ] && iters=5
    w=(); d=(); t=(); wm=(); tm=()
    for ((r = 0; r < rounds; ++r)); do
      out=$("$bench" --net skip --size "$size" --device cpu --threads "$threads" --iters "$iters")
      w+=("$(echo "$out" | field median_ms)"); wm+=("$(echo "$out" | field peak_mib)")
      d+=("$("$bench" --net skip --size "$size" --device cpu --threads "$threads" --iters "$iters" --conv im2col | field median_ms)")
      if [ $have_torch = 1 ]; then
        out=$(/usr/bin/python3 gpu/torch_reference.py --device cpu --threads "$threads" --sizes "$size" --iters "$iters" --warmup 2)
        t+=("$(echo "$out" | field median_ms)"); tm+=("$(echo "$out" | field peak_mib)")
      fi
    done
    mw=$(median "${w[@]}"); md=$(median "${d[@]}")
    if [ $have_torch = 1 ]; then
      mt=$(median "${t[@]}")
      printf '| %s² | %s | **%.1f ms** | %.1f ms | %.1f ms | %.2f× | %.0f / %.0f |\n' "$size" "$threads" "$mw" "$md" "$mt" \
        "$(awk "BEGIN {print $mt / $mw}")" "$(median "${wm[@]}")" "$(median "${tm[@]}")"
    else
      printf '| %s² | %s | **%.1f ms** | %.1f ms | n/a | n/a | %.0f / n/a |\n' "$size" "$threads" "$mw" "$md" "$(median "${wm[@]}")"
    fi
  done
done
