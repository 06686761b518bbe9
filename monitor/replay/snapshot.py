"""State snapshots: the stance states at known positions, so a fold can start there.

A snapshot is a JSON Lines file: a header line (format, engine version, topic, the
positions the states reflect -- next offset per partition -- the actor count and the
SHA-256 of the state lines), then one :class:`StanceState` per line, sorted by actor.
Writing is streamed and stable (same states, same bytes). Folding the statements after
the positions onto a snapshot gives exactly the states of a full fold (tested).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from monitor.codec import describe_validation_error, encode
from monitor.domain.models import StanceState
from monitor.errors import InputError

SNAPSHOT_FORMAT: Literal["monitor.snapshot/1"] = "monitor.snapshot/1"


class SnapshotHeader(BaseModel):
    """First line of a snapshot file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["monitor.snapshot/1"] = SNAPSHOT_FORMAT
    engine: str
    topic: str
    positions: dict[int, int]
    actors: int
    states_sha256: str


@dataclass(frozen=True)
class Snapshot:
    """States plus the positions they reflect and the engine version that folded them."""

    engine: str
    topic: str
    positions: Mapping[int, int]
    states: Mapping[str, StanceState]
    sha256: str = ""


def write_snapshot(path: Path, snapshot: Snapshot) -> str:
    """Write ``snapshot`` to ``path`` (atomically); return the SHA-256 of the file."""
    lines = [encode(snapshot.states[a]) + b"\n" for a in sorted(snapshot.states)]
    body_hash = hashlib.sha256(b"".join(lines)).hexdigest()
    header = SnapshotHeader(engine=snapshot.engine, topic=snapshot.topic,
                            positions=dict(sorted(snapshot.positions.items())), actors=len(lines),
                            states_sha256=body_hash)
    head = orjson.dumps(header.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS) + b"\n"
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    file_hash = hashlib.sha256(head)
    with tmp.open("wb") as fh:
        fh.write(head)
        for line in lines:
            fh.write(line)
            file_hash.update(line)
    tmp.replace(path)
    return file_hash.hexdigest()


def read_snapshot(path: Path) -> Snapshot:
    """Read and verify a snapshot; errors name ``file:line`` and the field."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read snapshot: {exc.strerror}", where=str(path)) from exc
    file_hash = hashlib.sha256()
    body_hash = hashlib.sha256()
    states: dict[str, StanceState] = {}
    with fh:
        first = fh.readline()
        file_hash.update(first)
        try:
            header = SnapshotHeader.model_validate_json(first)
        except ValidationError as exc:
            raise InputError(f"not a snapshot header: {describe_validation_error(exc)}", where=f"{path}:1") from exc
        for lineno, line in enumerate(fh, start=2):
            file_hash.update(line)
            body_hash.update(line)
            try:
                state = StanceState.model_validate_json(line)
            except ValidationError as exc:
                raise InputError(f"invalid stance state: {describe_validation_error(exc)}",
                                 where=f"{path}:{lineno}") from exc
            states[state.actor] = state
    if len(states) != header.actors or body_hash.hexdigest() != header.states_sha256:
        raise InputError(f"snapshot is truncated or altered (header says {header.actors} actors, "
                         f"found {len(states)}; digest mismatch)", where=str(path))
    return Snapshot(engine=header.engine, topic=header.topic, positions=header.positions, states=states,
                    sha256=file_hash.hexdigest())


def snapshot_from_embedded(
    state_rows: Mapping[str, bytes], positions: Mapping[int, int], *, engine: str, topic: str
) -> Snapshot:
    """A snapshot from the embedded worker's state table and committed positions.

    Pass ``SqliteLog.load_state(STATE_NAMESPACE)`` and ``await log.committed(WORKER_GROUP, topic)``
    read while the worker is stopped (the two must describe the same moment).
    """
    states = {k: StanceState.model_validate_json(v) for k, v in state_rows.items()}
    return Snapshot(engine=engine, topic=topic, positions=dict(positions), states=states)
