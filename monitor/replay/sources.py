"""Where a replay reads statements from: the embedded SQLite file or Kafka, read directly.

Neither source joins a consumer group or commits anything: the SQLite file is opened
read-only, and Kafka partitions are fetched by the replay itself through the client of a
consumer without ``group_id`` (:mod:`monitor.replay.kafkaread`; assigned by hand to that
consumer without the native core), so a replay never moves the live pipeline's positions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from monitor.errors import InputError, LogError
from monitor.ports import Record
from monitor.projection import StoredRecord
from monitor.replay.kafkaread import fetch_range, native_reader
from monitor.replay.range import PartitionRange
from monitor.settings import KafkaSettings


class StatementSource(Protocol):
    """A read-only view of one topic: its size, time lookup, and batches in offset order per partition."""

    backend: str
    topic: str

    async def partitions(self) -> int:
        """The number of partitions of the topic (an error if it does not exist)."""
        ...

    async def end_offsets(self) -> dict[int, int]:
        """The next offset to be written, per partition: the end a replay captures at start."""
        ...

    async def offsets_for_time(self, time_ms: int) -> dict[int, int]:
        """Per partition, the first offset whose record timestamp is >= ``time_ms`` (else the end)."""
        ...

    def batches(self, ranges: Mapping[int, PartitionRange]) -> AsyncIterator[Sequence[StoredRecord]]:
        """Records of ``[fold_from, end)`` of every partition; within a partition in offset order.

        A batch holds records of one partition. They are read-only views (``topic``, ``partition``,
        ``offset``, ``key``, ``value``), not necessarily :class:`~monitor.ports.Record` s: a replay
        reads millions, and copying each into another object costs as much as folding it.
        """
        ...

    async def close(self) -> None:
        """Release the file or the connections."""
        ...

    def opener(self) -> Callable[[], StatementSource]:
        """A picklable way to open the same source again (in another process, for parallel replays)."""
        ...


class SqliteSource:
    """Statements from the embedded log file, opened read-only (``mode=ro``)."""

    backend = "embedded"

    def __init__(self, path: str | Path, topic: str, *, batch: int = 5000) -> None:
        self.path = Path(path)
        self.topic = topic
        self.batch = batch
        if not self.path.exists():
            raise InputError(f"no embedded log at {self.path}; pass --db PATH or --kafka BOOTSTRAP")
        try:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30.0, check_same_thread=False)
        except sqlite3.Error as exc:
            raise LogError(f"cannot open the embedded log at {self.path} read-only: {exc}") from exc

    async def partitions(self) -> int:
        row = self._db.execute("SELECT partitions FROM topics WHERE name = ?", (self.topic,)).fetchone()
        if row is None:
            raise InputError(f"topic {self.topic!r} does not exist in {self.path}")
        return int(row[0])

    async def end_offsets(self) -> dict[int, int]:
        ends = dict.fromkeys(range(await self.partitions()), 0)
        for p, end in self._db.execute(
            "SELECT partition, MAX(offset) + 1 FROM records WHERE topic = ? GROUP BY partition", (self.topic,)
        ):
            ends[int(p)] = int(end)
        return ends

    async def offsets_for_time(self, time_ms: int) -> dict[int, int]:
        ends = await self.end_offsets()
        out = {}
        for p, end in ends.items():
            (first,) = self._db.execute(
                "SELECT MIN(offset) FROM records WHERE topic = ? AND partition = ? AND timestamp_ms >= ?",
                (self.topic, p, time_ms),
            ).fetchone()
            out[p] = int(first) if first is not None else end
        return out

    async def batches(self, ranges: Mapping[int, PartitionRange]) -> AsyncIterator[Sequence[StoredRecord]]:
        """A batch of each partition in turn (a cursor each), so that folds of several partitions
        run side by side."""
        topic = self.topic
        make = Record._make  # rows are selected in Record's field order
        cursors = [
            self._db.execute(
                "SELECT topic, partition, offset, key, value, timestamp_ms FROM records"
                " WHERE topic = ? AND partition = ? AND offset >= ? AND offset < ? ORDER BY offset",
                (topic, p, r.fold_from, r.end),
            )
            for p, r in sorted(ranges.items()) if r.size > 0
        ]
        while cursors:
            for cur in list(cursors):
                if rows := cur.fetchmany(self.batch):
                    yield list(map(make, rows))
                else:
                    cursors.remove(cur)

    async def close(self) -> None:
        self._db.close()

    def opener(self) -> Callable[[], StatementSource]:
        return partial(SqliteSource, self.path, self.topic, batch=self.batch)


def reader_options(kafka: KafkaSettings, bootstrap: str) -> dict[str, Any]:
    """Consumer options for bulk reads (also used by the benchmark's bare loop, for a fair comparison)."""
    from monitor.adapters.kafka import client_options

    return {
        **client_options(kafka, bootstrap),
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_bytes": 16 * 1024 * 1024,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_wait_ms": 100,
        "check_crcs": False,
        "isolation_level": "read_committed",  # never replay records of aborted transactions
    }


class KafkaSource:
    """Statements from a Kafka topic, fetched without a group (see :mod:`monitor.replay.kafkaread`)."""

    backend = "kafka"

    def __init__(self, bootstrap: str, topic: str, *, kafka: KafkaSettings | None = None,
                 max_records: int = 10_000) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.max_records = max_records
        self._kafka = kafka or KafkaSettings()
        self._opts = reader_options(self._kafka, bootstrap)
        self._consumer: Any = None

    async def _get(self) -> Any:
        if self._consumer is None:
            from aiokafka import AIOKafkaConsumer

            from monitor.adapters.kafka import start_client

            self._consumer = await start_client(AIOKafkaConsumer(**self._opts), self.bootstrap)
        return self._consumer

    async def _tps(self) -> list[Any]:
        from aiokafka import TopicPartition

        n = await self.partitions()
        return [TopicPartition(self.topic, p) for p in range(n)]

    async def partitions(self) -> int:
        consumer = await self._get()
        client = consumer._client  # aiokafka exposes no public metadata refresh
        client.add_topic(self.topic)
        await client.force_metadata_update()
        parts = client.cluster.partitions_for_topic(self.topic)
        if not parts:
            raise InputError(f"topic {self.topic!r} does not exist on {self.bootstrap}")
        return len(parts)

    async def end_offsets(self) -> dict[int, int]:
        consumer = await self._get()
        ends = await consumer.end_offsets(await self._tps())
        return {tp.partition: int(off) for tp, off in ends.items()}

    async def offsets_for_time(self, time_ms: int) -> dict[int, int]:
        consumer = await self._get()
        tps = await self._tps()
        found = await consumer.offsets_for_times(dict.fromkeys(tps, time_ms))
        ends = await consumer.end_offsets(tps)
        return {tp.partition: int(found[tp].offset) if found.get(tp) is not None else int(ends[tp]) for tp in tps}

    async def batches(self, ranges: Mapping[int, PartitionRange]) -> AsyncIterator[Sequence[StoredRecord]]:
        consumer = await self._get()
        if native_reader() is not None:  # the record sets read in place (monitor/replay/kafkaread.py)
            opts = self._opts
            async for batch in fetch_range(consumer, self.topic, ranges, max_wait_ms=opts["fetch_max_wait_ms"],
                                           max_bytes=opts["fetch_max_bytes"],
                                           max_partition_bytes=opts["max_partition_fetch_bytes"]):
                yield batch
            return
        async for batch in self._consumed(consumer, ranges):
            yield batch

    async def _consumed(self, consumer: Any,
                        ranges: Mapping[int, PartitionRange]) -> AsyncIterator[Sequence[StoredRecord]]:
        """The batches through the consumer itself (without the native core)."""
        from aiokafka import TopicPartition

        todo = {TopicPartition(self.topic, p): r for p, r in ranges.items() if r.size > 0}
        if not todo:
            return
        consumer.assign(sorted(todo, key=lambda tp: tp.partition))
        for tp, r in todo.items():
            consumer.seek(tp, r.fold_from)
        while todo:
            got = await consumer.getmany(*todo, timeout_ms=1000, max_records=self.max_records)
            for tp, msgs in got.items():
                if tp not in todo:
                    continue
                end = todo[tp].end
                # aiokafka's own records, as they are (they have topic, partition, offset, key, value).
                out = msgs if msgs[-1].offset < end else [m for m in msgs if m.offset < end]
                if out:
                    yield out
                if msgs[-1].offset + 1 >= end:
                    del todo[tp]
                    consumer.pause(tp)
            if not got:
                # Compacted or deleted offsets can leave a gap before the end: confirm where we are.
                for tp in list(todo):
                    if await consumer.position(tp) >= todo[tp].end:
                        del todo[tp]

    def opener(self) -> Callable[[], StatementSource]:
        return partial(KafkaSource, self.bootstrap, self.topic, kafka=self._kafka, max_records=self.max_records)

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
