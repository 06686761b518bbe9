"""Replay commands: ``replay`` (re-run history), ``audit`` (compare alert sets), ``report`` (HTML + JSON).

A replay never pages anyone: its alerts go to a directory and, with ``--to-topic``, to an
isolated ``alerts.replay.<run-id>`` topic; only ``--deliver`` appends them to the live
alerts topic that the dispatcher delivers from.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from monitor.adapters import open_log
from monitor.commands.pipeline import backend_args, settings_from
from monitor.errors import InputError
from monitor.ports import Message
from monitor.replay.audit import (
    AlertSet,
    compare,
    format_audit,
    load_alert_set,
    read_live_alerts,
    scope_to_manifest,
)
from monitor.replay.engine import load_engine
from monitor.replay.range import RangeSpec
from monitor.replay.report import write_report
from monitor.replay.runner import ReplayOptions, ReplayResult, run_replay
from monitor.replay.snapshot import Snapshot, read_snapshot, write_snapshot
from monitor.replay.sources import KafkaSource, SqliteSource, StatementSource
from monitor.settings import Settings

LIVE = "live"


def open_source(settings: Settings, topic: str) -> StatementSource:
    """A read-only source of ``topic`` on the configured backend."""
    if settings.bootstrap:
        return KafkaSource(settings.bootstrap, topic, kafka=settings.kafka)
    return SqliteSource(settings.embedded.path, topic)


# -- progress -------------------------------------------------------------------------------------

def _progress(mode: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A rich bar on a terminal, plain lines (every 5 s) in CI, or nothing."""
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "plain"
    if mode == "none":
        return (lambda done, total: None), (lambda: None)
    if mode == "bar":
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        bar = Progress(TextColumn("replay"), BarColumn(), TaskProgressColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[rate]} stmt/s"), TimeRemainingColumn(),
                       console=Console(stderr=True), transient=False)
        task = bar.add_task("replay", total=None, rate="-")
        began = time.monotonic()
        bar.start()

        def update(done: int, total: int) -> None:
            elapsed = time.monotonic() - began
            bar.update(task, completed=done, total=total, rate=f"{done / elapsed:,.0f}" if elapsed > 0 else "-")

        return update, bar.stop
    began = time.monotonic()
    last = [began]

    def plain(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < 5.0 and done < total:
            return
        last[0] = now
        rate = done / (now - began) if now > began else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        pct = 100.0 * done / total if total else 100.0
        print(f"replay: {done}/{total} ({pct:.0f}%) {rate:,.0f} stmt/s eta {eta:.0f}s", file=sys.stderr, flush=True)

    return plain, (lambda: None)


# -- replay ---------------------------------------------------------------------------------------

async def _publish_file(settings: Settings, topic: str, alerts_file: Path, *, fresh: bool) -> int:
    """Append the alerts file to ``topic`` in file order, keyed by actor (like the worker)."""
    async with open_log(settings) as log:
        if fresh and sum((await log.end_offsets(topic)).values()) > 0:
            raise InputError(f"topic {topic!r} already holds records; pass --run-id to write a new one",
                             where="--to-topic")
        sent = 0
        chunk: list[Message] = []
        with alerts_file.open("rb") as fh:
            for line in fh:
                actor = orjson.loads(line)["actor"]
                chunk.append(Message(key=str(actor).encode("utf-8"), value=line.rstrip(b"\n")))
                if len(chunk) >= 1000:
                    await log.append(topic, chunk)
                    sent += len(chunk)
                    chunk = []
        if chunk:
            await log.append(topic, chunk)
            sent += len(chunk)
        return sent


def cmd_replay(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    spec = RangeSpec.parse(args.start, args.stop)
    engine = load_engine(args.engine, Path(args.engine_config) if args.engine_config else None)
    snapshot: Snapshot | None = read_snapshot(Path(args.snapshot)) if args.snapshot else None
    if snapshot is not None and snapshot.engine != engine.version:
        raise InputError(f"snapshot was folded by engine {snapshot.engine!r}, this replay runs "
                         f"{engine.version!r}; make a snapshot with the same engine", where=args.snapshot)
    options = ReplayOptions(range=spec, actors=frozenset(args.actor or ()), topics=frozenset(args.topic or ()),
                            warm=not args.cold, snapshot=snapshot, timeline=not args.no_timeline, run_id=args.run_id,
                            jobs=args.jobs, threads=args.threads)
    topic = args.statements or settings.topics.statements
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="monitor-replay-"))
    update, stop = _progress(args.progress)

    async def go() -> ReplayResult:
        source = open_source(settings, topic)
        try:
            return await run_replay(source, engine, out, options, on_progress=update)
        finally:
            await source.close()

    try:
        result = asyncio.run(go())
    finally:
        stop()
    m = result.manifest
    print(f"replayed {m.counts.statements_in_range} statements ({m.counts.folded_before_range} folded before the "
          f"range): {m.counts.alerts} alerts, {m.counts.dead_letters} undecodable; engine {m.engine.version}",
          file=sys.stderr)
    print(f"wrote {out}/ (alerts sha256 {m.output.alerts_sha256})", file=sys.stderr)
    if args.save_snapshot:
        write_snapshot(Path(args.save_snapshot), Snapshot(engine=engine.version, topic=topic,
                                                           positions=result.positions, states=result.states))
        print(f"wrote snapshot {args.save_snapshot} at {dict(sorted(result.positions.items()))}", file=sys.stderr)
    if args.to_topic:
        isolated = f"alerts.replay.{m.run_id}"
        n = asyncio.run(_publish_file(settings, isolated, result.alerts_path, fresh=True))
        print(f"appended {n} alerts to the isolated topic {isolated!r}", file=sys.stderr)
    if args.deliver:
        n = asyncio.run(_publish_file(settings, settings.topics.alerts, result.alerts_path, fresh=False))
        print(f"DELIVER: appended {n} alerts to the live topic {settings.topics.alerts!r}", file=sys.stderr)
    sys.stdout.write(f"{out}\n")
    return 0


# -- audit ----------------------------------------------------------------------------------------

async def _live(settings: Settings, alerts_topic: str, statements_topic: str, other: AlertSet) -> AlertSet:
    source = open_source(settings, alerts_topic)
    try:
        live = await read_live_alerts(source, f"live:{alerts_topic}")
    finally:
        await source.close()
    if other.manifest is None:
        return live
    statements = open_source(settings, other.manifest.input.topic or statements_topic)
    try:
        return await scope_to_manifest(live, other.manifest, statements)
    finally:
        await statements.close()


def cmd_audit(args: argparse.Namespace) -> int:
    if args.left == LIVE and args.right == LIVE:
        raise InputError("compare live with a replay or a file, not with itself", where="audit")
    settings = settings_from(args)
    alerts_topic = args.alerts_topic or settings.topics.alerts
    left = load_alert_set(args.left) if args.left != LIVE else None
    right = load_alert_set(args.right) if args.right != LIVE else None
    if left is None and right is not None:
        left = asyncio.run(_live(settings, alerts_topic, settings.topics.statements, right))
    if right is None and left is not None:
        right = asyncio.run(_live(settings, alerts_topic, settings.topics.statements, left))
    assert left is not None and right is not None
    result = compare(left, right, ignore=args.ignore or ())
    if args.json:
        Path(args.json).write_text(
            orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n",
            encoding="utf-8")
    sys.stdout.write(format_audit(result) + "\n")
    return 1 if result.differs else 0


# -- report ---------------------------------------------------------------------------------------

def cmd_report(args: argparse.Namespace) -> int:
    replay_dir = Path(args.replay)
    if not replay_dir.is_dir():
        raise InputError("not a directory; give the output directory of `monitor replay`", where=args.replay)
    html_path, json_path = write_report(replay_dir, Path(args.out) if args.out else replay_dir / "report.html")
    print(f"wrote {html_path} and {json_path}", file=sys.stderr)
    return 0


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return n


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("replay", help="re-run the detector over a range of the statements log (isolated)",
                       description="Replay statements through the worker's detector. Output goes to --out "
                       "(alerts.jsonl, timeline.jsonl, manifest.json); nothing is delivered unless --deliver.")
    backend_args(p)
    p.add_argument("--from", dest="start", metavar="BOUND",
                   help="inclusive: RFC 3339 time (record timestamp) or offsets per partition, e.g. 0:100,1:50")
    p.add_argument("--to", dest="stop", metavar="BOUND", help="exclusive; same forms (default: the end now)")
    p.add_argument("--statements", metavar="TOPIC", help="statements topic (default from settings)")
    p.add_argument("--actor", action="append", metavar="ID", help="only this actor (repeatable)")
    p.add_argument("--topic", action="append", metavar="TOPIC", help="only alerts on this stance topic (repeatable)")
    p.add_argument("--engine", metavar="MODULE:CALLABLE", help="engine factory (default: the worker's Detector)")
    p.add_argument("--engine-config", metavar="FILE", help="engine config (YAML/JSON mapping)")
    p.add_argument("--cold", action="store_true",
                   help="start from empty states at --from instead of folding the history before it")
    p.add_argument("--snapshot", metavar="FILE", help="start the fold from this snapshot instead of offset 0")
    p.add_argument("--save-snapshot", metavar="FILE", help="write the states at the end of the range")
    p.add_argument("--out", metavar="DIR", help="output directory (default: a new temporary directory)")
    p.add_argument("--run-id", help="name of the run (default: derived from the inputs, so reproducible)")
    p.add_argument("--to-topic", action="store_true", help="also append the alerts to alerts.replay.<run-id>")
    p.add_argument("--deliver", action="store_true",
                   help="ALSO append the alerts to the LIVE alerts topic, so receivers get them")
    p.add_argument("--no-timeline", action="store_true", help="skip timeline.jsonl (used by the report)")
    p.add_argument("--progress", choices=("auto", "bar", "plain", "none"), default="auto")
    p.add_argument("--jobs", type=_positive, metavar="N",
                   help="processes sharing the partitions (default: one per core for ranges of 50,000 statements "
                   "or more with an engine the replay kernel does not fold, else 1); the output is the same "
                   "whatever N")
    p.add_argument("--threads", type=_positive, metavar="N",
                   help="threads sharing the partitions in the native replay kernel (default engine only; default: "
                   "one per core); the output is the same whatever N")
    p.set_defaults(handler=cmd_replay)

    p = sub.add_parser("audit", help="compare two alert sets; exit 1 when they differ",
                       description="LEFT and RIGHT are replay directories, alerts .jsonl files, or 'live' (the "
                       "alerts topic, scoped to the other side's replay range).")
    backend_args(p)
    p.add_argument("left", metavar="LEFT")
    p.add_argument("right", metavar="RIGHT")
    p.add_argument("--ignore", action="append", metavar="FIELD", help="alert field not to compare (e.g. engine)")
    p.add_argument("--alerts-topic", metavar="TOPIC", help="live alerts topic (default from settings)")
    p.add_argument("--json", metavar="FILE", help="also write the differences as JSON")
    p.set_defaults(handler=cmd_audit)

    p = sub.add_parser("report", help="self-contained HTML report (+ JSON twin) of a replay")
    p.add_argument("replay", metavar="REPLAY_DIR")
    p.add_argument("--out", metavar="FILE.html", help="default REPLAY_DIR/report.html")
    p.set_defaults(handler=cmd_report)
