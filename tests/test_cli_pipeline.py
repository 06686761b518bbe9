"""The pipeline commands as a user runs them: real processes, the embedded default, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.commands.pipeline import render_schemas

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "monitor" / "samples" / "demo.jsonl"


def monitor(*args: str, stdin: str | None = None, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "monitor", *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=120)


def test_detect_needs_no_server_and_reports_alerts() -> None:
    out = monitor("detect", stdin=SAMPLE.read_text())
    assert out.returncode == 0, out.stderr
    alerts = [json.loads(line) for line in out.stdout.splitlines()]
    assert {a["statement"]["id"] for a in alerts} == {"demo-006", "demo-009"}
    assert all(a["kind"] == "contradiction" for a in alerts)


def test_detect_malformed_line_exit_2_with_line_number_and_no_output() -> None:
    lines = SAMPLE.read_text().splitlines()
    lines.insert(3, '{"id": "broken", "actor": "kremlin"')
    out = monitor("detect", stdin="\n".join(lines) + "\n")
    assert out.returncode == 2
    assert "<stdin>:4" in out.stderr and "not valid JSON" in out.stderr
    assert out.stdout == ""


def test_detect_schema_violation_names_the_field() -> None:
    bad = json.loads(SAMPLE.read_text().splitlines()[0])
    bad["published_at"] = "yesterday"
    out = monitor("detect", stdin=json.dumps(bad) + "\n")
    assert out.returncode == 2
    assert "<stdin>:1" in out.stderr and "published_at" in out.stderr


def test_run_twice_on_same_embedded_log_emits_no_duplicates(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    first = monitor("run", "--once", "--json", "--db", db, "--input", str(SAMPLE))
    assert first.returncode == 0, first.stderr
    ids = [json.loads(line)["id"] for line in first.stdout.splitlines()]
    assert len(ids) == 2 and len(set(ids)) == 2
    second = monitor("run", "--once", "--json", "--db", db)
    assert second.returncode == 0, second.stderr
    assert second.stdout == ""
    assert "processed 0 statements" in second.stderr
    listed = monitor("alerts", "--json", "--db", db)
    assert sorted(json.loads(line)["id"] for line in listed.stdout.splitlines()) == sorted(ids)


def test_publish_bad_file_appends_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    bad = tmp_path / "bad.jsonl"
    lines = SAMPLE.read_text().splitlines()
    bad.write_text("\n".join([*lines[:5], "not json", *lines[5:]]) + "\n")
    out = monitor("publish", "--db", db, str(bad))
    assert out.returncode == 2
    assert f"{bad}:6" in out.stderr
    run = monitor("run", "--once", "--db", db)
    assert "processed 0 statements" in run.stderr


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    out = monitor("publish", "--db", str(tmp_path / "m.db"), str(tmp_path / "nope.jsonl"))
    assert out.returncode == 2 and "no such file" in out.stderr


def test_worker_without_kafka_says_what_to_set() -> None:
    out = monitor("worker")
    assert out.returncode == 2 and "MONITOR_KAFKA_BOOTSTRAP" in out.stderr


def test_committed_schemas_are_fresh() -> None:
    for name, text in render_schemas().items():
        path = ROOT / "schemas" / name
        assert path.exists(), f"{path} missing: run `monitor schemas`"
        assert path.read_text() == text, f"{path} is stale: run `monitor schemas`"


@pytest.mark.parametrize("cmd", ["run", "worker", "publish", "alerts", "detect", "schemas"])
def test_every_command_has_help(cmd: str) -> None:
    assert monitor(cmd, "--help").returncode == 0


def test_run_is_the_whole_pipeline_on_the_embedded_log(tmp_path: Path) -> None:
    """`monitor run --input --receivers`: statements -> alerts -> signed webhooks, one process, no server."""
    import signal
    import socket
    import time

    secret = "whsec_ZW5kLXRvLWVuZC10ZXN0LXNlY3JldC0zMi1ieXRlcyE="
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "receivers.yaml").write_text(
        "defaults:\n  retry: {schedule_s: [0.2, 0.5, 1], jitter: 0.1}\nreceivers:\n"
        f"  - name: local\n    url: http://127.0.0.1:{port}/hook\n    format: standard\n"
        "    secrets: [{env: WEBHOOK_SECRET}]\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["WEBHOOK_SECRET"] = secret
    store = tmp_path / "received.jsonl"
    receiver = subprocess.Popen([sys.executable, "-m", "monitor", "receiver", "--port", str(port), "--secret", secret,
                                 "--store", str(store), "--quiet"], env=env, cwd=tmp_path)
    run = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--input", str(SAMPLE), "--receivers",
                            str(tmp_path / "receivers.yaml"), "--json"], env=env, cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (store.exists() and len(store.read_text().splitlines()) >= 2):
            time.sleep(0.2)
    finally:
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=30)
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(timeout=30)
    assert run.returncode == 0, err
    printed = sorted(json.loads(line)["id"] for line in out.splitlines())
    delivered = sorted(json.loads(line)["webhook_id"] for line in store.read_text().splitlines())
    assert len(printed) == 2 and delivered == printed
    assert secret not in err
