"""Application services: load, call the core, save. No decisions are made here.

* :func:`read_statements_file` -- validate a JSON Lines file of statements, all or nothing.
* :func:`publish` -- append statements to the ``statements`` topic, keyed by actor.
* :func:`run_embedded` -- the worker on the embedded log: positions, state and alerts
  committed in one SQLite transaction per batch, so a rerun never double-emits.
* :func:`read_alerts` -- every alert in the ``alerts`` topic, in log order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from monitor.adapters.embedded import SqliteLog
from monitor.codec import (
    StateEncoder,
    alert_message,
    dead_letter_message,
    decode_alert,
    decode_statement,
    statement_message,
)
from monitor.domain.detector import Detector
from monitor.domain.models import Alert, StanceState, StatementEvent
from monitor.errors import DecodeError, InputError
from monitor.observability import ALERTS, BATCH_SECONDS, DEAD_LETTERS, HEALTH, LAG, STATEMENTS
from monitor.ports import EventLog
from monitor.projection import Projector
from monitor.settings import Settings

WORKER_GROUP = "monitor.worker"
STATE_NAMESPACE = "stance"


def read_statements(stream: IO[str], *, name: str) -> list[StatementEvent]:
    """Parse every line first; raise on the first bad one so nothing is half-published."""
    events: list[StatementEvent] = []
    for lineno, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        events.append(decode_statement(line, where=f"{name}:{lineno}"))
    return events


def read_statements_file(path: Path) -> list[StatementEvent]:
    try:
        with path.open(encoding="utf-8") as fh:
            return read_statements(fh, name=str(path))
    except FileNotFoundError as exc:
        raise InputError(f"no such file: {path}") from exc
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", where=str(path)) from exc


async def publish(log: EventLog, events: Sequence[StatementEvent], *, topic: str) -> int:
    """Append ``events`` in order; same actor -> same partition, so per-actor order is kept."""
    await log.append(topic, [statement_message(e) for e in events])
    return len(events)


@dataclass
class RunReport:
    statements: int = 0
    alerts: int = 0
    dead_letters: int = 0


async def run_embedded(
    log: SqliteLog,
    settings: Settings,
    detector: Detector,
    *,
    follow: bool = False,
    poll_interval: float = 0.2,
    on_alert: Callable[[Alert], None] | None = None,
    stop: asyncio.Event | None = None,
) -> RunReport:
    """Fold new statements into stance state and append alerts, batch by batch.

    Each batch of one partition commits its alerts, dead letters, changed states and
    the new position in a single transaction.
    """
    topics = settings.topics
    states: dict[str, StanceState] = {
        k: StanceState.model_validate_json(v) for k, v in log.load_state(STATE_NAMESPACE).items()
    }
    projector = Projector(detector, states)
    encoder = StateEncoder()  # reuses the JSON of topic stances a batch did not touch
    positions = await log.committed(WORKER_GROUP, topics.statements)
    report = RunReport()
    batch = settings.worker.batch_size
    HEALTH.ready = True
    while stop is None or not stop.is_set():
        HEALTH.beat()
        progressed = False
        for p in sorted(positions):
            records = await log.read(topics.statements, p, positions[p], limit=batch)
            if not records:
                continue
            progressed = True
            started = time.perf_counter()
            result = projector.apply(records)
            positions[p] = records[-1].offset + 1
            await log.commit_batch(
                group=WORKER_GROUP,
                topic=topics.statements,
                positions={p: positions[p]},
                appends={
                    topics.alerts: [alert_message(a) for a in result.alerts],
                    topics.dead_letter: [dead_letter_message(r, err) for r, err in result.dead],
                },
                state_namespace=STATE_NAMESPACE,
                state={actor: encoder.encode(states[actor]) for actor in sorted(result.changed)},
            )
            BATCH_SECONDS.observe(time.perf_counter() - started)
            report.statements += result.statements
            report.alerts += len(result.alerts)
            report.dead_letters += len(result.dead)
            STATEMENTS.labels("embedded").inc(result.statements)
            for alert in result.alerts:
                ALERTS.labels(alert.kind.value).inc()
            if result.dead:
                DEAD_LETTERS.labels(topics.dead_letter).inc(len(result.dead))
            if on_alert is not None:
                for alert in result.alerts:
                    on_alert(alert)
        if not progressed:
            ends = await log.end_offsets(topics.statements)
            LAG.labels(WORKER_GROUP, topics.statements).set(sum(ends[p] - positions.get(p, 0) for p in ends))
            if not follow:
                break
            await asyncio.sleep(poll_interval)
            if log.topics().get(topics.statements) != len(positions):
                positions = await log.committed(WORKER_GROUP, topics.statements)
    return report


async def read_alerts(log: EventLog, *, topic: str) -> list[Alert]:
    """All alerts of ``topic``, partition by partition, in offset order."""
    alerts: list[Alert] = []
    for p in range(await log.partitions(topic)):
        offset = 0
        while records := await log.read(topic, p, offset, limit=1000):
            alerts.extend(decode_alert(r.value, where=f"{topic}[{p}]@{r.offset}") for r in records)
            offset = records[-1].offset + 1
    return alerts
