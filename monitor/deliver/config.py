"""Receivers as configuration: who gets which alerts, in which format, with which secrets.

A receivers file is YAML::

    defaults:                      # merged into every receiver (optional)
      timeout_s: 10
      retry: {schedule_s: [5, 300, 1800, 7200, 18000, 36000, 36000]}
    receivers:
      - name: analysts
        url: https://hooks.example.org/monitor
        format: standard
        secrets:
          - env: ANALYSTS_WEBHOOK_SECRET          # or ANALYSTS_WEBHOOK_SECRET_FILE=/run/secrets/x
          - file: /run/secrets/analysts_previous  # rotation: sign with both
        filters: {actors: [acme-party], kinds: [contradiction], min_severity: high}

Any secret-bearing value (``url``, ``secrets``, ``routing_key``) may be a literal or a
reference ``{env: NAME}`` / ``{file: PATH}``; ``{env: NAME}`` falls back to the file named
by ``NAME_FILE`` (the Docker/Kubernetes convention). Resolved values are held in
:class:`pydantic.SecretStr` and never appear in logs, reprs or error messages.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from monitor.domain.models import Alert, AlertKind, Severity
from monitor.errors import ConfigError

ReceiverName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")]


class Format(StrEnum):
    """Wire formats, each following the public spec of the tool that receives it."""

    STANDARD = "standard"
    SLACK = "slack"
    ALERTMANAGER = "alertmanager"
    PAGERDUTY = "pagerduty"


class Filters(BaseModel):
    """Which alerts a receiver wants. Empty tuples mean "all"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actors: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    kinds: tuple[AlertKind, ...] = ()
    min_severity: Severity = Severity.LOW

    def matches(self, alert: Alert) -> bool:
        return (
            (not self.actors or alert.actor in self.actors)
            and (not self.topics or alert.topic in self.topics)
            and (not self.kinds or alert.kind in self.kinds)
            and alert.severity.rank >= self.min_severity.rank
        )


# The Standard Webhooks / Svix schedule after the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_SCHEDULE_S: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class RetryPolicy(BaseModel):
    """Delays between attempts: ``schedule_s[i]`` waits before retry ``i + 1``, times ``1 ± jitter``.

    ``Retry-After`` from the receiver replaces the scheduled delay (capped at
    ``max_retry_after_s``). After the last scheduled retry the alert is dead-lettered.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schedule_s: tuple[Annotated[float, Field(ge=0)], ...] = DEFAULT_SCHEDULE_S
    jitter: float = Field(default=0.2, ge=0, le=1)
    max_retry_after_s: float = Field(default=3600.0, ge=0)

    @property
    def max_attempts(self) -> int:
        return 1 + len(self.schedule_s)


class BreakerPolicy(BaseModel):
    """Per-receiver circuit breaker: opens after ``failure_threshold`` consecutive failures,
    lets one trial request through after ``cooldown_s``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_threshold: int = Field(default=5, ge=1)
    cooldown_s: float = Field(default=30.0, ge=0)


class ReceiverConfig(BaseModel):
    """One webhook receiver, with secrets resolved (held as :class:`SecretStr`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ReceiverName
    url: SecretStr
    format: Format = Format.STANDARD
    secrets: tuple[SecretStr, ...] = ()
    routing_key: SecretStr | None = None
    filters: Filters = Field(default_factory=Filters)
    timeout_s: float = Field(default=10.0, gt=0)
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    max_in_flight: int = Field(default=1, ge=1, le=64, description="Concurrent deliveries per partition.")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = Field(default_factory=BreakerPolicy)
    start_from: Literal["earliest", "latest"] = "earliest"
    enabled: bool = True

    @model_validator(mode="after")
    def _check(self) -> ReceiverConfig:
        parts = urlsplit(self.url.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an absolute http(s) URL")
        if self.format is Format.STANDARD and not self.secrets:
            raise ValueError("format 'standard' needs at least one secret to sign with")
        if self.format is Format.PAGERDUTY and self.routing_key is None:
            raise ValueError("format 'pagerduty' needs a routing_key (the integration key)")
        return self

    @property
    def safe_url(self) -> str:
        """Scheme, host and port only: safe to log (paths often carry tokens, e.g. Slack's)."""
        parts = urlsplit(self.url.get_secret_value())
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}/…"

    def secret_values(self) -> tuple[str, ...]:
        """Every confidential string of this receiver, for redaction of error texts."""
        values = [self.url.get_secret_value(), *(s.get_secret_value() for s in self.secrets)]
        if self.routing_key is not None:
            values.append(self.routing_key.get_secret_value())
        parts = urlsplit(self.url.get_secret_value())
        if parts.path and parts.path != "/":
            values.append(parts.path)
        if parts.query:
            values.append(parts.query)
        return tuple(v for v in values if v)


class DeliverSettings(BaseModel):
    """Settings of the dispatcher (``MONITOR_DELIVER__*``)."""

    receivers_file: Path | None = None
    attempts_topic: str = "deliveries"
    dead_letter_topic: str = "deliveries.dlq"
    receivers_topic: str = "deliveries.receivers"
    group_prefix: str = "dispatch."
    poll_interval_s: float = Field(default=0.02, gt=0, le=5)
    commit_interval_s: float = Field(default=0.2, ge=0, le=60)
    read_batch: int = Field(default=200, ge=1, le=10_000)
    state_poll_s: float = Field(default=1.0, gt=0)


def redact(text: str, secrets: Sequence[str]) -> str:
    """Replace every occurrence of a secret (longest first) in ``text``."""
    for value in sorted(set(secrets), key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "<redacted>")
    return text


_SECRET_FIELDS = ("url", "routing_key")


def _resolve_ref(value: Any, where: str, environ: Mapping[str, str], base: Path) -> str:
    """A literal string, ``{env: NAME}`` (or ``NAME_FILE``) or ``{file: PATH}`` -> the secret."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        ((kind, ref),) = value.items()
        if kind == "value" and isinstance(ref, str):
            return ref
        if kind == "env" and isinstance(ref, str):
            if environ.get(ref):
                return environ[ref]
            file_ref = environ.get(f"{ref}_FILE")
            if file_ref:
                return _read_secret_file(Path(file_ref), where, f"{ref}_FILE", base)
            raise ConfigError(f"{where}: environment variable {ref} (or {ref}_FILE) is not set; export it")
        if kind == "file" and isinstance(ref, str):
            return _read_secret_file(Path(ref), where, "file", base)
    raise ConfigError(f"{where}: expected a string, {{env: NAME}} or {{file: PATH}}")


def _read_secret_file(path: Path, where: str, via: str, base: Path) -> str:
    full = path if path.is_absolute() else base / path
    try:
        text = full.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read secret file {full} (from {via}): {exc.strerror}") from None
    if not text:
        raise ConfigError(f"{where}: secret file {full} is empty")
    return text


def _merge(defaults: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = dict(defaults)
    for key, value in raw.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _format_validation(exc: ValidationError) -> str:
    # include_input=False: a bad URL or secret must not be echoed back into an error message.
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "receiver"
        problems.append(f"{loc}: {err['msg']}")
    return "; ".join(problems)


def parse_receivers(
    data: Any, *, environ: Mapping[str, str], source: str = "<receivers>", base: Path | None = None
) -> list[ReceiverConfig]:
    """Validate a parsed receivers document, resolving secret references from ``environ``."""
    base = base or Path.cwd()
    if not isinstance(data, Mapping) or not isinstance(data.get("receivers"), list):
        raise ConfigError(f"{source}: expected a mapping with a 'receivers' list")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise ConfigError(f"{source}: 'defaults' must be a mapping")
    receivers: list[ReceiverConfig] = []
    for index, raw in enumerate(data["receivers"]):
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{source}: receivers[{index}] must be a mapping")
        where = f"{source}: receiver {raw.get('name', index)!s}"
        item = _merge(defaults, raw)
        for field in _SECRET_FIELDS:
            if item.get(field) is not None:
                item[field] = _resolve_ref(item[field], f"{where}.{field}", environ, base)
        if "secret" in item:
            item["secrets"] = [item.pop("secret")]
        secrets = item.get("secrets") or []
        if not isinstance(secrets, list):
            raise ConfigError(f"{where}.secrets: expected a list")
        item["secrets"] = [_resolve_ref(s, f"{where}.secrets[{i}]", environ, base) for i, s in enumerate(secrets)]
        try:
            receivers.append(ReceiverConfig.model_validate(item))
        except ValidationError as exc:
            raise ConfigError(f"{where}: {_format_validation(exc)}") from None
    names = [r.name for r in receivers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{source}: receiver names must be unique; repeated: {', '.join(duplicates)}")
    return receivers


def load_receivers(path: Path, *, environ: Mapping[str, str]) -> list[ReceiverConfig]:
    """Read and validate a receivers YAML file (secret references resolved from ``environ``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read receivers file {path}: {exc.strerror}; pass --receivers PATH") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_receivers(data, environ=environ, source=str(path), base=path.parent)


_KEY_PREFIX = re.compile(r"^whsec_")


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: ``whsec_<base64>`` is decoded (the Standard Webhooks
    convention); any other string is used as its UTF-8 bytes. Sender and verifier share this."""
    if _KEY_PREFIX.match(secret):
        try:
            key = base64.b64decode(secret[len("whsec_") :] + "==", validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError("a whsec_ secret must be base64 after the prefix") from exc
    else:
        key = secret.encode("utf-8")
    if not key:
        raise ConfigError("webhook secrets must not be empty")
    return key
