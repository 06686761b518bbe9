"""One statement, once: deterministic ids and the scraper's small SQLite state.

Identity of a statement is *who said what, when*: the actor, the quote text normalised
(case, quote marks, dashes and punctuation ignored) and the time window it was said in.

* :func:`statement_id` is pure: ``stm_`` + digest(actor, normalised text, window bucket),
  where the bucket is ``published_at`` (UTC days since the epoch) divided by the window.
  Two outlets carrying the same quote the same week get the same id even without state.
* :class:`ScrapeState` closes the gap at bucket edges: a statement whose fingerprint
  (actor + normalised text) was first seen within ``window`` of this one's time *is*
  that statement, whichever bucket it falls in. It is then recorded as another
  *appearance* (statement id + source URL), and no event is emitted. The same quote
  months later is a new statement (the actor said it again).
* The state also keeps ETag / Last-Modified per URL for conditional GETs.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.domain.ids import digest
from monitor.scrape.extract import normalise_text
from monitor.scrape.fetch import Validators

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(ts: datetime) -> str:
    # One fixed format so SQLite compares the strings in time order.
    return ts.astimezone(UTC).replace(microsecond=0).isoformat()


def fingerprint(actor: str, text: str) -> str:
    """Actor + normalised quote text: equal for the same words republished anywhere."""
    return digest(actor, normalise_text(text))


def statement_id(actor: str, text: str, published_at: datetime, window_days: int) -> str:
    """Deterministic statement id: actor, normalised text and the ``window_days`` bucket of the date."""
    days = (published_at.astimezone(UTC) - _EPOCH).days
    return "stm_" + digest(actor, normalise_text(text), str(days // window_days), str(window_days))


@dataclass(frozen=True, slots=True)
class Seen:
    """Outcome of :meth:`ScrapeState.observe`."""

    statement_id: str
    new_statement: bool
    new_appearance: bool


_SCHEMA = """
CREATE TABLE IF NOT EXISTS http_cache (
    url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS statements (
    id TEXT PRIMARY KEY, actor TEXT NOT NULL, fingerprint TEXT NOT NULL,
    published_at TEXT NOT NULL, first_url TEXT
);
CREATE INDEX IF NOT EXISTS statements_fp ON statements (fingerprint, published_at);
CREATE TABLE IF NOT EXISTS appearances (
    statement_id TEXT NOT NULL, source_url TEXT NOT NULL, quote_offset INTEGER,
    seen_at TEXT NOT NULL, PRIMARY KEY (statement_id, source_url)
);
"""


class ScrapeState:
    """Seen statements, their appearances, and HTTP validators, in one SQLite file.

    Calls are short synchronous transactions (microseconds on a local file), so the
    async scraper calls them directly rather than through a thread.
    """

    def __init__(self, path: str | Path, *, window_days: int = 7) -> None:
        self.window = timedelta(days=window_days)
        self.window_days = window_days
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- HTTP validators ---------------------------------------------------------------------------------

    def validators(self, url: str) -> Validators | None:
        row = self._db.execute("SELECT etag, last_modified FROM http_cache WHERE url = ?", (url,)).fetchone()
        return Validators(row[0], row[1]) if row else None

    def remember(self, url: str, validators: Validators, now: datetime) -> None:
        if not (validators.etag or validators.last_modified):
            return
        self._db.execute(
            "INSERT INTO http_cache (url, etag, last_modified, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified, "
            "updated_at = excluded.updated_at",
            (url, validators.etag, validators.last_modified, now.isoformat()),
        )

    # -- statements --------------------------------------------------------------------------------------

    def lookup(self, actor: str, text: str, published_at: datetime) -> str | None:
        """The id of the same statement seen within the window around ``published_at``, if any."""
        fp = fingerprint(actor, text)
        lo = _iso(published_at - self.window)
        hi = _iso(published_at + self.window)
        row = self._db.execute(
            "SELECT id FROM statements WHERE fingerprint = ? AND published_at BETWEEN ? AND ? "
            "ORDER BY published_at LIMIT 1",
            (fp, lo, hi),
        ).fetchone()
        return str(row[0]) if row else None

    def classify(self, actor: str, text: str, published_at: datetime, source_url: str) -> Seen:
        """Decide, without recording, whether this quote is new, another appearance, or known."""
        existing = self.lookup(actor, text, published_at)
        if existing is None:
            sid = statement_id(actor, text, published_at, self.window_days)
            # Same bucket id already recorded (e.g. outside the window edge): still the same statement.
            if self._db.execute("SELECT 1 FROM statements WHERE id = ?", (sid,)).fetchone() is None:
                return Seen(sid, new_statement=True, new_appearance=True)
            existing = sid
        seen_here = self._db.execute(
            "SELECT 1 FROM appearances WHERE statement_id = ? AND source_url = ?", (existing, source_url)
        ).fetchone()
        return Seen(existing, new_statement=False, new_appearance=seen_here is None)

    def record(
        self,
        seen: Seen,
        *,
        actor: str,
        text: str,
        published_at: datetime,
        source_url: str,
        offset: int | None,
        now: datetime,
    ) -> None:
        """Record a statement (when new) and its appearance at ``source_url``."""
        with self._db:
            self._db.execute("BEGIN")
            if seen.new_statement:
                self._db.execute(
                    "INSERT OR IGNORE INTO statements (id, actor, fingerprint, published_at, first_url) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        seen.statement_id,
                        actor,
                        fingerprint(actor, text),
                        _iso(published_at),
                        source_url,
                    ),
                )
            self._db.execute(
                "INSERT OR IGNORE INTO appearances (statement_id, source_url, quote_offset, seen_at) "
                "VALUES (?, ?, ?, ?)",
                (seen.statement_id, source_url, offset, now.isoformat()),
            )

    def appearances(self, statement_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT source_url FROM appearances WHERE statement_id = ? ORDER BY seen_at, source_url",
            (statement_id,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def statement_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM statements").fetchone()[0])
