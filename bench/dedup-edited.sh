#!/usr/bin/env bash
# Throughput of `neardup dedup --edited` against `neardup dedup` (issue 16: "within 85 %").
# Builds the release binary, cuts the first EN English and ZH Chinese paragraphs (name
# order) out of the corpora that ../shared/corpora/fetch-corpora.sh built in CORPORA, and
# runs dedup off and on alternately for ROUNDS rounds (two threads, the default), printing
# each run's summary line and the on / off ratio of its records per second.
#
#   bench/dedup-edited.sh CORPORA [ROUNDS]          # default 2 rounds
#   env: EN=200000 ZH=100000
#
# The inputs and outputs are in a temporary directory, removed at exit. Nothing else
# should run on the machine.
set -euo pipefail
corpora=${1:?usage: bench/dedup-edited.sh CORPORA [ROUNDS]}
rounds=${2:-2}
en=${EN:-200000}
zh=${ZH:-100000}

cd "$(dirname "$0")/.."
cargo build --release --locked --bin neardup
bin=${CARGO_TARGET_DIR:-target}/release/neardup

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# `head` closes the pipe early: cat's SIGPIPE is expected, not a failure.
(cat $(ls "$corpora"/en/*.jsonl | sort) || true) | head -n "$en" >"$dir/en.jsonl"
(cat $(ls "$corpora"/zh/*.jsonl | sort) || true) | head -n "$zh" >"$dir/zh.jsonl"

# Records per second from dedup's summary line ("... (12345 records/s, ...").
rate() { grep -o '[0-9]* records/s' | grep -o '^[0-9]*'; }
for round in $(seq "$rounds"); do
  for lang in en zh; do
    off=$("$bin" dedup -i "$dir/$lang.jsonl" --matches "$dir/m.jsonl" --kept /dev/null 2>&1 | tail -n 1)
    on=$("$bin" dedup -i "$dir/$lang.jsonl" --edited --matches "$dir/m.jsonl" --kept /dev/null 2>&1 | tail -n 1)
    echo "round $round $lang off: $off"
    echo "round $round $lang on:  $on"
    awk -v a="$(rate <<<"$off")" -v b="$(rate <<<"$on")" -v r="$round" -v l="$lang" \
      'BEGIN { printf "round %s %s: on / off = %.1f %%\n", r, l, 100 * b / a }'
  done
done
