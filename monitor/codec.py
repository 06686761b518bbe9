"""Wire format of the logs: JSON bytes in, validated domain models out.

Shared by every adapter (the embedded runner, the Faust agent, replay, the CLI), so a
record that one of them rejects is rejected by all, with the same reason.
"""

from __future__ import annotations

from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from monitor.domain.models import Alert, DeadLetter, StatementEvent
from monitor.errors import DecodeError
from monitor.ports import Message, Record

M = TypeVar("M", bound=BaseModel)

MAX_PAYLOAD_IN_DEAD_LETTER = 4096


def describe_validation_error(exc: ValidationError) -> str:
    """``field: reason; field: reason`` -- short enough for a log line, precise enough to fix."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(x) for x in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def decode(model: type[M], raw: bytes | str, *, where: str | None = None) -> M:
    """Decode JSON ``raw`` into ``model``; raise :class:`DecodeError` naming where and which field."""
    try:
        # One pass in pydantic-core (parse + validate) is the fast path. Rejected input takes
        # the two-step path below, which words the reason (bad JSON, not an object, which field).
        return model.model_validate_json(raw)
    except ValidationError:
        pass
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not valid JSON ({exc})", where=where) from exc
    if not isinstance(data, dict):
        raise DecodeError(f"expected a JSON object, got {type(data).__name__}", where=where)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DecodeError(f"invalid {model.__name__}: {describe_validation_error(exc)}", where=where) from exc


def decode_statement(raw: bytes | str, *, where: str | None = None) -> StatementEvent:
    return decode(StatementEvent, raw, where=where)


def decode_alert(raw: bytes | str, *, where: str | None = None) -> Alert:
    return decode(Alert, raw, where=where)


def encode(model: BaseModel) -> bytes:
    """Stable serialisation: field order is the model's, no wall-clock values added."""
    return model.model_dump_json().encode("utf-8")


def statement_message(event: StatementEvent) -> Message:
    """A statement keyed by its actor, so one actor's statements stay in order on one partition."""
    return Message(key=event.actor.encode("utf-8"), value=encode(event))


def alert_message(alert: Alert) -> Message:
    return Message(key=alert.actor.encode("utf-8"), value=encode(alert))


def dead_letter_message(record: Record, error: str) -> Message:
    """Keep the poison record, with why it was rejected, instead of dropping it."""
    letter = DeadLetter(
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode("utf-8", "replace") if record.key is not None else None,
        error=error,
        payload=record.value[:MAX_PAYLOAD_IN_DEAD_LETTER].decode("utf-8", "replace"),
    )
    return Message(key=record.key, value=encode(letter))
