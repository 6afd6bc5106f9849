#!/usr/bin/env bash
# Submit throughput with page-break repair and the passage mode (issue 15: "within 80 % of
# today's"). Builds the release binaries, starts `neardup serve` on a free loopback port
# with a fresh data directory (durable defaults), ingests a base corpus with loadgen, then
# runs Submit-only `loadgen mix` (near copies of indexed paragraphs, paragraphs cut at page
# breaks) in three configurations, alternating a, b, c for ROUNDS rounds:
#   a  repair off,  passages off   (Submit as it was before these options)
#   b  repair auto, passages off   (the server's defaults)
#   c  repair auto, passages on
# and prints Submit calls/s of each, the ratios b/a and c/a per round, and their min and
# median. Every run submits new documents (loadgen --run), so the index grows through the
# rounds alike for all three.
#
#   bench/editorial-submit.sh [ROUNDS] [SECONDS]      # default 3 rounds of 5 s a run
#   env: DOCS=20000 PARAGRAPHS=10 CLIENTS=16 DUP=0.3 BREAKS=0.1
#
# Everything (data directory, logs) is in a temporary directory, removed at exit with the
# server this script started.
set -euo pipefail
rounds=${1:-3}
seconds=${2:-5}
docs=${DOCS:-20000}
per=${PARAGRAPHS:-10}
clients=${CLIENTS:-16}
dup=${DUP:-0.3}
breaks=${BREAKS:-0.1}

cd "$(dirname "$0")/.."
cargo build --release --locked --bin neardup --example loadgen
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/neardup
loadgen=$target/release/examples/loadgen

dir=$(mktemp -d)
pid=
stop() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap stop EXIT

# A free loopback port: bind port 0 and read what the kernel gave.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
NEARDUP_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --data-dir "$dir/data" \
  >"$dir/server.log" 2>&1 &
pid=$!
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { cat "$dir/server.log" >&2; echo "server exited" >&2; exit 1; }
  sleep 0.1
done
echo "server pid $pid on 127.0.0.1:$port, data in $dir/data"

L=("$loadgen" --server "http://127.0.0.1:$port" --paragraphs "$per")
"${L[@]}" --repair off --passages off ingest --docs "$docs" --streams 4

declare -A flags=(
  [a]="--repair off --passages off"
  [b]="--repair auto --passages off"
  [c]="--repair auto --passages on"
)
run=0
results=()
for ((r = 1; r <= rounds; r++)); do
  line="$r"
  for config in a b c; do
    run=$((run + 1))
    # shellcheck disable=SC2086 # the flags are words
    out=$("${L[@]}" ${flags[$config]} mix --clients "$clients" --seconds "$seconds" \
      --check-share 0 --dup-share "$dup" --page-breaks "$breaks" --indexed "$docs" --run "$run")
    echo "round $r $config: $(grep '^mix:' <<<"$out")"
    grep '^Submit' <<<"$out"
    line="$line $(awk '$1 == "Submit" {print $4}' <<<"$out")"
  done
  results+=("$line")
done

echo
echo "| round | a: off/off calls/s | b: auto/off calls/s | c: auto/on calls/s | b/a | c/a |"
echo "|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${results[@]}" | awk '
  { printf "| %d | %.1f | %.1f | %.1f | %.3f | %.3f |\n", $1, $2, $3, $4, $3 / $2, $4 / $2
    ba[NR] = $3 / $2; ca[NR] = $4 / $2 }
  function median(v, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  END {
    n = NR
    mb = median(ba, n); mc = median(ca, n)
    printf "b/a min %.3f median %.3f max %.3f; c/a min %.3f median %.3f max %.3f\n", \
      ba[1], mb, ba[n], ca[1], mc, ca[n]
  }'
