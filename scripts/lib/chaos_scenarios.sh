# shellcheck shell=bash
# The scenarios of scripts/chaos (needs chaos_procs.sh and chaos_services.sh).
#
# Each scenario is a settings function `chaos_settings_<name>` (run before anything starts) and
# a fault step `chaos_fault_<name>`, called in a loop while the workload is submitted and for
# CHAOS_TAIL_S seconds after. A step injects one fault, sleeping as it goes; it never waits
# longer than a few seconds past the scenario's deadline.

CHAOS_SCENARIOS=(agent-kill agent-kill-two-reapers scheduler-kill gateway-kill redis-kill redis-stop agent-stop agent-drain)

# True once the scenario's faults should stop: the workload was submitted CHAOS_TAIL_S seconds
# ago and at least one fault was injected, or the client is gone, or the deadline passed.
chaos_done() {
    ((SECONDS >= CHAOS_DEADLINE)) && return 0
    chaos_alive client || return 0
    if [[ -z $CHAOS_TAIL_END && -e $CHAOS_SCENARIO_DIR/submitted ]]; then
        CHAOS_TAIL_END=$((SECONDS + CHAOS_TAIL_S))
    fi
    [[ -n $CHAOS_TAIL_END ]] && ((SECONDS >= CHAOS_TAIL_END && CHAOS_FAULTS > 0))
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

# Runs one scenario end to end: its Redis and services, the workload with faults, the audit.
# Appends the audit's row to $CHAOS_RESULTS; returns non-zero when the audit failed.
chaos_run_scenario() {
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

    CHAOS_REDIS_PORT=""
    local try
    for try in 1 2 3; do
        CHAOS_REDIS_PORT=$(baton_free_port) || return 1
        chaos_redis_start && break
        chaos_kill redis
        CHAOS_REDIS_PORT=""
    done
    [[ -n $CHAOS_REDIS_PORT ]] || { chaos_log "$name: no Redis"; return 1; }
    CHAOS_GATEWAY_PORT=$(baton_free_port) || return 1

    export BATON_REDIS_URL="redis://127.0.0.1:$CHAOS_REDIS_PORT/0"
    export BATON_NAMESPACE="chaos-$name"
    export BATON_AGENT_LEASE_S=$CHAOS_LEASE_S
    export BATON_AGENT_HEARTBEAT_INTERVAL_S=$CHAOS_HEARTBEAT_S
    export BATON_AGENT_SHUTDOWN_GRACE_S=$CHAOS_GRACE_S
    export BATON_SCHEDULER_REAPER_INTERVAL_MS=$CHAOS_REAPER_MS
    export BATON_SCHEDULER_EVENTS_MAXLEN=1000000
    export BATON_API_KEYS="chaos-key=chaos:admin"
    export BATON_GATEWAY_HOST=127.0.0.1
    export BATON_GATEWAY_PORT=$CHAOS_GATEWAY_PORT
    export BATON_LOG_LEVEL=${CHAOS_LOG_LEVEL:-info}

    chaos_log "$name: redis :$CHAOS_REDIS_PORT, gateway :$CHAOS_GATEWAY_PORT, $CHAOS_SCHEDULERS scheduler(s), $CHAOS_AGENTS agents, lease ${CHAOS_LEASE_S} s, $CHAOS_TASKS tasks over ${CHAOS_SUBMIT_S} s"
    local old_pwd=$PWD
    cd "$CHAOS_SCENARIO_DIR" || return 1   # no config/baton.yaml here: the built-in defaults + BATON_*
    chaos_services_start

    chaos_start client python3 "$CHAOS_LIB/chaos_audit.py" client --dir "$CHAOS_SCENARIO_DIR" \
        --port "$CHAOS_REDIS_PORT" --ns "$BATON_NAMESPACE" --gateway-port "$CHAOS_GATEWAY_PORT" \
        --run "$run" --seed "$seed" --sleep-share "$CHAOS_SLEEP_SHARE" --tasks "$CHAOS_TASKS" --tree-min "$CHAOS_TREE_MIN" --tree-max "$CHAOS_TREE_MAX" \
        --duration "$CHAOS_SUBMIT_S" --gateway-share "$CHAOS_GATEWAY_SHARE" \
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
            --port "$CHAOS_REDIS_PORT" --ns "$BATON_NAMESPACE" --scenario "$name" --results "$CHAOS_RESULTS" \
            --wait-timeout "$((remaining < CHAOS_WAIT_TIMEOUT_S ? remaining : CHAOS_WAIT_TIMEOUT_S))" \
            --elapsed "$((SECONDS - t_start))" "${strict[@]}"
        wait "${CHAOS_PID[audit]}"
        status=$?
        unset "CHAOS_PID[audit]" "CHAOS_STIME[audit]"
        cat "$CHAOS_LOGS/audit.log" | grep -v '^===' >&2
    fi
    if [[ -s $CHAOS_SCENARIO_DIR/harness-problems.txt ]]; then
        chaos_log "$name: PROBLEM: $(tr '\n' ';' <"$CHAOS_SCENARIO_DIR/harness-problems.txt")"
        status=1
    fi

    chaos_stop_all
    cd "$old_pwd" || true
    chaos_log "$name: done in $((SECONDS - t_start)) s (status $status)"
    CHAOS_SCENARIO_DIR=""
    return "$status"
}
