"""Delivery benchmark: alert appended -> signed webhook received, on loopback.

Runs `monitor dispatch` as its own process (as in production) against an embedded log,
appends alerts at a steady rate from this process, and times each one until a
verifying receiver in this process gets it. Then appends a burst and measures how many
alerts per second reach the receiver.

    .venv/bin/python bench/bench_delivery.py --rate 50 --seconds 20 --burst 2000

Prints p50/p90/p99/max latency and alerts/s; writes JSON to bench/results/.
Target (issue 6): p99 <= 200 ms at 50 alerts/s with a healthy receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from monitor.adapters.embedded import SqliteLog
from monitor.codec import alert_message
from monitor.deliver.receiver import serve_app
from monitor.deliver.testing import make_alert
from monitor.deliver.verify import verify

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Timing:
    """A verifying receiver that notes when each webhook-id first arrived."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.requests = 0
        self.new = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = time.perf_counter()
        webhook = verify(body, dict(request.headers), [SECRET])
        self.requests += 1
        self.received.setdefault(webhook.id, now)
        self.new.set()
        return web.Response(status=204)

    async def wait_for(self, ids: set[str], within_s: float) -> None:
        async with asyncio.timeout(within_s):
            while not ids <= self.received.keys():
                self.new.clear()
                await self.new.wait()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    db = work / "log.db"
    log = SqliteLog(db)
    timing = Timing()
    app = web.Application()
    app.router.add_post("/{tail:.*}", timing.handle)
    counter = 0

    def next_alerts(n: int) -> list:  # type: ignore[type-arg]
        nonlocal counter
        out = [make_alert(counter + i, actor=f"actor-{(counter + i) % 50}") for i in range(n)]
        counter += n
        return out

    async with serve_app(app, "127.0.0.1", 0) as url:
        receivers = work / "receivers.yaml"
        receivers.write_text(
            "receivers:\n"
            f"  - name: bench\n    url: '{url}/hook'\n    secrets: ['{SECRET}']\n"
            f"    max_in_flight: {args.max_in_flight}\n"
        )
        env = {**os.environ, "MONITOR_EMBEDDED__PATH": str(db), "MONITOR_LOG_LEVEL": "WARNING"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "dispatch", "--receivers", str(receivers), cwd=ROOT, env=env,
        )
        try:
            # Warm up: the dispatcher is running and connected.
            warm = next_alerts(4)
            await log.append("alerts", [alert_message(a) for a in warm])
            await timing.wait_for({a.id for a in warm}, within_s=60)

            # Steady rate.
            sent: dict[str, float] = {}
            interval = 1.0 / args.rate
            start = time.perf_counter()
            for i in range(int(args.rate * args.seconds)):
                await asyncio.sleep(max(0.0, start + i * interval - time.perf_counter()))
                (alert,) = next_alerts(1)
                sent[alert.id] = time.perf_counter()
                await log.append("alerts", [alert_message(alert)])
            await timing.wait_for(set(sent), within_s=60)
            latencies = [(timing.received[i] - t) * 1000 for i, t in sent.items()]

            # Burst: how fast does a backlog drain?
            burst = next_alerts(args.burst)
            t0 = time.perf_counter()
            for chunk in range(0, len(burst), 500):
                await log.append("alerts", [alert_message(a) for a in burst[chunk : chunk + 500]])
            await timing.wait_for({a.id for a in burst}, within_s=300)
            drain_s = time.perf_counter() - t0
            cpu = cpu_seconds(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
            await log.close()

    return {
        "benchmark": "delivery",
        "at": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "max_in_flight": args.max_in_flight,
        "steady_alerts": len(latencies),
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 2),
            "p90": round(percentile(latencies, 90), 2),
            "p99": round(percentile(latencies, 99), 2),
            "max": round(max(latencies), 2),
            "mean": round(statistics.fmean(latencies), 2),
        },
        "burst_alerts": len(burst),
        "burst_alerts_per_s": round(len(burst) / drain_s, 1),
        "requests": timing.requests,
        "dispatcher_cpu_ms_per_alert": None if cpu is None else round(cpu * 1000 / len(timing.received), 2),
        "load_average_1m": os.getloadavg()[0],
        "target_p99_ms": 200,
        "target_met": percentile(latencies, 99) <= 200,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="alerts per second (steady phase)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the steady phase")
    parser.add_argument("--burst", type=int, default=2000, help="alerts appended at once (throughput phase)")
    parser.add_argument("--max-in-flight", type=int, default=1, help="receiver max_in_flight per partition")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    lat = result["latency_ms"]
    assert isinstance(lat, dict)
    print(
        f"append -> webhook received at {args.rate:g} alerts/s over {args.seconds:g} s "
        f"({result['steady_alerts']} alerts): p50 {lat['p50']} ms  p90 {lat['p90']} ms  "
        f"p99 {lat['p99']} ms  max {lat['max']} ms  "
        f"[target p99 <= 200 ms: {'met' if result['target_met'] else 'MISSED'}]"
    )
    print(
        f"burst of {result['burst_alerts']}: {result['burst_alerts_per_s']} alerts/s delivered; "
        f"dispatcher CPU {result['dispatcher_cpu_ms_per_alert']} ms/alert; "
        f"load average {result['load_average_1m']:.1f} on {os.cpu_count()} CPUs"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"delivery-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
