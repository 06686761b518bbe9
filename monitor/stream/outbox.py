"""A batch's outgoing records, sent as one record batch per topic partition.

``producer.send`` costs as much per record as the agent spends folding a statement: a
metadata wait, the partitioner, the accumulator's bookkeeping and a future, per record.
The agent already holds a whole batch of alerts (then of states) when it sends, so it
appends them to one aiokafka ``BatchBuilder`` per topic partition and submits each builder
once. Partitions are chosen by the producer's own partitioner (``key_partition``), as a
per-record send would choose them, so a state lands on its actor's changelog partition;
the order of records within a partition is the order they were added.

Under ``exactly_once`` the records go through Faust's transaction manager one by one
instead: it picks the transactional producer of each partition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

OutRecord = tuple[str, bytes | None, bytes]


async def send_records(
    producer: Any, records: Iterable[OutRecord], *, transactional: bool
) -> list[asyncio.Future[Any]]:
    """Send ``(topic, key, value)`` records through the app's ``producer``; the delivery futures.

    ``producer`` is what ``app.maybe_start_producer()`` returns: Faust's producer, or under
    ``exactly_once`` (``transactional``) the transaction manager.
    """
    if transactional:
        return [await producer.send(topic, key, value, None, None, None) for topic, key, value in records]
    kafka = producer._ensure_producer()  # the aiokafka producer inside Faust's (no public accessor)
    builders: dict[tuple[str, int], Any] = {}
    futures: list[asyncio.Future[Any]] = []
    known: set[str] = set()
    key_partition = producer.key_partition
    for topic, key, value in records:
        if topic not in known:
            await kafka.partitions_for(topic)  # the partitioner needs the topic's metadata
            known.add(topic)
        tp = key_partition(topic, key)
        where = (tp.topic, tp.partition)
        builder = builders.get(where)
        if builder is None:
            builder = builders[where] = kafka.create_batch()
        if builder.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
            futures.append(await kafka.send_batch(builder, tp.topic, partition=tp.partition))
            builder = builders[where] = kafka.create_batch()
            builder.append(key=key, value=value, timestamp=None)  # a builder always takes its first record
    for (topic, partition), builder in builders.items():
        futures.append(await kafka.send_batch(builder, topic, partition=partition))
    return futures
