"""Same paragraphs through rensa, datasketch and neardup; one table of ratios.

Run by bench/compare.sh (which makes the virtual environment and builds neardup's
`sigbench` example). Everything is single-threaded (RAYON_NUM_THREADS=1 is set for
rensa's bulk paths) and every figure is the median of several repetitions, all taken
in this one run so the ratios share the machine's load.

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


def median_seconds(fn, repeat, min_seconds):
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    passes = max(1, int(min_seconds / once + 0.999))
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(passes):
            fn()
        samples.append((time.perf_counter() - start) / passes)
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("paragraphs")
    ap.add_argument("--sigbench", required=True, help="path to neardup's sigbench binary")
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--min-seconds", type=float, default=0.3)
    ap.add_argument("--json", help="also write all figures here")
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

    rows = []  # (tool, lang, stage, per_sec)
    langs = sorted({lang for lang, _ in paragraphs})
    R = rensa.RMinHash
    for lang in langs:
        idx = [i for i, (l, _) in enumerate(paragraphs) if l == lang]
        texts = [paragraphs[i][1] for i in idx]
        sh = [all_shingles[i] for i in idx]
        sh_bytes = [[s.encode("utf-8") for s in lst] for lst in sh]
        n = len(texts)

        def rensa_text():
            for t in texts:
                m = R(NUM_PERM, SEED)
                m.update(shingles(tokenize(t), lang))
                m.digest()

        def rensa_shingles():
            for lst in sh:
                m = R(NUM_PERM, SEED)
                m.update(lst)
                m.digest()

        def rensa_bulk():
            R.digest_matrix_from_token_sets(sh, NUM_PERM, SEED)

        def python_tokenize():
            for t in texts:
                shingles(tokenize(t), lang)

        def datasketch_shingles():
            for lst in sh_bytes:
                m = datasketch.MinHash(num_perm=NUM_PERM, seed=SEED)
                m.update_batch(lst)
                m.digest()

        for stage, fn, reps in [
            ("text", rensa_text, args.repeat),
            ("shingles", rensa_shingles, args.repeat),
            ("shingles-bulk", rensa_bulk, args.repeat),
            ("tokenize-only", python_tokenize, args.repeat),
        ]:
            s = median_seconds(fn, reps, args.min_seconds)
            rows.append(("rensa" if stage != "tokenize-only" else "python", lang, stage, n / s))
        s = median_seconds(datasketch_shingles, max(3, args.repeat // 2), args.min_seconds)
        rows.append(("datasketch", lang, "shingles", n / s))

    out = subprocess.run(
        [
            args.sigbench,
            args.paragraphs,
            "--shingles",
            shingle_path,
            "--repeat",
            str(args.repeat),
            "--min-seconds",
            str(args.min_seconds),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    impl = "?"
    for line in out.splitlines():
        d = json.loads(line)
        impl = d["minhash"]
        rows.append(("neardup", d["lang"], d["stage"], d["per_sec"]))

    rate = {(t, l, s): v for t, l, s, v in rows}
    print(
        f"rensa {version('rensa')}, datasketch {version('datasketch')}, "
        f"neardup minhash loop: {impl}; {NUM_PERM} permutations, single thread"
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
    ]
    for tool, stage, label in labels:
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
