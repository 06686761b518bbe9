"""End to end on a real Kafka broker: publish statements, run the Faust worker, read alerts.

The worker runs as ops would run it (`monitor worker` in its own process). The alerts it
produces must be exactly those of the pure core over the same statements, and poison
records must land in the dead-letter topic while later valid statements are processed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.adapters.kafka import KafkaLog
from monitor.codec import decode_alert, statement_message
from monitor.domain.detector import Detector
from monitor.domain.models import Alert, DeadLetter, StanceState
from monitor.ports import EventLog, Message
from monitor.service import read_alerts, read_statements_file

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "monitor" / "samples" / "demo.jsonl"


def expected_alerts() -> list[Alert]:
    detector = Detector()
    states: dict[str, StanceState] = {}
    out: list[Alert] = []
    for event in read_statements_file(SAMPLE):
        states[event.actor], alerts = detector.step(states.get(event.actor) or StanceState.empty(event.actor), event)
        out.extend(alerts)
    return out


@pytest.fixture
def names() -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    return {
        "MONITOR_TOPICS__STATEMENTS": f"statements-{run}",
        "MONITOR_TOPICS__ALERTS": f"alerts-{run}",
        "MONITOR_TOPICS__DEAD_LETTER": f"dlq-{run}",
        "MONITOR_WORKER__APP_ID": f"monitor-test-{run}",
    }


@pytest.fixture(params=["at_least_once", "exactly_once"])
def guarantee(request: pytest.FixtureRequest) -> str:
    """Faust's processing guarantee: both must give the same alerts (exactly_once uses transactions)."""
    return str(request.param)


@pytest.fixture
def metrics_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def worker(
    kafka_bootstrap: str, names: dict[str, str], guarantee: str, metrics_port: int, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update(names, MONITOR_KAFKA_BOOTSTRAP=kafka_bootstrap, MONITOR_WORKER__DATA_DIR=str(tmp_path / "faust"),
               MONITOR_LOG_LEVEL="WARNING", MONITOR_WORKER__PROCESSING_GUARANTEE=guarantee,
               MONITOR_OBSERVABILITY__PORT=str(metrics_port), MONITOR_OBSERVABILITY__HOST="127.0.0.1")
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "worker"], env=env, stdout=log, stderr=log,
                            cwd=tmp_path)
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


async def wait_for(log: EventLog, topic: str, count: int, within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if sum((await log.end_offsets(topic)).values()) >= count:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{topic} did not reach {count} records in {within}s")


async def read_all(log: EventLog, topic: str) -> list[bytes]:
    values: list[bytes] = []
    for p in range(await log.partitions(topic)):
        values.extend(r.value for r in await log.read(topic, p, 0, limit=10_000))
    return values


async def test_worker_folds_statements_into_alerts_and_dead_letters_poison(
    kafka_bootstrap: str, names: dict[str, str], worker: subprocess.Popen[bytes], metrics_port: int, tmp_path: Path
) -> None:
    events = read_statements_file(SAMPLE)
    expected = expected_alerts()
    assert {a.statement.id for a in expected} == {"demo-006", "demo-009"}, "the sample must raise two alerts"

    log = KafkaLog(kafka_bootstrap)
    try:
        stmts, alerts_topic, dlq = (names["MONITOR_TOPICS__STATEMENTS"], names["MONITOR_TOPICS__ALERTS"],
                                    names["MONITOR_TOPICS__DEAD_LETTER"])
        # Poison on the kremlin partition, before the Kremlin reversal (demo-006) that must still alert.
        messages = [statement_message(e) for e in events[:5]]
        messages += [Message(key=b"kremlin", value=b"{not json"),
                     Message(key=b"kremlin", value=json.dumps({"id": "x", "actor": "kremlin"}).encode()),
                     Message(key=b"kremlin", value=b"\xff\xfe invalid utf-8")]
        messages += [statement_message(e) for e in events[5:]]
        await log.append(stmts, messages)

        await wait_for(log, alerts_topic, len(expected))
        await wait_for(log, dlq, 3)
        await asyncio.sleep(2.0)  # anything extra (a wrong alert) would show up by now

        got = await read_alerts(log, topic=alerts_topic)
        assert sorted(a.id for a in got) == sorted(a.id for a in expected)
        assert {a.id: a for a in got} == {a.id: a for a in expected}
        assert not [a for a in got if a.statement.id in {"demo-004", "demo-007"}], "reaffirmations must not alert"

        letters = [DeadLetter.model_validate_json(v) for v in await read_all(log, dlq)]
        assert len(letters) == 3
        assert all(letter.source_topic == stmts for letter in letters)
        reasons = " | ".join(letter.error for letter in letters)
        assert "not valid JSON" in reasons and "speaker: Field required" in reasons
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]

        # What ops scrape: health, readiness and the pipeline's metrics on the worker.
        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics_port}") as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 200
            metrics = (await http.get("/metrics")).text
        assert f'monitor_statements_processed_total{{backend="kafka"}} {float(len(events))}' in metrics
        assert f'monitor_alerts_total{{kind="contradiction"}} {float(len(expected))}' in metrics
        assert f'monitor_dead_letters_total{{topic="{dlq}"}} 3.0' in metrics
        assert "monitor_consumer_lag{" in metrics and "monitor_batch_processing_seconds_count" in metrics
        [decode_alert(v) for v in await read_all(log, alerts_topic)]
    finally:
        await log.close()
