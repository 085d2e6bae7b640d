#!/usr/bin/env bash
# A throw-away, one-node Slurm cluster for tests, built from Debian's own packages
# (slurmctld, slurmd, slurm-client, munge) -- a real Slurm, not a stand-in.
#
#   tests/slurm/cluster.sh start DIR   # configure and start munged, slurmctld, slurmd under DIR
#   tests/slurm/cluster.sh stop  DIR   # cancel its jobs, stop exactly the daemons started under DIR
#   tests/slurm/cluster.sh status DIR  # exit 0 when all three daemons of DIR are alive
#
# After `start`, point the Slurm clients at the cluster with
#   source DIR/env.sh        # exports SLURM_CONF=DIR/slurm.conf
# (`start` also prints that export line as its last line of output.)
#
# Everything lives under DIR: slurm.conf, the munge key/socket/log, slurmctld state, slurmd spool,
# logs (DIR/log/*.log) and pid files (DIR/run/*.pid). A system munged or Slurm is not touched: munged
# gets its own socket (named in slurm.conf's AuthInfo) and the daemons listen on their own ports.
#
# Exit status: 0 ok; 77 with the one line "slurm: skipped: <why>" on stdout when the packages are
# missing and cannot be installed, or when the daemons cannot be started here (details on stderr);
# anything else is a bug/unexpected failure. `start` never leaves daemons behind when it fails.
#
# Environment knobs (all optional):
#   SLURM_TEST_PORT=N      slurmctld port (slurmd uses N+1); default: a free pair in 16817..17816
#   SLURM_TEST_TIMEOUT=S   seconds to wait for the node to become idle (default 60)
#   SLURM_TEST_NO_INSTALL=1  never run apt-get; skip when the packages are missing
#
# Tested with Debian 12's slurm-wlm 22.05.8 and munge 0.5.15, as root in a container without systemd
# (no cgroup plugin is used: proctrack/linuxproc + task/none). Running as a non-root user is not
# expected to work (slurmd must be able to become the job's user).
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge)
NEEDED_COMMANDS=(munged mungekey munge unmunge slurmctld slurmd sbatch squeue sinfo scontrol scancel)
DAEMONS_START_ORDER=(munged slurmctld slurmd)

die()  { echo "slurm: error: $*" >&2; exit 1; }
skip() { echo "slurm: skipped: $*"; exit 77; }
log()  { echo "slurm: $*" >&2; }

usage() {
    echo "usage: $0 start|stop|status DIR" >&2
    exit 2
}

# ---------------------------------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------------------------------

missing_commands() {
    local c missing=()
    for c in "${NEEDED_COMMANDS[@]}"; do
        # The daemons live in /usr/sbin, which a non-root PATH may lack.
        command -v "$c" >/dev/null 2>&1 || [[ -x /usr/sbin/$c ]] || missing+=("$c")
    done
    echo "${missing[*]:-}"
}

ensure_packages() {
    export PATH="$PATH:/usr/sbin:/sbin"
    [[ -z "$(missing_commands)" ]] && return 0
    [[ "${SLURM_TEST_NO_INSTALL:-0}" == 1 ]] && skip "missing $(missing_commands) (SLURM_TEST_NO_INSTALL=1)"
    command -v apt-get >/dev/null 2>&1 || skip "missing $(missing_commands) and no apt-get to install ${PACKAGES[*]}"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            skip "missing $(missing_commands); install with: apt-get install ${PACKAGES[*]}"
        fi
    fi
    log "installing ${PACKAGES[*]} with apt-get ..."
    if ! { "${sudo[@]}" apt-get update -qq &&
           "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}"; } >&2; then
        skip "apt-get install ${PACKAGES[*]} failed"
    fi
    [[ -z "$(missing_commands)" ]] || skip "still missing $(missing_commands) after apt-get install"
}

# ---------------------------------------------------------------------------------------------------
# Pid files: only ever signal a process whose pid file is under DIR *and* whose name matches.
# ---------------------------------------------------------------------------------------------------

pidfile() { echo "$DIR/run/$1.pid"; }

# Prints the pid of daemon $1 if its pid file exists and names a live process called $1.
live_pid() {
    local f pid comm
    f=$(pidfile "$1")
    [[ -s "$f" ]] || return 1
    pid=$(tr -dc '0-9' <"$f")
    [[ -n "$pid" ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ "$comm" == "$1" ]] || return 1
    echo "$pid"
}

# Stops the named daemons together: SIGTERM, SIGKILL after 20 s, and waits until all are gone.
stop_daemons() {
    local name pid i pids=() alive
    for name in "$@"; do
        if pid=$(live_pid "$name"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    for ((i = 0; i < 200; i++)); do   # each one takes ~2 s to shut down
        alive=()
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
        ((${#alive[@]})) || break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid ignored SIGTERM for 20 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    done
    for name in "$@"; do rm -f "$(pidfile "$name")"; done
}

# Cancels whatever still runs on this cluster (it is ours alone), then stops the daemons.
stop_all() {
    local i
    if live_pid slurmctld >/dev/null && [[ -f "$DIR/slurm.conf" ]]; then
        local jobs
        jobs=$(SLURM_CONF="$DIR/slurm.conf" timeout 10 squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ') || true
        if [[ -n "${jobs// /}" ]]; then
            # shellcheck disable=SC2086
            SLURM_CONF="$DIR/slurm.conf" timeout 10 scancel $jobs 2>/dev/null || true
            for ((i = 0; i < 100; i++)); do   # up to 10 s for the steps to be killed
                [[ -z "$(SLURM_CONF="$DIR/slurm.conf" timeout 5 squeue -h -t R,CG 2>/dev/null)" ]] && break
                sleep 0.1
            done
        fi
    fi
    # slurmd and slurmctld together, then munged, which they may still use while shutting down.
    stop_daemons slurmd slurmctld
    stop_daemons munged
    if [[ -s "$DIR/munge/external-socket-dir" ]]; then   # see start_munged
        local sockdir
        sockdir=$(cat "$DIR/munge/external-socket-dir")
        [[ "$sockdir" == /tmp/slurm-munge.* ]] && rm -rf -- "$sockdir"
        rm -f "$DIR/munge/external-socket-dir"
    fi
}

# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------

# (Without iproute2's ss every port looks free; a clash then makes slurmctld exit -> skip.)
port_in_use() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

pick_ports() {
    if [[ -n "${SLURM_TEST_PORT:-}" ]]; then
        CTLD_PORT=$SLURM_TEST_PORT
        if port_in_use "$CTLD_PORT" || port_in_use $((CTLD_PORT + 1)); then
            skip "SLURM_TEST_PORT=$CTLD_PORT: port $CTLD_PORT or $((CTLD_PORT + 1)) is in use"
        fi
    else
        # A random start in 16817..17815, so that clusters started at the same time (parallel tests)
        # rarely race for the same pair; then the next free pair.
        local i
        CTLD_PORT=$((16817 + 2 * (RANDOM % 500)))
        for ((i = 0; i < 500; i++)); do
            port_in_use "$CTLD_PORT" || port_in_use $((CTLD_PORT + 1)) || break
            CTLD_PORT=$((16817 + (CTLD_PORT - 16817 + 2) % 1000))
        done
        ((i < 500)) || skip "no free port pair in 16817..17816"
    fi
    SLURMD_PORT=$((CTLD_PORT + 1))
}

# RealMemory: 80% of MemTotal (MB), so that slurmd never reports less than configured (which would
# drain the node); config_overrides below makes this doubly safe.
real_memory_mb() {
    local kb
    kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)
    local mb=$((kb * 8 / 10 / 1024))
    ((mb >= 100)) || mb=100
    echo "$mb"
}

write_slurm_conf() {
    local user=$1
    cat >"$DIR/slurm.conf" <<EOF
# Generated by tests/slurm/cluster.sh -- a one-node test cluster; everything lives under $DIR.
ClusterName=diptest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$user
SlurmdUser=$user

# Authentication through our own munged (its socket is under DIR; CredType cred/munge uses it too).
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET

# State, spool, logs, pid files: all under DIR.
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPidFile=$(pidfile slurmctld)
SlurmdPidFile=$(pidfile slurmd)
SlurmctldDebug=info
SlurmdDebug=info

# No cgroups (a container may have none, or a read-only/v1 hierarchy): track job processes by
# walking /proc, bind no tasks. No accounting database: squeue/scontrol only, no sacct.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true

# Scheduling: whole CPUs as the consumable (memory is not tracked), so every array task gets one CPU
# and up to $NCPUS tasks run at once. Jobs whose dependency can never be satisfied (afterok on a
# failed job) are cancelled instead of pending forever.
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
DependencyParameters=kill_invalid_depend
MaxArraySize=10001
MaxJobCount=100000

# Short timeouts for a test; finished jobs stay visible to squeue/scontrol for MinJobAge seconds.
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
MessageTimeout=10
Waittime=0

# Trust this file's node description over what slurmd detects (never drain for a mismatch).
SlurmdParameters=config_overrides

NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$NCPUS RealMemory=$(real_memory_mb) State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    # Not read by the plugins chosen above; present so that no Slurm component trips over its absence.
    cat >"$DIR/cgroup.conf" <<EOF
# Generated by tests/slurm/cluster.sh; no cgroup plugin is configured in slurm.conf.
CgroupPlugin=autodetect
EOF
}

# ---------------------------------------------------------------------------------------------------
# Start
# ---------------------------------------------------------------------------------------------------

# Prints the last lines of the daemons' logs, for a skip/failure diagnosis.
show_logs() {
    local f
    for f in "$DIR/munge/munged.log" "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log"; do
        [[ -s "$f" ]] || continue
        echo "---- tail $f" >&2
        tail -n 15 "$f" >&2
    done
}

# Waits up to $2 seconds for daemon $1 to write its pid file and stay alive.
wait_for_daemon() {
    local name=$1 secs=$2 i
    for ((i = 0; i < secs * 10; i++)); do
        live_pid "$name" >/dev/null && return 0
        sleep 0.1
    done
    return 1
}

start_munged() {
    mkdir -p "$DIR/munge"
    chmod 0700 "$DIR/munge"
    # munged insists that every directory above its socket be searchable by all (and not writable by
    # others without the sticky bit). DIR is made 0711; if a directory above DIR is private (e.g.
    # /root), the socket goes into a private-named directory under /tmp instead, removed by `stop`.
    chmod 0711 "$DIR"
    local sockdir="$DIR/munge-socket" p
    p=$DIR
    while [[ "$p" != / ]]; do
        p=$(dirname "$p")
        if [[ $(( 8#$(stat -c %a "$p") & 8#001 )) -eq 0 ]]; then
            sockdir=$(mktemp -d /tmp/slurm-munge.XXXXXX)
            echo "$sockdir" >"$DIR/munge/external-socket-dir"
            break
        fi
    done
    mkdir -p "$sockdir"
    chmod 0755 "$sockdir"
    MUNGE_SOCKET=$sockdir/munge.socket
    ((${#MUNGE_SOCKET} < 100)) || skip "munge socket path too long for a unix socket: $MUNGE_SOCKET"

    [[ -s "$DIR/munge/munge.key" ]] || mungekey --create --keyfile="$DIR/munge/munge.key" >&2 ||
        skip "mungekey could not create a key"
    chmod 0600 "$DIR/munge/munge.key"
    if ! munged --socket="$MUNGE_SOCKET" --key-file="$DIR/munge/munge.key" \
            --pid-file="$(pidfile munged)" --log-file="$DIR/munge/munged.log" \
            --seed-file="$DIR/munge/munged.seed" >&2 2>&1; then
        show_logs; skip "munged would not start"
    fi
    wait_for_daemon munged 10 || { show_logs; skip "munged did not come up"; }
    if ! munge -n -S "$MUNGE_SOCKET" | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; then
        show_logs; skip "munge credentials do not round-trip through $MUNGE_SOCKET"
    fi
}

start() {
    ensure_packages

    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd -P)
    for d in "${DAEMONS_START_ORDER[@]}"; do
        if live_pid "$d" >/dev/null; then die "$d of $DIR is already running; run: $0 stop $DIR"; fi
    done

    # From here on, any failure (skip, error, signal) tears down whatever was started.
    local started=0
    trap 'rc=$?; if [[ $started -ne 1 ]]; then stop_all; fi; exit $rc' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    local user
    user=$(id -un)
    [[ $(id -u) -eq 0 ]] || log "warning: not root; slurmd may be unable to launch jobs"
    NODE=$(hostname -s)
    NCPUS=$(nproc)
    pick_ports
    mkdir -p "$DIR"/{state,spool,log,run}
    chmod 0755 "$DIR/spool" "$DIR/log" "$DIR/run"
    chmod 0700 "$DIR/state"

    local t0=$SECONDS
    start_munged
    write_slurm_conf "$user"
    export SLURM_CONF="$DIR/slurm.conf"

    # Both daemons fork into the background themselves (no -D), so they hold none of our file
    # descriptors and a caller's $(...) or pipe does not hang on them. -c: a new cluster, no old state.
    if ! slurmctld -c -f "$SLURM_CONF" >&2 2>&1 || ! wait_for_daemon slurmctld 15; then
        show_logs; skip "slurmctld would not start (log: $DIR/log/slurmctld.log)"
    fi
    if ! slurmd -f "$SLURM_CONF" -N "$NODE" >&2 2>&1 || ! wait_for_daemon slurmd 15; then
        show_logs; skip "slurmd would not start (log: $DIR/log/slurmd.log)"
    fi

    # Wait until the node is idle (ReturnToService=2 brings it up as soon as slurmd registers).
    local timeout=${SLURM_TEST_TIMEOUT:-60} state="" why=""
    while :; do
        state=$(timeout 10 sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n 1) || state=""
        [[ "$state" == idle ]] && break
        live_pid slurmctld >/dev/null || { why="slurmctld exited (log: $DIR/log/slurmctld.log)"; break; }
        live_pid slurmd >/dev/null || { why="slurmd exited (log: $DIR/log/slurmd.log)"; break; }
        ((SECONDS - t0 < timeout)) || { why="node $NODE not idle after $timeout s (state: ${state:-none})"; break; }
        sleep 0.5
    done
    if [[ -n "$why" ]]; then show_logs; skip "$why"; fi

    printf 'export SLURM_CONF=%q\n' "$SLURM_CONF" >"$DIR/env.sh"
    started=1
    trap - EXIT INT TERM
    log "cluster up in $((SECONDS - t0)) s: node $NODE ($NCPUS CPUs), ports $CTLD_PORT/$SLURMD_PORT, dir $DIR"
    cat "$DIR/env.sh"
}

stop() {
    [[ -d "$DIR" ]] || return 0
    DIR=$(cd "$DIR" && pwd -P)
    stop_all
}

status() {
    local d rc=0
    for d in "${DAEMONS_START_ORDER[@]}"; do
        if pid=$(live_pid "$d"); then echo "$d: running (pid $pid)"; else echo "$d: not running"; rc=1; fi
    done
    return $rc
}

[[ $# -eq 2 ]] || usage
DIR=$2
case $1 in
    start) start ;;
    stop) stop ;;
    status) DIR=$(cd "$DIR" 2>/dev/null && pwd -P) || exit 1; status ;;
    *) usage ;;
esac
