"""Wire format of the logs: JSON bytes in, validated domain models out.

Shared by every adapter (the embedded runner, the Faust agent, replay, the CLI), so a
record that one of them rejects is rejected by all, with the same reason.
"""

from __future__ import annotations

from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from monitor.domain.models import Alert, DeadLetter, StanceState, StatementEvent
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
        # One pass in pydantic-core (parse + validate) is the fast path -- measured faster than
        # orjson plus Python-side checks and a trusted build. Called on the validator directly:
        # what model_validate_json does, minus a Python frame on every statement. Rejected input
        # takes the two-step path below, which words the reason (bad JSON, not an object, which field).
        return model.__pydantic_validator__.validate_json(raw)  # type: ignore[no-any-return]
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


_validate_statement = StatementEvent.__pydantic_validator__.validate_json


def decode_statement(raw: bytes | str, *, where: str | None = None) -> StatementEvent:
    try:
        return _validate_statement(raw)  # type: ignore[no-any-return]  # every statement: no extra frames
    except ValidationError:
        return decode(StatementEvent, raw, where=where)  # words the reason


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


class StateEncoder:
    """``encode(state)`` for the stance states a worker writes every batch, reusing unchanged parts.

    A step replaces only the topics a statement touched and keeps the other
    :class:`~monitor.domain.models.TopicStance` objects (frozen) as they were, so the JSON of each
    topic stance is remembered per actor and reused while the state still holds that very object;
    the other fields are plain (strings, integers, a tuple of strings) and orjson writes them as
    pydantic does. The bytes are exactly :func:`encode`'s (tested). If StanceState gains a field of
    another type or a custom serializer, every state is encoded by :func:`encode` instead.
    Memory: one JSON copy of each remembered actor's topic stances.
    """

    # Annotations of fields that orjson writes exactly as pydantic does.
    _PLAIN = frozenset({"<class 'str'>", "<class 'int'>", "<class 'bool'>", "typing.Literal[1]", "tuple[str, ...]"})

    def __init__(self) -> None:
        self._parts: dict[str, dict[str, tuple[BaseModel, orjson.Fragment]]] = {}
        fields = StanceState.model_fields
        decorators = StanceState.__pydantic_decorators__
        self.enabled = (
            repr(fields["topics"].annotation) == "dict[str, monitor.domain.models.TopicStance]"
            if "topics" in fields else False
        ) and (
            all(repr(f.annotation) in self._PLAIN for name, f in fields.items() if name != "topics")
            and not (decorators.field_serializers or decorators.model_serializers or decorators.computed_fields)
            and StanceState.model_config.get("alias_generator") is None
            and all(f.serialization_alias is None and f.alias is None and not f.exclude for f in fields.values())
        )

    def encode(self, state: StanceState) -> bytes:
        if not self.enabled:
            return encode(state)
        values = state.__dict__
        known = self._parts.get(state.actor, {})
        parts: dict[str, tuple[BaseModel, orjson.Fragment]] = {}
        for name, stance in values["topics"].items():
            part = known.get(name)
            if part is None or part[0] is not stance:
                part = (stance, orjson.Fragment(stance.__pydantic_serializer__.to_json(stance)))
            parts[name] = part
        self._parts[state.actor] = parts
        # pydantic writes the fields in declaration order, which is the order of __dict__ too.
        out = dict(values)
        out["topics"] = {name: part[1] for name, part in parts.items()}
        return orjson.dumps(out)
