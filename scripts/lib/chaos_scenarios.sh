# shellcheck shell=bash
# The scenarios of scripts/chaos (needs chaos_procs.sh, chaos_services.sh and chaos_cluster.sh).
#
# Each scenario is a settings function `chaos_settings_<name>` (run before anything starts) and
# a fault step `chaos_fault_<name>`, called in a loop while the workload is submitted and for
# CHAOS_TAIL_S seconds after. A step injects one fault, sleeping as it goes; it never waits
# longer than a few seconds past the scenario's deadline.

CHAOS_SCENARIOS=(agent-kill agent-kill-two-reapers scheduler-kill gateway-kill redis-kill redis-stop agent-stop agent-drain
    cluster-failover cluster-reshard)

# True once the scenario's faults should stop: the workload was submitted CHAOS_TAIL_S seconds
# ago and at least CHAOS_MIN_FAULTS faults were injected, or the client is gone, or the deadline
# passed, or a step gave up (CHAOS_ABORT=1: it could not inject its fault).
chaos_done() {
    ((SECONDS >= CHAOS_DEADLINE || CHAOS_ABORT)) && return 0
    chaos_alive client || return 0
    if [[ -z $CHAOS_TAIL_END && -e $CHAOS_SCENARIO_DIR/submitted ]]; then
        CHAOS_TAIL_END=$((SECONDS + CHAOS_TAIL_S))
    fi
    [[ -n $CHAOS_TAIL_END ]] && ((SECONDS >= CHAOS_TAIL_END && CHAOS_FAULTS >= CHAOS_MIN_FAULTS))
}

# Sleeps SECONDS (fractions allowed) unless the scenario is done first: then returns 1.
chaos_pause() {
    local end now
    end=$(($(date +%s%3N) + $(awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }')))
    while true; do
        chaos_done && return 1
        now=$(date +%s%3N)
        ((now >= end)) && return 0
        if ((end - now < 200)); then
            sleep "0.$(printf '%03d' $((end - now)))"
        else
            sleep 0.2
        fi
    done
}

# Defaults of every scenario; settings functions change what they need.
chaos_settings_defaults() {
    CHAOS_SCHEDULERS=1
    CHAOS_AGENTS=4
    CHAOS_AGENT_CONCURRENCY=8
    CHAOS_LEASE_S=2
    CHAOS_HEARTBEAT_S=0.5
    CHAOS_REAPER_MS=200
    CHAOS_GRACE_S=1
    CHAOS_GATEWAY_SHARE=0.2
    CHAOS_BIG=0
    CHAOS_BIG_VIA=native
    CHAOS_BIG_SIZE=$CHAOS_BIG_SIZE_DEFAULT
    CHAOS_SLEEP_SHARE=0.3
    CHAOS_FAULTS=0  # faults injected so far (steps count them)
    CHAOS_MIN_FAULTS=1
    CHAOS_ABORT=0
    CHAOS_CLUSTER=0  # 1: a Redis Cluster (3 masters + 1 replica each) instead of one redis-server
    CHAOS_SCENARIO_SUBMIT_S=$CHAOS_SUBMIT_S  # seconds over which this scenario's workload is submitted
}

# kill -9 a random agent every 2 s (one that runs sleep tasks, once some are leased) and start
# it again at once.
chaos_settings_agent-kill() { :; }
chaos_fault_agent-kill() {
    chaos_pause 2 || return 0
    local n busy
    busy=$(chaos_wait_busy 2 1000)
    n=$(chaos_random_sleep_agent)
    chaos_kill "agent-$n"
    chaos_log "kill -9 agent-$n ($busy sleep tasks leased)"
    chaos_agent_start "$n"
    CHAOS_FAULTS=$((CHAOS_FAULTS + 1))
}

# Two schedulers reaping every 20 ms, 2 s leases, an agent killed every second.
chaos_settings_agent-kill-two-reapers() {
    CHAOS_SCHEDULERS=2
    CHAOS_REAPER_MS=20
    CHAOS_LEASE_S=2
}
chaos_fault_agent-kill-two-reapers() {
    chaos_pause 1 || return 0
    local n busy
    busy=$(chaos_wait_busy 2 1000)
    n=$(chaos_random_sleep_agent)
    chaos_kill "agent-$n"
    chaos_log "kill -9 agent-$n ($busy sleep tasks leased)"
    chaos_agent_start "$n"
    CHAOS_FAULTS=$((CHAOS_FAULTS + 1))
}

# kill -9 the scheduler at random moments (restart after 0–1 s), and while it stores each big
# tree: once the tree's entry is pending in the submit stream (read, not yet acknowledged), after
# another 0–150 ms.
chaos_settings_scheduler-kill() {
    CHAOS_BIG=$CHAOS_BIG_COUNT
}
CHAOS_BIG_SEEN=0
chaos_fault_scheduler-kill() {
    local i wait_ms=$((500 + RANDOM % 2500)) why=""
    for ((i = 0; i < wait_ms / 50; i++)); do
        if [[ -e $CHAOS_SCENARIO_DIR/big-$CHAOS_BIG_SEEN.mark ]]; then
            CHAOS_BIG_SEEN=$((CHAOS_BIG_SEEN + 1))
            local j pending=0
            for ((j = 0; j < 150; j++)); do
                pending=$(timeout 2 redis-cli -p "$CHAOS_REDIS_PORT" XPENDING "$BATON_NAMESPACE:{bus}:submit" schedulers 2>/dev/null | head -n 1)
                [[ $pending =~ ^[1-9] ]] && break
                sleep 0.02
            done
            chaos_sleep_ms 0 150
            why=" (big tree $((CHAOS_BIG_SEEN - 1)): its entry pending=${pending:-?})"
            break
        fi
        chaos_done && return 0
        sleep 0.05
    done
    chaos_kill scheduler-1
    chaos_log "kill -9 scheduler-1$why"
    chaos_sleep_ms 0 1000
    chaos_scheduler_start 1
    CHAOS_FAULTS=$((CHAOS_FAULTS + 1))
}

# kill -9 the gateway as soon as a request is in flight (the client marks requests in flight),
# or after 0.5–2 s without one, while most trees (and some big ones) are posted to it.
chaos_settings_gateway-kill() {
    CHAOS_GATEWAY_SHARE=0.6
    CHAOS_BIG=$((CHAOS_BIG_COUNT * 3))
    CHAOS_BIG_VIA=gateway
    CHAOS_BIG_SIZE=$((CHAOS_BIG_SIZE_DEFAULT / 2))
}
chaos_fault_gateway-kill() {
    chaos_pause 0.3 || return 0
    local i wait_ms=$((500 + RANDOM % 1500)) why=""
    for ((i = 0; i < wait_ms / 5; i++)); do
        if compgen -G "$CHAOS_SCENARIO_DIR/gateway-inflight-*" >/dev/null; then
            why=" (a request was in flight)"
            break
        fi
        ((i % 40 == 0)) && chaos_done && return 0
        sleep 0.005
    done
    chaos_kill gateway
    chaos_log "kill -9 gateway$why"
    chaos_sleep_ms 0 300
    chaos_gateway_start
    CHAOS_FAULTS=$((CHAOS_FAULTS + 1))
}

# kill -9 Redis every CHAOS_REDIS_KILL_EVERY_S seconds and restart it from its AOF.
chaos_settings_redis-kill() { :; }
chaos_fault_redis-kill() {
    chaos_pause "$CHAOS_REDIS_KILL_EVERY_S" || return 0
    chaos_log "kill -9 redis"
    chaos_kill redis
    chaos_sleep_ms 200 1000
    chaos_log "restart redis from its AOF"
    chaos_redis_start || chaos_log "redis did not come back"
    CHAOS_FAULTS=$((CHAOS_FAULTS + 1))
}

# SIGSTOP Redis for 10 s, then SIGCONT (every CHAOS_REDIS_STOP_EVERY_S seconds).
chaos_settings_redis-stop() { :; }
chaos_fault_redis-stop() {
    if ((CHAOS_FAULTS == 0)); then
        chaos_pause 2 || return 0
    else
        chaos_pause "$CHAOS_REDIS_STOP_EVERY_S" || return 0
    fi
    chaos_log "SIGSTOP redis for 10 s"
    chaos_signal redis STOP
    sleep 10
    chaos_log "SIGCONT redis"
    chaos_signal redis CONT
    CHAOS_FAULTS=$((CHAOS_FAULTS + 1))
}

# SIGSTOP a random agent for its lease + 3 s (its tasks are reaped and run elsewhere), SIGCONT.
# More sleep tasks, so that the stopped agent is likely to hold some.
chaos_settings_agent-stop() {
    CHAOS_SLEEP_SHARE=0.6
}
chaos_fault_agent-stop() {
    chaos_pause 1 || return 0
    local n busy
    busy=$(chaos_wait_busy 3 2000)
    n=$(chaos_random_sleep_agent)
    chaos_signal "agent-$n" STOP
    chaos_log "SIGSTOP agent-$n for $((CHAOS_LEASE_S + 3)) s ($busy sleep tasks leased)"
    sleep "$((CHAOS_LEASE_S + 3))"
    chaos_log "SIGCONT agent-$n"
    chaos_signal "agent-$n" CONT
    CHAOS_FAULTS=$((CHAOS_FAULTS + 1))
}

# SIGTERM a random agent under load (it hands back what it cannot finish within its grace of
# 0.1 s), start it again once it exited.
chaos_settings_agent-drain() {
    CHAOS_GRACE_S=0.1
    CHAOS_SLEEP_SHARE=0.6
}
chaos_fault_agent-drain() {
    chaos_pause 2 || return 0
    local n busy
    busy=$(chaos_wait_busy 3 2000)
    n=$(chaos_random_sleep_agent)
    chaos_log "SIGTERM agent-$n (grace ${CHAOS_GRACE_S} s; $busy sleep tasks leased)"
    local t0=$SECONDS
    if ! chaos_stop "agent-$n" "$((${CHAOS_GRACE_S%.*} + 10))"; then
        chaos_log "PROBLEM: agent-$n was still running $((${CHAOS_GRACE_S%.*} + 10)) s after SIGTERM; killed"
        echo "agent-$n did not stop within its grace + 10 s after SIGTERM" >>"$CHAOS_SCENARIO_DIR/harness-problems.txt"
    else
        chaos_log "agent-$n stopped after $((SECONDS - t0)) s"
    fi
    chaos_agent_start "$n"
    CHAOS_FAULTS=$((CHAOS_FAULTS + 1))
}

# --- Redis Cluster scenarios (chaos_cluster.sh): 3 masters with a replica each, no persistence.

# Seconds a step may still wait: MAX, or less near the scenario's deadline (5 at least).
chaos_step_budget() {
    local left=$((CHAOS_DEADLINE - SECONDS))
    ((left < 5)) && left=5
    echo $((left < $1 ? left : $1))
}

# The shards to hit, in turn, each named by a slot it serves (failovers do not move slots): the
# shard of {bus} (both streams of the bus), then that of {q:sleep_executor}, then the others.
chaos_cluster_pick_shards() {
    CHAOS_SHARD_SLOTS=()
    chaos_cluster_state || return 1
    local slot port ports=()
    for slot in "$(chaos_cs_slot_of_key "{bus}")" "$(chaos_cs_slot_of_key "{q:sleep_executor}")" \
        $(chaos_cs_masters | awk '{ print $6 }'); do
        port=$(chaos_cluster_state_port_of "$slot")
        [[ -n $port && " ${ports[*]} " != *" $port "* ]] || continue
        ports+=("$port")
        CHAOS_SHARD_SLOTS+=("$slot")
    done
    chaos_log "shards to fail over in turn, by a slot of each: ${CHAOS_SHARD_SLOTS[*]} (masters :${ports[*]})"
}
# The master of SLOT by the last chaos_cluster_state (a hot key's or a shard's slot, or a master's first).
chaos_cluster_state_port_of() {
    local port
    port=$(awk -v s="$1" '($1 == "key" && $3 == s) { print $4; exit } ($1 == "slot" && $2 == s) { print $3; exit }
        ($1 == "master" && $7 == s) { print $2; exit }' <<<"$CHAOS_CS")
    [[ $port != - ]] && echo "$port"
}

# Fails over the masters of the shards in turn, alternating a hard failure (kill -9 the master:
# its replica is promoted after the 2 s node timeout; the killed node is then started again on its
# port and directory and rejoins as a replica) and a coordinated failover (CLUSTER FAILOVER on the
# replica: the master holds its clients until the replica caught up, so no write is lost). The
# first is a kill -9 of the master of {bus}, the second a CLUSTER FAILOVER of that of
# {q:sleep_executor}; every shard has had both after six. Every step first waits until the cluster
# is whole again (every master with a synced replica).
chaos_settings_cluster-failover() {
    CHAOS_CLUSTER=1
    CHAOS_MIN_FAULTS=2  # at least one failover of each kind
}
chaos_fault_cluster-failover() {
    if ((CHAOS_FAULTS == 0)); then
        chaos_pause 2 || return 0
        chaos_cluster_pick_shards
    else
        chaos_pause "$CHAOS_FAILOVER_EVERY_S" || return 0
    fi
    if ((${#CHAOS_SHARD_SLOTS[@]} == 0)) || ! chaos_cluster_wait_ready "$(chaos_step_budget 40)"; then
        chaos_harness_problem "the cluster was not whole in time after fault $CHAOS_FAULTS; no more failovers"
        CHAOS_ABORT=1
        return 0
    fi
    local shard=$((CHAOS_FAULTS % ${#CHAOS_SHARD_SLOTS[@]}))
    local slot=${CHAOS_SHARD_SLOTS[$shard]}
    local port id replica lag ms what
    port=$(chaos_cs_port_of_slot "$slot")
    read -r id replica lag < <(chaos_cs_masters | awk -v p="$port" '$1 == p { print $2, $4, $5 }')
    if [[ -z $port || -z $replica || $replica == - ]]; then
        chaos_harness_problem "no master or replica for slot $slot (master :${port:-?}, replica :${replica:-?})"
        CHAOS_ABORT=1
        return 0
    fi
    what="master :$port of slot $slot (shard $shard), replica :$replica"
    if ((CHAOS_FAULTS % 2 == 1)); then
        chaos_log "CLUSTER FAILOVER on the replica of $what: $(_chaos_cli "$replica" cluster failover)"
        if ms=$(chaos_cluster_wait_master "$replica" 15); then
            chaos_log "coordinated failover: :$replica is master after $ms ms"
        else
            chaos_harness_problem "CLUSTER FAILOVER: :$replica still not master after $ms ms"
        fi
        if ms=$(chaos_cluster_wait_replica "$port" 20); then
            chaos_log "old master :$port is a synced replica after $ms ms"
        else
            chaos_log "old master :$port not yet a synced replica after $ms ms"
        fi
    else
        chaos_log "kill -9 $what (replica's offset $lag bytes behind a moment ago)"
        if ! chaos_cluster_kill "$port"; then
            chaos_harness_problem "could not kill -9 master :$port"
            CHAOS_ABORT=1
            return 0
        fi
        if ms=$(chaos_cluster_wait_master "$replica" 20); then
            chaos_log "hard failure: replica :$replica promoted $ms ms after the kill"
        else
            chaos_harness_problem "replica :$replica not promoted $ms ms after master :$port was killed"
        fi
        if chaos_cluster_restart "$port" && ms=$(chaos_cluster_wait_replica "$port" 30); then
            chaos_log "restarted :$port (pid ${CHAOS_PID[node-$port]:-?}) rejoined as a synced replica after $ms ms"
        else
            chaos_harness_problem "restarted :$port is not a synced replica after ${ms:-?} ms"
        fi
    fi
    CHAOS_FAULTS=$((CHAOS_FAULTS + 1))
}

# Moves a third of the slots (5461) with `redis-cli --cluster reshard` from the master with the
# most slots to the one with the fewest, the master of {bus} first among equals: at first from the
# master of 5461–10922 to that of {bus} (0–5460), then back (the source's lowest slots move:
# 0–5460, with {bus} and {q:echo_executor}), again and again while the workload runs. Keys move
# with MIGRATE: clients meet ASK and MOVED, and TRYAGAIN for scripts whose keys are split for a
# moment. The source always keeps a slot (a master left without any would turn into a replica),
# so the topology stays 3 masters with a replica each.
chaos_settings_cluster-reshard() {
    CHAOS_CLUSTER=1
    CHAOS_MIN_FAULTS=$CHAOS_RESHARD_MIN_FAULTS
    CHAOS_SCENARIO_SUBMIT_S=$CHAOS_RESHARD_SUBMIT_S  # --short: long enough for the move back to meet the workload
}
chaos_fault_cluster-reshard() {
    if ((CHAOS_FAULTS == 0)); then
        chaos_pause "$CHAOS_RESHARD_FIRST_S" || return 0
    else
        chaos_pause "$CHAOS_RESHARD_EVERY_S" || return 0
    fi
    if ! chaos_cluster_wait_ready "$(chaos_step_budget 40)"; then
        chaos_harness_problem "the cluster was not whole in time after reshard $CHAOS_FAULTS; no more resharding"
        CHAOS_ABORT=1
        return 0
    fi
    local masters from to bus_port t0 rc limit from_port from_id from_n to_port to_id to_n
    masters=$(chaos_cs_masters)
    bus_port=$(chaos_cs_port_of_key "{bus}")
    from=$(sort -k3,3nr <<<"$masters" | head -n 1)
    to=$(awk -v b="$bus_port" '{ print $1, $2, $3, ($1 == b ? 0 : 1) }' <<<"$masters" | sort -k3,3n -k4,4n | head -n 1)
    read -r from_port from_id from_n _ <<<"$from"
    read -r to_port to_id to_n _ <<<"$to"
    if [[ -z $from_id || -z $to_id || $from_id == "$to_id" ]] || ((${from_n:-0} <= 5461)); then
        chaos_harness_problem "no reshard source and target among: $(tr '\n' ';' <<<"$masters")"
        CHAOS_ABORT=1
        return 0
    fi
    chaos_log "reshard $CHAOS_FAULTS: 5461 slots from :$from_port ($from_n slots) to :$to_port ($to_n slots); hot keys: $(awk '$1 == "key" { printf "%s=%s@:%s ", $2, $3, $4 }' <<<"$CHAOS_CS")"
    t0=$(date +%s%3N)
    _chaos_reap reshard
    chaos_start reshard redis-cli --cluster reshard "127.0.0.1:$to_port" --cluster-from "$from_id" --cluster-to "$to_id" \
        --cluster-slots 5461 --cluster-yes
    limit=$((SECONDS + CHAOS_RESHARD_TIMEOUT_S))
    while chaos_alive reshard && ((SECONDS < limit)); do sleep 0.2; done
    if chaos_alive reshard; then
        chaos_kill reshard
        chaos_harness_problem "redis-cli --cluster reshard still running after $CHAOS_RESHARD_TIMEOUT_S s; killed; running --cluster fix"
        timeout 60 redis-cli --cluster fix "127.0.0.1:$to_port" --cluster-yes >>"$CHAOS_LOGS/reshard.log" 2>&1 </dev/null
        CHAOS_ABORT=1
        return 0
    fi
    wait "${CHAOS_PID[reshard]}"
    rc=$?
    _chaos_reap reshard
    local moved
    moved=$(sed -n '/^=== .* start #'"${CHAOS_GEN[reshard]}"':/,$p' "$CHAOS_LOGS/reshard.log" | grep -c '^Moving slot')
    if ((rc != 0)); then
        chaos_harness_problem "redis-cli --cluster reshard exited $rc after moving $moved slots: $(sed -n '/^=== .* start #'"${CHAOS_GEN[reshard]}"':/,$p' "$CHAOS_LOGS/reshard.log" | grep -a -E 'ERR|\*\*\*' | tail -n 3 | tr '\n' ' ')"
        timeout 60 redis-cli --cluster fix "127.0.0.1:$to_port" --cluster-yes >>"$CHAOS_LOGS/reshard.log" 2>&1 </dev/null
        CHAOS_ABORT=1
        return 0
    fi
    CHAOS_FAULTS=$((CHAOS_FAULTS + 1))
    chaos_log "reshard $((CHAOS_FAULTS - 1)) done: $moved slots moved in $(($(date +%s%3N) - t0)) ms"
}

# Runs one scenario end to end: its Redis (or Redis Cluster) and services, the workload with
# faults, the audit. Appends the audit's row to $CHAOS_RESULTS; returns non-zero when the audit
# failed. Whatever happens, everything it started is stopped when it returns.
chaos_run_scenario() {
    local name=$1 status=0 old_pwd=$PWD
    local t_start=$SECONDS
    _chaos_run_scenario "$name" || status=$?
    chaos_stop_all
    chaos_cluster_stop
    cd "$old_pwd" || true
    chaos_log "$name: done in $((SECONDS - t_start)) s (status $status)"
    CHAOS_SCENARIO_DIR=""
    return "$status"
}

_chaos_run_scenario() {
    local name=$1
    local t_start=$SECONDS
    chaos_settings_defaults
    "chaos_settings_$name"

    CHAOS_SCENARIO_DIR="$CHAOS_DIR/$name"
    CHAOS_LOGS="$CHAOS_SCENARIO_DIR/logs"
    mkdir -p "$CHAOS_LOGS"
    CHAOS_BIG_SEEN=0
    CHAOS_GEN=()
    CHAOS_TAIL_END=""
    local run seed
    seed=$((CHAOS_SEED + $(printf '%s' "$name" | cksum | cut -d' ' -f1) % 100000))
    run="c$(printf '%04x' $((RANDOM % 65536)))"
    export BATON_NAMESPACE="chaos-$name"

    # The Python side reaches Redis with --port P, or --cluster NODES on a cluster.
    CHAOS_PY_REDIS=()
    CHAOS_REDIS_PORT=""
    local try where
    if ((CHAOS_CLUSTER)); then
        for try in 1 2; do
            chaos_cluster_start && break
            chaos_cluster_stop
        done
        [[ -n $CHAOS_CLUSTER_DIR ]] || { chaos_log "$name: no Redis Cluster"; return 1; }
        CHAOS_REDIS_PORT=${CHAOS_CLUSTER_PORTS[0]}
        CHAOS_PY_REDIS=(--port "$CHAOS_REDIS_PORT" --cluster "$CHAOS_CLUSTER_NODES")
        export BATON_REDIS_URL=$CHAOS_CLUSTER_SEEDS
        if ! python3 "$CHAOS_LIB/chaos_audit.py" cluster-check --cluster "$CHAOS_CLUSTER_NODES" --ns "$BATON_NAMESPACE" 2>>"$CHAOS_SCENARIO_DIR/faults.log"; then
            chaos_log "$name: the cluster client's check failed (see $CHAOS_SCENARIO_DIR/faults.log)"
            printf '{"scenario": "%s", "failed": true, "error": "cluster client check failed"}\n' "$name" >>"$CHAOS_RESULTS"
            return 1
        fi
        chaos_cluster_describe
        where="cluster $BATON_REDIS_URL"
    else
        for try in 1 2 3; do
            CHAOS_REDIS_PORT=$(baton_free_port) || return 1
            chaos_redis_start && break
            chaos_kill redis
            CHAOS_REDIS_PORT=""
        done
        [[ -n $CHAOS_REDIS_PORT ]] || { chaos_log "$name: no Redis"; return 1; }
        CHAOS_PY_REDIS=(--port "$CHAOS_REDIS_PORT")
        export BATON_REDIS_URL="redis://127.0.0.1:$CHAOS_REDIS_PORT/0"
        where="redis :$CHAOS_REDIS_PORT"
    fi
    CHAOS_GATEWAY_PORT=$(baton_free_port) || return 1

    export BATON_AGENT_LEASE_S=$CHAOS_LEASE_S
    export BATON_AGENT_HEARTBEAT_INTERVAL_S=$CHAOS_HEARTBEAT_S
    export BATON_AGENT_SHUTDOWN_GRACE_S=$CHAOS_GRACE_S
    export BATON_SCHEDULER_REAPER_INTERVAL_MS=$CHAOS_REAPER_MS
    export BATON_SCHEDULER_EVENTS_MAXLEN=1000000
    export BATON_API_KEYS="chaos-key=chaos:admin"
    export BATON_GATEWAY_HOST=127.0.0.1
    export BATON_GATEWAY_PORT=$CHAOS_GATEWAY_PORT
    export BATON_LOG_LEVEL=${CHAOS_LOG_LEVEL:-info}

    chaos_log "$name: $where, gateway :$CHAOS_GATEWAY_PORT, $CHAOS_SCHEDULERS scheduler(s), $CHAOS_AGENTS agents, lease ${CHAOS_LEASE_S} s, $CHAOS_TASKS tasks over ${CHAOS_SCENARIO_SUBMIT_S} s"
    cd "$CHAOS_SCENARIO_DIR" || return 1   # no config/baton.yaml here: the built-in defaults + BATON_*
    chaos_services_start

    chaos_start client python3 "$CHAOS_LIB/chaos_audit.py" client --dir "$CHAOS_SCENARIO_DIR" \
        "${CHAOS_PY_REDIS[@]}" --ns "$BATON_NAMESPACE" --gateway-port "$CHAOS_GATEWAY_PORT" \
        --run "$run" --seed "$seed" --sleep-share "$CHAOS_SLEEP_SHARE" --tasks "$CHAOS_TASKS" --tree-min "$CHAOS_TREE_MIN" --tree-max "$CHAOS_TREE_MAX" \
        --duration "$CHAOS_SCENARIO_SUBMIT_S" --gateway-share "$CHAOS_GATEWAY_SHARE" \
        --big "$CHAOS_BIG" --big-size "$CHAOS_BIG_SIZE" --big-via "$CHAOS_BIG_VIA" \
        --answer-timeout "$CHAOS_ANSWER_TIMEOUT_S"

    # Faults while submitting and for CHAOS_TAIL_S after (a step may overrun a little).
    CHAOS_DEADLINE=$((SECONDS + CHAOS_SCENARIO_TIMEOUT_S))
    local deadline=$CHAOS_DEADLINE
    while ! chaos_done; do
        "chaos_fault_$name"
    done
    chaos_log "$name: $CHAOS_FAULTS faults injected; healing"
    chaos_services_heal

    while chaos_alive client && ((SECONDS < deadline)); do sleep 0.2; done
    if chaos_alive client; then
        chaos_log "$name: the client did not finish in time"
        chaos_kill client
    else
        _chaos_reap client
    fi

    local status=0
    if [[ ! -s $CHAOS_SCENARIO_DIR/client.json ]]; then
        chaos_log "$name: no client.json (the client failed; see $CHAOS_LOGS/client.log)"
        tail -n 20 "$CHAOS_LOGS/client.log" >&2
        printf '{"scenario": "%s", "failed": true, "error": "client failed"}\n' "$name" >>"$CHAOS_RESULTS"
        status=1
    else
        local strict=()
        [[ ${CHAOS_STRICT:-0} == 1 ]] && strict=(--strict)
        local remaining=$((deadline - SECONDS))
        ((remaining < 20)) && remaining=20
        chaos_start audit python3 "$CHAOS_LIB/chaos_audit.py" audit --dir "$CHAOS_SCENARIO_DIR" \
            "${CHAOS_PY_REDIS[@]}" --ns "$BATON_NAMESPACE" --scenario "$name" --results "$CHAOS_RESULTS" \
            --wait-timeout "$((remaining < CHAOS_WAIT_TIMEOUT_S ? remaining : CHAOS_WAIT_TIMEOUT_S))" \
            --elapsed "$((SECONDS - t_start))" "${strict[@]}"
        wait "${CHAOS_PID[audit]}"
        status=$?
        unset "CHAOS_PID[audit]" "CHAOS_STIME[audit]"
        grep -v '^===' "$CHAOS_LOGS/audit.log" >&2
    fi
    if [[ -s $CHAOS_SCENARIO_DIR/harness-problems.txt ]]; then
        chaos_log "$name: PROBLEM: $(tr '\n' ';' <"$CHAOS_SCENARIO_DIR/harness-problems.txt")"
        status=1
    fi
    ((CHAOS_CLUSTER)) && chaos_cluster_describe
    return "$status"
}
