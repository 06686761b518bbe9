"""A Standard Webhooks receiver for humans and tests (``monitor receiver``).

It accepts ``POST`` on any path, verifies the signature with :func:`~monitor.deliver.verify.verify`
(401 on a bad signature or a timestamp outside the tolerance), drops duplicates by
``webhook-id`` (answering 200, so the sender stops retrying), and keeps, stores and
reports every accepted alert.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import structlog
from aiohttp import web

from monitor.deliver.verify import DEFAULT_TOLERANCE_S, verify
from monitor.errors import DeliveryError

_log = structlog.get_logger("monitor.deliver.receiver")


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted webhook."""

    webhook_id: str
    path: str
    received_at: datetime
    payload: Any
    headers: dict[str, str] = field(repr=False)


class WebhookReceiver:
    """Verifies, deduplicates and keeps Standard Webhooks; serve it with :meth:`serve`."""

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        on_alert: Callable[[Received], None] | None = None,
        store: Path | None = None,
        remember: int = 100_000,
    ) -> None:
        if not secrets:
            raise DeliveryError("a receiver needs at least one secret to verify signatures with")
        self._secrets = tuple(secrets)
        self.tolerance_s = tolerance_s
        self.received: list[Received] = []
        self.duplicates = 0
        self.rejected = 0
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._on_alert = on_alert
        self._store = store

    async def handle(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.json_response({"error": "POST only"}, status=405, headers={"allow": "POST"})
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            webhook = verify(body, headers, self._secrets, tolerance_s=self.tolerance_s)
        except DeliveryError as exc:
            self.rejected += 1
            _log.warning("webhook rejected", path=request.path, webhook_id=headers.get("webhook-id"), reason=str(exc))
            return web.json_response({"error": str(exc)}, status=401)
        if webhook.id in self._seen:
            self.duplicates += 1
            self._seen.move_to_end(webhook.id)
            _log.info("duplicate dropped", webhook_id=webhook.id)
            return web.json_response({"status": "duplicate", "id": webhook.id})
        self._seen[webhook.id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        item = Received(webhook.id, request.path, datetime.now(UTC), webhook.payload, headers)
        self.received.append(item)
        if self._store is not None:
            line = {"webhook_id": item.webhook_id, "received_at": item.received_at, "payload": item.payload}
            with self._store.open("ab") as out:
                out.write(orjson.dumps(line) + b"\n")
        if self._on_alert is not None:
            self._on_alert(item)
        return web.json_response({"status": "accepted", "id": webhook.id})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Listen on ``host:port`` (0: any free port); yields the base URL."""
        async with serve_app(self.app(), host, port) as url:
            yield url


@contextlib.asynccontextmanager
async def serve_app(app: web.Application, host: str, port: int) -> AsyncIterator[str]:
    """Run an aiohttp app on ``host:port``; yields ``http://host:actual_port``."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        actual = runner.addresses[0][1]
        yield f"http://{host}:{actual}"
    finally:
        await runner.cleanup()
