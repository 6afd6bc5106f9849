#!/usr/bin/env bash
# neardup dedup against datasketch MinHashLSH and rensa on the same English paragraphs.
#
#   bash bench/dedup-compare.sh [CORPORA]        (CORPORA defaults to /tmp/corpora)
#
# Builds the corpus with ../shared/corpora/fetch-corpora.sh CORPORA when CORPORA/en is
# missing (about 6 minutes, 5 GB of scratch, root for apt-get; keep it out of the repo),
# takes the first N paragraphs of CORPORA/en/*.jsonl (in name order) as one input,
# installs datasketch and rensa in a venv, and prints wall time, peak memory
# (/usr/bin/time -v) and duplicates found for each tool.
#
# datasketch is far too slow for a million paragraphs in a benchmark run, so the three
# tools are compared on the first SUB paragraphs, and neardup (and rensa, with
# RENSA_FULL=1) also runs on all N; datasketch's time for N is extrapolated linearly from
# SUB, which is a lower bound (its queries slow down as the index grows).
#
# Environment: N (1000000), SUB (100000), THREADS (2), VENV (bench/.venv), OUT (bench/out),
# FULL_T1=1 (also run neardup on all N with one thread), RENSA_FULL=1 (rensa on all N).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CORPORA="${1:-/tmp/corpora}"
N="${N:-1000000}"
SUB="${SUB:-100000}"
THREADS="${THREADS:-2}"
VENV="${VENV:-$ROOT/bench/.venv}"
OUT="${OUT:-$ROOT/bench/out}"
mkdir -p "$OUT"

if ! ls "$CORPORA"/en/*.jsonl >/dev/null 2>&1; then
  echo "== building the corpus in $CORPORA"
  bash "$ROOT/../shared/corpora/fetch-corpora.sh" "$CORPORA"
fi

IN="$OUT/en-$N.jsonl"
SUBIN="$OUT/en-$SUB.jsonl"
if [[ ! -s "$IN" ]]; then
  # shellcheck disable=SC2046
  (cat $(ls "$CORPORA"/en/*.jsonl | sort) || true) | head -n "$N" > "$IN"
fi
head -n "$SUB" "$IN" > "$SUBIN"
have="$(wc -l < "$IN")"
echo "== input: $have paragraphs ($(du -h "$IN" | cut -f1)) from $CORPORA/en; subsample: first $SUB"

echo "== building neardup (release)"
( cd "$ROOT" && cargo build --release --quiet )
BIN="$ROOT/target/release/neardup"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "== installing datasketch and rensa in $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet datasketch==2.0.0 rensa==0.5.0
fi
PY="$VENV/bin/python"

# measure NAME CMD...: runs CMD under /usr/bin/time -v; prints "wall_s peak_mb".
measure() {
  local name="$1"; shift
  /usr/bin/time -v -o "$OUT/time-$name.txt" "$@" > "$OUT/stdout-$name.txt" 2> "$OUT/stderr-$name.txt"
  local wall rss
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$OUT/time-$name.txt")"
  rss="$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$OUT/time-$name.txt")"
  echo "$wall $rss"
}

neardup_dups() { grep -o '[0-9]* duplicates removed' "$OUT/stderr-$1.txt" | cut -d' ' -f1; }
neardup_index() { grep -o 'index [0-9]* bytes/unit' "$OUT/stderr-$1.txt" | cut -d' ' -f2; }
py_dups() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["duplicates"])' "$OUT/stdout-$1.txt"; }

row() { printf '%-34s %10s %10s %10s %12s\n' "$@"; }

echo "== runs (threads: $THREADS)"
results=()
nd() {
  local name="$1" input="$2" threads="$3"
  read -r wall rss < <(measure "$name" "$BIN" dedup --input "$input" --threads "$threads" \
    --kept "$OUT/$name-kept.jsonl" --matches "$OUT/$name-matches.jsonl" --clusters "$OUT/$name-clusters.jsonl")
  results+=("$(row "neardup $name" "$wall" "$rss" "$(neardup_dups "$name")" "$(neardup_index "$name")")")
  echo "${results[-1]}"
}
py() {
  local name="$1" engine="$2" input="$3"
  read -r wall rss < <(measure "$name" "$PY" "$ROOT/bench/minhash_dedup.py" "$engine" "$input")
  results+=("$(row "$name" "$wall" "$rss" "$(py_dups "$name")" "-")")
  echo "${results[-1]}"
}

row "run" "wall s" "peak MB" "dups" "index B/unit"
nd "sub-${SUB}" "$SUBIN" "$THREADS"
py "datasketch-sub-${SUB}" datasketch "$SUBIN"
py "rensa-sub-${SUB}" rensa "$SUBIN"
if [[ "${FULL_T1:-0}" == 1 ]]; then
  nd "full-${have}-t1" "$IN" 1
fi
nd "full-${have}" "$IN" "$THREADS"
if [[ "${RENSA_FULL:-0}" == 1 ]]; then
  py "rensa-full-${have}" rensa "$IN"
fi

ds_sub="$(awk '/Elapsed/ {n=split($NF,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$OUT/time-datasketch-sub-${SUB}.txt")"
nd_full="$(awk '/Elapsed/ {n=split($NF,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$OUT/time-full-${have}.txt")"
nd_sub="$(awk '/Elapsed/ {n=split($NF,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$OUT/time-sub-${SUB}.txt")"
echo
echo "== summary"
printf '%s\n' "${results[@]}"
awk -v ds="$ds_sub" -v nds="$nd_sub" -v nd="$nd_full" -v n="$have" -v subn="$SUB" 'BEGIN {
  printf "speed-up on the %d-paragraph subsample: %.0fx datasketch\n", subn, ds / nds
  printf "datasketch extrapolated to %d paragraphs (linear, a lower bound): %.0f s; neardup measured: %.2f s; %.0fx\n", n, ds * n / subn, nd, ds * n / subn / nd
}'
