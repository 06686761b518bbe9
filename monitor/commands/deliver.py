"""Delivery commands: ``dispatch`` (alerts log -> webhooks) and ``receiver`` (a verifying endpoint)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from pydantic import ValidationError

from monitor.adapters import open_log
from monitor.commands.pipeline import backend_args, settings_from
from monitor.deliver.config import ReceiverConfig, load_receivers
from monitor.deliver.dispatcher import Dispatcher, ReceiverStates, enable_receiver
from monitor.deliver.receiver import Received, WebhookReceiver
from monitor.domain.models import Alert
from monitor.errors import ConfigError, MonitorError
from monitor.observability import HEALTH, serve
from monitor.ports import EventLog
from monitor.render import format_alert
from monitor.settings import Settings

# -- dispatch -----------------------------------------------------------------------------


def _receivers(args: argparse.Namespace, settings: Settings, *, required: bool) -> list[ReceiverConfig]:
    path = Path(args.receivers) if args.receivers else settings.deliver.receivers_file
    if path is None:
        if required:
            raise ConfigError("no receivers file: pass --receivers FILE or set MONITOR_DELIVER__RECEIVERS_FILE")
        return []
    return load_receivers(path, environ=os.environ)


def cmd_dispatch(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.enable:
        asyncio.run(_enable(settings, args.enable))
        print(f"receiver {args.enable!r} enabled; a running dispatcher resumes it", file=sys.stderr)
        return 0
    if args.status:
        return asyncio.run(_status(settings, _receivers(args, settings, required=False)))
    receivers = _receivers(args, settings, required=True)
    if not receivers:
        raise ConfigError("the receivers file lists no receivers")
    serve(settings.observability.port, settings.observability.host)
    HEALTH.ready, HEALTH.stale_after_s = True, float("inf")  # liveness: the endpoint answers
    return asyncio.run(run_dispatcher(settings, receivers))


async def run_dispatcher(
    settings: Settings, receivers: list[ReceiverConfig], stop: asyncio.Event | None = None
) -> int:
    if stop is None:  # on its own: stop on a signal (`monitor run` passes its own event)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
    async with open_log(settings) as log, httpx.AsyncClient(limits=limits, follow_redirects=False) as client:
        dispatcher = Dispatcher(log, receivers, client, alerts_topic=settings.topics.alerts, settings=settings.deliver)
        try:
            await dispatcher.run(stop)
        except ExceptionGroup as group:
            # A failing log (LogError, BrokerUnavailable) surfaces as MonitorError -> exit code 3.
            cause = _first_monitor_error(group)
            if cause is None:
                raise
            raise cause from group
    return 0


def _first_monitor_error(group: BaseExceptionGroup[BaseException]) -> MonitorError | None:
    for exc in group.exceptions:
        if isinstance(exc, MonitorError):
            return exc
        if isinstance(exc, BaseExceptionGroup) and (found := _first_monitor_error(exc)) is not None:
            return found
    return None


async def _enable(settings: Settings, name: str) -> None:
    async with open_log(settings) as log:
        await enable_receiver(log, settings.deliver, name, at=datetime.now(UTC), by=os.environ.get("USER", "operator"))


async def _count_by_key(log: EventLog, topic: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for partition in range(await log.partitions(topic)):
        offset = 0
        while batch := await log.read(topic, partition, offset, 5000):
            counts.update(r.key.decode("utf-8", "replace") for r in batch if r.key is not None)
            offset = batch[-1].offset + 1
    return counts


async def _status(settings: Settings, receivers: list[ReceiverConfig]) -> int:
    deliver = settings.deliver
    async with open_log(settings) as log:
        states = await ReceiverStates(log, deliver.receivers_topic).refresh()
        dead = await _count_by_key(log, deliver.dead_letter_topic)
        ends = await log.end_offsets(settings.topics.alerts)
        names = sorted({r.name for r in receivers} | set(states) | set(dead))
        print(f"{'receiver':<24} {'state':<10} {'breaker':<10} {'lag':>7} {'dead':>6}  reason")
        for name in names:
            positions = await log.committed(deliver.group_prefix + name, settings.topics.alerts)
            lag = sum(end - positions.get(p, 0) for p, end in ends.items())
            state = states.get(name)
            enabled = "enabled" if state is None or state.enabled else "DISABLED"
            breaker = state.breaker if state else "closed"
            reason = (state.reason if state else None) or ""
            print(f"{name:<24} {enabled:<10} {breaker:<10} {lag:>7} {dead.get(name, 0):>6}  {reason}")
    return 0


# -- receiver -----------------------------------------------------------------------------


def _print_received(item: Received, *, as_json: bool) -> None:
    if as_json:
        line = {"webhook_id": item.webhook_id, "received_at": item.received_at, "payload": item.payload}
        sys.stdout.write(orjson.dumps(line).decode() + "\n")
    else:
        payload = item.payload
        try:
            text = format_alert(Alert.model_validate(payload["data"]))
        except (KeyError, TypeError, ValidationError):
            text = orjson.dumps(payload).decode()
        kind = payload.get("type", "?") if isinstance(payload, dict) else "?"
        sys.stdout.write(f"-- {item.received_at:%H:%M:%S} {item.webhook_id} {kind}\n{text}\n\n")
    sys.stdout.flush()


def cmd_receiver(args: argparse.Namespace) -> int:
    settings_from(args)  # validates MONITOR_* and configures the logs
    secrets = list(args.secret or [])
    for path in args.secret_file or []:
        try:
            secrets.append(Path(path).read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"cannot read --secret-file {path}: {exc.strerror}") from None
    if os.environ.get("MONITOR_RECEIVER_SECRET"):
        secrets.append(os.environ["MONITOR_RECEIVER_SECRET"])
    if not secrets:
        raise ConfigError("pass --secret S, --secret-file PATH or set MONITOR_RECEIVER_SECRET")
    receiver = WebhookReceiver(
        secrets,
        tolerance_s=args.tolerance,
        store=Path(args.store) if args.store else None,
        on_alert=None if args.quiet else lambda item: _print_received(item, as_json=args.json),
    )
    return asyncio.run(_serve(receiver, args.host, args.port))


async def _serve(receiver: WebhookReceiver, host: str, port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with receiver.serve(host, port) as url:
        print(f"listening on {url}", file=sys.stderr, flush=True)
        await stop.wait()
    print(
        f"accepted {len(receiver.received)}, duplicates {receiver.duplicates}, rejected {receiver.rejected}",
        file=sys.stderr,
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dispatch", help="deliver alerts from the log to webhook receivers (at least once)")
    p.add_argument("--receivers", metavar="FILE", help="receivers YAML (else MONITOR_DELIVER__RECEIVERS_FILE)")
    backend_args(p)
    p.add_argument("--status", action="store_true", help="print each receiver's state, lag and dead letters")
    p.add_argument("--enable", metavar="NAME", help="re-enable a receiver disabled by a 410, then exit")
    p.set_defaults(handler=cmd_dispatch)

    p = sub.add_parser("receiver", help="a Standard Webhooks endpoint that verifies, dedups and prints alerts")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8787, help="0 picks a free port (printed on stderr)")
    p.add_argument("--secret", action="append", metavar="S", help="accepted secret (repeat for rotation)")
    p.add_argument("--secret-file", action="append", metavar="PATH", help="read an accepted secret from a file")
    p.add_argument("--tolerance", type=float, default=300.0, metavar="SECONDS", help="timestamp tolerance")
    p.add_argument("--store", metavar="FILE.jsonl", help="append accepted webhooks to this file")
    p.add_argument("--json", action="store_true", help="print JSON Lines instead of readable alerts")
    p.add_argument("--quiet", action="store_true", help="do not print alerts")
    p.set_defaults(handler=cmd_receiver, kafka=None, db=None)
