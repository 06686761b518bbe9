"""The compose stack as processes: a served feed becomes a delivered, signed webhook.

The same commands docker-compose.yml starts (`monitor scrape`, `monitor worker`,
`monitor dispatch`, `monitor receiver`) run here as processes against the test Kafka
broker. Two receivers get the alert: the bundled `monitor receiver` (it rejects bad
signatures with 401 and stores only what verifies) and a bare HTTP server of this test
that checks the signature with the `standardwebhooks` package, an independent
implementation.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "e2e"
SECRET = "whsec_" + base64.b64encode(b"end-to-end-test-secret-32-bytes!").decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def news_site() -> Iterator[str]:
    """A loopback news site: an RSS feed and two wire stories."""
    base_holder: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/feed.xml":
                body, ctype = (FIXTURES / "feed.xml").read_text().replace("{base}", base_holder["base"]).encode(), \
                    "application/rss+xml"
            elif path.startswith("/articles/") and (FIXTURES / path.removeprefix("/articles/")).is_file():
                body, ctype = (FIXTURES / path.removeprefix("/articles/")).read_bytes(), "text/html; charset=utf-8"
            elif path == "/robots.txt":
                body, ctype = b"User-agent: *\nAllow: /\n", "text/plain"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base_holder["base"] = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield base_holder["base"]
    server.shutdown()


class VerifyingReceiver:
    """A receiver that knows nothing of monitor: it verifies with the standardwebhooks package."""

    def __init__(self) -> None:
        self.verified: list[dict[str, Any]] = []
        self.rejected = 0
        hook = Webhook(SECRET)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    payload = hook.verify(body, {k.lower(): v for k, v in self.headers.items()})
                except Exception:
                    outer.rejected += 1
                    self.send_response(401)
                else:
                    outer.verified.append({"id": self.headers["webhook-id"], "payload": payload})
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def start(args: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen([sys.executable, "-m", "monitor", *args], env=env, stdout=out, stderr=out, cwd=cwd)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_feed_to_signed_webhook(kafka_bootstrap: str, news_site: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update(
        MONITOR_KAFKA_BOOTSTRAP=kafka_bootstrap,
        MONITOR_TOPICS__STATEMENTS=f"statements-{run}",
        MONITOR_TOPICS__ALERTS=f"alerts-{run}",
        MONITOR_TOPICS__DEAD_LETTER=f"statements.dlq-{run}",
        MONITOR_WORKER__APP_ID=f"monitor-e2e-{run}",
        MONITOR_WORKER__DATA_DIR=str(tmp_path / "faust"),
        MONITOR_DELIVER__ATTEMPTS_TOPIC=f"deliveries-{run}",
        MONITOR_DELIVER__DEAD_LETTER_TOPIC=f"deliveries.dlq-{run}",
        MONITOR_DELIVER__RECEIVERS_TOPIC=f"deliveries.receivers-{run}",
        MONITOR_SCRAPE__STATE_PATH=str(tmp_path / "scrape.db"),
        MONITOR_SCRAPE__PER_HOST_INTERVAL_S="0",
        WEBHOOK_SECRET=SECRET,
        MONITOR_LOG_FORMAT="json",  # as docker-compose.yml runs the services
    )
    port = free_port()
    independent = VerifyingReceiver()
    (tmp_path / "sources.yaml").write_text(
        f"watchlist: {ROOT / 'deploy' / 'watchlist.example.yaml'}\n"
        f"sources:\n  - name: eastwire\n    kind: feed\n    url: {news_site}/feed.xml\n"
    )
    (tmp_path / "receivers.yaml").write_text(
        "defaults:\n  retry: {schedule_s: [0.2, 0.5, 1, 2], jitter: 0.1}\n"
        "receivers:\n"
        f"  - name: desk\n    url: http://127.0.0.1:{port}/hooks/monitor\n    format: standard\n"
        "    secrets: [{env: WEBHOOK_SECRET}]\n"
        f"  - name: independent\n    url: {independent.url}\n    format: standard\n"
        "    secrets: [{env: WEBHOOK_SECRET}]\n"
    )
    store = tmp_path / "received.jsonl"
    procs = [
        start(["receiver", "--port", str(port), "--secret", SECRET, "--store", str(store), "--quiet"], env,
              tmp_path / "receiver.log", tmp_path),
        start(["worker"], env, tmp_path / "worker.log", tmp_path),
        start(["dispatch", "--receivers", str(tmp_path / "receivers.yaml")], env, tmp_path / "dispatch.log",
              tmp_path),
    ]
    try:
        scrape = subprocess.run([sys.executable, "-m", "monitor", "scrape", "--sources", str(tmp_path / "sources.yaml"),
                                 "--once", "--no-progress"], env=env, cwd=tmp_path, capture_output=True, text=True,
                                timeout=120)
        assert scrape.returncode == 0, scrape.stderr
        assert "2 new statements" in scrape.stderr, scrape.stderr

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (store.exists() and independent.verified):
            for p in procs:
                assert p.poll() is None, f"{p.args} died: " + "".join(
                    (tmp_path / n).read_text()[-2000:] for n in ("worker.log", "dispatch.log", "receiver.log"))
            time.sleep(0.5)
        time.sleep(2.0)  # a wrong extra alert would arrive by now
    finally:
        for p in reversed(procs):
            stop(p)

    stored = [json.loads(line) for line in store.read_text().splitlines()] if store.exists() else []
    assert len(stored) == 1, (tmp_path / "dispatch.log").read_text()[-3000:]
    alert = stored[0]["payload"]["data"]
    assert stored[0]["payload"]["type"] == "alert.contradiction"
    assert alert["kind"] == "contradiction" and alert["actor"] == "kremlin" and alert["topic"] == "prisoner_exchanges"
    assert alert["statement"]["speaker"] == "Maria Zakharova"
    assert alert["statement"]["source_url"] == f"{news_site}/articles/swaps-halted.html"
    assert alert["prior"]["speaker"] == "Dmitry Peskov"
    assert "suspending all prisoner exchanges" in alert["statement"]["quote"]
    assert stored[0]["webhook_id"] == alert["id"]

    assert independent.rejected == 0
    assert [v["id"] for v in independent.verified] == [alert["id"]]
    assert independent.verified[0]["payload"]["data"] == alert
    assert SECRET not in "".join((tmp_path / n).read_text() for n in ("worker.log", "dispatch.log"))
    for name in ("worker.log", "dispatch.log"):  # one JSON object per line, Faust's own lines included
        lines = (tmp_path / name).read_text().splitlines()
        assert lines, name
        for line in lines:
            assert isinstance(json.loads(line), dict), f"{name}: {line}"

