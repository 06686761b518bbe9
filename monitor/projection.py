"""The projection step shared by every runner: records in, state and alerts out.

The embedded runner, the Faust agent and replay all call :meth:`Projector.apply`, so
they decide identically. It decodes each record, dead-letters what cannot be decoded,
folds the rest through the pure :class:`~monitor.domain.detector.Detector`, and
reports which actors' states changed so a runner writes each of them once per batch.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field

from monitor.codec import decode_statement
from monitor.domain.detector import Detector
from monitor.domain.models import Alert, StanceState
from monitor.errors import DecodeError
from monitor.ports import Record


@dataclass
class BatchResult:
    """What one batch produced, in input order."""

    alerts: list[Alert] = field(default_factory=list)
    dead: list[tuple[Record, str]] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)
    statements: int = 0


class Projector:
    """Folds statements into per-actor stance states held in ``states`` (any mutable mapping)."""

    def __init__(self, detector: Detector, states: MutableMapping[str, StanceState]) -> None:
        self.detector = detector
        self.states = states

    def apply(self, records: Iterable[Record]) -> BatchResult:
        result = BatchResult()
        for record in records:
            try:
                event = decode_statement(record.value, where=f"{record.topic}[{record.partition}]@{record.offset}")
            except DecodeError as exc:
                result.dead.append((record, str(exc)))
                continue
            except UnicodeDecodeError as exc:  # pragma: no cover - orjson reports bad UTF-8 as JSON errors
                result.dead.append((record, f"not UTF-8: {exc}"))
                continue
            state = self.states.get(event.actor)
            if state is None:
                state = StanceState.empty(event.actor)
            new_state, alerts = self.detector.step(state, event)
            self.states[event.actor] = new_state
            result.changed.add(event.actor)
            result.alerts.extend(alerts)
            result.statements += 1
        return result
