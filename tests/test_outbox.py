"""The worker's outbox on a real broker: one record batch per partition, each record where
a per-record send would have put it, in the order it was added."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import faust
import pytest
from aiokafka.partitioner import DefaultPartitioner

from monitor.adapters.kafka import KafkaLog
from monitor.stream.outbox import send_records

pytestmark = pytest.mark.kafka


async def test_records_land_on_the_key_partition_in_order(kafka_bootstrap: str,
                                                           unique_topic: Callable[..., str]) -> None:
    topic = unique_topic("outbox")
    log = KafkaLog(kafka_bootstrap)
    await log.ensure_topics({topic: 4})
    app = faust.App(f"outbox-{topic}", broker=f"kafka://{kafka_bootstrap}", producer_max_batch_size=4096)
    producer = app.producer
    await producer.start()
    try:
        # 40 keys x 25 values, with values big enough that a partition's records need several batches.
        records = [(topic, f"actor-{i % 40}".encode(), f"{i:05d}".encode() + b"x" * 300) for i in range(1000)]
        futures = await send_records(producer, records, transactional=False)
        assert len(futures) > 4  # builders filled up and were sent, more than one per partition
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    partitioner = DefaultPartitioner()
    got: dict[int, list[tuple[bytes | None, bytes]]] = {}
    try:
        for p in range(4):
            rows = await log.read(topic, p, 0, limit=2000)
            got[p] = [(r.key, r.value) for r in rows]
    finally:
        await log.close()
    assert sum(len(v) for v in got.values()) == len(records)
    for p, rows in got.items():
        for key, _value in rows:
            assert key is not None
            assert partitioner(key, [0, 1, 2, 3], [0, 1, 2, 3]) == p
        mine = set(rows)  # per partition, the order of send_records' input
        assert rows == [(k, v) for _t, k, v in records if (k, v) in mine]
