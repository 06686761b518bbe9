"""The engine decides exactly as the golden file says: speed work must not change a decision.

The golden file (``tests/golden/engine_equivalence.json``) was written by the engine before
it was optimised. It holds, for the labeled sets and two deterministic synthetic corpora
(novel sentences and remixed labeled sentences, see ``bench/bench_engine.py``): every alert
(id, kind, topic and a digest of its JSON without the ``engine`` field), a digest of every
final actor state, and for the synthetic corpora a digest of each statement's analysis.

Regenerate it only when a decision is *meant* to change::

    .venv/bin/python tests/test_engine_equivalence.py --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from bench_corpus import bench_engine

from monitor.domain.analysis import Analysis
from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.detector import Detector
from monitor.domain.models import Alert, StanceState, StatementEvent
from monitor.domain.topics import load_pack
from monitor.evaluation import parse_cases

HERE = Path(__file__).parent
ROOT = HERE.parent
GOLDEN = HERE / "golden" / "engine_equivalence.json"
LABELED = {
    "own": HERE / "cases" / "own_cases.jsonl",
    "holdout": HERE / "cases" / "holdout_cases.jsonl",
    "dev": ROOT.parent / "shared" / "eval" / "dev_cases.jsonl",
}
SOURCES = [LABELED["own"], LABELED["holdout"]]  # always present, so the corpora never change


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _alert(a: Alert) -> str:
    return f"{a.id} {a.kind.value} {a.topic} {_h(a.model_dump_json(exclude={'engine'}))}"


def _analysis(a: Analysis) -> str:
    claims = [c.model_dump_json() for c in a.claims]
    return _h(json.dumps([claims, [repr(r) for r in a.relations], list(a.undecided)]))


def _fold(detector: Detector, events: list[StatementEvent], states: dict[str, StanceState]) -> list[str]:
    alerts: list[str] = []
    for ev in events:
        state = states.get(ev.actor) or StanceState.empty(ev.actor)
        states[ev.actor], raised = detector.step(state, ev)
        alerts.extend(_alert(a) for a in raised)
    return alerts


def _labeled(detector: Detector, path: Path) -> dict[str, Any]:
    alerts: list[str] = []
    states: dict[str, str] = {}
    for case in parse_cases(path.read_text().splitlines(), name=str(path)):
        folded: dict[str, StanceState] = {}
        alerts.extend(_fold(detector, list(case.statements), folded))
        states.update({f"{case.case}/{k}": _h(v.model_dump_json()) for k, v in sorted(folded.items())})
    return {"alerts": alerts, "states": states}


def _synthetic(detector: Detector, events: list[StatementEvent]) -> dict[str, Any]:
    folded: dict[str, StanceState] = {}
    alerts = _fold(detector, events, folded)
    return {
        "corpus": _h("\n".join(e.model_dump_json() for e in events)),
        "alerts": alerts,
        "states": {k: _h(v.model_dump_json()) for k, v in sorted(folded.items())},
        "analyses": [_analysis(detector.analyze(e)) for e in events],
    }


def corpora() -> dict[str, list[StatementEvent]]:
    bench = bench_engine()
    return {
        "novel": bench.novel_corpus(3000, 11, SOURCES),
        "remix": bench.labeled_corpus(1500, 3, SOURCES),
    }


def compute(detector: Detector) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, path in LABELED.items():
        if path.exists():
            out[name] = _labeled(detector, path)
    for name, events in corpora().items():
        out[name] = _synthetic(detector, events)
    return out


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text())
    return data


@pytest.fixture(scope="module")
def corpus_events() -> dict[str, list[StatementEvent]]:
    return corpora()


def _compare(expected: dict[str, Any], actual: dict[str, Any], name: str) -> None:
    for key in ("corpus", "alerts", "states", "analyses"):
        if key not in expected:
            continue
        exp, act = expected[key], actual[key]
        if key == "corpus":
            assert act == exp, f"{name}: the synthetic corpus changed; the golden file no longer applies"
        elif isinstance(exp, list):
            diffs = [(i, e, a) for i, (e, a) in enumerate(zip(exp, act, strict=False)) if e != a]
            assert len(act) == len(exp), f"{name} {key}: {len(act)} entries, golden has {len(exp)}"
            assert not diffs, f"{name} {key}: first differences (index, golden, now) {diffs[:3]}"
        else:
            diffs = sorted(k for k in exp.keys() | act.keys() if exp.get(k) != act.get(k))
            assert not diffs, f"{name} {key} differ for {diffs[:5]}"


@pytest.mark.parametrize("name", ["own", "holdout", "dev"])
def test_labeled_sets_decide_as_golden(golden: dict[str, Any], name: str) -> None:
    if not LABELED[name].exists():
        pytest.skip(f"{LABELED[name]} not present")
    _compare(golden[name], _labeled(Detector(), LABELED[name]), name)


@pytest.mark.parametrize("cache", [20_000, 0], ids=["sentence-cache", "no-cache"])
@pytest.mark.parametrize("name", ["novel", "remix"])
def test_synthetic_corpora_decide_as_golden(
    golden: dict[str, Any], corpus_events: dict[str, list[StatementEvent]], name: str, cache: int
) -> None:
    detector = Detector(RuleAnalyzer(load_pack(), sentence_cache=cache))
    _compare(golden[name], _synthetic(detector, corpus_events[name]), name)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: tests/test_engine_equivalence.py --write")
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(compute(Detector()), indent=1) + "\n")
    print(f"written {GOLDEN}")
