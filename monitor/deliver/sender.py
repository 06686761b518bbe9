"""Deliver one alert to one receiver: retries with backoff, Retry-After, a circuit breaker
and a rate limit, over an injected :class:`httpx.AsyncClient`.

What is retried follows the webhook senders analysts' tools already expect (Svix,
Stripe, GitHub): 5xx, 408, 429, timeouts and connection errors are retried on the
receiver's schedule; any other 4xx is final (dead-lettered with the response); 410 Gone
means "stop sending here" and disables the receiver.

The decision functions (:func:`classify`, :func:`retry_delay`, :func:`parse_retry_after`)
and the breaker and bucket are pure: time is passed in, so they are tested without sleeping.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

import httpx
import structlog

from monitor.deliver.config import BreakerPolicy, ReceiverConfig, RetryPolicy, redact
from monitor.deliver.events import AttemptOutcome, DeliveryAttempt
from monitor.deliver.formats import render
from monitor.domain.models import Alert
from monitor.httputil import parse_retry_after

Verdict = Literal["delivered", "retry", "rejected", "gone"]
BreakerState = Literal["closed", "open", "half_open"]

_log = structlog.get_logger("monitor.deliver")


class Clock(Protocol):
    """Wall time for records, monotonic time for waits, and sleeping."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def classify(status: int | None) -> Verdict:
    """What an HTTP status (``None``: timeout or connection error) means for this delivery."""
    if status is None:
        return "retry"
    if 200 <= status < 300:
        return "delivered"
    if status == 410:
        return "gone"
    if status in (408, 429) or status >= 500:
        return "retry"
    return "rejected"


def retry_delay(policy: RetryPolicy, retry_number: int, retry_after: float | None, rand: float) -> float:
    """Delay before retry ``retry_number`` (1-based). ``rand`` is uniform in [0, 1).

    ``Retry-After`` wins over the schedule (capped at ``max_retry_after_s``), since the
    receiver knows best when it can take more; otherwise the scheduled delay times
    ``1 ± jitter`` so retries of many alerts do not arrive in lockstep.
    """
    if retry_after is not None:
        return min(retry_after, policy.max_retry_after_s)
    base = policy.schedule_s[min(retry_number, len(policy.schedule_s)) - 1]
    return max(0.0, base * (1.0 + policy.jitter * (2.0 * rand - 1.0)))


class CircuitBreaker:
    """Closed -> open after N consecutive failures -> half-open after a cool-down (one trial).

    Methods return the new state when the state changed, so the caller can record it.
    """

    def __init__(self, policy: BreakerPolicy) -> None:
        self.policy = policy
        self.state: BreakerState = "closed"
        self.failures = 0
        self._opened_at = 0.0
        self._trial = False

    def acquire(self, now: float) -> tuple[float, BreakerState | None]:
        """``(seconds to wait, new state)``; a zero wait means "send now"."""
        if self.state == "closed":
            return 0.0, None
        if self.state == "open":
            remaining = self._opened_at + self.policy.cooldown_s - now
            if remaining > 0:
                return remaining, None
            self.state = "half_open"
            self._trial = True
            return 0.0, "half_open"
        if not self._trial:
            self._trial = True
            return 0.0, None
        # Another request is the trial; check back soon.
        return max(0.01, min(self.policy.cooldown_s, 0.25)), None

    def success(self) -> BreakerState | None:
        self._trial = False
        self.failures = 0
        if self.state != "closed":
            self.state = "closed"
            return "closed"
        return None

    def failure(self, now: float) -> BreakerState | None:
        self._trial = False
        self.failures += 1
        if self.state == "half_open" or (self.state == "closed" and self.failures >= self.policy.failure_threshold):
            self.state = "open"
            self._opened_at = now
            return "open"
        return None

    def release(self) -> None:
        """Forget an unfinished trial (its request was cancelled)."""
        self._trial = False


class TokenBucket:
    """A rate limit of ``rate`` requests per second with bursts of up to ``max(1, rate)``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self._last: float | None = None

    def take(self, now: float) -> float:
        """Take a token: 0 if granted, else the seconds to wait before asking again."""
        if self._last is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How a delivery ended: delivered, dead-lettered (rejected or out of attempts) or gone (410)."""

    outcome: Literal["delivered", "dead_lettered", "gone"]
    attempts: tuple[DeliveryAttempt, ...]
    reason: str | None = None
    status_code: int | None = None
    response_excerpt: str | None = None


AttemptSink = Callable[[DeliveryAttempt], Awaitable[None]]
BreakerSink = Callable[[BreakerState, int], Awaitable[None]]

_EXCERPT = 1000


class Sender:
    """Delivers alerts to one receiver. Share one instance across that receiver's tasks, so
    the circuit breaker and rate limit see all its traffic."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        receiver: ReceiverConfig,
        *,
        on_attempt: AttemptSink,
        on_breaker: BreakerSink | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.receiver = receiver
        self.breaker = CircuitBreaker(receiver.breaker)
        self._bucket = TokenBucket(receiver.rate_limit_per_s) if receiver.rate_limit_per_s else None
        self._on_attempt = on_attempt
        self._on_breaker = on_breaker
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._secrets = receiver.secret_values()
        self._log = _log.bind(receiver=receiver.name, url=receiver.safe_url)

    async def deliver(self, alert: Alert, *, occurred_at: datetime, partition: int, offset: int) -> DeliveryResult:
        """Try until delivered, rejected, gone or out of attempts; every attempt goes to ``on_attempt``."""
        policy = self.receiver.retry
        attempts: list[DeliveryAttempt] = []
        for number in range(1, policy.max_attempts + 1):
            await self._admit()
            status, excerpt, error, retry_after, latency_ms = await self._post(alert, occurred_at)
            verdict = classify(status)
            await self._update_breaker(verdict, status)
            last = number == policy.max_attempts
            outcome: AttemptOutcome
            delay: float | None = None
            if verdict == "retry":
                outcome = "failed" if last else "retry"
                if not last:
                    delay = retry_delay(policy, number, retry_after, self._rng.random())
            else:
                outcome = verdict
            attempt = DeliveryAttempt(
                alert_id=alert.id,
                receiver=self.receiver.name,
                attempt=number,
                at=self._clock.now(),
                status_code=status,
                latency_ms=round(latency_ms, 3),
                outcome=outcome,
                error=error,
                retry_in_s=None if delay is None else round(delay, 3),
                source_partition=partition,
                source_offset=offset,
            )
            attempts.append(attempt)
            await self._on_attempt(attempt)
            log = self._log.bind(alert_id=alert.id, attempt=number, status=status, latency_ms=attempt.latency_ms)
            if outcome == "delivered":
                log.debug("delivered")
                return DeliveryResult("delivered", tuple(attempts), status_code=status)
            if outcome == "gone":
                log.warning("receiver gone (410); disabling it")
                return DeliveryResult("gone", tuple(attempts), "receiver answered 410 Gone", status, excerpt)
            if outcome == "rejected":
                log.error("rejected; dead-lettering", error=error)
                return DeliveryResult("dead_lettered", tuple(attempts), f"rejected with HTTP {status}", status, excerpt)
            if outcome == "failed":
                log.error("out of attempts; dead-lettering", error=error)
                reason = f"no success after {number} attempts; last: {error or f'HTTP {status}'}"
                return DeliveryResult("dead_lettered", tuple(attempts), reason, status, excerpt)
            log.warning("retrying", error=error, retry_in_s=attempt.retry_in_s)
            assert delay is not None
            await self._clock.sleep(delay)
        raise AssertionError("unreachable: the loop returns on its last attempt")  # pragma: no cover

    async def _admit(self) -> None:
        while True:
            wait, change = self.breaker.acquire(self._clock.monotonic())
            if change is not None:
                await self._breaker_changed(change)
            if wait <= 0:
                break
            await self._clock.sleep(wait)
        if self._bucket is not None:
            while (wait := self._bucket.take(self._clock.monotonic())) > 0:
                await self._clock.sleep(wait)

    async def _post(
        self, alert: Alert, occurred_at: datetime
    ) -> tuple[int | None, str | None, str | None, float | None, float]:
        rendered = render(alert, self.receiver, occurred_at=occurred_at, sent_at=self._clock.now())
        started = self._clock.monotonic()
        timeout = self.receiver.timeout_s
        status: int | None = None
        excerpt: str | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            # httpx's timeout is per phase; asyncio.timeout bounds the whole exchange.
            async with asyncio.timeout(timeout):
                response = await self.client.post(
                    self.receiver.url.get_secret_value(),
                    content=rendered.body,
                    headers=rendered.headers,
                    timeout=timeout,
                )
            status = response.status_code
            excerpt = redact(response.text[:_EXCERPT], self._secrets) if response.content else None
            if status in (429, 503) or classify(status) == "retry":
                retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock.now())
            if classify(status) != "delivered":
                error = f"HTTP {status}"
        except (TimeoutError, httpx.TimeoutException):
            error = f"timed out after {timeout:g} s"
        except httpx.TransportError as exc:
            error = redact(f"{type(exc).__name__}: {exc}", self._secrets)
        except BaseException:
            self.breaker.release()
            raise
        return status, excerpt, error, retry_after, (self._clock.monotonic() - started) * 1000.0

    async def _update_breaker(self, verdict: Verdict, status: int | None) -> None:
        change = self.breaker.failure(self._clock.monotonic()) if verdict == "retry" else self.breaker.success()
        if change is not None:
            await self._breaker_changed(change)

    async def _breaker_changed(self, state: BreakerState) -> None:
        self._log.warning("circuit breaker " + state.replace("_", "-"), consecutive_failures=self.breaker.failures)
        if self._on_breaker is not None:
            await self._on_breaker(state, self.breaker.failures)
