"""The detector: ``(state, event) -> (new_state, alerts)``. Pure, deterministic.

PLACEHOLDER BASELINE -- replaced by the stance engine (issue 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from monitor.domain.ids import alert_id
from monitor.domain.models import (
    Alert,
    AlertKind,
    Claim,
    Polarity,
    Severity,
    StanceState,
    StatementEvent,
    StatementRef,
    TopicStance,
)

ENGINE_VERSION = "baseline-0"


class Analyzer(Protocol):
    """Turns a statement text into claims. The one seam for pluggable classifiers."""

    name: str

    def analyze(self, text: str) -> Sequence[Claim]: ...


class Detector:
    """Folds one statement into an actor's state and returns the alerts it raises."""

    def __init__(self, analyzer: Analyzer | None = None) -> None:
        self._analyzer = analyzer

    @property
    def version(self) -> str:
        return ENGINE_VERSION

    def step(self, state: StanceState, event: StatementEvent) -> tuple[StanceState, list[Alert]]:
        if self._analyzer is None:
            return state.model_copy(update={"statements": state.statements + 1}), []
        claims = self._analyzer.analyze(event.text)
        topics = dict(state.topics)
        alerts: list[Alert] = []
        ref = StatementRef(
            id=event.id, speaker=event.speaker, quote=event.text, source_url=event.source_url,
            published_at=event.published_at,
        )
        for claim in claims:
            prior = topics.get(claim.topic)
            if prior is not None and prior.polarity is not claim.polarity:
                kind = AlertKind.CONTRADICTION
                alerts.append(
                    Alert(
                        id=alert_id(event.id, kind, claim.topic), kind=kind, actor=event.actor,
                        topic=claim.topic, topic_name=claim.topic, statement=ref, prior=prior.basis,
                        severity=Severity.MEDIUM, confidence=claim.confidence,
                        explanation=f"{event.actor} reversed its stance on {claim.topic}.",
                        cues=claim.cues, prior_polarity=prior.polarity, new_polarity=claim.polarity,
                        prior_intensity=prior.intensity, new_intensity=claim.intensity, engine=self.version,
                    )
                )
            topics[claim.topic] = TopicStance(
                topic=claim.topic, polarity=claim.polarity, intensity=claim.intensity,
                confidence=claim.confidence, basis=ref, last_statement_id=event.id,
            )
        _ = Polarity
        return state.model_copy(update={"topics": topics, "statements": state.statements + 1}), alerts
