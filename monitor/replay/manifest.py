"""The provenance manifest every replay writes next to its alerts (``manifest.json``).

It holds no wall-clock values, so two runs over the same input range with the same
engine and config write byte-identical manifests as well as byte-identical alerts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.codec import describe_validation_error
from monitor.errors import InputError

MANIFEST_FORMAT: Literal["monitor.replay/1"] = "monitor.replay/1"
ALERTS_FILE = "alerts.jsonl"
TIMELINE_FILE = "timeline.jsonl"
MANIFEST_FILE = "manifest.json"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PartitionOffsets(_Model):
    """One partition: folded silently from ``fold_from``, alerts emitted for ``[start, end)``."""

    fold_from: int
    start: int
    end: int


class InputRange(_Model):
    """The input as asked (``from``/``to`` text) and as resolved (offsets per partition)."""

    backend: Literal["embedded", "kafka"]
    topic: str
    requested_from: str | None
    requested_to: str | None
    time_basis: Literal["record_timestamp"] = "record_timestamp"
    partitions: dict[int, PartitionOffsets]
    actors: list[str] | None = None
    topics: list[str] | None = None


class EngineInfo(_Model):
    """Which engine decided: its import spec, version and config hash."""

    spec: str
    version: str
    config_hash: str


class Counts(_Model):
    """How much was read and produced."""

    records_read: int = 0
    folded_before_range: int = 0
    statements_in_range: int = 0
    skipped_by_filter: int = 0
    dead_letters: int = 0
    alerts: int = 0
    alerts_by_kind: dict[str, int] = Field(default_factory=dict)
    actors: int = 0


class OutputInfo(_Model):
    """The files written and the digest of the alerts file."""

    alerts_file: str = ALERTS_FILE
    alerts_sha256: str
    alerts_bytes: int
    timeline_file: str | None = None
    timeline_sha256: str | None = None


class SnapshotRef(_Model):
    """The snapshot the fold started from, if any."""

    sha256: str
    positions: dict[int, int]


class Manifest(_Model):
    """Provenance of one replay: input range and counts, engine, config hash, offsets, output digest."""

    format: Literal["monitor.replay/1"] = MANIFEST_FORMAT
    run_id: str
    input: InputRange
    engine: EngineInfo
    warm: bool
    snapshot: SnapshotRef | None = None
    counts: Counts
    output: OutputInfo

    def dumps(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    path = directory / MANIFEST_FILE
    path.write_text(manifest.dumps(), encoding="utf-8")
    return path


def read_manifest(path: Path) -> Manifest:
    """Read and validate a manifest; errors name the file."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read manifest: {exc.strerror}", where=str(path)) from exc
    try:
        return Manifest.model_validate_json(raw)
    except ValidationError as exc:
        raise InputError(f"not a replay manifest: {describe_validation_error(exc)}", where=str(path)) from exc


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
