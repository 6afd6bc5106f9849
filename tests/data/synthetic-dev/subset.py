#!/usr/bin/env python3
"""Writes the redistributable subset of synthetic-dev into this folder.

    python3 tests/data/synthetic-dev/subset.py DATA/synthetic-dev

keeps the source and distractor paragraphs of the corpora listed in REDISTRIBUTABLE
(their licences are in SOURCE.txt) and the variants whose every referenced paragraph
(source_id, secondary_source_id, negative_of_id, also_similar) is kept. Lines are copied
byte for byte: the texts and the exact `metrics` figures are the data's own.
"""
import json
import os
import sys

REDISTRIBUTABLE = {
    # English
    "cataclysm-dda", "debian-handbook", "django-doc", "gimp-help", "linux-doc",
    "perl-doc", "postgresql-doc", "python-doc", "sklearn-doc", "sotu", "spam-assassin",
    # Chinese
    "debian-handbook-zh", "debian-reference-zh", "installation-guide-zh",
    "libreoffice-help-zh", "linux-doc-zh",
}


def main(src_dir):
    out_dir = os.path.dirname(os.path.abspath(__file__))
    kept = set()
    with open(os.path.join(src_dir, "sources.jsonl"), encoding="utf-8") as f, \
            open(os.path.join(out_dir, "sources.jsonl"), "w", encoding="utf-8") as out:
        for line in f:
            row = json.loads(line)
            if row["corpus"] in REDISTRIBUTABLE:
                kept.add(row["id"])
                out.write(line)
    with open(os.path.join(src_dir, "variants.jsonl"), encoding="utf-8") as f, \
            open(os.path.join(out_dir, "variants.jsonl"), "w", encoding="utf-8") as out:
        for line in f:
            row = json.loads(line)
            refs = [row["source_id"]]
            refs += [row[k] for k in ("secondary_source_id", "negative_of_id") if k in row]
            refs += [a["id"] for a in row.get("also_similar", [])]
            if all(r in kept for r in refs):
                out.write(line)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
