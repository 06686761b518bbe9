"""Human-readable rendering of alerts for terminals (the CLI's only presentation code)."""

from __future__ import annotations

import textwrap

from monitor.domain.models import Alert, StatementRef

_MARK = {"contradiction": "CONTRADICTION", "escalation": "ESCALATION"}


def _quote_line(label: str, ref: StatementRef, width: int) -> list[str]:
    when = ref.published_at.strftime("%Y-%m-%d %H:%M UTC")
    head = f"  {label:<7}{when}  {ref.speaker}"
    body = textwrap.wrap(f"\u201c{ref.quote}\u201d", width=width - 11) or [""]
    lines = [head] + [f"           {b}" for b in body]
    if ref.source_url:
        lines.append(f"           {ref.source_url}")
    return lines


def format_alert(alert: Alert, *, width: int = 100) -> str:
    """A block of plain text an on-call analyst can read without any other context."""
    lines = [
        f"{_MARK[alert.kind.value]}  {alert.actor} / {alert.topic_name}"
        f"   severity={alert.severity.value} confidence={alert.confidence:.2f}",
        *textwrap.wrap(f"  {alert.explanation}", width=width, subsequent_indent="  "),
    ]
    lines += _quote_line("now", alert.statement, width)
    lines += _quote_line("before", alert.prior, width)
    cues = [*alert.cues, *alert.negation_cues, *alert.modality_cues]
    if cues:
        lines.append("  cues:  " + ", ".join(cues))
    lines.append(
        f"  stance: {alert.prior_polarity.value} ({alert.prior_intensity:+.1f}) -> "
        f"{alert.new_polarity.value} ({alert.new_intensity:+.1f})   id: {alert.id}   engine: {alert.engine}"
    )
    return "\n".join(lines)
