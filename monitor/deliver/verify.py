"""Verify a Standard Webhooks request: the helper receivers import.

::

    from monitor.deliver.verify import verify
    webhook = verify(body, request.headers, secrets=["whsec_..."])   # raises DeliveryError
    alert = webhook.payload["data"]

Signatures are computed by the ``standardwebhooks`` package (the reference
implementation); this module adds what it lacks: several accepted secrets (key rotation
on the receiving side), a configurable timestamp tolerance, an injectable clock and
errors that never include the secret or the expected signature.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from standardwebhooks import Webhook

from monitor.deliver.config import signing_key
from monitor.errors import DeliveryError

DEFAULT_TOLERANCE_S = 300.0


@dataclass(frozen=True, slots=True)
class VerifiedWebhook:
    """A request whose signature matched: its id, signing time and parsed JSON body."""

    id: str
    timestamp: datetime
    payload: Any


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: datetime | None = None,
) -> VerifiedWebhook:
    """Check ``webhook-id``/``webhook-timestamp``/``webhook-signature`` against ``body``.

    Raises :class:`~monitor.errors.DeliveryError` when a header is missing, the timestamp is
    more than ``tolerance_s`` away from ``now``, no ``v1`` signature matches any secret, or
    the body is not JSON.
    """
    if not secrets:
        raise DeliveryError("no secret configured to verify webhooks with")
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    raw_ts = lower.get("webhook-timestamp")
    raw_sig = lower.get("webhook-signature")
    if not (msg_id and raw_ts and raw_sig):
        raise DeliveryError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        seconds = int(raw_ts)
    except ValueError:
        raise DeliveryError("webhook-timestamp is not an integer number of seconds") from None
    current = (now or datetime.now(UTC)).timestamp()
    if abs(current - seconds) > tolerance_s:
        raise DeliveryError(f"webhook-timestamp is outside the tolerance of {tolerance_s:g} s")
    try:
        data = body.decode("utf-8")
    except UnicodeDecodeError:
        raise DeliveryError("body is not UTF-8") from None
    timestamp = datetime.fromtimestamp(seconds, tz=UTC)
    offered = _v1_signatures(raw_sig)
    for secret in secrets:
        expected = Webhook(signing_key(secret)).sign(msg_id, timestamp, data).split(",", 1)[1]
        expected_bytes = base64.b64decode(expected)
        if any(hmac.compare_digest(expected_bytes, sig) for sig in offered):
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise DeliveryError("body is not JSON") from None
            return VerifiedWebhook(id=msg_id, timestamp=timestamp, payload=payload)
    raise DeliveryError("no matching v1 signature")


def _v1_signatures(header: str) -> list[bytes]:
    signatures = []
    for item in header.split():
        version, _, value = item.partition(",")
        if version != "v1" or not value:
            continue
        try:
            signatures.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    return signatures
