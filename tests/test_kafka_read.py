"""The replay's native reading of Kafka record sets (``monitor_native.read_batches``), checked
against aiokafka's own reading of the same bytes: plain, control, compressed and legacy batches,
headers, null keys and values, offset gaps, log-append time, cut responses and corrupt ones."""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka.consumer.fetcher import PartitionRecords
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.legacy_records import LegacyRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from monitor.errors import LogError
from monitor.replay.kafkaread import READ_COMMITTED, RecordSet, read_partition

GZIP = 1
Row = tuple[int, bytes | None, bytes | None, int]
Spec = list[tuple[int, bytes | None, bytes | None, list[tuple[str, bytes | None]]]]


def v2(base: int, records: Spec, *, ts: int = 1_700_000_000_000, compression: int = 0,
       control: bool = False, append_time: bool = False, producer_id: int = -1) -> bytes:
    """A v2 batch at ``base`` of ``(offset delta, key, value, headers)`` records, as a broker stores it
    (of a transaction of ``producer_id`` when it is given)."""
    producer = (producer_id, 0, 0) if control or producer_id >= 0 else (-1, -1, -1)
    builder = DefaultRecordBatchBuilder(2, compression, int(producer_id >= 0 or control), *producer, 1 << 30)
    for delta, key, value, headers in records:
        builder.append(delta, ts + 3 * delta - 5 * (delta % 2), key, value, headers)
    buf = builder.build()
    struct.pack_into(">q", buf, 0, base)
    attributes = struct.unpack_from(">h", buf, 21)[0] | (0x20 if control else 0) | (0x08 if append_time else 0)
    struct.pack_into(">h", buf, 21, attributes)
    return bytes(buf)


def legacy(base: int, values: list[bytes]) -> bytes:
    builder = LegacyRecordBatchBuilder(1, 0, 1 << 30)
    for i, value in enumerate(values):
        builder.append(base + i, 1_700_000_000_000 + i, b"k%d" % i, value)
    return bytes(builder.build())


def from_offset(data: bytes, start: int) -> bytes:
    """The record set a broker answers a fetch at ``start`` with: from the batch holding ``start``."""
    at = 0
    while at < len(data):
        base, length = struct.unpack_from(">qi", data, at)
        last = base + struct.unpack_from(">i", data, at + 23)[0] if data[at + 16] == 2 else base
        if last >= start:
            break
        at += 12 + length
    return data[at:]


def by_aiokafka(data: bytes, start: int, end: int, aborted: list[tuple[int, int]] | None = None) -> list[Row]:
    records = PartitionRecords(TopicPartition("t", 0), MemoryRecords(data), aborted, start, None, None, False,
                               READ_COMMITTED)
    return [(r.offset, r.key, r.value, r.timestamp) for r in records if r.offset < end]


def rows(batches: Sequence[Sequence[Any]]) -> list[Row]:
    return [(r.offset, r.key, r.value, r.timestamp_ms if hasattr(r, "timestamp_ms") else r.timestamp)
            for batch in batches for r in batch]


def random_records(rng: random.Random, n: int) -> Spec:
    out: Spec = []
    delta = 0
    for _ in range(n):
        key = None if rng.random() < 0.2 else bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 5, 200))))
        value = None if rng.random() < 0.05 else rng.randbytes(rng.choice((0, 1, 127, 128, 300, 17_000)))
        headers = [(f"h{j}", None if rng.random() < 0.3 else rng.randbytes(rng.choice((0, 9, 140))))
                   for j in range(rng.choice((0, 0, 1, 3)))]
        out.append((delta, key, value, headers))
        delta += rng.choice((1, 1, 1, 2, 5))  # gaps, as compaction leaves them
    return out


def log(rng: random.Random, kinds: Sequence[str]) -> tuple[bytes, int]:
    """Batches of the given kinds, one after another; the bytes and the next offset."""
    data, base = b"", 0
    for kind in kinds:
        if kind == "legacy":
            values = [rng.randbytes(40) for _ in range(rng.randint(1, 4))]
            data += b"".join(legacy(base + i, [v]) for i, v in enumerate(values))
            base += len(values)
            continue
        # a control batch holds one marker (here, a commit): version and type, version and epoch
        records = ([(0, struct.pack(">hh", 0, 1), struct.pack(">hi", 0, 3), [])] if kind == "control" else
                   random_records(rng, rng.randint(1, 12)))
        data += v2(base, records, compression=GZIP if kind == "gzip" else 0, control=kind == "control",
                   append_time=kind == "append_time")
        base += records[-1][0] + 1 + rng.choice((0, 0, 3))
    return data, base


@pytest.mark.parametrize("seed", range(40))
def test_native_reading_finds_what_aiokafka_finds(monitor_native: Any, seed: int) -> None:
    rng = random.Random(seed)
    # (aiokafka reads a record set in the format of its first batch: legacy batches come alone)
    kinds = (["legacy"] * rng.randint(1, 3) if seed % 8 == 7 else
             rng.choices(("plain", "plain", "plain", "control", "append_time", "gzip"), k=rng.randint(1, 7)))
    data, last = log(rng, kinds)
    for start, end in ((0, last + 10), (rng.randint(0, last), last + 10), (0, rng.randint(0, last + 1)),
                       (rng.randint(0, last // 2), rng.randint(last // 2, last + 1))):
        fetched = from_offset(data, start)
        found, nxt = read_partition(monitor_native.read_batches, "t", 0, fetched, start, end, None)
        assert rows(found) == by_aiokafka(fetched, start, end), (kinds, start, end)
        assert all(r.partition == 0 and r.topic == "t" for batch in found for r in batch)
        assert nxt >= start
        if kinds[0] in ("plain", "append_time") and start == 0 and end > last:
            assert isinstance(found[0], RecordSet), "a plain batch is read in place"


def test_a_cut_response_gives_its_whole_batches_and_leaves_the_rest(monitor_native: Any) -> None:
    rng = random.Random(5)
    batches = [v2(0, random_records(rng, 3)), v2(40, [(0, b"k", b"v" * 200, [])]), v2(41, random_records(rng, 4))]
    data = b"".join(batches)
    ends = [sum(map(len, batches[: i + 1])) for i in range(len(batches))]
    for cut in range(len(data) + 1):
        found, nxt, unread = monitor_native.read_batches(data[:cut], 0, 1000)
        whole = sum(1 for e in ends if e <= cut)
        assert unread is None
        assert [row[:3] for row in map(found.row, range(len(found)))] == [
            r[:3] for r in by_aiokafka(data[: ends[whole - 1]] if whole else b"", 0, 1000)]
        # where a batch ends the next fetch starts after it (its last offset delta, not its last record)
        last = batches[whole - 1] if whole else None
        assert nxt == (struct.unpack_from(">q", last)[0] + struct.unpack_from(">i", last, 23)[0] + 1 if last else 0)


def test_a_corrupt_batch_is_an_error_naming_the_partition_and_offset(monitor_native: Any) -> None:
    good = v2(40, [(0, b"a", b"x" * 50, []), (1, b"b", b"y" * 50, [])])
    bad = bytearray(good)
    bad[61] = 0x7E  # the first record's length (zigzag 63): its fields no longer add up to it
    with pytest.raises(LogError, match=r"statements\[2\] from offset 40: the batch at offset 40: a record"):
        read_partition(monitor_native.read_batches, "statements", 2, bytes(bad), 40, 100, None)
    struct.pack_into(">i", bad, 8, 20)  # a length shorter than the batch header
    with pytest.raises(LogError, match="shorter than its header"):
        read_partition(monitor_native.read_batches, "statements", 2, bytes(bad), 40, 100, None)


def test_records_are_indexed_and_sliced_as_a_sequence(monitor_native: Any) -> None:
    data = v2(7, [(0, b"a", b"1", []), (1, None, b"2", [("h", b"x")]), (2, b"c", None, [])])
    (found,), nxt = read_partition(monitor_native.read_batches, "s", 3, data, 0, 100, None)
    assert isinstance(found, RecordSet) and len(found) == 3 and nxt == 10
    assert found[-1].offset == 9 and found[-1].value is None and found[1].key is None
    assert [r.value for r in found[1:]] == [b"2", None]
    assert found[0] == ("s", 3, 7, b"a", b"1", 1_700_000_000_000)
    for outside in (3, -4):
        with pytest.raises(IndexError):
            found[outside]


def test_records_of_aborted_transactions_are_dropped_as_aiokafka_drops_them(monitor_native: Any) -> None:
    """Producer 9 aborts the transaction it started at offset 20 while producer 8 commits one; the
    batches before offset 20 are read in place, the rest by aiokafka with the aborted list."""
    rec = [(0, b"k", b"v0", []), (1, b"k", b"v1", [])]
    marker = [(0, struct.pack(">hh", 0, 0), struct.pack(">hi", 0, 3), [])]  # type 0: abort
    commit = [(0, struct.pack(">hh", 0, 1), struct.pack(">hi", 0, 3), [])]
    data = b"".join((
        v2(10, rec), v2(12, rec, producer_id=8), v2(14, commit, control=True, producer_id=8), v2(15, rec),
        v2(20, [(0, b"x", b"aborted", [])], producer_id=9), v2(21, rec), v2(23, marker, control=True, producer_id=9),
        v2(24, rec),
    ))
    aborted = [(9, 20)]
    for start, end in ((10, 100), (13, 100), (10, 22), (21, 100), (20, 21)):
        fetched = from_offset(data, start)
        found, _ = read_partition(monitor_native.read_batches, "t", 0, fetched, start, end, aborted)
        assert rows(found) == by_aiokafka(fetched, start, end, aborted), (start, end)
        assert b"aborted" not in [r[2] for r in rows(found)]
    found, nxt = read_partition(monitor_native.read_batches, "t", 0, data, 10, 100, aborted)
    assert [type(b).__name__ for b in found] == ["RecordSet", "list"] and nxt == 26
    assert [r[0] for r in rows(found)] == [10, 11, 12, 13, 15, 16, 21, 22, 24, 25]


class _Cluster:
    def __init__(self, leaders: list[int | None]) -> None:
        self.leaders = leaders

    def leader_for_partition(self, tp: TopicPartition) -> int | None:
        return self.leaders.pop(0) if len(self.leaders) > 1 else self.leaders[0]


class _Response:
    API_VERSION = 11

    def __init__(self, topic: str, parts: list[tuple[int, int, bytes]]) -> None:
        # (partition, error code, high watermark, last stable offset, log start, aborted, replica, records)
        self.topics = [(topic, [(p, code, 100, 100, 0, None, -1, data) for p, code, data in parts])]


class _Client:
    """aiokafka's client as fetch_range uses it, answering from a script of responses."""

    def __init__(self, leaders: list[int | None], responses: list[_Response]) -> None:
        self.cluster = _Cluster(leaders)
        self.responses = responses
        self.sent: list[Any] = []
        self.refreshed = 0

    async def send(self, node: int, request: Any) -> _Response:
        self.sent.append(request)
        return self.responses.pop(0)

    def add_topic(self, topic: str) -> None:
        pass

    async def force_metadata_update(self) -> bool:
        self.refreshed += 1
        return True


class _Consumer:
    def __init__(self, client: _Client, log_start: int = 0) -> None:
        self._client = client
        self.log_start = log_start

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, self.log_start)


def _fetch(consumer: _Consumer, ranges: dict[int, Any]) -> list[tuple[int, int]]:
    import asyncio

    from monitor.replay.kafkaread import fetch_range

    async def go() -> list[tuple[int, int]]:
        return [(r.partition, r.offset) async for batch in
                fetch_range(consumer, "t", ranges, max_wait_ms=1, max_bytes=1 << 20, max_partition_bytes=1 << 20)
                for r in batch]

    return asyncio.run(go())


def test_a_moved_leader_or_none_refreshes_the_metadata_and_fetches_again(monitor_native: Any) -> None:
    from monitor.replay.range import PartitionRange

    data = v2(0, [(i, b"k", b"v", []) for i in range(5)])
    not_leader = 6  # NOT_LEADER_OR_FOLLOWER: retriable
    client = _Client([None, 1], [_Response("t", [(0, not_leader, b"")]), _Response("t", [(0, 0, data)])])
    assert _fetch(_Consumer(client), {0: PartitionRange(0, 0, 5)}) == [(0, i) for i in range(5)]
    assert client.refreshed == 2 and len(client.sent) == 2


def test_fetch_errors_name_the_topic_partition_and_offset(monitor_native: Any) -> None:
    from monitor.replay.range import PartitionRange

    ranges = {0: PartitionRange(3, 3, 5)}
    denied = 29  # TOPIC_AUTHORIZATION_FAILED: not retriable
    with pytest.raises(LogError, match=r"fetching t\[0\] at offset 3 failed: TopicAuthorizationFailedError"):
        _fetch(_Consumer(_Client([1], [_Response("t", [(0, denied, b"")])])), ranges)
    out_of_range = 1
    with pytest.raises(LogError, match=r"offset 3 of t\[0\] is out of the log, which starts at 0"):
        _fetch(_Consumer(_Client([1], [_Response("t", [(0, out_of_range, b"")])])), ranges)
    # nothing comes back while the log says there is more: an error, not a loop without end
    stuck = _Client([1], [_Response("t", [(0, 0, b"x" * 5)]) for _ in range(60)])
    with pytest.raises(LogError, match="made no progress"):
        _fetch(_Consumer(stuck), ranges)
