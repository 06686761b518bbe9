"""One contract for the EventLog port, run on every adapter (embedded always, Kafka on a real broker)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.adapters.embedded import SqliteLog, partition_for
from monitor.ports import EventLog, Message


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventLog]:
    adapter: EventLog
    if request.param == "embedded":
        adapter = SqliteLog(tmp_path / "log.db", default_partitions=4)
    else:
        from monitor.adapters.kafka import KafkaLog

        adapter = KafkaLog(request.getfixturevalue("kafka_bootstrap"), default_partitions=4)
    yield adapter
    await adapter.close()


def fresh(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


async def test_is_an_event_log(log: EventLog) -> None:
    assert isinstance(log, EventLog)


async def test_same_key_same_partition_in_order(log: EventLog) -> None:
    topic = fresh("contract")
    msgs = [Message(key=b"kremlin" if i % 2 else b"nato", value=f"v{i}".encode()) for i in range(20)]
    positions = await log.append(topic, msgs)
    assert len(positions) == 20
    by_key: dict[bytes, set[int]] = {}
    for m, (p, _off) in zip(msgs, positions, strict=True):
        by_key.setdefault(m.key or b"", set()).add(p)
    assert all(len(parts) == 1 for parts in by_key.values())
    # The same partitioner as Kafka's Java client (murmur2), on both backends.
    assert by_key[b"kremlin"] == {partition_for(b"kremlin", 4)}
    p = partition_for(b"kremlin", 4)
    records = await log.read(topic, p, 0)
    assert [r.value for r in records if r.key == b"kremlin"] == [f"v{i}".encode() for i in range(1, 20, 2)]
    offsets = [r.offset for r in records]
    assert offsets == list(range(len(records)))


async def test_read_from_offset_and_past_end(log: EventLog) -> None:
    topic = fresh("contract")
    await log.append(topic, [Message(key=b"k", value=str(i).encode()) for i in range(10)])
    p = partition_for(b"k", 4)
    assert [r.value for r in await log.read(topic, p, 7)] == [b"7", b"8", b"9"]
    assert [r.value for r in await log.read(topic, p, 2, limit=3)] == [b"2", b"3", b"4"]
    assert await log.read(topic, p, 10) == []
    ends = await log.end_offsets(topic)
    assert ends[p] == 10 and sum(ends.values()) == 10
    assert await log.partitions(topic) == 4


async def test_timestamps_and_keys_round_trip(log: EventLog) -> None:
    topic = fresh("contract")
    await log.append(topic, [Message(key=b"a", value=b"x", timestamp_ms=1_700_000_000_000)])
    (rec,) = await log.read(topic, partition_for(b"a", 4), 0)
    assert (rec.key, rec.value, rec.timestamp_ms, rec.topic) == (b"a", b"x", 1_700_000_000_000, topic)


async def test_positions_commit_and_read_back(log: EventLog) -> None:
    topic = fresh("contract")
    await log.append(topic, [Message(key=b"k", value=b"v")])
    group = fresh("group")
    assert await log.committed(group, topic) == {0: 0, 1: 0, 2: 0, 3: 0}
    await log.commit(group, topic, {1: 5, 3: 2})
    assert await log.committed(group, topic) == {0: 0, 1: 5, 2: 0, 3: 2}
    assert await log.committed(fresh("other"), topic) == {0: 0, 1: 0, 2: 0, 3: 0}
