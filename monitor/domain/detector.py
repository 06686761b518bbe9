"""The detector: ``(state, event) -> (new_state, alerts)``. Pure and deterministic.

It reads a statement with an :class:`~monitor.domain.analysis.Analyzer` (the rule engine
by default), merges the claims per topic, folds each into the actor's stance with the
rules of :mod:`monitor.domain.stance`, and turns contradictions and escalations into
self-contained :class:`~monitor.domain.models.Alert` s. No clock, no I/O, no randomness:
the topic pack is read once, when the detector is built.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from monitor.domain.analysis import Analysis, Analyzer
from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.analysis.text import fingerprint_text
from monitor.domain.counterparts import SEPARATOR, Counterparts, split_key
from monitor.domain.fast import build, replace
from monitor.domain.ids import alert_id, digest
from monitor.domain.models import (
    Alert,
    AlertKind,
    Claim,
    Modality,
    Polarity,
    Severity,
    StanceState,
    StatementEvent,
    StatementRef,
    TopicStance,
)
from monitor.domain.stance import Decision, EngineConfig, decide, merge_claims
from monitor.domain.topics import load_pack

__all__ = ["Analyzer", "Detector", "EngineConfig"]

_SEVERITIES = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
_ALERT_QUOTE_CHARS = 1200
# Everything in monitor/domain that decides what an alert says: the rules, the fold, the
# models and ids it builds, and the data they read.
_DECIDING = (
    "analysis/*.py", "analysis/*.yaml", "topics/*.py", "topics/*.yaml",
    "detector.py", "stance.py", "fast.py", "ids.py", "models.py", "counterparts.py",
)


def code_digest(root: Traversable | None = None) -> str:
    """A short digest of the engine's source and data files (``root``: the installed package).

    Part of :attr:`Detector.version`, so a replay manifest or alert names the exact code that
    decided, not only the declared rule and data versions.
    """
    if root is None:
        root = resources.files(__package__)
    parts: list[str] = []
    for pattern in _DECIDING:
        folder, _, suffix = pattern.rpartition("*")
        base = root.joinpath(folder) if folder else root
        entries = sorted(base.iterdir(), key=lambda e: e.name) if folder else [root.joinpath(suffix)]
        for entry in entries:
            if entry.is_file() and entry.name.endswith(suffix):
                parts.extend((f"{folder}{entry.name}", entry.read_bytes().decode("utf-8")))
    return digest(*parts, size=8)


ENGINE_CODE = code_digest()  # computed once, at import: the files do not change under a running engine


class Detector:
    """Folds one statement into an actor's state and returns the alerts it raises.

    ``Detector()`` is the deterministic rule engine with the built-in topic pack.
    ``analyzer`` swaps the claim reader (see ``monitor.classifiers``); ``config`` sets the
    thresholds and extra topic packs.
    """

    def __init__(self, analyzer: Analyzer | None = None, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        if analyzer is None:
            analyzer = RuleAnalyzer(load_pack(self.config.topic_packs))
        self.analyzer: Analyzer = analyzer
        # topics keyed per counterpart state ("tariffs on China" and "tariffs on Mexico" are two stances)
        pack = getattr(analyzer, "pack", None) or load_pack(self.config.topic_packs)
        self._per_counterpart = frozenset(t.id for t in pack.topics if t.per_counterpart)
        self._counterparts = Counterparts.builtin()
        self._version = f"{analyzer.name}+code{ENGINE_CODE}+cfg{digest(self.config.model_dump_json(), size=6)}"

    @property
    def version(self) -> str:
        """Changes whenever the rules, lexicon, topic pack, thresholds or engine code change."""
        return self._version

    def analyze(self, event: StatementEvent) -> Analysis:
        """The claims of one statement (what :meth:`step` folds), for tools and tests."""
        return self.analyzer.analyze(event.text, speaker=event.speaker)

    def step(self, state: StanceState, event: StatementEvent) -> tuple[StanceState, list[Alert]]:
        cfg = self.config
        fp = digest(fingerprint_text(event.text), size=16)
        if fp in state.seen:
            # The same words again (a republication): evidence, never news.
            return replace(state, {"statements": state.statements + 1}), []
        seen = (*state.seen, fp)[-cfg.seen_window :] if cfg.seen_window else ()
        analysis = self.analyze(event)
        claims = analysis.claims
        if self._per_counterpart:
            claims = self._keyed(claims, event.actor)
        merged = merge_claims(claims)
        topics = dict(state.topics)
        candidates: list[tuple[Decision, Claim, TopicStance]] = []
        refs: dict[str, StatementRef] = {}
        for topic, claim in merged.items():
            ref = refs.get(claim.sentence)
            if ref is None:
                ref = refs[claim.sentence] = build(StatementRef, {
                    "id": event.id, "speaker": event.speaker, "quote": _clip(claim.sentence, cfg.quote_chars),
                    "source_url": event.source_url, "published_at": event.published_at,
                })
            prior = topics.get(topic)
            if prior is None and self._per_counterpart:
                prior = self._general(state.topics, topic)  # stances from before this statement
            decision = decide(prior, claim, ref, cfg)
            if decision.stance is not None:
                topics[topic] = decision.stance
            if decision.alert_kind is not None and prior is not None:
                candidates.append((decision, claim, prior))
        for rel in analysis.relations:
            prior = topics.get(rel.topic)
            if prior is not None and rel.relation == "same" and rel.topic not in merged:
                topics[rel.topic] = replace(prior, {"support": prior.support + 1})
        alerts = self._alerts(event, candidates)
        undecided = state.undecided + (1 if not merged and not analysis.relations else 0)
        new_state = replace(
            state, {"topics": topics, "seen": seen, "statements": state.statements + 1, "undecided": undecided}
        )
        return new_state, alerts

    # -- counterparts ----------------------------------------------------------------------

    def _keyed(self, claims: tuple[Claim, ...], actor: str) -> tuple[Claim, ...]:
        """Claims keyed by the state their sentence is about, for topics tracked per counterpart.

        Within one statement a sentence naming no state speaks of the state its other sentences
        on the topic name, when they all name the same one ("A ban on Russian aluminium. We
        will not let up.").
        """
        own = self._counterparts.own(actor)
        states: list[str | None] = []
        named: dict[str, set[str]] = {}
        for c in claims:
            state = None
            if self._tracked(c.topic):
                state = self._counterparts.counterpart(c.sentence, own)
                if state is not None:
                    named.setdefault(c.topic, set()).add(state)
            states.append(state)
        out: list[Claim] = []
        for c, state in zip(claims, states, strict=True):
            if state is None and len(named.get(c.topic, ())) == 1:
                state = next(iter(named[c.topic]))
            out.append(c if state is None else replace(c, {"topic": f"{c.topic}{SEPARATOR}{state}"}))
        return tuple(out)

    def _general(self, topics: dict[str, TopicStance], key: str) -> TopicStance | None:
        """The stance a claim is compared with when its own key has none yet.

        A claim about one state falls back to the stance stated without naming any ("we will
        not send tanks", then "tanks will go to Ukraine"); a claim naming no state falls back to
        the latest stance about any state. A claim about one state never meets another state's
        stance: Finland's accession ratified is no reversal on Sweden's.
        """
        topic, state = split_key(key)
        if not self._tracked(topic):
            return None
        if state is not None:
            return topics.get(topic)
        prefix = topic + SEPARATOR
        named = [s for k, s in topics.items() if k.startswith(prefix)]
        return max(named, key=lambda s: s.basis.published_at) if named else None

    def _tracked(self, topic: str) -> bool:
        """Whether ``topic`` (a topic id, or id:system) keeps one stance per counterpart state."""
        return topic.split(":", 1)[0] in self._per_counterpart

    def _topic_name(self, key: str) -> str:
        topic, state = split_key(key)
        name = self.analyzer.topic_name(topic)
        return f"{name}, {self._counterparts.display(state)}" if state else name

    # -- alerts ---------------------------------------------------------------------------

    def _alerts(self, event: StatementEvent, candidates: list[tuple[Decision, Claim, TopicStance]]) -> list[Alert]:
        """One alert per kind per statement: the most severe topic wins, others are named."""
        best: dict[AlertKind, tuple[Alert, list[str]]] = {}
        for decision, claim, prior in candidates:
            kind = decision.alert_kind
            assert kind is not None
            alert = self._alert(event, kind, decision, claim, prior)
            current = best.get(kind)
            if current is None:
                best[kind] = (alert, [])
            elif (alert.severity.rank, alert.confidence) > (current[0].severity.rank, current[0].confidence):
                best[kind] = (alert, [current[0].topic_name, *current[1]])
            else:
                current[1].append(alert.topic_name)
        out: list[Alert] = []
        for kind in (AlertKind.CONTRADICTION, AlertKind.ESCALATION):
            if kind in best:
                alert, others = best[kind]
                if others:
                    alert = replace(alert, {"explanation": f"{alert.explanation} Also: {', '.join(others)}."})
                out.append(alert)
        return out

    def _alert(
        self, event: StatementEvent, kind: AlertKind, decision: Decision, claim: Claim, prior: TopicStance
    ) -> Alert:
        name = self._topic_name(claim.topic)
        base = Severity(self.analyzer.topic_severity(split_key(claim.topic)[0]))
        confidence = round(min(claim.confidence, max(prior.confidence, 0.5) + 0.1, 1.0), 3)
        if kind is AlertKind.CONTRADICTION:
            rank = base.rank
            if claim.modality is not Modality.ASSERTED or confidence < 0.75:
                rank -= 1
            explanation = (
                f"{event.actor} reversed its stance on {name}: {prior.basis.speaker} "
                f"({prior.basis.published_at:%Y-%m-%d}) {_verb(prior.polarity)} it, now {event.speaker} "
                f"({event.published_at:%Y-%m-%d}) {_verb(claim.polarity, present=True)} it"
            )
        else:
            rank = 3 if claim.intensity <= -8 else 2 if claim.intensity <= -6 else 1
            explanation = (
                f"{event.actor} hardened its stance on {name}: {decision.reason}; "
                f"{prior.basis.speaker} ({prior.basis.published_at:%Y-%m-%d}) -> {event.speaker} "
                f"({event.published_at:%Y-%m-%d})"
            )
        cues = ", ".join(claim.cues[:4])
        if cues:
            explanation += f" [cues: {cues}"
            if claim.negation_cues:
                explanation += f"; negation: {', '.join(claim.negation_cues[:3])}"
            if claim.modality is not Modality.ASSERTED:
                explanation += f"; {claim.modality.value}: {', '.join(claim.modality_cues[:2])}"
            explanation += "]"
        explanation += "."
        statement = build(StatementRef, {
            "id": event.id, "speaker": event.speaker, "quote": _clip(event.text, _ALERT_QUOTE_CHARS),
            "source_url": event.source_url, "published_at": event.published_at,
        })
        return build(Alert, {
            "id": alert_id(event.id, kind.value, claim.topic),
            "kind": kind,
            "actor": event.actor,
            "topic": claim.topic,
            "topic_name": name,
            "statement": statement,
            "prior": prior.basis,
            "severity": _SEVERITIES[max(0, min(3, rank))],
            "confidence": confidence,
            "explanation": explanation,
            "cues": claim.cues,
            "negation_cues": claim.negation_cues,
            "modality_cues": claim.modality_cues,
            "prior_polarity": prior.polarity,
            "new_polarity": claim.polarity,
            "prior_intensity": prior.intensity,
            "new_intensity": claim.intensity,
            "engine": self.version,
        })


def _verb(polarity: Polarity, *, present: bool = False) -> str:
    if polarity is Polarity.PRO:
        return "supports" if present else "supported"
    return "opposes" if present else "opposed"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
