"""Replay ranges: ``--from`` / ``--to`` as RFC 3339 times or offsets per partition.

Syntax (both bounds optional; ``--from`` inclusive, ``--to`` exclusive)::

    --from 2024-10-01T00:00:00Z        a time: the first record at or after it, per partition
    --from 0:100,1:50                  offsets per partition (unlisted partitions: from 0)
    --from 100                         the same offset on every partition
    --to   0:200                       unlisted partitions: up to the end captured at start

Times are compared with the **record timestamp** (when the statement entered the log),
not the statement's ``published_at``: a replay answers "what did we know, when", a
time bound becomes one offset per partition (Kafka's ``offsets_for_times``; the same
rule on SQLite: the first offset whose timestamp is >= the bound), and the emitted
range stays a contiguous slice of each partition, which the per-actor fold needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from monitor.errors import InputError

_OFFSETS = re.compile(r"^\s*\d+\s*:\s*\d+\s*(,\s*\d+\s*:\s*\d+\s*)*$")


@dataclass(frozen=True)
class Bound:
    """One end of a range: per-partition offsets (with a default for the rest) or a time."""

    text: str
    offsets: Mapping[int, int] = field(default_factory=dict)
    every: int | None = None
    time_ms: int | None = None

    @property
    def is_time(self) -> bool:
        return self.time_ms is not None


def parse_bound(text: str, *, where: str) -> Bound:
    """Parse ``--from`` / ``--to``; raise :class:`InputError` naming the flag and the accepted forms."""
    raw = text.strip()
    if not raw:
        raise InputError("empty bound; give an RFC 3339 time or offsets like 0:100,1:50", where=where)
    if raw.isdigit():
        return Bound(text=raw, every=int(raw))
    if _OFFSETS.match(raw):
        offsets: dict[int, int] = {}
        for part in raw.split(","):
            p, o = (int(x) for x in part.split(":"))
            if p in offsets:
                raise InputError(f"partition {p} is given twice in {raw!r}", where=where)
            offsets[p] = o
        return Bound(text=raw, offsets=offsets)
    try:
        when = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise InputError(
            f"{raw!r} is neither an RFC 3339 time (2024-10-01T00:00:00Z) nor offsets per partition "
            "(0:100,1:50) nor one offset for all partitions (100)",
            where=where,
        ) from None
    if when.tzinfo is None:
        raise InputError(f"{raw!r} has no time zone; add Z or +HH:MM (RFC 3339)", where=where)
    return Bound(text=raw, time_ms=int(when.timestamp() * 1000))


@dataclass(frozen=True)
class RangeSpec:
    """What the user asked for, before it is resolved against a log."""

    start: Bound | None = None
    stop: Bound | None = None

    @classmethod
    def parse(cls, start: str | None, stop: str | None) -> RangeSpec:
        return cls(
            start=parse_bound(start, where="--from") if start is not None else None,
            stop=parse_bound(stop, where="--to") if stop is not None else None,
        )

    def describe(self) -> dict[str, str | None]:
        return {"from": self.start.text if self.start else None, "to": self.stop.text if self.stop else None}


@dataclass(frozen=True)
class PartitionRange:
    """Offsets of one partition: fold ``[fold_from, start)`` silently, emit for ``[start, end)``."""

    fold_from: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return max(0, self.end - self.fold_from)


def resolve_offsets(
    bound: Bound | None,
    *,
    partitions: int,
    default: Mapping[int, int],
    by_time: Mapping[int, int] | None,
    where: str,
) -> dict[int, int]:
    """Turn a bound into one offset per partition (``by_time`` is the log's answer for a time bound)."""
    if bound is None:
        return dict(default)
    if bound.is_time:
        if by_time is None:  # pragma: no cover - callers look the time up first
            raise ValueError("a time bound needs the log's offsets for that time")
        return {p: by_time[p] for p in range(partitions)}
    unknown = sorted(p for p in bound.offsets if not 0 <= p < partitions)
    if unknown:
        raise InputError(
            f"partition(s) {', '.join(map(str, unknown))} do not exist; the topic has {partitions} "
            f"(0..{partitions - 1})",
            where=where,
        )
    out = {}
    for p in range(partitions):
        if p in bound.offsets:
            out[p] = bound.offsets[p]
        elif bound.every is not None:
            out[p] = bound.every
        else:
            out[p] = default[p]
    return out


def clamp(
    start: Mapping[int, int], stop: Mapping[int, int], ends: Mapping[int, int], fold_from: Mapping[int, int]
) -> dict[int, PartitionRange]:
    """Final per-partition ranges: never past the captured end; an empty range when ``--to`` <= ``--from``."""
    out: dict[int, PartitionRange] = {}
    for p in sorted(ends):
        end = min(stop[p], ends[p])
        begin = min(start[p], end)
        out[p] = PartitionRange(fold_from=min(fold_from.get(p, begin), begin), start=begin, end=end)
    return out
