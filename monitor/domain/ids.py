"""Deterministic identifiers: the same input always yields the same id."""

from __future__ import annotations

import hashlib


def digest(*parts: str, size: int = 24) -> str:
    """A short, stable hex digest of ``parts`` (joined unambiguously)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(4, "big"))
        h.update(data)
    return h.hexdigest()[:size]


def alert_id(statement_id: str, kind: str, topic: str) -> str:
    """Alert ids derive from the statement id, the alert kind and the topic, never from time."""
    return "alr_" + digest(statement_id, kind, topic)
