# shellcheck shell=bash
# The Redis Cluster of a scripts/chaos cluster scenario (needs redis.sh and chaos_procs.sh).
#
#   chaos_cluster_start            3 masters + 1 replica each in $CHAOS_SCENARIO_DIR/cluster (baton_start_cluster)
#   chaos_cluster_stop             stop every node of it (baton_stop_cluster; our restarted nodes too)
#   chaos_cluster_wait_ready S     wait up to S seconds until every node is up, agrees, replicas in sync
#   chaos_cluster_state [ARGS]     one look at the cluster into CHAOS_CS (masters, replicas, hot keys'
#                                  slots); chaos_cs_* read it
#   chaos_cluster_kill PORT        kill -9 the node on PORT — only if it is the process we started
#   chaos_cluster_restart PORT     start it again on its port and directory (nodes.conf): it rejoins
#
# baton_start_cluster daemonizes the nodes, so they are not children of this script: right after
# it returns, each node's pid (from its pid file, confirmed by the node's own INFO server) and
# /proc start time are recorded, and a node is only ever signalled while /proc still shows that
# pid with that start time, as a redis-server whose working directory is the node's directory.
# A node restarted here runs in the foreground as our child (`node-<port>`, chaos_procs.sh), with
# the same pid file, so baton_stop_cluster stops it too.

CHAOS_CLUSTER_DIR=""     # the running cluster's directory (set while one runs)
CHAOS_CLUSTER_SEEDS=""   # the masters' seed URLs, comma-separated: the services' BATON_REDIS_URL
CHAOS_CLUSTER_NODES=""   # every node as 127.0.0.1:<port>, comma-separated: the Python side's seeds
CHAOS_CLUSTER_PORTS=()   # every node's port
CHAOS_SHARD_SLOTS=()     # a slot of each shard a scenario hits in turn (chaos_scenarios.sh)
CHAOS_CS=""              # the last chaos_cluster_state
declare -A CHAOS_NODE_PID=()    # port -> pid of a daemonized node baton_start_cluster started
declare -A CHAOS_NODE_STIME=()  # port -> its /proc start time

_chaos_cli() {
    local port=$1
    shift
    timeout 2 redis-cli -h 127.0.0.1 -p "$port" "$@" 2>/dev/null | tr -d '\r'
}

chaos_cluster_start() {
    local dir="$CHAOS_SCENARIO_DIR/cluster" seeds port pid s line
    CHAOS_CLUSTER_DIR=$dir
    CHAOS_CLUSTER_PORTS=()
    CHAOS_NODE_PID=()
    CHAOS_NODE_STIME=()
    CHAOS_SHARD_SLOTS=()
    seeds=$(baton_start_cluster 3 "$dir" 1) || { CHAOS_CLUSTER_DIR=""; return 1; }
    CHAOS_CLUSTER_SEEDS=$seeds
    while read -r line; do
        [[ $line =~ ^[0-9]+$ ]] && CHAOS_CLUSTER_PORTS+=("$line")
    done <"$dir/ports"
    for port in "${CHAOS_CLUSTER_PORTS[@]}"; do
        pid=$(_baton_redis_pid "$dir/node-$port")
        if [[ -z $pid || $(_chaos_cli "$port" info server | sed -n 's/^process_id://p') != "$pid" ]]; then
            chaos_log "cluster node :$port does not answer from the redis-server its pid file names (${pid:-none})"
            return 1
        fi
        s=$(_chaos_stat "$pid")
        CHAOS_NODE_PID[$port]=$pid
        CHAOS_NODE_STIME[$port]=${s##* }
    done
    CHAOS_CLUSTER_NODES=$(printf '127.0.0.1:%s\n' "${CHAOS_CLUSTER_PORTS[@]}" | paste -sd,)
    chaos_log "cluster in $dir: masters $(sed -n '1,/^replicas$/p' "$dir/ports" | grep -v replicas | paste -sd' '), replicas $(sed -n '/^replicas$/,$p' "$dir/ports" | grep -v replicas | paste -sd' ')"
}

chaos_cluster_stop() {
    [[ -n $CHAOS_CLUSTER_DIR ]] || return 0
    local port
    for port in "${CHAOS_CLUSTER_PORTS[@]}"; do
        chaos_signal "node-$port" CONT || true
    done
    baton_stop_cluster "$CHAOS_CLUSTER_DIR"
    for port in "${CHAOS_CLUSTER_PORTS[@]}"; do
        if chaos_alive "node-$port"; then chaos_stop "node-$port" 3 || true; else _chaos_reap "node-$port"; fi
    done
    CHAOS_CLUSTER_DIR=""
    CHAOS_NODE_PID=()
    CHAOS_NODE_STIME=()
}

# Prints the pid of the node on PORT if it is the process we started (and alive), else nothing.
chaos_cluster_node_pid() {
    local port=$1 pid s state ppid stime cwd
    if chaos_alive "node-$port"; then
        echo "${CHAOS_PID[node-$port]}"
        return 0
    fi
    pid=${CHAOS_NODE_PID[$port]:-}
    [[ -n $pid ]] || return 0
    s=$(_chaos_stat "$pid")
    [[ -n $s ]] || return 0
    read -r state ppid stime <<<"$s"
    [[ $state != Z && $stime == "${CHAOS_NODE_STIME[$port]}" ]] || return 0
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server* ]] || return 0
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 0
    [[ $cwd == "$CHAOS_CLUSTER_DIR/node-$port" ]] || return 0
    echo "$pid"
}

# True while the node on PORT runs (as the process we started).
chaos_cluster_node_alive() { [[ -n $(chaos_cluster_node_pid "$1") ]]; }

chaos_cluster_kill() {
    local port=$1 pid i
    if chaos_alive "node-$port"; then
        chaos_kill "node-$port"
        return 0
    fi
    pid=$(chaos_cluster_node_pid "$port")
    if [[ -z $pid ]]; then
        chaos_log "cluster node :$port is not a process we started (or not running); not signalled"
        return 1
    fi
    kill -KILL "$pid" 2>/dev/null
    # Not our child: init reaps it. Wait until /proc no longer shows it.
    for ((i = 0; i < 50; i++)); do
        [[ -z $(chaos_cluster_node_pid "$port") ]] && break
        sleep 0.1
    done
    unset "CHAOS_NODE_PID[$port]" "CHAOS_NODE_STIME[$port]"
    return 0
}

# Starts the node of PORT again in the foreground, as our child, with its old directory (so its
# nodes.conf: it rejoins the cluster and, its slots taken over, turns into a replica). Waits until
# it answers from that very pid (10 s).
chaos_cluster_restart() {
    local port=$1 node="$CHAOS_CLUSTER_DIR/node-$1" i
    chaos_cluster_node_alive "$port" && return 0
    _chaos_reap "node-$port"
    chaos_start "node-$port" redis-server --bind 127.0.0.1 --port "$port" --dir "$node" \
        --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
        --appendonly no --save '' --repl-diskless-sync-delay 0 \
        --pidfile "$node/redis.pid" --logfile "$node/redis.log" --daemonize no
    for ((i = 0; i < 100; i++)); do
        if [[ $(_chaos_cli "$port" info server | sed -n 's/^process_id://p') == "${CHAOS_PID[node-$port]:-x}" ]]; then
            return 0
        fi
        chaos_alive "node-$port" || break
        sleep 0.1
    done
    chaos_log "cluster node :$port did not come back (see $node/redis.log)"
    return 1
}

# One look at the cluster (chaos_audit.py cluster-state: a python3 run that asks every node):
# sets CHAOS_CS to its lines — `ready 1|0 <reason>`, `master <port> <id> <slots> <replica|-> <lag|->`,
# `key <key> <slot> <port>` for Baton's hot keys, `slot <slot> <port>` for each of
# CHAOS_SHARD_SLOTS; ARGS add --key KEY / --slot N.
chaos_cluster_state() {
    local ns=${BATON_NAMESPACE:-baton} slot slots=()
    for slot in "${CHAOS_SHARD_SLOTS[@]}"; do slots+=(--slot "$slot"); done
    CHAOS_CS=$(timeout 10 python3 "$CHAOS_LIB/chaos_audit.py" cluster-state --cluster "$CHAOS_CLUSTER_NODES" \
        --key "{bus}" --key "{q:sleep_executor}" --key "{q:echo_executor}" --key "{q:fail_executor}" \
        --key "$ns:submit:results" --key "$ns:trees" "${slots[@]}" "$@" 2>>"$CHAOS_SCENARIO_DIR/faults.log")
    [[ -n $CHAOS_CS ]]
}

# From the last chaos_cluster_state: "<port> <id> <slots> <replica> <lag> <first slot>" of every
# master serving slots.
chaos_cs_masters() { awk '$1 == "master" { print $2, $3, $4, $5, $6, $7 }' <<<"$CHAOS_CS"; }
# ... the port of the master serving KEY's slot (a hot key, or one passed to chaos_cluster_state).
chaos_cs_port_of_key() { awk -v k="$1" '$1 == "key" && $2 == k { print $4 }' <<<"$CHAOS_CS"; }
chaos_cs_slot_of_key() { awk -v k="$1" '$1 == "key" && $2 == k { print $3 }' <<<"$CHAOS_CS"; }
chaos_cs_port_of_slot() { awk -v s="$1" '$1 == "slot" && $2 == s { print $3 }' <<<"$CHAOS_CS"; }

# Logs who serves what, and where Baton's hot keys live.
chaos_cluster_describe() {
    chaos_cluster_state || { chaos_log "cluster: no node answers"; return 0; }
    local m
    m=$(chaos_cs_masters | awk '{ printf "%s:%s (%d slots, replica :%s)", (NR > 1 ? ", " : ""), $1, $3, $4 }')
    chaos_log "cluster: masters $m; hot keys: $(awk '$1 == "key" { printf "%s=%s@:%s ", $2, $3, $4 }' <<<"$CHAOS_CS")"
}

# Waits up to TIMEOUT_S until every node we started runs and the cluster is whole (cluster-state
# `ready 1`: state ok everywhere, all slots served, no node failing, no slot in migration, one slot
# map, every replica's link up and synced). Logs what was wrong when it gives up.
chaos_cluster_wait_ready() {
    local timeout=${1:-30} deadline reason="" port down
    deadline=$((SECONDS + timeout))
    while ((SECONDS <= deadline)); do
        down=""
        for port in "${CHAOS_CLUSTER_PORTS[@]}"; do
            chaos_cluster_node_alive "$port" || down+=" :$port"
        done
        if [[ -n $down ]]; then
            reason="not running:$down"
        elif chaos_cluster_state && [[ $CHAOS_CS == "ready 1"* ]]; then
            return 0
        else
            reason=$(head -n 1 <<<"$CHAOS_CS")
        fi
        sleep 0.2
    done
    chaos_log "cluster not ready after $timeout s: $reason"
    return 1
}

# Waits up to TIMEOUT_S until the node on PORT says ROLE master; prints the milliseconds waited.
chaos_cluster_wait_master() {
    local port=$1 timeout=$2 t0 role
    t0=$(date +%s%3N)
    while (($(date +%s%3N) - t0 < timeout * 1000)); do
        role=$(_chaos_cli "$port" role | head -n 1)
        if [[ $role == master ]]; then
            echo $(($(date +%s%3N) - t0))
            return 0
        fi
        sleep 0.05
    done
    echo $(($(date +%s%3N) - t0))
    return 1
}

# Waits up to TIMEOUT_S until the node on PORT is a replica with its link up and synced.
chaos_cluster_wait_replica() {
    local port=$1 timeout=$2 t0 repl
    t0=$(date +%s%3N)
    while (($(date +%s%3N) - t0 < timeout * 1000)); do
        repl=$(_chaos_cli "$port" info replication)
        if grep -qx 'role:slave' <<<"$repl" && grep -qx 'master_link_status:up' <<<"$repl" &&
            ! grep -qx 'master_sync_in_progress:1' <<<"$repl"; then
            echo $(($(date +%s%3N) - t0))
            return 0
        fi
        sleep 0.1
    done
    echo $(($(date +%s%3N) - t0))
    return 1
}

# A harness problem: logged, and it fails the scenario.
chaos_harness_problem() {
    chaos_log "PROBLEM: $*"
    echo "$*" >>"$CHAOS_SCENARIO_DIR/harness-problems.txt"
}
