"""Pipeline commands: run, worker, publish, alerts, detect, schemas."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitor.adapters import open_log
from monitor.adapters.embedded import SqliteLog
from monitor.codec import encode
from monitor.domain.detector import Detector
from monitor.domain.models import Alert, DeadLetter, StanceState, StatementEvent
from monitor.errors import ConfigError
from monitor.observability import configure_logging, serve
from monitor.render import format_alert
from monitor.service import publish, read_alerts, read_statements, read_statements_file, run_embedded
from monitor.settings import Settings

SCHEMA_MODELS: dict[str, type[Any]] = {
    "statement_event": StatementEvent,
    "alert": Alert,
    "stance_state": StanceState,
    "dead_letter": DeadLetter,
}
DEFAULT_SCHEMA_DIR = Path("schemas")


def settings_from(args: argparse.Namespace) -> Settings:
    """Build the settings at the edge: environment first, then explicit flags."""
    try:
        settings = Settings()
    except ValidationError as exc:  # name the variable the user has to fix
        problems = "; ".join(
            "MONITOR_" + "__".join(str(x) for x in err["loc"]).upper() + f" = {err.get('input')!r}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc
    configure_logging(settings.log_level, settings.log_format)
    update: dict[str, Any] = {}
    if getattr(args, "kafka", None):
        update["kafka"] = settings.kafka.model_copy(update={"bootstrap": args.kafka})
    if getattr(args, "db", None):
        update["embedded"] = settings.embedded.model_copy(update={"path": Path(args.db)})
    return settings.model_copy(update=update) if update else settings


def backend_args(p: argparse.ArgumentParser) -> None:
    """``--kafka`` and ``--db``: the two flags that choose the event log; read by :func:`settings_from`."""
    p.add_argument("--kafka", metavar="BOOTSTRAP", help="use Kafka at BOOTSTRAP (else MONITOR_KAFKA_BOOTSTRAP, "
                   "else the embedded SQLite log)")
    p.add_argument("--db", metavar="PATH", help="embedded log file (default .monitor/monitor.db)")


def _print_alerts(alerts: list[Alert], as_json: bool) -> None:
    for alert in alerts:
        if as_json:
            sys.stdout.write(encode(alert).decode() + "\n")
        else:
            sys.stdout.write(format_alert(alert) + "\n\n")


# -- run ----------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    events = read_statements_file(Path(args.input)) if args.input else []
    if settings.backend == "kafka":
        if args.sources or args.receivers:
            raise ConfigError("on Kafka the scraper and the dispatcher run as their own services "
                              "(`monitor scrape`, `monitor dispatch`; see docker-compose.yml)")
        from monitor.stream.worker import run_worker

        if events:
            asyncio.run(_publish(settings, events))
        return run_worker(settings)
    services = _embedded_services(settings, args)
    if services and args.once:
        raise ConfigError("--sources/--receivers run services that follow the log; drop --once")
    return asyncio.run(_run_embedded(settings, events, once=args.once, as_json=args.json, services=services))


Service = Callable[[asyncio.Event], Coroutine[Any, Any, object]]


def _embedded_services(settings: Settings, args: argparse.Namespace) -> list[Service]:
    """The scraper and the dispatcher, in this process, when their files are given."""
    services: list[Service] = []
    if args.sources:
        from monitor.commands.scrape import run_scraper
        from monitor.scrape.attribution import Resolver
        from monitor.scrape.config import load_sources, load_watchlist

        sources_file = load_sources(Path(args.sources))
        watchlist = load_watchlist(sources_file.watchlist or settings.scrape.watchlist)
        sources, resolver = list(sources_file.sources), Resolver(watchlist)
        services.append(lambda stop: run_scraper(settings, sources, resolver, once=False, progress=False, stop=stop))
    receivers_path = args.receivers or settings.deliver.receivers_file
    if receivers_path:
        import os

        from monitor.commands.deliver import run_dispatcher
        from monitor.deliver.config import load_receivers

        receivers = load_receivers(Path(receivers_path), environ=os.environ)
        services.append(lambda stop: run_dispatcher(settings, receivers, stop))
    return services


async def _publish(settings: Settings, events: list[StatementEvent]) -> None:
    async with open_log(settings) as log:
        await publish(log, events, topic=settings.topics.statements)


async def _run_embedded(
    settings: Settings, events: list[StatementEvent], *, once: bool, as_json: bool, services: list[Service]
) -> int:
    log = SqliteLog(settings.embedded.path, default_partitions=settings.topics.partitions)
    if not once:
        serve(settings.observability.port, settings.observability.host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if events:
            await publish(log, events, topic=settings.topics.statements)
        async with asyncio.TaskGroup() as tg:
            for service in services:
                tg.create_task(service(stop))
            report = await run_embedded(
                log, settings, Detector(), follow=not once, stop=stop,
                on_alert=lambda a: _print_alerts([a], as_json),
            )
            stop.set()  # the worker ended (a signal, or --once): end the others with it
    finally:
        await log.close()
    print(
        f"processed {report.statements} statements: {report.alerts} alerts, "
        f"{report.dead_letters} dead letters ({settings.embedded.path})",
        file=sys.stderr,
    )
    return 0


# -- worker -------------------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if settings.backend != "kafka":
        raise ConfigError("monitor worker is the Faust worker and needs Kafka: pass --kafka HOST:PORT or set "
                          "MONITOR_KAFKA_BOOTSTRAP (for the embedded log use `monitor run`)")
    from monitor.stream.worker import run_worker

    return run_worker(settings)


# -- publish / alerts ---------------------------------------------------------------------


def cmd_publish(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    events = read_statements_file(Path(args.file))
    asyncio.run(_publish(settings, events))
    print(f"published {len(events)} statements to {settings.topics.statements!r} ({settings.backend})",
          file=sys.stderr)
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def go() -> list[Alert]:
        async with open_log(settings) as log:
            return await read_alerts(log, topic=args.topic or settings.topics.alerts)

    alerts = asyncio.run(go())
    _print_alerts(alerts, args.json)
    if not args.json:
        print(f"{len(alerts)} alerts", file=sys.stderr)
    return 0


# -- detect -------------------------------------------------------------------------------


def cmd_detect(args: argparse.Namespace) -> int:
    events = read_statements(sys.stdin, name="<stdin>")  # all lines validated before any output
    detector = Detector()
    if args.classifier != "rules":
        from monitor.classifiers import build_analyzer

        detector = Detector(analyzer=build_analyzer(args.classifier))
    states: dict[str, StanceState] = {}
    out: list[str] = []
    for event in events:
        state = states.get(event.actor) or StanceState.empty(event.actor)
        states[event.actor], alerts = detector.step(state, event)
        out.extend(encode(a).decode() for a in alerts)
    sys.stdout.write("".join(line + "\n" for line in out))
    return 0


# -- schemas ------------------------------------------------------------------------------


def render_schemas() -> dict[str, str]:
    """JSON Schema per model, serialised stably (the committed files must match byte for byte)."""
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for name, model in SCHEMA_MODELS.items()
    }


def cmd_schemas(args: argparse.Namespace) -> int:
    out = Path(args.out)
    rendered = render_schemas()
    if args.check:
        stale = [n for n, text in rendered.items() if not (out / n).exists() or (out / n).read_text() != text]
        for name in stale:
            print(f"stale or missing: {out / name} (run `monitor schemas`)", file=sys.stderr)
        return 1 if stale else 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(rendered)} schemas to {out}/", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the pipeline (embedded by default; Kafka with --kafka)")
    backend_args(p)
    p.add_argument("--input", metavar="FILE.jsonl", help="publish these statements first")
    p.add_argument("--once", action="store_true", help="process what is in the log, then exit (embedded)")
    p.add_argument("--json", action="store_true", help="print alerts as JSON Lines")
    p.add_argument("--sources", metavar="FILE", help="also run the scraper over these sources (embedded)")
    p.add_argument("--receivers", metavar="FILE", help="also deliver alerts to these receivers (embedded)")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("worker", help="run the Faust stream worker (Kafka)")
    backend_args(p)
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("publish", help="append statements from a JSON Lines file to the log")
    backend_args(p)
    p.add_argument("file", metavar="FILE.jsonl")
    p.set_defaults(handler=cmd_publish)

    p = sub.add_parser("alerts", help="print the alerts in the log")
    backend_args(p)
    p.add_argument("--json", action="store_true", help="JSON Lines instead of readable text")
    p.add_argument("--topic", help="read another alerts topic (e.g. a replay's)")
    p.set_defaults(handler=cmd_alerts)

    p = sub.add_parser("detect", help="statements (JSON Lines) on stdin -> alerts (JSON Lines) on stdout; no server")
    p.add_argument("--classifier", choices=("rules", "embeddings", "llm"), default="rules",
                   help="claim reader (default: the deterministic rules; see docs/classifiers.md)")
    p.set_defaults(handler=cmd_detect)

    p = sub.add_parser("schemas", help="write JSON Schema files of the event models")
    p.add_argument("--out", default=str(DEFAULT_SCHEMA_DIR), help="directory (default schemas/)")
    p.add_argument("--check", action="store_true", help="exit 1 if the files are stale instead of writing")
    p.set_defaults(handler=cmd_schemas)
