#!/bin/sh
# One-shot service of docker-compose.cluster.yml: forms the Redis Cluster once, and on every later
# `up` only checks that the cluster it formed before is back (POSIX sh: runs in the redis image).
#
#   REDIS_CLUSTER_NODES   host:port of every node, space- or comma-separated; masters first
#                         (redis-cli makes the first N/(replicas+1) of them masters)
#   REDIS_CLUSTER_REPLICAS replicas per master (default 1)
#   REDIS_CLUSTER_WAIT_S  how long to wait for nodes and for cluster_state:ok (default 60)
#
# Exit 0: the cluster is formed and every node says cluster_state:ok. Anything else exits 1 with
# the reason, so that services depending on it (condition: service_completed_successfully) stay
# down rather than start on a half-formed cluster.
set -eu

nodes=$(printf '%s' "${REDIS_CLUSTER_NODES:?REDIS_CLUSTER_NODES: host:port of every node}" | tr ',' ' ')
replicas=${REDIS_CLUSTER_REPLICAS:-1}
wait_s=${REDIS_CLUSTER_WAIT_S:-60}

log() { echo "redis-cluster-init: $*" >&2; }
cli() { # cli HOST:PORT ARG...
    hp=$1
    shift
    redis-cli -h "${hp%:*}" -p "${hp##*:}" "$@"
}
field() { # field HOST:PORT NAME: one field of CLUSTER INFO (empty when the node does not answer)
    cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

# CLUSTER MEET (which --cluster create sends) takes IP addresses only in Redis 7.0: resolve names.
ips=""
for node in $nodes; do
    host=${node%:*}
    port=${node##*:}
    case $host in
        *[!0-9.]*)
            ip=$(getent hosts "$host" | awk '{ print $1; exit }')
            [ -n "$ip" ] || { log "cannot resolve $host"; exit 1; }
            ;;
        *) ip=$host ;;
    esac
    ips="$ips $ip:$port"
done
ips=${ips# }

# Every node must answer (compose waits for their healthchecks, but be safe when run alone).
deadline=$(($(date +%s) + wait_s))
for node in $ips; do
    until [ "$(cli "$node" ping 2>/dev/null)" = PONG ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { log "$node does not answer PING after ${wait_s}s"; exit 1; }
        sleep 1
    done
    if cli "$node" cluster info 2>&1 | grep -q 'cluster support disabled'; then
        log "$node runs without cluster-enabled yes"
        exit 1
    fi
done

# A node is blank when it knows only itself and serves no slot: a fresh volume.
blank="" formed=""
for node in $ips; do
    if [ "$(field "$node" cluster_known_nodes)" = 1 ] && [ "$(field "$node" cluster_slots_assigned)" = 0 ]; then
        blank="$blank $node"
    else
        formed="$formed $node"
    fi
done

# wait_ok NODE...: until every NODE says cluster_state:ok, or the deadline.
wait_ok() {
    deadline=$(($(date +%s) + wait_s))
    for node in "$@"; do
        until [ "$(field "$node" cluster_state)" = ok ]; do
            if [ "$(date +%s)" -ge "$deadline" ]; then
                log "$node: cluster_state:$(field "$node" cluster_state) after ${wait_s}s"
                cli "$node" cluster nodes >&2 || true
                return 1
            fi
            sleep 1
        done
    done
}

if [ -z "$formed" ]; then
    log "forming a cluster of $ips with $replicas replica(s) per master"
    # shellcheck disable=SC2086 # one argument per node
    redis-cli --cluster create $ips --cluster-replicas "$replicas" --cluster-yes
    # shellcheck disable=SC2086
    wait_ok $ips
    redis-cli --cluster check "${ips%% *}" >&2 || true
    log "cluster formed: cluster_state:ok on every node"
    exit 0
fi

# Formed before (a later `up`, or after a restart): never form again; wait for it to be whole.
first=${formed# }
first=${first%% *}
if [ "$(field "$first" cluster_state)" = ok ]; then
    log "cluster already formed ($first says cluster_state:ok); nothing to do"
else
    log "cluster formed before; waiting for cluster_state:ok (nodes reconnecting)"
fi
# shellcheck disable=SC2086
wait_ok $formed
if [ -n "$blank" ]; then
    # A blank node among formed ones lost its volume: it is not part of the cluster until added,
    # e.g. redis-cli --cluster add-node NEW:6379 EXISTING:6379 --cluster-slave; and the node it
    # replaced must be forgotten (CLUSTER FORGET) on the others.
    log "warning: blank node(s) not in the cluster:$blank (see redis-cluster-init.sh)"
fi
log "cluster_state:ok on:$formed"
