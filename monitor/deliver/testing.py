"""Test helpers for delivery: alert factories and a scripted loopback webhook server.

:class:`ScriptedServer` is a real HTTP server (aiohttp on 127.0.0.1) whose answers follow
a script -- fail N times, hang, 429 with ``Retry-After``, 410, 400 -- and which records
every request, so tests assert on what actually crossed the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from monitor.deliver.receiver import serve_app
from monitor.domain.ids import alert_id
from monitor.domain.models import Alert, AlertKind, Polarity, Severity, StatementRef

_BASE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def make_alert(
    n: int = 0,
    *,
    actor: str = "acme-party",
    topic: str = "tariffs",
    kind: AlertKind = AlertKind.CONTRADICTION,
    severity: Severity = Severity.HIGH,
) -> Alert:
    """A valid, deterministic alert; ``n`` varies the statement (and so the id)."""
    statement_id = f"st-{actor}-{n}"
    return Alert(
        id=alert_id(statement_id, kind.value, topic),
        kind=kind,
        actor=actor,
        topic=topic,
        topic_name=topic.replace("-", " ").title(),
        statement=StatementRef(
            id=statement_id,
            speaker="A. Speaker",
            quote=f"We will never raise tariffs <again> & again ({n}).",
            source_url=f"https://news.example.org/{actor}/{n}",
            published_at=_BASE_TIME + timedelta(hours=n),
        ),
        prior=StatementRef(
            id=f"st-{actor}-prior",
            speaker="A. Speaker",
            quote="Tariffs protect our workers.",
            source_url=None,
            published_at=_BASE_TIME - timedelta(days=30),
        ),
        severity=severity,
        confidence=0.9,
        explanation=f"{actor} now opposes {topic} after supporting it.",
        cues=("never",),
        prior_polarity=Polarity.PRO,
        new_polarity=Polarity.CONTRA,
        prior_intensity=3.0,
        new_intensity=-4.0,
        engine="test",
    )


@dataclass(frozen=True, slots=True)
class Reply:
    """How the scripted server answers one request (after ``delay_s``)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Hit:
    """One request as received: ``n`` counts all requests, ``attempt`` those with this webhook-id."""

    n: int
    attempt: int
    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


Script = Callable[[int, int], Reply]


def always(reply: Reply | None = None) -> Script:
    """Answer every request the same way (default: 200)."""
    answer = reply or Reply(200)
    return lambda n, attempt: answer


def fail_first(times: int, reply: Reply | None = None) -> Script:
    """Answer ``reply`` (default 503) to the first ``times`` attempts of each webhook-id, then 200."""
    failure = reply or Reply(503, body=b"try later")
    return lambda n, attempt: failure if attempt <= times else Reply(200)


class ScriptedServer:
    """A loopback webhook server answering by ``script(n, attempt)``; records every request."""

    def __init__(self, script: Script | None = None, *, by_id: dict[str, Reply] | None = None) -> None:
        self.script = script or always()
        self.by_id = dict(by_id or {})  # replies for given webhook-ids, whatever the script says
        self.hits: list[Hit] = []
        self._attempts: dict[str, int] = {}
        self._changed = asyncio.Condition()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        wid = headers.get("webhook-id", "")
        self._attempts[wid] = attempt = self._attempts.get(wid, 0) + 1
        n = len(self.hits) + 1
        reply = self.by_id[wid] if wid in self.by_id else self.script(n, attempt)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        hit = Hit(n, attempt, time.monotonic(), request.path, headers, body, reply.status)
        self.hits.append(hit)
        async with self._changed:
            self._changed.notify_all()
        return web.Response(status=reply.status, body=reply.body, headers=reply.headers)

    def delivered(self) -> list[Hit]:
        """Requests answered 2xx."""
        return [h for h in self.hits if 200 <= h.status < 300]

    def delivered_ids(self) -> set[str]:
        return {h.webhook_id for h in self.delivered()}

    async def wait_for(self, predicate: Callable[[ScriptedServer], bool], within_s: float = 10.0) -> None:
        """Wait until ``predicate(self)`` holds; raise TimeoutError after ``within_s`` seconds."""
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    @contextlib.asynccontextmanager
    async def serve(self, port: int = 0) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        async with serve_app(app, "127.0.0.1", port) as url:
            yield url


def free_port() -> int:
    """A loopback port that was free a moment ago (for "receiver down at start" tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
