"""Faust topic declarations. Values stay raw bytes: decoding is ``monitor.codec``'s job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from monitor.settings import Settings


@dataclass(frozen=True)
class Topics:
    statements: Any
    alerts: Any
    dead_letter: Any


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    names = settings.topics

    def raw(name: str) -> Any:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=names.partitions)

    return Topics(statements=raw(names.statements), alerts=raw(names.alerts), dead_letter=raw(names.dead_letter))
