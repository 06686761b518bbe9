"""Fetching and scraping against a real HTTP server on 127.0.0.1 (no internet).

The server serves the fixture feeds and pages plus hostile cases: a 20 MB page, a wrong
content type, a redirect loop, 404/500, a flaky 503, a slow response, a robots.txt
disallow and a non-UTF-8 page.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from monitor.adapters.embedded import SqliteLog
from monitor.cli import main
from monitor.domain.models import StatementEvent
from monitor.errors import FetchError
from monitor.scrape.attribution import Resolver
from monitor.scrape.config import FeedSource, JsonlSource, ScrapeSettings, UrlListSource, load_watchlist
from monitor.scrape.dedupe import ScrapeState
from monitor.scrape.fetch import Fetched, NotModified, PoliteFetcher
from monitor.scrape.service import Scraper

FIXTURES = Path(__file__).parent / "fixtures" / "scrape"
WATCHLIST = Path(__file__).parent.parent / "deploy" / "watchlist.example.yaml"
UA = "monitor-scraper-test/1.0 (+https://example.test/bot)"
HUGE = 20 * 1024 * 1024


@dataclass
class ServerState:
    hits: dict[str, int] = field(default_factory=dict)
    agents: set[str] = field(default_factory=set)
    huge_sent: int = 0
    inflight: int = 0
    max_inflight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Handler(BaseHTTPRequestHandler):
    state: ServerState
    base: str

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        st = self.state
        path = self.path
        with st.lock:
            st.hits[path] = st.hits.get(path, 0) + 1
            st.agents.add(self.headers.get("User-Agent", ""))
            st.inflight += 1
            st.max_inflight = max(st.max_inflight, st.inflight)
        try:
            self._route(path)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with st.lock:
                st.inflight -= 1

    def _route(self, path: str) -> None:
        st = self.state
        if path == "/robots.txt":
            self._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        elif path.startswith("/feeds/"):
            name = {"/feeds/world.xml": "world_rss.xml", "/feeds/europe.xml": "europe_atom.xml"}[path]
            ctype = "application/rss+xml" if name.endswith("rss.xml") else "application/atom+xml"
            etag = f'"{name}-v1"'
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", ctype, {"ETag": etag})
                return
            body = (FIXTURES / name).read_text(encoding="utf-8").replace("{base}", self.base).encode()
            self._send(200, body, ctype, {"ETag": etag})
        elif path.startswith(("/articles/", "/nocache/")):
            name = path.rsplit("/", 1)[1]
            body = (FIXTURES / name).read_bytes()
            ctype = "text/html; charset=windows-1252" if name == "cp1252.html" else "text/html; charset=utf-8"
            if path.startswith("/nocache/"):
                self._send(200, body, ctype)
                return
            etag = f'"{name}-v1"'
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", ctype, {"ETag": etag})
                return
            self._send(200, body, ctype, {"ETag": etag, "Last-Modified": "Fri, 08 Nov 2024 15:00:00 GMT"})
        elif path == "/huge.html":
            # No Content-Length: only the streaming cap can stop it.
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            chunk = b"<p>" + b"x" * 65_530 + b"</p>\n"
            while st.huge_sent < HUGE:
                self.wfile.write(chunk)
                st.huge_sent += len(chunk)
        elif path == "/slow.html":
            time.sleep(1.5)
            self._send(200, b"<html><body><p>late</p></body></html>", "text/html")
        elif path == "/loop-a":
            self._send(302, b"", "text/html", {"Location": "/loop-b"})
        elif path == "/loop-b":
            self._send(302, b"", "text/html", {"Location": f"{self.base}/loop-a"})
        elif path == "/moved":
            self._send(301, b"", "text/html", {"Location": "/articles/lavrov_presser.html"})
        elif path == "/report.pdf":
            self._send(200, b"%PDF-1.4 not a page", "application/pdf")
        elif path == "/broken.html":
            self._send(500, b"oops", "text/plain")
        elif path == "/flaky.html":
            if st.hits[path] == 1:
                self._send(503, b"busy", "text/plain", {"Retry-After": "0"})
            else:
                self._send(200, (FIXTURES / "republished.html").read_bytes(), "text/html")
        else:
            self._send(404, b"not found", "text/plain")


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    state = ServerState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    handler = type("BoundHandler", (Handler,), {"state": state, "base": base})
    httpd.RequestHandlerClass = handler
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield base, state
    finally:
        httpd.shutdown()
        httpd.server_close()


def fast_settings(tmp_path: Path, **kw: object) -> ScrapeSettings:
    values: dict[str, object] = {
        "user_agent": UA,
        "read_timeout_s": 0.3,
        "connect_timeout_s": 0.5,
        "total_timeout_s": 1.0,
        "max_bytes": 1_000_000,
        "per_host_interval_s": 0.0,
        "per_host_concurrency": 4,
        "retries": 1,
        "backoff_s": 0.01,
        "state_path": tmp_path / "scrape.db",
    }
    values.update(kw)
    return ScrapeSettings.model_validate(values)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3, connect=0.5), follow_redirects=False) as c:
        yield c


# -- the fetcher ---------------------------------------------------------------------------------------


async def test_conditional_get_user_agent_and_redirect(
    server: tuple[str, ServerState], client: httpx.AsyncClient, tmp_path: Path
) -> None:
    base, state = server
    fetcher = PoliteFetcher(client, fast_settings(tmp_path))
    first = await fetcher.fetch(f"{base}/articles/valdai_wire.html")
    assert isinstance(first, Fetched) and first.validators.etag == '"valdai_wire.html-v1"'
    again = await fetcher.fetch(f"{base}/articles/valdai_wire.html", validators=first.validators)
    assert isinstance(again, NotModified)
    moved = await fetcher.fetch(f"{base}/moved")
    assert isinstance(moved, Fetched) and moved.url == f"{base}/articles/lavrov_presser.html"
    cp = await fetcher.fetch(f"{base}/articles/cp1252.html")
    assert isinstance(cp, Fetched) and "\u201cThese measures will hurt Europe\u2019s" in cp.text
    assert state.agents == {UA}
    assert state.hits["/robots.txt"] == 1  # cached per origin


@pytest.mark.parametrize(
    ("path", "reason", "max_hits"),
    [
        ("/report.pdf", "content type 'application/pdf'", 1),
        ("/loop-a", "redirect loop", 1),
        ("/missing.html", "HTTP 404", 1),
        ("/broken.html", "HTTP 500 (after 2 attempts)", 2),
        ("/slow.html", "(after 2 attempts)", 2),
        ("/private/members.html", "disallowed by robots.txt", 0),
    ],
)
async def test_bad_pages_raise_fetch_error_with_url_and_reason(
    server: tuple[str, ServerState], client: httpx.AsyncClient, tmp_path: Path, path: str, reason: str, max_hits: int
) -> None:
    base, state = server
    fetcher = PoliteFetcher(client, fast_settings(tmp_path))
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(base + path)
    assert base + path in str(info.value) and reason in str(info.value)
    assert state.hits.get(path, 0) == max_hits
    assert time.monotonic() - started < 3.0


async def test_20mb_page_is_cut_off_by_the_size_cap(
    server: tuple[str, ServerState], client: httpx.AsyncClient, tmp_path: Path
) -> None:
    base, state = server
    fetcher = PoliteFetcher(client, fast_settings(tmp_path, max_bytes=1_000_000, total_timeout_s=5.0))
    with pytest.raises(FetchError, match="byte cap"):
        await fetcher.fetch(f"{base}/huge.html")
    await asyncio.sleep(0.2)  # let the server notice the closed connection
    assert state.huge_sent < HUGE // 2


async def test_retry_after_503_then_success(
    server: tuple[str, ServerState], client: httpx.AsyncClient, tmp_path: Path
) -> None:
    base, state = server
    got = await PoliteFetcher(client, fast_settings(tmp_path)).fetch(f"{base}/flaky.html")
    assert isinstance(got, Fetched) and "Daily Meridian" in got.text
    assert state.hits["/flaky.html"] == 2


async def test_per_host_concurrency_and_spacing(
    server: tuple[str, ServerState], client: httpx.AsyncClient, tmp_path: Path
) -> None:
    base, state = server
    fetcher = PoliteFetcher(client, fast_settings(tmp_path, per_host_concurrency=1, per_host_interval_s=0.15))
    started = time.monotonic()
    names = ["valdai_wire.html", "lavrov_presser.html", "republished.html"]
    await asyncio.gather(*(fetcher.fetch(f"{base}/articles/{n}") for n in names))
    # robots.txt + 3 pages, one at a time, at least 0.15 s apart.
    assert time.monotonic() - started >= 0.45
    assert state.max_inflight == 1


# -- the scraper ---------------------------------------------------------------------------------------


async def read_statements(log: SqliteLog) -> list[StatementEvent]:
    out: list[StatementEvent] = []
    for p in range(await log.partitions("statements")):
        out += [StatementEvent.model_validate_json(r.value) for r in await log.read("statements", p, 0)]
    return out


async def test_scrape_feeds_pages_and_files_once_each(
    server: tuple[str, ServerState], client: httpx.AsyncClient, tmp_path: Path
) -> None:
    base, _ = server
    settings = fast_settings(tmp_path)
    sources = [
        FeedSource(name="world", url=f"{base}/feeds/world.xml"),
        FeedSource(name="europe", url=f"{base}/feeds/europe.xml"),
        UrlListSource(
            name="transcripts",
            urls=[f"{base}/articles/transcript.html", f"{base}/nocache/valdai_wire.html"],
            default_actor="kremlin",
            transcript=True,
        ),
        JsonlSource(name="notes", path=FIXTURES / "statements.jsonl"),
        FeedSource(name="dead", url="http://127.0.0.1:9/feed.xml"),  # nothing listens on port 9
    ]
    log = SqliteLog(tmp_path / "log.db")
    state = ScrapeState(settings.state_path, window_days=settings.dedupe_window_days)
    scraper = Scraper(
        fetcher=PoliteFetcher(client, settings),
        log=log,
        state=state,
        resolver=Resolver(load_watchlist(WATCHLIST)),
        settings=settings,
        topic="statements",
    )
    with capture_logs() as logs:
        report = await scraper.run_once(sources)
    events = await read_statements(log)
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids))
    by_speaker: dict[str, int] = {}
    for e in events:
        by_speaker[e.speaker] = by_speaker.get(e.speaker, 0) + 1
    # valdai (13 by watchlist speakers, counted once though served twice), republished adds the Kremlin
    # and one new Peskov line (its two Peskov quotes are appearances), cp1252, lavrov presser,
    # malformed page, transcript (3), statements file (1; its second line is the same statement).
    assert by_speaker == {
        "Vladimir Putin": 5 + 3,
        "Dmitry Peskov": 5 + 1 + 1 + 1,
        "Volodymyr Zelensky": 1,
        "Sergei Lavrov": 1 + 4,
        "Maria Zakharova": 2 + 1,
        "Kremlin": 1,
        "Mao Ning": 1,
        "Mark Rutte": 2,
    }
    peskov = next(e for e in events if e.text == "They remain exactly the same.")
    # Whichever outlet's copy is processed first is the statement; the other is an appearance.
    assert (peskov.actor, peskov.kind) == ("kremlin", "direct")
    assert peskov.published_at.isoformat() in {"2024-11-08T09:30:00+00:00", "2024-11-08T14:10:00+00:00"}
    assert peskov.source_url is not None
    assert peskov.offset is not None
    assert set(state.appearances(peskov.id)) == {
        f"{base}/articles/valdai_wire.html",
        f"{base}/articles/republished.html",
        f"{base}/nocache/valdai_wire.html",
    }
    # The republished Peskov quotes, the second copy of the wire story, the notes file's second line.
    assert report.appearances == 2 + 12 + 1

    skipped = {s.url: s.reason for s in report.skips}
    for path, reason in [
        ("/missing.html", "HTTP 404"),
        ("/broken.html", "HTTP 500"),
        ("/private/members.html", "robots.txt"),
        ("/huge.html", "byte cap"),
        ("/slow.html", "attempts"),
        ("/loop-a", "redirect loop"),
        ("/report.pdf", "content type"),
    ]:
        assert reason in skipped[base + path]
    assert "connection failed" in skipped["http://127.0.0.1:9/feed.xml"]
    assert any("statements.jsonl:3" in url for url in skipped)  # a bad line, with file:line
    assert any("statements.jsonl:5" in url and "timezone" in reason for url, reason in skipped.items())
    logged = [e for e in logs if e["event"] == "scrape.skip"]
    assert {e["url"] for e in logged} == set(skipped) and all(e["reason"] for e in logged)

    # A second pass: feeds and pages answer 304, the uncached copy is known: nothing new.
    again = await scraper.run_once(sources)
    assert again.statements == 0
    assert again.not_modified >= 2
    assert len(await read_statements(log)) == len(events)
    state.close()
    await log.close()


async def test_cli_scrape_once_and_extract(
    server: tuple[str, ServerState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = server
    monkeypatch.setenv("MONITOR_SCRAPE__PER_HOST_INTERVAL_S", "0")
    monkeypatch.setenv("MONITOR_SCRAPE__WATCHLIST", str(WATCHLIST))
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n  - name: wire\n    kind: urls\n"
        f"    urls: ['{base}/articles/valdai_wire.html', '{base}/missing.html']\n"
    )
    db, st = tmp_path / "log.db", tmp_path / "state.db"
    args = ["scrape", "--sources", str(sources), "--once", "--db", str(db), "--state", str(st), "--no-progress"]
    assert await asyncio.to_thread(main, args) == 0
    log = SqliteLog(db)
    assert len(await read_statements(log)) == 12
    await log.close()
    assert "12 new statements" in capsys.readouterr().err

    html = tmp_path / "page.html"
    html.write_bytes((FIXTURES / "republished.html").read_bytes())
    assert main(["extract", str(html), "--url", "https://example.test/r"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["speaker"], r["actor"]) for r in rows] == [
        ("Kremlin", "kremlin"),
        ("Dmitry Peskov", "kremlin"),
        ("Dmitry Peskov", "kremlin"),
        ("Dmitry Peskov", "kremlin"),
    ]
    assert rows[1]["text"] == (
        "The president has never said that the goals of the special military operation have changed"
    )
    assert {r["published_at"] for r in rows} == {"2024-11-08T14:10:00+00:00"}
    assert {r["source_url"] for r in rows} == {"https://example.test/r"}

    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - name: x\n    kind: feed\n    url: ftp://nope\n")
    assert main(["scrape", "--sources", str(bad), "--once"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "sources.0.feed.url" in err
