"""Replay on a real Kafka broker: same alerts as on the embedded log, read without a consumer group."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from bench_corpus import bench_common

from monitor.adapters.embedded import SqliteLog
from monitor.adapters.kafka import KafkaLog
from monitor.codec import statement_message
from monitor.localkafka import LocalKafka
from monitor.ports import Message
from monitor.replay.audit import load_alert_set, read_live_alerts
from monitor.replay.engine import EngineChoice
from monitor.replay.range import RangeSpec
from monitor.replay.runner import ReplayOptions, run_replay
from monitor.replay.sources import KafkaSource, SqliteSource
from monitor.replay.testing import KeywordDetector, synthetic_statements

pytestmark = [pytest.mark.kafka]

ENGINE = EngineChoice("monitor.replay.testing:KeywordDetector", KeywordDetector())


async def groups(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {g[0] for g in await admin.list_consumer_groups()}
    finally:
        await admin.close()


async def test_kafka_replay_matches_embedded_byte_for_byte_and_joins_no_group(
    kafka_bootstrap: str, unique_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = unique_topic("statements")
    messages = [statement_message(e) for e in synthetic_statements(1500, actors=10)]
    messages.insert(700, Message(b"actor-001", b"{not json"))
    await write(topic, messages, kafka_bootstrap, partitions=4)
    embedded = SqliteLog(tmp_path / "log.db", default_partitions=4)
    await embedded.append(topic, messages)
    await embedded.close()

    before = await groups(kafka_bootstrap)
    sources = (("kafka", KafkaSource(kafka_bootstrap, topic)), ("sqlite", SqliteSource(tmp_path / "log.db", topic)))
    for name, source in sources:
        try:
            await run_replay(source, ENGINE, tmp_path / name)
        finally:
            await source.close()
    assert await groups(kafka_bootstrap) == before, "a replay must not create or join consumer groups"

    k, s = (tmp_path / "kafka" / "alerts.jsonl").read_bytes(), (tmp_path / "sqlite" / "alerts.jsonl").read_bytes()
    assert k == s and k.count(b"\n") > 50
    km, sm = load_alert_set(str(tmp_path / "kafka")).manifest, load_alert_set(str(tmp_path / "sqlite")).manifest
    assert km is not None and sm is not None
    assert km.input.partitions == sm.input.partitions and km.counts == sm.counts
    assert km.counts.dead_letters == 1

    # The partitions shared among two processes (each with its own group-less consumer): same bytes.
    source = KafkaSource(kafka_bootstrap, topic)
    try:
        await run_replay(source, ENGINE, tmp_path / "kafka2", ReplayOptions(jobs=2))
    finally:
        await source.close()
    for name in ("alerts.jsonl", "timeline.jsonl", "manifest.json"):
        assert (tmp_path / "kafka2" / name).read_bytes() == (tmp_path / "kafka" / name).read_bytes(), name
    assert await groups(kafka_bootstrap) == before

    # An offset range on Kafka stops at --to and folds what lies before --from.
    big = max(km.input.partitions, key=lambda p: km.input.partitions[p].end)
    assert km.input.partitions[big].end > 300
    source = KafkaSource(kafka_bootstrap, topic)
    try:
        part = await run_replay(source, ENGINE, tmp_path / "part",
                                ReplayOptions(range=RangeSpec.parse("100", f"{big}:300")))
    finally:
        await source.close()
    assert part.manifest.input.partitions[big].end == 300
    assert part.manifest.counts.folded_before_range == sum(min(100, r.end) for r in km.input.partitions.values())
    assert set(load_alert_set(str(tmp_path / "part")).alerts) < set(load_alert_set(str(tmp_path / "kafka")).alerts)


async def test_isolated_topic_on_kafka_reads_back_as_the_same_alerts(
    kafka_bootstrap: str, unique_topic: Callable[..., str], tmp_path: Path
) -> None:
    from monitor.cli import main

    topic = unique_topic("statements")
    messages = [statement_message(e) for e in synthetic_statements(400, actors=4)]
    await write(topic, messages, kafka_bootstrap, partitions=2)
    out = tmp_path / "r"
    import asyncio

    code = await asyncio.to_thread(main, ["replay", "--kafka", kafka_bootstrap, "--statements", topic, "--engine",
                                          "monitor.replay.testing:KeywordDetector", "--out", str(out), "--to-topic",
                                          "--progress", "none"])
    assert code == 0
    replayed = load_alert_set(str(out))
    assert replayed.manifest is not None
    source = KafkaSource(kafka_bootstrap, f"alerts.replay.{replayed.manifest.run_id}")
    try:
        isolated = await read_live_alerts(source, "isolated")
    finally:
        await source.close()
    assert isolated.alerts == replayed.alerts and replayed.alerts


async def test_kafka_source_reads_the_records_the_consumer_reads_and_drops_aborted_ones(
    kafka_bootstrap: str, unique_topic: Callable[..., str]
) -> None:
    """Plain, gzip-compressed and transactional batches (one transaction aborted), read natively
    where the replay can (``fetch_range``) and by aiokafka where it cannot: the same records as
    the consumer reads, none of the aborted ones."""
    from aiokafka import AIOKafkaProducer

    from monitor.replay.kafkaread import RecordSet
    from monitor.replay.range import PartitionRange

    topic = unique_topic("mixed")
    await write(topic, [Message(b"a%d" % i, b"plain-%d" % i) for i in range(300)], kafka_bootstrap, partitions=2)
    gzip = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, compression_type="gzip")
    txn = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"{topic}-txn")
    await gzip.start()
    await txn.start()
    try:
        for i in range(200):
            await gzip.send(topic, b"gzip-%d" % i, key=b"g%d" % (i % 7), partition=i % 2,
                            headers=[("h", b"x")] if i % 3 else [])
        await gzip.flush()
        source = KafkaSource(kafka_bootstrap, topic)
        try:
            before_txns = await source.end_offsets()
        finally:
            await source.close()
        for outcome in ("commit", "abort", "commit"):
            await txn.begin_transaction()
            for i in range(50):
                await txn.send(topic, b"%s-%d" % (outcome.encode(), i), key=b"t", partition=i % 2)
            await (txn.commit_transaction() if outcome == "commit" else txn.abort_transaction())
    finally:
        await gzip.stop()
        await txn.stop()
    # plain records after the transactions: the native reader resumes after aiokafka's batches
    await write(topic, [Message(b"z%d" % i, b"tail-%d" % i) for i in range(100)], kafka_bootstrap, partitions=2)

    source = KafkaSource(kafka_bootstrap, topic)
    try:
        ends = await source.end_offsets()
        ranges = {p: PartitionRange(0, 0, end) for p, end in ends.items()}
        inner = {p: PartitionRange(9, 9, end - 5) for p, end in ends.items()}  # cut inside batches
        plain_and_gzip = {p: PartitionRange(3, 3, end) for p, end in before_txns.items()}
        kinds = set()
        for rs in (ranges, inner, plain_and_gzip):
            native = []
            async for batch in source.batches(rs):
                kinds.add((rs is plain_and_gzip, type(batch).__name__))
                native += [(r.partition, r.offset, r.key, r.value) for r in batch]
            consumer = await source._get()
            consumed = [(r.partition, r.offset, r.key, r.value)
                        async for batch in source._consumed(consumer, rs) for r in batch]
            assert sorted(native) == sorted(consumed)
            assert len(native) == len(set(native))
            if rs is ranges:
                values = {v for _, _, _, v in native}
        # plain batches are read in place, the compressed ones and those from the first aborted
        # transaction on by aiokafka
        assert {(True, RecordSet.__name__), (True, "list"), (False, RecordSet.__name__)} <= kinds, kinds
        assert not any(v.startswith(b"abort-") for v in values)
        assert sum(v.startswith(b"commit-") for v in values) > 0
        assert {b"tail-99", b"gzip-199", b"plain-0"} <= values
    finally:
        await source.close()


async def write(topic: str, messages: list[Message], bootstrap: str, *, partitions: int) -> None:
    """``messages`` appended to ``topic`` (made with ``partitions`` if it does not exist)."""
    log = KafkaLog(bootstrap, default_partitions=partitions)
    try:
        await log.ensure_topics({topic: partitions})
        await log.append(topic, messages)
    finally:
        await log.close()


async def test_records_removed_by_retention_are_skipped_as_the_consumer_skips_them(
    kafka_bootstrap: str, unique_topic: Callable[..., str]
) -> None:
    """A replay from offset 0 of a partition whose first records are gone reads from the log's
    first offset (aiokafka's consumer, reading from the earliest offset, does the same)."""
    from aiokafka.admin import RecordsToDelete
    from aiokafka.structs import TopicPartition

    from monitor.replay.range import PartitionRange

    topic = unique_topic("retention")
    await write(topic, [Message(b"a", b"v%d" % i) for i in range(100)], kafka_bootstrap, partitions=1)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(before_offset=60)})
    finally:
        await admin.close()
    source = KafkaSource(kafka_bootstrap, topic)
    try:
        got = [(r.offset, r.value) async for batch in source.batches({0: PartitionRange(0, 0, 100)}) for r in batch]
        assert got == [(i, b"v%d" % i) for i in range(60, 100)]
        assert [r.offset async for batch in source.batches({0: PartitionRange(0, 0, 50)}) for r in batch] == []
    finally:
        await source.close()


async def test_kernel_folds_kafka_record_sets_as_the_python_path_folds_them(
    kafka_bootstrap: str, unique_topic: Callable[..., str], tmp_path: Path, monitor_native: object
) -> None:
    """The default engine on Kafka: record sets read in place and folded by the replay kernel give
    the bytes the Python path gives (alerts, timeline, counts), with an actor filter, a dead letter
    and a tombstone among them."""
    from aiokafka import AIOKafkaProducer

    from monitor.replay.engine import build_engine

    topic = unique_topic("kernel")
    messages = [Message(k, v) for k, v in bench_common().encoded(3000, actors=30)]
    messages.insert(1000, Message(messages[1000].key, b"{not json"))
    await write(topic, messages, kafka_bootstrap, partitions=4)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, None, key=messages[5].key)  # a tombstone
    finally:
        await producer.stop()
    engine = build_engine("monitor.domain.detector:Detector", {})
    actors = frozenset(sorted({m.key.decode() for m in messages if m.key})[:5])  # 5 of the 30
    runs = {}
    for name, options in (("python", ReplayOptions(kernel=False)), ("kernel", ReplayOptions(threads=2)),
                          ("python-actors", ReplayOptions(kernel=False, actors=actors)),
                          ("kernel-actors", ReplayOptions(threads=2, actors=actors))):
        source = KafkaSource(kafka_bootstrap, topic)
        try:
            result = await run_replay(source, engine, tmp_path / name, options)
        finally:
            await source.close()
        out = tmp_path / name
        counts = result.manifest.counts
        runs[name] = ((out / "alerts.jsonl").read_bytes(), (out / "timeline.jsonl").read_bytes(), counts)
    for kind in ("", "-actors"):
        python, kernel = runs[f"python{kind}"], runs[f"kernel{kind}"]
        assert kernel == python
    counts = runs["python"][2]
    assert counts.dead_letters == 2 and counts.alerts > 100 and counts.records_read == 3002
    assert 0 < runs["python-actors"][2].skipped_by_filter < 3002


@pytest.mark.timeout(240)
async def test_a_replay_reads_on_across_a_broker_restart(kafka_broker: LocalKafka, unique_topic: Callable[..., str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker goes away during a replay and comes back on the same port two seconds later: the
    replay's reader retries its fetch (refreshing the metadata), goes on from where it was, and
    reads every record once."""
    import asyncio

    from monitor.replay import kafkaread
    from monitor.replay.range import PartitionRange

    retries: list[int] = []
    refresh = kafkaread._refresh

    async def counted(client: object, topic: str, stalls: int) -> None:
        retries.append(stalls)
        await refresh(client, topic, stalls)

    monkeypatch.setattr(kafkaread, "_refresh", counted)
    topic = unique_topic("restart")
    messages = [Message(b"a%d" % (i % 9), b"v%05d" % i + b"." * 200) for i in range(2000)]
    await write(topic, messages, kafka_broker.bootstrap, partitions=4)

    async def start_later() -> None:
        await asyncio.sleep(2.0)
        await asyncio.to_thread(kafka_broker.start)

    source = KafkaSource(kafka_broker.bootstrap, topic)
    back = None
    try:
        ends = await source.end_offsets()
        consumer = await source._get()
        got: list[tuple[int, int, bytes]] = []
        # small fetches: many round trips; the broker stops after the first
        async for batch in kafkaread.fetch_range(consumer, topic, {p: PartitionRange(0, 0, e) for p, e in ends.items()},
                                                 max_wait_ms=100, max_bytes=16_384, max_partition_bytes=4096):
            got += [(r.partition, r.offset, r.value) for r in batch]
            if back is None:
                await asyncio.to_thread(kafka_broker.stop)
                back = asyncio.ensure_future(start_later())
        assert back is not None
        await back
        assert retries, "the reader should have retried while the broker was down"
        assert len(got) == len(set(got)) == 2000
        assert sorted(v for _, _, v in got) == sorted(m.value for m in messages)
        for p in ends:
            assert [o for q, o, _ in got if q == p] == list(range(ends[p]))
    finally:
        await source.close()
