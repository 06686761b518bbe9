"""Test and benchmark helpers for replay: a tiny marker-driven engine and a statement generator.

:class:`KeywordDetector` reads explicit markers such as ``#ceasefire+4`` or ``#sanctions-7``
in a statement (topic, signed intensity; the sign is the polarity) so tests can script
contradictions and escalations without depending on the real stance engine's lexicon.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from monitor.domain.detector import Detector
from monitor.domain.ids import alert_id
from monitor.domain.models import (
    Alert,
    AlertKind,
    Polarity,
    Severity,
    StanceState,
    StatementEvent,
    StatementRef,
    TopicStance,
)

_MARK = re.compile(r"#([a-z][a-z0-9_]*)([+-]\d+(?:\.\d+)?)")


class KeywordDetector(Detector):
    """A deterministic engine for tests: flips of polarity are contradictions, big drops escalations."""

    def __init__(self, escalation_drop: float = 5.0, name: str = "keyword-1") -> None:
        # Deliberately not calling Detector.__init__: this engine has no analyzer to configure.
        self._drop = escalation_drop
        self._name = name

    @property
    def version(self) -> str:
        return self._name

    def step(self, state: StanceState, event: StatementEvent) -> tuple[StanceState, list[Alert]]:
        topics = dict(state.topics)
        alerts: list[Alert] = []
        ref = StatementRef(id=event.id, speaker=event.speaker, quote=event.text, source_url=event.source_url,
                           published_at=event.published_at)
        for topic, raw in _MARK.findall(event.text):
            intensity = max(-10.0, min(10.0, float(raw)))
            polarity = Polarity.PRO if intensity >= 0 else Polarity.CONTRA
            prior = topics.get(topic)
            kind: AlertKind | None = None
            if prior is not None and prior.polarity is not polarity:
                kind = AlertKind.CONTRADICTION
            elif prior is not None and prior.intensity - intensity >= self._drop:
                kind = AlertKind.ESCALATION
            if prior is not None and kind is not None:
                alerts.append(Alert(
                    id=alert_id(event.id, kind, topic), kind=kind, actor=event.actor, topic=topic,
                    topic_name=topic.replace("_", " ").title(), statement=ref, prior=prior.basis,
                    severity=Severity.HIGH if kind is AlertKind.CONTRADICTION else Severity.MEDIUM,
                    confidence=0.9, explanation=f"{event.actor} moved on {topic}: {prior.intensity:+.1f} -> "
                    f"{intensity:+.1f} ({kind.value}).", cues=(f"#{topic}{raw}",),
                    prior_polarity=prior.polarity, new_polarity=polarity, prior_intensity=prior.intensity,
                    new_intensity=intensity, engine=self.version,
                ))
            topics[topic] = TopicStance(topic=topic, polarity=polarity, intensity=intensity, confidence=0.9,
                                        basis=ref, last_statement_id=event.id, cues=(f"#{topic}{raw}",))
        return state.model_copy(update={"topics": topics, "statements": state.statements + 1}), alerts


TOPICS = ("ceasefire", "sanctions", "grain_deal", "nuclear_talks", "border")


def synthetic_statements(
    n: int, *, actors: int = 50, seed: int = 7, start: datetime | None = None
) -> Iterator[StatementEvent]:
    """``n`` deterministic statements spread over ``actors`` actors, one every minute, with markers."""
    rng = random.Random(seed)
    t0 = start or datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(n):
        actor = f"actor-{rng.randrange(actors):03d}"
        topic = TOPICS[rng.randrange(len(TOPICS))]
        value = rng.choice((-8, -6, -3, 2, 4, 7))
        yield StatementEvent(
            id=f"s-{i:08d}", actor=actor, speaker=f"Speaker of {actor}",
            text=f"Statement {i} by {actor} on {topic.replace('_', ' ')}. #{topic}{value:+d}",
            published_at=t0 + timedelta(minutes=i), source_url=f"https://news.example.org/{actor}/{i}",
            language="en", kind="direct",
        )
