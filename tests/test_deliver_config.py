"""Receivers configuration: YAML, secret references, validation without leaking secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.deliver.config import Filters, Format, load_receivers, parse_receivers, redact
from monitor.deliver.testing import make_alert
from monitor.domain.models import AlertKind, Severity
from monitor.errors import ConfigError
from monitor.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "receivers.example.yaml"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXSECRETTOKEN"


def test_the_example_file_is_valid(tmp_path: Path) -> None:
    secret_file = tmp_path / "pd"
    secret_file.write_text("PDKEY-from-file\n")
    env = {
        "ANALYSTS_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "ANALYSTS_WEBHOOK_SECRET_PREVIOUS": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "SLACK_WEBHOOK_URL": SLACK_URL,
        "PAGERDUTY_ROUTING_KEY_FILE": str(secret_file),  # the *_FILE convention
    }
    receivers = {r.name: r for r in load_receivers(EXAMPLE, environ=env)}
    assert set(receivers) == {"analysts", "slack-desk", "tickets", "on-call"}
    assert len(receivers["analysts"].secrets) == 2
    assert receivers["analysts"].retry.schedule_s[:2] == (5, 300)
    assert receivers["slack-desk"].url.get_secret_value() == SLACK_URL
    assert receivers["slack-desk"].safe_url == "https://hooks.slack.com/…"
    assert receivers["on-call"].routing_key is not None
    assert receivers["on-call"].routing_key.get_secret_value() == "PDKEY-from-file"
    assert receivers["tickets"].format is Format.ALERTMANAGER


def test_defaults_merge_into_each_receiver_and_receiver_values_win() -> None:
    (r,) = parse_receivers(
        {
            "defaults": {"timeout_s": 3, "retry": {"schedule_s": [1, 2], "jitter": 0}},
            "receivers": [{"name": "a", "url": "http://127.0.0.1:1/", "secret": "s3cret", "retry": {"jitter": 0.5}}],
        },
        environ={},
    )
    assert r.timeout_s == 3
    assert r.retry.schedule_s == (1, 2) and r.retry.jitter == 0.5
    assert r.retry.max_attempts == 3
    assert r.secrets[0].get_secret_value() == "s3cret"


def test_secret_from_file_reference_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("from-a-file\n")
    path = tmp_path / "r.yaml"
    path.write_text("receivers:\n  - {name: a, url: 'http://127.0.0.1:1/', secrets: [{file: key}]}\n")
    (r,) = load_receivers(path, environ={})
    assert r.secrets[0].get_secret_value() == "from-a-file"


def test_missing_environment_variable_names_it_and_nothing_else() -> None:
    doc = {"receivers": [{"name": "a", "url": "http://127.0.0.1:1/", "secrets": [{"env": "NOPE_SECRET"}]}]}
    with pytest.raises(ConfigError, match="NOPE_SECRET"):
        parse_receivers(doc, environ={})


def test_validation_errors_do_not_echo_secret_values() -> None:
    doc = {"receivers": [{"name": "a", "url": {"env": "U"}, "format": "slack"}]}
    with pytest.raises(ConfigError) as info:
        parse_receivers(doc, environ={"U": "hooks.slack.com/services/T000/B000/XXXXSECRETTOKEN"})  # no scheme
    assert "XXXXSECRETTOKEN" not in str(info.value)
    assert "url" in str(info.value)


@pytest.mark.parametrize(
    ("receiver", "message"),
    [
        ({"name": "a", "url": "http://127.0.0.1:1/"}, "needs at least one secret"),
        ({"name": "a", "url": "http://127.0.0.1:1/", "format": "pagerduty"}, "routing_key"),
        ({"name": "A B", "url": "http://127.0.0.1:1/", "format": "slack"}, "name"),
        ({"name": "a", "url": "http://127.0.0.1:1/", "format": "slack", "colour": "red"}, "colour"),
        ({"name": "a", "url": "ftp://x/", "format": "slack"}, "http"),
    ],
)
def test_invalid_receivers_are_config_errors(receiver: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_receivers({"receivers": [receiver]}, environ={})


def test_duplicate_names_are_rejected() -> None:
    r = {"name": "a", "url": "http://127.0.0.1:1/", "format": "slack"}
    with pytest.raises(ConfigError, match="unique"):
        parse_receivers({"receivers": [r, r]}, environ={})


def test_missing_or_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read receivers file"):
        load_receivers(tmp_path / "missing.yaml", environ={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("receivers: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_receivers(bad, environ={})


def test_filters() -> None:
    alert = make_alert(actor="acme-party", topic="tariffs", kind=AlertKind.CONTRADICTION, severity=Severity.HIGH)
    assert Filters().matches(alert)
    assert Filters(actors=("acme-party",), topics=("tariffs",), kinds=(AlertKind.CONTRADICTION,)).matches(alert)
    assert Filters(min_severity=Severity.HIGH).matches(alert)
    assert not Filters(min_severity=Severity.CRITICAL).matches(alert)
    assert not Filters(actors=("other",)).matches(alert)
    assert not Filters(topics=("nato",)).matches(alert)
    assert not Filters(kinds=(AlertKind.ESCALATION,)).matches(alert)


def test_redact_removes_every_secret() -> None:
    (r,) = parse_receivers({"receivers": [{"name": "s", "url": SLACK_URL, "format": "slack"}]}, environ={})
    text = f"ConnectError: cannot reach {SLACK_URL} (path /services/T000/B000/XXXXSECRETTOKEN)"
    cleaned = redact(text, r.secret_values())
    assert "XXXXSECRETTOKEN" not in cleaned


def test_deliver_settings_are_part_of_the_one_settings_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_DELIVER__POLL_INTERVAL_S", "0.05")
    monkeypatch.setenv("MONITOR_DELIVER__RECEIVERS_FILE", "/etc/monitor/receivers.yaml")
    settings = Settings()
    assert settings.deliver.poll_interval_s == 0.05
    assert settings.deliver.receivers_file == Path("/etc/monitor/receivers.yaml")
