#!/usr/bin/env bash
# A real 6-node Redis Cluster (3 primaries, 3 replicas) on loopback, for the cluster
# tests (.ci/run) and benchmarks:
#   bench/redis-cluster.sh start DIR PORT0   # nodes on PORT0..PORT0+5, data in DIR/PORT
#   bench/redis-cluster.sh stop DIR          # stops every node by the PID in its pidfile
#   bench/redis-cluster.sh restart DIR PORT  # starts one stopped node again (it rejoins)
#   bench/redis-cluster.sh seeds DIR         # prints redis-cluster://127.0.0.1:P,...
# `start` prints the seeds once `cluster_state:ok` and every replica has synced; it
# installs nothing (CI does). Replicas fail over whatever their replication lag
# (`cluster-replica-validity-factor 0`): availability over the last writes, which the
# README's loss window states.
# Hash hashes stay listpack-encoded (compact) up to 1024 fields: see the README.
set -euo pipefail
cmd=${1:?usage: redis-cluster.sh start DIR PORT0 | stop DIR | restart DIR PORT | seeds DIR}
dir=${2:?DIR}

seeds() {
  local out="" p
  for p in $(cat "$dir/ports"); do out="$out${out:+,}127.0.0.1:$p"; done
  echo "redis-cluster://$out"
}

node() { # node PORT: starts (or restarts) one node in DIR/PORT
  mkdir -p "$dir/$1"
  redis-server --port "$1" --bind 127.0.0.1 --dir "$dir/$1" --daemonize yes \
    --pidfile "$dir/$1/pid" --logfile "$dir/$1/log" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --cluster-replica-validity-factor 0 \
    --appendonly yes --save '' --hash-max-listpack-entries 1024
  for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "error: node $1 did not start" >&2
  return 1
}

case "$cmd" in
restart)
  node "${3:?PORT}"
  ;;
start)
  port0=${3:?PORT0}
  command -v redis-server >/dev/null || { echo "error: redis-server is not installed" >&2; exit 1; }
  mkdir -p "$dir"
  : >"$dir/ports"
  nodes=()
  for i in 0 1 2 3 4 5; do
    p=$((port0 + i))
    node "$p"
    echo "$p" >>"$dir/ports"
    nodes+=("127.0.0.1:$p")
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log"
  for p in $(cat "$dir/ports"); do
    for _ in $(seq 200); do
      redis-cli -p "$p" cluster info | grep -q cluster_state:ok && break
      sleep 0.1
    done
    redis-cli -p "$p" cluster info | grep -q cluster_state:ok ||
      { echo "error: node $p did not reach cluster_state:ok" >&2; exit 1; }
  done
  # A replica that has not synced yet cannot take over from its primary: wait for every
  # replication link, so that a primary killed right after `start` fails over.
  for p in $(cat "$dir/ports"); do
    for _ in $(seq 300); do
      info=$(redis-cli -p "$p" info replication)
      grep -q role:master <<<"$info" && break
      grep -q master_link_status:up <<<"$info" && break
      sleep 0.1
    done
  done
  seeds
  ;;
stop)
  [ -f "$dir/ports" ] || exit 0
  for p in $(cat "$dir/ports"); do
    if [ -f "$dir/$p/pid" ]; then
      pid=$(cat "$dir/$p/pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  ;;
seeds) seeds ;;
*) echo "usage: redis-cluster.sh start DIR PORT0 | stop DIR | restart DIR PORT | seeds DIR" >&2; exit 2 ;;
esac
