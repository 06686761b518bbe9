"""The dispatcher: consume the alerts log, deliver each alert to every matching receiver.

Guarantee: at least once, end to end. Each receiver has its own consumer group
(``dispatch.<name>``) on the alerts topic, and its position moves past an alert only
after that alert was delivered to it, dead-lettered for it, or did not match its filters.
A crash therefore redelivers what was in flight -- with the same ``webhook-id`` (the
alert id), so receivers drop the duplicate -- and never skips anything.

Isolation: every (receiver, partition) pair is its own asyncio task, so a slow, failing
or disabled receiver holds back only itself. Within a partition, up to ``max_in_flight``
alerts are delivered concurrently, started in offset order; the committed position is
the end of the contiguous prefix of finished offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
import structlog

from monitor.codec import decode_alert
from monitor.deliver.config import DeliverSettings, ReceiverConfig
from monitor.deliver.events import (
    RECEIVER_EVENT,
    BreakerChanged,
    DeadLettered,
    DeliveryAttempt,
    ReceiverDisabled,
    ReceiverEnabled,
    ReceiverState,
    fold_receiver_states,
)
from monitor.deliver.sender import BreakerState, Clock, DeliveryResult, Sender, SystemClock
from monitor.domain.models import Alert
from monitor.errors import DecodeError
from monitor.observability import DELIVERIES
from monitor.ports import EventLog, Message, Record

_log = structlog.get_logger("monitor.deliver")

_PAYLOAD_EXCERPT = 4096


class ReceiverStates:
    """The fold of the receivers topic, read incrementally."""

    def __init__(self, log: EventLog, topic: str) -> None:
        self._log = log
        self._topic = topic
        self._next: dict[int, int] = {}
        self.states: dict[str, ReceiverState] = {}
        self._lock = asyncio.Lock()

    async def refresh(self) -> dict[str, ReceiverState]:
        async with self._lock:
            events = []
            for partition in range(await self._log.partitions(self._topic)):
                offset = self._next.get(partition, 0)
                while batch := await self._log.read(self._topic, partition, offset, 1000):
                    for record in batch:
                        try:
                            events.append(RECEIVER_EVENT.validate_json(record.value))
                        except ValueError:
                            _log.warning("unreadable receiver event skipped", offset=record.offset)
                    offset = batch[-1].offset + 1
                self._next[partition] = offset
            # Partitions are keyed by receiver, so per-receiver order is preserved.
            self.states = fold_receiver_states(events, self.states)
            return self.states

    def enabled(self, name: str) -> bool:
        state = self.states.get(name)
        return state is None or state.enabled


class AuditBuffer:
    """Attempt records, appended in batches (one transaction per flush, not per attempt).

    The pumps flush before every position commit, so an alert's attempts are durable
    before the log says it was handled; a periodic flush keeps the trail current.
    """

    def __init__(self, log: EventLog, topic: str, *, max_pending: int = 500) -> None:
        self._log = log
        self._topic = topic
        self._pending: list[Message] = []
        self._max = max_pending
        self._lock = asyncio.Lock()

    async def add(self, attempt: DeliveryAttempt) -> None:
        self._pending.append(Message(key=attempt.alert_id.encode(), value=attempt.model_dump_json().encode()))
        if len(self._pending) >= self._max:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            if self._pending:
                batch, self._pending = self._pending, []
                await self._log.append(self._topic, batch)

    async def run(self, interval_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _wait(stop, interval_s)
            await self.flush()


class _Receiver:
    """Runtime of one receiver: its sender and whether it was told to stop (410)."""

    def __init__(self, config: ReceiverConfig, sender: Sender) -> None:
        self.config = config
        self.sender = sender
        self.gone = asyncio.Event()
        self.group = ""


class Dispatcher:
    """Delivers the alerts topic to receivers; see the module docstring for the guarantees."""

    def __init__(
        self,
        log: EventLog,
        receivers: Sequence[ReceiverConfig],
        client: httpx.AsyncClient,
        *,
        alerts_topic: str,
        settings: DeliverSettings | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.log = log
        self.client = client
        self.alerts_topic = alerts_topic
        self.settings = settings or DeliverSettings()
        self.clock = clock or SystemClock()
        self.states = ReceiverStates(log, self.settings.receivers_topic)
        self.audit = AuditBuffer(log, self.settings.attempts_topic)
        self._rng = rng or random.Random()
        self.receivers = [r for r in receivers if r.enabled]
        for skipped in (r for r in receivers if not r.enabled):
            _log.info("receiver disabled in configuration; not consuming", receiver=skipped.name)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; commit what finished, then return."""
        # Create the topics one by one before any concurrent use (Kafka creates them on first use).
        for topic in (
            self.alerts_topic,
            self.settings.attempts_topic,
            self.settings.dead_letter_topic,
            self.settings.receivers_topic,
        ):
            await self.log.partitions(topic)
        await self.states.refresh()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.audit.run(max(0.05, self.settings.commit_interval_s), stop))
                for config in self.receivers:
                    group.create_task(self._run_receiver(config, stop), name=f"dispatch.{config.name}")
        finally:
            await asyncio.shield(self.audit.flush())

    # -- one receiver ------------------------------------------------------------------------

    async def _run_receiver(self, config: ReceiverConfig, stop: asyncio.Event) -> None:
        log = _log.bind(receiver=config.name)
        while not stop.is_set():
            if not self.states.enabled(config.name):
                await _wait(stop, self.settings.state_poll_s)
                await self.states.refresh()
                if self.states.enabled(config.name):
                    log.info("receiver re-enabled; resuming from its committed position")
                continue
            runtime = _Receiver(config, self._sender(config))
            runtime.group = self.settings.group_prefix + config.name
            partitions = await self.log.partitions(self.alerts_topic)
            positions = await self._start_positions(runtime, partitions)
            halt = asyncio.Event()
            log.info("consuming", url=config.safe_url, group=runtime.group, positions=positions)
            async with asyncio.TaskGroup() as group:
                watcher = group.create_task(_relay(stop, runtime.gone, halt))
                for partition in range(partitions):
                    group.create_task(self._pump(runtime, partition, positions[partition], halt))
                await halt.wait()
                watcher.cancel()
            if runtime.gone.is_set():
                await self.states.refresh()

    async def _start_positions(self, runtime: _Receiver, partitions: int) -> dict[int, int]:
        positions = await self.log.committed(runtime.group, self.alerts_topic)
        if runtime.config.start_from == "latest" and not any(positions.values()):
            positions = await self.log.end_offsets(self.alerts_topic)
            await self.log.commit(runtime.group, self.alerts_topic, positions)
        return {p: positions.get(p, 0) for p in range(partitions)}

    def _sender(self, config: ReceiverConfig) -> Sender:
        async def on_attempt(attempt: DeliveryAttempt) -> None:
            await self.audit.add(attempt)

        async def on_breaker(state: BreakerState, failures: int) -> None:
            event = BreakerChanged(
                receiver=config.name, at=self.clock.now(), state=state, consecutive_failures=failures
            )
            await self._append_receiver_event(event)

        return Sender(
            self.client,
            config,
            on_attempt=on_attempt,
            on_breaker=on_breaker,
            clock=self.clock,
            rng=random.Random(self._rng.random()),
        )

    async def _append_receiver_event(self, event: ReceiverDisabled | ReceiverEnabled | BreakerChanged) -> None:
        message = Message(key=event.receiver.encode(), value=event.model_dump_json().encode())
        await self.log.append(self.settings.receivers_topic, [message])

    # -- one partition of one receiver -------------------------------------------------------

    async def _pump(self, runtime: _Receiver, partition: int, position: int, halt: asyncio.Event) -> None:
        """Read ``partition`` from ``position``, deliver, commit the finished prefix; stop on ``halt``."""
        settings = self.settings
        window = runtime.config.max_in_flight
        next_read = position
        buffer: deque[Record] = deque()  # read ahead: one query per batch, not per alert
        order: deque[int] = deque()  # dispatched offsets, in order (offsets may have gaps)
        finished: set[int] = set()
        inflight: dict[asyncio.Task[bool], int] = {}
        errors: list[BaseException] = []
        committed = position
        last_commit = self.clock.monotonic()
        wake = asyncio.Event()
        halted = asyncio.create_task(halt.wait())
        halted.add_done_callback(lambda _: wake.set())

        def on_done(task: asyncio.Task[bool]) -> None:
            offset = inflight.pop(task)
            if not task.cancelled():
                if (exc := task.exception()) is not None:
                    errors.append(exc)
                elif task.result():
                    finished.add(offset)
            wake.set()

        async def settle(force: bool) -> None:
            nonlocal position, committed, last_commit
            while order and order[0] in finished:
                finished.discard(order[0])
                position = order.popleft() + 1
            due = force or self.clock.monotonic() - last_commit >= settings.commit_interval_s
            if position != committed and due:
                await self.audit.flush()
                await self.log.commit(runtime.group, self.alerts_topic, {partition: position})
                committed = position
                last_commit = self.clock.monotonic()

        try:
            while not halt.is_set():
                if errors:
                    raise errors[0]
                if not buffer and len(inflight) < window:
                    buffer.extend(await self.log.read(self.alerts_topic, partition, next_read, settings.read_batch))
                    if buffer:
                        next_read = buffer[-1].offset + 1
                if buffer and len(inflight) < window and not runtime.gone.is_set():
                    while buffer and len(inflight) < window:
                        record = buffer.popleft()
                        task = asyncio.create_task(self._handle(runtime, record))
                        inflight[task] = record.offset
                        task.add_done_callback(on_done)
                        order.append(record.offset)
                    await settle(force=False)
                    continue
                wake.clear()  # before any await, so a completion during settle() is not missed
                await settle(force=not inflight and not buffer)
                if inflight:
                    await wake.wait()
                elif not buffer or runtime.gone.is_set():
                    await _wait(halt, settings.poll_interval_s)
        finally:
            halted.cancel()
            pending = list(inflight)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            # Commit what finished even when cancelled: shielded so a shutdown cannot cut it short.
            await asyncio.shield(settle(force=True))

    async def _handle(self, runtime: _Receiver, record: Record) -> bool:
        """Deliver one record; True when its offset may be committed for this receiver."""
        config = runtime.config
        try:
            alert = decode_alert(record.value, where=f"{record.topic}/{record.partition}@{record.offset}")
        except DecodeError as exc:
            _log.error("undecodable alert record dead-lettered", receiver=config.name, error=str(exc))
            await self._dead_letter(config, record, reason=str(exc), result=None, alert=None)
            return True
        if not config.filters.matches(alert):
            return True
        if runtime.gone.is_set():
            return False  # another partition just got 410: send nothing more
        occurred_at = datetime.fromtimestamp(record.timestamp_ms / 1000.0, tz=UTC)
        result = await runtime.sender.deliver(
            alert, occurred_at=occurred_at, partition=record.partition, offset=record.offset
        )
        DELIVERIES.labels(config.name, result.outcome).inc()
        if result.outcome == "delivered":
            return True
        if result.outcome == "dead_lettered":
            await self._dead_letter(config, record, reason=result.reason or "undeliverable", result=result, alert=alert)
            return True
        # 410 Gone: keep the position before this alert; it is delivered once re-enabled.
        if not runtime.gone.is_set():
            runtime.gone.set()
            await self._append_receiver_event(
                ReceiverDisabled(
                    receiver=config.name,
                    at=self.clock.now(),
                    reason=result.reason or "410 Gone",
                    alert_id=alert.id,
                    status_code=result.status_code,
                )
            )
            _log.error(
                "receiver disabled after 410 Gone; re-enable with `monitor dispatch --enable NAME`",
                receiver=config.name,
                alert_id=alert.id,
            )
        return False

    async def _dead_letter(
        self,
        config: ReceiverConfig,
        record: Record,
        *,
        reason: str,
        result: DeliveryResult | None,
        alert: Alert | None,
    ) -> None:
        letter = DeadLettered(
            alert_id=alert.id if alert is not None else f"{record.topic}/{record.partition}@{record.offset}",
            receiver=config.name,
            at=self.clock.now(),
            reason=reason,
            status_code=result.status_code if result else None,
            response_excerpt=result.response_excerpt if result else None,
            attempts=result.attempts if result else (),
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            alert=alert,
            payload=None if alert is not None else record.value[:_PAYLOAD_EXCERPT].decode("utf-8", "replace"),
        )
        message = Message(key=config.name.encode(), value=letter.model_dump_json().encode())
        await self.log.append(self.settings.dead_letter_topic, [message])


async def enable_receiver(log: EventLog, settings: DeliverSettings, name: str, *, at: datetime, by: str) -> None:
    """Record that ``name`` may receive again (after a 410 or a manual disable)."""
    event = ReceiverEnabled(receiver=name, at=at, by=by)
    await log.append(settings.receivers_topic, [Message(key=name.encode(), value=event.model_dump_json().encode())])


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


async def _relay(stop: asyncio.Event, gone: asyncio.Event, halt: asyncio.Event) -> None:
    """Set ``halt`` as soon as either ``stop`` or ``gone`` is set."""
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(gone.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        halt.set()
    finally:
        for waiter in waiters:
            waiter.cancel()
