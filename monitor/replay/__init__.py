"""Replay and audit: re-run history deterministically, compare alert sets, and report.

* :mod:`~monitor.replay.range` -- ``--from``/``--to`` (RFC 3339 or offsets per partition).
* :mod:`~monitor.replay.sources` -- read-only statement sources (SQLite file, group-less Kafka).
* :mod:`~monitor.replay.runner` -- the fold, as the worker folds; stable output.
* :mod:`~monitor.replay.kernel` -- the native replay kernel of the default engine.
* :mod:`~monitor.replay.manifest` -- provenance of a run (range, counts, engine, digests).
* :mod:`~monitor.replay.snapshot` -- stance states at known positions.
* :mod:`~monitor.replay.audit` -- missing / extra / changed alerts between two sets.
* :mod:`~monitor.replay.report` -- the self-contained HTML report and its JSON twin.
"""

from __future__ import annotations

from monitor.replay.audit import AuditResult, compare, load_alert_set
from monitor.replay.engine import EngineChoice, load_engine
from monitor.replay.manifest import Manifest, read_manifest
from monitor.replay.range import RangeSpec
from monitor.replay.runner import ReplayOptions, ReplayResult, run_replay
from monitor.replay.snapshot import Snapshot, read_snapshot, write_snapshot
from monitor.replay.sources import KafkaSource, SqliteSource, StatementSource

__all__ = [
    "AuditResult",
    "EngineChoice",
    "KafkaSource",
    "Manifest",
    "RangeSpec",
    "ReplayOptions",
    "ReplayResult",
    "Snapshot",
    "SqliteSource",
    "StatementSource",
    "compare",
    "load_alert_set",
    "load_engine",
    "read_manifest",
    "read_snapshot",
    "run_replay",
    "write_snapshot",
]
