"""Fault tests (issue #9): each one breaks the pipeline on purpose and compares what comes out
with the fault-free run of the same input -- the pure core folded over the same statements.

* the Faust worker killed with SIGKILL mid-stream, then restarted;
* a second Faust worker joining mid-stream, then leaving (two rebalances under load);
* the embedded worker (``monitor run``) killed with SIGKILL mid-stream, then rerun;
* the broker stopped and restarted while statements are still being published;
* a webhook receiver down for the first 30 s of delivery;
* the dispatcher killed with SIGKILL mid-delivery from Kafka, then restarted;
* poison records (invalid JSON, schema_version 2, a 10 MB text, invalid UTF-8) mixed into
  valid ones, on Kafka and on the embedded log.

The bar in every case: the same set of alert ids as the fault-free run, none lost, a
duplicate only ever a byte-equal copy with the same id, and every poison record in the
dead-letter log with its reason. Everything runs as ops run it: ``python -m monitor ...``
in its own process, killed with real signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fault_helpers import (
    Process,
    assert_same_alerts,
    clean_env,
    count,
    fault_input,
    read_alerts,
    read_topic,
    reference,
    wait_until,
)

from monitor.adapters.embedded import SqliteLog
from monitor.adapters.kafka import KafkaLog
from monitor.codec import alert_message, statement_message
from monitor.deliver.testing import Reply, ScriptedServer, always, free_port
from monitor.deliver.verify import verify
from monitor.domain.models import DeadLetter, StatementEvent
from monitor.errors import MonitorError
from monitor.localkafka import LocalKafka
from monitor.ports import Message
from monitor.service import publish

pytestmark = [pytest.mark.fault, pytest.mark.slow]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BIG = 16 * 1024 * 1024  # topic max.message.bytes and producer max_request_size for the 10 MB record


def kafka_names() -> dict[str, str]:
    run = uuid.uuid4().hex[:10]
    return {
        "MONITOR_TOPICS__STATEMENTS": f"fault-statements-{run}",
        "MONITOR_TOPICS__ALERTS": f"fault-alerts-{run}",
        "MONITOR_TOPICS__DEAD_LETTER": f"fault-dlq-{run}",
        "MONITOR_WORKER__APP_ID": f"fault-{run}",
    }


def worker_env(bootstrap: str, names: dict[str, str], tmp_path: Path, *, batch_size: int) -> dict[str, str]:
    return clean_env(
        **names,
        MONITOR_KAFKA_BOOTSTRAP=bootstrap,
        MONITOR_WORKER__DATA_DIR=str(tmp_path / "faust"),
        # Small batches: the run spans many commits, so a kill lands between two of them.
        MONITOR_WORKER__BATCH_SIZE=str(batch_size),
        MONITOR_WORKER__BATCH_WINDOW_S="0.05",
        MONITOR_LOG_LEVEL="WARNING",
    )


async def alert_ids(log: KafkaLog | SqliteLog, topic: str) -> set[str]:
    return {a.id for a in await read_alerts(log, topic)}


# -- the Faust worker killed mid-stream ------------------------------------------------------------


@pytest.mark.kafka
@pytest.mark.timeout(240)
async def test_kafka_worker_killed_mid_stream_and_restarted_loses_no_alert(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    events = fault_input(20)
    expected = reference(events)
    names = kafka_names()
    alerts_topic = names["MONITOR_TOPICS__ALERTS"]
    env = worker_env(kafka_bootstrap, names, tmp_path, batch_size=10)
    log = KafkaLog(kafka_bootstrap)
    workers: list[Process] = []
    try:
        await log.ensure_topics({names[k]: 4 for k in names if k.startswith("MONITOR_TOPICS__")})
        await publish(log, events, topic=names["MONITOR_TOPICS__STATEMENTS"])

        workers.append(first := Process("worker-1", ["worker"], env, tmp_path))
        await wait_until(lambda: _at_least(log, alerts_topic, len(expected) // 10), within=90,
                         what="the first alerts", every=0.05, alive=[first])
        first.kill()
        at_kill = await count(log, alerts_topic)
        assert at_kill < len(expected), "the kill must land mid-stream"

        workers.append(second := Process("worker-2", ["worker"], env, tmp_path))
        # The dead member's session (Faust default 60 s) may hold the rebalance that long.
        await wait_until(lambda: _covers(log, alerts_topic, expected), within=150, what="every expected alert",
                         every=1.0, alive=[second])
        await asyncio.sleep(2.0)  # a spurious alert from a badly recovered stance table would show by now
        got = await read_alerts(log, alerts_topic)
        assert_same_alerts(got, expected, duplicates_allowed=True)
        assert await count(log, names["MONITOR_TOPICS__DEAD_LETTER"]) == 0
        assert second.popen.poll() is None, second.tail()
    finally:
        for proc in workers:
            proc.stop()
        await log.close()


@pytest.mark.kafka
@pytest.mark.timeout(300)
async def test_kafka_workers_joining_and_leaving_mid_stream_lose_no_alert(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Two rebalances under load: a second worker joins while the first is busy, then leaves
    (SIGTERM) while both are. Records in flight when a rebalance suspends the flow are
    abandoned and redelivered, never lost or folded twice into a state."""
    events = fault_input(30)
    expected = reference(events)
    names = kafka_names()
    statements, alerts_topic = names["MONITOR_TOPICS__STATEMENTS"], names["MONITOR_TOPICS__ALERTS"]
    group = names["MONITOR_WORKER__APP_ID"]
    third = len(events) // 3
    log = KafkaLog(kafka_bootstrap)
    workers: list[Process] = []
    try:
        await log.ensure_topics({names[k]: 4 for k in names if k.startswith("MONITOR_TOPICS__")})
        env = [worker_env(kafka_bootstrap, names, tmp_path / f"w{i}", batch_size=10) for i in (1, 2)]
        workers.append(first := Process("worker-1", ["worker"], env[0], tmp_path))
        await wait_until(lambda: _members(kafka_bootstrap, group, 1), within=90, what="worker-1 in the group",
                         every=0.2, alive=[first])
        await publish(log, events[:third], topic=statements)
        await wait_until(lambda: _at_least(log, alerts_topic, 1), within=60, what="the first alert",
                         every=0.05, alive=[first])
        workers.append(second := Process("worker-2", ["worker"], env[1], tmp_path))
        await publish(log, events[third:2 * third], topic=statements)  # while the group rebalances
        await wait_until(lambda: _members(kafka_bootstrap, group, 2), within=90, what="worker-2 in the group",
                         every=0.2, alive=[first, second])
        assert await count(log, alerts_topic) < len(expected), "the first rebalance must land mid-stream"
        await publish(log, events[2 * third:], topic=statements)
        second.stop()  # leaves the group: the second rebalance, with records in flight
        await wait_until(lambda: _covers(log, alerts_topic, expected), within=150, what="every expected alert",
                         every=1.0, alive=[first])
        await asyncio.sleep(2.0)  # a spurious alert from a badly recovered stance table would show by now
        assert_same_alerts(await read_alerts(log, alerts_topic), expected, duplicates_allowed=True)
        assert await count(log, names["MONITOR_TOPICS__DEAD_LETTER"]) == 0
        assert first.popen.poll() is None, first.tail()
    finally:
        for proc in workers:
            proc.stop()
        await log.close()


async def _members(bootstrap: str, group: str, n: int) -> bool:
    """The consumer group is stable with ``n`` members, each assigned partitions."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
    except KafkaError:
        return False
    finally:
        await admin.close()
    groups = described[0].groups if described else []
    return bool(groups) and groups[0][2] == "Stable" and len(groups[0][5]) == n


async def _at_least(log: KafkaLog | SqliteLog, topic: str, n: int) -> bool:
    try:
        return await count(log, topic) >= n
    except (KafkaError, MonitorError):  # the broker may be down on purpose
        return False


async def _covers(log: KafkaLog | SqliteLog, topic: str, expected: dict[str, object]) -> bool:
    try:
        if await count(log, topic) < len(expected):
            return False
        return await alert_ids(log, topic) >= set(expected)
    except (KafkaError, MonitorError):
        return False


# -- the embedded worker killed mid-stream ---------------------------------------------------------


@pytest.mark.timeout(120)
async def test_embedded_worker_killed_mid_stream_emits_each_alert_exactly_once(tmp_path: Path) -> None:
    events = fault_input(30)
    expected = reference(events)
    db = tmp_path / "log.db"
    log = SqliteLog(db)
    try:
        await publish(log, events, topic="statements")
        env = clean_env(MONITOR_WORKER__BATCH_SIZE="5", MONITOR_LOG_LEVEL="WARNING")
        follow = Process("run-follow", ["run", "--db", str(db), "--json"], env, tmp_path)
        await wait_until(lambda: _at_least(log, "alerts", len(expected) // 10), within=60,
                         what="the first alerts", every=0.02, alive=[follow])
        follow.kill()
        at_kill = await count(log, "alerts")
        assert at_kill < len(expected), "the kill must land mid-stream"

        rerun = Process("run-once", ["run", "--db", str(db), "--once", "--json"], env, tmp_path)
        assert await rerun.wait(60) == 0, rerun.tail()
        # One transaction per batch: no alert twice, none lost, nothing dead-lettered.
        assert_same_alerts(await read_alerts(log, "alerts"), expected, duplicates_allowed=False)
        assert await count(log, "statements.dlq") == 0
        assert (await log.committed("monitor.worker", "statements")) == await log.end_offsets("statements")
    finally:
        await log.close()


# -- the broker stopped and restarted under load ---------------------------------------------------


@pytest.mark.kafka
@pytest.mark.timeout(240)
async def test_broker_restarted_under_load_loses_no_alert(kafka_broker: LocalKafka, tmp_path: Path) -> None:
    events = fault_input(20)
    expected = reference(events)
    names = kafka_names()
    stmts, alerts_topic = names["MONITOR_TOPICS__STATEMENTS"], names["MONITOR_TOPICS__ALERTS"]
    bootstrap = kafka_broker.bootstrap
    publisher = _Publisher(bootstrap, stmts)
    log = KafkaLog(bootstrap)
    worker: Process | None = None
    try:
        await log.ensure_topics({names[k]: 4 for k in names if k.startswith("MONITOR_TOPICS__")})
        # The first chunk (two replicas) is sure to alert: it shows the worker is up and consuming.
        first, rest = events[:264], events[264:]
        chunks = [first] + [rest[i : i + 40] for i in range(0, len(rest), 40)]
        worker = Process("worker", ["worker"], worker_env(bootstrap, names, tmp_path, batch_size=20), tmp_path)
        await publisher.send(chunks[0])
        await wait_until(lambda: _at_least(log, alerts_topic, 1), within=90, what="the worker's first alert",
                         alive=[worker])

        async def load() -> None:
            for chunk in chunks[1:]:
                await publisher.send(chunk)
                await asyncio.sleep(0.1)

        loading = asyncio.create_task(load())
        await asyncio.sleep(1.0)
        published_at_stop = publisher.sent
        await asyncio.to_thread(kafka_broker.stop)
        assert published_at_stop < len(events), "the broker must stop while statements are still published"
        await asyncio.sleep(4.0)
        await asyncio.to_thread(kafka_broker.start)
        async with asyncio.timeout(90):
            await loading
        assert publisher.sent == len(events)

        await wait_until(lambda: _covers(log, alerts_topic, expected), within=120, what="every expected alert",
                         every=1.0, alive=[worker])
        await asyncio.sleep(2.0)
        assert_same_alerts(await read_alerts(log, alerts_topic), expected, duplicates_allowed=True)
        assert worker.popen.poll() is None, worker.tail()
    finally:
        if worker is not None:
            worker.stop()
        await publisher.close()
        await log.close()


class _Publisher:
    """Publishes chunks in order; on a broker error it reconnects and resends the chunk.

    The idempotent producer already retries through a short outage; a resend after an
    error only repeats statements, which the detector folds as republications.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.log = KafkaLog(bootstrap)
        self.sent = 0
        self.retries = 0

    async def send(self, chunk: list[StatementEvent]) -> None:
        for _ in range(60):
            try:
                await publish(self.log, chunk, topic=self.topic)
                self.sent += len(chunk)
                return
            except (KafkaError, MonitorError):
                self.retries += 1
                await self.log.close()
                await asyncio.sleep(1.0)
                self.log = KafkaLog(self.bootstrap)
        raise AssertionError("could not publish within 60 attempts")

    async def close(self) -> None:
        await self.log.close()


# -- a receiver down for 30 s ----------------------------------------------------------------------


@pytest.mark.timeout(120)
async def test_receiver_down_for_30_s_gets_every_alert_once_it_is_up(tmp_path: Path) -> None:
    alerts = list(reference(fault_input(2)).values())
    db = tmp_path / "log.db"
    log = SqliteLog(db)
    await log.append("alerts", [alert_message(a) for a in alerts])
    port = free_port()  # nothing listens here for the first 30 s
    receivers = tmp_path / "receivers.yaml"
    receivers.write_text(
        "defaults:\n"
        "  secrets: [{env: HOOK_SECRET}]\n"
        # Retries cover about 40 s, so a 30 s outage is survived without dead letters.
        "  retry: {schedule_s: [1, 2, 3, 4, 5, 5, 5, 5, 5, 5], jitter: 0.1}\n"
        "  breaker: {failure_threshold: 3, cooldown_s: 2}\n"
        "receivers:\n"
        f"  - {{name: hook, url: 'http://127.0.0.1:{port}/hook'}}\n"
    )
    env = clean_env(HOOK_SECRET=SECRET, MONITOR_DELIVER__POLL_INTERVAL_S="0.05", MONITOR_LOG_LEVEL="WARNING")
    dispatcher = Process("dispatch", ["dispatch", "--db", str(db), "--receivers", str(receivers)], env, tmp_path)
    server = ScriptedServer(always())
    try:
        await asyncio.sleep(30.0)
        assert dispatcher.popen.poll() is None, dispatcher.tail()
        assert await count(log, "deliveries.dlq") == 0, "nothing may be given up while retries remain"
        async with server.serve(port=port):
            ids = {a.id for a in alerts}
            await server.wait_for(lambda s: s.delivered_ids() == ids, within_s=40)
            await wait_until(lambda: _committed(log, "dispatch.hook", "alerts"), within=15,
                             what="the dispatcher's commit", alive=[dispatcher])
    finally:
        code = dispatcher.stop()
        await log.close()
    assert code == 0, dispatcher.tail()
    assert server.delivered_ids() == {a.id for a in alerts}
    _assert_duplicates_identical(server)
    assert await _dead_letters(db) == 0


async def _committed(log: KafkaLog | SqliteLog, group: str, topic: str) -> bool:
    return await log.committed(group, topic) == await log.end_offsets(topic)


async def _dead_letters(db: Path) -> int:
    log = SqliteLog(db)
    try:
        return await count(log, "deliveries.dlq")
    finally:
        await log.close()


def _assert_duplicates_identical(server: ScriptedServer) -> None:
    for hit in server.hits:
        assert verify(hit.body, hit.headers, [SECRET]).id == hit.webhook_id
    for wid, n in Counter(h.webhook_id for h in server.delivered()).items():
        if n > 1:
            assert len({h.body for h in server.delivered() if h.webhook_id == wid}) == 1


# -- the dispatcher killed mid-delivery, on Kafka --------------------------------------------------


@pytest.mark.kafka
@pytest.mark.timeout(120)
async def test_kafka_dispatcher_killed_mid_delivery_and_restarted_loses_nothing(
    kafka_bootstrap: str, tmp_path: Path, unique_topic: Callable[..., str]
) -> None:
    alerts = list(reference(fault_input(2)).values())
    topic = unique_topic("fault-alerts")
    group_prefix = f"fault-dispatch-{uuid.uuid4().hex[:8]}."
    log = KafkaLog(kafka_bootstrap)
    server = ScriptedServer(always(Reply(200, delay_s=0.05)))
    procs: list[Process] = []
    try:
        deliver_topics = {unique_topic("deliveries"): 4, unique_topic("deliveries-dlq"): 4,
                          unique_topic("receivers"): 1}
        await log.ensure_topics({topic: 4, **deliver_topics})
        await log.append(topic, [alert_message(a) for a in alerts])
        attempts, dlq, states = deliver_topics
        env = clean_env(
            HOOK_SECRET=SECRET,
            MONITOR_TOPICS__ALERTS=topic,
            MONITOR_DELIVER__ATTEMPTS_TOPIC=attempts,
            MONITOR_DELIVER__DEAD_LETTER_TOPIC=dlq,
            MONITOR_DELIVER__RECEIVERS_TOPIC=states,
            MONITOR_DELIVER__GROUP_PREFIX=group_prefix,
            MONITOR_DELIVER__POLL_INTERVAL_S="0.01",
            # A long commit interval makes the kill land between delivery and commit: duplicates follow.
            MONITOR_DELIVER__COMMIT_INTERVAL_S="1.0",
            MONITOR_LOG_LEVEL="WARNING",
        )
        async with server.serve() as url:
            receivers = tmp_path / "receivers.yaml"
            receivers.write_text(
                "defaults:\n"
                "  secrets: [{env: HOOK_SECRET}]\n"
                "  retry: {schedule_s: [0.05, 0.1, 0.2, 0.4, 0.8]}\n"
                f"receivers:\n  - {{name: slow, url: '{url}/hook'}}\n"
            )
            args = ["dispatch", "--kafka", kafka_bootstrap, "--receivers", str(receivers)]
            procs.append(first := Process("dispatch-1", args, env, tmp_path))
            await server.wait_for(lambda s: len(s.delivered_ids()) >= 15, within_s=60)
            first.kill()
            await asyncio.sleep(0.2)  # requests in flight at the kill still complete on the server side
            before_restart = server.delivered_ids()
            assert len(before_restart) < len(alerts), "the kill must land mid-delivery"

            procs.append(second := Process("dispatch-2", args, env, tmp_path))
            ids = {a.id for a in alerts}
            await server.wait_for(lambda s: s.delivered_ids() == ids, within_s=60)
            await wait_until(lambda: _committed(log, group_prefix + "slow", topic), within=30,
                             what="the dispatcher's commit", alive=[second])
            assert second.stop() == 0, second.tail()
        assert server.delivered_ids() == ids
        duplicated = {w for w, n in Counter(h.webhook_id for h in server.delivered()).items() if n > 1}
        assert duplicated <= before_restart, "only alerts delivered before the kill may be delivered again"
        _assert_duplicates_identical(server)
        assert await count(log, dlq) == 0
    finally:
        for proc in procs:
            proc.stop()
        await log.close()


# -- poison records mixed into valid ones ----------------------------------------------------------

_VALID = {
    "speaker": "Nobody", "published_at": "2024-01-01T00:00:00Z",
    "source_url": "https://news.example.org/poison", "language": "en",
}


def poison_records(events: list[StatementEvent]) -> tuple[list[Message], dict[int, tuple[str, str]]]:
    """``events`` with poison records slipped in on the same keys; index -> (kind, expected reason)."""
    kinds: list[tuple[str, Callable[[str, int], bytes], str]] = [
        ("invalid JSON", lambda actor, n: b'{"id": "poison-%d", "actor": ' % n, "not valid JSON"),
        ("schema_version 2",
         lambda actor, n: json.dumps({**_VALID, "schema_version": 2, "id": f"poison-{n}", "actor": actor,
                                      "text": "We will never give up."}).encode(),
         "invalid StatementEvent: schema_version: Input should be 1"),
        ("invalid UTF-8",
         lambda actor, n: json.dumps({**_VALID, "id": f"poison-{n}", "actor": actor, "text": "abc"}).encode()
         .replace(b"abc", b"a\xff\xfec"),
         "not valid JSON (str is not valid UTF-8"),
        ("10 MB text",
         lambda actor, n: json.dumps({**_VALID, "id": f"poison-{n}", "actor": actor,
                                      "text": "sanctions " * 1_000_000}).encode(),
         "invalid StatementEvent: text: String should have at most 20000 characters"),
    ]
    messages: list[Message] = []
    poison: dict[int, tuple[str, str]] = {}
    n = 0
    for i, event in enumerate(events):
        messages.append(statement_message(event))
        if i % 40 == 20:
            kind, make, reason = kinds[n % len(kinds)]
            poison[len(messages)] = (kind, reason)
            messages.append(Message(key=event.actor.encode(), value=make(event.actor, n)))
            n += 1
    return messages, poison


def _assert_dead_letters(letters: list[DeadLetter], poison_at: dict[tuple[int, int], tuple[str, str]],
                         topic: str) -> None:
    by_position = {(d.partition, d.offset): d for d in letters}
    missing = Counter(kind for position, (kind, _) in poison_at.items() if position not in by_position)
    assert not missing, f"poison records missing from the dead-letter log: {dict(missing)}"
    assert len(letters) == len(poison_at), f"{len(letters)} dead letters for {len(poison_at)} poison records"
    for position, (kind, reason) in poison_at.items():
        letter = by_position[position]
        assert letter.source_topic == topic
        assert reason in letter.error, f"{kind}: {letter.error!r}"
        assert len(letter.payload) <= 4096


@pytest.mark.kafka
@pytest.mark.timeout(180)
async def test_kafka_poison_records_are_dead_lettered_and_valid_ones_alert(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    events = fault_input(6)
    expected = reference(events)
    messages, poison = poison_records(events)
    assert sorted(kind for kind, _ in poison.values()).count("10 MB text") >= 1
    names = kafka_names()
    stmts, alerts_topic, dlq = (names["MONITOR_TOPICS__STATEMENTS"], names["MONITOR_TOPICS__ALERTS"],
                                names["MONITOR_TOPICS__DEAD_LETTER"])
    log = KafkaLog(kafka_bootstrap)
    worker: Process | None = None
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=BIG)
    try:
        await log.ensure_topics({stmts: 4}, config={"max.message.bytes": str(BIG)})
        await log.ensure_topics({alerts_topic: 4, dlq: 4})
        await producer.start()
        futures = [await producer.send(stmts, key=m.key, value=m.value) for m in messages]
        metas = await asyncio.gather(*futures)
        poison_at = {(metas[i].partition, metas[i].offset): what for i, what in poison.items()}

        worker = Process("worker", ["worker"], worker_env(kafka_bootstrap, names, tmp_path, batch_size=200),
                         tmp_path)
        await wait_until(lambda: _covers(log, alerts_topic, expected), within=120, what="every expected alert",
                         every=1.0, alive=[worker])
        with contextlib.suppress(AssertionError):  # what is missing is reported below, by kind
            await wait_until(lambda: _at_least(log, dlq, len(poison)), within=20, what="every dead letter",
                             alive=[worker])
        await asyncio.sleep(2.0)
        assert_same_alerts(await read_alerts(log, alerts_topic), expected, duplicates_allowed=True)
        letters = [DeadLetter.model_validate_json(v) for v in await read_topic(log, dlq)]
        _assert_dead_letters(letters, poison_at, stmts)
        assert worker.popen.poll() is None, worker.tail()
    finally:
        if worker is not None:
            worker.stop()
        await producer.stop()
        await log.close()


@pytest.mark.timeout(120)
async def test_embedded_poison_records_are_dead_lettered_and_valid_ones_alert(tmp_path: Path) -> None:
    events = fault_input(6)
    expected = reference(events)
    messages, poison = poison_records(events)
    db = tmp_path / "log.db"
    log = SqliteLog(db)
    try:
        positions = await log.append("statements", messages)
        poison_at = {positions[i]: what for i, what in poison.items()}
        run = Process("run", ["run", "--db", str(db), "--once", "--json"], clean_env(MONITOR_LOG_LEVEL="WARNING"),
                      tmp_path)
        assert await run.wait(90) == 0, run.tail()
        assert_same_alerts(await read_alerts(log, "alerts"), expected, duplicates_allowed=False)
        letters = [DeadLetter.model_validate_json(v) for v in await read_topic(log, "statements.dlq")]
        _assert_dead_letters(letters, poison_at, "statements")
    finally:
        await log.close()
