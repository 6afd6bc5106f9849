#!/usr/bin/env python3
"""One run, one input: `neardup dedup` (the CLI) against `neardup.dedup` from Python
(list of dicts, pandas DataFrame, pyarrow Table) and `neardup.dask.dedup` on a
LocalCluster, with records/s and each one's time as a ratio of the CLI's.

    python bench/python_dedup.py INPUT.jsonl --cli target/release/neardup \
        [--unit record|paragraph] [--workers 2] [--partitions 8] [--no-dask]

Every run must keep the same records (checked). Build the wheel and the CLI in release
mode first (`pip install ./python`, `cargo build --release`); debug builds measure the
debug build. The Dask run also prints its candidate pairs, the volume that its shuffle
join and verification move.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input", type=Path)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--unit", default="record")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()

    import neardup
    import pandas as pd
    import pyarrow as pa

    records = [json.loads(line) for line in args.input.open(encoding="utf-8") if line.strip()]
    n = len(records)
    rows = []

    with tempfile.TemporaryDirectory() as tmp:
        kept_path = Path(tmp) / "kept.jsonl"
        t = time.perf_counter()
        subprocess.run(
            [args.cli, "dedup", "--input", str(args.input), "--unit", args.unit,
             "--kept", str(kept_path)],
            check=True, capture_output=True,
        )
        cli = time.perf_counter() - t
        expected = [json.loads(line).get("id") for line in kept_path.open(encoding="utf-8")]
    rows.append(("neardup dedup (CLI, reads the file)", cli, len(expected)))

    frame = pd.DataFrame(records)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name, data in (("list of dicts", records), ("pandas DataFrame", frame),
                       ("pyarrow Table", table)):
        t = time.perf_counter()
        result = neardup.dedup(data, unit=args.unit)
        elapsed = time.perf_counter() - t
        assert result.kept == expected, name
        rows.append((f"neardup.dedup ({name})", elapsed, len(result.kept)))

    if not args.no_dask:
        import dask.dataframe as dd
        import distributed
        import neardup.dask

        with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                      processes=True, dashboard_address=None) as cluster, \
                distributed.Client(cluster):
            ddf = dd.from_pandas(frame, npartitions=args.partitions).persist()
            t = time.perf_counter()
            result = neardup.dask.dedup(ddf, unit=args.unit)
            kept = result.kept.compute()
            elapsed = time.perf_counter() - t
            assert kept["id"].tolist() == expected
            rows.append((f"neardup.dask.dedup ({args.workers} workers, "
                         f"{args.partitions} partitions)", elapsed, len(kept)))
            print(f"dask: {result.candidate_pairs} candidate pairs, "
                  f"{result.duplicate_units} duplicate units")

    print(f"{n} records, unit={args.unit}")
    print("| run | s | records/s | time / CLI's | kept |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, s, k in rows:
        print(f"| {name} | {s:.2f} | {n / s:,.0f} | {s / cli:.2f} | {k} |")


if __name__ == "__main__":
    main()
