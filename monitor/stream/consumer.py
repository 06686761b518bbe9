"""Faust's Kafka consumer with a cheaper hand-off of each fetched record to the conductor.

Faust hands every record to the conductor through ``Service.wait_first(callback(record),
suspend_flow.wait())``: four tasks (the delivery, the flow suspension, the consumer's
stopped and crashed events), an ``asyncio.wait`` and three cancellations per record, so
that a delivery blocked by flow control, a full stream buffer or a full producer buffer
can be abandoned when a rebalance suspends the flow. Measured on the development machine
(bench/bench_pipeline.py), that race was most of Faust's per-record cost: a no-op agent
spent about 220 µs of CPU per record with it and about 120 µs without it.

:class:`LeanConsumer` keeps the race but only pays for it when it matters. It starts the
delivery coroutine itself; a delivery that completes without waiting -- the normal case,
the record goes straight into the stream's buffer -- needs no task at all. One that has to
wait (or any delivery while the flow is suspended) is finished exactly as Faust does it,
raced against the suspension, so a rebalance still abandons it. Everything else of Faust's
drain loop is kept: read offsets, gaps, ``commit_every``, periodic yields, stop handling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka

YIELD_EVERY = 100  # records between two ``sleep(0)``: lets health checks and timers run


async def _finish(delivery: Coroutine[Any, Any, Any], waiting: Any) -> Any:
    """Run a started coroutine to its end, as an ``asyncio.Task`` would have run it.

    ``waiting`` is what the coroutine last yielded: the future it waits for, or ``None`` for
    a bare yield (``sleep(0)``). Cancelling this coroutine cancels that future, or throws the
    cancellation in at a bare yield: the delivery sees it where it waits -- as under a Task.
    """
    while True:
        cancelled = False
        try:
            if waiting is None:
                await asyncio.sleep(0)
            elif asyncio.isfuture(waiting):
                waiting._asyncio_future_blocking = False
                await asyncio.wait({waiting})  # done or not, its result is the delivery's to read
            else:  # pragma: no cover - asyncio coroutines yield futures or None
                delivery.close()
                raise RuntimeError(f"a delivery yielded {waiting!r}, not a future")
        except asyncio.CancelledError:
            cancelled = True
            if waiting is not None:
                waiting.cancel()  # the delivery reads the cancellation from its future
        try:
            bare_cancel = cancelled and waiting is None
            waiting = delivery.throw(asyncio.CancelledError()) if bare_cancel else delivery.send(None)
        except StopIteration as done:
            return done.value


async def hand_over(delivery: Awaitable[Any], suspension: Any, wait_first: Any) -> None:
    """Deliver one record: inline when nothing blocks it, else raced against the flow's suspension.

    ``wait_first`` is the consumer's ``Service.wait_first`` (the race Faust runs for every record).
    """
    if suspension.is_set() or not isinstance(delivery, Coroutine):
        await wait_first(delivery, suspension.wait())
        return
    try:
        waiting = delivery.send(None)
    except StopIteration:
        return
    await wait_first(_finish(delivery, waiting), suspension.wait())


class LeanConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer; only the per-record hand-off of the drain loop differs."""

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - run by Faust's fetcher
        deliver = self.callback
        getmany = self.getmany
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        read_offsets = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        commit_every = self._commit_every
        suspension = self.suspend_flow
        since_yield = 0
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records = getmany(timeout=1.0)
                await asyncio.sleep(0)  # getmany can return at once, again and again
                if not self.should_stop:
                    async for tp, record in records:
                        since_yield += 1
                        if since_yield > YIELD_EVERY:
                            since_yield = 0
                            await asyncio.sleep(0)
                        offset = record.offset
                        last = read_offsets[tp]
                        if last is not None and offset < last:
                            self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, record.key, record.value)
                            continue
                        if last and offset - last > 1 and acks_enabled_for(record.topic):
                            await self._add_gap(tp, last + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        await hand_over(deliver(record), suspension, self.wait_first)
                        read_offsets[tp] = offset
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)


class LeanTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with :class:`LeanConsumer`."""

    Consumer = LeanConsumer
