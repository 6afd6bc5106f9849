"""neardup.dask.dedup on a 2-process LocalCluster: the kept rows of the in-process dedup."""

from __future__ import annotations

import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import neardup  # noqa: E402
import neardup.dask  # noqa: E402
import corpus  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.mark.parametrize("unit", ["record", "paragraph"])
def test_dask_dedup_keeps_what_the_in_process_dedup_keeps(client, unit):
    records = corpus.records(900, seed=11, paragraphs=3 if unit == "paragraph" else 1)
    # A bad record (no text) is kept, as in the batch.
    records[5] = {"id": records[5]["id"], "text": None}
    frame = pd.DataFrame(records)
    ddf = dd.from_pandas(frame, npartitions=4)
    assert ddf.npartitions == 4
    result = neardup.dask.dedup(ddf, unit=unit)
    kept = result.kept.compute()
    expected = neardup.dedup(records, unit=unit)
    assert kept["id"].tolist() == expected.kept
    # Duplicates across partitions were found: a per-partition answer would keep more.
    per_partition = sum(
        len(neardup.dedup(frame.iloc[lo:hi], unit=unit).kept)
        for lo, hi in zip(ddf.divisions[:-1], list(ddf.divisions[1:-1]) + [len(frame)])
    )
    assert per_partition > len(kept)
    assert result.records == 900
    assert result.duplicate_records == expected.summary.duplicate_records > 100
    assert result.duplicate_units == expected.summary.duplicate_units
    assert result.candidate_pairs >= result.duplicate_units
    # The kept rows are the frame's own rows, index and every column.
    rows = frame.iloc[expected.kept_index]
    assert kept.index.tolist() == rows.index.tolist()
    assert list(kept.columns) == list(frame.columns)
    assert kept["n"].fillna(-1).tolist() == rows["n"].fillna(-1).tolist()
    # The clusters are the CLI's, representatives, members and order.
    assert result.clusters == expected.clusters
    assert len(result.clusters) == expected.summary.clusters > 50


def _sampled_corpus():
    """Records whose buckets pass a small ``max_bucket``: many light edits of a few
    originals, and exact copies of a record that is itself a duplicate (its kept copy
    must still be found through the chain of identical texts)."""
    records = corpus.records(600, seed=5)
    base = records[0]["text"]
    for i in range(40, 600, 7):
        records[i] = {"id": records[i]["id"], "text": base}
    edited = records[3]["text"] + " tail"
    for i in range(60, 600, 11):
        records[i] = {"id": records[i]["id"], "text": edited}
    return records


@pytest.mark.parametrize("max_bucket", [2, 5])
def test_dask_dedup_reads_large_buckets_as_the_batch_does(client, max_bucket):
    records = _sampled_corpus()
    frame = pd.DataFrame(records)
    expected = neardup.dedup(records, max_bucket=max_bucket)
    whole = neardup.dedup(records, max_bucket=100000)
    # Buckets were sampled: reading them whole gives another answer.
    assert whole.kept != expected.kept
    for parts in (1, 3, 8):
        result = neardup.dask.dedup(dd.from_pandas(frame, npartitions=parts),
                                    max_bucket=max_bucket)
        assert result.kept.compute()["id"].tolist() == expected.kept, parts
        assert result.clusters == expected.clusters, parts
        assert result.duplicate_units == expected.summary.duplicate_units


def test_dask_dedup_names_records_without_an_id_by_position(client):
    records = [{"text": r["text"]} for r in corpus.records(200, seed=3)]
    frame = pd.DataFrame(records)
    result = neardup.dask.dedup(dd.from_pandas(frame, npartitions=2))
    expected = neardup.dedup(records)
    assert result.clusters == expected.clusters
    assert any(isinstance(c["representative"], int) for c in result.clusters)


def test_dask_dedup_errors(client):
    ddf = dd.from_pandas(pd.DataFrame({"body": ["a b c"]}), npartitions=1)
    with pytest.raises(KeyError, match="text"):
        neardup.dask.dedup(ddf)
    with pytest.raises(ValueError, match="unit"):
        neardup.dask.dedup(ddf, text_field="body", unit="sentence")
    with pytest.raises(TypeError, match="colour"):
        neardup.dask.dedup(ddf, text_field="body", colour="red")
