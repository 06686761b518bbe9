"""Delivery events: the audit trail of who was told what, when.

Three topics of the event log hold them, as JSON:

* ``deliveries`` -- one :class:`DeliveryAttempt` per HTTP attempt (key: alert id).
* ``deliveries.dlq`` -- one :class:`DeadLettered` per alert a receiver never accepted,
  with every attempt and the alert itself (key: receiver name).
* ``deliveries.receivers`` -- :class:`ReceiverDisabled`, :class:`ReceiverEnabled` and
  :class:`BreakerChanged` (key: receiver name). Folding it gives each receiver's state.

No secret is ever part of an event: receivers are named, URLs are reduced to their host.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from monitor.domain.models import Alert

AttemptOutcome = Literal["delivered", "retry", "rejected", "gone", "failed", "duplicate"]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeliveryAttempt(_Event):
    """One HTTP attempt to deliver one alert to one receiver.

    ``outcome`` is ``delivered`` (2xx), ``retry`` (will be retried), ``failed`` (retryable
    but no attempt left), ``rejected`` (4xx other than 408/429/410: not retried) or ``gone`` (410).
    """

    type: Literal["delivery.attempt"] = "delivery.attempt"
    alert_id: str
    receiver: str
    attempt: int = Field(ge=1)
    at: AwareDatetime
    status_code: int | None = None
    latency_ms: float = Field(ge=0)
    outcome: AttemptOutcome
    error: str | None = None
    retry_in_s: float | None = None
    source_partition: int
    source_offset: int


class DeadLettered(_Event):
    """An alert a receiver did not accept after every allowed attempt (or at once, for a 4xx)."""

    type: Literal["delivery.dead_lettered"] = "delivery.dead_lettered"
    alert_id: str
    receiver: str
    at: AwareDatetime
    reason: str
    status_code: int | None = None
    response_excerpt: str | None = None
    attempts: tuple[DeliveryAttempt, ...]
    source_topic: str
    source_partition: int
    source_offset: int
    alert: Alert | None = Field(default=None, description="None when the record was not a valid alert.")
    payload: str | None = Field(default=None, description="The raw record when it was not a valid alert.")


class ReceiverDisabled(_Event):
    """The receiver answered 410 Gone (or was disabled by hand): nothing is sent until re-enabled.

    Alerts are not skipped meanwhile: the receiver's position stays where it was.
    """

    type: Literal["receiver.disabled"] = "receiver.disabled"
    receiver: str
    at: AwareDatetime
    reason: str
    alert_id: str | None = None
    status_code: int | None = None


class ReceiverEnabled(_Event):
    """An operator re-enabled a receiver (``monitor dispatch --enable NAME``)."""

    type: Literal["receiver.enabled"] = "receiver.enabled"
    receiver: str
    at: AwareDatetime
    by: str = "operator"


class BreakerChanged(_Event):
    """The receiver's circuit breaker changed state (closed, open, half_open)."""

    type: Literal["receiver.breaker"] = "receiver.breaker"
    receiver: str
    at: AwareDatetime
    state: Literal["closed", "open", "half_open"]
    consecutive_failures: int


ReceiverEvent = Annotated[ReceiverDisabled | ReceiverEnabled | BreakerChanged, Field(discriminator="type")]
RECEIVER_EVENT: TypeAdapter[ReceiverDisabled | ReceiverEnabled | BreakerChanged] = TypeAdapter(ReceiverEvent)


class ReceiverState(_Event):
    """What the log says about one receiver: enabled or not, and why."""

    receiver: str
    enabled: bool = True
    reason: str | None = None
    since: AwareDatetime | None = None
    breaker: Literal["closed", "open", "half_open"] = "closed"


def fold_receiver_states(
    events: Iterable[ReceiverDisabled | ReceiverEnabled | BreakerChanged],
    states: dict[str, ReceiverState] | None = None,
) -> dict[str, ReceiverState]:
    """Fold receiver events (in log order) into the state of each receiver."""
    result = dict(states or {})
    for event in events:
        current = result.get(event.receiver) or ReceiverState(receiver=event.receiver)
        if isinstance(event, ReceiverDisabled):
            current = current.model_copy(update={"enabled": False, "reason": event.reason, "since": event.at})
        elif isinstance(event, ReceiverEnabled):
            current = current.model_copy(update={"enabled": True, "reason": None, "since": event.at})
        else:
            current = current.model_copy(update={"breaker": event.state})
        result[event.receiver] = current
    return result
