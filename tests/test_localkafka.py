"""The local broker is a real Kafka: keyed order, idempotence, transactions, restarts.

These also record what the Faust exactly-once evaluation relies on: transactional producers,
``read_committed`` consumers and offsets committed inside a transaction all work on this broker.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from monitor.errors import BrokerUnavailable, EnvironmentProblem
from monitor.localkafka import LocalKafka, ensure_jars

# -- helpers -------------------------------------------------------------------------------------


async def partitions_of(bootstrap: str, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(name, partitions, 1)])
        errors = [err for _topic, err, *_ in response.topic_errors if err]
        assert not errors, f"create_topics({name}) failed: {response.topic_errors}"
    finally:
        await admin.close()


async def read_to_end(
    bootstrap: str, topic: str, *, isolation_level: str = "read_uncommitted", timeout_s: float = 30.0
) -> list[Any]:
    """Every record of ``topic`` up to its end offsets (the last stable offsets for read_committed)."""
    partitions = await partitions_of(bootstrap, topic)
    assert partitions, f"{topic} has no partitions"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation_level, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any([await consumer.position(tp) < end[tp] for tp in partitions]):
            assert time.monotonic() < deadline, f"{topic}: only {len(records)} records before the timeout"
            batches = await consumer.getmany(timeout_ms=500)
            records.extend(record for batch in batches.values() for record in batch)
        return records
    finally:
        await consumer.stop()


def values(records: Iterable[Any]) -> list[bytes]:
    return sorted(record.value for record in records)


# -- the broker is a real Kafka ---------------------------------------------------------------------


@pytest.mark.kafka
async def test_keyed_records_keep_order_per_key_in_a_consumer_group(
    kafka_bootstrap: str, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic()
    await create_topic(kafka_bootstrap, topic, partitions=4)
    keys = [f"actor-{i}".encode() for i in range(8)]
    per_key = 25
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for seq in range(per_key):
            for key in keys:
                await producer.send(topic, key=key, value=str(seq).encode())
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=unique_topic("group"), auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: dict[bytes, list[int]] = defaultdict(list)
    partition_of: dict[bytes, set[int]] = defaultdict(set)
    try:
        assert consumer.partitions_for_topic(topic) == {0, 1, 2, 3}
        async with asyncio.timeout(60):
            async for record in consumer:
                seen[record.key].append(int(record.value))
                partition_of[record.key].add(record.partition)
                if sum(map(len, seen.values())) == len(keys) * per_key:
                    break
    finally:
        await consumer.stop()

    assert {key: seqs for key, seqs in seen.items()} == {key: list(range(per_key)) for key in keys}
    assert all(len(parts) == 1 for parts in partition_of.values()), partition_of
    assert len(set().union(*partition_of.values())) > 1, "8 keys should spread over several partitions"


@pytest.mark.kafka
async def test_idempotent_producer_writes_each_record_once(
    kafka_bootstrap: str, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic()
    await create_topic(kafka_bootstrap, topic, partitions=4)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()  # InitProducerId: fails here if the broker cannot do idempotence
    try:
        futures = [await producer.send(topic, key=b"k%d" % (i % 5), value=b"%03d" % i) for i in range(100)]
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()

    offsets: dict[int, list[int]] = defaultdict(list)
    for md in metadata:
        offsets[md.partition].append(md.offset)
    assert all(sorted(offs) == list(range(len(offs))) for offs in offsets.values()), offsets
    assert values(await read_to_end(kafka_bootstrap, topic)) == [b"%03d" % i for i in range(100)]


@pytest.mark.kafka
async def test_read_committed_sees_committed_transactions_only(
    kafka_bootstrap: str, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic()
    await create_topic(kafka_bootstrap, topic, partitions=4)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=unique_topic("txn"))
    await producer.start()
    try:
        async with producer.transaction():
            for i in range(10):
                await producer.send(topic, key=b"k%d" % i, value=b"committed-%d" % i)
        await producer.begin_transaction()
        for i in range(10):
            await producer.send(topic, key=b"k%d" % i, value=b"aborted-%d" % i)
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, key=b"k0", value=b"committed-last")
    finally:
        await producer.stop()

    committed = sorted([b"committed-%d" % i for i in range(10)] + [b"committed-last"])
    aborted = sorted(b"aborted-%d" % i for i in range(10))
    assert values(await read_to_end(kafka_bootstrap, topic, isolation_level="read_committed")) == committed
    assert values(await read_to_end(kafka_bootstrap, topic)) == sorted(committed + aborted)


@pytest.mark.kafka
async def test_offsets_commit_atomically_with_a_transaction(
    kafka_bootstrap: str, unique_topic: Callable[..., str]
) -> None:
    """Consume-transform-produce, the pattern behind Faust's exactly_once guarantee."""
    source, sink, group = unique_topic("in"), unique_topic("out"), unique_topic("group")
    await create_topic(kafka_bootstrap, source, partitions=1)
    await create_topic(kafka_bootstrap, sink, partitions=1)
    plain = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await plain.start()
    try:
        for i in range(5):
            await plain.send_and_wait(source, value=b"%d" % i)
    finally:
        await plain.stop()

    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=unique_topic("txn"))
    await consumer.start()
    await producer.start()
    tp = TopicPartition(source, 0)
    try:
        inputs: list[Any] = []
        async with asyncio.timeout(60):
            while len(inputs) < 5:
                inputs.extend((await consumer.getmany(tp, timeout_ms=1000)).get(tp, []))
        async with producer.transaction():
            for record in inputs:
                await producer.send(sink, value=b"double-%d" % (2 * int(record.value)))
            await producer.send_offsets_to_transaction({tp: inputs[-1].offset + 1}, group)
        # The broker writes the commit markers just after EndTxn returns, and aiokafka's OffsetFetch
        # (v1-v3, no require_stable) does not wait for them: the offset shows up a moment later.
        for _ in range(200):
            committed = await consumer.committed(tp)
            if committed == 5:
                break
            await asyncio.sleep(0.05)
        assert committed == 5
    finally:
        await producer.stop()
        await consumer.stop()

    outputs = await read_to_end(kafka_bootstrap, sink, isolation_level="read_committed")
    assert values(outputs) == sorted(b"double-%d" % (2 * i) for i in range(5))


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_restart_keeps_data_and_ports(
    kafka_broker: LocalKafka, unique_topic: Callable[..., str], how: str
) -> None:
    topic = unique_topic()
    bootstrap = kafka_broker.bootstrap
    await create_topic(bootstrap, topic, partitions=4)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(20):
            await producer.send(topic, key=b"k%d" % (i % 4), value=b"before-%02d" % i)
        await producer.flush()

        # In a thread, so the producer's background tasks keep running while the broker is away.
        if how == "kill":
            kafka_broker.kill()
        await asyncio.to_thread(kafka_broker.restart)
        assert kafka_broker.bootstrap == bootstrap

        async with asyncio.timeout(60):  # the open producer reconnects to the same address
            await producer.send_and_wait(topic, key=b"k0", value=b"after")
    finally:
        await producer.stop()

    expected = sorted([b"before-%02d" % i for i in range(20)] + [b"after"])
    assert values(await read_to_end(bootstrap, topic)) == expected


# -- environment errors (no broker needed) --------------------------------------------------------


def test_missing_java_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(EnvironmentProblem, match=r"Java 17.*KAFKA_BOOTSTRAP_SERVERS"):
        LocalKafka(cache_dir=tmp_path).start()


def test_half_copied_cache_is_fetched_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    libs = tmp_path / "4.1.1" / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-4.1.1.jar").write_bytes(b"")  # no .complete marker: an interrupted copy
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EnvironmentProblem, match=r"`mvn` is not on PATH.*KAFKA_BOOTSTRAP_SERVERS"):
        ensure_jars("4.1.1", tmp_path)


def test_bootstrap_before_start_is_an_error() -> None:
    with pytest.raises(BrokerUnavailable, match="never started"):
        _ = LocalKafka().bootstrap
