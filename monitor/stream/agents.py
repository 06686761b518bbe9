"""The stance agent: batches of statements -> stance table + alerts (+ dead letters).

Per batch it decodes and folds every statement in order (per-key order is the
partition order), sends the alerts and waits for the broker to confirm them, then writes
each changed actor's state to the table once. Faust acknowledges the batch's offsets only
after this body returns, and flushes the producer (so the state writes too) before
committing them: at-least-once, with alert ids derived from statement ids so a redelivered
alert is recognisable. The next batch starts by checking that those state writes were
confirmed; a failed one stops the agent.

Records leave through the app's producer as it is -- the plain one, or the transaction
manager under ``exactly_once`` -- but not through Faust's per-message machinery (a future,
a pending message, sensors and callbacks per record, and a background queue for table
writes that throttles the stream): on this path one alert cost more than reading it. With
the plain producer a batch's records go out as one record batch per topic partition
(:mod:`monitor.stream.outbox`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from typing import Any

import faust

from monitor.codec import StateEncoder, alert_message, dead_letter_message
from monitor.domain.detector import Detector
from monitor.domain.models import StanceState
from monitor.observability import ALERTS, BATCH_SECONDS, DEAD_LETTERS, LAG, STATEMENTS
from monitor.ports import Record
from monitor.projection import Projector
from monitor.settings import Settings
from monitor.stream.outbox import OutRecord, send_records
from monitor.stream.topics import Topics


class TableStates(MutableMapping[str, StanceState]):
    """A per-batch view of the stance table: decode on first read, encode once per batch (:meth:`encoded`).

    ``decoded`` outlives the batch: it remembers the state decoded from (or encoded to) each
    table value, so an actor seen in every batch is not re-parsed every batch. The table stays
    the source of truth: a cached state is used only while the table still holds the very
    bytes object it came from (after a rebalance or recovery the value is a new object).
    """

    def __init__(self, table: Any, decoded: dict[str, tuple[bytes, StanceState]] | None = None,
                 encoder: StateEncoder | None = None) -> None:
        self._store = table.data  # the table's store: reads skip the per-key sensor hooks
        self._cache: dict[str, StanceState] = {}
        self._decoded = decoded if decoded is not None else {}
        self._encoder = encoder or StateEncoder()

    def __getitem__(self, actor: str) -> StanceState:
        state = self._cache.get(actor)
        if state is None:
            raw = self._store.get(actor.encode())
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

    def encoded(self, actors: set[str]) -> list[tuple[bytes, bytes]]:
        """``(key, JSON)`` of each of ``actors``' states, in actor order, remembered as decoded."""
        out = []
        encode = self._encoder.encode
        for actor in sorted(actors):
            state = self._cache[actor]
            raw = encode(state)
            self._decoded[actor] = (raw, state)
            out.append((actor.encode(), raw))
        return out


async def write_states(producer: Any, table: Any, states: list[tuple[bytes, bytes]], *,
                       transactional: bool) -> list[Any]:
    """Store each ``(key, value)`` in the table and send it to the table's changelog; the send futures.

    What ``table[key] = value`` does for the in-memory store (changelog record, same key, same
    partitioner), without Faust's per-key future, sensor calls and send-soon queue.
    """
    store = table.data
    changelog = table.changelog_topic.get_topic_name()
    for key, value in states:
        store[key] = value
    return await send_records(producer, [(changelog, key, value) for key, value in states],
                              transactional=transactional)


def register_stance_agent(app: faust.App, settings: Settings, topics: Topics, table: Any, detector: Detector) -> Any:
    batch_size = settings.worker.batch_size
    window = settings.worker.batch_window_s
    decoded: dict[str, tuple[bytes, StanceState]] = {}
    encoder = StateEncoder()
    lag_by_partition: dict[Any, int] = {}
    lag_gauge = LAG.labels(settings.worker.app_id, settings.topics.statements)
    alerts_topic = settings.topics.alerts
    dead_topic = settings.topics.dead_letter
    statements_counter = STATEMENTS.labels("kafka")
    dead_counter = DEAD_LETTERS.labels(dead_topic)
    transactional = settings.worker.processing_guarantee == "exactly_once"

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
        in_flight: list[Any] = []
        async for events in stream.take_events(batch_size, within=window):
            if in_flight:  # the previous batch's states: confirmed by now, or raise
                await asyncio.gather(*in_flight)
            records = [
                Record(m.topic, m.partition, m.offset, m.key, m.value, int((m.timestamp or 0) * 1000))
                for m in (e.message for e in events)
            ]
            with BATCH_SECONDS.time():
                states = TableStates(table, decoded, encoder)
                result = Projector(detector, states).apply(records)
            statements_counter.inc(result.statements)
            # The app's producer, or under exactly_once the transaction manager (same send signature).
            producer = await app.maybe_start_producer()
            # Alerts and dead letters first, confirmed by the broker; only then the new states.
            # A state that reached the changelog before its alerts would, after a crash, make the
            # redelivered statements look already seen, and their alerts would be lost for good.
            # In this order a crash can only repeat alerts, with the same ids.
            kinds: dict[str, int] = {}
            out: list[OutRecord] = []
            for alert in result.alerts:
                msg = alert_message(alert)
                out.append((alerts_topic, msg.key, msg.value))
                kind = alert.kind.value
                kinds[kind] = kinds.get(kind, 0) + 1
            for record, error in result.dead:
                msg = dead_letter_message(record, error)
                out.append((dead_topic, msg.key, msg.value))
            pending = await send_records(producer, out, transactional=transactional) if out else []
            if pending:
                await asyncio.gather(*pending)
            for kind, n in kinds.items():
                ALERTS.labels(kind).inc(n)
            if result.dead:
                dead_counter.inc(len(result.dead))
            # Then the states. They are not waited for here: Faust flushes the producer before
            # it commits the offsets this body acks, so the changelog is never behind committed
            # offsets; the next batch checks they were confirmed (a failure stops the agent).
            in_flight = await write_states(producer, table, states.encoded(result.changed),
                                           transactional=transactional)
            record_lag(events)

    return stance
