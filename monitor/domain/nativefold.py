"""The native fold: :meth:`Detector.step <monitor.domain.detector.Detector.step>` in Rust.

``monitor_native.Fold`` (``native/src/fold.rs``) reads a statement with the native analyzer
core and folds its claims into the actor's state without making Python objects of them: the
seen-window fingerprint, counterpart keying, merging, deciding and the alerts all run natively,
and only what the new state and the alerts hold is built (as :mod:`monitor.domain.fast` builds
models). The Python fold (``detector.py``, ``stance.py``, ``counterparts.py``) stays the
specification and the fallback: ``tests/test_native_fold.py`` runs both over the labeled sets and
tens of thousands of generated statements and requires the same states and alerts, to the byte
of their JSON.

:func:`native_fold` builds one for a :class:`Detector` when it applies: the detector is the
default engine (a :class:`Detector`, not a subclass, reading with a
:class:`~monitor.domain.analysis.rules.RuleAnalyzer` whose native core is in use). Its ``step``
returns None for a statement it does not take (text that is not ASCII once normalised, a stored
stance holding values the engine does not write): the caller then runs the Python fold. Wiring::

    native = native_fold(detector)          # once, when the detector is built
    ...
    if native is not None and (out := native.step(state, event)) is not None:
        return out
    # ... the Python fold
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from monitor.domain.analysis.native import native_module
from monitor.domain.analysis.text import normalize_any
from monitor.domain.models import (
    Alert,
    AlertKind,
    Modality,
    Polarity,
    Severity,
    StanceState,
    StatementEvent,
    StatementRef,
    TopicStance,
)

if TYPE_CHECKING:
    from monitor.domain.analysis import Analysis
    from monitor.domain.analysis.rules import RuleAnalyzer
    from monitor.domain.detector import Detector
    from monitor.domain.stance import EngineConfig

__all__ = ["NativeFold", "NativeStep", "native_fold", "python_fold_detector"]

log = logging.getLogger(__name__)

NativeStep = Callable[[StanceState, StatementEvent], tuple[StanceState, list[Alert]] | None]
"""``step(state, event)``: ``(new_state, alerts)`` as ``Detector.step`` gives them, or None."""

_STEP_FIELDS = frozenset(("topics", "seen", "statements", "undecided"))


def _speaker_parts(speaker: str) -> list[str]:
    from monitor.domain.analysis.rules import speaker_words

    return list(speaker_words(speaker))  # a list: the native side reads a sequence


def _normalized(text: str) -> str:
    return normalize_any(text)[0]


class NativeFold:
    """The native fold of one detector: ``step(state, event)`` (a method of the Rust object, so a
    call goes straight to native code)."""

    def __init__(self, fold: Any) -> None:
        self.native = fold
        self.step: NativeStep = fold.step


def native_fold(detector: Detector) -> NativeFold | None:
    """The native fold for ``detector``, or None when it does not apply (see the module doc)."""
    from monitor.domain.analysis.rules import RuleAnalyzer
    from monitor.domain.detector import Detector

    if type(detector) is not Detector:  # a subclass may not even have an analyzer
        return None
    analyzer = detector.analyzer
    if type(analyzer) is not RuleAnalyzer or analyzer._native is None:
        return None
    module = native_module()
    if module is None:
        return None
    if not hasattr(module, "Fold"):
        log.info("monitor_native has no native fold (rebuild it with make): the fold runs in Python")
        return None
    try:
        return NativeFold(module.Fold(*fold_arguments(detector)))
    except (AttributeError, TypeError, ValueError) as exc:  # the detector's internals changed shape
        log.warning("the native fold does not fit this detector (%s): the fold runs in Python", exc)
        return None


def fold_arguments(detector: Detector) -> tuple[Any, ...]:
    """The arguments of ``monitor_native.Fold`` for ``detector`` (see ``native/src/fold.rs``)."""
    analyzer: Any = detector.analyzer
    cfg = detector.config
    per_counterpart = detector._per_counterpart
    topics = [
        (t.id, analyzer.topic_name(t.id), Severity(analyzer.topic_severity(t.id)).rank, t.id in per_counterpart,
         detector._families.get(t.id))
        for t in analyzer.pack.topics
    ]
    config = (
        float(cfg.escalation_threshold), float(cfg.escalation_floor), float(cfg.magnitude_ratio),
        float(cfg.magnitude_min_step), float(cfg.min_confidence), float(cfg.prior_min_confidence),
        float(cfg.escalation_min_confidence), cfg.seen_window, cfg.quote_chars,
    )
    counterparts: Any = detector._counterparts
    gazetteer = (
        list(counterparts._by_name.items()),
        list(counterparts._names.items()),
        list(counterparts._actor_words.items()),
        list(counterparts._actor_prefixes),
    )
    models = (StanceState, TopicStance, StatementRef, Alert)
    members = (
        Polarity.PRO, Polarity.CONTRA, Modality.ASSERTED, Modality.HEDGED,
        Modality.CONDITIONAL, AlertKind.CONTRADICTION, AlertKind.ESCALATION, Severity.LOW, Severity.MEDIUM,
        Severity.HIGH, Severity.CRITICAL, Alert.model_fields["schema_version"].default,
    )
    fields = (
        frozenset(TopicStance.model_fields),
        frozenset(StatementRef.model_fields),
        frozenset(Alert.model_fields) - {"schema_version"},  # what fast.build reports as set
        _STEP_FIELDS,
    )
    from monitor.domain.detector import _seen_key  # the Python fold's own key of the seen window

    helpers = (_seen_key, _normalized, _speaker_parts)
    return (
        analyzer._native, topics, config, gazetteer, detector.version,
        models, [list(m.model_fields) for m in models], list(members), fields, helpers,
    )


class _SpecReading:
    """A ``RuleAnalyzer`` under another type: it reads as the analyzer does (its native core
    included), but :func:`native_fold` does not apply to it, so its detector folds in Python."""

    def __init__(self, inner: RuleAnalyzer) -> None:
        self.inner = inner
        self.name = inner.name
        self.pack = inner.pack

    def analyze(self, text: str, *, speaker: str | None = None) -> Analysis:
        return self.inner.analyze(text, speaker=speaker)

    def topic_name(self, topic: str) -> str:
        return self.inner.topic_name(topic)

    def topic_severity(self, topic: str) -> str:
        return self.inner.topic_severity(topic)


def python_fold_detector(analyzer: RuleAnalyzer, config: EngineConfig | None = None) -> Detector:
    """A detector reading with ``analyzer`` that folds in Python: the specification the native fold
    is checked against (``tests/test_native_fold.py``, ``bench/bench_fold_native.py``)."""
    from monitor.domain.detector import Detector

    return Detector(_SpecReading(analyzer), config)
