"""Text normalisation: the ASCII fast path reads every text exactly as the general path does."""

from __future__ import annotations

import random
import string

from monitor.domain.analysis.text import normalize, normalize_any, sentences

# every ASCII whitespace kind (str.split and the regex \s must agree on them), hyphens, quotes
_ALPHABET = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f-`'\"" + string.ascii_letters[:6] + ".,;"


def test_ascii_fast_path_equals_the_general_path() -> None:
    rng = random.Random(4)
    texts = ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 40))) for _ in range(20_000)]
    texts += ["", "   ", "A `quoted` cease-fire\tstatement.\n Next one."]
    for text in texts:
        assert text.isascii()
        assert normalize(text) == normalize_any(text), repr(text)


def test_non_ascii_text_unifies_quotes_and_hyphens_at_the_same_offsets() -> None:
    cased, low = normalize("“Cease‐fire”  now,\u00a0he said.")
    assert cased == "\"Cease‐fire\" now, he said."
    assert low == "\"cease fire\" now, he said."
    assert len(cased) == len(low)


def test_sentences_skip_abbreviations() -> None:
    cased, _ = normalize("Talks with the U.S. resume on Monday. Mr. Smith agreed.  Nothing has changed.")
    assert [cased[a:b] for a, b in sentences(cased)] == [
        "Talks with the U.S. resume on Monday.",
        "Mr. Smith agreed.",
        "Nothing has changed.",
    ]
