#!/usr/bin/env bash
# `dip study` on a real one-node Slurm cluster (tests/slurm/cluster.sh): apps/slurm/study.sh submits
# a tiny study (2 images x 2 seeds, a few iterations) as a 3-task job array plus the report as a job
# that depends on it; the test waits for both (bounded), then checks that the report equals the one
# of the same study run unsharded on this machine, and stops the daemons it started.
#
#   tests/slurm/test_study.sh [BUILD_DIR]     (default build/; run from anywhere)
#
# Exit status: 0 pass, 77 skipped (one line "slurm: skipped: <why>"), 1 fail.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
DIP=$BUILD/dip
WAIT_S=${SLURM_STUDY_TIMEOUT:-300}
[[ -x "$DIP" ]] || { echo "slurm study: FAIL: $DIP not built" >&2; exit 1; }

D=$(mktemp -d /tmp/dip-slurm-study.XXXXXX)
cleanup() {
    local rc=$?
    "$HERE/cluster.sh" stop "$D/cluster" >&2 2>/dev/null || true
    if [[ "${SLURM_STUDY_KEEP:-0}" == 1 ]]; then echo "slurm study: kept $D" >&2; else rm -rf -- "$D"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
    echo "slurm study: FAIL: $*" >&2
    for f in "$D"/sharded/slurm/*.log "$D"/cluster/log/slurmctld.log; do
        [[ -s "$f" ]] && { echo "---- tail $f" >&2; tail -n 15 "$f" >&2; }
    done
    exit 1
}

# ---- the cluster (a skip passes straight through) -------------------------------------------------
rc=0
out=$("$HERE/cluster.sh" start "$D/cluster") || rc=$?
if [[ $rc -eq 77 ]]; then echo "$out" | tail -n 1; exit 77; fi
[[ $rc -eq 0 ]] || fail "cluster.sh start exited with $rc"
# shellcheck disable=SC1091
source "$D/cluster/env.sh"

# ---- a tiny study: the two bundled photographs, one per split, two seeds -> 4 runs over 3 tasks ----
mkdir -p "$D/train" "$D/test"
cp "$ROOT/data/astronaut.png" "$D/train/"
cp "$ROOT/data/coffee.png" "$D/test/"
ARGS="--size 96 --iters 30 --every 10 --stop-window 10 --stop-patience 10 --seeds 0,1"

t0=$(date +%s)
cd "$ROOT"
submitted=$(DIP="$DIP" TASK=denoise TRAIN="$D/train" TEST="$D/test" OUT="$D/sharded" DIP_ARGS="$ARGS" TASKS=3 \
            CPUS=1 TIME=00:10:00 "$ROOT/apps/slurm/study.sh") || fail "apps/slurm/study.sh failed: $submitted"
read -r array_id report_id < "$D/sharded/slurm/jobs"
echo "slurm study: array job $array_id, report job $report_id" >&2

# ---- wait (bounded) until neither job is pending or running --------------------------------------
while :; do
    states=$(squeue -h -t all -j "$array_id,$report_id" -o '%i %T' 2>/dev/null || true)
    if [[ -n "$states" ]] && ! grep -qE ' (PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED)$' <<<"$states"; then
        break
    fi
    (($(date +%s) - t0 < WAIT_S)) || fail "jobs not finished after $WAIT_S s: $(tr '\n' ' ' <<<"$states")"
    sleep 1
done
for i in 0 1 2; do
    grep -qE "^${array_id}_$i COMPLETED$" <<<"$states" || fail "array task $i: $(tr '\n' ' ' <<<"$states")"
done
grep -qE "^$report_id COMPLETED$" <<<"$states" || fail "report job: $(tr '\n' ' ' <<<"$states")"
t1=$(date +%s)

# ---- the same study on this machine, unsharded; the reports must agree ----------------------------
# shellcheck disable=SC2086
"$DIP" study run --task denoise --train "$D/train" --test "$D/test" --out "$D/whole" --device cpu --threads 1 \
    --quiet $ARGS || fail "unsharded study run failed"
"$DIP" study report "$D/whole" >/dev/null || fail "unsharded report failed"

# Every number that does not depend on timing: runs.csv whole, results.csv without its seconds column.
diff <(sort "$D/whole/report/runs.csv") <(sort "$D/sharded/report/runs.csv") >&2 ||
    fail "runs.csv differs between the Slurm study and the unsharded one"
without_seconds() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /seconds/) drop[i] = 1 }
             { line = ""; for (i = 1; i <= NF; i++) if (!drop[i]) line = line (line == "" ? "" : ",") $i; print line }' "$1"
}
diff <(without_seconds "$D/whole/report/results.csv") <(without_seconds "$D/sharded/report/results.csv") >&2 ||
    fail "results.csv differs between the Slurm study and the unsharded one"
runs=$(find "$D/sharded/runs" -name '*.json' | wc -l)
[[ "$runs" == 4 ]] || fail "the Slurm study finished $runs runs, want 4"

echo "slurm study: PASS (4 runs in a 3-task array + the dependent report: $((t1 - t0)) s; reports equal)"
