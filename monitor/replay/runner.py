"""The replay core: read a statements range, fold it as the worker does, write the alerts.

Each record is folded in offset order per partition, exactly as the worker folds it: decoded
as :func:`~monitor.codec.decode_statement` decodes it and stepped by the engine's
``Detector.step``. Records before the range (``--from``) are folded without emitting, so
alerts in the range see the state the live worker saw; a snapshot can replace that warm-up
fold.

With the default engine the records go through the native replay kernel
(:mod:`~monitor.replay.kernel`): states kept natively, record bytes in, alert and timeline
lines out, in fold threads that share the partitions while the event loop reads on. A record
the kernel cannot read exactly as pydantic does, and any other engine, take the Python path
(``_Folding.record``). Both write the same bytes (tests/test_replay_kernel.py).

Memory is bounded by the states (one per actor) and a few batches of records: alerts and
timeline points are spooled to one file per partition and concatenated at the end in
partition order. Within a partition they are in offset order, then by (kind, topic), so
the output is stable: same range, engine and config -> byte-identical ``alerts.jsonl``.
Large replays with engines the kernel does not fold share the partitions among processes
(:mod:`~monitor.replay.parallel`); the spool files, hence the output, are the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from operator import itemgetter
from pathlib import Path
from typing import IO

import orjson

from monitor.codec import decode_statement, encode
from monitor.domain.detector import Detector
from monitor.domain.ids import digest
from monitor.domain.models import Alert, StanceState
from monitor.errors import DecodeError, InputError
from monitor.projection import StoredRecord
from monitor.replay.engine import EngineChoice
from monitor.replay.kafkaread import RecordSet
from monitor.replay.kernel import ReplayKernel, kernel_applies, replay_kernel
from monitor.replay.manifest import (
    ALERTS_FILE,
    TIMELINE_FILE,
    Counts,
    EngineInfo,
    InputRange,
    Manifest,
    OutputInfo,
    PartitionOffsets,
    SnapshotRef,
    write_manifest,
)
from monitor.replay.range import PartitionRange, RangeSpec, clamp, resolve_offsets
from monitor.replay.snapshot import Snapshot
from monitor.replay.sources import StatementSource

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class ReplayOptions:
    """What to replay and how: range, filters, warm-up, snapshot, timeline."""

    range: RangeSpec = field(default_factory=RangeSpec)
    actors: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()
    warm: bool = True
    snapshot: Snapshot | None = None
    timeline: bool = True
    run_id: str | None = None
    # Processes sharing the partitions; None: auto_jobs decides (the CLI's default). One by
    # default here: more are spawned, which needs the caller's script to guard its main code.
    jobs: int | None = 1
    # Fold in the native replay kernel when the engine is the default one (same output, faster),
    # in this many threads sharing the partitions (None: one per core).
    kernel: bool = True
    threads: int | None = None


@dataclass
class ReplayResult:
    """The manifest written, the output directory and the final states (for snapshots)."""

    manifest: Manifest
    directory: Path
    states: dict[str, StanceState]
    positions: dict[int, int]

    @property
    def alerts_path(self) -> Path:
        return self.directory / ALERTS_FILE


async def resolve_ranges(
    source: StatementSource, spec: RangeSpec, *, warm: bool, snapshot: Snapshot | None
) -> dict[int, PartitionRange]:
    """Capture the end offsets now and turn ``spec`` into per-partition ranges."""
    n = await source.partitions()
    ends = await source.end_offsets()
    zeros = dict.fromkeys(range(n), 0)
    start_by_time = await source.offsets_for_time(spec.start.time_ms) if spec.start and spec.start.time_ms is not None \
        else None
    stop_by_time = await source.offsets_for_time(spec.stop.time_ms) if spec.stop and spec.stop.time_ms is not None \
        else None
    start = resolve_offsets(spec.start, partitions=n, default=zeros, by_time=start_by_time, where="--from")
    stop = resolve_offsets(spec.stop, partitions=n, default=ends, by_time=stop_by_time, where="--to")
    if snapshot is not None:
        if snapshot.topic != source.topic:
            raise InputError(f"snapshot is of topic {snapshot.topic!r}, not {source.topic!r}", where="--snapshot")
        if set(snapshot.positions) - set(range(n)):
            raise InputError(f"snapshot has partitions the topic ({n}) does not", where="--snapshot")
        fold_from = {p: snapshot.positions.get(p, 0) for p in range(n)}
        late = sorted(p for p in range(n) if fold_from[p] > min(start[p], ends[p]))
        if late:
            raise InputError(f"snapshot is past --from on partition(s) {late}; use an earlier snapshot",
                             where="--snapshot")
    elif warm:
        fold_from = zeros
    else:
        fold_from = start
    return clamp(start, stop, ends, fold_from)


def default_run_id(source: StatementSource, ranges: Mapping[int, PartitionRange], engine: EngineChoice,
                   options: ReplayOptions) -> str:
    """Derived from everything that decides the output, so it is reproducible too."""
    parts = [source.backend, source.topic, engine.spec, engine.version, engine.config_hash,
             ",".join(f"{p}:{r.fold_from}:{r.start}:{r.end}" for p, r in sorted(ranges.items())),
             ",".join(sorted(options.actors)), ",".join(sorted(options.topics)), str(options.warm),
             options.snapshot.sha256 if options.snapshot else ""]
    return digest(*parts, size=12)


class _Spool:
    """One file per partition (``<name>.<partition>`` in the spool directory), joined by :func:`_join`."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self._files: dict[int, IO[bytes]] = {}

    def write(self, partition: int, data: bytes) -> None:
        fh = self._files.get(partition)
        if fh is None:
            fh = self._files[partition] = (self.directory / f"{self.name}.{partition}").open("wb")
        fh.write(data)

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files = {}


def _join(directory: Path, name: str, target: Path) -> tuple[str, int]:
    """Concatenate the spool files of ``name`` in partition order into ``target``: sha256 and size."""
    parts = sorted((int(f.name.rpartition(".")[2]), f) for f in directory.glob(f"{name}.*"))
    h = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        for _p, path in parts:
            with path.open("rb") as part:
                while chunk := part.read(1 << 20):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
    return h.hexdigest(), size


def _alert_order(alert: Alert) -> tuple[str, str, str]:
    return (alert.kind.value, alert.topic, alert.id)


def add_counts(a: Counts, b: Counts) -> Counts:
    """The counts of two folds of disjoint partitions (a parallel replay's processes); ``actors`` is set later."""
    kinds = dict(a.alerts_by_kind)
    for kind, n in b.alerts_by_kind.items():
        kinds[kind] = kinds.get(kind, 0) + n
    return Counts(records_read=a.records_read + b.records_read,
                  folded_before_range=a.folded_before_range + b.folded_before_range,
                  statements_in_range=a.statements_in_range + b.statements_in_range,
                  skipped_by_filter=a.skipped_by_filter + b.skipped_by_filter,
                  dead_letters=a.dead_letters + b.dead_letters, alerts=a.alerts + b.alerts,
                  alerts_by_kind=dict(sorted(kinds.items())))


class _Folding:
    """One replay's fold of records: its counters, spool files and the per-record Python path."""

    def __init__(self, detector: Detector, states: dict[str, StanceState], options: ReplayOptions,
                 spool_dir: Path, kernel: ReplayKernel | None) -> None:
        self.step = detector.step
        self.states = states
        self.options = options
        self.kernel = kernel
        self.actor_keys = frozenset(a.encode("utf-8") for a in options.actors)
        self.alerts = _Spool(spool_dir, "alerts")
        self.timeline = _Spool(spool_dir, "timeline") if options.timeline else None
        # Plain counters: the Python path adds to them once per record.
        self.read = self.folded = self.in_range = self.skipped = self.dead = self.n_alerts = 0
        self.by_kind: dict[str, int] = {}

    def close(self) -> None:
        self.alerts.close()
        if self.timeline is not None:
            self.timeline.close()

    def counts(self) -> Counts:
        return Counts(records_read=self.read, folded_before_range=self.folded, statements_in_range=self.in_range,
                      skipped_by_filter=self.skipped, dead_letters=self.dead, alerts=self.n_alerts,
                      alerts_by_kind=dict(sorted(self.by_kind.items())))

    def batch(self, batch: Sequence[StoredRecord], part: int, start: int) -> None:
        self.read += len(batch)
        kernel = self.kernel
        if kernel is None:
            for rec in batch:
                self.record(rec, part, start)
            return
        records = batch if type(batch) is list or type(batch) is RecordSet else list(batch)
        feedable = records.native if type(records) is RecordSet else records  # read in place: folded as it is
        pos, n = 0, len(records)
        while pos < n:
            pos, alerts, timeline, (folded, in_range, skipped, contradictions, escalations) = kernel.feed(
                feedable, pos, start, part)
            self.folded += folded
            self.in_range += in_range
            self.skipped += skipped
            if alerts:
                self.alerts.write(part, alerts)
                for kind, k in (("contradiction", contradictions), ("escalation", escalations)):
                    if k:
                        self.by_kind[kind] = self.by_kind.get(kind, 0) + k
                        self.n_alerts += k
            if timeline and self.timeline is not None:
                self.timeline.write(part, timeline)
            if pos < n:  # a record the kernel does not fold: the Python path
                self.record(records[pos], part, start)
                pos += 1

    def record(self, rec: StoredRecord, part: int, start: int) -> None:
        """Fold one record in Python (the kernel's state of its actor taken out and put back)."""
        if self.actor_keys and rec.key is not None and rec.key not in self.actor_keys:
            self.skipped += 1
            return
        try:
            event = decode_statement(rec.value)
        except (DecodeError, UnicodeDecodeError):
            if rec.offset < start:
                self.folded += 1
            else:
                self.dead += 1
            return
        actor = event.actor
        states, kernel = self.states, self.kernel
        before = kernel.take(actor) if kernel is not None else None
        if before is None:
            before = states.get(actor)
        after, alerts = self.step(before if before is not None else StanceState.empty(actor), event)
        if kernel is None or not kernel.put(after):
            states[actor] = after
        if rec.offset < start:
            self.folded += 1
            return
        actors, topics = self.options.actors, self.options.topics
        if actors and actor not in actors:
            self.skipped += 1
            return
        self.in_range += 1
        if alerts:
            for alert in sorted(alerts, key=_alert_order):
                if topics and alert.topic not in topics:
                    continue
                self.alerts.write(part, encode(alert) + b"\n")
                self.n_alerts += 1
                self.by_kind[alert.kind.value] = self.by_kind.get(alert.kind.value, 0) + 1
        if self.timeline is not None:
            old = before.topics if before is not None else {}
            # A step keeps the objects of the topics it did not touch: compare only the others.
            moved = [(name, stance) for name, stance in after.topics.items() if old.get(name) is not stance]
            for name, stance in sorted(moved, key=itemgetter(0)):
                if old.get(name) == stance or (topics and name not in topics):
                    continue
                self.timeline.write(part, orjson.dumps({
                    "actor": actor, "topic": name, "statement_id": event.id,
                    "published_at": event.published_at.isoformat(), "partition": part,
                    "offset": rec.offset, "polarity": stance.polarity.value,
                    "intensity": stance.intensity, "confidence": stance.confidence,
                }, option=orjson.OPT_SORT_KEYS) + b"\n")


async def _pipelined(source: StatementSource, ranges: Mapping[int, PartitionRange], foldings: list[_Folding],
                     owner: Mapping[int, int], threads: int, on_batch: Callable[[int], None] | None) -> None:
    """Fold each batch on one of ``threads`` worker threads while the event loop reads on.

    The kernels fold detached from the interpreter, so reading (the Kafka client, a SQLite query)
    and folding run on several cores. The batches of a folding (``owner`` of their partition) are
    folded one after another in the order read, each on whichever thread is free; one waits per
    folding at most (its record set's bytes are held until it is folded). With more foldings than
    threads, the threads never wait for one slow partition while another has batches.
    """
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="replay-fold")
    Batch = tuple[int, Sequence[StoredRecord]]  # (partition, records)
    queues: list[asyncio.Queue[Batch | None]] = [asyncio.Queue(maxsize=1) for _ in foldings]

    async def chain(folding: _Folding, queue: asyncio.Queue[Batch | None]) -> None:
        while (item := await queue.get()) is not None:
            part, batch = item
            await loop.run_in_executor(pool, folding.batch, batch, part, ranges[part].start)
            if on_batch is not None:
                on_batch(len(batch))

    chains = [asyncio.ensure_future(chain(f, q)) for f, q in zip(foldings, queues, strict=True)]

    async def put(i: int, item: Batch | None) -> None:
        """``item`` into folding ``i``'s queue, waiting for room; the chain's error if it failed."""
        queue, own = queues[i], chains[i]
        if not queue.full():
            queue.put_nowait(item)
            return
        putting = asyncio.ensure_future(queue.put(item))
        await asyncio.wait([putting, own], return_when=asyncio.FIRST_COMPLETED)
        if not putting.done():
            putting.cancel()
            await own  # it ended before taking the item: its error
            raise RuntimeError("a fold chain ended before its last batch")

    try:
        async for batch in source.batches(ranges):
            part = batch[0].partition
            await put(owner[part], (part, batch))
            if failed := next((c for c in chains if c.done()), None):  # none ends before its None
                await failed
        for i in range(len(queues)):
            await put(i, None)
        await asyncio.gather(*chains)
    finally:
        for c in chains:
            c.cancel()
        await asyncio.gather(*chains, return_exceptions=True)
        pool.shutdown(wait=True)


async def _fold_range(
    source: StatementSource,
    detector: Detector,
    states: dict[str, StanceState],
    ranges: Mapping[int, PartitionRange],
    options: ReplayOptions,
    spool_dir: Path,
    on_batch: Callable[[int], None] | None = None,
) -> Counts:
    """Fold ``ranges`` of ``source`` into ``states``; alerts and timeline to per-partition spool files.

    The default engine folds in the native replay kernel (:mod:`~monitor.replay.kernel`) unless
    ``options.kernel`` is off, on up to ``options.threads`` threads (a kernel per partition when
    there are several, one for all with one); the output and the states are the same either way."""
    if not (options.kernel and kernel_applies(detector)):
        folding = _Folding(detector, states, options, spool_dir, None)
        try:
            async for batch in source.batches(ranges):
                part = batch[0].partition
                folding.batch(batch, part, ranges[part].start)
                if on_batch is not None:
                    on_batch(len(batch))
        finally:
            folding.close()
        return folding.counts()
    busy = sorted(p for p, r in ranges.items() if r.size > 0)
    threads = max(1, min(options.threads or os.cpu_count() or 1, len(busy)))
    # a kernel per partition when there are threads to share (an actor's statements are on one
    # partition), so that a free thread takes any partition's next batch; one for them all without
    groups = [[p] for p in busy] if threads > 1 else [busy]
    foldings = []
    for _group in groups:
        kernel = replay_kernel(detector, timeline=options.timeline, topics=options.topics, actors=options.actors)
        assert kernel is not None  # kernel_applies said so
        if len(groups) > 1:  # the snapshot's states stay in `states` until their actors turn up
            kernel.hold(states)
        else:
            kernel.load(states.values())
        foldings.append(_Folding(detector, states, options, spool_dir, kernel))
    owner = {p: i for i, group in enumerate(groups) for p in group}
    try:
        await _pipelined(source, ranges, foldings, owner, threads, on_batch)
    finally:
        for folding in foldings:
            folding.close()
    folded: dict[str, int] = {}
    for i, folding in enumerate(foldings):
        assert folding.kernel is not None
        for actor in folding.kernel.export(states):
            if folded.setdefault(actor, i) != i:
                raise InputError(f"actor {actor!r} has statements on partitions folded apart, so the topic "
                                 "is not keyed by actor and the replay would depend on how they interleave; replay "
                                 "with --threads 1", where="--threads")
    counts = Counts()
    for folding in foldings:
        counts = add_counts(counts, folding.counts())
    return counts


PARALLEL_FROM = 50_000


def auto_jobs(ranges: Mapping[int, PartitionRange], jobs: int | None, *, threaded: bool = False) -> int:
    """Processes for a replay: ``jobs`` if given; else one per core (at most one per non-empty
    partition) for ranges of at least :data:`PARALLEL_FROM` records, where starting them pays;
    one when the fold is ``threaded`` (the replay kernel's threads use the cores already)."""
    busy = sum(1 for r in ranges.values() if r.size > 0)
    if jobs is not None:
        return max(1, min(jobs, busy))
    if threaded or sum(r.size for r in ranges.values()) < PARALLEL_FROM:
        return 1
    return max(1, min(os.cpu_count() or 1, busy))



async def run_replay(
    source: StatementSource,
    engine: EngineChoice,
    out_dir: Path,
    options: ReplayOptions | None = None,
    *,
    on_progress: ProgressFn | None = None,
) -> ReplayResult:
    """Replay ``options.range`` of ``source`` with ``engine`` into ``out_dir`` and write the manifest.

    With more than one job (:attr:`ReplayOptions.jobs`; ``None`` lets :func:`auto_jobs` choose) the
    partitions are shared among that many processes; an actor's statements are all on one
    partition (the topic is keyed by actor), so each process folds whole actors and the
    output is byte for byte the one-process output.
    """
    options = options or ReplayOptions()
    ranges = await resolve_ranges(source, options.range, warm=options.warm, snapshot=options.snapshot)
    run_id = options.run_id or default_run_id(source, ranges, engine, options)
    # A replay is a batch job that owns its event loop: plain blocking file I/O is the fast path.
    spool_dir = out_dir / ".spool"
    shutil.rmtree(spool_dir, ignore_errors=True)
    spool_dir.mkdir(parents=True, exist_ok=True)

    states: dict[str, StanceState] = dict(options.snapshot.states) if options.snapshot else {}
    total = sum(r.size for r in ranges.values())
    jobs = auto_jobs(ranges, options.jobs, threaded=options.kernel and kernel_applies(engine.detector))
    try:
        if jobs > 1:
            from monitor.replay.parallel import fold_in_processes

            # one fold thread per process unless asked otherwise: the processes share the cores
            shared = options if options.threads is not None else replace(options, threads=1)
            counts = await fold_in_processes(source, engine, states, ranges, shared, spool_dir, jobs,
                                            total=total, on_progress=on_progress)
        else:
            done = [0]

            def batch_done(n: int) -> None:
                done[0] += n
                if on_progress is not None:
                    on_progress(done[0], total)

            counts = await _fold_range(source, engine.detector, states, ranges, options, spool_dir, batch_done)
        alerts_sha, alerts_bytes = _join(spool_dir, "alerts", out_dir / ALERTS_FILE)
        timeline_sha = _join(spool_dir, "timeline", out_dir / TIMELINE_FILE)[0] if options.timeline else None
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)
    if not options.timeline:
        (out_dir / TIMELINE_FILE).unlink(missing_ok=True)
    actors, topics = options.actors, options.topics

    manifest = Manifest(
        run_id=run_id,
        input=InputRange(
            backend="kafka" if source.backend == "kafka" else "embedded", topic=source.topic,
            requested_from=options.range.start.text if options.range.start else None,
            requested_to=options.range.stop.text if options.range.stop else None,
            partitions={p: PartitionOffsets(fold_from=r.fold_from, start=r.start, end=r.end)
                        for p, r in sorted(ranges.items())},
            actors=sorted(actors) or None, topics=sorted(topics) or None,
        ),
        engine=EngineInfo(spec=engine.spec, version=engine.version, config_hash=engine.config_hash),
        warm=options.warm,
        snapshot=SnapshotRef(sha256=options.snapshot.sha256, positions=dict(options.snapshot.positions))
        if options.snapshot else None,
        counts=counts.model_copy(update={"actors": len(states)}),
        output=OutputInfo(alerts_sha256=alerts_sha, alerts_bytes=alerts_bytes,
                          timeline_file=TIMELINE_FILE if timeline_sha else None, timeline_sha256=timeline_sha),
    )
    write_manifest(out_dir, manifest)
    return ReplayResult(manifest=manifest, directory=out_dir, states=states,
                        positions={p: r.end for p, r in ranges.items()})
