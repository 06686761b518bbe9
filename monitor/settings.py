"""The one settings model, built at the edge (the CLI) and passed down.

Every field has an environment variable: ``MONITOR_`` prefix, nested with ``__``
(``MONITOR_KAFKA__BOOTSTRAP=host:9092``, ``MONITOR_TOPICS__ALERTS=alerts``).
``MONITOR_KAFKA_BOOTSTRAP`` is accepted as a shorthand for the former. Any variable may
instead be given as ``<NAME>_FILE`` pointing at a file holding the value (Docker and
Kubernetes secrets): ``MONITOR_KAFKA__SASL_PASSWORD_FILE=/run/secrets/kafka``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.deliver.config import DeliverSettings
from monitor.errors import ConfigError
from monitor.scrape.config import ScrapeSettings


class TopicNames(BaseModel):
    """Names of the topics the pipeline reads and writes."""

    statements: str = "statements"
    alerts: str = "alerts"
    dead_letter: str = "statements.dlq"
    partitions: int = Field(default=4, ge=1, le=1024)


class KafkaSettings(BaseModel):
    """Kafka connection; when ``bootstrap`` is empty the embedded log is used."""

    bootstrap: str | None = None
    client_id: str = "monitor"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None


class WorkerSettings(BaseModel):
    """The Faust worker (Kafka backend)."""

    app_id: str = "monitor"
    data_dir: Path = Path(".monitor/faust")
    batch_size: int = Field(default=2000, ge=1)
    batch_window_s: float = Field(default=0.2, gt=0)
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    web_port: int = Field(default=0, ge=0, le=65535, description="Faust web server port; 0 disables it.")
    session_timeout_s: float = Field(
        default=10.0, ge=6.0, le=300.0,
        description="A worker that stops heartbeating loses its partitions after this long (failover time).",
    )


class EmbeddedSettings(BaseModel):
    """The embedded event log (SQLite), the default backend."""

    path: Path = Path(".monitor/monitor.db")


class ObservabilitySettings(BaseModel):
    """Metrics and health endpoint of long-running services."""

    port: int = Field(default=0, ge=0, le=65535, description="/metrics, /healthz, /readyz port; 0 disables it.")
    host: str = "0.0.0.0"


class Settings(BaseSettings):
    """All configuration of the monitor."""

    model_config = SettingsConfigDict(
        env_prefix="MONITOR_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    kafka_bootstrap_shorthand: str | None = Field(
        default=None, validation_alias=AliasChoices("MONITOR_KAFKA_BOOTSTRAP"), exclude=True
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    embedded: EmbeddedSettings = Field(default_factory=EmbeddedSettings)
    topics: TopicNames = Field(default_factory=TopicNames)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    deliver: DeliverSettings = Field(default_factory=DeliverSettings)
    scrape: ScrapeSettings = Field(default_factory=ScrapeSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] = "console"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, FileEnvSource(settings_cls), dotenv_settings, file_secret_settings)

    @field_validator("kafka_bootstrap_shorthand")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None

    @property
    def backend(self) -> Literal["embedded", "kafka"]:
        return "kafka" if self.bootstrap else "embedded"

    @property
    def bootstrap(self) -> str | None:
        return self.kafka.bootstrap or self.kafka_bootstrap_shorthand


def _file_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Dotted (``__``) names of settings that are themselves file paths, e.g. ``deliver__receivers_file``."""
    out: set[str] = set()
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= _file_fields(ann, f"{prefix}{name}__")
        elif name.endswith("_file"):
            out.add(prefix + name)
    return out


class FileEnvSource(PydanticBaseSettingsSource):
    """``MONITOR_X__Y_FILE=/path`` -> the value of ``MONITOR_X__Y`` read from that file."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, path in sorted(os.environ.items()):
            if not (name.startswith("MONITOR_") and name.endswith("_FILE")) or name.endswith("__FILE"):
                continue
            target = name[len("MONITOR_") : -len("_FILE")].lower()
            if target + "_file" in _file_fields(self.settings_cls):  # a setting that names a file on purpose
                continue
            try:
                value = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{name} points at {path!r}, which cannot be read: {exc.strerror}") from exc
            node = out
            *parents, leaf = target.split("__")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return out
