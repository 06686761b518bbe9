"""A Faust worker for the benchmarks, run as its own process: ``bench/faust_runner.py MODE``.

MODE: ``noop``, ``noop-batches``, ``noop-lean``, ``noop-lean-batches`` or ``monitor``.

Settings come from MONITOR_* variables (as for `monitor worker`). It prints ``ASSIGNED <n>``
when it owns partitions, and on exit one JSON line: statements it processed, the time of
the first and the last one (``time.time()``, sampled every 5 ms), its CPU seconds, and its CPU
seconds at those two samples (CPU per statement without start-up, less sensitive to other load).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from typing import Any

import faust

from monitor.observability import BATCH_SECONDS, STATEMENTS
from monitor.settings import Settings
from monitor.stream.app import MonitorApp, create_app
from monitor.stream.worker import no_spinner

stats: dict[str, Any] = {"n": 0, "first": None, "last": None}
processed = [0]  # statements the no-op agent has seen


def noop_app(settings: Settings, *, batches: bool = False, lean: bool = False) -> faust.App:
    """Faust's floor: the same broker settings as the monitor's app, an agent that does nothing.

    ``batches``: the agent takes events in batches as the monitor's does (``take_events`` with
    the worker's batch size and window) -- the floor of a batching agent. ``lean``: the app
    consumes through the monitor's lean consumer (``MonitorApp``) -- the floor of the worker's Faust.
    """
    app_class = MonitorApp if lean else faust.App
    app = app_class(
        settings.worker.app_id, broker=f"kafka://{settings.bootstrap}", store="memory://",
        datadir=str(settings.worker.data_dir), topic_partitions=settings.topics.partitions,
        topic_replication_factor=1, consumer_auto_offset_reset="earliest", web_enabled=False,
        broker_commit_every=max(1000, settings.worker.batch_size), broker_commit_interval=1.0,
    )
    topic = app.topic(settings.topics.statements, key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw")

    def seen(n: int) -> None:
        processed[0] += n

    if batches:
        @app.agent(topic)
        async def noop_batches(stream: Any) -> None:
            async for events in stream.take_events(settings.worker.batch_size, within=settings.worker.batch_window_s):
                seen(len(events))
    else:
        @app.agent(topic)
        async def noop(stream: Any) -> None:
            async for _ in stream:
                seen(1)

    return app


class RecordedDetector:
    """Replays the outputs the real engine computed in the benchmark process (``BENCH_RECORDED``, a pickle
    of statement id -> (new state, alerts)): the worker's own machinery at the engine's real state sizes
    and alert counts, without the engine's cost."""

    version = "recorded"

    def __init__(self, path: str) -> None:
        import pickle

        with open(path, "rb") as fh:
            self.outputs = pickle.load(fh)

    def step(self, state: Any, event: Any) -> Any:
        return self.outputs[event.id]


def monitor_app(settings: Settings) -> faust.App:
    recorded = os.environ.get("BENCH_RECORDED")
    app = create_app(settings, detector=RecordedDetector(recorded) if recorded else None)  # type: ignore[arg-type]
    return app


def watch(app: faust.App, count: Any) -> None:
    """Every 5 ms: when ``count()`` moved, note the time and this process's CPU time (first and last)."""

    @app.timer(0.005)
    async def sample() -> None:
        n = count()
        if n != stats["n"]:
            now, cpu = time.time(), sum(os.times()[:2])
            if stats["first"] is None:
                stats.update(first=now, cpu_first=cpu, n_first=n)
            stats.update(last=now, cpu_last=cpu, n=n)


def main() -> None:
    mode = sys.argv[1]
    settings = Settings()
    settings.worker.data_dir.mkdir(parents=True, exist_ok=True)
    if mode.startswith("noop"):
        app = noop_app(settings, batches=mode in ("noop-batches", "noop-lean-batches"), lean="lean" in mode)
        watch(app, lambda: processed[0])
    else:
        app = monitor_app(settings)
        counter = STATEMENTS.labels("kafka")
        watch(app, lambda: int(counter._value.get()))

    @app.on_partitions_assigned.connect
    async def assigned(sender: Any, assigned: set[Any], **_: Any) -> None:
        mine = [tp for tp in assigned if tp.topic == settings.topics.statements]
        os.write(1, f"ASSIGNED {len(mine)}\n".encode())  # fd 1 directly: Faust redirects print() to its log

    def report() -> None:
        stats["cpu_s"] = sum(os.times()[:2])
        if not mode.startswith("noop"):
            stats["batches"] = int(next(s.value for m in BATCH_SECONDS.collect() for s in m.samples
                                        if s.name.endswith("_count")))
        os.write(1, (json.dumps(stats) + "\n").encode())

    atexit.register(report)
    profile_to = os.environ.get("BENCH_PROFILE")
    if profile_to:  # cProfile of the whole worker, written at exit (for finding overhead, not for timing)
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        atexit.register(lambda: (profiler.disable(), profiler.dump_stats(profile_to)))
    worker = faust.Worker(app, loglevel="warning", quiet=True)
    no_spinner(worker)  # as `monitor worker` does; for both agents, so the comparison stays fair
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
