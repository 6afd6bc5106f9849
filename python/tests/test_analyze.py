"""neardup.analyze: the engine's analysis as Arrow and numpy columns."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

import neardup

EN = "The committee reviewed the annual budget in detail and found that spending on roads had doubled."
EN_LOUD = "THE COMMITTEE reviewed the annual budget, in detail; and found that spending on roads had doubled!"
ZH = "黄河是中华民族的母亲河，保护黄河是事关中华民族伟大复兴的千秋大计。"
ZH_WIDE = "黄河是中华民族的母亲河、保护黄河是事关中华民族伟大复兴的千秋大计！"


def test_columns_types_and_one_row_per_paragraph():
    texts = [f"# Title here\n\n{EN}\n\n{ZH}", "too short", ""]
    table = neardup.analyze(texts)
    assert table.num_rows == 4
    assert table.column_names == [
        "doc", "paragraph", "start", "end", "line", "length", "too_short", "content_hash",
        "shingles", "band_keys",
    ]
    assert table.schema.field("shingles").type == pa.list_(pa.uint32())
    assert table.schema.field("band_keys").type == pa.list_(pa.uint64())
    assert table.schema.field("content_hash").type == pa.uint64()
    rows = table.to_pylist()
    assert [(r["doc"], r["paragraph"], r["line"]) for r in rows] == [(0, 0, 1), (0, 1, 3), (0, 2, 5), (1, 0, 1)]
    for r in rows:
        text = texts[r["doc"]]
        assert text[r["start"] : r["end"]] in ("Title here", EN, ZH, "too short")
    assert [r["too_short"] for r in rows] == [True, False, False, True]
    settings = json.loads(table.schema.metadata[b"neardup.settings"])
    bands = settings["bands"]
    assert [len(r["band_keys"]) for r in rows] == [0, bands, bands, 0]
    for r in rows:
        assert r["shingles"] == sorted(set(r["shingles"])) and r["shingles"]
    assert rows[1]["length"] == 16 and abs(rows[2]["length"] - 2 * len("黄河是中华民族的母亲河保护黄河是事关中华民族伟大复兴的千秋大计") / 3) < 1e-4


def test_identical_after_normalization_means_identical_rows():
    table = neardup.analyze([EN, EN_LOUD, ZH, ZH_WIDE, EN + " Extra words here."]).to_pylist()
    en, en_loud, zh, zh_wide, en_more = table
    for a, b in ((en, en_loud), (zh, zh_wide)):
        assert a["content_hash"] == b["content_hash"]
        assert a["shingles"] == b["shingles"]
        assert a["band_keys"] == b["band_keys"]
    assert en["content_hash"] != en_more["content_hash"]
    assert set(en["shingles"]) < set(en_more["shingles"])
    # Similar texts share band keys (that is what makes them candidates); unrelated ones don't.
    assert set(en["band_keys"]) & set(en_more["band_keys"])
    assert not set(en["band_keys"]) & set(zh["band_keys"])
    # Chinese is shingled by characters: 3-character shingles, one per position.
    chars = len("黄河是中华民族的母亲河保护黄河是事关中华民族伟大复兴的千秋大计")
    assert len(zh["shingles"]) <= chars - 2 and len(zh["shingles"]) > chars - 6


def test_numpy_format_is_the_same_data():
    texts = [f"{EN}\n\n{ZH}", EN_LOUD]
    table = neardup.analyze(texts)
    cols = neardup.analyze(texts, format="numpy")
    assert cols["band_keys"].dtype == np.uint64 and cols["shingles"].dtype == np.uint32
    assert len(cols["shingle_offsets"]) == table.num_rows + 1
    for i, row in enumerate(table.to_pylist()):
        s0, s1 = cols["shingle_offsets"][i : i + 2]
        b0, b1 = cols["band_key_offsets"][i : i + 2]
        assert cols["shingles"][s0:s1].tolist() == row["shingles"]
        assert cols["band_keys"][b0:b1].tolist() == row["band_keys"]
        assert cols["content_hash"][i] == row["content_hash"]


def test_settings_split_and_signatures():
    text = "\n".join([EN, EN_LOUD, ZH])
    assert neardup.analyze([text]).num_rows == 3  # no blank line: one paragraph per line
    assert neardup.analyze([text], split="none").num_rows == 1
    assert neardup.analyze([text], split="blank-lines").num_rows == 1
    # One tuning for the service and the batch: the same band keys either way.
    dedup_keys = neardup.analyze([EN], **neardup.dedup_defaults())["band_keys"][0].as_py()
    assert len(dedup_keys) == neardup.dedup_defaults()["bands"] == 20
    assert dedup_keys == neardup.analyze([EN])["band_keys"][0].as_py()
    assert len(neardup.analyze([EN], num_perm=64, max_bands=8)["band_keys"][0]) == 8
    assert neardup.analyze([EN], shingle=3)["shingles"] != neardup.analyze([EN])["shingles"]
    signed = neardup.analyze([EN, EN_LOUD], signatures=True, num_perm=64)
    assert signed.schema.field("signature").type == pa.list_(pa.uint32(), 64)
    a, b = signed["signature"].to_pylist()
    assert a == b
    assert neardup.analyze([], format="numpy")["doc"].shape == (0,)
    with pytest.raises(TypeError):
        neardup.analyze(EN)
    with pytest.raises(ValueError):
        neardup.analyze([EN], split="sentences")
    with pytest.raises(ValueError):
        neardup.analyze([EN], format="csv")
    with pytest.raises(TypeError):
        neardup.analyze([EN, 3])
    # A settings dict passes back whole; its derived bands and rows must agree.
    with pytest.raises(ValueError, match="bands"):
        neardup.analyze([EN], **{**neardup.dedup_defaults(), "bands": 5})
