#!/usr/bin/env bash
# Smoke test of the one-node Slurm test cluster (tests/slurm/cluster.sh):
#   * a 3-task job array (sbatch --array=0-2 --wrap ...) whose tasks write their array variables,
#     working directory and an environment variable of the submitter to files, and
#   * a job with --dependency=afterok:<array job id> that must start only after all three tasks ended.
# No accounting storage is configured, so progress is followed with squeue/scontrol and the files.
#
# Exit status: 0 pass, 77 skipped (the line "slurm: skipped: <why>"), 1 fail.
# SLURM_SMOKE_KEEP=1 keeps the temporary directory (logs, outputs) for inspection.
# shellcheck disable=SC2016,SC2317  # job scripts are single-quoted on purpose; traps call cleanup
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLUSTER=$HERE/cluster.sh
WAIT_S=${SLURM_SMOKE_TIMEOUT:-120}

D=$(mktemp -d /tmp/slurm-smoke.XXXXXX)
cleanup() {
    local rc=$?
    "$CLUSTER" stop "$D" >&2 || true
    if [[ "${SLURM_SMOKE_KEEP:-0}" == 1 ]]; then echo "smoke: kept $D" >&2; else rm -rf -- "$D"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
fail() {
    echo "smoke: FAIL: $*" >&2
    for f in "$D"/log/slurmctld.log "$D"/log/slurmd.log "$D"/work/*.log; do
        [[ -s "$f" ]] && { echo "---- tail $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

# ---- start the cluster (77 passes straight through) ------------------------------------------
t_start=$(now)
rc=0
out=$("$CLUSTER" start "$D") || rc=$?
if [[ $rc -eq 77 ]]; then echo "$out" | tail -n 1; exit 77; fi
[[ $rc -eq 0 ]] || fail "cluster.sh start exited with $rc: $out"
# shellcheck disable=SC1091
source "$D/env.sh"
t_up=$(now)

# ---- submit, from a work directory and with a marker variable in the environment -------------
mkdir -p "$D/work"
cd "$D/work"
export SMOKE_MARK="mark-$$"
# Written by each task: id count min max array-job-id cwd marker, then an end time stamp.
arr=$(sbatch --parsable --array=0-2 -J smoke-array -o "$D/work/array-%A_%a.log" --wrap '
    echo "$SLURM_ARRAY_TASK_ID ${SLURM_ARRAY_TASK_COUNT-unset} ${SLURM_ARRAY_TASK_MIN-unset} ${SLURM_ARRAY_TASK_MAX-unset} $SLURM_ARRAY_JOB_ID $PWD ${SMOKE_MARK-unset}" > task-$SLURM_ARRAY_TASK_ID.txt
    sleep 2
    date +%s.%N > task-$SLURM_ARRAY_TASK_ID.end') || fail "sbatch --array failed"
arr=${arr%%;*}   # --parsable prints "jobid[;cluster]"
dep=$(sbatch --parsable --dependency=afterok:"$arr" -J smoke-after -o "$D/work/after.log" --wrap '
    date +%s.%N > after.start
    ls task-*.end 2>/dev/null | wc -l > after.count') || fail "sbatch --dependency failed"
dep=${dep%%;*}
t_sub=$(now)
echo "smoke: array job $arr, dependent job $dep" >&2

# The dependent job must be held while the array is unfinished.
reason=$(squeue -h -j "$dep" -o %r 2>/dev/null || true)
[[ "$reason" == Dependency* || -f after.start ]] || echo "smoke: note: dependent job reason '$reason'" >&2

# ---- wait (bounded) until every job has left the pending/running states ----------------------
states() { squeue -h -t all -j "$arr,$dep" -o '%i %T' 2>/dev/null; }
t_arr_done=""
while :; do
    s=$(states) || s=""
    if [[ -z "$t_arr_done" ]] && [[ -n "$s" ]] &&
       ! grep -E "^${arr}_" <<<"$s" | grep -qvE ' (COMPLETED|FAILED|CANCELLED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL)$'; then
        t_arr_done=$(now)
    fi
    [[ -n "$s" ]] && ! grep -qE ' (PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED|REQUEUED.*|RESIZING)$' <<<"$s" && break
    (($(elapsed "$t_sub" "$(now)" | cut -d. -f1) < WAIT_S)) || fail "jobs not finished after $WAIT_S s: $(tr '\n' ' ' <<<"$s")"
    sleep 0.5
done
t_done=$(now)
echo "smoke: final states: $(tr '\n' ' ' <<<"$s")" >&2

# ---- check ------------------------------------------------------------------------------------
for i in 0 1 2; do
    grep -qE "^${arr}_$i COMPLETED$" <<<"$s" || fail "array task $i did not complete"
done
grep -qE "^$dep COMPLETED$" <<<"$s" || fail "dependent job $dep did not complete"
exitcode=$(scontrol show job "$dep" | grep -o 'ExitCode=[0-9:]*' | head -n 1)
[[ "$exitcode" == ExitCode=0:0 ]] || fail "dependent job: $exitcode"

count_seen=""
for i in 0 1 2; do
    [[ -s task-$i.txt ]] || fail "task-$i.txt missing"
    read -r id count min max jobid cwd mark <task-$i.txt
    [[ "$id" == "$i" && "$jobid" == "$arr" ]] || fail "task-$i.txt: id/job '$id $jobid'"
    [[ "$min" == 0 && "$max" == 2 ]] || fail "task-$i.txt: min/max '$min $max' (want 0 2)"
    # SLURM_ARRAY_TASK_COUNT is set by Slurm >= 18.08; accept 'unset' but report it.
    [[ "$count" == 3 || "$count" == unset ]] || fail "task-$i.txt: count '$count' (want 3)"
    count_seen=$count
    [[ "$cwd" == "$D/work" ]] || fail "task-$i.txt: cwd '$cwd' (want the submit dir $D/work)"
    [[ "$mark" == "$SMOKE_MARK" ]] || fail "task-$i.txt: environment not propagated ('$mark')"
done
[[ "$(cat after.count)" == 3 ]] || fail "dependent job saw $(cat after.count) finished tasks, want 3"
last_end=$(sort -n task-*.end | tail -n 1)
after_start=$(cat after.start)
awk -v a="$after_start" -v b="$last_end" 'BEGIN { exit !(a >= b) }' ||
    fail "dependent job started ($after_start) before the last array task ended ($last_end)"

# ---- stop and report --------------------------------------------------------------------------
t_stop0=$(now)
"$CLUSTER" stop "$D" >&2
t_stop1=$(now)
echo "smoke: PASS (SLURM_ARRAY_TASK_COUNT ${count_seen/unset/not set}) — start $(elapsed "$t_start" "$t_up") s," \
     "array (3 x 2 s on $(nproc) CPUs) $(elapsed "$t_sub" "${t_arr_done:-$t_done}") s," \
     "dependent job after array $(elapsed "${t_arr_done:-$t_done}" "$t_done") s" \
     "(started $(elapsed "$last_end" "$after_start") s after the last task ended)," \
     "stop $(elapsed "$t_stop0" "$t_stop1") s, total $(elapsed "$t_start" "$t_stop1") s"
exit 0
