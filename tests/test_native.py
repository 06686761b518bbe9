"""The native core reads text exactly as the Python analyzer: normalisation, sentences, lexicon, rules.

A differential test of ``monitor_native`` (``native/src``) against ``monitor/domain/analysis``,
its specification, over every statement of the labeled sets and of the benchmark's novel
corpus (thousands of statements that almost never repeat a sentence):

* every sentence gives the same normalised text, sentence spans and lexicon hits (offsets,
  text, meanings, in order); the native core reads ASCII only, so non-ASCII texts are left out;
* every statement, with and without its speaker, gives the same ``Analysis`` through
  ``RuleAnalyzer.analyze`` with the native core as through the Python rules (non-ASCII texts
  included: the analyzer itself decides which texts the core reads).

Without the module (the ``monitor_native`` fixture of conftest.py) the tests are skipped,
except under CI (``$CI`` set), where they fail.
"""

from __future__ import annotations

import json
import random
import string
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from bench_corpus import bench_engine

from monitor.domain.analysis import native
from monitor.domain.analysis.lexicon import _TOKEN, Hit
from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.analysis.text import normalize, sentences

HERE = Path(__file__).parent
ROOT = HERE.parent
LABELED = [*sorted((HERE / "cases").glob("*.jsonl")), ROOT.parent / "shared" / "eval" / "dev_cases.jsonl"]
NOVEL = 4000  # statements of the benchmark's novel corpus (about 10,000 sentences)


@cache
def _analyzer() -> RuleAnalyzer:
    return RuleAnalyzer(sentence_cache=0, native=False)


@pytest.fixture(scope="module")
def core(monitor_native: ModuleType) -> native.NativeCore:
    return native.core_for(_analyzer())


@cache
def _statements() -> tuple[tuple[str, str | None], ...]:
    """``(text, speaker)`` of the labeled sets (those present here) and of the novel corpus."""
    out: list[tuple[str, str | None]] = []
    for path in LABELED:
        if not path.exists():
            continue
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                out.extend((st["text"], st.get("speaker")) for st in json.loads(line)["statements"])
    out.extend((e.text, e.speaker) for e in bench_engine().novel_corpus(NOVEL, 5))
    return tuple(out)


@cache
def _texts() -> tuple[str, ...]:
    """The ASCII statement texts."""
    return tuple(text for text, _ in _statements() if text.isascii())


@cache
def _sentences() -> tuple[str, ...]:
    """The lowered sentences of every text, as the analyzer scans them."""
    out: list[str] = []
    for text in _texts():
        cased, low = normalize(text)
        out.extend(low[a:b] for a, b in sentences(cased))
    return tuple(out)


def _plain(hits: list[Hit]) -> list[native.NativeHit]:
    return [(h.start, h.end, h.text, [(m.role, m.topic, m.pol, m.value, m.obj) for m in h.meanings]) for h in hits]


def test_the_corpus_is_large_and_ascii() -> None:
    assert len(_texts()) > NOVEL
    assert len(_sentences()) > 2 * NOVEL


def test_normalize_and_sentences_match(core: native.NativeCore) -> None:
    rng = random.Random(9)
    # every ASCII whitespace kind, quotes and brackets around sentence ends, abbreviations, initials
    alphabet = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f-`'\"()[].!?.,;" + string.ascii_letters[:8] + "AJMU01"
    fuzz = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(20_000)]
    tricky = ["", " ", 'U.S. Mr. Smith. J. Doe. "No." (Yes.) [Then] 5 more.', "a.\tB!? 'C ... D"]
    for text in [*_texts(), *tricky, *fuzz]:
        cased, low = normalize(text)
        assert core.normalize(text) == (cased, low), repr(text)
        assert core.sentences(cased) == sentences(cased), repr(cased)
        assert core.sentences(text) == sentences(text), repr(text)


def test_phrase_tokens_match(monitor_native: ModuleType) -> None:
    for phrase in _analyzer()._lexicon.phrases:
        body = phrase[:-1] if phrase.endswith("*") else phrase
        assert monitor_native.phrase_tokens(body) == _TOKEN.findall(body), phrase


def test_scan_matches_hit_by_hit(core: native.NativeCore) -> None:
    lexicon = _analyzer()._lexicon
    mismatches = [s for s in _sentences() if core.scan(s) != _plain(lexicon.scan(s))]
    assert not mismatches, f"{len(mismatches)} of {len(_sentences())} sentences differ, e.g. {mismatches[:3]}"


def test_scan_matches_on_odd_tokens(core: native.NativeCore) -> None:
    """Numbers before "%" (Python's float() reads "1_000" and "5e3"), contractions, apostrophes,
    punctuation, stems and phrases cut short, shuffled from the lexicon's own words."""
    lexicon = _analyzer()._lexicon
    words = sorted({w for p in lexicon.phrases for w in p.rstrip("*").split() if w.isascii()})
    stems = sorted({p.rstrip("*").split()[-1] for p in lexicon.phrases if p.endswith("*") and p.isascii()})
    words += [s + end for s in stems for end in ("", "s", "ing", "ed", "ion", "_x")]
    numbers = ["5", "1_000", "1__0", "5e3", "1e999", "12abc", "007", "%", "percent"]
    odd = [*numbers, "n't", "don't", "'s", "it's", ",", ";", ":", "(", ")", "-", "'", "_"]
    rng = random.Random(3)
    for _ in range(20_000):
        parts = [rng.choice(odd) if rng.random() < 0.3 else rng.choice(words) for _ in range(rng.randint(1, 12))]
        low = rng.choice([" ", "", "  "]).join(parts) if rng.random() < 0.2 else " ".join(parts)
        assert core.scan(low) == _plain(lexicon.scan(low)), repr(low)


def test_non_ascii_text_is_refused(core: native.NativeCore) -> None:
    for call in (core.normalize, core.sentences, core.scan):
        with pytest.raises(ValueError, match="ASCII"):
            call("cease\u2011fire")


def test_core_refuses_what_it_cannot_read(monitor_native: ModuleType) -> None:
    phrases, topics, no, yes, default, red_lines = native.core_arguments(_analyzer())
    assert monitor_native.Core(phrases, topics, no, yes, default, red_lines).size == len(phrases)
    with pytest.raises(ValueError, match='"shout"'):
        monitor_native.Core([("loud", [("shout", None, 0, 0.0, None)])], topics, no, yes, default)
    with pytest.raises(ValueError, match='"nowhere"'):
        monitor_native.Core([("loud", [("cue", "nowhere", 0, 0.0, None)])], topics, no, yes, default)
    with pytest.raises(ValueError, match='"nowhere"'):
        monitor_native.Core(phrases, topics, no, yes, "nowhere")


def test_analyze_matches_statement_by_statement(core: native.NativeCore) -> None:
    python = _analyzer()
    reader = RuleAnalyzer(sentence_cache=0, native=False)
    reader._native = core  # the analyzer's own routing to the core (ASCII, or ASCII once normalised)
    # typographic quotes and dashes (the core reads them once normalised) and non-ASCII names (it does not)
    typographic = [
        (text.replace("'", "\u2019").replace(" - ", " \u2014 ").replace("Russia", "R\u00fcssia"), who)
        for text, who in _statements()[::10]
    ]
    statements = [*_statements(), *typographic]
    differ = [
        (text, speaker)
        for text, who in statements
        for speaker in (who, None)
        if reader.analyze(text, speaker=speaker) != python.analyze(text, speaker=speaker)
    ]
    if differ:
        text, speaker = differ[0]
        pytest.fail(
            f"{len(differ)} of {2 * len(statements)} analyses differ; the first, {text!r} (speaker {speaker!r}):\n"
            f"native: {reader.analyze(text, speaker=speaker)}\npython: {python.analyze(text, speaker=speaker)}"
        )
