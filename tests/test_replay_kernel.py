"""The replay kernel writes exactly what the Python replay writes: alerts, timeline, counts, states.

A differential test of ``monitor_native.ReplayKernel`` (``native/src/replay.rs``, glued by
``monitor/replay/kernel.py``) against the replay's Python path (``ReplayOptions(kernel=False)``:
``decode_statement``, ``Detector.step``, pydantic's and orjson's JSON), its specification. The same
log is replayed both ways and every output byte, every count and every final state must agree.

Logs: the benchmark's statements, every labeled case, and records written to be awkward (text
and speakers that are not ASCII, JSON escapes, datetimes in every form pydantic reads, padded
and invalid fields, unknown fields, broken JSON, republications, long texts); with ranges that
start after a warm-up, actor and topic filters, with and without a timeline, starting from a
snapshot (one of whose states the kernel cannot hold), and several engine configurations. The
tests also check that the kernel folded most records itself, so a kernel that declined them
all would fail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from bench_corpus import bench_common
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from monitor.adapters.embedded import SqliteLog
from monitor.codec import encode
from monitor.domain.models import StanceState
from monitor.errors import InputError
from monitor.evaluation import parse_cases
from monitor.ports import Message
from monitor.replay import runner
from monitor.replay.engine import DEFAULT_ENGINE, build_engine
from monitor.replay.range import RangeSpec
from monitor.replay.runner import ReplayOptions, run_replay
from monitor.replay.snapshot import Snapshot
from monitor.replay.sources import SqliteSource

HERE = Path(__file__).parent
LABELED = [*sorted((HERE / "cases").glob("*.jsonl")), HERE.parent.parent / "shared" / "eval" / "dev_cases.jsonl"]
T0 = 1_700_000_000_000


def _message(value: bytes | str, key: str | None = None) -> Message:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if key is None:
        try:
            key = str(json.loads(raw)["actor"])
        except (ValueError, KeyError, TypeError):
            key = "nobody"
    return Message(key.encode("utf-8"), raw)


def _event(i: int, actor: str, text: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f"e-{i}", "actor": actor, "speaker": "Maria Example", "text": text,
        "published_at": (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=i)).isoformat().replace("+00:00", "Z"),
        "source_url": f"https://news.example.org/{i}",
    }
    out.update(fields)
    return out


def _labeled() -> list[Message]:
    out = []
    n = 0
    for path in LABELED:
        if not path.exists():
            continue
        for case in parse_cases(path.read_text("utf-8").splitlines(), name=path.name):
            n += 1
            for event in case.statements:  # each case's actors apart from the others'
                moved = event.model_copy(update={"actor": f"{event.actor}_c{n}", "id": f"{event.id}-c{n}"})
                out.append(_message(encode(moved)))
    return out


def _awkward() -> list[Message]:
    """Records that take every branch of the kernel's reading, valid and not."""
    a, b, c = "kremlin", "elysee_palace", "state-dept"
    said = [
        (a, "The goals of the operation remain unchanged and will be achieved."),
        (a, "We are ready for dialogue with Washington if the other side shows genuine interest."),
        (a, "There will be no talks while the aggression continues."),
        (b, "We accept an immediate ceasefire along the entire line of contact."),
        (b, "A ceasefire now would only let the other side regroup and rearm."),
        (c, "The sanctions will stay in place for as long as necessary."),
        (c, "The sanctions should be lifted, because they hurt Europe more than anyone else."),
        (c, "A tariff of 25 percent will apply to all imports from the country from next month."),
        (c, "The tariff will rise to 60 percent if there is no deal."),
    ]
    rows: list[dict[str, Any] | str | bytes] = []
    for i, (actor, text) in enumerate(said):
        rows.append(_event(i, actor, text))
    i = len(rows)
    times = ["2025-02-01T10:00:00+05:30", "2025-02-01T10:00:00.5Z", "2025-02-01T10:00:00.123456-03:00",
             "2025-02-01T10:00:00.1234567Z", "2025-02-01 10:00:00Z", "2025-02-01T10:00Z", "2025-02-01T10:00:00z",
             "2025-02-01T10:00:00+00:00", "2025-02-01T10:00:00-00:00", "2025-02-29T10:00:00Z",
             "2024-02-29T23:59:59.000001+14:00", "0999-01-01T00:00:00Z", "2025-02-01T10:00:00"]
    for t in times:
        i += 1
        rows.append(_event(i, c, "The sanctions will not be lifted, whatever happens.", published_at=t))
        i += 1
        rows.append(_event(i, c, "The sanctions should be lifted now.", published_at=t))
    odd_texts = [
        "\u201cWe will never accept the ultimatum,\u201d the minister said, \u2018never\u2019.",
        "Erdo\u011fan said the grain corridor will stay open.",
        "The grain corridor is closed.\nNo ships will pass.\tNone.",
        "Quotes \"inside\" and a back\\slash and a slash / and a bell \u0007.",
        "x" * 1300 + " The talks are over.",
        "Talks " * 4000,
        "  The talks are over.  ",
        "",
    ]
    for t in odd_texts:
        i += 1
        rows.append(_event(i, a, t))
    i += 1
    rows.append(_event(i, a, "The talks are over.", speaker="Dmitri Pe\u0161kov"))
    i += 1
    rows.append(_event(i, a, "The talks are over.", speaker="  Padded  "))
    i += 1
    rows.append(_event(i, a, "The talks are over.", id=" padded-id "))
    i += 1
    rows.append(_event(i, "Kremlin", "The talks are over."))
    extras: list[dict[str, Any]] = [
        {"language": None}, {"language": "ru"}, {"kind": "direct"}, {"kind": "rumour"}, {"offset": 5},
        {"offset": -1}, {"speaker_as_written": None}, {"speaker_as_written": "Peskov"}, {"source_url": None},
        {"schema_version": 1}, {"schema_version": 2}, {"schema_version": "1"}, {"mood": "calm"}]
    for extra in extras:
        i += 1
        rows.append(_event(i, b, "There will be no ceasefire.", **extra))
    i += 1
    no_url = _event(i, b, "We accept an immediate ceasefire.")
    del no_url["source_url"]
    rows.append(no_url)
    # the same words again (a republication), and again with other whitespace
    rows.append(_event(i + 1, b, "We accept an immediate ceasefire."))
    rows.append(_event(i + 2, b, "We   accept an immediate ceasefire!"))
    rows.append('{"id": "broken", "actor": "kremlin", ')
    rows.append("[1, 2, 3]")
    rows.append(b"\xff\xfe not UTF-8")
    rows.append('{"id": "e-esc", "actor": "kremlin", "speaker": "A \\u00e9 B", "text": "No talks \\u2014 ever\\/.",'
                ' "published_at": "2025-03-01T00:00:00Z"}')
    rows.append('{"id": "e-dup", "actor": "kremlin", "actor": "kremlin", "speaker": "A", "text": "No talks.",'
                ' "published_at": "2025-03-01T00:00:00Z"}')
    out = []
    for row in rows:
        if isinstance(row, dict):
            out.append(_message(json.dumps(row, ensure_ascii=False)))
        else:
            out.append(_message(row))
    return out


def _write(path: Path, messages: Iterable[Message]) -> None:
    async def go() -> None:
        log = SqliteLog(path, default_partitions=4)
        try:
            await log.append("statements", [Message(m.key, m.value, T0 + i) for i, m in enumerate(messages)])
        finally:
            await log.close()

    asyncio.run(go())


def _replay(db: Path, out: Path, options: ReplayOptions, config: dict[str, Any], *,
            batch: int = 5000) -> tuple[Any, ...]:
    async def go() -> Any:
        source = SqliteSource(str(db), "statements", batch=batch)
        try:  # (a replay that hangs fails the test)
            return await asyncio.wait_for(run_replay(source, build_engine(DEFAULT_ENGINE, config), out, options), 120)
        finally:
            await source.close()

    result = asyncio.run(go())
    timeline = out / "timeline.jsonl"
    states = {actor: encode(state) for actor, state in sorted(result.states.items())}
    counts = result.manifest.counts
    return ((out / "alerts.jsonl").read_bytes(), timeline.read_bytes() if timeline.exists() else None, states,
            counts, result.manifest.output.alerts_sha256, result.states)


class _Declined:
    """Counts the records the replay folds in Python."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        original = runner._Folding.record

        def record(folding: runner._Folding, *args: Any) -> None:
            self.n += 1
            original(folding, *args)

        monkeypatch.setattr(runner._Folding, "record", record)


def _both(tmp_path: Path, messages: list[Message], monkeypatch: pytest.MonkeyPatch,
          config: dict[str, Any] | None = None, **options: Any) -> tuple[tuple[Any, ...], int]:
    db = tmp_path / "log.db"
    if not db.exists():
        _write(db, messages)
    config = config or {}
    python = _replay(db, tmp_path / "python", ReplayOptions(kernel=False, **options), config)
    declined = _Declined(monkeypatch)
    native = _replay(db, tmp_path / "native", ReplayOptions(kernel=True, **options), config)
    monkeypatch.undo()
    assert native[0] == python[0], "alerts differ"
    assert native[1] == python[1], "timeline differs"
    assert native[2].keys() == python[2].keys()
    for actor, raw in python[2].items():
        assert native[2][actor] == raw, f"state of {actor} differs"
        assert native[5][actor] == python[5][actor]
    assert native[3] == python[3], "counts differ"
    assert native[4] == python[4]
    return python, declined.n


def test_benchmark_statements(tmp_path: Path, monitor_native: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    messages = [Message(k, v) for k, v in bench_common().encoded(4000)]
    out, declined = _both(tmp_path, messages, monkeypatch)
    assert out[3].alerts > 500 and out[1].count(b"\n") > 2000  # the corpus raises and moves plenty
    assert declined == 0


def test_labeled_cases(tmp_path: Path, monitor_native: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    messages = _labeled()
    assert len(messages) > 500
    out, declined = _both(tmp_path, messages, monkeypatch)
    assert out[3].alerts > 100
    assert declined < len(messages) // 10  # only text the native analyzer does not read


def test_awkward_records(tmp_path: Path, monitor_native: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    messages = _awkward()
    out, declined = _both(tmp_path, messages, monkeypatch)
    counts = out[3]
    assert counts.dead_letters >= 10 and counts.alerts >= 5
    assert 0 < declined < len(messages) // 2


@pytest.mark.parametrize("config", [
    {"seen_window": 0}, {"seen_window": 1, "quote_chars": 40},
    {"escalation_threshold": 0.5, "escalation_floor": 0.0, "magnitude_ratio": 1.01, "magnitude_min_step": 0.0,
     "min_confidence": 0.3, "prior_min_confidence": 0.3, "escalation_min_confidence": 0.2, "seen_window": 5},
])
def test_engine_configurations(tmp_path: Path, monitor_native: ModuleType, monkeypatch: pytest.MonkeyPatch,
                               config: dict[str, Any]) -> None:
    messages = [Message(k, v) for k, v in bench_common().encoded(1500, seed=3)] + _awkward()
    _both(tmp_path, messages, monkeypatch, config)


def test_ranges_filters_and_snapshots(tmp_path: Path, monitor_native: ModuleType,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    messages = [Message(k, v) for k, v in bench_common().encoded(2000, actors=20)] + _labeled()[:300] + _awkward()
    db = tmp_path / "log.db"
    _write(db, messages)
    ranges = RangeSpec.parse("0:150,1:150,2:150,3:150", None)
    _both(tmp_path, messages, monkeypatch, range=ranges)
    _both(tmp_path, messages, monkeypatch, range=ranges, warm=False, timeline=False, threads=1)
    actors = frozenset({"actor-0003", "actor-0011", "kremlin", "state-dept"})
    _both(tmp_path, messages, monkeypatch, actors=actors)
    _both(tmp_path, messages, monkeypatch, topics=frozenset({"sanctions", "ceasefire", "negotiations"}))
    # a snapshot of the states at offset 100 of each partition, one of them not one the kernel holds
    at = "0:100,1:100,2:100,3:100"
    first = _replay(db, tmp_path / "first", ReplayOptions(kernel=False, range=RangeSpec.parse(None, at)), {})
    states: dict[str, StanceState] = dict(first[5])
    actor, state = sorted(states.items())[0]
    topic, stance = next(iter(state.topics.items()))
    basis = stance.basis.model_copy(update={"published_at": datetime(999, 1, 1, tzinfo=UTC)})
    odd = stance.model_copy(update={"basis": basis})
    states[actor] = state.model_copy(update={"topics": {**state.topics, topic: odd}})
    snapshot = Snapshot(engine=build_engine(DEFAULT_ENGINE, {}).version, topic="statements",
                        positions=dict.fromkeys(range(4), 100), states=states)
    # a kernel per partition leaves the snapshot's states to Python until their actors turn up;
    # one kernel for all partitions takes them at the start
    for threads in (2, 1):
        _both(tmp_path, messages, monkeypatch, snapshot=snapshot, range=RangeSpec.parse(at, None), threads=threads)


TIMES = ["2025-02-01T10:00:00Z", "2025-02-01T10:00:00+05:30", "2025-02-01T10:00:00.5Z", "2025-02-01T10:00:00.000000Z",
         "2025-02-01T10:00:00.123456-03:00", "2025-12-31T23:59:59-23:59", "2024-02-29T00:00:00Z",
         "1000-01-01T00:00:00Z",
         "9999-12-31T23:59:59.999999+00:00", "2025-02-01T10:00:00-00:00", "1970-01-01T00:00:00Z",
         "1969-12-31T23:59:59.999999Z", "2025-02-29T10:00:00Z", "2025-02-01T24:00:00Z", "2025-02-01T10:00:00.1234567Z",
         "2025-02-01 10:00:00Z", "2025-02-01T10:00Z", "2025-02-01T10:00:00", "2025-02-01T10:00:00+24:00",
         "2025-02-01T10:00:00+05:30:15", "2025-13-01T10:00:00Z", "0999-01-01T00:00:00Z", "2025-02-01T10:00:00Zjunk"]


@pytest.mark.parametrize("text", TIMES)
def test_times_read_as_pydantic_reads_them(monitor_native: ModuleType, text: str) -> None:
    read = monitor_native.ReplayKernel.read_time(text)
    adapter = TypeAdapter(AwareDatetime)  # StatementEvent.published_at
    try:
        when = adapter.validate_python(text)
    except ValidationError:
        assert read is None, f"the kernel reads {text!r}, which pydantic rejects"
        return
    if read is None:  # a form the kernel leaves to Python
        assert text in {"2025-02-01T10:00:00.1234567Z", "2025-02-01 10:00:00Z", "2025-02-01T10:00Z",
                        "0999-01-01T00:00:00Z"}, f"the kernel should read {text!r}"
        return
    as_json, iso, micros = read
    assert as_json == adapter.dump_json(when).decode().strip('"')
    assert iso == when.isoformat()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert micros == (when - epoch) // timedelta(microseconds=1)


def test_many_batches_a_partition_fold_the_same_on_one_thread_and_two(tmp_path: Path,
                                                                     monitor_native: ModuleType) -> None:
    """The embedded log is read a partition after another; with batches of 9 records each
    partition's queue is full when the replay signals the end to the folds, after the first
    partitions' folds have finished."""
    messages = [Message(k, v) for k, v in bench_common().encoded(1200, actors=12)]
    db = tmp_path / "log.db"
    _write(db, messages)
    one = _replay(db, tmp_path / "one", ReplayOptions(threads=1), {}, batch=9)
    two = _replay(db, tmp_path / "two", ReplayOptions(threads=2), {}, batch=9)
    assert one[3].statements_in_range == 1200 and one[3].alerts > 0
    assert two[:5] == one[:5]


def test_an_actor_on_partitions_folded_apart_stops_the_replay(tmp_path: Path, monitor_native: ModuleType) -> None:
    """A topic not keyed by actor: a threaded replay's result would depend on how threads interleave."""
    messages = [Message(f"key-{i}".encode(), json.dumps(_event(i, "kremlin", "There will be no talks.")).encode())
                for i in range(40)]
    db = tmp_path / "log.db"
    _write(db, messages)
    with pytest.raises(InputError, match=r"on partitions folded apart.*--threads 1"):
        _replay(db, tmp_path / "two", ReplayOptions(threads=2), {})
    one = _replay(db, tmp_path / "one", ReplayOptions(threads=1), {})
    assert one[3].statements_in_range == 40
