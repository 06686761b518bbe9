"""Scraper commands: ``scrape`` (poll sources, publish statements), ``extract`` (a page to JSON Lines)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from monitor.adapters import open_log
from monitor.commands.pipeline import backend_args, settings_from
from monitor.errors import InputError
from monitor.observability import HEALTH, serve
from monitor.scrape.attribution import Resolver
from monitor.scrape.config import ScrapeSettings, load_sources, load_watchlist
from monitor.scrape.dedupe import ScrapeState
from monitor.scrape.extract import find_statements, parse_article
from monitor.scrape.fetch import PoliteFetcher, decode_body
from monitor.scrape.service import AnySource, ProgressKind, Scraper, ScrapeReport, candidates_to_events
from monitor.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("scrape", help="poll feeds and pages, publish attributed statements")
    p.add_argument("--sources", required=True, type=Path, metavar="FILE", help="sources YAML file")
    p.add_argument(
        "--watchlist",
        type=Path,
        metavar="FILE",
        help="watchlist YAML (else the sources file's, else MONITOR_SCRAPE__WATCHLIST)",
    )
    p.add_argument("--once", action="store_true", help="one pass over every source, then exit")
    p.add_argument(
        "--state", type=Path, metavar="PATH", help="scrape state file (default .monitor/scrape.db)"
    )
    backend_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress display even on a terminal")
    p.set_defaults(handler=_scrape)

    e = sub.add_parser("extract", help="print the statements found in one HTML page as JSON Lines")
    e.add_argument("file", type=Path, metavar="FILE.html")
    e.add_argument("--url", required=True, help="the page's URL (recorded as source_url)")
    e.add_argument("--watchlist", type=Path, metavar="FILE")
    e.add_argument("--published-at", help="publication time when the page has none (ISO 8601)")
    e.add_argument("--default-actor", help="actor of an official page (resolves title-only speakers)")
    e.add_argument("--transcript", action="store_true", help="treat 'Speaker: text' paragraphs as statements")
    e.set_defaults(handler=_extract)


def _settings(args: argparse.Namespace) -> Settings:
    settings = settings_from(args)
    if getattr(args, "state", None):
        return settings.model_copy(update={"scrape": settings.scrape.model_copy(update={"state_path": args.state})})
    return settings


def _extract(args: argparse.Namespace) -> int:
    settings = _settings(args)
    watchlist = load_watchlist(args.watchlist or settings.scrape.watchlist)
    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the page: {exc}", where=str(args.file)) from exc
    hint: datetime | None = None
    if args.published_at:
        try:
            hint = datetime.fromisoformat(args.published_at.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InputError(f"--published-at {args.published_at!r} is not ISO 8601") from exc
        hint = hint if hint.tzinfo else hint.replace(tzinfo=UTC)
    article = parse_article(decode_body(raw), args.url, published_hint=hint)
    resolver = Resolver(watchlist)
    candidates = find_statements(
        article, resolver, default_actor=args.default_actor, transcript=args.transcript
    )
    events, _ = candidates_to_events(
        candidates,
        article=article,
        published_at=article.published_at or datetime(1970, 1, 1, tzinfo=UTC),
        language="en",
        keep_unknown=watchlist.keep_unknown,
        window_days=settings.scrape.dedupe_window_days,
    )
    for ev in events:
        row = {
            "speaker": ev.speaker,
            "actor": ev.actor,
            "text": ev.text,
            "published_at": article.published_at.isoformat() if article.published_at else None,
            "source_url": ev.source_url,
            "speaker_as_written": ev.speaker_as_written,
            "kind": ev.kind,
            "offset": ev.offset,
            "id": ev.id if article.published_at else None,
        }
        sys.stdout.write(orjson.dumps(row).decode() + "\n")
    return 0


def _scrape(args: argparse.Namespace) -> int:
    settings = _settings(args)
    sources_file = load_sources(args.sources)
    watchlist = load_watchlist(args.watchlist or sources_file.watchlist or settings.scrape.watchlist)
    show = not args.no_progress and sys.stderr.isatty()
    if not args.once:
        serve(settings.observability.port, settings.observability.host)
        HEALTH.ready, HEALTH.stale_after_s = True, float("inf")  # liveness: the endpoint answers
    report = asyncio.run(
        run_scraper(settings, list(sources_file.sources), Resolver(watchlist), once=args.once, progress=show)
    )
    if report is not None:
        sys.stderr.write(
            f"scrape: {report.statements} new statements, {report.appearances} appearances, "
            f"{report.not_modified} not modified, {len(report.skips)} skipped\n"
        )
    return 0


async def run_scraper(
    settings: Settings,
    sources: list[AnySource],
    resolver: Resolver,
    *,
    once: bool,
    progress: bool,
    stop: asyncio.Event | None = None,
) -> ScrapeReport | None:
    cfg = settings.scrape
    state = ScrapeState(cfg.state_path, window_days=cfg.dedupe_window_days)
    try:
        with _progress(progress) as on_progress:
            async with open_log(settings) as log, _client(cfg) as client:
                scraper = Scraper(
                    fetcher=PoliteFetcher(client, cfg),
                    log=log,
                    state=state,
                    resolver=resolver,
                    settings=cfg,
                    topic=settings.topics.statements,
                    progress=on_progress,
                )
                if once:
                    return await scraper.run_once(sources)
                if stop is None:  # on its own: stop on a signal (`monitor run` passes its own event)
                    stop = asyncio.Event()
                    loop = asyncio.get_running_loop()
                    for sig in (signal.SIGINT, signal.SIGTERM):
                        with contextlib.suppress(NotImplementedError):
                            loop.add_signal_handler(sig, stop.set)
                await scraper.run_forever(sources, stop)
                return None
    finally:
        state.close()


@contextlib.asynccontextmanager
async def _client(cfg: ScrapeSettings) -> AsyncIterator[httpx.AsyncClient]:
    timeout = httpx.Timeout(cfg.read_timeout_s, connect=cfg.connect_timeout_s)
    limits = httpx.Limits(
        max_connections=cfg.max_concurrency * 2, max_keepalive_connections=cfg.max_concurrency
    )
    async with httpx.AsyncClient(
        timeout=timeout, limits=limits, follow_redirects=False, headers={"User-Agent": cfg.user_agent}
    ) as client:
        yield client


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("scraping"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=0)

        def on_progress(kind: ProgressKind, url: str) -> None:
            if kind == "queued":
                bar.update(task, total=(bar.tasks[0].total or 0) + 1, description=url[-60:])
            else:
                bar.advance(task)

        yield on_progress
