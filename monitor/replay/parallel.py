"""A replay shared among processes, partition by partition.

The statements topic is keyed by actor, so an actor's statements are all on one partition
and its state depends on that partition alone. Each process opens the source again
(:meth:`~monitor.replay.sources.StatementSource.opener`), builds the same engine from its
spec and config, folds its share of the partitions and writes their spool files; the
parent joins the spool files in partition order as for a one-process replay, so the bytes
are the same. A process returns the states of the actors it folded; an actor folded by two
processes means the topic is not keyed by actor, and the replay stops with an error rather
than write output that depends on how partitions were shared.

Processes are spawned (not forked: the parent is inside a running event loop, and a fork
would copy it), so each pays an interpreter start and the engine's set-up -- about a second
-- which :func:`~monitor.replay.runner.auto_jobs` weighs before choosing more than one.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.domain.models import StanceState
from monitor.errors import InputError, LogError, MonitorError
from monitor.replay.engine import EngineChoice, build_engine
from monitor.replay.manifest import Counts
from monitor.replay.range import PartitionRange
from monitor.replay.sources import StatementSource

if TYPE_CHECKING:
    from monitor.replay.runner import ReplayOptions


@dataclass(frozen=True)
class _Job:
    open_source: Callable[[], StatementSource]
    engine_spec: str
    engine_config: Mapping[str, Any]
    engine_version: str
    ranges: dict[int, PartitionRange]
    options: ReplayOptions
    spool_dir: Path


def share(ranges: Mapping[int, PartitionRange], jobs: int) -> list[dict[int, PartitionRange]]:
    """Partitions with records dealt to ``jobs`` groups, largest first onto the least loaded group."""
    groups: list[dict[int, PartitionRange]] = [{} for _ in range(jobs)]
    load = [0] * jobs
    for p, r in sorted(ranges.items(), key=lambda item: (-item[1].size, item[0])):
        if r.size == 0:
            continue
        i = load.index(min(load))
        groups[i][p] = r
        load[i] += r.size
    return [g for g in groups if g]


def _run_job(job: _Job, progress: Any, results: Any) -> None:
    """In the child: fold the job's partitions; put ("ok", counts, states) or ("error", kind, text)."""
    from monitor.replay.runner import _fold_range

    try:
        engine = build_engine(job.engine_spec, job.engine_config)
        if engine.version != job.engine_version:
            raise InputError(f"engine {job.engine_spec!r} built as version {engine.version!r} in a replay process, "
                             f"not {job.engine_version!r}", where="--engine")
        snapshot = job.options.snapshot
        states: dict[str, StanceState] = dict(snapshot.states) if snapshot else {}
        before = dict(states)

        def batch_done(n: int) -> None:
            with progress.get_lock():
                progress.value += n

        async def go() -> Any:
            source = job.open_source()
            try:
                return await _fold_range(source, engine.detector, states, job.ranges, job.options, job.spool_dir,
                                         batch_done)
            finally:
                await source.close()

        counts = asyncio.run(go())
        folded = {actor: state for actor, state in states.items() if before.get(actor) is not state}
        results.put(("ok", counts, folded))
    except MonitorError as exc:
        results.put(("error", type(exc).__name__, str(exc)))
    except BaseException:
        results.put(("error", "crash", traceback.format_exc()))


async def fold_in_processes(
    source: StatementSource,
    engine: EngineChoice,
    states: dict[str, StanceState],
    ranges: Mapping[int, PartitionRange],
    options: ReplayOptions,
    spool_dir: Path,
    jobs: int,
    *,
    total: int,
    on_progress: Callable[[int, int], None] | None,
) -> Counts:
    """Fold ``ranges`` in ``jobs`` processes; ``states`` gets every folded actor's final state; the counts."""
    from monitor.replay.runner import add_counts

    ctx = multiprocessing.get_context("spawn")
    progress = ctx.Value("q", 0)
    results = ctx.Queue()
    procs = []
    for group in share(ranges, jobs):
        job = _Job(source.opener(), engine.spec, dict(engine.config), engine.version, group, options, spool_dir)
        proc = ctx.Process(target=_run_job, args=(job, progress, results), daemon=True)
        proc.start()
        procs.append((proc, sorted(group)))
    counts = Counts()
    folded_here: set[str] = set()  # actors a process has returned
    pending = len(procs)
    try:
        while pending:
            try:
                msg = results.get_nowait()
            except queue.Empty:
                if on_progress is not None:
                    on_progress(int(progress.value), total)
                dead = [parts for proc, parts in procs if not proc.is_alive() and proc.exitcode not in (0, None)]
                if dead and results.empty():
                    raise LogError(f"a replay process (partitions {dead[0]}) died; replay again with --jobs 1 "
                                   "to see why") from None
                await asyncio.sleep(0.1)
                continue
            pending -= 1
            if msg[0] == "error":
                if msg[1] == "InputError":
                    raise InputError(msg[2])
                raise LogError(f"a replay process failed: {msg[2]}")
            _ok, part, folded = msg
            counts = add_counts(counts, part)
            for actor, state in folded.items():
                if actor in folded_here:
                    raise InputError(f"actor {actor!r} has statements on more than one partition, so the topic is "
                                     "not keyed by actor and a parallel replay would depend on how partitions are "
                                     "shared; replay with --jobs 1", where="--jobs")
                folded_here.add(actor)
                states[actor] = state
    finally:
        for proc, _parts in procs:
            if proc.is_alive() and pending:
                proc.kill()
            proc.join(timeout=10)
    if on_progress is not None:
        on_progress(int(progress.value), total)
    return counts
