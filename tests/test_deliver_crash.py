"""`monitor dispatch` killed with SIGKILL mid-delivery and restarted: nothing lost, duplicates share the id."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

from monitor.adapters.embedded import SqliteLog
from monitor.codec import alert_message
from monitor.deliver.receiver import WebhookReceiver
from monitor.deliver.testing import Reply, ScriptedServer, always, make_alert
from monitor.deliver.verify import verify

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROOT = Path(__file__).resolve().parents[1]
N = 60


async def start_dispatcher(tmp_path: Path, receivers_file: Path, db: Path, run: int) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "HOOK_SECRET": SECRET,
        "MONITOR_EMBEDDED__PATH": str(db),
        "MONITOR_DELIVER__POLL_INTERVAL_S": "0.01",
        # A long commit interval makes the kill land between delivery and commit: duplicates follow.
        "MONITOR_DELIVER__COMMIT_INTERVAL_S": "1.0",
    }
    stderr = (tmp_path / f"dispatch-{run}.log").open("wb")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "dispatch", "--receivers", str(receivers_file),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
    )


async def all_committed(log: SqliteLog, names: list[str]) -> bool:
    ends = await log.end_offsets("alerts")
    positions = [await log.committed(f"dispatch.{name}", "alerts") for name in names]
    return all(p == ends for p in positions)


async def test_dispatcher_killed_mid_delivery_and_restarted_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    log = SqliteLog(db)
    alerts = [make_alert(i, actor=f"actor-{i % 10}") for i in range(N)]
    await log.append("alerts", [alert_message(a) for a in alerts])
    slow = ScriptedServer(always(Reply(200, delay_s=0.05)))
    dedup = WebhookReceiver([SECRET])
    async with slow.serve() as slow_url, dedup.serve() as dedup_url:
        receivers_file = tmp_path / "receivers.yaml"
        receivers_file.write_text(
            "defaults:\n"
            "  secrets: [{env: HOOK_SECRET}]\n"
            "  retry: {schedule_s: [0.05, 0.1, 0.2, 0.4, 0.8]}\n"
            "receivers:\n"
            f"  - {{name: slow, url: '{slow_url}/hook'}}\n"
            # Rate-limited so it, too, is mid-way when the kill lands.
            f"  - {{name: dedup, url: '{dedup_url}/hook', rate_limit_per_s: 20}}\n"
        )
        first = await start_dispatcher(tmp_path, receivers_file, db, 1)
        try:
            await slow.wait_for(lambda s: len(s.delivered_ids()) >= 15, within_s=30)
        finally:
            first.kill()  # SIGKILL: no chance to commit
            await first.wait()
        await asyncio.sleep(0.2)  # requests in flight at the kill still complete on the server side
        delivered_before_restart = slow.delivered_ids()
        assert len(delivered_before_restart) < N, "the kill must land mid-way"

        second = await start_dispatcher(tmp_path, receivers_file, db, 2)
        try:
            await slow.wait_for(lambda s: len(s.delivered_ids()) == N, within_s=30)
            async with asyncio.timeout(30):
                while len(dedup.received) < N or not await all_committed(log, ["slow", "dedup"]):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        finally:
            second.send_signal(signal.SIGTERM)
            async with asyncio.timeout(15):
                code = await second.wait()
    await log.close()
    assert code == 0

    ids = {a.id for a in alerts}
    # Zero loss: every alert reached both receivers.
    assert slow.delivered_ids() == ids
    assert {r.webhook_id for r in dedup.received} == ids and len(dedup.received) == N
    # The crash caused redeliveries; each duplicate carries the same webhook-id and the same body.
    deliveries = Counter(h.webhook_id for h in slow.delivered())
    duplicated = {i for i, n in deliveries.items() if n > 1}
    assert duplicated, "alerts delivered but not committed before the kill must be redelivered"
    assert duplicated <= delivered_before_restart
    for wid in duplicated:
        bodies = {h.body for h in slow.delivered() if h.webhook_id == wid}
        assert len(bodies) == 1
    # Every request, original or duplicate, is correctly signed; the deduplicating receiver dropped repeats.
    for hit in slow.hits:
        assert verify(hit.body, hit.headers, [SECRET]).id == hit.webhook_id
    assert dedup.duplicates >= 1 and dedup.rejected == 0
    logs = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("dispatch-*.log")))  # noqa: ASYNC240
    assert SECRET.encode() not in logs
