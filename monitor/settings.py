"""The one settings model, built at the edge (the CLI) and passed down.

Every field has an environment variable: ``MONITOR_`` prefix, nested with ``__``
(``MONITOR_KAFKA__BOOTSTRAP=host:9092``, ``MONITOR_TOPICS__ALERTS=alerts``).
``MONITOR_KAFKA_BOOTSTRAP`` is accepted as a shorthand for the former.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.deliver.config import DeliverSettings
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
    sasl_password: str | None = None
    ssl_cafile: Path | None = None


class WorkerSettings(BaseModel):
    """The Faust worker (Kafka backend)."""

    app_id: str = "monitor"
    data_dir: Path = Path(".monitor/faust")
    batch_size: int = Field(default=2000, ge=1)
    batch_window_s: float = Field(default=0.2, gt=0)
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    web_port: int = Field(default=0, ge=0, le=65535, description="Faust web server port; 0 disables it.")


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
