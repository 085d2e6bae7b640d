#!/usr/bin/env bash
# Runs a `dip study` on a Slurm cluster: a job array whose tasks share the study's runs (each task
# shards itself from SLURM_ARRAY_TASK_ID), then `dip study report` as a job that starts only when
# every array task succeeded (--dependency=afterok).
#
#   apps/slurm/study.sh                 # submit with the settings below, from the repository root
#   TASKS=16 OUT=studies/f16 apps/slurm/study.sh   # any setting can also come from the environment
#
# Re-submitting the same settings resumes the study: finished runs are skipped. Logs go to
# $OUT/slurm/. Prints the two job ids; `squeue -u $USER` follows them, and the report lands in
# $OUT/report/ (study.html, report.md).
set -euo pipefail

# ---- settings: edit these ------------------------------------------------------------------------
: "${DIP:=build/dip}"                    # the dip program (built with `make build`)
: "${TASK:=denoise}"                     # denoise, sr, inpaint or jpeg
: "${TRAIN:=../shared/data/study/train}" # training images (T* is learned on them)
: "${TEST:=../shared/data/study/test}"   # test images
: "${OUT:=studies/$TASK}"                # the study folder
: "${DIP_ARGS:=--size 128 --iters 1200 --every 10 --seeds 0}"  # the rest of `dip study run`'s options
: "${TASKS:=8}"                          # array tasks (runs are dealt out round-robin)
: "${CPUS:=2}"                           # CPU threads per array task
: "${GPUS:=0}"                           # GPUs per array task (0: train on the CPU)
: "${TIME:=24:00:00}"                    # wall-clock limit of each array task
: "${PARTITION:=}"                       # Slurm partition (empty: the cluster's default)
: "${SBATCH_EXTRA:=}"                    # any other sbatch options, e.g. "--account=proj --mem=8G"
# ---------------------------------------------------------------------------------------------------

[[ -x "$DIP" ]] || { echo "study.sh: $DIP not found; run 'make build' first" >&2; exit 2; }
command -v sbatch >/dev/null || { echo "study.sh: sbatch not found (is this a Slurm login node?)" >&2; exit 2; }
mkdir -p "$OUT/slurm"

common=(--parsable --chdir "$PWD" --export ALL)
[[ -n "$PARTITION" ]] && common+=(--partition "$PARTITION")
device=(--device cpu --threads "$CPUS")
gres=()
if ((GPUS > 0)); then device=(--device cuda --threads "$CPUS"); gres=(--gres "gpu:$GPUS"); fi

# The array: every task runs the same command; dip picks its share from SLURM_ARRAY_TASK_ID/COUNT.
# shellcheck disable=SC2086  # DIP_ARGS and SBATCH_EXTRA are word lists on purpose
run_cmd="$(printf '%q ' "$DIP" study run --task "$TASK" --train "$TRAIN" --test "$TEST" --out "$OUT" "${device[@]}") $DIP_ARGS"
# shellcheck disable=SC2086
array_id=$(sbatch "${common[@]}" $SBATCH_EXTRA "${gres[@]}" --job-name "dip-study-$TASK" --array "0-$((TASKS - 1))" \
    --cpus-per-task "$CPUS" --time "$TIME" --output "$OUT/slurm/run-%A_%a.log" --wrap "$run_cmd")
array_id=${array_id%%;*}

# The report: only after every array task ended well.
report_cmd="$(printf '%q ' "$DIP" study report "$OUT")"
# shellcheck disable=SC2086
report_id=$(sbatch "${common[@]}" $SBATCH_EXTRA --job-name "dip-study-report" --dependency "afterok:$array_id" \
    --kill-on-invalid-dep=yes --cpus-per-task 1 --time 00:30:00 --output "$OUT/slurm/report-%j.log" \
    --wrap "$report_cmd")
report_id=${report_id%%;*}

echo "study.sh: array job $array_id ($TASKS tasks), report job $report_id (after the array succeeds)"
echo "study.sh: logs in $OUT/slurm/, the report in $OUT/report/"
echo "$array_id $report_id" > "$OUT/slurm/jobs"
