"""A replay's reading of a Kafka topic: fetch requests through aiokafka's client, record sets read natively.

``AIOKafkaConsumer.getmany`` makes every record a Python ``ConsumerRecord`` on its way out,
which costs a replay more than the broker's fetch. A replay reads a fixed range of known
partitions once, with no group, no commits and no rebalancing, so it needs little of the
consumer: :func:`fetch_range` sends the fetch requests itself (``read_committed``, through
the consumer's ``AIOKafkaClient``, to each partition's leader) and hands each partition's
record set to ``monitor_native.read_batches``, which finds the records in place. The replay
kernel folds a :class:`RecordSet` without making a Python object per record.

What the native reader does not read (a legacy or compressed batch, the batches from the first
aborted transaction on) is read by aiokafka's own ``PartitionRecords``, as its consumer would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, overload

from monitor.domain.analysis.native import native_module
from monitor.errors import LogError
from monitor.ports import Record
from monitor.projection import StoredRecord
from monitor.replay.range import PartitionRange

__all__ = ["RecordSet", "fetch_range", "native_reader", "read_partition"]

log = logging.getLogger(__name__)

READ_COMMITTED = 1  # Kafka's isolation level code: never replay records of aborted transactions


def native_reader() -> Any | None:
    """``monitor_native.read_batches``, or None without the native core (or with an older build)."""
    return getattr(native_module(), "read_batches", None)


class RecordSet(Sequence[StoredRecord]):
    """The records of one partition of a fetch response, read in place (``monitor_native.Records``).

    The replay kernel folds ``native`` directly; a record becomes a :class:`~monitor.ports.Record`
    only when it is indexed (the runner's Python path) or iterated.
    """

    __slots__ = ("native", "partition", "topic")

    def __init__(self, native: Any, topic: str, partition: int) -> None:
        self.native = native
        self.topic = topic
        self.partition = partition

    def __len__(self) -> int:
        return len(self.native)

    @overload
    def __getitem__(self, i: int) -> Record: ...

    @overload
    def __getitem__(self, i: slice) -> list[Record]: ...

    def __getitem__(self, i: int | slice) -> Record | list[Record]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"record {i} of {n}")
        offset, key, value, ts = self.native.row(i % n)
        return Record(self.topic, self.partition, offset, key, value, ts)

    def __iter__(self) -> Iterator[Record]:
        for i in range(len(self)):
            yield self[i]


def _partition_data(version: int, rest: Sequence[Any]) -> tuple[list[Any] | None, bytes]:
    """The aborted transactions and the record set of one partition of a fetch response (their
    places depend on the response version, as aiokafka's fetcher reads them)."""
    if version >= 11:  # [last_stable_offset, log_start_offset, aborted, preferred_read_replica, records]
        return rest[2], rest[-1]
    if version >= 4:  # [last_stable_offset, (log_start_offset,) aborted, records]
        return rest[-2], rest[-1]
    return None, rest[-1]


def _aiokafka_read(topic: str, partition: int, data: bytes, position: int, end: int,
                   aborted: list[Any] | None) -> tuple[list[Any], int]:
    """Records of ``data`` from ``position`` read by aiokafka's own consumer code (the records the
    native reader leaves: legacy or compressed batches, aborted transactions); the next offset."""
    from aiokafka.consumer.fetcher import PartitionRecords
    from aiokafka.record.memory_records import MemoryRecords
    from aiokafka.structs import TopicPartition

    records = PartitionRecords(TopicPartition(topic, partition), MemoryRecords(data), aborted, position,
                               None, None, False, READ_COMMITTED)
    out = [r for r in records if r.offset < end]
    return out, records.next_fetch_offset


def read_partition(read_batches: Any, topic: str, partition: int, data: bytes, start: int, end: int,
                   aborted: list[Any] | None) -> tuple[list[Sequence[StoredRecord]], int]:
    """The records of ``[start, end)`` in one partition's record set ``data`` (batches of them) and
    the offset to fetch next: read in place by ``read_batches`` up to a batch it does not read or
    the first aborted transaction, the rest by aiokafka (which drops the aborted records)."""
    # a transaction starts at a batch; batches before the first aborted one are not aborted
    limit = min((first for _, first in aborted or ()), default=end)
    try:
        found, nxt, unread = read_batches(data, start, min(end, limit))
    except ValueError as exc:
        raise LogError(f"{topic}[{partition}] from offset {start}: {exc}") from exc
    batches: list[Sequence[StoredRecord]] = [RecordSet(found, topic, partition)] if len(found) else []
    if unread is not None and nxt < end:
        out, nxt = _aiokafka_read(topic, partition, data[unread:], nxt, end, aborted)
        if out:
            batches.append(out)
    return batches, nxt


async def fetch_range(consumer: Any, topic: str, ranges: Mapping[int, PartitionRange], *,
                      max_wait_ms: int, max_bytes: int, max_partition_bytes: int,
                      ) -> AsyncIterator[Sequence[StoredRecord]]:
    """The records of ``[fold_from, end)`` of each partition in ``ranges``, in offset order per
    partition, fetched through ``consumer``'s client (which is not assigned anything)."""
    from aiokafka import errors
    from aiokafka.protocol.fetch import FetchRequest
    from aiokafka.structs import TopicPartition

    read_batches = native_reader()
    assert read_batches is not None, "fetch_range needs the native core (see native_reader)"
    client = consumer._client  # aiokafka's public consumer has no raw fetch
    position = {p: r.fold_from for p, r in ranges.items() if r.size > 0}
    stalls = 0
    while position:
        by_node: dict[int, list[int]] = {}
        for p in sorted(position):
            leader = client.cluster.leader_for_partition(TopicPartition(topic, p))
            if leader is None or leader < 0:
                by_node.clear()
                break
            by_node.setdefault(leader, []).append(p)
        if not by_node:
            stalls += 1
            await _refresh(client, topic, stalls)
            continue
        requests = [
            client.send(node, FetchRequest(max_wait_ms, 1, max_bytes, READ_COMMITTED,
                                           [(topic, [(p, position[p], max_partition_bytes) for p in parts])]))
            for node, parts in by_node.items()
        ]
        try:
            responses = await asyncio.gather(*requests)
        except errors.KafkaError as exc:
            if not getattr(exc, "retriable", False):
                raise LogError(f"fetching {topic} failed: {exc}") from exc
            stalls += 1
            await _refresh(client, topic, stalls)
            continue
        progressed = False
        refresh = False
        for response in responses:
            version = response.API_VERSION
            for _, partitions in response.topics:
                for p, code, highwater, *rest in partitions:
                    if p not in position:
                        continue
                    error = errors.for_code(code)
                    if error is errors.OffsetOutOfRangeError:
                        position[p] = await _log_start(consumer, topic, p, position[p], ranges[p].end)
                        progressed = True
                        if position[p] >= ranges[p].end:
                            del position[p]
                        continue
                    if error is not errors.NoError:
                        if error.retriable:  # a leader moved, or is being elected
                            refresh = True
                            continue
                        raise LogError(f"fetching {topic}[{p}] at offset {position[p]} failed: {error.__name__}")
                    aborted, data = _partition_data(version, rest)
                    start, end = position[p], ranges[p].end
                    found, nxt = read_partition(read_batches, topic, p, data, start, end, aborted)
                    for batch in found:
                        yield batch
                    if nxt > start:
                        progressed = True
                        position[p] = nxt
                    # the end is reached, or nothing is left before it (compacted or deleted offsets)
                    stable = rest[0] if version >= 4 and rest[0] >= 0 else highwater
                    if nxt >= end or (nxt == start and not data and stable <= nxt):
                        del position[p]
        if refresh:
            stalls += 1
            await _refresh(client, topic, stalls)
        elif not progressed and position:
            stalls += 1
            if stalls > 50:
                raise LogError(f"reading {topic} made no progress at offsets {position} (of {dict(ranges)})")
        else:
            stalls = 0


async def _log_start(consumer: Any, topic: str, partition: int, position: int, end: int) -> int:
    """Where to read on when ``position`` is out of the log: its first offset when retention has
    removed the records before it (as a consumer reading from the earliest offset does)."""
    from aiokafka.structs import TopicPartition

    tp = TopicPartition(topic, partition)
    first = int((await consumer.beginning_offsets([tp]))[tp])
    if position >= first:
        raise LogError(f"offset {position} of {topic}[{partition}] is out of the log, which starts at {first}; "
                       "the topic was truncated or recreated since the replay began")
    log.warning("%s[%d]: offsets %d-%d are no longer in the log (retention); reading from %d",
                topic, partition, position, min(first, end) - 1, first)
    return first


async def _refresh(client: Any, topic: str, stalls: int) -> None:
    """Metadata again after a leader moved (or is not known yet, or its connection failed),
    backing off a little more each time."""
    if stalls > 50:
        raise LogError(f"the leaders of {topic}'s partitions did not answer a fetch after {stalls} tries")
    await asyncio.sleep(min(0.05 * stalls, 1.0))
    client.add_topic(topic)
    await client.force_metadata_update()
