"""Synthetic corpora with known reuse, in English and Chinese, made from a seed."""

from __future__ import annotations

import random
from typing import Dict, List

SYLLABLES = [
    "ka", "lo", "mi", "ren", "tor", "va", "sel", "un", "dri", "po", "an", "es", "ti",
    "mar", "gol", "ne", "ro", "shi", "bel", "co", "dan", "fu", "ha", "jin", "lu",
]
HAN = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同"
    "工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起"
    "小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平"
    "形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意"
)


def english_paragraph(rng: random.Random, words: int) -> str:
    out = []
    for i in range(words):
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
        out.append(word.capitalize() if i == 0 else word)
    return " ".join(out) + "."


def chinese_paragraph(rng: random.Random, chars: int) -> str:
    text = "".join(rng.choice(HAN) for _ in range(chars))
    cut = [i for i in range(12, chars, rng.randint(10, 20))]
    for i in reversed(cut):
        text = text[:i] + "，" + text[i:]
    return text + "。"


def edit(rng: random.Random, text: str, rate: float) -> str:
    """A light edit: replaces, drops or inserts a share `rate` of the tokens."""
    spaced = " " in text
    tokens = text.split(" ") if spaced else list(text)
    out = []
    for t in tokens:
        r = rng.random()
        if r < rate / 3:
            continue
        if r < 2 * rate / 3:
            t = rng.choice(SYLLABLES) if spaced else rng.choice(HAN)
        out.append(t)
        if rng.random() < rate / 3:
            out.append(rng.choice(SYLLABLES) if spaced else rng.choice(HAN))
    return (" " if spaced else "").join(out)


def paragraph(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return english_paragraph(rng, rng.randint(8, 60))
    return chinese_paragraph(rng, rng.randint(15, 120))


def records(n: int, seed: int = 7, paragraphs: int = 1) -> List[Dict]:
    """`n` records of `paragraphs` paragraphs (1 to `paragraphs`, blank-line separated):
    new text, exact copies, light and heavy edits of earlier paragraphs, fragments, and
    records too short to judge."""
    rng = random.Random(seed)
    pool: List[str] = []
    out = []
    for i in range(n):
        parts = []
        for _ in range(rng.randint(1, paragraphs)):
            r = rng.random()
            if pool and r < 0.15:
                p = rng.choice(pool)
            elif pool and r < 0.35:
                p = edit(rng, rng.choice(pool), 0.1)
            elif pool and r < 0.45:
                p = edit(rng, rng.choice(pool), 0.4)
            elif pool and r < 0.5:
                source = rng.choice(pool)
                p = source[: max(1, len(source) * 2 // 3)]
            elif r < 0.53:
                p = rng.choice(["Short one.", "短句。", "ok"])
            else:
                p = paragraph(rng)
            pool.append(p)
            parts.append(p)
        out.append({"id": f"r{i}", "text": "\n\n".join(parts), "n": i})
    return out
