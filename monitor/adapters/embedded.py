"""The embedded event log: Kafka's model (topics, partitions, offsets, keys) in one SQLite file.

It is the default backend: no server, survives restarts, and safe for several processes
on one machine (a scraper appending while the worker reads). Consumer positions can be
committed in the same transaction as the projected state and the records a step
produces (:meth:`SqliteLog.commit_batch`), so a crash neither loses nor double-emits.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from aiokafka.partitioner import murmur2

from monitor.errors import LogError
from monitor.ports import Message, Record

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY,
    partitions INTEGER NOT NULL CHECK (partitions > 0)
);
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS positions (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
"""


def partition_for(key: bytes | None, partitions: int, *, fallback: int = 0) -> int:
    """Kafka's default partitioner (murmur2), so a key lands on the same partition on both backends."""
    if key is None:
        return fallback % partitions
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


class SqliteLog:
    """An :class:`~monitor.ports.EventLog` on a local SQLite file (WAL mode)."""

    def __init__(self, path: str | Path, *, default_partitions: int = 4) -> None:
        self.path = Path(path)
        self.default_partitions = default_partitions
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise LogError(f"cannot open the embedded log at {self.path}: {exc}") from exc
        self._partitions: dict[str, int] = {}
        self._unkeyed = 0

    # -- transactions -----------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction: offsets are assigned without races."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise LogError(f"embedded log {self.path} is locked or unwritable: {exc}") from exc
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    def _ensure_topic(self, db: sqlite3.Connection, topic: str) -> int:
        n = self._partitions.get(topic)
        if n is not None:
            return n
        row = db.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
        if row is None:
            db.execute("INSERT OR IGNORE INTO topics (name, partitions) VALUES (?, ?)",
                       (topic, self.default_partitions))
            row = db.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
        self._partitions[topic] = int(row[0])
        return int(row[0])

    def _append(self, db: sqlite3.Connection, topic: str, messages: Sequence[Message]) -> list[tuple[int, int]]:
        n = self._ensure_topic(db, topic)
        next_offsets: dict[int, int] = {}
        out: list[tuple[int, int]] = []
        rows = []
        now = int(time.time() * 1000)
        for msg in messages:
            if msg.key is None:
                self._unkeyed += 1
            p = partition_for(msg.key, n, fallback=self._unkeyed)
            off = next_offsets.get(p)
            if off is None:
                (off,) = db.execute(
                    "SELECT COALESCE(MAX(offset) + 1, 0) FROM records WHERE topic = ? AND partition = ?",
                    (topic, p),
                ).fetchone()
            next_offsets[p] = off + 1
            rows.append((topic, p, off, msg.key, msg.value, msg.timestamp_ms if msg.timestamp_ms is not None else now))
            out.append((p, off))
        db.executemany(
            "INSERT INTO records (topic, partition, offset, key, value, timestamp_ms) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        return out

    # -- EventLog port ----------------------------------------------------------------

    async def append(self, topic: str, messages: Sequence[Message]) -> list[tuple[int, int]]:
        if not messages:
            return []
        with self._tx() as db:
            return self._append(db, topic, messages)

    async def read(self, topic: str, partition: int, offset: int, limit: int = 1000) -> list[Record]:
        return self.read_sync(topic, partition, offset, limit)

    def read_sync(self, topic: str, partition: int, offset: int, limit: int = 1000) -> list[Record]:
        """Like :meth:`read`, for callers outside an event loop (replay, tests)."""
        cur = self._db.execute(
            "SELECT offset, key, value, timestamp_ms FROM records"
            " WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?",
            (topic, partition, offset, limit),
        )
        return [Record(topic, partition, o, k, v, t) for (o, k, v, t) in cur]

    async def partitions(self, topic: str) -> int:
        with self._tx() as db:
            return self._ensure_topic(db, topic)

    async def end_offsets(self, topic: str) -> dict[int, int]:
        n = await self.partitions(topic)
        ends = dict.fromkeys(range(n), 0)
        for p, end in self._db.execute(
            "SELECT partition, MAX(offset) + 1 FROM records WHERE topic = ? GROUP BY partition", (topic,)
        ):
            ends[int(p)] = int(end)
        return ends

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        n = await self.partitions(topic)
        pos = dict.fromkeys(range(n), 0)
        for p, off in self._db.execute(
            "SELECT partition, next_offset FROM positions WHERE grp = ? AND topic = ?", (group, topic)
        ):
            pos[int(p)] = int(off)
        return pos

    async def commit(self, group: str, topic: str, positions: dict[int, int]) -> None:
        with self._tx() as db:
            self._commit_positions(db, group, topic, positions)

    async def close(self) -> None:
        self._db.close()

    # -- embedded extras: atomic step, projected state ------------------------------------

    @staticmethod
    def _commit_positions(db: sqlite3.Connection, group: str, topic: str, positions: Mapping[int, int]) -> None:
        db.executemany(
            "INSERT INTO positions (grp, topic, partition, next_offset) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (grp, topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
            [(group, topic, p, off) for p, off in positions.items()],
        )

    async def commit_batch(
        self,
        *,
        group: str,
        topic: str,
        positions: Mapping[int, int],
        appends: Mapping[str, Sequence[Message]] | None = None,
        state_namespace: str | None = None,
        state: Mapping[str, bytes] | None = None,
    ) -> None:
        """Append outputs, save projected state and move ``group``'s positions in ONE transaction."""
        with self._tx() as db:
            for out_topic, messages in (appends or {}).items():
                if messages:
                    self._append(db, out_topic, messages)
            if state:
                if state_namespace is None:
                    raise ValueError("state_namespace is required when state is given")
                db.executemany(
                    "INSERT INTO state (namespace, key, value) VALUES (?, ?, ?)"
                    " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
                    [(state_namespace, k, v) for k, v in state.items()],
                )
            self._commit_positions(db, group, topic, positions)

    def load_state(self, namespace: str) -> dict[str, bytes]:
        """All projected state rows of ``namespace`` (key -> value)."""
        cur = self._db.execute("SELECT key, value FROM state WHERE namespace = ?", (namespace,))
        return {str(k): bytes(v) for k, v in cur}

    def topics(self) -> dict[str, int]:
        """Known topics and their partition counts."""
        return {str(n): int(p) for n, p in self._db.execute("SELECT name, partitions FROM topics ORDER BY name")}
