"""Writes magazine-hant.jsonl: every distinct paragraph of the magazine (zh-Hans) with its
zh-Hant forms as OpenCC's own converter gives them (standard, Taiwan and Hong Kong
character variants; no vocabulary conversion, so the texts stay aligned in length only
where OpenCC keeps them so: nothing here assumes it).

Run once, from the repository root, with the `opencc` package from PyPI:

    pip install opencc==1.4.2
    python3 tests/data/zh-hant/make_fixture.py

The output is committed; the tests never run this script.
"""
import json
import re

import opencc

SOURCE = "tests/data/magazine-zh/magazine.txt"
OUTPUT = "tests/data/zh-hant/magazine-hant.jsonl"


def main():
    text = open(SOURCE, encoding="utf-8").read()
    seen = set()
    converters = {name: opencc.OpenCC(name) for name in ("s2t", "s2tw", "s2hk")}
    with open(OUTPUT, "w", encoding="utf-8") as out:
        for block in re.split(r"\n\s*\n", text):
            para = block.strip().lstrip("#").strip()
            # Headings and bylines are too short to judge; keep real paragraphs only.
            if len(para) < 40 or para in seen:
                continue
            seen.add(para)
            row = {"hans": para}
            row.update({name: c.convert(para) for name, c in converters.items()})
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
