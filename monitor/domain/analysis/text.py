"""Text normalisation and sentence splitting, position-preserving.

The analyzer needs two views of a statement with the same character offsets: the cased
text (for sentence boundaries, proper nouns and quotes shown to analysts) and a lowered
view (for matching the lexicon). Normalisation therefore maps character to character,
except for runs of whitespace, which are collapsed once before both views are made.
"""

from __future__ import annotations

import re

_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"', "„": '"', "`": "'"})
_HYPHEN = str.maketrans({"-": " ", "‐": " ", "‑": " "})

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before
# whitespace and something that can start a sentence.
_BOUNDARY = re.compile(r"""[.!?]+["')\]]*\s+(?=["'(\[]?[A-Z0-9])""")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ABBREV = _words(
    "mr mrs ms dr prof gen lt col maj sgt st jr sr sen rep gov pres no vs etc approx jan feb mar apr "
    "jun jul aug sep sept oct nov dec u.s u.k e.u u.n inc ltd co corp dept est fig op vol"
)


def normalize(text: str) -> tuple[str, str]:
    """``(cased, lowered)``: same length, same offsets, quotes unified, whitespace collapsed.

    The lowered view reads hyphens as spaces ("cease-fire" == "cease fire").
    """
    if text.isascii():
        # the common case, without str.translate's per-character mapping lookups: in ASCII only
        # the backtick is a quote to unify and only "-" a hyphen, and lowering keeps the length
        cased = " ".join(text.replace("`", "'").split())  # str.split() and the regex \s agree on whitespace
        return cased, cased.lower().replace("-", " ")
    return normalize_any(text)


def normalize_any(text: str) -> tuple[str, str]:
    """:func:`normalize` for any text (the ASCII fast path must give the same result)."""
    cased = _WS.sub(" ", text.translate(_QUOTES)).strip()
    low = cased.lower()
    if len(low) != len(cased):  # a few code points lowercase to two characters
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in cased)
    return cased, low.translate(_HYPHEN)


def sentences(cased: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` of the normalised cased text."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(cased):
        head = cased[start : m.start()]
        last = head.rsplit(" ", 1)[-1].lower().strip("\"'(")
        if last in _ABBREV or (len(last) == 1 and last.isalpha()):
            continue
        spans.append((start, m.start() + len(m.group(0).rstrip())))
        start = m.end()
    if start < len(cased):
        spans.append((start, len(cased)))
    return spans


def fingerprint_text(text: str) -> str:
    """The words of ``text``, lowercased: two republications of a quote share it."""
    return " ".join(_WORD.findall(text.lower()))
