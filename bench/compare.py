"""Same paragraphs through rensa, datasketch and neardup; one table of ratios.

Run by bench/compare.sh (which makes the virtual environment and builds neardup's
`sigbench` example). Everything is single-threaded (RAYON_NUM_THREADS=1 is set for
rensa's bulk paths). Times are process CPU time on both sides (time.process_time and
CLOCK_PROCESS_CPUTIME_ID): on a shared machine wall time mostly measures the other
processes. The measurements run in interleaved rounds (every tool once per round,
neardup's binary included) and each figure is the median over the rounds, so a change
in the machine's load during the run hits every tool alike.

Python-side tokenization is an ordinary, fair one that matches neardup's defaults:
NFKC + casefold, regex words, one token per CJK/Kana/Thai-family character, then
word 2-grams for English and 3-grams of tokens for Chinese (neardup's k = 2 words,
where a Chinese character weighs 2/3 of a word).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import unicodedata

NUM_PERM = 128
SEED = 42

# One token per character for scripts written without spaces; words otherwise.
_UNSPACED = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3100-\u312f"  # Bopomofo
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\U00020000-\U0003134f"
)
TOKEN = re.compile(f"[{_UNSPACED}]|[^\\W_{_UNSPACED}]+")


def tokenize(text):
    return TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(tokens, lang):
    k = 3 if lang == "zh" else 2
    if len(tokens) <= k:
        return [" ".join(tokens)] if tokens else []
    return [" ".join(tokens[i : i + k]) for i in range(len(tokens) - k + 1)]


def pass_seconds(fn, min_seconds, clock=time.process_time):
    """Seconds per call of `fn`, calling it for at least `min_seconds`."""
    start = clock()
    fn()
    once = max(clock() - start, 1e-6)
    passes = max(1, int(min_seconds / once + 0.999))
    start = clock()
    for _ in range(passes):
        fn()
    return (clock() - start) / passes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("paragraphs")
    ap.add_argument("--sigbench", required=True, help="path to neardup's sigbench binary")
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--repeat", type=int, default=7, help="interleaved rounds")
    ap.add_argument("--min-seconds", type=float, default=0.3)
    ap.add_argument("--json", help="also write all figures here")
    ap.add_argument(
        "--wall", action="store_true", help="wall time instead of process CPU time, both sides"
    )
    args = ap.parse_args()

    import datasketch
    import rensa
    from importlib.metadata import version

    paragraphs = []
    with open(args.paragraphs, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                paragraphs.append((d["lang"], d["text"]))

    os.makedirs(args.out, exist_ok=True)
    shingle_path = os.path.join(args.out, "shingles.jsonl")
    all_shingles = [shingles(tokenize(t), lang) for lang, t in paragraphs]
    with open(shingle_path, "w", encoding="utf-8") as f:
        for s in all_shingles:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")

    langs = sorted({lang for lang, _ in paragraphs})
    R = rensa.RMinHash
    python_stages = []  # (tool, lang, stage, fn, paragraphs)
    for lang in langs:
        idx = [i for i, (l, _) in enumerate(paragraphs) if l == lang]
        texts = [paragraphs[i][1] for i in idx]
        sh = [all_shingles[i] for i in idx]
        sh_bytes = [[s.encode("utf-8") for s in lst] for lst in sh]

        def rensa_text(texts=texts, lang=lang):
            for t in texts:
                m = R(NUM_PERM, SEED)
                m.update(shingles(tokenize(t), lang))
                m.digest()

        def rensa_shingles(sh=sh):
            for lst in sh:
                m = R(NUM_PERM, SEED)
                m.update(lst)
                m.digest()

        def rensa_bulk(sh=sh):
            R.digest_matrix_from_token_sets(sh, NUM_PERM, SEED)

        def python_tokenize(texts=texts, lang=lang):
            for t in texts:
                shingles(tokenize(t), lang)

        def datasketch_shingles(sh_bytes=sh_bytes):
            for lst in sh_bytes:
                m = datasketch.MinHash(num_perm=NUM_PERM, seed=SEED)
                m.update_batch(lst)
                m.digest()

        n = len(texts)
        python_stages += [
            ("python", lang, "tokenize-only", python_tokenize, n),
            ("rensa", lang, "text", rensa_text, n),
            ("rensa", lang, "shingles", rensa_shingles, n),
            ("rensa", lang, "shingles-bulk", rensa_bulk, n),
            ("datasketch", lang, "shingles", datasketch_shingles, n),
        ]

    clock = time.perf_counter if args.wall else time.process_time
    samples = {}  # (tool, lang, stage) -> [per_sec per round]
    impl = "?"
    for _ in range(args.repeat):
        for tool, lang, stage, fn, n in python_stages:
            samples.setdefault((tool, lang, stage), []).append(
                n / pass_seconds(fn, args.min_seconds, clock)
            )
        out = subprocess.run(
            [
                args.sigbench,
                args.paragraphs,
                "--shingles",
                shingle_path,
                "--repeat",
                "1",
                "--min-seconds",
                str(args.min_seconds),
            ]
            + (["--wall"] if args.wall else []),
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for line in out.splitlines():
            d = json.loads(line)
            impl = d["minhash"]
            samples.setdefault(("neardup", d["lang"], d["stage"]), []).append(d["per_sec"])
    rows = [(t, l, s, statistics.median(v)) for (t, l, s), v in samples.items()]

    rate = {(t, l, s): v for t, l, s, v in rows}
    print(
        f"rensa {version('rensa')}, datasketch {version('datasketch')}, "
        f"neardup minhash loop: {impl}; {NUM_PERM} permutations, single thread, "
        f"{'wall' if args.wall else 'CPU'} time, median of {args.repeat} interleaved rounds"
    )
    print(f"{'tool':<11}{'stage':<30}" + "".join(f"{l + ' para/s':>16}" for l in langs))
    labels = [
        ("python", "tokenize-only", "NFKC+casefold+regex+shingles"),
        ("rensa", "text", "text->sig (Python tokens)"),
        ("rensa", "shingles", "shingles->sig (RMinHash)"),
        ("rensa", "shingles-bulk", "shingles->sig (bulk matrix)"),
        ("datasketch", "shingles", "shingles->sig (MinHash)"),
        ("neardup", "text", "text->sig"),
        ("neardup", "strings", "shingles->sig (xxh3 strings)"),
        ("neardup", "set", "shingle hashes->sig"),
        ("neardup", "set-portable", "  same, portable loop"),
        ("neardup", "set-avx2", "  same, AVX2 loop"),
        ("neardup", "set-avx512", "  same, AVX-512 loop"),
    ]
    for tool, stage, label in labels:
        if not any((tool, l, stage) in rate for l in langs):
            continue
        vals = "".join(f"{rate.get((tool, l, stage), float('nan')):>16,.0f}" for l in langs)
        print(f"{tool:<11}{label:<30}{vals}")

    print()
    print("ratios (neardup / other), target in brackets:")
    targets = {"en": 6, "zh": 10}
    checks = []
    for lang in langs:
        nd_text = rate[("neardup", lang, "text")]
        nd_str = rate[("neardup", lang, "strings")]
        nd_set = rate[("neardup", lang, "set")]
        t = targets.get(lang, 6)
        checks += [
            (lang, "text->sig vs rensa+Python tokens", nd_text / rate[("rensa", lang, "text")], t),
            (lang, "shingles->sig vs rensa RMinHash", nd_str / rate[("rensa", lang, "shingles")], 3),
            (lang, "shingles->sig vs rensa bulk", nd_str / rate[("rensa", lang, "shingles-bulk")], None),
            (lang, "shingles->sig vs datasketch", nd_str / rate[("datasketch", lang, "shingles")], 50),
            (lang, "hashes->sig vs rensa RMinHash", nd_set / rate[("rensa", lang, "shingles")], None),
        ]
    ok = True
    for lang, what, r, target in checks:
        mark = ""
        if target is not None:
            met = r >= target
            ok &= met
            mark = f"[>= {target}x: {'ok' if met else 'MISSED'}]"
        print(f"  {lang}  {what:<36}{r:>8.1f}x  {mark}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "ratios": checks, "minhash": impl}, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
