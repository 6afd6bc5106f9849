#!/usr/bin/env bash
# Restart benchmark of `neardup serve` (issue 10): ingest N documents with loadgen into a
# fresh data directory, read the server's RSS and index bytes, SIGKILL it, start it again
# and time how long until gRPC health reports SERVING; then read RSS and index bytes again.
#
#   cargo build --release --bin neardup --example loadgen
#   bench/restart.sh [DOCS] [PARAGRAPHS_PER_DOC] [PORT]      # default 100000 10 50600
#
# Needs grpcurl (.ci/run installs it). Nothing else should run on the machine.
set -euo pipefail
docs=${1:-100000}
per=${2:-10}
port=${3:-50600}
bin=target/release/neardup
loadgen=target/release/examples/loadgen
grpcurl=${GRPCURL:-grpcurl}
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

rss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status"; }
serving() { "$grpcurl" -plaintext -d '{"service":"neardup.v1.NearDup"}' "127.0.0.1:$port" \
  grpc.health.v1.Health/Check 2>/dev/null | grep -q '"SERVING"'; }
stats() { "$grpcurl" -plaintext -d '{"namespace":"loadgen"}' "127.0.0.1:$port" neardup.v1.NearDup/Stats; }
field() { grep -o "\"$1\": *\"\\?[0-9]*" | grep -o '[0-9]*$'; }
start() {
  NEARDUP_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --data-dir "$dir/data" &
  pid=$!
  t0=$(date +%s.%N)
  until serving; do
    kill -0 "$pid" || { echo "server exited" >&2; exit 1; }
    sleep 0.02
  done
  t1=$(date +%s.%N)
}
report() { # report LABEL
  local s paragraphs index r
  s=$(stats)
  paragraphs=$(field paragraphs <<<"$s")
  index=$(field indexBytes <<<"$s")
  r=$(rss "$pid")
  printf '%s: %s paragraphs, RSS %s bytes (%d/paragraph), index %s bytes (%d/paragraph)\n' \
    "$1" "$paragraphs" "$r" $((r / paragraphs)) "$index" $((index / paragraphs))
}

start
base=$(rss "$pid")
echo "empty server: RSS $base bytes"
"$loadgen" --server "http://127.0.0.1:$port" --paragraphs "$per" ingest --docs "$docs" --streams 4
report "after ingest"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
echo "data directory: $(du -sb "$dir/data" | cut -f1) bytes"
start
printf 'restart after SIGKILL: SERVING %.2f s after start\n' "$(echo "$t1 - $t0" | bc)"
report "after restart"
