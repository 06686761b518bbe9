"""With MONITOR_LOG_FORMAT=json every line a service prints is one JSON object, whoever logged it."""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = """
import logging, structlog
from mode.utils.logging import setup_logging
from monitor.observability import configure_logging, stdlib_logging_config
{setup}
logging.getLogger("faust.worker").info("Starting %s", "worker")
logging.getLogger("aiokafka.consumer").info("chatty")
logging.getLogger("aiokafka.consumer").warning("broker %s unreachable", "b1")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("mode").exception("crashed")
structlog.get_logger().info("alert sent", alert="alr_1")
"""


def _lines(setup: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(setup=setup)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == ""
    return [json.loads(line) for line in done.stderr.splitlines()]  # fails on any non-JSON line


def _check(lines: list[dict[str, object]]) -> None:
    assert [x["event"] for x in lines] == ["Starting worker", "broker b1 unreachable", "crashed", "alert sent"]
    assert lines[0]["logger"] == "faust.worker" and lines[0]["level"] == "info"
    assert lines[1]["level"] == "warning"  # library chatter below WARNING is dropped
    assert "ZeroDivisionError" in str(lines[2]["exception"])
    assert lines[3]["alert"] == "alr_1"
    assert all("timestamp" in x for x in lines)


def test_services_log_json_lines() -> None:
    _check(_lines('configure_logging("INFO", "json")'))


def test_faust_worker_logging_setup_keeps_json() -> None:
    # what faust.Worker(logging_config=...) does at start-up, after our own set-up
    worker = 'setup_logging(loglevel="INFO", logging_config=stdlib_logging_config("INFO", "json"))'
    _check(_lines(f'configure_logging("INFO", "json")\n{worker}'))
