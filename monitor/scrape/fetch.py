"""Polite, safe fetching over one injected ``httpx.AsyncClient``.

Every request goes through :meth:`PoliteFetcher.fetch`, which:

* checks robots.txt for the configured User-Agent (cached per origin; RFC 9309: a
  4xx robots.txt allows everything, an unreachable or 5xx one disallows everything);
* keeps at most ``per_host_concurrency`` requests in flight per host and spaces them by
  ``per_host_interval_s``;
* sends conditional GETs (``If-None-Match`` / ``If-Modified-Since``) from the caller's
  validators, and reports ``304`` as :class:`NotModified`;
* follows at most ``max_redirects`` redirects itself (each hop is checked against
  robots.txt and the rate limit), refusing loops;
* streams the body and stops reading past ``max_bytes``; a whole response must arrive
  within ``total_timeout_s`` (a server trickling bytes cannot hold a worker);
* accepts only the expected content types;
* retries 5xx, 429 and timeouts with exponential backoff (``Retry-After`` honoured,
  capped), and never retries 4xx.

Failures raise :class:`~monitor.errors.FetchError` naming the URL and the reason.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx
import structlog

from monitor.errors import FetchError
from monitor.httputil import parse_retry_after
from monitor.scrape.config import ScrapeSettings

log = structlog.get_logger(__name__)

ContentKind = Literal["html", "feed", "robots"]

ACCEPT: dict[ContentKind, tuple[str, ...]] = {
    "html": ("text/html", "application/xhtml+xml"),
    "feed": (
        "application/rss+xml",
        "application/atom+xml",
        "application/xml",
        "text/xml",
        "application/rdf+xml",
        "application/feed+json",
    ),
    "robots": ("text/plain",),
}
_ACCEPT_HEADER: dict[ContentKind, str] = {
    "html": "text/html,application/xhtml+xml;q=0.9",
    "feed": "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.8",
    "robots": "text/plain",
}
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Validators:
    """What the server said last time, for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """A successful response: final URL (after redirects), body, and decoded text."""

    url: str
    status: int
    content_type: str
    body: bytes
    text: str
    validators: Validators


@dataclass(frozen=True, slots=True)
class NotModified:
    """The server answered 304: nothing new since the validators were recorded."""

    url: str


class _TooLarge(Exception):
    pass


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PoliteFetcher:
    """Fetches pages, feeds and robots.txt politely; one instance per scrape run.

    The client is injected (its timeouts and transport are the caller's choice) and
    must not follow redirects by itself: the fetcher follows them hop by hop.
    """

    def __init__(self, client: httpx.AsyncClient, settings: ScrapeSettings, *, sleep: Sleep = asyncio.sleep) -> None:
        self._client = client
        self._settings = settings
        self._sleep = sleep
        self._host_sem: dict[str, asyncio.Semaphore] = {}
        self._host_lock: dict[str, asyncio.Lock] = {}
        self._host_next: dict[str, float] = {}
        self._robots: dict[str, RobotFileParser | bool | str] = {}
        self._robots_lock: dict[str, asyncio.Lock] = {}

    async def fetch(
        self, url: str, *, kind: ContentKind = "html", validators: Validators | None = None
    ) -> Fetched | NotModified:
        """GET ``url`` (following redirects) or raise :class:`FetchError` with the reason."""
        seen: set[str] = set()
        current = url
        for _hop in range(self._settings.max_redirects + 1):
            if current in seen:
                raise FetchError(f"{url}: redirect loop at {current}")
            seen.add(current)
            scheme = urlsplit(current).scheme
            if scheme not in ("http", "https"):
                raise FetchError(f"{url}: refusing to fetch non-http URL {current}")
            if kind != "robots" and self._settings.respect_robots:
                verdict = await self._allowed(current)
                if isinstance(verdict, str):
                    raise FetchError(f"{url}: robots.txt unreachable, not fetching ({verdict})")
                if not verdict:
                    raise FetchError(f"{url}: disallowed by robots.txt ({current})")
            result = await self._with_retries(current, kind, validators if current == url else None)
            if isinstance(result, str):
                current = result
                continue
            return result
        raise FetchError(f"{url}: more than {self._settings.max_redirects} redirects")

    # -- one hop ---------------------------------------------------------------------------------------

    async def _with_retries(
        self, url: str, kind: ContentKind, validators: Validators | None
    ) -> Fetched | NotModified | str:
        attempt = 0
        while True:
            try:
                return await self._once(url, kind, validators)
            except _Retryable as exc:
                if attempt >= self._settings.retries:
                    raise FetchError(f"{url}: {exc.reason} (after {attempt + 1} attempts)") from exc
                delay = min(self._settings.backoff_s * (2**attempt), self._settings.backoff_max_s)
                if exc.retry_after is not None:
                    delay = min(max(delay, exc.retry_after), self._settings.backoff_max_s)
                log.info("scrape.retry", url=url, reason=exc.reason, attempt=attempt + 1, delay_s=delay)
                attempt += 1
                await self._sleep(delay)

    async def _once(self, url: str, kind: ContentKind, validators: Validators | None) -> Fetched | NotModified | str:
        host = urlsplit(url).netloc.lower()
        headers = {"User-Agent": self._settings.user_agent, "Accept": _ACCEPT_HEADER[kind]}
        if validators is not None:
            if validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
        async with self._slot(host):
            try:
                async with asyncio.timeout(self._settings.total_timeout_s):
                    return await self._request(url, kind, headers)
            except TimeoutError as exc:
                raise _Retryable(f"no complete response within {self._settings.total_timeout_s:g}s") from exc
            except httpx.TimeoutException as exc:
                raise _Retryable(f"timed out ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                raise _Retryable(f"connection failed ({type(exc).__name__}: {exc})") from exc

    async def _request(self, url: str, kind: ContentKind, headers: dict[str, str]) -> Fetched | NotModified | str:
        async with self._client.stream("GET", url, headers=headers, follow_redirects=False) as resp:
            status = resp.status_code
            if status in _REDIRECT_STATUS:
                location = resp.headers.get("location")
                if not location:
                    raise FetchError(f"{url}: redirect {status} without a Location header")
                return str(urljoin(url, location))
            if status == 304:
                return NotModified(url)
            if status in _RETRY_STATUS:
                retry_after = parse_retry_after(resp.headers.get("retry-after"), datetime.now(UTC))
                raise _Retryable(f"HTTP {status}", retry_after)
            if status >= 400:
                raise FetchError(f"{url}: HTTP {status}")
            if status != 200:
                raise FetchError(f"{url}: unexpected HTTP {status}")
            ctype = resp.headers.get("content-type", "")
            mime = ctype.split(";", 1)[0].strip().lower()
            if mime not in ACCEPT[kind]:
                raise FetchError(f"{url}: content type {mime or '(none)'!r} is not one of {', '.join(ACCEPT[kind])}")
            declared = resp.headers.get("content-length")
            cap = self._settings.max_bytes
            if declared and declared.isdigit() and int(declared) > cap:
                raise FetchError(f"{url}: response of {declared} bytes exceeds the {cap} byte cap")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise FetchError(f"{url}: response exceeds the {cap} byte cap; stopped reading")
                chunks.append(chunk)
            body = b"".join(chunks)
            return Fetched(
                url=url,
                status=status,
                content_type=mime,
                body=body,
                text=decode_body(body, ctype),
                validators=Validators(resp.headers.get("etag"), resp.headers.get("last-modified")),
            )

    # -- politeness ------------------------------------------------------------------------------------

    def _slot(self, host: str) -> _HostSlot:
        sem = self._host_sem.setdefault(host, asyncio.Semaphore(self._settings.per_host_concurrency))
        lock = self._host_lock.setdefault(host, asyncio.Lock())
        return _HostSlot(self, host, sem, lock)

    async def _allowed(self, url: str) -> bool | str:
        """True/False from robots.txt, or the reason robots.txt could not be read (then: do not fetch)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        lock = self._robots_lock.setdefault(origin, asyncio.Lock())
        async with lock:
            if origin not in self._robots:
                self._robots[origin] = await self._load_robots(origin)
        rules = self._robots[origin]
        if isinstance(rules, (bool, str)):
            return rules
        return rules.can_fetch(self._settings.user_agent, url)

    async def _load_robots(self, origin: str) -> RobotFileParser | bool | str:
        robots_url = origin + "/robots.txt"
        try:
            got = await self.fetch(robots_url, kind="robots")
        except FetchError as exc:
            reason = str(exc)
            # RFC 9309 2.3.1: "unavailable" (4xx) means no rules; "unreachable" means full disallow.
            if re.search(r"HTTP 4\d\d|content type", reason):
                return True
            log.warning("scrape.robots_unreachable", url=robots_url, reason=reason)
            return reason.removeprefix(f"{robots_url}: ")
        if isinstance(got, NotModified):
            return True
        parser = RobotFileParser(robots_url)
        parser.parse(got.text.splitlines())
        return parser


class _HostSlot:
    """Concurrency and spacing for one host, as an async context manager."""

    def __init__(self, fetcher: PoliteFetcher, host: str, sem: asyncio.Semaphore, lock: asyncio.Lock) -> None:
        self._f = fetcher
        self._host = host
        self._sem = sem
        self._lock = lock

    async def __aenter__(self) -> None:
        await self._sem.acquire()
        try:
            async with self._lock:
                now = time.monotonic()
                wait = self._f._host_next.get(self._host, now) - now
                self._f._host_next[self._host] = max(now, now + wait) + self._f._settings.per_host_interval_s
            if wait > 0:
                await self._f._sleep(wait)
        except BaseException:
            self._sem.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._sem.release()


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)


def _charsets(body: bytes, content_type: str) -> Iterable[str]:
    m = re.search(r"charset\s*=\s*\"?([A-Za-z0-9_\-:.]+)", content_type, re.IGNORECASE)
    if m:
        yield m.group(1)
    if body.startswith(b"\xef\xbb\xbf"):
        yield "utf-8-sig"
    mm = _META_CHARSET.search(body[:4096])
    if mm:
        yield mm.group(1).decode("ascii", "replace")
    m2 = re.search(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_\-.]+)""", body[:200])
    if m2:
        yield m2.group(1).decode("ascii", "replace")


def decode_body(body: bytes, content_type: str = "") -> str:
    """Decode with the declared charset (header, BOM, meta), else UTF-8, else Windows-1252."""
    for charset in _charsets(body, content_type):
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")
