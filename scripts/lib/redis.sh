# shellcheck shell=bash
# Helpers to run a throwaway Redis for Baton's tests and local work.
#
#   source scripts/lib/redis.sh
#   baton_ensure_packages                 # redis-server, redis-cli, hiredis headers, python3 (apt-get)
#   port="$(baton_free_port)"             # a free TCP port on 127.0.0.1
#   baton_start_redis "$port" "$dir"      # daemonized, no persistence, answers PING when it returns
#   baton_stop_redis "$port" "$dir"       # SHUTDOWN NOSAVE, then kill if still alive
#
# Functions return non-zero and print to stderr on failure; they never call `exit`,
# so they are safe in scripts with or without `set -e`.

# Installs what building and testing Baton needs from Debian's packages, when missing.
baton_ensure_packages() {
    local missing=()
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-cli)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)  # scripts/chaos's client and audit
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
            echo "baton: missing ${missing[*]} and not root (no sudo): install redis-server libhiredis-dev pkg-config python3" >&2
            return 1
        fi
    fi

    echo "baton: missing ${missing[*]}; installing redis-server libhiredis-dev pkg-config python3" >&2
    "${sudo[@]}" apt-get update -qq || return 1
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq redis-server libhiredis-dev pkg-config python3 >/dev/null || return 1
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
