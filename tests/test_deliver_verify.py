"""verify() and the receiver: interoperate with the standardwebhooks reference signer; reject tampering."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from monitor.deliver.formats import sign, standard_body
from monitor.deliver.receiver import WebhookReceiver
from monitor.deliver.testing import make_alert
from monitor.deliver.verify import verify
from monitor.errors import DeliveryError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
ROOT = Path(__file__).resolve().parents[1]


def signed_by_reference(
    body: bytes, *, msg_id: str = "msg_1", secret: str = SECRET, at: datetime | None = None
) -> dict[str, str]:
    """Headers as another Standard Webhooks implementation (the reference package) makes them."""
    at = at or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
        "content-type": "application/json",
    }


BODY = standard_body(make_alert(), datetime(2026, 1, 6, tzinfo=UTC))


def test_accepts_what_the_reference_signer_signs() -> None:
    webhook = verify(BODY, signed_by_reference(BODY), [SECRET])
    assert webhook.id == "msg_1"
    assert webhook.payload["data"]["id"] == make_alert().id


def test_headers_are_case_insensitive() -> None:
    headers = {k.upper(): v for k, v in signed_by_reference(BODY).items()}
    verify(BODY, headers, [SECRET])


def test_rejects_a_tampered_body() -> None:
    headers = signed_by_reference(BODY)
    with pytest.raises(DeliveryError, match="no matching"):
        verify(BODY.replace(b"high", b"low"), headers, [SECRET])


def test_rejects_a_changed_id_or_timestamp() -> None:
    headers = signed_by_reference(BODY)
    with pytest.raises(DeliveryError):
        verify(BODY, {**headers, "webhook-id": "msg_2"}, [SECRET])
    with pytest.raises(DeliveryError):
        verify(BODY, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}, [SECRET])


def test_rejects_the_wrong_secret_and_never_echoes_secrets() -> None:
    with pytest.raises(DeliveryError) as info:
        verify(BODY, signed_by_reference(BODY), [OTHER])
    assert OTHER not in str(info.value) and SECRET not in str(info.value)


def test_timestamp_tolerance() -> None:
    old = datetime.now(UTC) - timedelta(minutes=6)
    with pytest.raises(DeliveryError, match="tolerance"):
        verify(BODY, signed_by_reference(BODY, at=old), [SECRET])
    future = datetime.now(UTC) + timedelta(minutes=6)
    with pytest.raises(DeliveryError, match="tolerance"):
        verify(BODY, signed_by_reference(BODY, at=future), [SECRET])
    # A wider tolerance, or a clock that agrees, accepts it.
    verify(BODY, signed_by_reference(BODY, at=old), [SECRET], tolerance_s=3600)
    verify(BODY, signed_by_reference(BODY, at=old), [SECRET], now=old + timedelta(seconds=2))


def test_missing_or_malformed_headers() -> None:
    headers = signed_by_reference(BODY)
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        with pytest.raises(DeliveryError, match="missing"):
            verify(BODY, {k: v for k, v in headers.items() if k != name}, [SECRET])
    with pytest.raises(DeliveryError, match="integer"):
        verify(BODY, {**headers, "webhook-timestamp": "yesterday"}, [SECRET])
    with pytest.raises(DeliveryError, match="no matching"):
        verify(BODY, {**headers, "webhook-signature": "v1,!!!notbase64 v2,abc garbage"}, [SECRET])


def test_rotation_on_both_sides() -> None:
    # Sender signs with new and old keys; a receiver that knows only one of them accepts.
    at = datetime.now(UTC)
    headers = {"webhook-id": "m", "webhook-timestamp": str(int(at.timestamp())),
               "webhook-signature": sign("m", at, BODY, [SECRET, OTHER])}
    verify(BODY, headers, [OTHER])
    verify(BODY, headers, [SECRET])
    # A receiver that accepts several secrets accepts a sender using any one.
    verify(BODY, signed_by_reference(BODY, secret=OTHER), [SECRET, OTHER])


def test_our_signature_verifies_with_the_reference_verifier_for_raw_secrets() -> None:
    # Non-whsec secrets are raw bytes on both sides; the reference package takes bytes keys.
    at = datetime.now(UTC)
    headers = {"webhook-id": "m", "webhook-timestamp": str(int(at.timestamp())),
               "webhook-signature": sign("m", at, BODY, ["plain-secret"])}
    Webhook(b"plain-secret").verify(BODY, headers)
    verify(BODY, headers, ["plain-secret"])


# -- the receiver on loopback ------------------------------------------------------------------


async def test_receiver_verifies_dedups_and_stores(tmp_path: Path) -> None:
    store = tmp_path / "received.jsonl"
    printed: list[str] = []
    receiver = WebhookReceiver([SECRET], store=store, on_alert=lambda item: printed.append(item.webhook_id))
    async with receiver.serve() as url, httpx.AsyncClient() as client:
        good = signed_by_reference(BODY, msg_id="alr_1")
        first = await client.post(url + "/any/path", content=BODY, headers=good)
        assert first.status_code == 200 and first.json()["status"] == "accepted"
        again = await client.post(url + "/other", content=BODY, headers=signed_by_reference(BODY, msg_id="alr_1"))
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        tampered = await client.post(url, content=BODY.replace(b"high", b"low"), headers=good)
        assert tampered.status_code == 401
        stale = signed_by_reference(BODY, msg_id="alr_2", at=datetime.now(UTC) - timedelta(minutes=10))
        assert (await client.post(url, content=BODY, headers=stale)).status_code == 401
        unsigned = await client.post(url, content=BODY, headers={"content-type": "application/json"})
        assert unsigned.status_code == 401
        assert (await client.get(url)).status_code == 405
    assert printed == ["alr_1"]
    assert receiver.duplicates == 1 and receiver.rejected == 3
    assert [r.webhook_id for r in receiver.received] == ["alr_1"]
    lines = store.read_bytes().splitlines()
    assert len(lines) == 1 and orjson.loads(lines[0])["payload"]["data"]["id"] == make_alert().id


async def test_a_tampered_replay_of_a_seen_id_is_still_rejected() -> None:
    receiver = WebhookReceiver([SECRET])
    async with receiver.serve() as url, httpx.AsyncClient() as client:
        headers = signed_by_reference(BODY, msg_id="alr_x")
        assert (await client.post(url, content=BODY, headers=headers)).status_code == 200
        forged = await client.post(url, content=BODY + b" ", headers=headers)
        assert forged.status_code == 401


async def test_monitor_receiver_command(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "receiver", "--port", "0", "--secret", SECRET, "--json",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "MONITOR_EMBEDDED__PATH": str(tmp_path / "unused.db")},
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        url = ""
        async with asyncio.timeout(20):
            while not url:
                line = (await proc.stderr.readline()).decode()
                assert line, "receiver exited before listening"
                if line.startswith("listening on "):
                    url = line.split()[-1]
        async with httpx.AsyncClient() as client:
            ok = await client.post(url + "/hook", content=BODY, headers=signed_by_reference(BODY, msg_id="alr_cli"))
            bad = await client.post(url + "/hook", content=BODY, headers=signed_by_reference(BODY, secret=OTHER))
        assert ok.status_code == 200 and bad.status_code == 401
        async with asyncio.timeout(10):
            printed = orjson.loads(await proc.stdout.readline())
        assert printed["webhook_id"] == "alr_cli"
        assert printed["payload"]["type"] == "alert.contradiction"
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            _, err = await proc.communicate()
    assert proc.returncode == 0
    assert b"accepted 1, duplicates 0, rejected 1" in err
    assert SECRET.encode() not in err


def test_receiver_command_without_a_secret_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.cli import main

    monkeypatch.delenv("MONITOR_RECEIVER_SECRET", raising=False)
    assert main(["receiver", "--port", "0"]) == 2
