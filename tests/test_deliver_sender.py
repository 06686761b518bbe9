"""Sender decisions (pure) and the retry loop over httpx.MockTransport with a fake clock (no sleeping)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from monitor.deliver.config import BreakerPolicy, ReceiverConfig, RetryPolicy, parse_receivers
from monitor.deliver.events import DeliveryAttempt
from monitor.deliver.sender import (
    BreakerState,
    CircuitBreaker,
    Sender,
    TokenBucket,
    classify,
    parse_retry_after,
    retry_delay,
)
from monitor.deliver.testing import make_alert

URL = "http://127.0.0.1:9/hook/TOPSECRETPATH"


class FakeClock:
    """Monotonic and wall time advance only when the code under test sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.t - 1000.0)

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def make_receiver(**extra: object) -> ReceiverConfig:
    doc = {"name": "r", "url": URL, "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
           "retry": {"schedule_s": [1, 10, 100], "jitter": 0}, **extra}
    (receiver,) = parse_receivers({"receivers": [doc]}, environ={})
    return receiver


def make_sender(
    handler: Callable[[httpx.Request], httpx.Response], clock: FakeClock, **extra: object
) -> tuple[Sender, list[DeliveryAttempt], list[BreakerState]]:
    attempts: list[DeliveryAttempt] = []
    changes: list[BreakerState] = []

    async def on_attempt(a: DeliveryAttempt) -> None:
        attempts.append(a)

    async def on_breaker(state: BreakerState, failures: int) -> None:
        changes.append(state)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    sender = Sender(client, make_receiver(**extra), on_attempt=on_attempt, on_breaker=on_breaker, clock=clock)
    return sender, attempts, changes


def scripted(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler


# -- pure decisions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(200, "delivered"), (202, "delivered"), (204, "delivered"), (None, "retry"), (500, "retry"), (503, "retry"),
     (408, "retry"), (429, "retry"), (410, "gone"), (400, "rejected"), (401, "rejected"), (404, "rejected"),
     (413, "rejected"), (301, "rejected")],
)
def test_classify(status: int | None, verdict: str) -> None:
    assert classify(status) == verdict


def test_retry_delay_follows_the_schedule_with_bounded_jitter() -> None:
    policy = RetryPolicy(schedule_s=(5, 300), jitter=0.2)
    assert retry_delay(policy, 1, None, 0.5) == 5
    assert retry_delay(policy, 1, None, 0.0) == pytest.approx(4.0)
    assert retry_delay(policy, 1, None, 0.999999) == pytest.approx(6.0, abs=1e-4)
    assert retry_delay(policy, 2, None, 0.5) == 300
    assert retry_delay(policy, 9, None, 0.5) == 300  # beyond the schedule: its last step


def test_retry_after_overrides_the_schedule_and_is_capped() -> None:
    policy = RetryPolicy(schedule_s=(5,), max_retry_after_s=60)
    assert retry_delay(policy, 1, 0.0, 0.5) == 0.0
    assert retry_delay(policy, 1, 30.0, 0.5) == 30.0
    assert retry_delay(policy, 1, 7200.0, 0.5) == 60.0


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_circuit_breaker_opens_half_opens_and_closes() -> None:
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=3, cooldown_s=10))
    assert breaker.acquire(0) == (0.0, None)
    assert breaker.failure(0) is None and breaker.failure(0) is None
    assert breaker.failure(1) == "open"
    wait, change = breaker.acquire(5)
    assert wait == pytest.approx(6) and change is None
    assert breaker.acquire(11) == (0.0, "half_open")  # the trial request
    assert breaker.acquire(11)[0] > 0  # everyone else waits for the trial
    assert breaker.failure(11) == "open"  # trial failed: a new cool-down
    assert breaker.acquire(15)[0] == pytest.approx(6)
    assert breaker.acquire(21) == (0.0, "half_open")
    assert breaker.success() == "closed"
    assert breaker.acquire(21) == (0.0, None)
    assert breaker.failures == 0


def test_token_bucket() -> None:
    bucket = TokenBucket(2.0)
    assert bucket.take(0) == 0 and bucket.take(0) == 0
    assert bucket.take(0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0


# -- the retry loop ------------------------------------------------------------------------------


async def test_retries_5xx_then_delivers_with_scheduled_delays() -> None:
    clock = FakeClock()
    sender, attempts, _ = make_sender(scripted(httpx.Response(503), httpx.Response(500), httpx.Response(200)), clock)
    result = await sender.deliver(make_alert(), occurred_at=clock.now(), partition=0, offset=7)
    assert result.outcome == "delivered"
    assert [a.outcome for a in attempts] == ["retry", "retry", "delivered"]
    assert [a.status_code for a in attempts] == [503, 500, 200]
    assert clock.sleeps == [1, 10]
    assert all(a.source_offset == 7 and a.receiver == "r" for a in attempts)


async def test_other_4xx_is_not_retried_and_keeps_the_response() -> None:
    clock = FakeClock()
    sender, attempts, _ = make_sender(scripted(httpx.Response(400, text="missing field 'x'")), clock)
    result = await sender.deliver(make_alert(), occurred_at=clock.now(), partition=0, offset=0)
    assert result.outcome == "dead_lettered"
    assert result.status_code == 400 and result.response_excerpt == "missing field 'x'"
    assert len(attempts) == 1 and attempts[0].outcome == "rejected"
    assert clock.sleeps == []


async def test_410_means_gone() -> None:
    clock = FakeClock()
    sender, attempts, _ = make_sender(scripted(httpx.Response(410)), clock)
    result = await sender.deliver(make_alert(), occurred_at=clock.now(), partition=0, offset=0)
    assert result.outcome == "gone" and [a.outcome for a in attempts] == ["gone"]


async def test_429_retry_after_is_honoured() -> None:
    clock = FakeClock()
    sender, _, _ = make_sender(scripted(httpx.Response(429, headers={"retry-after": "42"}), httpx.Response(200)), clock)
    result = await sender.deliver(make_alert(), occurred_at=clock.now(), partition=0, offset=0)
    assert result.outcome == "delivered" and clock.sleeps == [42]


async def test_timeouts_and_connection_errors_are_retried_then_dead_lettered_without_secrets() -> None:
    clock = FakeClock()
    handler = scripted(
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError(f"cannot connect to {URL}"),
        httpx.Response(502),
        httpx.RemoteProtocolError("peer closed"),
    )
    sender, attempts, _ = make_sender(handler, clock)
    result = await sender.deliver(make_alert(), occurred_at=clock.now(), partition=0, offset=0)
    assert result.outcome == "dead_lettered"
    assert [a.outcome for a in attempts] == ["retry", "retry", "retry", "failed"]
    assert attempts[0].error is not None and "timed out" in attempts[0].error
    assert attempts[1].error is not None and "ConnectError" in attempts[1].error
    assert all("TOPSECRETPATH" not in (a.error or "") for a in attempts)
    assert result.reason is not None and "4 attempts" in result.reason and "TOPSECRETPATH" not in result.reason


async def test_breaker_opens_and_holds_back_attempts_for_the_cool_down() -> None:
    clock = FakeClock()
    sender, _, changes = make_sender(
        scripted(httpx.Response(503), httpx.Response(503), httpx.Response(200)), clock,
        breaker={"failure_threshold": 2, "cooldown_s": 50},
    )
    result = await sender.deliver(make_alert(), occurred_at=clock.now(), partition=0, offset=0)
    assert result.outcome == "delivered"
    assert changes == ["open", "half_open", "closed"]
    # retry 2 was scheduled after 10 s, but the open breaker held it for the 50 s cool-down
    assert clock.sleeps[0] == 1 and sum(clock.sleeps) == pytest.approx(51)


async def test_rate_limit_spaces_requests() -> None:
    clock = FakeClock()
    sender, _, _ = make_sender(scripted(httpx.Response(200)), clock, rate_limit_per_s=2)
    for i in range(5):
        await sender.deliver(make_alert(i), occurred_at=clock.now(), partition=0, offset=i)
    assert sum(clock.sleeps) == pytest.approx(1.5)  # 2 burst, then one every 0.5 s


async def test_request_is_a_signed_post_to_the_configured_url() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    clock = FakeClock()
    sender, _, _ = make_sender(handler, clock)
    await sender.deliver(make_alert(), occurred_at=clock.now(), partition=0, offset=0)
    (request,) = seen
    assert request.method == "POST" and str(request.url) == URL
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == make_alert().id
    assert request.headers["webhook-signature"].startswith("v1,")
