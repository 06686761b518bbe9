"""Replay on the embedded log: determinism, equality with the live worker, ranges, filters,
snapshots, isolation, engine choice, and the audit's exit codes (through the real CLI)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import orjson
import pytest

from monitor.adapters.embedded import SqliteLog
from monitor.cli import main
from monitor.codec import statement_message
from monitor.domain.models import StanceState
from monitor.errors import InputError
from monitor.ports import Message
from monitor.replay.audit import compare, load_alert_set
from monitor.replay.engine import EngineChoice
from monitor.replay.range import RangeSpec
from monitor.replay.runner import ReplayOptions, ReplayResult, run_replay
from monitor.replay.snapshot import Snapshot, read_snapshot, write_snapshot
from monitor.replay.sources import SqliteSource
from monitor.replay.testing import KeywordDetector, synthetic_statements
from monitor.service import run_embedded
from monitor.settings import EmbeddedSettings, Settings

N = 1200
ENGINE = ["--engine", "monitor.replay.testing:KeywordDetector"]
T0_MS = 1_700_000_000_000


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """An embedded log with N statements (record timestamps one second apart) and two poison records."""
    path = tmp_path / "log.db"

    async def fill() -> None:
        log = SqliteLog(path)
        msgs = [Message(m.key, m.value, T0_MS + i * 1000)
                for i, m in enumerate(statement_message(e) for e in synthetic_statements(N, actors=12))]
        msgs.insert(300, Message(b"actor-001", b"{not json", T0_MS + 299_500))
        msgs.insert(900, Message(b"actor-002", orjson.dumps({"id": "x", "actor": "actor-002"}), T0_MS + 899_500))
        await log.append("statements", msgs)
        await log.close()

    asyncio.run(fill())
    return path


def replay(db: Path, out: Path, **kw: object) -> ReplayResult:
    async def go() -> ReplayResult:
        source = SqliteSource(db, "statements")
        try:
            return await run_replay(source, EngineChoice("monitor.replay.testing:KeywordDetector", KeywordDetector()),
                                    out, ReplayOptions(**kw))  # type: ignore[arg-type]
        finally:
            await source.close()

    return asyncio.run(go())


def alert_ids(directory: Path) -> list[str]:
    return [orjson.loads(line)["id"] for line in (directory / "alerts.jsonl").read_bytes().splitlines()]


def test_two_replays_are_byte_identical_and_the_manifest_digests_the_output(db: Path, tmp_path: Path) -> None:
    a = replay(db, tmp_path / "a")
    replay(db, tmp_path / "b")
    assert a.manifest.counts.alerts > 50, "the fixture must raise alerts"
    for name in ("alerts.jsonl", "manifest.json", "timeline.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    data = (tmp_path / "a" / "alerts.jsonl").read_bytes()
    assert a.manifest.output.alerts_sha256 == hashlib.sha256(data).hexdigest()
    assert a.manifest.counts.statements_in_range == N and a.manifest.counts.dead_letters == 2
    assert sum(r.end for r in a.manifest.input.partitions.values()) == N + 2
    assert not (tmp_path / "a" / ".spool").exists()
    assert b"T" in data and b"wall" not in data  # sanity: alerts carry statement times only


def test_replay_audits_equal_to_the_live_worker(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(embedded=EmbeddedSettings(path=db))

    async def live() -> None:
        log = SqliteLog(db)
        try:
            report = await run_embedded(log, settings, KeywordDetector())
            assert report.alerts > 50
        finally:
            await log.close()

    asyncio.run(live())
    out = tmp_path / "r"
    assert main(["replay", "--db", str(db), *ENGINE, "--out", str(out), "--progress", "plain"]) == 0
    assert main(["audit", "--db", str(db), "live", str(out)]) == 0
    assert "IDENTICAL" in capsys.readouterr().out
    # The live alerts of a sub-range audit equal to a replay of that range (warm: history folded first).
    part = tmp_path / "part"
    assert main(["replay", "--db", str(db), *ENGINE, "--out", str(part), "--from", "0:100,1:80,2:50,3:120",
                 "--to", "0:250", "--progress", "none"]) == 0
    assert main(["audit", "--db", str(db), str(part), "live"]) == 0


def test_split_range_with_warm_fold_equals_the_whole_and_cold_does_not(db: Path, tmp_path: Path) -> None:
    whole = replay(db, tmp_path / "whole")
    mid = {p: r.end // 2 for p, r in whole.manifest.input.partitions.items()}
    cut = ",".join(f"{p}:{o}" for p, o in mid.items())
    first = replay(db, tmp_path / "first", range=RangeSpec.parse(None, cut))
    second = replay(db, tmp_path / "second", range=RangeSpec.parse(cut, None))
    assert second.manifest.counts.folded_before_range == sum(mid.values())
    halves = alert_ids(tmp_path / "first") + alert_ids(tmp_path / "second")
    assert sorted(halves) == sorted(alert_ids(tmp_path / "whole"))
    cold = replay(db, tmp_path / "cold", range=RangeSpec.parse(cut, None), warm=False)
    assert cold.manifest.counts.folded_before_range == 0
    assert alert_ids(tmp_path / "cold") != alert_ids(tmp_path / "second")
    _ = first


def test_time_range_uses_record_timestamps(db: Path, tmp_path: Path) -> None:
    whole = replay(db, tmp_path / "whole")
    # Records are one second apart from T0 (the poison records sit between): take the second half.
    start = "2023-11-14T22:23:20Z"  # T0_MS + 600 s
    res = replay(db, tmp_path / "t", range=RangeSpec.parse(start, None))
    in_range = res.manifest.counts.statements_in_range + res.manifest.counts.dead_letters
    assert 595 <= in_range <= 605
    whole_ids, part_ids = set(alert_ids(tmp_path / "whole")), set(alert_ids(tmp_path / "t"))
    assert part_ids < whole_ids
    assert whole.manifest.counts.alerts > len(part_ids) > 0


def test_actor_and_topic_filters_select_a_subset_of_the_same_alerts(db: Path, tmp_path: Path) -> None:
    replay(db, tmp_path / "whole")
    whole = load_alert_set(str(tmp_path / "whole")).alerts
    res = replay(db, tmp_path / "f", actors=frozenset({"actor-003", "actor-007"}), topics=frozenset({"ceasefire"}))
    got = load_alert_set(str(tmp_path / "f")).alerts
    expected = {i: a for i, a in whole.items() if a.actor in {"actor-003", "actor-007"} and a.topic == "ceasefire"}
    assert got == expected and got
    assert res.manifest.counts.skipped_by_filter > 0
    assert res.manifest.input.actors == ["actor-003", "actor-007"]


def test_snapshot_at_an_offset_plus_the_rest_equals_the_full_fold(db: Path, tmp_path: Path) -> None:
    whole = replay(db, tmp_path / "whole")
    cut = {p: r.end // 3 for p, r in whole.manifest.input.partitions.items()}
    first = replay(db, tmp_path / "first", range=RangeSpec.parse(None, ",".join(f"{p}:{o}" for p, o in cut.items())))
    snap_path = tmp_path / "snap.jsonl"
    digest = write_snapshot(snap_path, Snapshot(engine="keyword-1", topic="statements",
                                                positions=first.positions, states=first.states))
    again = tmp_path / "snap2.jsonl"
    assert write_snapshot(again, Snapshot(engine="keyword-1", topic="statements", positions=first.positions,
                                          states=dict(reversed(list(first.states.items()))))) == digest
    assert snap_path.read_bytes() == again.read_bytes(), "snapshot files are stable"
    snap = read_snapshot(snap_path)
    assert snap.positions == cut and snap.sha256 == digest
    rest = replay(db, tmp_path / "rest", snapshot=snap,
                  range=RangeSpec.parse(",".join(f"{p}:{o}" for p, o in cut.items()), None))
    assert rest.manifest.counts.folded_before_range == 0
    assert rest.manifest.counts.records_read == sum(whole.manifest.input.partitions[p].end - o for p, o in cut.items())
    full: dict[str, StanceState] = whole.states
    assert rest.states == full
    assert sorted(alert_ids(tmp_path / "first") + alert_ids(tmp_path / "rest")) == sorted(alert_ids(tmp_path / "whole"))


def test_snapshot_errors_name_the_file_and_line(db: Path, tmp_path: Path) -> None:
    res = replay(db, tmp_path / "r", range=RangeSpec.parse(None, "100"))
    path = tmp_path / "snap.jsonl"
    write_snapshot(path, Snapshot(engine="keyword-1", topic="statements", positions=res.positions, states=res.states))
    lines = path.read_bytes().splitlines(keepends=True)
    (tmp_path / "bad.jsonl").write_bytes(lines[0] + lines[1] + b'{"actor": 3}\n' + b"".join(lines[3:]))
    with pytest.raises(InputError, match=r"bad\.jsonl:3"):
        read_snapshot(tmp_path / "bad.jsonl")
    (tmp_path / "cut.jsonl").write_bytes(b"".join(lines[:-1]))
    with pytest.raises(InputError, match="truncated or altered"):
        read_snapshot(tmp_path / "cut.jsonl")
    # A snapshot past --from cannot be used: it would skip statements.
    with pytest.raises(InputError, match="past --from"):
        replay(db, tmp_path / "x", snapshot=read_snapshot(path), range=RangeSpec.parse("0:10", None))


@pytest.mark.parametrize(("start", "stop", "message"), [
    ("yesterday", None, "--from: 'yesterday' is neither"),
    ("2024-10-01T00:00:00", None, "no time zone"),
    ("0:1,0:2", None, "partition 0 is given twice"),
    (None, "9:100", "--to: partition.s. 9 do not exist"),
])
def test_bad_ranges_are_input_errors_naming_the_flag(db: Path, tmp_path: Path, start: str | None,
                                                     stop: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        replay(db, tmp_path / "x", range=RangeSpec.parse(start, stop))


def test_cli_bad_range_exits_2(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--db", str(db), "--from", "soon", "--out", str(tmp_path / "x")]) == 2
    assert "--from" in capsys.readouterr().err


def test_audit_exit_codes_and_differences(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    replay(db, tmp_path / "a")
    lines = (tmp_path / "a" / "alerts.jsonl").read_bytes().splitlines(keepends=True)
    assert main(["audit", str(tmp_path / "a"), str(tmp_path / "a" / "alerts.jsonl")]) == 0
    changed = orjson.loads(lines[1])
    changed["severity"] = "critical"
    other = tmp_path / "other.jsonl"
    other.write_bytes(b"".join(reversed([*lines[2:], orjson.dumps(changed) + b"\n"])))  # order must not matter
    capsys.readouterr()
    assert main(["audit", str(tmp_path / "a"), str(other), "--json", str(tmp_path / "audit.json")]) == 1
    out = capsys.readouterr().out
    report = orjson.loads((tmp_path / "audit.json").read_bytes())
    assert report["counts"] == {"missing": 1, "extra": 0, "changed": 1}
    assert report["changed"][0]["fields"]["severity"][1] == "critical"
    assert orjson.loads(lines[0])["statement"]["quote"] in out, "the statements behind each difference are shown"
    # Extra, and --ignore for a field.
    assert compare(load_alert_set(str(other)), load_alert_set(str(tmp_path / "a"))).missing == []
    assert len(compare(load_alert_set(str(tmp_path / "a")), load_alert_set(str(other)),
                       ignore=["severity"]).changed) == 0
    # Bad input: exit 2 with file:line.
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(lines[0] + lines[1] + b'{"id": "alr_x"}\n')
    assert main(["audit", str(tmp_path / "a"), str(bad)]) == 2
    assert f"{bad}:3" in capsys.readouterr().err
    assert main(["audit", str(tmp_path / "a"), str(tmp_path / "missing")]) == 2


def test_output_is_isolated_unless_deliver(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    assert main(["replay", "--db", str(db), *ENGINE, "--out", str(out), "--to-topic", "--progress", "none"]) == 0
    run_id = orjson.loads((out / "manifest.json").read_bytes())["run_id"]
    n = len(alert_ids(out))

    async def counts() -> tuple[int, int]:
        log = SqliteLog(db)
        try:
            isolated = sum((await log.end_offsets(f"alerts.replay.{run_id}")).values())
            live = sum((await log.end_offsets("alerts")).values())
            positions = await log.committed("monitor.worker", "statements")
        finally:
            await log.close()
        assert set(positions.values()) == {0}, "a replay never moves the worker's positions"
        return isolated, live

    assert asyncio.run(counts()) == (n, 0)
    # Same run id again: refuses to mix two runs in one topic.
    assert main(["replay", "--db", str(db), *ENGINE, "--out", str(tmp_path / "r2"), "--to-topic",
                 "--progress", "none"]) == 2
    assert main(["replay", "--db", str(db), *ENGINE, "--out", str(tmp_path / "r3"), "--deliver",
                 "--progress", "none"]) == 0
    assert asyncio.run(counts()) == (n, n)
    assert "DELIVER" in capsys.readouterr().err


def test_engine_and_config_choice_are_recorded(db: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "engine.yaml"
    cfg.write_text("escalation_drop: 2.0\nname: keyword-loose\n")
    assert main(["replay", "--db", str(db), *ENGINE, "--engine-config", str(cfg), "--out", str(tmp_path / "b"),
                 "--progress", "none"]) == 0
    assert main(["replay", "--db", str(db), *ENGINE, "--out", str(tmp_path / "a"), "--progress", "none"]) == 0
    a = load_alert_set(str(tmp_path / "a"))
    b = load_alert_set(str(tmp_path / "b"))
    assert a.manifest is not None and b.manifest is not None
    assert (a.manifest.engine.version, b.manifest.engine.version) == ("keyword-1", "keyword-loose")
    assert a.manifest.engine.config_hash != b.manifest.engine.config_hash
    assert a.manifest.run_id != b.manifest.run_id
    diff = compare(a, b, ignore=["engine"])
    assert diff.extra and not diff.missing, "a looser escalation threshold only adds alerts"
    assert main(["audit", str(tmp_path / "a"), str(tmp_path / "b"), "--ignore", "engine"]) == 1
    cfg.write_text("unknown_knob: 1\n")
    assert main(["replay", "--db", str(db), *ENGINE, "--engine-config", str(cfg), "--out", str(tmp_path / "c")]) == 2


def test_plain_progress_lines_in_ci(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--db", str(db), *ENGINE, "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert f"replay: {N + 2}/{N + 2} (100%)" in err and "stmt/s" in err


@pytest.mark.parametrize("engine", ["keyword", "default"])
def test_parallel_replay_writes_the_bytes_of_a_one_process_replay(db: Path, tmp_path: Path, engine: str) -> None:
    from monitor.replay.engine import load_engine

    choice = (EngineChoice("monitor.replay.testing:KeywordDetector", KeywordDetector()) if engine == "keyword"
              else load_engine(None))

    def run(out: Path, **kw: object) -> ReplayResult:
        async def go() -> ReplayResult:
            source = SqliteSource(db, "statements")
            try:
                return await run_replay(source, choice, out, ReplayOptions(**kw))  # type: ignore[arg-type]
            finally:
                await source.close()

        return asyncio.run(go())

    seen: list[tuple[int, int]] = []
    one = run(tmp_path / "one", jobs=1)
    three = run(tmp_path / "three", jobs=3)
    for name in ("alerts.jsonl", "manifest.json", "timeline.jsonl"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "three" / name).read_bytes(), name
    assert three.states == one.states and len(one.states) == 12
    if engine == "keyword":
        assert one.manifest.counts.alerts > 50
    # A sub-range from a snapshot, with a filter, in two processes (progress reaches the total).
    cut = {p: r.end // 3 for p, r in one.manifest.input.partitions.items()}
    bound = ",".join(f"{p}:{o}" for p, o in cut.items())
    first = run(tmp_path / "first", range=RangeSpec.parse(None, bound), jobs=1)
    snap = Snapshot(engine=choice.version, topic="statements", positions=first.positions, states=first.states)
    kw = {"range": RangeSpec.parse(bound, None), "snapshot": snap, "actors": frozenset({"actor-001", "actor-004"})}
    a = run(tmp_path / "a", jobs=1, **kw)

    async def go() -> ReplayResult:
        source = SqliteSource(db, "statements")
        try:
            return await run_replay(source, choice, tmp_path / "b", ReplayOptions(jobs=2, **kw),  # type: ignore[arg-type]
                                    on_progress=lambda done, total: seen.append((done, total)))
        finally:
            await source.close()

    b = asyncio.run(go())
    assert (tmp_path / "a" / "alerts.jsonl").read_bytes() == (tmp_path / "b" / "alerts.jsonl").read_bytes()
    assert a.manifest == b.manifest and a.states == b.states
    assert seen and seen[-1][0] == seen[-1][1] == b.manifest.counts.records_read


def test_parallel_replay_refuses_a_topic_not_keyed_by_actor(tmp_path: Path) -> None:
    path = tmp_path / "unkeyed.db"

    async def fill() -> None:
        log = SqliteLog(path)
        # Keyed by statement id: one actor's statements land on every partition.
        await log.append("statements", [Message(e.id.encode(), statement_message(e).value)
                                        for e in synthetic_statements(400, actors=3)])
        await log.close()

    asyncio.run(fill())
    with pytest.raises(InputError, match=r"more than one partition.*--jobs 1"):
        replay(path, tmp_path / "out", jobs=2)
    assert replay(path, tmp_path / "one", jobs=1).manifest.counts.statements_in_range == 400


def test_cli_jobs_must_be_positive(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["replay", "--db", str(db), *ENGINE, "--out", str(tmp_path / "o"), "--jobs", "0"])
    assert exc.value.code == 2
    assert "--jobs" in capsys.readouterr().err


def test_cli_threads_of_the_kernel_give_the_same_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default engine folds in the replay kernel: one thread or one per core, the same output."""
    from bench_corpus import bench_common

    path = tmp_path / "sentences.db"

    async def fill() -> None:
        log = SqliteLog(path, default_partitions=4)
        await log.append("statements", [Message(k, v, T0_MS + i) for i, (k, v) in
                                        enumerate(bench_common().encoded(1500, actors=30))])
        await log.close()

    asyncio.run(fill())
    outs = []
    for i, extra in enumerate((["--threads", "1"], [], ["--threads", "3"])):
        out = tmp_path / f"t{i}"
        assert main(["replay", "--db", str(path), "--out", str(out), "--progress", "none", *extra]) == 0
        outs.append(out)
    for name in ("alerts.jsonl", "timeline.jsonl", "manifest.json"):
        assert len({(out / name).read_bytes() for out in outs}) == 1, name
    assert orjson.loads((outs[0] / "manifest.json").read_bytes())["counts"]["alerts"] > 300
    with pytest.raises(SystemExit) as exc:
        main(["replay", "--db", str(path), "--out", str(tmp_path / "o"), "--threads", "0"])
    assert exc.value.code == 2
    assert "--threads" in capsys.readouterr().err


def test_auto_jobs_and_sharing_of_partitions(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.replay import runner
    from monitor.replay.parallel import share
    from monitor.replay.range import PartitionRange

    monkeypatch.setattr(runner.os, "cpu_count", lambda: 8)
    big = {p: PartitionRange(0, 0, 30_000) for p in range(3)} | {3: PartitionRange(5, 5, 5)}
    assert runner.auto_jobs(big, None) == 3  # one per partition with records, below the cores
    assert runner.auto_jobs({0: PartitionRange(0, 0, 40_000)} | {1: PartitionRange(0, 0, 9_999)}, None) == 1
    assert runner.auto_jobs(big, 2) == 2 and runner.auto_jobs(big, 16) == 3 and runner.auto_jobs(big, 1) == 1
    groups = share({0: PartitionRange(0, 0, 100), 1: PartitionRange(0, 0, 60), 2: PartitionRange(0, 0, 50),
                    3: PartitionRange(0, 0, 0)}, 2)
    assert [sorted(g) for g in groups] == [[0], [1, 2]]  # largest first onto the least loaded; empty left out
