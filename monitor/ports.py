"""Ports: the small interfaces the core's services talk to.

Every port has an embedded default (``monitor.adapters.embedded``) and a scale-out
adapter (``monitor.adapters.kafka``). Services take a port, never a concrete class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable


class Record(NamedTuple):
    """One record of a topic, as stored: bytes in, bytes out.

    A named tuple: readers build one per record, and a database row becomes one with
    ``Record._make(row)``, without a per-field call.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Message:
    """A record to append. ``key`` picks the partition (same key, same partition, same order)."""

    key: bytes | None
    value: bytes
    timestamp_ms: int | None = None


@runtime_checkable
class EventLog(Protocol):
    """An append-only, partitioned, replayable log of topics (Kafka's model).

    Offsets are per partition, start at 0 and grow by one per record. Records with the
    same key land in the same partition, in append order.
    """

    async def append(self, topic: str, messages: Sequence[Message]) -> list[tuple[int, int]]:
        """Append ``messages`` to ``topic``; return their (partition, offset) in order."""
        ...

    async def read(self, topic: str, partition: int, offset: int, limit: int = 1000) -> list[Record]:
        """Up to ``limit`` records of one partition starting at ``offset`` (empty at the end)."""
        ...

    async def partitions(self, topic: str) -> int:
        """The number of partitions of ``topic`` (created on first use)."""
        ...

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """The next offset to be written, per partition."""
        ...

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        """The committed position (next offset to read) of consumer ``group`` per partition."""
        ...

    async def commit(self, group: str, topic: str, positions: dict[int, int]) -> None:
        """Durably record ``positions`` (next offset to read, per partition) for ``group``."""
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...
