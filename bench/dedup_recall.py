#!/usr/bin/env python3
"""Recall of `neardup dedup` on labelled variants, per language and kind.

    bench/dedup_recall.py DATA_DIR [NEARDUP_BINARY] [-- extra dedup flags]

DATA_DIR holds `synthetic-dev/sources.jsonl` and `variants.jsonl` (the layout of
../shared/data, or of the held-out twin). The input is every source, then every variant,
one record each; a variant is found when its `--matches` line names its source (and, for
merges, its secondary source). Sources come first and are kept, so every expected source
is in the index when its variants are judged. Negatives count as false matches when they
match anything outside the variant's expected set (source, secondary source,
`also_similar`, `negative_of_id`), as in the engine's quality table; matches with other
variants (also in the input, and kept when they are not duplicates) are not judged.
"""
import collections
import json
import os
import subprocess
import sys
import tempfile


def main():
    args = sys.argv[1:]
    extra = []
    if "--" in args:
        extra = args[args.index("--") + 1 :]
        args = args[: args.index("--")]
    data = args[0]
    binary = args[1] if len(args) > 1 else "target/release/neardup"
    read = lambda f: [json.loads(l) for l in open(os.path.join(data, "synthetic-dev", f))]
    sources, variants = read("sources.jsonl"), read("variants.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "in.jsonl")
        with open(inp, "w") as out:
            for r in sources + variants:
                out.write(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n")
        matches = os.path.join(tmp, "matches.jsonl")
        subprocess.run(
            [binary, "dedup", "--input", inp, "--matches", matches, "--max-matches", "1000"] + extra,
            check=True,
        )
        found = collections.defaultdict(set)
        for line in open(matches):
            m = json.loads(line)
            found[m["id"]] = {x["id"] for x in m["matches"]}
    source_ids = {s["id"] for s in sources}
    tally = collections.defaultdict(lambda: [0, 0, 0, 0])  # variants, expected, found, false
    for v in variants:
        wanted = [v["source_id"]] + ([v["secondary_source_id"]] if v.get("secondary_source_id") else [])
        allowed = set(wanted) | {a["id"] for a in v.get("also_similar", [])}
        if v.get("negative_of_id"):
            allowed.add(v["negative_of_id"])
        got = found.get(v["id"], set())
        t = tally[(v["lang"], v["kind"])]
        t[0] += 1
        if v["kind"] not in ("negative", "hard_negative"):
            t[1] += len(wanted)
            t[2] += sum(w in got for w in wanted)
        # Other variants are in the input too; a match with one that was kept is not a
        # false match of this one. Matches with sources are judged.
        t[3] += bool({g for g in got if g in source_ids} - allowed)
    print("| lang | kind | variants | recall | variants with a false match |")
    print("|---|---|---|---|---|")
    for (lang, kind), (n, expected, hit, false) in sorted(tally.items()):
        recall = f"{hit / expected:.3f}" if expected else "–"
        print(f"| {lang} | {kind} | {n} | {recall} | {100 * false / n:.2f} % |")


if __name__ == "__main__":
    main()
