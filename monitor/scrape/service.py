"""The scrape loop: fetch -> extract -> dedupe -> publish to the event log.

A source or a page that fails is logged (``scrape.skip`` with the URL and the reason)
and counted in the :class:`ScrapeReport`; it never stops the other sources. Only a
failing event log stops a run, because nothing could be recorded anyway.

Events are appended before the scrape state records them (at-least-once): a crash in
between re-emits the same deterministic ids, which consumers deduplicate.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal

import feedparser  # type: ignore[import-untyped]
import orjson
import structlog
from pydantic import ValidationError

from monitor.domain.models import StatementEvent
from monitor.errors import FetchError, InputError, LogError
from monitor.observability import SCRAPE_SKIPS, SCRAPED
from monitor.ports import EventLog, Message
from monitor.scrape.attribution import UNKNOWN_ACTOR, Resolver
from monitor.scrape.config import FeedSource, JsonlSource, ScrapeSettings, SourceBase, UrlListSource
from monitor.scrape.dedupe import ScrapeState, Seen, statement_id
from monitor.scrape.extract import Article, Candidate, find_statements, parse_article
from monitor.scrape.fetch import Fetched, NotModified, PoliteFetcher

log = structlog.get_logger(__name__)

AnySource = FeedSource | UrlListSource | JsonlSource
Clock = Callable[[], datetime]
ProgressKind = Literal["queued", "done"]
Progress = Callable[[ProgressKind, str], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Skip:
    """A page or source that produced nothing, and why."""

    url: str
    reason: str


@dataclass
class _PassBatch:
    """Statements and page validators gathered by one pass over a feed or URL list."""

    events: list[StatementEvent] = field(default_factory=list)
    validators: list[tuple[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class ScrapeReport:
    """What one pass did: pages fetched, skipped, statements emitted, appearances recorded."""

    pages: int = 0
    not_modified: int = 0
    statements: int = 0
    appearances: int = 0
    known: int = 0
    dropped: int = 0
    skips: list[Skip] = field(default_factory=list)
    emitted: list[StatementEvent] = field(default_factory=list)

    def skip(self, url: str, reason: str) -> None:
        log.warning("scrape.skip", url=url, reason=reason)
        SCRAPE_SKIPS.inc()
        self.skips.append(Skip(url, reason))


def candidates_to_events(
    candidates: Sequence[Candidate],
    *,
    article: Article,
    published_at: datetime,
    language: str,
    keep_unknown: bool,
    window_days: int,
) -> tuple[list[StatementEvent], int]:
    """Turn attributed candidates into statement events; returns (events, dropped speakers)."""
    events: list[StatementEvent] = []
    dropped = 0
    for c in candidates:
        if c.resolved is not None:
            actor, speaker = c.resolved.actor, c.resolved.speaker
        elif keep_unknown:
            actor, speaker = UNKNOWN_ACTOR, c.speaker_as_written
        else:
            dropped += 1
            continue
        events.append(
            StatementEvent(
                id=statement_id(actor, c.text, published_at, window_days),
                actor=actor,
                speaker=speaker,
                text=c.text,
                published_at=published_at,
                source_url=article.url,
                language=language,
                kind=c.kind,
                speaker_as_written=c.speaker_as_written,
                offset=c.offset,
            )
        )
    return events, dropped


class Scraper:
    """Runs sources through fetch, extraction, dedupe and publication."""

    def __init__(
        self,
        *,
        fetcher: PoliteFetcher,
        log: EventLog,
        state: ScrapeState,
        resolver: Resolver,
        settings: ScrapeSettings,
        topic: str,
        clock: Clock = utc_now,
        progress: Progress | None = None,
    ) -> None:
        self._fetcher = fetcher
        self._log = log
        self._state = state
        self._resolver = resolver
        self._settings = settings
        self._topic = topic
        self._clock = clock
        self._progress = progress
        self._pages = asyncio.Semaphore(settings.max_concurrency)
        # Classify-append-record must not interleave, or two outlets' copies would both look new.
        self._publishing = asyncio.Lock()

    # -- passes ------------------------------------------------------------------------------------------

    async def run_once(self, sources: Sequence[AnySource]) -> ScrapeReport:
        """One pass over every enabled source, concurrently."""
        report = ScrapeReport()
        async with asyncio.TaskGroup() as tg:
            for source in sources:
                if source.enabled:
                    tg.create_task(self.scrape_source(source, report))
        log.info(
            "scrape.pass_done",
            pages=report.pages,
            not_modified=report.not_modified,
            statements=report.statements,
            appearances=report.appearances,
            skipped=len(report.skips),
        )
        return report

    async def run_forever(self, sources: Sequence[AnySource], stop: asyncio.Event) -> None:
        """Poll each source at its own interval until ``stop`` is set."""

        async def poll(source: AnySource) -> None:
            while not stop.is_set():
                await self.scrape_source(source, ScrapeReport())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=source.poll_interval_s)

        async with asyncio.TaskGroup() as tg:
            for source in sources:
                if source.enabled:
                    tg.create_task(poll(source))

    async def scrape_source(self, source: AnySource, report: ScrapeReport) -> None:
        """One source; every failure short of the event log becomes a logged skip."""
        where = source.url if isinstance(source, FeedSource) else str(getattr(source, "path", source.name))
        try:
            if isinstance(source, FeedSource):
                await self._feed(source, report)
            elif isinstance(source, UrlListSource):
                batch = _PassBatch()
                async with asyncio.TaskGroup() as tg:
                    for url in source.urls:
                        tg.create_task(self.scrape_page(url, source, report, batch=batch))
                await self._publish_batch(batch, report)
            else:
                await self._jsonl(source, report)
        except LogError:
            raise
        except (FetchError, InputError) as exc:
            report.skip(where, str(exc))
        except Exception as exc:  # a bug or a hostile input must not stop the other sources
            log.exception("scrape.source_failed", source=source.name, url=where)
            report.skip(where, f"unexpected {type(exc).__name__}: {exc}")

    # -- feeds and pages ---------------------------------------------------------------------------------

    async def _feed(self, source: FeedSource, report: ScrapeReport) -> None:
        got = await self._fetcher.fetch(source.url, kind="feed", validators=self._state.validators(source.url))
        if isinstance(got, NotModified):
            report.not_modified += 1
            return
        parsed: Any = feedparser.parse(got.body, response_headers={"content-type": got.content_type})
        if not parsed.entries:
            reason = f"not a feed or no entries ({parsed.get('bozo_exception', 'empty')})"
            raise FetchError(f"{source.url}: {reason}")
        batch = _PassBatch()
        async with asyncio.TaskGroup() as tg:
            for entry in parsed.entries[: source.max_entries]:
                link = entry.get("link")
                if not link:
                    report.skip(source.url, "feed entry without a link")
                    continue
                tg.create_task(
                    self.scrape_page(str(link), source, report, published_hint=_entry_time(entry), batch=batch)
                )
        await self._publish_batch(batch, report)
        self._state.remember(source.url, got.validators, self._clock())

    async def _publish_batch(self, batch: _PassBatch, report: ScrapeReport) -> None:
        """Publish a pass's statements in publication order, whatever order the pages arrived in.

        Pages are fetched concurrently; the stance engine folds statements in log order, so
        an earlier statement must not land after a later one just because its page was slower.
        Page validators (ETag, Last-Modified) are remembered only once their statements are
        in the log: a failed publish is retried on the next pass instead of answered with 304.
        """
        events = sorted(batch.events, key=lambda e: (e.published_at, e.source_url or "", e.offset or 0, e.id))
        await self.publish(events, report)
        for url, validators in batch.validators:
            self._state.remember(url, validators, self._clock())

    async def scrape_page(
        self,
        url: str,
        source: SourceBase,
        report: ScrapeReport,
        *,
        published_hint: datetime | None = None,
        batch: _PassBatch | None = None,
    ) -> None:
        """Fetch one page and publish its new statements (or add them to ``batch``); failures are logged skips."""
        if self._progress:
            self._progress("queued", url)
        try:
            async with self._pages:
                got = await self._fetcher.fetch(url, kind="html", validators=self._state.validators(url))
            if isinstance(got, NotModified):
                report.not_modified += 1
                return
            report.pages += 1
            events = await self._page(got, url, source, report, published_hint)
            if batch is None:
                await self.publish(events, report)
                self._state.remember(url, got.validators, self._clock())
            else:
                batch.events.extend(events)
                batch.validators.append((url, got.validators))
        except LogError:
            raise
        except (FetchError, InputError) as exc:
            report.skip(url, str(exc))
        except Exception as exc:  # extraction of a hostile page must not stop the others
            log.exception("scrape.page_failed", url=url)
            report.skip(url, f"unexpected {type(exc).__name__}: {exc}")
        finally:
            if self._progress:
                self._progress("done", url)

    async def _page(
        self,
        got: Fetched,
        url: str,
        source: SourceBase,
        report: ScrapeReport,
        published_hint: datetime | None,
    ) -> list[StatementEvent]:
        # Extraction is CPU work (lxml); keep the event loop responsive for the other fetches.
        article = await asyncio.to_thread(parse_article, got.text, url, published_hint=published_hint)
        if not article.blocks:
            report.skip(url, "no main text found")
            return []
        published = article.published_at or _http_date(got.validators.last_modified) or self._clock()
        candidates = find_statements(
            article, self._resolver, default_actor=source.default_actor, transcript=source.transcript
        )
        events, dropped = candidates_to_events(
            candidates,
            article=article,
            published_at=published,
            language=source.language,
            keep_unknown=self._resolver.keep_unknown,
            window_days=self._settings.dedupe_window_days,
        )
        report.dropped += dropped
        if not candidates:
            log.info("scrape.no_statements", url=url)
        return events

    # -- local statements ------------------------------------------------------------------------------

    async def _jsonl(self, source: JsonlSource, report: ScrapeReport) -> None:
        try:
            lines = source.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read statements file: {exc}", where=str(source.path)) from exc
        events: list[StatementEvent] = []
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{source.path}:{n}"
            try:
                event = self._jsonl_event(orjson.loads(line), source)
            except (orjson.JSONDecodeError, ValidationError, InputError, ValueError, TypeError) as exc:
                report.skip(where, f"bad statement line: {exc}")
                continue
            if event is None:
                report.dropped += 1
            else:
                events.append(event)
        await self.publish(events, report)

    def _jsonl_event(self, raw: object, source: JsonlSource) -> StatementEvent | None:
        if not isinstance(raw, dict):
            raise InputError("each line must be a JSON object")
        speaker = str(raw.get("speaker") or "").strip()
        text = str(raw.get("text") or "").strip()
        if not speaker or not text:
            raise InputError("fields 'speaker' and 'text' are required")
        published = datetime.fromisoformat(str(raw.get("published_at")).replace("Z", "+00:00"))
        if published.tzinfo is None:
            raise InputError("'published_at' needs a timezone (e.g. 2024-11-08T12:00:00Z)")
        actor = raw.get("actor")
        resolved = self._resolver.resolve(speaker, source.default_actor)
        if actor is None:
            if resolved is not None:
                actor, speaker_name = resolved.actor, resolved.speaker
            elif self._resolver.keep_unknown:
                actor, speaker_name = UNKNOWN_ACTOR, speaker
            else:
                return None
        else:
            speaker_name = resolved.speaker if resolved is not None and resolved.actor == actor else speaker
        window = self._settings.dedupe_window_days
        return StatementEvent(
            id=str(raw.get("id") or statement_id(str(actor), text, published, window)),
            actor=str(actor),
            speaker=speaker_name,
            text=text,
            published_at=published,
            source_url=str(raw["source_url"]) if raw.get("source_url") else f"file://{Path(source.path).resolve()}",
            language=str(raw.get("language") or source.language),
            kind="direct"
            if raw.get("kind") == "direct"
            else ("indirect" if raw.get("kind") == "indirect" else "unknown"),
            speaker_as_written=speaker,
        )

    # -- publication -----------------------------------------------------------------------------------

    async def publish(self, events: Sequence[StatementEvent], report: ScrapeReport) -> None:
        """Append new statements; record republished ones as appearances; skip known ones."""
        async with self._publishing:
            await self._publish(events, report)

    async def _publish(self, events: Sequence[StatementEvent], report: ScrapeReport) -> None:
        fresh: dict[str, tuple[StatementEvent, StatementEvent]] = {}
        repeats: list[tuple[str, StatementEvent]] = []
        now = self._clock()
        for ev in events:
            url = ev.source_url or ""
            seen = self._state.classify(ev.actor, ev.text, ev.published_at, url)
            if seen.new_statement:
                if seen.statement_id not in fresh:
                    fresh[seen.statement_id] = (ev.model_copy(update={"id": seen.statement_id}), ev)
                else:
                    # The same statement twice in one batch: an appearance once the first is recorded.
                    repeats.append((seen.statement_id, ev))
                continue
            if seen.new_appearance:
                self._record(seen, ev, now)
                report.appearances += 1
                SCRAPED.labels("appearance").inc()
                log.info("scrape.appearance", statement_id=seen.statement_id, url=url)
            else:
                report.known += 1
        if not fresh:
            return
        batch = [
            Message(
                key=ev.actor.encode(),
                value=ev.model_dump_json().encode(),
                timestamp_ms=calendar.timegm(ev.published_at.utctimetuple()) * 1000,
            )
            for ev, _ in fresh.values()
        ]
        await self._log.append(self._topic, batch)
        SCRAPED.labels("published").inc(len(batch))
        for sid, (ev, _) in fresh.items():
            self._record(Seen(sid, new_statement=True, new_appearance=True), ev, now)
            report.statements += 1
            report.emitted.append(ev)
            log.info("scrape.statement", statement_id=sid, actor=ev.actor, speaker=ev.speaker, url=ev.source_url)
        for sid, ev in repeats:
            if ev.source_url == fresh[sid][0].source_url:
                report.known += 1
                continue
            self._record(Seen(sid, new_statement=False, new_appearance=True), ev, now)
            report.appearances += 1
            log.info("scrape.appearance", statement_id=sid, url=ev.source_url)

    def _record(self, seen: Seen, ev: StatementEvent, now: datetime) -> None:
        """Remember one appearance of a statement in the scrape state."""
        self._state.record(
            seen,
            actor=ev.actor,
            text=ev.text,
            published_at=ev.published_at,
            source_url=ev.source_url or "",
            offset=ev.offset,
            now=now,
        )


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None
