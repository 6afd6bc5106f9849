"""neardup.dedup: the same kept records, matches and clusters as `neardup dedup`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pandas as pd
import pytest

import neardup
import corpus


def cli_dedup(neardup_cli, tmp_path: Path, records, *args: str):
    """Writes `records` as JSON Lines, runs `neardup dedup` on them, reads the outputs."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "input.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    out = {name: tmp_path / f"{name}.jsonl" for name in ("matches", "clusters", "kept")}
    neardup_cli(
        "dedup", "--input", path, "--matches", out["matches"], "--clusters", out["clusters"],
        "--kept", out["kept"], *args,
    )
    read = lambda p: [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]
    return read(out["matches"]), read(out["clusters"]), read(out["kept"])


def assert_same_as_cli(result, cli, records, id_of=lambda r: r["id"]):
    matches, clusters, kept = cli
    assert result.matches == matches
    assert result.clusters == clusters
    assert [records[i] for i in result.kept_index] == kept
    assert result.kept == [id_of(r) for r in kept]


@pytest.fixture(scope="module")
def record_corpus():
    return corpus.records(3000, seed=7, paragraphs=1)


@pytest.fixture(scope="module")
def paragraph_corpus():
    return corpus.records(2000, seed=8, paragraphs=4)


def test_record_units_match_the_cli(neardup_cli, tmp_path, record_corpus):
    cli = cli_dedup(neardup_cli, tmp_path, record_corpus)
    result = neardup.dedup(record_corpus)
    assert_same_as_cli(result, cli, record_corpus)
    s = result.summary
    assert s.records == 3000 and s.bad_records == 0
    assert s.duplicate_records == 3000 - len(result.kept) > 500
    assert s.clusters == len(result.clusters) > 100
    assert (s.bands, s.rows) == (20, 1)
    # Every cluster's representative is kept; every other member is not.
    kept = set(result.kept)
    for c in result.clusters:
        assert c["representative"] == c["members"][0] in kept
        assert c["size"] == len(c["members"])


def test_paragraph_units_match_the_cli(neardup_cli, tmp_path, paragraph_corpus):
    cli = cli_dedup(neardup_cli, tmp_path, paragraph_corpus, "--unit", "paragraph")
    result = neardup.dedup(paragraph_corpus, unit="paragraph")
    assert_same_as_cli(result, cli, paragraph_corpus)
    assert result.summary.units > 2 * result.summary.records
    assert all("paragraph" in m for m in result.matches)


def test_dataframe_table_and_reader_inputs_give_the_same_result(record_corpus):
    record_corpus = record_corpus[:1500]
    expected = neardup.dedup(record_corpus, threads=1)
    frame = pd.DataFrame(record_corpus)
    table = pa.Table.from_pylist(record_corpus)
    for data in (
        frame,
        table,
        table.to_batches(max_chunksize=700)[0],
        pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=333)),
        iter(record_corpus),
    ):
        result = neardup.dedup(data, batch_size=1000)
        n = len(data) if hasattr(data, "__len__") else len(record_corpus)
        if n == len(record_corpus):
            assert result.matches == expected.matches, type(data)
            assert result.clusters == expected.clusters
            assert result.kept == expected.kept
            assert np.array_equal(result.kept_index, expected.kept_index)
        else:
            assert result.summary.records == n
    kept = frame.iloc[expected.kept_index]
    assert kept["id"].tolist() == expected.kept


def test_other_fields_and_missing_ids(neardup_cli, tmp_path, record_corpus):
    records = [{"body": r["text"], "key": r["n"]} for r in record_corpus[:800]]
    cli = cli_dedup(neardup_cli, tmp_path / "named", records, "--text-field", "body", "--id-field", "key")
    result = neardup.dedup(records, text_field="body", id_field="key")
    assert_same_as_cli(result, cli, records, id_of=lambda r: r["key"])
    # Without ids, records are called by their 1-based line, as in the CLI.
    anonymous = [{"text": r["text"]} for r in record_corpus[:800]]
    matches, clusters, kept = cli_dedup(neardup_cli, tmp_path / "anon", anonymous)
    result = neardup.dedup(anonymous)
    assert result.matches == matches and result.clusters == clusters
    assert result.kept == [int(i) + 1 for i in result.kept_index]
    assert [anonymous[i] for i in result.kept_index] == kept
    frame = pd.DataFrame(anonymous)
    assert neardup.dedup(frame).clusters == clusters


def test_bad_records_are_kept_and_listed(neardup_cli, tmp_path):
    text = corpus.english_paragraph(__import__("random").Random(1), 30)
    records = [
        {"id": 1, "text": text},
        {"id": 2},
        {"id": 3, "text": None},
        {"id": 4, "text": 17},
        {"id": 5, "text": text},
        {"id": [6, "x"], "text": text + " more words at the end"},
    ]
    matches, clusters, kept = cli_dedup(neardup_cli, tmp_path, records)
    result = neardup.dedup(records)
    assert result.matches == matches and result.clusters == clusters
    assert result.kept == [1, 2, 3, 4] and [records[i] for i in result.kept_index] == kept
    assert [(b.index, b.reason) for b in result.summary.bad] == [
        (1, 'no field "text"'),
        (2, 'field "text" is null, not a string'),
        (3, 'field "text" is a number, not a string'),
    ]
    # A missing value in a DataFrame is null, a bad record too.
    frame = pd.DataFrame({"id": [1, 2], "text": [text, np.nan]})
    assert neardup.dedup(frame).summary.bad_records == 1
    with pytest.raises(ValueError, match="bad record at records:2"):
        neardup.dedup(records, strict=True)


def test_settings_threads_and_errors(record_corpus):
    base = neardup.dedup(record_corpus[:1000])
    assert neardup.dedup(record_corpus[:1000], threads=1).kept == base.kept
    strict = neardup.dedup(record_corpus[:1000], threshold=0.9, containment=0.95)
    assert len(strict.kept) > len(base.kept)
    assert neardup.dedup([]).kept == [] and neardup.dedup([]).summary.records == 0
    for bad in (dict(unit="sentence"), dict(threshold=2.0), dict(threads=0), dict(colour="red")):
        with pytest.raises((ValueError, TypeError)):
            neardup.dedup(record_corpus[:10], **bad)
    with pytest.raises(TypeError):
        neardup.dedup("not records")
    with pytest.raises(TypeError):
        neardup.dedup([{"text": "a"}, "b"])
    with pytest.raises(TypeError):
        neardup.dedup([{"text": "a", "id": object()}])
    with pytest.raises(KeyError):
        neardup.dedup(pd.DataFrame({"body": ["a"]}))

    def failing():
        yield {"text": "a"}
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        neardup.dedup(failing())


def _newsletter(issues: int = 30):
    """Issues of a newsletter: a masthead (near copies: the issue number changes) and a
    copyright line (exact) around articles of their own, one in four a reprint."""
    rng = __import__("random").Random(4)
    articles, records = [], []
    for n in range(1, issues + 1):
        own = [corpus.english_paragraph(rng, 40) for _ in range(3)]
        if articles and n % 4 == 0:
            own[1] = articles[n // 2]
        articles.extend(own)
        text = "\n\n".join(
            [f"The Riverside Gazette, issue {n}. Editor: M. Lindqvist. Published weekly by the Riverside Press."]
            + own
            + ["Copyright 2024 Riverside Press. All rights reserved. No part may be reproduced."]
        )
        records.append({"id": f"issue-{n}", "text": text})
    return records


def test_boilerplate_is_set_apart_as_the_cli_does(neardup_cli, tmp_path):
    records = _newsletter()
    cli = cli_dedup(neardup_cli, tmp_path, records, "--unit", "paragraph",
                    "--ignore-boilerplate", "--boilerplate", "5")
    result = neardup.dedup(records, unit="paragraph", ignore_boilerplate=True, boilerplate=5)
    assert_same_as_cli(result, cli, records)
    # From the 5th issue on, the masthead and the copyright line are set apart.
    assert result.summary.boilerplate_units == 2 * (30 - 4)
    plain = neardup.dedup(records, unit="paragraph")
    assert plain.summary.boilerplate_units == 0
    assert plain.summary.duplicate_units == result.summary.duplicate_units + 2 * (30 - 4)
    assert plain.kept == result.kept
    with pytest.raises(ValueError, match="paragraph"):
        neardup.dedup(records, ignore_boilerplate=True)
    with pytest.raises(ValueError, match="fold"):
        neardup.dedup(records, fold="pinyin")
