"""Wire formats: each matches the public spec of the tool that receives it (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook, WebhookVerificationError

from monitor.deliver.config import Format, ReceiverConfig
from monitor.deliver.formats import fingerprint, render
from monitor.deliver.testing import make_alert
from monitor.domain.models import AlertKind, Severity

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
OCCURRED = datetime(2026, 1, 6, 12, 0, 0, 123000, tzinfo=UTC)


def receiver(fmt: Format, **extra: object) -> ReceiverConfig:
    data: dict[str, object] = {"name": "r", "url": "https://hooks.example.org/x", "format": fmt, **extra}
    if fmt is Format.STANDARD and "secrets" not in extra:
        data["secrets"] = [SECRET]
    return ReceiverConfig.model_validate(data)


def test_standard_webhooks_body_and_headers_verify_with_the_reference_package() -> None:
    alert = make_alert(1)
    now = datetime.now(UTC)
    out = render(alert, receiver(Format.STANDARD), occurred_at=OCCURRED, sent_at=now)
    body = orjson.loads(out.body)
    assert body["type"] == "alert.contradiction"
    assert body["timestamp"] == "2026-01-06T12:00:00.123000Z"
    assert body["data"] == alert.model_dump(mode="json")
    assert out.headers["webhook-id"] == alert.id
    assert out.headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert out.headers["webhook-signature"].startswith("v1,")
    # The reference implementation accepts it ...
    assert Webhook(SECRET).verify(out.body, out.headers) == body
    # ... and rejects a tampered body.
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(out.body.replace(b"acme-party", b"acme-partY"), out.headers)


def test_escalation_type() -> None:
    out = render(make_alert(kind=AlertKind.ESCALATION), receiver(Format.STANDARD), occurred_at=OCCURRED,
                 sent_at=datetime.now(UTC))
    assert orjson.loads(out.body)["type"] == "alert.escalation"


def test_key_rotation_sends_one_signature_per_secret() -> None:
    rotating = receiver(Format.STANDARD, secrets=[SECRET, OLD_SECRET])
    out = render(make_alert(), rotating, occurred_at=OCCURRED, sent_at=datetime.now(UTC))
    assert len(out.headers["webhook-signature"].split(" ")) == 2
    Webhook(SECRET).verify(out.body, out.headers)
    Webhook(OLD_SECRET).verify(out.body, out.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(out.body, out.headers)


def test_redelivery_has_the_same_body_and_id_but_a_fresh_signature() -> None:
    alert = make_alert(3)
    t0 = datetime.now(UTC)
    first = render(alert, receiver(Format.STANDARD), occurred_at=OCCURRED, sent_at=t0)
    again = render(alert, receiver(Format.STANDARD), occurred_at=OCCURRED, sent_at=t0 + timedelta(seconds=90))
    assert first.body == again.body
    assert first.headers["webhook-id"] == again.headers["webhook-id"] == alert.id
    assert first.headers["webhook-signature"] != again.headers["webhook-signature"]


def test_slack_message_has_text_blocks_quotes_links_and_escapes() -> None:
    alert = make_alert(2)
    out = render(alert, receiver(Format.SLACK), occurred_at=OCCURRED, sent_at=OCCURRED)
    msg = orjson.loads(out.body)
    assert "acme-party" in msg["text"] and alert.explanation in msg["text"]
    types = [b["type"] for b in msg["blocks"]]
    assert types == ["header", "section", "section", "section", "context"]
    now_section = msg["blocks"][3]["text"]["text"]
    assert "<https://news.example.org/acme-party/2|" in now_section  # link to the source
    assert "&lt;again&gt; &amp; again" in now_section  # mrkdwn control characters escaped
    assert "> Tariffs protect our workers." in msg["blocks"][2]["text"]["text"]
    assert alert.id in msg["blocks"][4]["elements"][0]["text"]
    assert len(msg["blocks"][0]["text"]["text"]) <= 150


def test_alertmanager_payload_is_version_4_with_labels_annotations_and_fingerprint() -> None:
    alert = make_alert(4, severity=Severity.CRITICAL)
    msg = orjson.loads(render(alert, receiver(Format.ALERTMANAGER), occurred_at=OCCURRED, sent_at=OCCURRED).body)
    assert msg["version"] == "4"
    assert msg["status"] == "firing"
    assert msg["receiver"] == "r"
    assert msg["groupKey"] == '{}:{actor="acme-party", alertname="StanceContradiction"}'
    assert msg["truncatedAlerts"] == 0
    (am,) = msg["alerts"]
    assert am["status"] == "firing"
    assert am["labels"] == {
        "alertname": "StanceContradiction", "actor": "acme-party", "topic": "tariffs",
        "kind": "contradiction", "severity": "critical", "alert_id": alert.id,
    }
    assert am["annotations"]["description"] == alert.explanation
    assert am["annotations"]["statement_url"] == alert.statement.source_url
    assert am["startsAt"] == "2026-01-05T13:00:00Z"
    assert am["endsAt"] == "0001-01-01T00:00:00Z"
    assert am["fingerprint"] == fingerprint(am["labels"])
    assert len(am["fingerprint"]) == 16
    assert msg["commonLabels"] == am["labels"]


def test_fingerprint_is_prometheus_fnv1a() -> None:
    # Prometheus' empty label-set signature is the FNV-1a 64 offset basis.
    assert fingerprint({}) == "cbf29ce484222325"
    assert fingerprint({"a": "b"}) != fingerprint({"a": "c"})
    assert fingerprint({"a": "b", "c": "d"}) == fingerprint({"c": "d", "a": "b"})


@pytest.mark.parametrize(
    ("severity", "expected"),
    [(Severity.LOW, "info"), (Severity.MEDIUM, "warning"), (Severity.HIGH, "error"), (Severity.CRITICAL, "critical")],
)
def test_pagerduty_events_v2_trigger(severity: Severity, expected: str) -> None:
    alert = make_alert(5, severity=severity)
    rcv = receiver(Format.PAGERDUTY, routing_key="R0UTINGKEY0123456789012345678901")
    event = orjson.loads(render(alert, rcv, occurred_at=OCCURRED, sent_at=OCCURRED).body)
    assert event["routing_key"] == "R0UTINGKEY0123456789012345678901"
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == alert.id
    payload = event["payload"]
    assert payload["severity"] == expected
    assert payload["source"] == "acme-party"
    assert 0 < len(payload["summary"]) <= 1024
    assert payload["timestamp"] == "2026-01-06T12:00:00.123000Z"
    assert payload["custom_details"]["alert_id"] == alert.id
    assert payload["custom_details"]["statement"]["quote"] == alert.statement.quote
    assert event["links"] == [{"href": alert.statement.source_url, "text": "Statement"}]


def test_unsigned_formats_still_carry_the_alert_id_header() -> None:
    for fmt in (Format.SLACK, Format.ALERTMANAGER):
        out = render(make_alert(), receiver(fmt), occurred_at=OCCURRED, sent_at=OCCURRED)
        assert out.headers["webhook-id"] == make_alert().id
        assert "webhook-signature" not in out.headers


def test_receiver_repr_never_shows_secrets() -> None:
    rcv = receiver(Format.PAGERDUTY, routing_key=SecretStr("R0UTINGKEY0123456789012345678901"))
    assert "R0UTINGKEY" not in repr(rcv) and "hooks.example.org/x" not in repr(rcv)
