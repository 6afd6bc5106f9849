"""neardup.Engine: the engine's reports as Python objects, the same as `neardup scan`'s."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest

import neardup
import corpus

A = "The committee reviewed the annual budget in detail and found that spending on roads had doubled."
B = "Rainfall in the northern provinces was well below the seasonal average for the third year running."
ZH = "黄河是中华民族的母亲河，保护黄河是事关中华民族伟大复兴的千秋大计。"


def cli_json(report: neardup.Report, name: str):
    """A report in the shape of `neardup scan --format json` (scores unrounded)."""
    lines = []
    for p in report.paragraphs:
        if not p.matches:
            continue
        lines.append({
            "document": name,
            "paragraph": p.index,
            "line": p.line,
            "start": p.start,
            "end": p.end,
            "matches": [
                {
                    "document": m.source.document_id,
                    "paragraph": m.source.paragraph,
                    "line": m.source.line,
                    "start": m.source.start,
                    "end": m.source.end,
                    "kind": m.kind,
                    "jaccard": m.jaccard,
                    "containment": m.containment,
                    "containment_source": m.containment_source,
                    "spans": [[s.start, s.end, s.source_start, s.source_end] for s in m.spans],
                    **({} if m.aligned_coverage is None else {
                        "aligned_coverage": m.aligned_coverage,
                        "aligned_coverage_source": m.aligned_coverage_source,
                    }),
                }
                for m in p.matches
            ],
        })
    return lines


# What `scan` adds over the engine's report (passages, page-break repairs).
SCAN_ONLY = {"matches", "passages", "repaired"}


def assert_same_reports(python, cli):
    """Equal but for scores, which the CLI rounds to 4 decimals."""
    assert len(python) == len(cli)
    for p, c in zip(python, cli):
        assert {k: v for k, v in p.items() if k not in SCAN_ONLY} == {k: v for k, v in c.items() if k not in SCAN_ONLY}
        assert len(p["matches"]) == len(c["matches"]), p
        for pm, cm in zip(p["matches"], c["matches"]):
            for key in ("aligned_coverage", "aligned_coverage_source"):
                assert (key in cm) == (cm["kind"] == "edited") == (key in pm)
            for score in ("jaccard", "containment", "containment_source", "aligned_coverage", "aligned_coverage_source"):
                if score not in cm:
                    continue
                assert abs(pm.pop(score) - cm.pop(score)) <= 0.5e-4 + 1e-9
            assert pm == cm


def scan_with_engine(paths, names):
    engine = neardup.Engine()
    out = []
    for path, name in zip(paths, names):
        submitted = engine.submit(name, Path(path).read_text(encoding="utf-8"))
        assert submitted.outcome == "created"
        out.extend(cli_json(submitted.report, name))
    return out


def test_submit_check_get_remove_and_stats():
    e = neardup.Engine()
    first = e.submit("a", f"{A}\n\n{B}", metadata={"source": "test"})
    assert first.outcome == "created" and first.document_id == "a"
    assert first.report.summary.recycled == 0 and first.report.summary.paragraphs == 2
    stored = e.get("a")
    assert stored.metadata == {"source": "test"} and stored.stored_at_unix_ms > 1_600_000_000_000
    second = e.submit("b", f"{B}\n\nshort one\n\n{B}")
    p0, p1, p2 = second.report.paragraphs
    assert p0.status == "recycled" and p1.status == "too_short" and p2.status == "recycled"
    assert [(m.source.document_id, m.source.paragraph, m.kind, m.source.same_document) for m in p2.matches] == [
        ("a", 1, "exact", False),
        ("b", 0, "exact", True),
    ]
    assert p0.matches[0].jaccard == 1.0 and p0.matches[0].shared_shingles > 10
    assert second.report.summary.distinct_sources == 2
    assert second.report.recycled() == [p0, p2]

    # Resubmission: idempotent, conflicting, or replacing.
    assert e.submit("a", f"{A}\n\n{B}").outcome == "unchanged"
    with pytest.raises(neardup.AlreadyExistsError):
        e.submit("a", A)
    assert e.submit("a", A, replace=True).outcome == "replaced"

    doc = e.get("b")
    assert doc.text == f"{B}\n\nshort one\n\n{B}" and [p.line for p in doc.paragraphs] == [1, 3, 5]
    assert e.get("a").metadata == {} and e.get("nope") is None
    assert len(e) == 2 and "a" in e and "nope" not in e
    stats = e.stats()
    assert (stats.documents, stats.paragraphs) == (2, 3)
    assert stats.settings.num_perm == 128 and stats.settings.bands * stats.settings.rows <= 128
    assert stats.index_bytes > 0

    # Check stores nothing and names the checked text in its own repeats.
    r = e.check(f"{A}\n\n{A}", document_id="draft")
    assert r.paragraphs[0].matches[0].source.document_id == "a"
    own = [m for m in r.paragraphs[1].matches if m.source.same_document]
    assert own and own[0].source.document_id == "draft"
    assert len(e) == 2

    removed = e.remove("a")
    assert removed.document_id == "a" and removed.text == A
    assert e.check(A).summary.recycled == 0
    with pytest.raises(KeyError):
        e.remove("a")


def test_an_edited_copy_carries_its_aligned_coverage():
    source = ("The city council voted on Monday evening to close the old public library on Elm Street "
              "next spring, citing rising repair costs, falling visitor numbers and a long delay in "
              "state funding for the building.")
    edited = ("On Monday night the town council decided to shut the ancient public library on Elm "
              "Street by next summer, blaming growing repair costs, shrinking visitor figures and a "
              "lengthy wait for state money for the building.")
    e = neardup.Engine()
    e.submit("source", source)
    (m,) = e.check(edited).paragraphs[0].matches
    assert (m.kind, m.source.document_id) == ("edited", "source")
    assert 0.35 <= m.aligned_coverage <= 1 and 0.35 <= m.aligned_coverage_source <= 1
    assert m.jaccard < 0.2
    (exact,) = e.check(source).paragraphs[0].matches
    assert exact.kind == "exact" and exact.aligned_coverage is None


def test_options_settings_and_errors():
    e = neardup.Engine(threshold=0.5, min_length=3, max_matches=2)
    assert e.settings["threshold"] == 0.5 and e.settings["max_matches"] == 2
    e.submit("a", A)
    edited = A.replace("roads", "bridges").replace("doubled", "tripled")
    near = e.check(edited).paragraphs[0].matches[0]
    assert near.kind == "near" and near.spans
    assert all(m.kind != "near" for m in e.check(edited, threshold=0.99).paragraphs[0].matches)
    assert e.check(edited, spans=False).paragraphs[0].matches[0].spans == []
    assert len(e.check("\n".join([A] * 3), split="lines").paragraphs) == 3
    assert len(e.check("\n".join([A] * 3), split="none").paragraphs) == 1
    for bad in (dict(threshold=0.0), dict(num_perm=0), dict(shingle=99), dict(colour=1)):
        with pytest.raises((ValueError, TypeError)):
            neardup.Engine(**bad)
    with pytest.raises(ValueError):
        e.check(A, max_matches=0)
    with pytest.raises(ValueError):
        e.check(A, split="words")
    with pytest.raises(ValueError):
        e.submit("", A)
    with pytest.raises(TypeError):
        e.submit("x", A, metadata={"k": 1})
    # Texts are kept once, by the store: there is no setting to drop them.
    with pytest.raises(TypeError):
        neardup.Engine(retain_text=False)
    assert e.get("a").text == A


def test_offsets_are_code_points_that_slice_the_text():
    e = neardup.Engine()
    e.submit("zh", f"🙂 𝒜𝒜 🙂\n\n{ZH}\n\n{A}")
    text = f"# 标题 𝒜\n\n{A}\n\n前言😀{ZH}"
    r = e.check(text)
    assert [text[p.start : p.end] for p in r.paragraphs] == ["标题 𝒜", A, f"前言😀{ZH}"]
    assert [p.line for p in r.paragraphs] == [1, 3, 5]
    source = e.get("zh").text
    assert source[r.paragraphs[1].matches[0].source.start : r.paragraphs[1].matches[0].source.end] == A
    zh = r.paragraphs[2].matches[0]
    assert source[zh.source.start : zh.source.end] == ZH
    assert zh.spans
    for s in zh.spans:
        assert text[s.start : s.end] == source[s.source_start : s.source_end]
        assert text[s.start : s.end] in ZH


def test_reports_match_neardup_scan(neardup_cli, tmp_path):
    rng = random.Random(11)
    pool = [corpus.paragraph(rng) for _ in range(30)]
    (tmp_path / "archive.txt").write_text("\n\n".join(pool), encoding="utf-8")
    names = ["archive.txt"]
    for i in range(5):
        paragraphs = []
        for _ in range(12):
            r = rng.random()
            if r < 0.3:
                paragraphs.append(rng.choice(pool))
            elif r < 0.5:
                paragraphs.append(corpus.edit(rng, rng.choice(pool), 0.15))
            elif r < 0.6:
                source = rng.choice(pool)
                paragraphs.append(source[: len(source) // 2])
            else:
                paragraphs.append(corpus.paragraph(rng))
        name = f"doc{i}.md"
        (tmp_path / name).write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
        names.append(name)
    cli = [json.loads(line) for line in neardup_cli("scan", "--format", "json", *names, cwd=tmp_path).stdout.splitlines()]
    python = scan_with_engine([tmp_path / n for n in names], names)
    assert len(cli) > 20
    assert {m["kind"] for line in cli for m in line["matches"]} >= {"exact", "near", "partial"}
    assert_same_reports(python, cli)


def test_magazine_reports_match_neardup_scan(neardup_cli, magazine):
    cli = [json.loads(line) for line in neardup_cli("scan", "--format", "json", magazine).stdout.splitlines()]
    python = scan_with_engine([magazine], [str(magazine)])
    assert len(cli) >= 10
    assert_same_reports(python, cli)


def test_threads_submit_concurrently():
    e = neardup.Engine()
    rng = random.Random(3)
    texts = {f"t{t}-{i}": corpus.paragraph(rng) + "\n\n" + corpus.paragraph(rng) for t in range(4) for i in range(50)}
    shared = corpus.english_paragraph(rng, 40)
    errors = []

    def work(t: int):
        try:
            for i in range(50):
                e.submit(f"t{t}-{i}", texts[f"t{t}-{i}"])
            e.submit(f"shared-{t}", shared)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(e) == 204
    for name, text in list(texts.items())[::17]:
        m = e.check(text).paragraphs[0].matches
        assert any(x.source.document_id == name and x.kind == "exact" for x in m)
    # The shared text was submitted four times, under four ids.
    copies = e.check(shared).paragraphs[0].matches
    assert sorted(m.source.document_id for m in copies) == [f"shared-{t}" for t in range(4)]


def test_engine_work_releases_the_gil():
    e = neardup.Engine()
    rng = random.Random(4)
    e.submit("archive", "\n\n".join(corpus.paragraph(rng) for _ in range(300)))
    big = "\n\n".join(corpus.paragraph(rng) for _ in range(600))
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    time.sleep(0.01)
    start = time.perf_counter()
    e.check(big)
    end = time.perf_counter()
    done.set()
    ticker.join()
    # Python ran in the middle of the call: the GIL was released. Holding it would leave
    # no tick there (the margins cover the moments before and after the call proper).
    margin = 0.15 * (end - start)
    inside = [t for t in ticks if start + margin < t < end - margin]
    assert len(inside) >= 3, (end - start, len(ticks))


def test_folding_and_boilerplate_settings():
    hans = "我们在北京的会议上讨论了这个问题的各个方面，并且决定下个月继续开会讨论后续的安排。"
    hant = "我們在北京的會議上討論了這個問題的各個方面，並且決定下個月繼續開會討論後續的安排。"
    folded = neardup.Engine(fold="simplified")
    folded.submit("hans", hans)
    [p] = folded.check(hant).paragraphs
    assert p.status == "recycled" and p.matches[0].kind == "exact"
    # The span is on the Traditional characters as written (final punctuation aside).
    span = p.matches[0].spans[0]
    assert hant[span.start : span.end] == hant[:-1]
    plain = neardup.Engine()
    plain.submit("hans", hans)
    assert plain.check(hant).paragraphs[0].status == "new"
    # A masthead in 4 documents is boilerplate with boilerplate=4: no matches, not recycled.
    engine = neardup.Engine(boilerplate=4)
    masthead = "The Riverside Gazette is published weekly by the Riverside Press for its readers."
    for n in range(3):
        engine.submit(f"issue-{n}", masthead + "\n\n" + f"Article {n} " + "word " * 12 * (n + 1))
    report = engine.check(masthead)
    assert report.paragraphs[0].boilerplate and report.paragraphs[0].matches == []
    assert report.summary.boilerplate == 1 and report.summary.recycled == 0
    with pytest.raises(ValueError, match="fold"):
        neardup.Engine(fold="pinyin")
