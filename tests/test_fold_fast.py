"""The fold's fast paths compute exactly what their plain definitions say.

The seen-window key and the gazetteer pattern are persisted or decide stance keys, so a faster
way to compute them must give the same values as the definition they replace.
"""

from __future__ import annotations

import random
import re

from monitor.domain.analysis.text import fingerprint_text
from monitor.domain.counterparts import Counterparts
from monitor.domain.detector import _seen_key
from monitor.domain.ids import digest


def _texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    ascii_pieces = [chr(c) for c in range(128)] + ["word", "Words", "  ", " - ", "it's", "U.S.", "25%", "a_b"]
    other = ["é", "É", "ß", "İ", "’", "“", "”", "—", "…", "\u00a0", "\u2009", "٣", "²", "ﬁ", "Straße", "Ελλάδα"]
    out = []
    for _ in range(n):
        pieces = ascii_pieces + (other if rng.random() < 0.3 else [])
        out.append("".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))))
    return out


def test_seen_key_is_the_digest_of_the_word_fingerprint() -> None:
    fixed = ["", " ", "We will not send tanks.", "WE  will\tnot\nsend tanks!!", "Tariffs of 25% on steel_2024.",
             "Élysée: “non” — c’est tout.", "\x00\x7f", "a" * 5000]
    for text in fixed + _texts(3000, 5):
        assert _seen_key(text) == digest(fingerprint_text(text), size=16), repr(text)


def test_gazetteer_pattern_matches_as_the_plain_alternation() -> None:
    c = Counterparts.builtin()
    names = list(c._by_name)
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    plain = re.compile(rf"(?<![\w.])(?<!\b[Ii]n )(?<!\b[Aa]t )({alternatives})(?:'s)?(?![\w])")
    rng = random.Random(1)
    pieces = [*names, "in ", "In ", "at ", "At ", "'s", "s", ".", " ", "x", "Nin ", "cat ", "-", "\n", "é", "_", "'"]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        expected = [(m.span(1), m.group(1)) for m in plain.finditer(text)]
        assert [(m.span(1), m.group(1)) for m in c._pattern.finditer(text)] == expected, text
