# shellcheck shell=bash
# Processes of scripts/chaos: start, track, signal, stop — only what this script started.
#
#   chaos_start NAME CMD...     start CMD in the background (logs to $CHAOS_LOGS/NAME.log), track it as NAME
#   chaos_alive NAME            true while NAME runs (a SIGSTOPped process runs)
#   chaos_signal NAME SIG       send SIG to NAME if it is still the process we started
#   chaos_kill NAME             SIGKILL NAME and reap it
#   chaos_stop NAME [GRACE_S]   SIGTERM, wait up to GRACE_S (default 5), then SIGKILL; reap
#   chaos_stop_all              stop every tracked process (SIGCONT first, then TERM, then KILL)
#
# Every process is started from the main shell, so its parent is this script ($$). Before a
# signal, /proc must still show that pid as our child with the start time it had when we started
# it: bash reaps finished children on its own, and a pid could be reused by then. Nothing is
# ever signalled by name.

declare -A CHAOS_PID=()    # name -> pid
declare -A CHAOS_STIME=()  # name -> /proc/<pid>/stat start time (clock ticks since boot)
declare -A CHAOS_GEN=()    # name -> how many times it was started

chaos_log() {
    printf '%s chaos: %s\n' "$(date +%H:%M:%S)" "$*" >&2
    [[ -n ${CHAOS_SCENARIO_DIR:-} && -d ${CHAOS_SCENARIO_DIR:-} ]] &&
        printf '%s %s\n' "$(date +%H:%M:%S.%N | cut -c1-12)" "$*" >>"$CHAOS_SCENARIO_DIR/faults.log"
    return 0
}

# Prints "<state> <ppid> <starttime>" of PID, or nothing when it is gone.
_chaos_stat() {
    local stat rest
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    rest=${stat##*) }
    # rest: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    #       cutime cstime priority nice num_threads itrealvalue starttime ...
    local -a f
    read -r -a f <<<"$rest"
    echo "${f[0]} ${f[1]} ${f[19]}"
}

# True while NAME is the live (not zombie) child we started.
chaos_alive() {
    local name=$1 pid=${CHAOS_PID[$1]:-} s
    [[ -n $pid ]] || return 1
    s=$(_chaos_stat "$pid")
    [[ -n $s ]] || return 1
    local state ppid stime
    read -r state ppid stime <<<"$s"
    [[ $ppid == "$$" && $stime == "${CHAOS_STIME[$name]}" && $state != Z ]]
}

chaos_start() {
    local name=$1
    shift
    local gen=$((${CHAOS_GEN[$name]:-0} + 1))
    CHAOS_GEN[$name]=$gen
    local log="$CHAOS_LOGS/$name.log"
    printf '=== %s start #%d: %s\n' "$(date +%H:%M:%S.%N | cut -c1-12)" "$gen" "$*" >>"$log"
    "$@" >>"$log" 2>&1 </dev/null &
    local pid=$!
    CHAOS_PID[$name]=$pid
    local s stime=""
    s=$(_chaos_stat "$pid")
    [[ -n $s ]] && stime=${s##* }
    CHAOS_STIME[$name]=$stime
    [[ -n ${CHAOS_SCENARIO_DIR:-} ]] &&
        printf '%s start %s #%d pid %s\n' "$(date +%H:%M:%S.%N | cut -c1-12)" "$name" "$gen" "$pid" >>"$CHAOS_SCENARIO_DIR/faults.log"
    return 0
}

chaos_signal() {
    local name=$1 sig=$2
    chaos_alive "$name" || return 1
    kill "-$sig" "${CHAOS_PID[$name]}" 2>/dev/null
}

_chaos_reap() {
    local name=$1 pid=${CHAOS_PID[$1]:-}
    [[ -n $pid ]] && wait "$pid" 2>/dev/null
    unset "CHAOS_PID[$name]" "CHAOS_STIME[$name]"
    return 0
}

chaos_kill() {
    local name=$1
    if chaos_alive "$name"; then
        kill -KILL "${CHAOS_PID[$name]}" 2>/dev/null
    fi
    _chaos_reap "$name"
}

# Stops NAME with SIGTERM; returns 1 if it had to be killed after GRACE_S seconds.
chaos_stop() {
    local name=$1 grace=${2:-5} status=0
    if chaos_alive "$name"; then
        kill -CONT "${CHAOS_PID[$name]}" 2>/dev/null
        kill -TERM "${CHAOS_PID[$name]}" 2>/dev/null
        local deadline=$((SECONDS + grace))
        while chaos_alive "$name" && ((SECONDS <= deadline)); do sleep 0.1; done
        if chaos_alive "$name"; then
            status=1
            kill -KILL "${CHAOS_PID[$name]}" 2>/dev/null
        fi
    fi
    _chaos_reap "$name"
    return "$status"
}

# Stops everything still tracked: SIGCONT + SIGTERM to all, up to 3 s, then SIGKILL.
chaos_stop_all() {
    local name live=()
    for name in "${!CHAOS_PID[@]}"; do
        if chaos_alive "$name"; then
            live+=("$name")
            kill -CONT "${CHAOS_PID[$name]}" 2>/dev/null
            kill -TERM "${CHAOS_PID[$name]}" 2>/dev/null
        else
            _chaos_reap "$name"
        fi
    done
    local deadline=$((SECONDS + 3)) any
    while ((SECONDS <= deadline)); do
        any=0
        for name in "${live[@]}"; do chaos_alive "$name" && any=1; done
        ((any)) || break
        sleep 0.1
    done
    for name in "${live[@]}"; do chaos_kill "$name"; done
    return 0
}

# Waits until 127.0.0.1:PORT accepts connections; fails after TIMEOUT_S.
chaos_wait_port() {
    local port=$1 timeout=${2:-10}
    local deadline=$((SECONDS + timeout))
    while ((SECONDS <= deadline)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}
