"""The Kafka adapter of the event-log port (aiokafka), for the edges: publish, read, positions.

The stream processing itself runs in Faust (``monitor.stream``); this adapter serves the
CLI, the scraper, the dispatcher and replay. Reads use manually assigned consumers
without a group, so they never disturb the live pipeline's consumer groups.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from aiokafka.structs import OffsetAndMetadata

from monitor.errors import BrokerUnavailable, LogError
from monitor.ports import Message, Record
from monitor.settings import KafkaSettings


def client_options(kafka: KafkaSettings, bootstrap: str) -> dict[str, Any]:
    """Connection options shared by producers, consumers and the admin client."""
    opts: dict[str, Any] = {"bootstrap_servers": bootstrap, "security_protocol": kafka.security_protocol}
    if kafka.sasl_mechanism:
        opts["sasl_mechanism"] = kafka.sasl_mechanism
        opts["sasl_plain_username"] = kafka.sasl_username
        opts["sasl_plain_password"] = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    if kafka.ssl_cafile is not None:
        from aiokafka.helpers import create_ssl_context

        opts["ssl_context"] = create_ssl_context(cafile=str(kafka.ssl_cafile))
    return opts


async def start_client(client: Any, bootstrap: str) -> Any:
    """Start an aiokafka producer or consumer; an unreachable broker is :class:`BrokerUnavailable`."""
    try:
        await client.start()
    except KafkaConnectionError as exc:
        await client.stop()
        raise BrokerUnavailable(f"cannot reach Kafka at {bootstrap}: {exc}; check MONITOR_KAFKA_BOOTSTRAP") from exc
    return client


class KafkaLog:
    """An :class:`~monitor.ports.EventLog` on a Kafka cluster."""

    def __init__(self, bootstrap: str, *, kafka: KafkaSettings | None = None, default_partitions: int = 4) -> None:
        self.bootstrap = bootstrap
        self._opts = client_options(kafka or KafkaSettings(), bootstrap)
        self.default_partitions = default_partitions
        self._producer: AIOKafkaProducer | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._groups: dict[str, AIOKafkaConsumer] = {}
        self._known: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def _admin(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(**self._opts)
        try:
            await admin.start()
        except KafkaConnectionError as exc:
            raise BrokerUnavailable(
                f"cannot reach Kafka at {self.bootstrap}: {exc}; check MONITOR_KAFKA_BOOTSTRAP"
            ) from exc
        return admin

    async def ensure_topics(self, topics: dict[str, int], *, config: dict[str, str] | None = None) -> None:
        """Create missing topics with the given partition counts (existing ones are left alone)."""
        admin = await self._admin()
        try:
            existing = set(await admin.list_topics())
            new = [
                NewTopic(name=t, num_partitions=n, replication_factor=1, topic_configs=config or {})
                for t, n in topics.items()
                if t not in existing
            ]
            if new:
                with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                    await admin.create_topics(new)
        finally:
            await admin.close()

    async def _get_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = await start_client(
                AIOKafkaProducer(
                    **self._opts, enable_idempotence=True, acks="all", linger_ms=5, max_batch_size=256 * 1024
                ),
                self.bootstrap,
            )
        return self._producer

    async def _get_reader(self) -> AIOKafkaConsumer:
        if self._reader is None:
            # read_committed: records of aborted transactions (an exactly_once worker that failed
            # mid-batch) are never read, delivered or replayed; end offsets are the stable offsets.
            self._reader = await start_client(
                AIOKafkaConsumer(
                    **self._opts,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    isolation_level="read_committed",
                ),
                self.bootstrap,
            )
        return self._reader

    async def append(self, topic: str, messages: Sequence[Message]) -> list[tuple[int, int]]:
        if not messages:
            return []
        await self.partitions(topic)
        producer = await self._get_producer()
        try:
            futures = [
                await producer.send(topic, value=m.value, key=m.key, timestamp_ms=m.timestamp_ms) for m in messages
            ]
            metas = await asyncio.gather(*futures)
        except KafkaError as exc:
            raise LogError(f"cannot append to Kafka topic {topic!r}: {exc}") from exc
        return [(md.partition, md.offset) for md in metas]

    async def read(self, topic: str, partition: int, offset: int, limit: int = 1000) -> list[Record]:
        async with self._lock:
            reader = await self._get_reader()
            tp = TopicPartition(topic, partition)
            if tp not in reader.assignment():
                reader.assign(sorted(reader.assignment() | {tp}, key=lambda t: (t.topic, t.partition)))
            end = (await reader.end_offsets([tp]))[tp]
            if offset >= end:
                return []
            reader.seek(tp, offset)
            out: list[Record] = []
            while len(out) < limit and offset < end:
                batch = await reader.getmany(tp, timeout_ms=1000, max_records=limit - len(out))
                msgs = batch.get(tp, [])
                if not msgs:
                    break
                for m in msgs:
                    out.append(Record(topic, partition, m.offset, m.key, m.value, m.timestamp))
                offset = out[-1].offset + 1
            return out

    async def partitions(self, topic: str) -> int:
        n = self._known.get(topic)
        if n is None:
            reader = await self._get_reader()
            parts = reader.partitions_for_topic(topic)
            if not parts:
                await self.ensure_topics({topic: self.default_partitions})
                parts = await self._wait_for_leaders(reader, topic)
            n = len(parts)
            self._known[topic] = n
        return n

    async def _wait_for_leaders(self, reader: AIOKafkaConsumer, topic: str, timeout_s: float = 15.0) -> set[int]:
        """After creating a topic, wait until every partition has a leader (else fetches fail)."""
        client = reader._client
        # Track the topic in the reader's metadata: once it has partitions assigned, its refreshes
        # only ask for the topics it tracks, and an untracked one would never show up.
        await client.add_topic(topic)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            await client.force_metadata_update()
            parts = client.cluster.partitions_for_topic(topic) or set()
            leaders = [client.cluster.leader_for_partition(TopicPartition(topic, p)) for p in parts]
            if parts and all(leader is not None and leader >= 0 for leader in leaders):
                return set(parts)
            if asyncio.get_running_loop().time() > deadline:
                raise LogError(f"topic {topic!r} was created but has no partition leaders after {timeout_s}s")
            await asyncio.sleep(0.1)

    async def end_offsets(self, topic: str) -> dict[int, int]:
        n = await self.partitions(topic)
        reader = await self._get_reader()
        tps = [TopicPartition(topic, p) for p in range(n)]
        ends = await reader.end_offsets(tps)
        return {tp.partition: int(off) for tp, off in ends.items()}

    async def _group(self, group: str, topic: str) -> AIOKafkaConsumer:
        """A consumer of ``group`` with ``topic`` assigned by hand: it commits without joining the group."""
        consumer = self._groups.get(group)
        if consumer is None:
            consumer = AIOKafkaConsumer(**self._opts, group_id=group, enable_auto_commit=False)
            await consumer.start()
            self._groups[group] = consumer
        n = await self.partitions(topic)
        wanted = {TopicPartition(topic, p) for p in range(n)}
        if not wanted <= consumer.assignment():
            consumer.assign(sorted(consumer.assignment() | wanted, key=lambda t: (t.topic, t.partition)))
        return consumer

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        consumer = await self._group(group, topic)
        out: dict[int, int] = {}
        for p in range(await self.partitions(topic)):
            off = await consumer.committed(TopicPartition(topic, p))
            out[p] = int(off) if off is not None else 0
        return out

    async def commit(self, group: str, topic: str, positions: dict[int, int]) -> None:
        consumer = await self._group(group, topic)
        offsets = {TopicPartition(topic, p): OffsetAndMetadata(off, "") for p, off in positions.items()}
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            raise LogError(f"cannot commit {group!r} positions on {topic!r}: {exc}") from exc

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        if self._reader is not None:
            await self._reader.stop()
        for consumer in self._groups.values():
            await consumer.stop()
        self._producer, self._reader, self._groups = None, None, {}
