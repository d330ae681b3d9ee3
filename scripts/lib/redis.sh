# shellcheck shell=bash
# Helpers to run a throwaway Redis for Baton's tests and local work.
#
#   source scripts/lib/redis.sh
#   baton_ensure_packages                 # redis-server, redis-cli, hiredis headers, python3, python3-venv (apt-get)
#   baton_ensure_browser                  # chromium (apt-get), for the dashboard's browser test
#   port="$(baton_free_port)"             # a free TCP port on 127.0.0.1
#   baton_start_redis "$port" "$dir"      # daemonized, no persistence, answers PING when it returns
#   baton_stop_redis "$port" "$dir"       # SHUTDOWN NOSAVE, then kill if still alive
#   baton_start_cluster 3 "$dir" [R]      # Redis Cluster of 3 masters + R replicas each (R: 1, or 0), ready when it
#                                         # returns; prints the masters' seed URLs, comma-separated
#                                         # (redis://127.0.0.1:P1,...); node ports in $dir/ports
#   baton_stop_cluster "$dir"             # stops every node started in $dir
#
# Functions return non-zero and print to stderr on failure; they never call `exit`,
# so they are safe in scripts with or without `set -e`.

# Installs what building and testing Baton needs from Debian's packages, when missing.
baton_ensure_packages() {
    local missing=()
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-cli)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)  # scripts/chaos's client and audit
    # scripts/test-python's virtual environment: Debian's python3 has no ensurepip without it.
    command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1 && missing+=(python3-venv)
    if ! command -v pkg-config >/dev/null 2>&1; then
        missing+=(pkg-config)
    elif ! pkg-config --exists hiredis; then
        missing+=(hiredis)
    fi
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi

    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "baton: missing ${missing[*]} and not root (no sudo): install redis-server libhiredis-dev pkg-config python3 python3-venv" >&2
            return 1
        fi
    fi

    echo "baton: missing ${missing[*]}; installing redis-server libhiredis-dev pkg-config python3 python3-venv" >&2
    "${sudo[@]}" apt-get update -qq || return 1
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq redis-server libhiredis-dev pkg-config python3 python3-venv >/dev/null || return 1
}

# Installs Chromium from Debian's packages when no chromium is on PATH (the dashboard's browser
# test drives it headless).
baton_ensure_browser() {
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 && return 0
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || { echo "baton: chromium is missing and not root (no sudo): install chromium" >&2; return 1; }
        sudo=(sudo)
    fi
    echo "baton: chromium is missing; installing it (the dashboard's browser test)" >&2
    "${sudo[@]}" apt-get update -qq || return 1
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || return 1
}

# Prints a TCP port on 127.0.0.1 that nothing listens on right now.
baton_free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' && return 0
    fi
    # Fallback: probe random high ports; a refused connection means the port is free.
    local port
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "baton: no free TCP port found on 127.0.0.1" >&2
    return 1
}

# Starts redis-server on 127.0.0.1:PORT with DIR for its pid file, log and working files,
# and returns once that very server (checked by pid) answers PONG; fails after 10 s.
baton_start_redis() {
    local port=${1:?usage: baton_start_redis PORT DIR} dir=${2:?usage: baton_start_redis PORT DIR}
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd) || return 1

    local pid
    pid=$(_baton_redis_pid "$dir")
    if [[ -n $pid ]]; then
        echo "baton: a redis-server (pid $pid) already runs with $dir" >&2
        return 1
    fi
    rm -f "$dir/redis.pid"
    : >"$dir/redis.log"

    if ! redis-server --bind 127.0.0.1 --port "$port" \
        --dir "$dir" --save '' --appendonly no \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --daemonize yes; then
        echo "baton: redis-server failed to start on port $port" >&2
        return 1
    fi

    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        pid=$(_baton_redis_pid "$dir")
        if [[ -n $pid && $(timeout 2 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; then
            # Make sure the PONG came from our server, not from another one on that port.
            if timeout 2 redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null | tr -d '\r' |
                grep -qx "process_id:${pid}"; then
                return 0
            fi
            echo "baton: port $port answers, but not from the redis-server we started (pid $pid)" >&2
            break
        fi
        if grep -q "Could not create server TCP listening socket\|Failed listening on port" "$dir/redis.log" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done

    echo "baton: redis-server on 127.0.0.1:$port did not start; last lines of $dir/redis.log:" >&2
    tail -n 5 "$dir/redis.log" >&2 2>/dev/null || true
    pid=$(_baton_redis_pid "$dir")
    [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null
    return 1
}

# Stops the redis-server started by baton_start_redis PORT DIR. Safe to call twice;
# does nothing when DIR's pid file names no live redis-server (so never stops a stranger).
baton_stop_redis() {
    local port=${1:?usage: baton_stop_redis PORT DIR} dir=${2:?usage: baton_stop_redis PORT DIR}
    local pid
    pid=$(_baton_redis_pid "$dir")
    [[ -n $pid ]] || return 0

    timeout 2 redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true

    for _ in $(seq 1 50); do
        _baton_alive "$pid" || return 0
        sleep 0.1
    done
    echo "baton: redis-server (pid $pid) still alive 5 s after SHUTDOWN; killing it" >&2
    kill -9 "$pid" 2>/dev/null || true
    return 0
}

# Starts a Redis Cluster on 127.0.0.1 with MASTERS (>= 3) masters and one replica per master,
# every node on a free port whose cluster bus port (port + 10000) is free too, each in its own
# DIR/node-<port> (pid file, log, nodes.conf), without persistence (and with no 5 s wait before a
# replica's first sync: --repl-diskless-sync-delay 0). Returns once every node says
# cluster_state:ok with all 16384 slots served, all nodes agree on the slot map and who
# replicates whom, and every replica's link to its master is up; fails after 30 s.
# Writes DIR/ports: the master ports one a line, then a line `replicas`, then the replica ports.
# Prints the masters' seed URLs on stdout: redis://127.0.0.1:P1,redis://127.0.0.1:P2,...
# On failure, stops every node it started and returns 1.
baton_start_cluster() {
    local masters=${1:?usage: baton_start_cluster MASTERS DIR [REPLICAS]} dir=${2:?usage: baton_start_cluster MASTERS DIR [REPLICAS]}
    local per_master=${3:-1}
    if ! [[ $masters =~ ^[0-9]+$ ]] || ((masters < 3)); then
        echo "baton: a Redis Cluster needs at least 3 masters (got '$masters')" >&2
        return 1
    fi
    if [[ $per_master != 0 && $per_master != 1 ]]; then
        echo "baton: REPLICAS per master must be 0 or 1 (got '$per_master')" >&2
        return 1
    fi
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd) || return 1

    local node pid
    for node in "$dir"/node-*; do
        [[ -d $node ]] || continue
        pid=$(_baton_redis_pid "$node")
        if [[ -n $pid ]]; then
            echo "baton: a redis-server (pid $pid) already runs in $node" >&2
            return 1
        fi
    done
    # Leftovers of an earlier cluster (a stale nodes.conf would make a node refuse to join).
    rm -rf "$dir"/node-* "$dir/ports" "$dir/cluster-create.log"

    # 2 x MASTERS ports, none of them or their bus ports (port + 10000) in use or colliding.
    # (The bus ports of each batch of candidates are checked at once: one python3 run, not one each.)
    local count=$(((1 + per_master) * masters)) ports=() candidates=() buses=() port other clash tries=0
    while ((${#ports[@]} < count)); do
        candidates=()
        while ((${#ports[@]} + ${#candidates[@]} < count)); do
            if ((++tries > 500)); then
                echo "baton: found no $count free port pairs (port, port + 10000) on 127.0.0.1" >&2
                return 1
            fi
            port=$(baton_free_port) || return 1
            ((port + 10000 <= 65535)) || continue
            clash=
            for other in "${ports[@]}" "${candidates[@]}"; do
                if ((port == other || port == other + 10000 || port + 10000 == other)); then
                    clash=1
                    break
                fi
            done
            [[ -n $clash ]] || candidates+=("$port")
        done
        buses=()
        for port in "${candidates[@]}"; do
            buses+=("$((port + 10000))")
        done
        for port in $(_baton_ports_free "${buses[@]}"); do
            ports+=("$((port - 10000))")
        done
    done

    for port in "${ports[@]}"; do
        node="$dir/node-$port"
        mkdir -p "$node" || {
            _baton_cluster_fail "$dir" "" "cannot create $node"
            return 1
        }
        : >"$node/redis.log"
        if ! redis-server --bind 127.0.0.1 --port "$port" --dir "$node" \
            --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
            --appendonly no --save '' --repl-diskless-sync-delay 0 \
            --pidfile "$node/redis.pid" --logfile "$node/redis.log" --daemonize yes; then
            _baton_cluster_fail "$dir" "$node" "redis-server failed to start on port $port"
            return 1
        fi
    done

    # Every node answers PONG, from the very process we started (checked by pid).
    local deadline=$((SECONDS + 10)) pending=("${ports[@]}") waiting status
    while ((${#pending[@]} > 0)); do
        waiting=()
        for port in "${pending[@]}"; do
            status=0
            _baton_cluster_node_up "$port" "$dir/node-$port" || status=$?
            if ((status == 2)); then
                _baton_cluster_fail "$dir" "$dir/node-$port" "redis-server on 127.0.0.1:$port did not start"
                return 1
            fi
            ((status == 0)) || waiting+=("$port")
        done
        pending=("${waiting[@]}")
        ((${#pending[@]} > 0)) || break
        if ((SECONDS >= deadline)); then
            _baton_cluster_fail "$dir" "$dir/node-${pending[0]}" \
                "redis-server on 127.0.0.1:${pending[0]} did not answer within 10 s"
            return 1
        fi
        sleep 0.1
    done

    local addrs=()
    for port in "${ports[@]}"; do
        addrs+=("127.0.0.1:$port")
    done
    if ! timeout 30 redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$per_master" --cluster-yes \
        </dev/null >"$dir/cluster-create.log" 2>&1; then
        # Name the node redis-cli complained about, if it did.
        port=$(grep -a '\[ERR\]' "$dir/cluster-create.log" | grep -ao '127\.0\.0\.1:[0-9]*' | head -n 1 | cut -d: -f2) || true
        echo "baton: redis-cli --cluster create failed; last lines of $dir/cluster-create.log:" >&2
        tail -n 5 "$dir/cluster-create.log" >&2 2>/dev/null || true
        _baton_cluster_fail "$dir" "$dir/node-${port:-${ports[0]}}" "Redis Cluster in $dir was not created"
        return 1
    fi

    local reason=""
    deadline=$((SECONDS + 30))
    while ! reason=$(_baton_cluster_ready "$count" "${ports[@]}"); do
        if ((SECONDS >= deadline)); then
            port=${reason%% *}
            _baton_cluster_fail "$dir" "$dir/node-$port" \
                "Redis Cluster in $dir not ready after 30 s: 127.0.0.1:$reason"
            return 1
        fi
        sleep 0.1
    done

    # redis-cli chose the masters itself: ask every node for its role.
    local master_ports=() replica_ports=() role replicated=()
    for port in "${ports[@]}"; do
        role=$(timeout 2 redis-cli -h 127.0.0.1 -p "$port" role 2>/dev/null | tr -d '\r') || true
        case ${role%%$'\n'*} in
            master) master_ports+=("$port") ;;
            slave)
                replica_ports+=("$port")
                replicated+=("$(sed -n 3p <<<"$role")")
                ;;
            *)
                _baton_cluster_fail "$dir" "$dir/node-$port" "127.0.0.1:$port answers ROLE with '${role%%$'\n'*}'"
                return 1
                ;;
        esac
    done
    local distinct
    distinct=$(printf '%s\n' "${replicated[@]}" | sort -u | grep -c .) || true
    if ((${#master_ports[@]} != masters || ${#replica_ports[@]} != per_master * masters || distinct != per_master * masters)); then
        _baton_cluster_fail "$dir" "" "Redis Cluster in $dir has masters ${master_ports[*]} and replicas" \
            "${replica_ports[*]} (of masters ${replicated[*]}), not $masters masters with $per_master replica(s) each"
        return 1
    fi

    if ! { printf '%s\n' "${master_ports[@]}" replicas "${replica_ports[@]}" >"$dir/ports.tmp" &&
        mv "$dir/ports.tmp" "$dir/ports"; }; then
        _baton_cluster_fail "$dir" "" "cannot write $dir/ports"
        return 1
    fi
    local seeds=()
    for port in "${master_ports[@]}"; do
        seeds+=("redis://127.0.0.1:$port")
    done
    (
        IFS=,
        echo "${seeds[*]}"
    )
}

# Stops every redis-server that baton_start_cluster started in DIR (SHUTDOWN NOSAVE to each,
# all at once; kill -9 for any still alive 5 s later). Safe to call twice; only ever signals
# a process that a DIR/node-*/redis.pid names and that is a live redis-server.
baton_stop_cluster() {
    local dir=${1:?usage: baton_stop_cluster DIR}
    [[ -d $dir ]] || return 0
    local node port pid pids=() cli_pids=()
    for node in "$dir"/node-*; do
        [[ -d $node ]] || continue
        pid=$(_baton_redis_pid "$node")
        [[ -n $pid ]] || continue
        port=${node##*/node-}
        pids+=("$pid")
        _baton_shutdown_node "$port" "$pid" &
        cli_pids+=("$!")
    done
    ((${#pids[@]} > 0)) || return 0
    wait "${cli_pids[@]}" 2>/dev/null || true

    local alive
    for _ in $(seq 1 50); do
        alive=()
        for pid in "${pids[@]}"; do
            if _baton_alive "$pid"; then alive+=("$pid"); fi
        done
        ((${#alive[@]} > 0)) || return 0
        pids=("${alive[@]}")
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        if [[ $(cat "/proc/$pid/comm" 2>/dev/null || ps -p "$pid" -o comm= 2>/dev/null) == redis-server* ]]; then
            echo "baton: redis-server (pid $pid) still alive 5 s after SHUTDOWN; killing it" >&2
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    return 0
}

# SHUTDOWN NOSAVE to 127.0.0.1:PORT if the server there is PID; else SIGTERM to PID, which
# (started with --save '') also shuts it down without saving. Never talks to a stranger.
_baton_shutdown_node() {
    local port=$1 pid=$2
    if [[ $port =~ ^[0-9]+$ ]] && timeout 2 redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null |
        tr -d '\r' | grep -qx "process_id:${pid}"; then
        timeout 2 redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    else
        kill -TERM "$pid" 2>/dev/null || true
    fi
}

# One look at a cluster node started in NODE_DIR on PORT: returns 0 once the redis-server
# we started (checked by pid) answers PONG, 2 when it cannot start, 1 while it may still.
_baton_cluster_node_up() {
    local port=$1 node=$2 pid recorded logged
    pid=$(_baton_redis_pid "$node")
    if [[ -n $pid && $(timeout 2 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; then
        if timeout 2 redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null | tr -d '\r' |
            grep -qx "process_id:${pid}"; then
            return 0
        fi
        echo "baton: port $port answers, but not from the redis-server we started (pid $pid)" >&2
        return 2
    fi
    if grep -q "Could not create server TCP listening socket\|Failed listening on port" "$node/redis.log" 2>/dev/null; then
        return 2
    fi
    # The daemon writes its own pid: a pid file naming no live redis-server means it died.
    recorded=$(cat "$node/redis.pid" 2>/dev/null) || true
    if [[ -n $recorded && -z $pid ]]; then
        return 2
    fi
    # It dies before writing its pid file when, say, nodes.conf cannot be locked; its log's
    # first lines name its pid (only ever used here to see that it is gone, never to signal).
    logged=$(grep -ao 'pid=[0-9]*, just started' "$node/redis.log" 2>/dev/null | head -n 1 | tr -dc 0-9) || true
    if [[ -n $logged ]] && ! _baton_alive "$logged"; then
        return 2
    fi
    return 1
}

# One look at the cluster on PORTS (COUNT nodes): returns 0 when every node says
# cluster_state:ok, serves all 16384 slots, knows COUNT nodes, none flagged failing or in
# handshake, all agree on the slot map and replication, and every replica's link is up.
# Otherwise prints "<port> <what is wrong>" on stdout and returns 1.
_baton_cluster_ready() {
    local count=$1
    shift
    local port info nodes map first_map="" repl
    for port in "$@"; do
        info=$(timeout 2 redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | tr -d '\r') || true
        if [[ -z $info ]]; then
            echo "$port does not answer CLUSTER INFO"
            return 1
        fi
        if ! grep -qx 'cluster_state:ok' <<<"$info"; then
            echo "$port says $(grep '^cluster_state:' <<<"$info")"
            return 1
        fi
        if ! grep -qx 'cluster_slots_ok:16384' <<<"$info"; then
            echo "$port says $(grep '^cluster_slots_ok:' <<<"$info"), not 16384"
            return 1
        fi
        if ! grep -qx "cluster_known_nodes:$count" <<<"$info"; then
            echo "$port says $(grep '^cluster_known_nodes:' <<<"$info"), not $count"
            return 1
        fi

        nodes=$(timeout 2 redis-cli -h 127.0.0.1 -p "$port" cluster nodes 2>/dev/null | tr -d '\r') || true
        # Who is who from this node's view: "<id> master|slave <master id> <slots...>", sorted.
        map=$(awk '
            $3 ~ /fail|handshake|noaddr/ { print "BAD " $2 " " $3; next }
            NF >= 8 {
                role = ($3 ~ /master/) ? "master" : "slave"
                line = $1 " " role " " $4
                for (i = 9; i <= NF; i++) line = line " " $i
                print line
            }' <<<"$nodes" | sort) || true
        if [[ -z $map ]]; then
            echo "$port does not answer CLUSTER NODES"
            return 1
        fi
        if grep -q '^BAD ' <<<"$map"; then
            echo "$port flags $(grep '^BAD ' <<<"$map" | head -n 1 | cut -d' ' -f2-)"
            return 1
        fi
        if [[ -z $first_map ]]; then
            first_map=$map
        elif [[ $map != "$first_map" ]]; then
            echo "$port disagrees with $1 on the slot map or who replicates whom"
            return 1
        fi

        repl=$(timeout 2 redis-cli -h 127.0.0.1 -p "$port" info replication 2>/dev/null | tr -d '\r') || true
        if grep -qx 'role:slave' <<<"$repl"; then
            if ! grep -qx 'master_link_status:up' <<<"$repl"; then
                echo "$port is a replica whose $(grep '^master_link_status:' <<<"$repl" || echo 'master link is unknown')"
                return 1
            fi
            if grep -qx 'master_sync_in_progress:1' <<<"$repl"; then
                echo "$port is a replica still syncing with its master"
                return 1
            fi
        elif ! grep -qx 'role:master' <<<"$repl"; then
            echo "$port does not answer INFO replication"
            return 1
        fi
    done
    return 0
}

# Reports a failed baton_start_cluster DIR: MESSAGE, the last lines of NODE_DIR's log (when
# given), then stops every node started in DIR.
_baton_cluster_fail() {
    local dir=$1 node=$2
    shift 2
    echo "baton: $*" >&2
    if [[ -n $node && -f $node/redis.log ]]; then
        echo "baton: last lines of $node/redis.log:" >&2
        tail -n 5 "$node/redis.log" >&2 2>/dev/null || true
    fi
    baton_stop_cluster "$dir"
}

# Prints those of the TCP ports PORT... that nothing on 127.0.0.1 holds (bound or listening).
_baton_ports_free() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket, sys
for port in sys.argv[1:]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", int(port)))
    except OSError:
        continue
    finally:
        s.close()
    print(port)' "$@"
        return
    fi
    # Fallback: a refused connection means nothing listens there.
    local port
    for port in "$@"; do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
        fi
    done
}

# Prints the pid from DIR/redis.pid if that process is a live redis-server, else nothing.
# (A stale pid file may name an unrelated process by now: only ever signal a redis-server.)
_baton_redis_pid() {
    local dir=$1 pid comm
    [[ -s $dir/redis.pid ]] || return 0
    pid=$(<"$dir/redis.pid")
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || ps -p "$pid" -o comm= 2>/dev/null) || true
    if [[ $comm == redis-server* ]]; then
        echo "$pid"
    fi
    return 0
}

# True while PID runs (a zombie waiting for its parent to reap it counts as gone).
_baton_alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
    [[ $state != Z ]]
}
