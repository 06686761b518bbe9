"""Deterministic identifiers: the same input always yields the same id."""

from __future__ import annotations

import hashlib


def digest(*parts: str, size: int = 24) -> str:
    """A short, stable hex digest of ``parts`` (joined unambiguously)."""
    chunks: list[bytes] = []
    for part in parts:
        data = part.encode("utf-8")
        chunks.append(len(data).to_bytes(4, "big"))
        chunks.append(data)
    return hashlib.sha256(b"".join(chunks)).hexdigest()[:size]  # one update: the same digest


def alert_id(statement_id: str, kind: str, topic: str) -> str:
    """Alert ids derive from the statement id, the alert kind and the topic, never from time."""
    return "alr_" + digest(statement_id, kind, topic)
