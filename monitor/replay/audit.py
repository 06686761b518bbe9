"""Audit: compare two alert sets -- live vs a replay, or two replays -- by alert id.

Alert ids derive from the statement id, the kind and the topic, so the same decision on
the same statement has the same id in every run. An alert only on the left is
*missing*, only on the right *extra*, on both with different content *changed* (the
differing fields are listed). Order never matters; content is compared field by field
and nothing is ignored unless asked (``--ignore engine`` when comparing two engine
versions, whose alerts name their engine).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from monitor.codec import describe_validation_error, encode
from monitor.domain.models import Alert, StatementRef
from monitor.errors import InputError
from monitor.replay.manifest import ALERTS_FILE, MANIFEST_FILE, Manifest, read_manifest
from monitor.replay.range import PartitionRange
from monitor.replay.sources import StatementSource


@dataclass
class AlertSet:
    """Alerts by id, where they came from, and the replay manifest if there is one."""

    name: str
    alerts: dict[str, Alert]
    manifest: Manifest | None = None
    duplicates: int = 0


def _parse_alert(line: bytes, where: str) -> Alert:
    try:
        return Alert.model_validate_json(line)
    except ValidationError as exc:
        raise InputError(f"not an alert: {describe_validation_error(exc)}", where=where) from exc


def read_alerts_file(path: Path) -> AlertSet:
    """An ``alerts.jsonl`` file; bad lines and conflicting duplicate ids are errors with ``file:line``."""
    alerts: dict[str, Alert] = {}
    first_line: dict[str, int] = {}
    dupes = 0
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read alerts: {exc.strerror}", where=str(path)) from exc
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            alert = _parse_alert(line, f"{path}:{lineno}")
            prior = alerts.get(alert.id)
            if prior is not None:
                if prior != alert:
                    raise InputError(f"alert {alert.id} appears again with different content "
                                     f"(first at line {first_line[alert.id]})", where=f"{path}:{lineno}")
                dupes += 1
                continue
            alerts[alert.id] = alert
            first_line[alert.id] = lineno
    return AlertSet(name=str(path), alerts=alerts, duplicates=dupes)


def load_alert_set(spec: str) -> AlertSet:
    """A replay directory (``manifest.json`` + ``alerts.jsonl``) or an alerts JSON Lines file."""
    path = Path(spec)
    if path.is_dir():
        manifest_path, alerts_path = path / MANIFEST_FILE, path / ALERTS_FILE
        if not alerts_path.exists():
            raise InputError(f"no {ALERTS_FILE} in this directory; is it a replay output?", where=str(path))
        manifest = read_manifest(manifest_path) if manifest_path.exists() else None
        found = read_alerts_file(alerts_path)
        found.name, found.manifest = str(path), manifest
        return found
    if not path.exists():
        raise InputError("no such file or directory (expected a replay directory, an alerts .jsonl file, "
                         "or 'live')", where=spec)
    return read_alerts_file(path)


async def read_live_alerts(alerts: StatementSource, name: str) -> AlertSet:
    """Every alert in the live alerts topic (redeliveries of the same alert collapse into one)."""
    out: dict[str, Alert] = {}
    dupes = 0
    n = await alerts.partitions()
    ends = await alerts.end_offsets()
    ranges = {p: PartitionRange(0, 0, ends.get(p, 0)) for p in range(n)}
    async for batch in alerts.batches(ranges):
        for rec in batch:
            alert = _parse_alert(rec.value, f"{rec.topic}[{rec.partition}]@{rec.offset}")
            if alert.id in out:
                dupes += 1
            out[alert.id] = alert
    return AlertSet(name=name, alerts=out, duplicates=dupes)


async def scope_to_manifest(live: AlertSet, manifest: Manifest, statements: StatementSource) -> AlertSet:
    """Keep the live alerts a replay with ``manifest`` could have produced: same range, same filters.

    Scans the replayed range of the statements topic for the ids of statements behind live
    alerts (memory: the live alert ids, not the statements).
    """
    wanted = {a.statement.id for a in live.alerts.values()}
    in_range: set[str] = set()
    ranges = {p: PartitionRange(r.start, r.start, r.end) for p, r in manifest.input.partitions.items()}
    async for batch in statements.batches(ranges):
        for rec in batch:
            try:
                sid = orjson.loads(rec.value).get("id")
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if sid in wanted:
                in_range.add(sid)
    actors = set(manifest.input.actors or ())
    topics = set(manifest.input.topics or ())
    kept = {
        i: a for i, a in live.alerts.items()
        if a.statement.id in in_range and (not actors or a.actor in actors) and (not topics or a.topic in topics)
    }
    return AlertSet(name=f"{live.name} (scoped to {manifest.run_id})", alerts=kept, duplicates=live.duplicates)


@dataclass(frozen=True)
class Change:
    """One alert id on both sides with different content: field -> (left, right)."""

    left: Alert
    right: Alert
    fields: Mapping[str, tuple[Any, Any]]


@dataclass
class AuditResult:
    """Missing (left only), extra (right only) and changed alerts, each sorted by id."""

    left: str
    right: str
    same: int = 0
    missing: list[Alert] = field(default_factory=list)
    extra: list[Alert] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    ignored: tuple[str, ...] = ()

    @property
    def differs(self) -> bool:
        return bool(self.missing or self.extra or self.changed)

    def to_json(self) -> dict[str, Any]:
        def dump(a: Alert) -> Any:
            return orjson.loads(encode(a))

        return {
            "left": self.left, "right": self.right, "same": self.same, "differs": self.differs,
            "ignored": list(self.ignored),
            "counts": {"missing": len(self.missing), "extra": len(self.extra), "changed": len(self.changed)},
            "missing": [dump(a) for a in self.missing],
            "extra": [dump(a) for a in self.extra],
            "changed": [{"id": c.left.id, "fields": {k: list(v) for k, v in c.fields.items()},
                         "left": dump(c.left), "right": dump(c.right)} for c in self.changed],
        }


def compare(left: AlertSet, right: AlertSet, *, ignore: Iterable[str] = ()) -> AuditResult:
    """Compare by id; content field by field (JSON form), skipping the ``ignore`` fields."""
    skip = frozenset(ignore)
    unknown = skip - set(Alert.model_fields)
    if unknown:
        raise InputError(f"unknown alert field(s) {sorted(unknown)}; fields are {sorted(Alert.model_fields)}",
                         where="--ignore")
    result = AuditResult(left=left.name, right=right.name, ignored=tuple(sorted(skip)))
    for aid in sorted(left.alerts.keys() | right.alerts.keys()):
        a, b = left.alerts.get(aid), right.alerts.get(aid)
        if b is None and a is not None:
            result.missing.append(a)
        elif a is None and b is not None:
            result.extra.append(b)
        elif a is not None and b is not None:
            da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
            diff = {k: (da[k], db[k]) for k in da if k not in skip and da[k] != db.get(k)}
            if diff:
                result.changed.append(Change(left=a, right=b, fields=diff))
            else:
                result.same += 1
    return result


def _ref(label: str, ref: StatementRef) -> list[str]:
    quote = ref.quote if len(ref.quote) <= 240 else ref.quote[:239] + "\u2026"
    lines = [f"    {label:<7}{ref.published_at.isoformat()}  {ref.speaker}  [{ref.id}]",
             f"           \u201c{quote}\u201d"]
    if ref.source_url:
        lines.append(f"           {ref.source_url}")
    return lines


def _head(mark: str, a: Alert) -> list[str]:
    return [f"  {mark} {a.id}  {a.kind.value}  {a.actor} / {a.topic}  ({a.engine})",
            *_ref("now", a.statement), *_ref("before", a.prior)]


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 120 else text[:119] + "\u2026"


def format_audit(result: AuditResult) -> str:
    """Readable report: a summary line, then each difference with the statements behind it."""
    lines = [f"audit {result.left}  vs  {result.right}",
             f"  same {result.same}, missing {len(result.missing)}, extra {len(result.extra)}, "
             f"changed {len(result.changed)}" + (f"  (ignoring {', '.join(result.ignored)})" if result.ignored else "")]
    if result.missing:
        lines.append(f"missing (only in {result.left}):")
        for a in result.missing:
            lines += _head("-", a)
    if result.extra:
        lines.append(f"extra (only in {result.right}):")
        for a in result.extra:
            lines += _head("+", a)
    if result.changed:
        lines.append("changed:")
        for c in result.changed:
            lines += _head("~", c.left)
            for name, (lv, rv) in c.fields.items():
                lines.append(f"    {name}: {_short(lv)} -> {_short(rv)}")
    lines.append("DIFFERENT" if result.differs else "IDENTICAL")
    return "\n".join(lines)
