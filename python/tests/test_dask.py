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


def test_dask_dedup_errors(client):
    ddf = dd.from_pandas(pd.DataFrame({"body": ["a b c"]}), npartitions=1)
    with pytest.raises(KeyError, match="text"):
        neardup.dask.dedup(ddf)
    with pytest.raises(ValueError, match="unit"):
        neardup.dask.dedup(ddf, text_field="body", unit="sentence")
    with pytest.raises(TypeError, match="colour"):
        neardup.dask.dedup(ddf, text_field="body", colour="red")
