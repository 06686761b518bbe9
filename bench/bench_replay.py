"""Replay benchmark: replay throughput vs a bare aiokafka read+decode loop, and memory at 100k vs 1M.

Run: ``.venv/bin/python bench/bench_replay.py`` (starts its own LocalKafka unless
``KAFKA_BOOTSTRAP_SERVERS`` is set). Results are printed and written to
``bench/results/replay-<unix time>.json``.

* throughput: the same topic on the same broker in one run: (a) a bare group-less
  ``AIOKafkaConsumer.getmany`` loop + ``orjson.loads`` per record, (b) the replay core
  (``run_replay`` over ``KafkaSource``, no timeline) with each engine (see ``variants``: the
  default engine in the replay kernel with one fold thread per core and with one, and on the
  Python path); ratio = (b)/(a), each replay against the bare loop of its round, the median
  over ``--rounds``. Both are timed from connecting to the broker to the last record; engines
  are built before. ``--corpus`` picks the statements.
* memory: N statements over 50 actors on the embedded log; each replay runs in a fresh
  process and reports its peak RSS, for the first 100k and for all 1M statements.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from monitor.adapters.embedded import SqliteLog  # noqa: E402
from monitor.codec import statement_message  # noqa: E402
from monitor.domain.detector import Detector  # noqa: E402
from monitor.domain.models import Alert, StanceState, StatementEvent  # noqa: E402
from monitor.localkafka import bootstrap_servers  # noqa: E402
from monitor.ports import Message  # noqa: E402
from monitor.replay.engine import EngineChoice  # noqa: E402
from monitor.replay.range import RangeSpec  # noqa: E402
from monitor.replay.runner import ReplayOptions, run_replay  # noqa: E402
from monitor.replay.sources import KafkaSource, SqliteSource, StatementSource, reader_options  # noqa: E402
from monitor.replay.testing import KeywordDetector, synthetic_statements  # noqa: E402
from monitor.settings import KafkaSettings  # noqa: E402


class NullDetector(Detector):
    """Folds nothing: isolates the cost of the replay machinery (read, decode, project, write)."""

    def __init__(self) -> None:
        pass

    @property
    def version(self) -> str:
        return "null"

    def step(self, state: StanceState, event: StatementEvent) -> tuple[StanceState, list[Alert]]:
        return state, []


ENGINES: dict[str, tuple[str, Callable[[], Detector]]] = {
    "default": ("monitor.domain.detector:Detector", Detector),
    "keyword": ("monitor.replay.testing:KeywordDetector", KeywordDetector),
    "null": ("bench.bench_replay:NullDetector", NullDetector),
}


def engine(name: str) -> EngineChoice:
    spec, factory = ENGINES[name]
    return EngineChoice(spec, factory())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- throughput on Kafka ----------------------------------------------------------------------------

def corpus(n: int, kind: str) -> Iterator[Message]:
    """``sentences``: the pipeline benchmark's statements (1-4 real-looking sentences each, 200 actors);
    ``synthetic``: one-line markers the engine reads at a glance (``synthetic_statements``, 50 actors)."""
    if kind == "sentences":
        from common import encoded

        for key, value in encoded(n):
            yield Message(key, value)
    else:
        for event in synthetic_statements(n, actors=50):
            yield statement_message(event)


async def produce(bootstrap: str, topic: str, n: int, kind: str = "sentences") -> None:
    from monitor.adapters.kafka import KafkaLog

    log = KafkaLog(bootstrap, default_partitions=4)
    try:
        await log.ensure_topics({topic: 4})
        chunk = []
        for message in corpus(n, kind):
            chunk.append(message)
            if len(chunk) == 10_000:
                await log.append(topic, chunk)
                chunk = []
        if chunk:
            await log.append(topic, chunk)
    finally:
        await log.close()


async def bare_read(bootstrap: str, topic: str) -> tuple[int, float]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    t0 = time.perf_counter()  # from connecting, as a replay is timed
    consumer = AIOKafkaConsumer(**reader_options(KafkaSettings(), bootstrap))
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0, 1, 2, 3})]
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        todo = {tp for tp in tps if ends[tp] > 0}
        n = 0
        while todo:
            got = await consumer.getmany(*todo, timeout_ms=1000, max_records=10_000)
            for tp, msgs in got.items():
                for m in msgs:
                    orjson.loads(m.value)
                n += len(msgs)
                if msgs[-1].offset + 1 >= ends[tp]:
                    todo.discard(tp)
                    consumer.pause(tp)
        return n, time.perf_counter() - t0
    finally:
        await consumer.stop()


async def replay_read(bootstrap: str, topic: str, engine_name: str, jobs: int = 1, *, kernel: bool = True,
                      threads: int | None = None) -> tuple[int, float]:
    """A whole replay of the topic, timed like the bare loop: from connecting to the last record folded
    (and, here, the output and manifest written). The engine is built before (as the bare loop's decoder)."""
    choice = engine(engine_name)
    source = KafkaSource(bootstrap, topic)
    options = ReplayOptions(timeline=False, jobs=jobs, kernel=kernel, threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            t0 = time.perf_counter()
            result = await run_replay(source, choice, Path(tmp), options)
            return result.manifest.counts.records_read, time.perf_counter() - t0
        finally:
            await source.close()


def throughput(n: int, engines: list[str], kind: str, rounds: int = 3) -> dict[str, Any]:
    """Each round reads the topic with the bare loop and then replays it with every variant; a
    variant's ratio is taken against the bare loop of its own round (the two measured minutes
    apart at most), and the median of the rounds' ratios is reported, with their range."""
    with bootstrap_servers(partitions=4) as bootstrap:
        topic = f"bench-replay-{uuid.uuid4().hex[:8]}"
        asyncio.run(produce(bootstrap, topic, n, kind))
        out: dict[str, Any] = {"statements": n, "corpus": kind, "rounds": rounds}
        cores = os.cpu_count() or 1
        plan = [(name, tag, how, kw) for name in engines for tag, how, kw in variants(name, cores)]
        bares: list[float] = []
        rates: dict[str, list[float]] = {tag: [] for _, tag, _, _ in plan}
        for r in range(rounds):
            read_n, dt = asyncio.run(bare_read(bootstrap, topic))
            bare = read_n / dt
            bares.append(bare)
            print(f"round {r + 1}: bare aiokafka read+orjson: {read_n} records in {dt:.2f}s = {bare:,.0f}/s")
            for name, tag, how, kw in plan:
                got, dt = asyncio.run(replay_read(bootstrap, topic, name, **kw))
                rates[tag].append(got / dt)
                print(f"round {r + 1}: replay ({name} engine, {how}): {got} records in {dt:.2f}s = "
                      f"{got / dt:,.0f}/s, ratio {got / dt / bare:.3f}")
        out["bare_events_per_s"] = round(statistics.median(bares))
        out["bare_events_per_s_rounds"] = [round(b) for b in bares]
        print(f"\nbare aiokafka read+orjson: median {statistics.median(bares):,.0f}/s "
              f"(rounds {', '.join(f'{b:,.0f}' for b in bares)})")
        for name, tag, how, _ in plan:
            ratios = [rate / bare for rate, bare in zip(rates[tag], bares, strict=True)]
            out[f"replay_{tag}_events_per_s"] = round(statistics.median(rates[tag]))
            out[f"ratio_{tag}"] = round(statistics.median(ratios), 3)
            out[f"ratio_{tag}_rounds"] = [round(x, 3) for x in ratios]
            print(f"replay ({name} engine, {how}): median {statistics.median(rates[tag]):,.0f}/s, "
                  f"ratio median {statistics.median(ratios):.3f} (rounds {min(ratios):.3f}-{max(ratios):.3f})")
        return out


def variants(name: str, cores: int) -> list[tuple[str, str, dict[str, Any]]]:
    """How each engine is replayed: the default engine in the replay kernel with one fold thread and with
    one per core (the default), and without the kernel (the Python path, one process and one per core);
    other engines in one process and one per core."""
    if name != "default":
        return [(name, "1 process", {"jobs": 1})] + (
            [(f"{name}_jobs{cores}", f"{cores} processes", {"jobs": cores})] if cores > 1 else [])
    out = [("default", f"kernel, {cores} fold thread{'s' if cores > 1 else ''} (the default)", {"jobs": 1})]
    if cores > 1:
        out.append(("default_threads1", "kernel, 1 fold thread", {"jobs": 1, "threads": 1}))
    out.append(("default_python", "Python path, 1 process", {"jobs": 1, "kernel": False}))
    if cores > 1:
        out.append((f"default_python_jobs{cores}", f"Python path, {cores} processes",
                    {"jobs": cores, "kernel": False}))
    return out


# -- memory on the embedded log -----------------------------------------------------------------

def fill_embedded(path: Path, n: int) -> None:
    async def go() -> None:
        log = SqliteLog(path, default_partitions=4)
        chunk = []
        t1 = 1_700_000_000_000
        for i, event in enumerate(synthetic_statements(n, actors=50)):
            m = statement_message(event)
            chunk.append(type(m)(m.key, m.value, t1 + i))
            if len(chunk) == 50_000:
                await log.append("statements", chunk)
                chunk = []
        if chunk:
            await log.append("statements", chunk)
        await log.close()

    asyncio.run(go())


def child(db: str, upto: int, engine_name: str) -> None:
    """Run one replay of the first ``upto`` offsets (over all partitions) and print JSON with peak RSS.

    In one process (``jobs=1``): its own peak RSS is then the whole replay's."""
    async def go() -> dict[str, Any]:
        source: StatementSource
        if db.startswith("kafka:"):  # kafka:<bootstrap>/<topic>
            bootstrap, _, topic = db.removeprefix("kafka:").partition("/")
            source = KafkaSource(bootstrap, topic)
        else:
            source = SqliteSource(db, "statements")
        with tempfile.TemporaryDirectory() as tmp:
            try:
                ends = await source.end_offsets()
                total = sum(ends.values())
                stop = ",".join(f"{p}:{e * upto // total}" for p, e in ends.items())
                t0 = time.perf_counter()
                res = await run_replay(source, engine(engine_name), Path(tmp),
                                       ReplayOptions(range=RangeSpec.parse(None, stop), timeline=False, jobs=1))
                dt = time.perf_counter() - t0
            finally:
                await source.close()
        counts = res.manifest.counts
        return {"statements": counts.statements_in_range, "seconds": round(dt, 2),
                "events_per_s": round(counts.statements_in_range / dt), "actors": counts.actors,
                "alerts": counts.alerts, "peak_rss_mb": round(peak_rss_mb(), 1)}

    print(json.dumps(asyncio.run(go())))


def memory(n: int, engine_name: str, keep: Path | None, backend: str = "embedded") -> dict[str, Any]:
    """Peak RSS of replays of the first 100k and of all ``n`` statements (each in a fresh process)
    from the embedded log or from Kafka."""
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "kafka":
            with bootstrap_servers(partitions=4) as bootstrap:
                topic = f"bench-memory-{uuid.uuid4().hex[:8]}"
                t0 = time.perf_counter()
                asyncio.run(produce(bootstrap, topic, n, "synthetic"))
                print(f"wrote {n} statements to Kafka topic {topic} in {time.perf_counter() - t0:.0f}s")
                return _memory_runs(f"kafka:{bootstrap}/{topic}", n, engine_name, backend)
        db = keep or Path(tmp) / "bench.db"
        if not db.exists():
            t0 = time.perf_counter()
            fill_embedded(db, n)
            print(f"wrote {n} statements to {db} in {time.perf_counter() - t0:.0f}s")
        return _memory_runs(str(db), n, engine_name, backend)


def _memory_runs(where: str, n: int, engine_name: str, backend: str) -> dict[str, Any]:
    out: dict[str, Any] = {"engine": engine_name, "backend": backend}
    for upto in sorted({min(100_000, n), n}):
        proc = subprocess.run([sys.executable, __file__, "--child", where, str(upto), engine_name],
                              capture_output=True, text=True, check=True)
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        out[str(upto)] = row
        print(f"replay of {row['statements']:,} statements ({backend}): peak RSS {row['peak_rss_mb']} MB, "
              f"{row['events_per_s']:,}/s, {row['actors']} actors, {row['alerts']:,} alerts")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="statements for the Kafka throughput run")
    ap.add_argument("--engines", default="null,keyword,default", help="engines for the throughput run")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the throughput run (bare loop, then each replay)")
    ap.add_argument("--corpus", choices=("sentences", "synthetic"), default="sentences",
                    help="statements of the throughput run (see corpus())")
    ap.add_argument("--memory-n", type=int, default=1_000_000, help="statements for the memory run")
    ap.add_argument("--memory-engine", default="keyword", choices=sorted(ENGINES))
    ap.add_argument("--keep-db", type=Path, help="reuse/keep the embedded log of the memory run here")
    ap.add_argument("--memory-backend", choices=("embedded", "kafka", "both"), default="embedded",
                    help="where the memory run reads the statements from")
    ap.add_argument("--skip-kafka", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return
    results: dict[str, Any] = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    if not args.skip_kafka:
        results["throughput"] = throughput(args.n, args.engines.split(","), args.corpus, args.rounds)
    if not args.skip_memory:
        backends = ("embedded", "kafka") if args.memory_backend == "both" else (args.memory_backend,)
        for backend in backends:
            key = "memory" if backend == "embedded" else f"memory_{backend}"
            results[key] = memory(args.memory_n, args.memory_engine, args.keep_db, backend)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"replay-{int(time.time())}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
