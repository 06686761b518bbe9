"""The stance agent: batches of statements -> stance table + alerts (+ dead letters).

Per batch it decodes and folds every statement in order (per-key order is the
partition order), sends the alerts and waits for the broker to confirm them, then writes
each changed actor's state to the table once. Faust acknowledges the batch's offsets only after this body returns, and
flushes the producer before committing them: at-least-once, with alert ids derived
from statement ids so a redelivered alert is recognisable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from typing import Any

import faust

from monitor.codec import alert_message, dead_letter_message, encode
from monitor.domain.detector import Detector
from monitor.domain.models import StanceState
from monitor.observability import ALERTS, BATCH_SECONDS, DEAD_LETTERS, LAG, STATEMENTS
from monitor.ports import Record
from monitor.projection import Projector
from monitor.settings import Settings
from monitor.stream.topics import Topics


class TableStates(MutableMapping[str, StanceState]):
    """A per-batch view of the stance table: decode on first read, write back on :meth:`flush`.

    ``decoded`` outlives the batch: it remembers the state decoded from (or encoded to) each
    table value, so an actor seen in every batch is not re-parsed every batch. The table stays
    the source of truth: a cached state is used only while the table still holds the very
    bytes object it came from (after a rebalance or recovery the value is a new object).
    """

    def __init__(self, table: Any, decoded: dict[str, tuple[bytes, StanceState]] | None = None) -> None:
        self._table = table
        self._cache: dict[str, StanceState] = {}
        self._decoded = decoded if decoded is not None else {}

    def __getitem__(self, actor: str) -> StanceState:
        state = self._cache.get(actor)
        if state is None:
            raw = self._table.get(actor.encode())
            if raw is None:
                raise KeyError(actor)
            known = self._decoded.get(actor)
            if known is not None and known[0] is raw:
                state = known[1]
            else:
                state = StanceState.model_validate_json(raw)
                self._decoded[actor] = (raw, state)
            self._cache[actor] = state
        return state

    def __setitem__(self, actor: str, state: StanceState) -> None:
        self._cache[actor] = state

    def __delitem__(self, actor: str) -> None:  # pragma: no cover - states are never deleted
        raise NotImplementedError

    def __iter__(self) -> Iterator[str]:
        return iter(self._cache)

    def __len__(self) -> int:
        return len(self._cache)

    def flush(self, actors: set[str]) -> None:
        for actor in sorted(actors):
            state = self._cache[actor]
            raw = encode(state)
            self._table[actor.encode()] = raw
            self._decoded[actor] = (raw, state)


def register_stance_agent(app: faust.App, settings: Settings, topics: Topics, table: Any, detector: Detector) -> Any:
    batch_size = settings.worker.batch_size
    window = settings.worker.batch_window_s
    decoded: dict[str, tuple[bytes, StanceState]] = {}
    lag_by_partition: dict[Any, int] = {}
    lag_gauge = LAG.labels(settings.worker.app_id, settings.topics.statements)

    def record_lag(events: Any) -> None:
        """Consumer lag per partition, from the last offset of this batch and the high watermark."""
        last = {e.message.tp: e.message.offset for e in events}
        for tp, offset in last.items():
            highwater = app.consumer.highwater(tp)
            if highwater is not None:
                lag_by_partition[tp] = max(0, int(highwater) - offset - 1)
        lag_gauge.set(sum(lag_by_partition.values()))

    @app.agent(topics.statements, name="monitor.stance")
    async def stance(stream: Any) -> None:
        # Faust creates the topics it consumes; those it only produces to are declared before
        # the first batch, so a first alert or dead letter never meets a missing topic.
        for topic in (topics.alerts, topics.dead_letter):
            await topic.maybe_declare()
        async for events in stream.take_events(batch_size, within=window):
            records = [
                Record(m.topic, m.partition, m.offset, m.key, m.value, int((m.timestamp or 0) * 1000))
                for m in (e.message for e in events)
            ]
            with BATCH_SECONDS.time():
                states = TableStates(table, decoded)
                result = Projector(detector, states).apply(records)
            STATEMENTS.labels("kafka").inc(result.statements)
            # Alerts and dead letters first, confirmed by the broker; only then the new states.
            # A state that reached the changelog before its alerts would, after a crash, make the
            # redelivered statements look already seen, and their alerts would be lost for good.
            # In this order a crash can only repeat alerts, with the same ids.
            pending = []
            for alert in result.alerts:
                msg = alert_message(alert)
                pending.append(await topics.alerts.send(key=msg.key, value=msg.value))
                ALERTS.labels(alert.kind.value).inc()
            for record, error in result.dead:
                msg = dead_letter_message(record, error)
                pending.append(await topics.dead_letter.send(key=msg.key, value=msg.value))
                DEAD_LETTERS.labels(settings.topics.dead_letter).inc()
            if pending:
                await asyncio.gather(*pending)
            states.flush(result.changed)
            record_lag(events)

    return stance
