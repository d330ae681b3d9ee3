# shellcheck shell=bash
# Redis and Baton services of one scripts/chaos scenario (needs chaos_procs.sh).
#
# Inputs (set by chaos_run_scenario): CHAOS_BIN (executables), CHAOS_SCENARIO_DIR,
# CHAOS_REDIS_PORT (a standalone scenario's redis-server), CHAOS_CLUSTER and CHAOS_CLUSTER_PORTS
# (a cluster scenario's nodes, chaos_cluster.sh), CHAOS_GATEWAY_PORT, and the exported BATON_*.

# Executor types of agent N (1-based): several agents per type, every type on several agents.
chaos_agent_executors() {
    case $(((($1 - 1) % 4) + 1)) in
        1) echo "echo_executor,sleep_executor,fail_executor" ;;
        2) echo "echo_executor,sleep_executor" ;;
        3) echo "sleep_executor,fail_executor" ;;
        4) echo "echo_executor,fail_executor" ;;
    esac
}

# Starts this scenario's redis-server (AOF, fsync every second) and waits until it answers
# PING — after loading its AOF, when restarted. Not daemonized: it is our child, tracked as `redis`.
chaos_redis_start() {
    local dir="$CHAOS_SCENARIO_DIR/redis"
    mkdir -p "$dir"
    chaos_start redis redis-server --bind 127.0.0.1 --port "$CHAOS_REDIS_PORT" --dir "$dir" \
        --appendonly yes --appendfsync everysec --save '' --daemonize no \
        --logfile "$dir/redis.log" --maxmemory-policy noeviction
    if ! python3 "$CHAOS_LIB/chaos_audit.py" ping --port "$CHAOS_REDIS_PORT" --timeout 30; then
        chaos_log "redis-server on port $CHAOS_REDIS_PORT did not answer within 30 s; last lines of $dir/redis.log:"
        tail -n 5 "$dir/redis.log" >&2
        return 1
    fi
    # Our server, not a stranger that took the port: it must report our pid.
    local pid
    pid=$(timeout 2 redis-cli -p "$CHAOS_REDIS_PORT" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')
    if [[ $pid != "${CHAOS_PID[redis]:-}" ]]; then
        chaos_log "port $CHAOS_REDIS_PORT answers from pid $pid, not from the redis-server we started"
        return 1
    fi
}

chaos_scheduler_start() {
    local n=$1 name="scheduler-$1"
    local gen=$((${CHAOS_GEN[$name]:-0} + 1)) consumer="chaos-scheduler-$1"
    # A stable consumer name lets a restarted scheduler resume its own entries; every third
    # restart takes a new name, so the dead consumer's entries must be taken over instead.
    if ((gen % 3 == 0)); then consumer="chaos-scheduler-$1-g$gen"; fi
    chaos_start "$name" env BATON_SCHEDULER_CONSUMER_NAME="$consumer" "$CHAOS_BIN/baton-scheduler"
}

chaos_agent_start() {
    chaos_start "agent-$1" "$CHAOS_BIN/baton-agent" --executor "$(chaos_agent_executors "$1")" \
        --concurrency "$CHAOS_AGENT_CONCURRENCY"
}

chaos_gateway_start() {
    chaos_start gateway "$CHAOS_BIN/baton-gateway" --host 127.0.0.1 --port "$CHAOS_GATEWAY_PORT"
    chaos_wait_port "$CHAOS_GATEWAY_PORT" 20 || chaos_log "gateway not listening on $CHAOS_GATEWAY_PORT after 20 s"
}

chaos_services_start() {
    local i
    for ((i = 1; i <= CHAOS_SCHEDULERS; i++)); do chaos_scheduler_start "$i"; done
    for ((i = 1; i <= CHAOS_AGENTS; i++)); do chaos_agent_start "$i"; done
    chaos_gateway_start
}

# After the faults: everything stopped is continued, everything dead is started again.
chaos_services_heal() {
    local i name
    for name in redis gateway $(for ((i = 1; i <= CHAOS_SCHEDULERS; i++)); do echo "scheduler-$i"; done) \
        $(for ((i = 1; i <= CHAOS_AGENTS; i++)); do echo "agent-$i"; done); do
        chaos_signal "$name" CONT || true
    done
    if ((${CHAOS_CLUSTER:-0})); then
        # Every node we killed runs again, every master has a synced replica, one slot map.
        local port
        for port in "${CHAOS_CLUSTER_PORTS[@]}"; do
            chaos_cluster_node_alive "$port" || { chaos_log "heal: cluster node :$port was not running"; chaos_cluster_restart "$port"; }
        done
        chaos_cluster_wait_ready 60 || chaos_harness_problem "heal: the cluster was not whole within 60 s"
    elif ! chaos_alive redis; then
        chaos_redis_start || return 1
    fi
    for ((i = 1; i <= CHAOS_SCHEDULERS; i++)); do
        chaos_alive "scheduler-$i" || { chaos_log "heal: scheduler-$i was not running"; _chaos_reap "scheduler-$i"; chaos_scheduler_start "$i"; }
    done
    for ((i = 1; i <= CHAOS_AGENTS; i++)); do
        chaos_alive "agent-$i" || { chaos_log "heal: agent-$i was not running"; _chaos_reap "agent-$i"; chaos_agent_start "$i"; }
    done
    chaos_alive gateway || { chaos_log "heal: the gateway was not running"; _chaos_reap gateway; chaos_gateway_start; }
    return 0
}

# A random agent's number.
chaos_random_agent() { echo $((RANDOM % CHAOS_AGENTS + 1)); }

# A random agent that runs sleep_executor (agents 1–3 of every 4).
chaos_random_sleep_agent() {
    local n
    while true; do
        n=$((RANDOM % CHAOS_AGENTS + 1))
        [[ $(chaos_agent_executors "$n") == *sleep_executor* ]] && break
    done
    echo "$n"
}

# Waits up to MAX_MS until at least N sleep_executor tasks hold a lease (so that a fault hits an
# agent with work in flight); prints how many do.
chaos_wait_busy() {
    local n=$1 max_ms=$2 i count=0
    for ((i = 0; i < max_ms / 50; i++)); do
        count=$(timeout 2 redis-cli -p "$CHAOS_REDIS_PORT" ZCARD "$BATON_NAMESPACE:{q:sleep_executor}:leases" 2>/dev/null)
        [[ $count =~ ^[0-9]+$ ]] || count=0
        ((count >= n)) && break
        sleep 0.05
    done
    echo "$count"
}

# Sleeps a random time between MIN_MS and MAX_MS milliseconds.
chaos_sleep_ms() {
    local ms=$(($1 + RANDOM % ($2 - $1 + 1)))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}
