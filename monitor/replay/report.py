"""The replay report: one self-contained HTML file (inline CSS, inline SVG, no scripts, no
network) and a JSON twin with the same data.

For every actor and topic it draws the stance timeline -- the intensity of the
established stance at each statement that changed it, with the alert points marked --
then every alert with both quotes, links, cues and explanation, then the provenance
manifest. Timelines are thinned (evenly, keeping the shape) to a bounded number of
points, so a report of a million statements is still a small file.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import orjson

from monitor.codec import encode
from monitor.domain.models import Alert, StatementRef
from monitor.errors import InputError
from monitor.replay.audit import load_alert_set
from monitor.replay.manifest import TIMELINE_FILE, Manifest

MAX_POINTS = 400
MAX_ALERTS = 1000
_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 760, 160, 36, 12, 10, 22


@dataclass
class _Series:
    """Points of one (actor, topic), thinned by doubling the stride whenever it grows too long."""

    actor: str
    topic: str
    points: list[dict[str, Any]] = field(default_factory=list)
    stride: int = 1
    seen: int = 0

    def add(self, point: dict[str, Any]) -> None:
        if self.seen % self.stride == 0:
            self.points.append(point)
            if len(self.points) >= 2 * MAX_POINTS:
                self.points = self.points[::2]
                self.stride *= 2
        self.seen += 1


def _read_timeline(path: Path) -> dict[tuple[str, str], _Series]:
    series: dict[tuple[str, str], _Series] = {}
    if not path.exists():
        return series
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                row = orjson.loads(line)
                key = (str(row["actor"]), str(row["topic"]))
                point = {"t": str(row["published_at"]), "intensity": float(row["intensity"]),
                         "polarity": str(row["polarity"]), "statement_id": str(row["statement_id"])}
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise InputError(f"bad timeline row: {exc}", where=f"{path}:{lineno}") from exc
            s = series.get(key)
            if s is None:
                s = series[key] = _Series(actor=key[0], topic=key[1])
            s.add(point)
    return series


def build_report_data(replay_dir: Path) -> dict[str, Any]:
    """The report's data (also written as the JSON twin): manifest, timelines, alerts."""
    found = load_alert_set(str(replay_dir))
    if found.manifest is None:
        raise InputError("no manifest.json: the report needs a replay output directory", where=str(replay_dir))
    manifest: Manifest = found.manifest
    series = _read_timeline(replay_dir / TIMELINE_FILE)
    ordered = sorted(found.alerts.values(), key=lambda a: (a.statement.published_at, a.actor, a.topic, a.id))
    for alert in ordered:  # a series for alerts whose topic never made it into the timeline
        series.setdefault((alert.actor, alert.topic), _Series(actor=alert.actor, topic=alert.topic))
    shown = ordered[:MAX_ALERTS]
    by_series: dict[tuple[str, str], list[Alert]] = {}
    for alert in ordered:
        by_series.setdefault((alert.actor, alert.topic), []).append(alert)
    return {
        "format": "monitor.replay-report/1",
        "manifest": manifest.model_dump(mode="json"),
        "series": [
            {"actor": s.actor, "topic": s.topic, "statements": s.seen, "stride": s.stride, "points": s.points,
             "alerts": [{"id": a.id, "kind": a.kind.value, "t": a.statement.published_at.isoformat(),
                         "intensity": a.new_intensity} for a in by_series.get(key, [])]}
            for key, s in sorted(series.items())
        ],
        "alerts": [orjson.loads(encode(a)) for a in shown],
        "alerts_total": len(ordered),
        "alerts_shown": len(shown),
    }


# -- HTML -------------------------------------------------------------------------------------------

def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _chart(s: dict[str, Any]) -> str:
    points, alerts = s["points"], s["alerts"]
    times = [_ts(p["t"]) for p in points] + [_ts(a["t"]) for a in alerts]
    if not times:
        return '<p class="note">no stance recorded</p>'
    t0, t1 = min(times), max(times)
    span = (t1 - t0) or 1.0
    iw, ih = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B

    def x(t: float) -> float:
        return round(_PAD_L + (t - t0) / span * iw, 1)

    def y(v: float) -> float:
        return round(_PAD_T + (10.0 - v) / 20.0 * ih, 1)

    parts = [f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" '
             f'aria-label="{_e(s["actor"])} / {_e(s["topic"])} intensity over time">',
             f'<line class="axis" x1="{_PAD_L}" y1="{_PAD_T}" x2="{_PAD_L}" y2="{_PAD_T + ih}"/>',
             f'<line class="zero" x1="{_PAD_L}" y1="{y(0)}" x2="{_PAD_L + iw}" y2="{y(0)}"/>']
    for v in (10, 0, -10):
        parts.append(f'<text x="4" y="{y(v) + 3}">{v:+d}</text>')
    first, last = datetime.fromtimestamp(t0, UTC).date(), datetime.fromtimestamp(t1, UTC).date()
    parts.append(f'<text x="{_PAD_L}" y="{_H - 6}">{first.isoformat()}</text>')
    parts.append(f'<text x="{_PAD_L + iw}" y="{_H - 6}" text-anchor="end">{last.isoformat()}</text>')
    if len(points) > 1:
        path = " ".join(f"{x(_ts(p['t']))},{y(p['intensity'])}" for p in points)
        parts.append(f'<polyline class="line" points="{path}"/>')
    for p in points:
        cls = "point contra" if p["polarity"] == "contra" else "point"
        parts.append(f'<circle class="{cls}" cx="{x(_ts(p["t"]))}" cy="{y(p["intensity"])}" r="2.5">'
                     f'<title>{_e(p["t"])}  {p["intensity"]:+.1f}  {_e(p["statement_id"])}</title></circle>')
    for a in alerts:
        parts.append(f'<a href="#{_e(a["id"])}"><circle class="alert-point" data-alert-id="{_e(a["id"])}" '
                     f'cx="{x(_ts(a["t"]))}" cy="{y(a["intensity"])}" r="5.5">'
                     f'<title>{_e(a["kind"])} {_e(a["t"])} {a["intensity"]:+.1f}</title></circle></a>')
    parts.append("</svg>")
    return "".join(parts)


def _link(url: str | None) -> str:
    if not url:
        return ""
    if url.startswith(("https://", "http://")):
        return f' &middot; <a href="{_e(url)}" rel="noreferrer noopener">{_e(url)}</a>'
    return f" &middot; {_e(url)}"


def _quote(label: str, ref: StatementRef) -> str:
    return (f'<blockquote><span class="meta">{_e(label)} &middot; {_e(ref.published_at.isoformat())} &middot; '
            f'{_e(ref.speaker)}{_link(ref.source_url)}</span>&ldquo;{_e(ref.quote)}&rdquo;</blockquote>')


def _alert_card(a: Alert) -> str:
    cues = [*a.cues, *a.negation_cues, *a.modality_cues]
    cue_html = "".join(f"<code>{_e(c)}</code>" for c in cues) or '<span class="note">none</span>'
    return (
        f'<article class="alert {_e(a.kind.value)}" id="{_e(a.id)}">'
        f'<h3><span class="tag kind">{_e(a.kind.value)}</span>{_e(a.actor)} / {_e(a.topic_name)}</h3>'
        f'<div><span class="tag">severity {_e(a.severity.value)}</span>'
        f'<span class="tag">confidence {a.confidence:.2f}</span>'
        f'<span class="tag">{_e(a.prior_polarity.value)} {a.prior_intensity:+.1f} &rarr; '
        f'{_e(a.new_polarity.value)} {a.new_intensity:+.1f}</span><span class="tag">{_e(a.engine)}</span></div>'
        f'<p class="explanation">{_e(a.explanation)}</p>'
        f'<div class="quotes">{_quote("now", a.statement)}{_quote("before", a.prior)}</div>'
        f'<div class="cues">cues: {cue_html}</div>'
        f'<div class="note">id {_e(a.id)}</div></article>'
    )


def render_html(data: dict[str, Any]) -> str:
    """The self-contained HTML page for ``data`` (from :func:`build_report_data`)."""
    m = Manifest.model_validate(data["manifest"])
    alerts = [Alert.model_validate(a) for a in data["alerts"]]
    c = m.counts
    stats = [("statements in range", c.statements_in_range), ("alerts", c.alerts), ("actors", c.actors),
             ("dead letters", c.dead_letters), ("folded before range", c.folded_before_range)]
    summary = "".join(f'<div class="stat"><b>{v:,}</b><span>{_e(k)}</span></div>' for k, v in stats)
    series = "".join(
        f'<div class="series" id="series-{_e(s["actor"])}-{_e(s["topic"])}"><h3>{_e(s["actor"])} / '
        f'{_e(s["topic"])} <small>{s["statements"]} stance changes, {len(s["alerts"])} alerts'
        f'{", 1 point in " + str(s["stride"]) if s["stride"] > 1 else ""}</small></h3>{_chart(s)}</div>'
        for s in data["series"]
    ) or '<p class="note">no timeline in this replay (it was run with --no-timeline)</p>'
    cards = "".join(_alert_card(a) for a in alerts) or '<p class="note">no alerts</p>'
    if data["alerts_total"] > data["alerts_shown"]:
        cards += f'<p class="note">{data["alerts_shown"]} of {data["alerts_total"]} alerts shown.</p>'
    rows = [("run id", m.run_id), ("backend / topic", f"{m.input.backend} / {m.input.topic}"),
            ("requested", f"from {m.input.requested_from or 'beginning'} to {m.input.requested_to or 'end'} "
                          f"({m.input.time_basis})"),
            ("engine", f"{m.engine.version} ({m.engine.spec})"), ("config hash", m.engine.config_hash),
            ("alerts sha256", m.output.alerts_sha256)]
    rows += [(f"partition {p}", f"fold from {r.fold_from}, alerts for [{r.start}, {r.end})")
             for p, r in sorted(m.input.partitions.items())]
    prov = ('<table class="prov">' + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
            + "</table><pre>" + _e(m.dumps()) + "</pre>")
    template = Template(resources.files("monitor.replay").joinpath("report.html").read_text(encoding="utf-8"))
    return template.substitute(
        title=_e(f"Replay {m.run_id}: {m.input.topic}"),
        subtitle=_e(f"{c.alerts} alerts from {c.statements_in_range} statements, engine {m.engine.version}"),
        summary=summary, series=series, alerts=cards, provenance=prov,
    )


def write_report(replay_dir: Path, out: Path) -> tuple[Path, Path]:
    """Write ``out`` (HTML) and its JSON twin (same name, ``.json``); return both paths."""
    data = build_report_data(replay_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(data), encoding="utf-8")
    twin = out.with_suffix(".json")
    twin.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return out, twin
