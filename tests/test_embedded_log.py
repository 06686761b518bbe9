"""What only the embedded log promises: durability across reopen and atomic batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.adapters.embedded import SqliteLog, partition_for
from monitor.ports import Message


async def test_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = SqliteLog(path)
    await log.append("t", [Message(b"k", b"1"), Message(b"k", b"2")])
    await log.commit("g", "t", {0: 1})
    await log.close()
    log = SqliteLog(path)
    p = partition_for(b"k", 4)
    assert [r.value for r in await log.read("t", p, 0)] == [b"1", b"2"]
    assert (await log.committed("g", "t"))[0] == 1
    await log.append("t", [Message(b"k", b"3")])
    assert [r.offset for r in await log.read("t", p, 0)] == [0, 1, 2]
    await log.close()


async def test_commit_batch_is_all_or_nothing(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "log.db")
    await log.append("in", [Message(b"k", b"x")])

    class Boom(Exception):
        pass

    bad_state = {"kremlin": b"{}"}
    with pytest.raises(ValueError):
        # state without namespace fails after the append inside the same transaction
        await log.commit_batch(group="g", topic="in", positions={0: 1}, appends={"out": [Message(b"k", b"a")]},
                               state=bad_state)
    assert await log.end_offsets("out") == {0: 0, 1: 0, 2: 0, 3: 0}
    assert (await log.committed("g", "in"))[0] == 0
    assert log.load_state("stance") == {}

    await log.commit_batch(group="g", topic="in", positions={0: 1}, appends={"out": [Message(b"k", b"a")]},
                           state_namespace="stance", state=bad_state)
    assert sum((await log.end_offsets("out")).values()) == 1
    assert (await log.committed("g", "in"))[0] == 1
    assert log.load_state("stance") == bad_state
    await log.close()


async def test_two_handles_on_one_file_share_offsets(tmp_path: Path) -> None:
    """A scraper process and the worker process append to the same file without clashing offsets."""
    a, b = SqliteLog(tmp_path / "log.db"), SqliteLog(tmp_path / "log.db")
    for i in range(5):
        await a.append("t", [Message(b"k", f"a{i}".encode())])
        await b.append("t", [Message(b"k", f"b{i}".encode())])
    recs = await a.read("t", partition_for(b"k", 4), 0)
    assert [r.offset for r in recs] == list(range(10))
    assert [r.value for r in recs][:2] == [b"a0", b"b0"]
    await a.close()
    await b.close()


def test_bad_path_is_a_clear_error(tmp_path: Path) -> None:
    from monitor.errors import LogError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LogError, match="cannot open the embedded log"):
        SqliteLog(blocker / "sub" / "log.db")
