"""The projection step shared by every runner: records in, state and alerts out.

The embedded runner and the Faust agent fold through :class:`Projector`
(:meth:`~Projector.apply` for a batch, :meth:`~Projector.fold` for one record); replay decodes
and steps each record the same way (``decode_statement``, ``Detector.step``), in its own loop
because it hands states to and from its native kernel, so all of them decide identically.
:class:`Projector` decodes each record, dead-letters what cannot be decoded, folds the rest
through the pure :class:`~monitor.domain.detector.Detector`, and reports which actors'
states changed so a runner writes each of them once per batch.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Protocol

from monitor.codec import decode_statement
from monitor.domain.detector import Detector
from monitor.domain.models import Alert, StanceState, StatementEvent
from monitor.errors import DecodeError
from monitor.ports import Record


@dataclass
class BatchResult:
    """What one batch produced, in input order."""

    alerts: list[Alert] = field(default_factory=list)
    dead: list[tuple[Record, str]] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)
    statements: int = 0


class StoredRecord(Protocol):
    """What folding reads of a record: a :class:`~monitor.ports.Record`, or a Kafka client's own
    record (replay folds those as they come, without copying each into a ``Record``)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes: ...


def record_error(record: StoredRecord, exc: Exception) -> str:
    """Why ``record`` is a dead letter: where it is (topic[partition]@offset), then the decoder's reason."""
    if isinstance(exc, UnicodeDecodeError):  # pragma: no cover - orjson reports bad UTF-8 as JSON errors
        return f"not UTF-8: {exc}"
    return f"{record.topic}[{record.partition}]@{record.offset}: {exc}"


class Projector:
    """Folds statements into per-actor stance states held in ``states`` (any mutable mapping)."""

    def __init__(self, detector: Detector, states: MutableMapping[str, StanceState]) -> None:
        self.detector = detector
        self.states = states

    def fold(self, record: StoredRecord) -> tuple[StatementEvent, StanceState | None, list[Alert]]:
        """Decode ``record`` and fold it into its actor's state.

        Returns the event, the actor's state before it (``None`` for a new actor) and the
        alerts. Raises :class:`DecodeError` (or ``UnicodeDecodeError``) for a record that is not
        a statement; :func:`record_error` words the dead letter's reason.
        """
        event = decode_statement(record.value)
        actor = event.actor
        before = self.states.get(actor)
        new_state, alerts = self.detector.step(before if before is not None else StanceState.empty(actor), event)
        self.states[actor] = new_state
        return event, before, alerts

    def apply(self, records: Iterable[Record]) -> BatchResult:
        result = BatchResult()
        fold = self.fold
        alerts_out = result.alerts
        changed = result.changed
        n = 0
        for record in records:
            try:
                event, _before, alerts = fold(record)
            except (DecodeError, UnicodeDecodeError) as exc:
                result.dead.append((record, record_error(record, exc)))
                continue
            changed.add(event.actor)
            if alerts:
                alerts_out.extend(alerts)
            n += 1
        result.statements = n
        return result
