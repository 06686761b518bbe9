"""Helpers of the fault tests (tests/test_faults.py): a deterministic input, its fault-free
reference, subprocesses run as ops run them, and the assertions every fault test shares.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from monitor.codec import decode_alert
from monitor.domain.models import Alert, StatementEvent
from monitor.ports import EventLog
from monitor.testing import fold

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases" / "own_cases.jsonl"


def fault_input(replicas: int) -> list[StatementEvent]:
    """The labeled own cases, ``replicas`` times over, each replica with its own actors and ids.

    Actors are renamed per replica (``kremlin.r3``) so replicas fold independently and the
    input spreads over every partition; ids are suffixed so alert ids never collide.
    """
    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    events: list[StatementEvent] = []
    for r in range(replicas):
        for case in cases:
            for raw in case["statements"]:
                events.append(StatementEvent.model_validate(
                    {**raw, "id": f"{raw['id']}-r{r}", "actor": f"{raw['actor']}.r{r}"}
                ))
    return events


def reference(events: Sequence[StatementEvent]) -> dict[str, Alert]:
    """The fault-free run: the pure core over the same input, alerts by id."""
    _, alerts = fold(events)
    by_id = {a.id: a for a in alerts}
    assert len(by_id) == len(alerts), "alert ids of the reference must be unique"
    return by_id


def assert_same_alerts(got: Sequence[Alert], expected: dict[str, Alert], *, duplicates_allowed: bool) -> int:
    """Exactly the expected ids, nothing missing or extra, each copy equal to the reference.

    Returns the number of duplicate copies (0 when ``duplicates_allowed`` is false).
    """
    copies: dict[str, list[Alert]] = defaultdict(list)
    for alert in got:
        copies[alert.id].append(alert)
    missing = sorted(set(expected) - set(copies))
    extra = sorted(set(copies) - set(expected))
    assert not missing, f"{len(missing)} alerts lost, e.g. {missing[:5]}"
    assert not extra, f"{len(extra)} alerts not in the fault-free run, e.g. {extra[:5]}"
    for alert_id, same in copies.items():
        for alert in same:
            want = expected[alert_id].model_dump()
            diff = {k: (v, want[k]) for k, v in alert.model_dump().items() if v != want[k]}
            assert not diff, f"alert {alert_id} differs from the fault-free run (got, expected): {diff}"
    duplicates = len(got) - len(copies)
    if not duplicates_allowed:
        assert duplicates == 0, f"{duplicates} duplicate alerts where the runner is transactional"
    return duplicates


async def read_topic(log: EventLog, topic: str) -> list[bytes]:
    """Every value of ``topic``, partition by partition, in offset order."""
    values: list[bytes] = []
    for p in range(await log.partitions(topic)):
        offset = 0
        while records := await log.read(topic, p, offset, limit=5000):
            values.extend(r.value for r in records)
            offset = records[-1].offset + 1
    return values


async def read_alerts(log: EventLog, topic: str) -> list[Alert]:
    return [decode_alert(v) for v in await read_topic(log, topic)]


async def count(log: EventLog, topic: str) -> int:
    return sum((await log.end_offsets(topic)).values())


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, within: float, what: str, every: float = 0.1,
    alive: Sequence[Process] = (),
) -> None:
    """Poll ``check`` until true; fail after ``within`` s, or as soon as a process in ``alive`` dies."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return
        for proc in alive:
            if proc.popen.poll() is not None:
                raise AssertionError(f"{proc.name} exited with {proc.popen.returncode} while waiting for {what}:\n"
                                     f"{proc.tail()}")
        if time.monotonic() > deadline:
            details = "\n".join(p.tail() for p in alive)
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}\n{details}")
        await asyncio.sleep(every)


def clean_env(**values: str) -> dict[str, str]:
    """The current environment without any MONITOR_* variable, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update(values)
    return env


class Process:
    """``python -m monitor ARGS`` in its own process, its output in ``<dir>/<name>.log``."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.workdir = workdir
        with self.log_path.open("wb") as out:
            self.popen = subprocess.Popen([sys.executable, "-m", "monitor", *args], env=env, stdout=out,
                                          stderr=subprocess.STDOUT, cwd=workdir)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, no commit."""
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit within ``timeout``; the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    async def wait(self, within: float) -> int:
        deadline = time.monotonic() + within
        while self.popen.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"{self.name} did not exit within {within:.0f} s:\n{self.tail()}")
            await asyncio.sleep(0.05)
        return self.popen.returncode

    def tail(self, chars: int = 3000) -> str:
        try:
            text = self.log_path.read_bytes()[-chars:].decode("utf-8", "replace")
        except OSError:
            text = ""
        return f"--- {self.name} ({self.log_path}) ---\n{text}"
