"""Adapters of the ports: ``embedded`` (SQLite, the default) and ``kafka`` (scale-out)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from monitor.adapters.embedded import SqliteLog
from monitor.ports import EventLog
from monitor.settings import Settings

__all__ = ["SqliteLog", "open_log"]


@asynccontextmanager
async def open_log(settings: Settings) -> AsyncIterator[EventLog]:
    """The event log of the configured backend: embedded unless a Kafka bootstrap is set."""
    log: EventLog
    if settings.bootstrap:
        from monitor.adapters.kafka import KafkaLog

        log = KafkaLog(settings.bootstrap, kafka=settings.kafka, default_partitions=settings.topics.partitions)
    else:
        log = SqliteLog(settings.embedded.path, default_partitions=settings.topics.partitions)
    try:
        yield log
    finally:
        await log.close()
