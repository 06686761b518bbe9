"""Wire formats: ``Alert -> (headers, body)``, pure functions, one per receiving tool.

* ``standard`` -- `Standard Webhooks <https://www.standardwebhooks.com/>`_: body
  ``{"type", "timestamp", "data"}``, headers ``webhook-id`` / ``webhook-timestamp`` /
  ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of id.timestamp.body>``, one per secret,
  space separated, so receivers can rotate keys).
* ``slack`` -- an incoming-webhook message: ``text`` (the notification fallback) and ``blocks``.
* ``alertmanager`` -- the Alertmanager webhook payload (``version: "4"``), so receivers
  written for Alertmanager work unchanged.
* ``pagerduty`` -- a PagerDuty Events API v2 ``trigger`` with ``dedup_key`` = alert id.

The body depends only on the alert and the time it was logged, so a redelivery after a
crash is byte-identical; only ``webhook-timestamp`` and the signatures change per attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from standardwebhooks import Webhook

from monitor.deliver.config import Format, ReceiverConfig, signing_key
from monitor.domain.models import Alert, AlertKind, Severity, StatementRef

USER_AGENT = "monitor-dispatcher/0.1"


@dataclass(frozen=True, slots=True)
class Rendered:
    """An HTTP request body and headers, ready to POST."""

    headers: dict[str, str]
    body: bytes


def render(alert: Alert, receiver: ReceiverConfig, *, occurred_at: datetime, sent_at: datetime) -> Rendered:
    """The request for ``alert`` in ``receiver``'s format, signed at ``sent_at`` where the format signs."""
    headers = {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": alert.id}
    if receiver.format is Format.STANDARD:
        body = standard_body(alert, occurred_at)
        secrets = [s.get_secret_value() for s in receiver.secrets]
        headers["webhook-timestamp"] = str(int(sent_at.timestamp()))
        headers["webhook-signature"] = sign(alert.id, sent_at, body, secrets)
        return Rendered(headers, body)
    if receiver.format is Format.SLACK:
        payload = slack_message(alert)
    elif receiver.format is Format.ALERTMANAGER:
        payload = alertmanager_message(alert, receiver=receiver.name)
    else:
        assert receiver.routing_key is not None  # validated by ReceiverConfig
        payload = pagerduty_event(alert, routing_key=receiver.routing_key.get_secret_value(), occurred_at=occurred_at)
    return Rendered(headers, orjson.dumps(payload))


# -- Standard Webhooks -----------------------------------------------------------------------


def event_type(alert: Alert) -> str:
    return f"alert.{alert.kind.value}"


def standard_body(alert: Alert, occurred_at: datetime) -> bytes:
    return orjson.dumps(
        {
            "type": event_type(alert),
            "timestamp": _iso(occurred_at),
            "data": alert.model_dump(mode="json"),
        }
    )


def sign(msg_id: str, timestamp: datetime, body: bytes, secrets: Sequence[str]) -> str:
    """The ``webhook-signature`` header value: one ``v1,<sig>`` per secret (rotation)."""
    ts = timestamp.astimezone(UTC)
    data = body.decode("utf-8")
    return " ".join(Webhook(signing_key(secret)).sign(msg_id, ts, data) for secret in secrets)


# -- Slack -------------------------------------------------------------------------------------

_KIND_TITLE = {AlertKind.CONTRADICTION: "Stance contradiction", AlertKind.ESCALATION: "Stance escalation"}
_SEVERITY_EMOJI = {
    Severity.LOW: ":large_blue_circle:",
    Severity.MEDIUM: ":large_yellow_circle:",
    Severity.HIGH: ":large_orange_circle:",
    Severity.CRITICAL: ":red_circle:",
}


def _slack_escape(text: str) -> str:
    # Slack mrkdwn control characters; everything else is literal.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack_quote(label: str, ref: StatementRef) -> str:
    when = ref.published_at.date().isoformat()
    source = f"<{ref.source_url}|{when}>" if ref.source_url else when
    quote = "\n".join(f"> {_slack_escape(line)}" for line in _clip(ref.quote, 1200).splitlines() or [""])
    return f"*{label}* — {_slack_escape(ref.speaker)}, {source}\n{quote}"


def slack_message(alert: Alert) -> dict[str, Any]:
    """An incoming-webhook message: ``text`` for notifications, ``blocks`` for the channel."""
    title = f"{_KIND_TITLE[alert.kind]}: {alert.actor} on {alert.topic_name}"
    text = f"{_SEVERITY_EMOJI[alert.severity]} {title} ({alert.severity.value}) — {alert.explanation}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, 150), "emoji": True}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _clip(_slack_escape(alert.explanation), 3000)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _clip(_slack_quote("Before", alert.prior), 3000)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _clip(_slack_quote("Now", alert.statement), 3000)},
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": (
                        f"{_SEVERITY_EMOJI[alert.severity]} severity *{alert.severity.value}* · "
                        f"confidence {alert.confidence:.2f} · {alert.prior_polarity.value} → "
                        f"{alert.new_polarity.value} · alert `{alert.id}`"
                    ),
                }
            ],
        },
    ]
    return {"text": _clip(text, 3000), "blocks": blocks}


# -- Alertmanager ------------------------------------------------------------------------------

_ALERTNAME = {AlertKind.CONTRADICTION: "StanceContradiction", AlertKind.ESCALATION: "StanceEscalation"}
_ZERO_TIME = "0001-01-01T00:00:00Z"


def fingerprint(labels: dict[str, str]) -> str:
    """Prometheus' label-set fingerprint (FNV-1a 64 over sorted name/value pairs, 0xff separated)."""
    h = 14695981039346656037
    for name in sorted(labels):
        for chunk in (name.encode(), b"\xff", labels[name].encode(), b"\xff"):
            for byte in chunk:
                h ^= byte
                h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def _group_key(labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{}:{" + inner + "}"


def alertmanager_message(alert: Alert, *, receiver: str) -> dict[str, Any]:
    """The Alertmanager webhook payload (version 4) carrying one firing alert."""
    labels = {
        "alertname": _ALERTNAME[alert.kind],
        "actor": alert.actor,
        "topic": alert.topic,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "alert_id": alert.id,
    }
    annotations = {
        "summary": f"{_KIND_TITLE[alert.kind]}: {alert.actor} on {alert.topic_name}",
        "description": alert.explanation,
        "statement": alert.statement.quote,
        "prior_statement": alert.prior.quote,
        "confidence": f"{alert.confidence:.2f}",
    }
    if alert.statement.source_url:
        annotations["statement_url"] = alert.statement.source_url
    if alert.prior.source_url:
        annotations["prior_url"] = alert.prior.source_url
    group_labels = {"alertname": labels["alertname"], "actor": alert.actor}
    common_labels = dict(labels)
    return {
        "version": "4",
        "groupKey": _group_key(group_labels),
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": dict(annotations),
        "externalURL": "",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": _iso(alert.statement.published_at),
                "endsAt": _ZERO_TIME,
                "generatorURL": alert.statement.source_url or "",
                "fingerprint": fingerprint(labels),
            }
        ],
    }


# -- PagerDuty ---------------------------------------------------------------------------------

_PD_SEVERITY = {
    Severity.LOW: "info",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "critical",
}


def pagerduty_event(alert: Alert, *, routing_key: str, occurred_at: datetime) -> dict[str, Any]:
    """A PagerDuty Events API v2 ``trigger``; ``dedup_key`` is the alert id, so repeats merge."""
    links = [
        {"href": ref.source_url, "text": text}
        for ref, text in ((alert.statement, "Statement"), (alert.prior, "Prior statement"))
        if ref.source_url
    ]
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.id,
        "client": "monitor",
        "payload": {
            "summary": _clip(
                f"{_KIND_TITLE[alert.kind]}: {alert.actor} on {alert.topic_name} — {alert.explanation}", 1024
            ),
            "source": alert.actor,
            "severity": _PD_SEVERITY[alert.severity],
            "timestamp": _iso(occurred_at),
            "component": alert.topic,
            "group": alert.actor,
            "class": alert.kind.value,
            "custom_details": {
                "alert_id": alert.id,
                "explanation": alert.explanation,
                "statement": alert.statement.model_dump(mode="json"),
                "prior": alert.prior.model_dump(mode="json"),
                "confidence": alert.confidence,
                "prior_polarity": alert.prior_polarity.value,
                "new_polarity": alert.new_polarity.value,
                "cues": list(alert.cues),
                "engine": alert.engine,
            },
        },
        "links": links,
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
