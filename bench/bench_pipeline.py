"""Throughput of the pipeline, side by side on one broker in one run (issue 9).

    .venv/bin/python bench/bench_pipeline.py [--n 50000] [--skip-two-workers]

(a) bare aiokafka read + JSON decode, (b) a no-op Faust agent, (b2) the same taking events in
batches as the monitor's agent does (``take_events``, same size and window), (b3) that batching
no-op agent on the worker's lean consumer (``monitor.stream.consumer``: the floor of the worker's
own Faust, where (b) and (b2) are stock Faust's), (c0) the monitor's
worker with the engine replaced by the outputs the real engine computed for the same statements
in (e) -- the worker's own machinery (decode, stance table, alerts) at real state sizes and
alert counts, (c) the monitor's worker (real engine, stance table, alert output), (c3) the same
with exactly_once, (c2) two monitor workers in one consumer group, (d) replay, (e) the detector
core alone -- each as statements/s and as a ratio to (a); then alert latency p50/p99 and
resident memory per 100k actor x topic states.
Results are printed and written to bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import pickle
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SENTENCES, cpu_seconds, encoded, machine, rss_kib, save, table

from monitor.adapters.kafka import KafkaLog
from monitor.domain.detector import Detector
from monitor.domain.models import StanceState, StatementEvent
from monitor.localkafka import bootstrap_servers

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 4


async def produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024,
                                enable_idempotence=True, acks="all")
    await producer.start()
    started = time.perf_counter()
    try:
        batch = []
        for key, value in items:
            batch.append(await producer.send(topic, value=value, key=key))
            if len(batch) >= 5000:
                await asyncio.gather(*batch)
                batch = []
        await asyncio.gather(*batch)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def bare_read(bootstrap: str, topic: str, n: int) -> float:
    """(a): what reading and decoding costs with nothing else -- the baseline."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_bytes=64 * 2**20,
                                max_partition_fetch_bytes=16 * 2**20)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        started = time.perf_counter()
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for r in records:
                    orjson.loads(r.value)
                seen += len(records)
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def core(items: list[tuple[bytes, bytes]], record_to: Path | None = None) -> float:
    """(e): decode + validate + fold through the detector, in this process, one core.

    With ``record_to``, the output of every step (new state, alerts) is pickled there by
    statement id, for the (c0) worker run (outside the timing).
    """
    detector = Detector()
    states: dict[str, StanceState] = {}
    outputs: dict[str, Any] = {}
    started = time.perf_counter()
    for _key, value in items:
        event = StatementEvent.model_validate_json(value)
        state = states.get(event.actor) or StanceState.empty(event.actor)
        states[event.actor], _alerts = outputs[event.id] = detector.step(state, event)
    seconds = time.perf_counter() - started
    if record_to is not None:
        with record_to.open("wb") as fh:
            pickle.dump(outputs, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return seconds


def faust_run(mode: str, bootstrap: str, items: list[tuple[bytes, bytes]], workers: int = 1,
              extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """(b)/(c): start worker process(es), wait until they own the partitions, publish, time first->last."""
    run = uuid.uuid4().hex[:8]
    topic, app_id = f"bench-{mode}-{run}", f"bench-{mode}-{run}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update(MONITOR_KAFKA_BOOTSTRAP=bootstrap, MONITOR_TOPICS__STATEMENTS=topic,
               MONITOR_TOPICS__ALERTS=f"{topic}-alerts", MONITOR_TOPICS__DEAD_LETTER=f"{topic}-dlq",
               MONITOR_WORKER__APP_ID=app_id, MONITOR_LOG_LEVEL="WARNING", **(extra_env or {}))

    async def create() -> None:
        log = KafkaLog(bootstrap)
        await log.ensure_topics({topic: PARTITIONS, f"{topic}-alerts": PARTITIONS, f"{topic}-dlq": 1})
        await log.close()

    asyncio.run(create())
    procs = []
    for i in range(workers):
        penv = dict(env, MONITOR_WORKER__DATA_DIR=f"/tmp/{app_id}-{i}")
        procs.append(subprocess.Popen([sys.executable, str(ROOT / "bench" / "faust_runner.py"), mode], env=penv,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
    try:
        # Every worker owns partitions, and the group has been stable for a moment: no rebalance mid-run.
        owned = [False] * workers
        deadline = time.monotonic() + 120
        while not all(owned) and time.monotonic() < deadline:
            for i, p in enumerate(procs):
                line = p.stdout.readline() if p.stdout else ""
                found = re.search(r"ASSIGNED (\d+)", line)  # the line may carry terminal escapes
                if found:
                    owned[i] = int(found.group(1)) > 0
        if not all(owned):
            raise RuntimeError(f"{mode}: workers never owned partitions")
        time.sleep(3.0 if workers > 1 else 1.0)
        broker_pid = _broker_pid()
        broker_cpu0 = cpu_seconds(broker_pid) if broker_pid else None
        asyncio.run(produce(bootstrap, topic, items))
        asyncio.run(_wait_committed(bootstrap, app_id, topic, len(items)))
        broker_cpu = (cpu_seconds(broker_pid) - broker_cpu0) if broker_pid and broker_cpu0 is not None else None
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
    reports = []
    for p in procs:
        out, _ = p.communicate(timeout=60)
        found = re.findall(r"\{.*\}", out)
        reports.append(json.loads(found[-1]) if found else {"n": 0})
    first = min(r["first"] for r in reports if r.get("first"))
    last = max(r["last"] for r in reports if r.get("last"))
    n = sum(r["n"] for r in reports)
    busy = [(r["cpu_last"] - r["cpu_first"], r["n"] - r["n_first"]) for r in reports if r.get("cpu_first") is not None]
    cpu_us = sum(c for c, _ in busy) / max(1, sum(k for _, k in busy)) * 1e6
    return {"seconds": last - first, "n": n, "per_worker": [r["n"] for r in reports],
            "batches": sum(r.get("batches", 0) for r in reports) or None,
            "cpu_us_per_stmt": round(cpu_us),
            "worker_cpu_s": round(sum(r.get("cpu_s", 0) for r in reports), 2),
            "broker_cpu_s": round(broker_cpu, 2) if broker_cpu is not None else None}


async def _wait_committed(bootstrap: str, group: str, topic: str, n: int, within: float = 600) -> None:
    log = KafkaLog(bootstrap)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if sum((await log.committed(group, topic)).values()) >= n:
                return
            await asyncio.sleep(0.25)
        raise RuntimeError(f"{group} did not finish {n} statements in {within}s")
    finally:
        await log.close()


def _broker_pid() -> int | None:
    out = subprocess.run(["pgrep", "-f", "kafka.Kafka"], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def alert_latency(bootstrap: str, pairs: int = 200, rate: float = 50.0) -> dict[str, Any]:
    """Statement appended -> alert readable on the alerts topic, at a steady rate, one worker."""
    run = uuid.uuid4().hex[:8]
    topic, app_id = f"bench-lat-{run}", f"bench-lat-{run}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update(MONITOR_KAFKA_BOOTSTRAP=bootstrap, MONITOR_TOPICS__STATEMENTS=topic,
               MONITOR_TOPICS__ALERTS=f"{topic}-alerts", MONITOR_TOPICS__DEAD_LETTER=f"{topic}-dlq",
               MONITOR_WORKER__APP_ID=app_id, MONITOR_WORKER__DATA_DIR=f"/tmp/{app_id}",
               MONITOR_WORKER__BATCH_WINDOW_S="0.05", MONITOR_LOG_LEVEL="WARNING")

    async def create() -> None:
        log = KafkaLog(bootstrap)
        await log.ensure_topics({topic: PARTITIONS, f"{topic}-alerts": PARTITIONS, f"{topic}-dlq": 1})
        await log.close()

    async def go() -> list[float]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        consumer = AIOKafkaConsumer(f"{topic}-alerts", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await producer.start()
        await consumer.start()
        sent: dict[str, float] = {}
        got: dict[str, float] = {}

        async def receive() -> None:
            async for msg in consumer:
                alert = orjson.loads(msg.value)
                got.setdefault(alert["statement"]["id"], time.perf_counter())
                if len(got) >= pairs:
                    return

        receiver = asyncio.create_task(receive())
        for i in range(pairs):  # a stance, then its reversal; latency is measured on the reversal
            actor = f"lat-{i:04d}"
            first = {"id": f"{run}-{i}-a", "actor": actor, "speaker": "A spokesperson",
                     "text": "Russia is ready to continue prisoner exchanges with Ukraine. This humanitarian channel "
                             "works, and we will keep using it.",
                     "published_at": "2024-01-01T00:00:00Z"}
            second = dict(first, id=f"{run}-{i}-b", text="Moscow is suspending all prisoner exchanges with Kyiv "
                          "until further notice.", published_at="2024-01-02T00:00:00Z")
            await producer.send_and_wait(topic, orjson.dumps(first), key=actor.encode())
            sent[second["id"]] = time.perf_counter()
            await producer.send_and_wait(topic, orjson.dumps(second), key=actor.encode())
            await asyncio.sleep(1.0 / rate)
        await asyncio.wait_for(receiver, timeout=120)
        await producer.stop()
        await consumer.stop()
        return [got[k] - sent[k] for k in sent if k in got]

    asyncio.run(create())
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "faust_runner.py"), "monitor"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        while not (proc.stdout and "ASSIGNED" in proc.stdout.readline()):
            pass
        time.sleep(1.0)
        latencies = asyncio.run(go())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    lat = sorted(latencies)
    q = statistics.quantiles(lat, n=100)
    return {"alerts": len(lat), "rate_per_s": rate, "p50_ms": round(q[49] * 1000, 1), "p99_ms": round(q[98] * 1000, 1),
            "max_ms": round(lat[-1] * 1000, 1)}


def state_memory() -> dict[str, Any]:
    """:func:`measure_state_memory` in a fresh process: the benchmark's own heap (its corpus, freed
    buffers given back to the OS mid-measurement) would otherwise move the resident size."""
    proc = subprocess.run([sys.executable, __file__, "--state-memory-child"], capture_output=True, text=True,
                          check=True)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def measure_state_memory(actors: int = 10_000, topics_per_actor: int = 10) -> dict[str, Any]:
    """Resident memory and JSON size of 100k actor x topic stances, folded by the real engine."""
    detector = Detector()
    gc.collect()
    before = rss_kib()
    states: dict[str, StanceState] = {}
    i = 0
    for a in range(actors):
        actor = f"mem-{a:06d}"
        state = StanceState.empty(actor)
        for s in SENTENCES:
            i += 1
            event = StatementEvent(id=f"m{i}", actor=actor, speaker="S", text=s,
                                   published_at="2024-01-01T00:00:00Z")  # type: ignore[arg-type]
            state, _ = detector.step(state, event)
            if len(state.topics) >= topics_per_actor:
                break
        states[actor] = state
    gc.collect()
    after = rss_kib()
    pairs = sum(len(s.topics) for s in states.values())
    json_bytes = sum(len(s.model_dump_json()) for s in states.values())
    return {"actor_topic_states": pairs, "rss_mib": round((after - before) / 1024, 1),
            "rss_mib_per_100k": round((after - before) / 1024 * 100_000 / max(pairs, 1), 1),
            "json_bytes_per_state": round(json_bytes / max(pairs, 1))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--skip-two-workers", action="store_true")
    ap.add_argument("--state-memory-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.state_memory_child:
        print(json.dumps(measure_state_memory()))
        return
    n = args.n
    items = encoded(n)
    rows: list[dict[str, Any]] = []
    result: dict[str, Any] = {"machine": machine(), "n": n, "partitions": PARTITIONS}
    with bootstrap_servers(partitions=4) as bootstrap:
        topic = f"bench-bare-{uuid.uuid4().hex[:8]}"

        async def setup() -> None:
            log = KafkaLog(bootstrap)
            await log.ensure_topics({topic: PARTITIONS})
            await log.close()

        asyncio.run(setup())
        asyncio.run(produce(bootstrap, topic, items))
        bare = asyncio.run(bare_read(bootstrap, topic, n))
        rows.append({"run": "(a) bare aiokafka read+decode", "seconds": bare})
        print(f"(a) bare read: {n / bare:,.0f}/s", file=sys.stderr)

        recorded = Path(tempfile.mkdtemp(prefix="bench-pipeline-")) / "outputs.pickle"
        core_seconds = core(items, record_to=recorded)

        noop = faust_run("noop", bootstrap, items)
        rows.append({"run": "(b) Faust no-op agent", **noop})
        print(f"(b) faust no-op: {n / noop['seconds']:,.0f}/s", file=sys.stderr)

        noop_batches = faust_run("noop-batches", bootstrap, items)
        rows.append({"run": "(b2) Faust no-op agent, take_events batches", **noop_batches})
        print(f"(b2) faust no-op, batches: {n / noop_batches['seconds']:,.0f}/s", file=sys.stderr)

        lean = faust_run("noop-lean-batches", bootstrap, items)
        rows.append({"run": "(b3) Faust no-op agent, batches, on the worker's lean consumer", **lean})
        print(f"(b3) faust no-op, batches, lean consumer: {n / lean['seconds']:,.0f}/s", file=sys.stderr)

        machinery = faust_run("monitor", bootstrap, items, extra_env={"BENCH_RECORDED": str(recorded)})
        rows.append({"run": "(c0) monitor worker x1, engine replaced by its recorded outputs", **machinery})
        print(f"(c0) monitor worker, recorded engine: {n / machinery['seconds']:,.0f}/s", file=sys.stderr)
        recorded.unlink()
        recorded.parent.rmdir()

        one = faust_run("monitor", bootstrap, items)
        rows.append({"run": "(c) monitor worker x1", **one})
        print(f"(c) monitor worker: {n / one['seconds']:,.0f}/s", file=sys.stderr)

        eos = faust_run("monitor", bootstrap, items,
                        extra_env={"MONITOR_WORKER__PROCESSING_GUARANTEE": "exactly_once"})
        rows.append({"run": "(c3) monitor worker x1, exactly_once", **eos})
        print(f"(c3) exactly_once: {n / eos['seconds']:,.0f}/s", file=sys.stderr)

        if not args.skip_two_workers:
            two = faust_run("monitor", bootstrap, items, workers=2)
            rows.append({"run": "(c2) monitor workers x2", **two})
            print(f"(c2) two workers: {n / two['seconds']:,.0f}/s", file=sys.stderr)

        rows.append({"run": "(d) replay (no Faust)", "seconds": replay_run(bootstrap, topic, n)})

        rows.append({"run": "(e) detector core alone", "seconds": core_seconds})
        result["latency"] = alert_latency(bootstrap)
    result["memory"] = state_memory()

    for r in rows:
        r["per_s"] = n / r["seconds"]
        r["vs_bare"] = r["per_s"] / rows[0]["per_s"]
    by = {r["run"].split()[0]: r for r in rows}
    result["runs"] = rows
    result["ratios"] = {
        "worker_vs_noop": by["(c)"]["per_s"] / by["(b)"]["per_s"],
        "worker_machinery_vs_noop": by["(c0)"]["per_s"] / by["(b)"]["per_s"],
        "worker_machinery_vs_noop_batches": by["(c0)"]["per_s"] / by["(b2)"]["per_s"],
        "worker_vs_noop_lean_consumer": by["(c)"]["per_s"] / by["(b3)"]["per_s"],
        "exactly_once_vs_at_least_once": by["(c3)"]["per_s"] / by["(c)"]["per_s"],
        **({"two_vs_one": by["(c2)"]["per_s"] / by["(c)"]["per_s"]} if "(c2)" in by else {}),
        "replay_vs_bare": by["(d)"]["per_s"] / by["(a)"]["per_s"],
    }
    print(table(rows, ["run", "per_s", "vs_bare", "seconds", "worker_cpu_s", "cpu_us_per_stmt", "broker_cpu_s",
                       "batches", "per_worker"]))
    print("ratios:", json.dumps({k: round(v, 3) for k, v in result["ratios"].items()}))
    print("alert latency:", json.dumps(result["latency"]))
    print("state memory:", json.dumps(result["memory"]))
    print("machine:", json.dumps(result["machine"]))
    print(f"written {save('pipeline', result)}")


def replay_run(bootstrap: str, topic: str, n: int) -> float:
    """(d): `monitor replay` over the same topic with the worker's engine (reads Kafka directly, no Faust)."""
    from bench_replay import replay_read

    records, seconds = asyncio.run(replay_read(bootstrap, topic, "default"))
    if records != n:
        raise RuntimeError(f"replay read {records} records, expected {n}")
    return seconds


if __name__ == "__main__":
    main()
