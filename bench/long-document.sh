#!/usr/bin/env bash
# A long document reprinted whole: `neardup scan A B` where B repeats every paragraph of A,
# for growing paragraph counts, in text, JSON and HTML. A report that grows faster than the
# document shows here. Usage: bench/long-document.sh NEARDUP [COUNTS...]
set -euo pipefail
bin=${1:?usage: bench/long-document.sh NEARDUP [COUNTS...]}
shift
counts=("${@:-1000 4000 16000}")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for n in ${counts[@]}; do
  python3 - "$dir" "$n" <<'PY'
import random, sys
d, n = sys.argv[1], int(sys.argv[2])
random.seed(7)
words = ["".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(random.randint(2, 9))) for _ in range(20000)]
text = "\n\n".join(" ".join(random.choice(words) for _ in range(60)) for _ in range(n))
for name in ("a", "b"):
    open(f"{d}/{name}{n}.txt", "w").write(text)
PY
  for format in text json html; do
    /usr/bin/time -f "$n paragraphs, $format: %e s, %M KB" \
      "$bin" scan "$dir/a$n.txt" "$dir/b$n.txt" --repair off --format "$format" -o "$dir/out"
  done
done
