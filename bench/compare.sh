#!/usr/bin/env bash
# Signatures: neardup vs rensa vs datasketch, on the same paragraphs, in one run.
#
#   bench/compare.sh [PARAGRAPHS.jsonl] [--repeat N] [--min-seconds S] [--wall]
#
# Makes bench/.venv (gitignored) with datasketch and rensa, builds neardup's `sigbench`
# example with the default (portable x86-64) release profile, and prints throughput per
# language and the ratios against the issue's targets. Exit status 1 if a target is missed.
# Single thread throughout: rensa's rayon pool is pinned to one thread.
set -euo pipefail

cd "$(dirname "$0")/.."
input="${1:-../shared/data/synthetic-dev/sources.jsonl}"
shift || true

venv=bench/.venv
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import datasketch, rensa' 2>/dev/null; then
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet datasketch rensa
fi

# Portable build on purpose: no target-cpu flags; the AVX2 loop is picked at run time.
env -u RUSTFLAGS cargo build --quiet --release --example sigbench

export RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
exec "$venv/bin/python" bench/compare.py "$input" \
    --sigbench target/release/examples/sigbench --out bench/out "$@"
