"""``monitor eval`` as a user runs it: a real file, the real detector, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main

CASES = Path(__file__).parent / "cases" / "own_cases.jsonl"
READY = "Russia is ready to continue prisoner exchanges."
SUSPENDED = "Russia is suspending all prisoner exchanges."
FIELDS = [
    "cases", "statements", "expected", "alerts", "true_positives", "false_positives", "false_negatives",
    "prior_mismatch", "precision", "recall", "f1", "failures",
]


def _case(name: str, texts: list[str], expected: list[dict[str, object]]) -> str:
    statements = [
        {"id": f"{name}-s{i}", "actor": "kremlin", "speaker": "Dmitry Peskov", "text": t,
         "published_at": f"2024-01-0{i}T10:00:00Z", "source_url": f"https://example.org/{name}/{i}"}
        for i, t in enumerate(texts, start=1)
    ]
    return json.dumps({"case": name, "statements": statements, "expected": expected})


def test_json_output_has_exactly_the_format_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(
        _case("reversal", [READY, SUSPENDED],
              [{"statement_id": "reversal-s2", "kind": "contradiction", "prior_statement_id": "reversal-s1"}])
        + "\n\n"
        + _case("missed", ["Moscow is open to talks.", "Moscow is open to talks with Kyiv."],
                [{"statement_id": "missed-s2", "kind": "escalation"}])
        + "\n"
    )
    assert main(["eval", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == FIELDS
    assert out["cases"] == 2 and out["statements"] == 4 and out["expected"] == 2
    assert out["true_positives"] == 1 and out["false_negatives"] == 1 and out["false_positives"] == 0
    assert out["precision"] == 1.0 and out["recall"] == 0.5 and out["f1"] == 0.667
    assert out["failures"] == [
        {"case": "missed", "statement_id": "missed-s2", "error": "false_negative", "kind": "escalation"}
    ]


def test_accept_kinds_and_prior_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(
        _case("accept", [READY, SUSPENDED],
              [{"statement_id": "accept-s2", "kind": "escalation", "accept_kinds": ["contradiction"],
                "prior_statement_id": "accept-s9"}])
        + "\n"
    )
    assert main(["eval", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["true_positives"] == 1 and out["prior_mismatch"] == 1
    assert out["failures"][0]["error"] == "prior_mismatch"


def test_empty_file_scores_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert main(["eval", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["precision"] == 1.0 and out["recall"] == 1.0 and out["cases"] == 0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"case": "x", "statements": [', "not valid JSON"),
        ('{"case": "x", "statements": []}', "statements"),
        ('{"case": "x", "statements": [{"id": "a", "actor": "k", "speaker": "s", "text": "t"}]}', "published_at"),
    ],
)
def test_bad_file_exits_2_with_line_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    good = _case("ok", ["Moscow is open to talks."], [])
    path.write_text(good + "\n" + line + "\n")
    assert main(["eval", str(path), "--json"]) == 2
    err = capsys.readouterr()
    assert err.out == ""
    assert f"{path}:2" in err.err and message in err.err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_table_output_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(CASES)]) == 0
    out = capsys.readouterr().out
    assert "precision" in out and "recall" in out and "rules-" in out
