"""The native analyzer core (``monitor_native``, built from ``native/``): its Python side.

The core is a Rust port of this package's text, lexicon and rules modules, which stay the
specification: a differential test (``tests/test_native*.py``) checks that it reads every
sentence exactly as they do. It is optional; :func:`available` says whether it is installed.

The core holds no data of its own: :func:`core_for` hands it what a
:class:`~monitor.domain.analysis.rules.RuleAnalyzer` compiled (its phrase table in insertion
order, its topic specs and its answer lists) as plain values. It reads ASCII text only (its
offsets are bytes); its methods raise ``ValueError`` on anything else.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, cast

from monitor.domain.models import Polarity

if TYPE_CHECKING:
    from monitor.domain.analysis.rules import RuleAnalyzer

# What the core's methods return, as plain values (see native/monitor_native.pyi).
NativeMeaning = tuple[str, str | None, int, float, str | None]  # (role, topic, pol, value, obj)
NativeHit = tuple[int, int, str, list[NativeMeaning]]  # (start, end, text, meanings)
# (key, polarity, intensity, modality, category, confidence, sentence, cues, neg_cues, mod_cues,
#  magnitude, explicit)
NativeClaim = tuple[
    str, str, float, str, str | None, float, str, tuple[str, ...], tuple[str, ...], tuple[str, ...], float | None, bool
]
NativeRelation = tuple[str, str, str, str]  # (topic, relation, cue, sentence)
NativeTopic = tuple[str, float, float, int, bool, bool, int | None, bool]


class NativeCore(Protocol):
    """``monitor_native.Core``: the compiled analyzer (typed here, so the package type-checks
    whether or not the extension is built)."""

    @property
    def size(self) -> int:
        """Number of phrases compiled."""
        ...

    def normalize(self, text: str) -> tuple[str, str]:
        """``text.normalize``."""
        ...

    def sentences(self, cased: str) -> list[tuple[int, int]]:
        """``text.sentences``."""
        ...

    def scan(self, low: str) -> list[NativeHit]:
        """``Lexicon.scan``, as plain values."""
        ...

    def analyze(self, text: str, speaker_parts: list[str]) -> tuple[list[NativeClaim], list[NativeRelation], list[str]]:
        """``RuleAnalyzer.analyze`` (the speaker as its parts), as plain values."""
        ...


def native_module() -> ModuleType | None:
    """The extension module ``monitor_native``, or None when it is not built."""
    try:
        return importlib.import_module("monitor_native")
    except ImportError:
        return None


def available() -> bool:
    """Whether the native core is installed (built by ``make`` when cargo is there)."""
    return native_module() is not None


def _sign(p: Polarity) -> int:
    return 1 if p is Polarity.PRO else -1


def core_arguments(
    analyzer: RuleAnalyzer,
) -> tuple[list[tuple[str, list[NativeMeaning]]], list[NativeTopic], list[str], list[str], str | None, list[str]]:
    """The arguments of ``monitor_native.Core`` for what ``analyzer`` compiled."""
    phrases = [
        (phrase, [(m.role, m.topic, m.pol, float(m.value), m.obj) for m in meanings])
        for phrase, meanings in analyzer._lexicon.phrases.items()
    ]
    topics: list[NativeTopic] = [
        (
            t.id,
            t.intensity.get(Polarity.PRO, 0.0),
            t.intensity.get(Polarity.CONTRA, 0.0),
            _sign(t.threat),
            t.threat_explicit,
            t.trigger_frame,
            None if t.change is None else _sign(t.change),
            t.magnitude == "percent",
        )
        for t in analyzer.pack.topics
    ]
    return (
        phrases,
        topics,
        sorted(analyzer._answers_no),
        sorted(analyzer._answers_yes),
        analyzer._threat_default,
        sorted(analyzer._red_lines),
    )


def core_for(analyzer: RuleAnalyzer) -> NativeCore:
    """A native core reading exactly as ``analyzer`` (raises ImportError if it is not installed)."""
    module = native_module()
    if module is None:
        raise ImportError("monitor_native is not installed (make builds it from native/ when cargo is there)")
    return cast(NativeCore, module.Core(*core_arguments(analyzer)))
