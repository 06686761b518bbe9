"""The dispatcher against real HTTP receivers on loopback that fail, hang, throttle, vanish or refuse.

Every test asserts that no alert is lost: each one reaches each matching receiver (or is
dead-lettered for it with every attempt recorded), and the consumer position never moves
past an alert that was neither.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
import structlog
from pydantic import BaseModel

from monitor.adapters.embedded import SqliteLog
from monitor.codec import alert_message
from monitor.deliver.config import DeliverSettings, ReceiverConfig, parse_receivers
from monitor.deliver.dispatcher import Dispatcher, ReceiverStates, enable_receiver
from monitor.deliver.events import RECEIVER_EVENT, BreakerChanged, DeadLettered, DeliveryAttempt, ReceiverDisabled
from monitor.deliver.testing import Reply, ScriptedServer, always, fail_first, free_port, make_alert
from monitor.deliver.verify import verify
from monitor.domain.models import Alert, AlertKind, Severity
from monitor.ports import Message

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOPIC = "alerts"
SETTINGS = DeliverSettings(poll_interval_s=0.01, commit_interval_s=0.05, state_poll_s=0.1)
FAST_RETRY = {"schedule_s": [0.05, 0.1, 0.2, 0.4], "jitter": 0.1}
M = TypeVar("M", bound=BaseModel)


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[SqliteLog]:
    log = SqliteLog(tmp_path / "log.db")
    yield log
    await log.close()


def receivers(*items: dict[str, Any]) -> list[ReceiverConfig]:
    # The breaker has its own test; elsewhere it would turn "fail 3 times" into cool-down waits.
    defaults = {"retry": FAST_RETRY, "timeout_s": 2, "secrets": [SECRET], "breaker": {"failure_threshold": 1000}}
    return parse_receivers({"defaults": defaults, "receivers": list(items)}, environ={})


def some_alerts(n: int, **kwargs: Any) -> list[Alert]:
    """``n`` alerts from five actors, so they spread over the partitions."""
    return [make_alert(i, actor=f"actor-{i % 5}", **kwargs) for i in range(n)]


async def publish(log: SqliteLog, alerts: Sequence[Alert]) -> None:
    await log.append(TOPIC, [alert_message(a) for a in alerts])


@asynccontextmanager
async def dispatching(log: SqliteLog, rcvs: list[ReceiverConfig]) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    async with httpx.AsyncClient() as client:
        dispatcher = Dispatcher(log, rcvs, client, alerts_topic=TOPIC, settings=SETTINGS)
        task = asyncio.create_task(dispatcher.run(stop))
        try:
            yield task
        finally:
            stop.set()
            async with asyncio.timeout(10):
                await task


async def read_events(log: SqliteLog, topic: str, model: type[M]) -> list[M]:
    out: list[M] = []
    for p in range(await log.partitions(topic)):
        out += [model.model_validate_json(r.value) for r in await log.read(topic, p, 0, 100_000)]
    return out


async def fully_committed(log: SqliteLog, receiver: str) -> bool:
    return await log.committed(f"dispatch.{receiver}", TOPIC) == await log.end_offsets(TOPIC)


async def eventually(check: Any, within_s: float = 10.0) -> None:
    """Poll ``check`` (a state in the log, which has no change notification) until it holds."""
    async with asyncio.timeout(within_s):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def assert_all_signed(server: ScriptedServer) -> None:
    for hit in server.hits:
        verify(hit.body, hit.headers, [SECRET])


async def test_receiver_failing_n_times_gets_every_alert_and_every_attempt_is_audited(log: SqliteLog) -> None:
    alerts = some_alerts(20)
    await publish(log, alerts)
    server = ScriptedServer(fail_first(3))
    async with server.serve() as url, dispatching(log, receivers({"name": "flaky", "url": url + "/hook"})):
        await server.wait_for(lambda s: len(s.delivered_ids()) == 20)
        await eventually(lambda: fully_committed(log, "flaky"))
    assert server.delivered_ids() == {a.id for a in alerts}
    assert Counter(h.webhook_id for h in server.hits) == {a.id: 4 for a in alerts}
    assert_all_signed(server)
    attempts = await read_events(log, SETTINGS.attempts_topic, DeliveryAttempt)
    by_alert: dict[str, list[DeliveryAttempt]] = {}
    for a in attempts:
        by_alert.setdefault(a.alert_id, []).append(a)
    assert set(by_alert) == {a.id for a in alerts}
    for history in by_alert.values():
        assert [a.attempt for a in history] == [1, 2, 3, 4]
        assert [a.outcome for a in history] == ["retry", "retry", "retry", "delivered"]
        assert [a.status_code for a in history] == [503, 503, 503, 200]
        assert all(a.receiver == "flaky" and a.latency_ms > 0 for a in history)
    assert await read_events(log, SETTINGS.dead_letter_topic, DeadLettered) == []


async def test_a_hanging_receiver_times_out_and_never_delays_a_healthy_one(log: SqliteLog) -> None:
    alerts = some_alerts(8)
    hanging = ScriptedServer(lambda n, attempt: Reply(503, delay_s=30) if attempt == 1 else Reply(200))
    healthy = ScriptedServer()
    async with hanging.serve() as slow_url, healthy.serve() as fast_url:
        rcvs = receivers(
            {"name": "slow", "url": slow_url, "timeout_s": 0.4},
            {"name": "fast", "url": fast_url},
        )
        async with dispatching(log, rcvs):
            started = time.monotonic()
            await publish(log, alerts)
            await healthy.wait_for(lambda s: len(s.delivered_ids()) == 8)
            fast_done = time.monotonic() - started
            assert len(hanging.delivered_ids()) < 8
            await hanging.wait_for(lambda s: len(s.delivered_ids()) == 8, within_s=15)
            await eventually(lambda: fully_committed(log, "slow"))
    assert fast_done < 0.4, f"the healthy receiver waited for the hanging one ({fast_done:.2f} s)"
    first_slow_success = min(h.at for h in hanging.delivered()) - started
    assert first_slow_success >= 0.4
    attempts = await read_events(log, SETTINGS.attempts_topic, DeliveryAttempt)
    timeouts = [a for a in attempts if a.receiver == "slow" and a.outcome == "retry"]
    assert len(timeouts) == 8 and all(a.error == "timed out after 0.4 s" and a.status_code is None for a in timeouts)
    assert_all_signed(healthy)


async def test_429_with_retry_after_is_honoured(log: SqliteLog) -> None:
    alert = make_alert(1)
    await publish(log, [alert])
    server = ScriptedServer(fail_first(1, Reply(429, headers={"Retry-After": "1"})))
    async with server.serve() as url, dispatching(log, receivers({"name": "throttled", "url": url})):
        await server.wait_for(lambda s: len(s.delivered_ids()) == 1, within_s=5)
    first, second = server.hits
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.95, "the 0.05 s schedule must yield to Retry-After: 1"
    (retry, _) = await read_events(log, SETTINGS.attempts_topic, DeliveryAttempt)
    assert retry.retry_in_s == 1.0


async def test_400_is_dead_lettered_at_once_with_the_response_and_others_still_flow(log: SqliteLog) -> None:
    alerts = some_alerts(10)
    poison = alerts[3].id
    server = ScriptedServer(by_id={poison: Reply(400, body=b'{"error":"unknown field"}')})
    await publish(log, alerts)
    async with server.serve() as url, dispatching(log, receivers({"name": "strict", "url": url})):
        await server.wait_for(lambda s: len(s.hits) == 10)
        await eventually(lambda: fully_committed(log, "strict"))
    assert Counter(h.webhook_id for h in server.hits)[poison] == 1, "a 400 must not be retried"
    assert server.delivered_ids() == {a.id for a in alerts} - {poison}
    (letter,) = await read_events(log, SETTINGS.dead_letter_topic, DeadLettered)
    assert letter.alert_id == poison and letter.receiver == "strict"
    assert letter.status_code == 400 and letter.response_excerpt == '{"error":"unknown field"}'
    assert letter.alert == alerts[3] and len(letter.attempts) == 1
    assert letter.attempts[0].outcome == "rejected"


async def test_out_of_attempts_goes_to_the_dead_letter_log_with_every_attempt(log: SqliteLog) -> None:
    alerts = some_alerts(3)
    await publish(log, alerts)
    server = ScriptedServer(always(Reply(500, body=b"boom")))
    async with server.serve() as url:
        rcv = receivers({"name": "broken", "url": url, "retry": {"schedule_s": [0.02, 0.02], "jitter": 0}})
        async with dispatching(log, rcv):
            await eventually(lambda: fully_committed(log, "broken"))
    letters = await read_events(log, SETTINGS.dead_letter_topic, DeadLettered)
    assert {d.alert_id for d in letters} == {a.id for a in alerts}
    for letter in letters:
        assert [a.outcome for a in letter.attempts] == ["retry", "retry", "failed"]
        assert letter.reason.startswith("no success after 3 attempts")
        assert letter.status_code == 500 and letter.response_excerpt == "boom"
    assert len(server.hits) == 9


async def test_410_disables_the_receiver_without_skipping_alerts_until_re_enabled(log: SqliteLog) -> None:
    alerts = some_alerts(6)
    await publish(log, alerts)
    gone = ScriptedServer(always(Reply(410)))
    other = ScriptedServer()
    async with gone.serve() as gone_url, other.serve() as other_url:
        rcvs = receivers({"name": "gone", "url": gone_url}, {"name": "other", "url": other_url})
        async with dispatching(log, rcvs):
            await other.wait_for(lambda s: len(s.delivered_ids()) == 6)
            await eventually(lambda: _disabled(log, "gone"))
            sent = len(gone.hits)
            await asyncio.sleep(0.3)
            # At most one request per partition was already in flight when the first 410 came back.
            assert 1 <= sent <= 4
            assert len(gone.hits) == sent, "nothing more is sent to a receiver that answered 410"
            assert gone.delivered_ids() == set()
            # The position did not move past the refused alert: nothing was skipped.
            positions = await log.committed("dispatch.gone", TOPIC)
            ends = await log.end_offsets(TOPIC)
            assert sum(ends.values()) - sum(positions.values()) >= 1
            # The operator fixes the endpoint and re-enables it; delivery resumes where it stopped.
            gone.script = always()
            await enable_receiver(log, SETTINGS, "gone", at=datetime.now(UTC), by="test")
            await gone.wait_for(lambda s: len(s.delivered_ids()) == 6)
            await eventually(lambda: fully_committed(log, "gone"))
    events = [RECEIVER_EVENT.validate_json(r.value) for p in range(4)
              for r in await log.read(SETTINGS.receivers_topic, p, 0)]
    disabled = [e for e in events if isinstance(e, ReceiverDisabled)]
    assert len(disabled) == 1 and disabled[0].status_code == 410 and disabled[0].alert_id in {a.id for a in alerts}
    assert await read_events(log, SETTINGS.dead_letter_topic, DeadLettered) == []


async def _disabled(log: SqliteLog, name: str) -> bool:
    states = ReceiverStates(log, SETTINGS.receivers_topic)
    await states.refresh()
    return not states.enabled(name)


async def test_receiver_down_at_start_gets_everything_once_up_and_the_breaker_recovers(log: SqliteLog) -> None:
    alerts = some_alerts(12)
    await publish(log, alerts)
    port = free_port()
    rcv = receivers({
        "name": "late", "url": f"http://127.0.0.1:{port}/hook",
        "retry": {"schedule_s": [0.1] * 40, "jitter": 0.2},
        "breaker": {"failure_threshold": 3, "cooldown_s": 0.3},
    })
    server = ScriptedServer()
    async with dispatching(log, rcv):
        await asyncio.sleep(1.0)
        async with server.serve(port=port):
            await server.wait_for(lambda s: len(s.delivered_ids()) == 12)
            await eventually(lambda: fully_committed(log, "late"))
    assert server.delivered_ids() == {a.id for a in alerts}
    assert_all_signed(server)
    attempts = await read_events(log, SETTINGS.attempts_topic, DeliveryAttempt)
    refused = [a for a in attempts if a.status_code is None]
    assert refused and all(a.error and "ConnectError" in a.error for a in refused)
    changes = [e.state for e in await read_events(log, SETTINGS.receivers_topic, BreakerChanged)]
    assert "open" in changes and changes[-1] == "closed"
    # While open, the breaker held requests back: far fewer attempts than 4 partitions x 10 polls/s.
    assert len(refused) < 30


async def test_filters_and_formats_over_the_wire(log: SqliteLog) -> None:
    contradictions = some_alerts(4, severity=Severity.CRITICAL)
    escalations = [make_alert(100 + i, actor="hawk", kind=AlertKind.ESCALATION, severity=Severity.LOW)
                   for i in range(3)]
    await publish(log, contradictions + escalations)
    server = ScriptedServer(always(Reply(202)))
    async with server.serve() as url:
        rcvs = receivers(
            {"name": "slack", "url": url + "/slack", "format": "slack", "filters": {"kinds": ["escalation"]}},
            {"name": "am", "url": url + "/am", "format": "alertmanager", "filters": {"actors": ["hawk"]}},
            {"name": "pd", "url": url + "/pd", "format": "pagerduty", "routing_key": "rk-123",
             "filters": {"min_severity": "critical"}},
        )
        async with dispatching(log, rcvs):
            await server.wait_for(lambda s: len(s.hits) == 3 + 3 + 4)
            for name in ("slack", "am", "pd"):
                await eventually(lambda name=name: fully_committed(log, name))
    by_path: dict[str, list[dict[str, Any]]] = {}
    for hit in server.hits:
        by_path.setdefault(hit.path, []).append(orjson.loads(hit.body))
    assert {m["blocks"][0]["type"] for m in by_path["/slack"]} == {"header"}
    assert all("hawk" in m["text"] for m in by_path["/slack"])
    assert {m["alerts"][0]["labels"]["alert_id"] for m in by_path["/am"]} == {a.id for a in escalations}
    assert {m["dedup_key"] for m in by_path["/pd"]} == {a.id for a in contradictions}
    assert all(m["routing_key"] == "rk-123" and m["event_action"] == "trigger" for m in by_path["/pd"])


async def test_status_and_enable_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from monitor.cli import main

    db = tmp_path / "cli.db"
    log = SqliteLog(db)
    await publish(log, some_alerts(3))
    server = ScriptedServer(always(Reply(410)))
    async with server.serve() as url, dispatching(log, receivers({"name": "hook", "url": url})):
        await eventually(lambda: _disabled(log, "hook"))
    await log.close()

    def run(*argv: str) -> int:
        try:
            return main(["dispatch", "--db", str(db), *argv])
        finally:
            structlog.reset_defaults()  # the CLI configures logging process-wide

    assert await asyncio.to_thread(run, "--status") == 0
    out = capsys.readouterr().out
    assert "hook" in out and "DISABLED" in out and "410" in out
    assert await asyncio.to_thread(run, "--enable", "hook") == 0
    assert await asyncio.to_thread(run, "--status") == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("hook"))
    assert "enabled" in line and line.split()[3] == "3"  # lag: all three alerts still to deliver
    assert await asyncio.to_thread(run) == 2  # no receivers file: a configuration error


async def test_undecodable_records_are_dead_lettered_not_skipped_silently(log: SqliteLog) -> None:
    good = some_alerts(3)
    await log.append(TOPIC, [Message(key=b"actor-0", value=b"{not json")])
    await publish(log, good)
    server = ScriptedServer()
    async with server.serve() as url, dispatching(log, receivers({"name": "r", "url": url})):
        await server.wait_for(lambda s: len(s.delivered_ids()) == 3)
        await eventually(lambda: fully_committed(log, "r"))
    (letter,) = await read_events(log, SETTINGS.dead_letter_topic, DeadLettered)
    assert letter.alert is None and letter.payload == "{not json" and "not valid JSON" in letter.reason
    assert letter.attempts == ()


async def test_a_new_receiver_can_start_from_the_latest_alerts(log: SqliteLog) -> None:
    old, new = some_alerts(3), [make_alert(50 + i, actor="late-actor") for i in range(2)]
    await publish(log, old)
    server = ScriptedServer()
    async with server.serve() as url, dispatching(log, receivers({"name": "r", "url": url, "start_from": "latest"})):
        await eventually(lambda: fully_committed(log, "r"))  # positions moved to the end at start
        await publish(log, new)
        await server.wait_for(lambda s: len(s.delivered_ids()) == 2)
        await eventually(lambda: fully_committed(log, "r"))
    assert server.delivered_ids() == {a.id for a in new}
