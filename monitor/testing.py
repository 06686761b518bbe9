"""Test helpers shipped with the package, for this project's tests and for users' own.

* :func:`statement` -- a valid :class:`StatementEvent` with sensible defaults.
* :class:`FixedClock` -- a clock that only moves when told to.
* :func:`fold` -- run the pure detector over statements, as every runner does.
* :class:`~monitor.localkafka.LocalKafka` -- a real single-node Kafka broker (Java + Maven jars).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.domain.detector import Detector
from monitor.domain.models import Alert, StanceState, StatementEvent
from monitor.localkafka import LocalKafka

__all__ = ["FixedClock", "LocalKafka", "fold", "statement"]

_counter = itertools.count(1)
BASE_TIME = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def statement(
    text: str,
    *,
    actor: str = "kremlin",
    speaker: str = "Dmitry Peskov",
    id: str | None = None,
    published_at: datetime | None = None,
    source_url: str | None = None,
    language: str = "en",
) -> StatementEvent:
    """A statement event; ids and times advance deterministically when not given."""
    n = next(_counter)
    return StatementEvent(
        id=id or f"test-{n:06d}",
        actor=actor,
        speaker=speaker,
        text=text,
        published_at=published_at or BASE_TIME + timedelta(hours=n),
        source_url=source_url or f"https://news.example.org/item/{n}",
        language=language,
    )


@dataclass
class FixedClock:
    """A clock for services that need "now": starts at ``now`` and moves only by :meth:`advance`."""

    now_value: datetime = BASE_TIME

    def now(self) -> datetime:
        return self.now_value

    def advance(self, seconds: float) -> None:
        self.now_value += timedelta(seconds=seconds)


def fold(
    events: Iterable[StatementEvent], detector: Detector | None = None
) -> tuple[dict[str, StanceState], list[Alert]]:
    """Fold ``events`` in order through the detector; return the final states and every alert."""
    detector = detector or Detector()
    states: dict[str, StanceState] = {}
    alerts: list[Alert] = []
    for event in events:
        states[event.actor], new = detector.step(states.get(event.actor) or StanceState.empty(event.actor), event)
        alerts.extend(new)
    return states, alerts
