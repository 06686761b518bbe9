"""Scoring the detector on labeled statement sequences (``docs/eval-format.md``).

Each case starts from empty state; its statements go through the same
:class:`~monitor.domain.detector.Detector` the pipeline uses, and the alerts raised are
matched against the expected ones by statement id and kind. Parsing, running and scoring
are separate pure functions so tests and the ``monitor eval`` command share them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.domain.detector import Detector
from monitor.domain.models import Alert, AlertKind, StanceState, StatementEvent
from monitor.errors import InputError


class Expectation(BaseModel):
    """An alert a careful analyst would raise."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    statement_id: str
    kind: AlertKind
    prior_statement_id: str | None = None
    topic_hint: str = ""
    accept_kinds: tuple[AlertKind, ...] = ()
    why: str = ""

    def accepts(self, kind: AlertKind) -> bool:
        return kind is self.kind or kind in self.accept_kinds


class Case(BaseModel):
    """One independent labeled sequence of statements."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    case: str
    description: str = ""
    statements: tuple[StatementEvent, ...] = Field(min_length=1)
    expected: tuple[Expectation, ...] = ()


@dataclass(frozen=True)
class Failure:
    case: str
    statement_id: str
    error: str  # false_positive | false_negative | prior_mismatch
    kind: str

    def as_dict(self) -> dict[str, str]:
        return {"case": self.case, "statement_id": self.statement_id, "error": self.error, "kind": self.kind}


@dataclass
class Report:
    """The scores of one run, with the exact field set of the eval format."""

    cases: int = 0
    statements: int = 0
    expected: int = 0
    alerts: int = 0
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    prior_mismatch: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def precision(self) -> float:
        d = self.true_positives + self.false_positives
        return self.true_positives / d if d else 1.0

    @property
    def recall(self) -> float:
        d = self.true_positives + self.false_negatives
        return self.true_positives / d if d else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "statements": self.statements,
            "expected": self.expected,
            "alerts": self.alerts,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
            "prior_mismatch": self.prior_mismatch,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
            "failures": [f.as_dict() for f in self.failures],
        }


def parse_cases(lines: Iterable[str | bytes], *, name: str) -> list[Case]:
    """Cases from JSON Lines; blank lines are skipped. Errors name ``name:line``."""
    cases: list[Case] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc}); each line must be one case object", where=where) from exc
        try:
            cases.append(Case.model_validate(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(root)"
            raise InputError(f"not a valid case: {loc}: {first['msg']}", where=where) from exc
    return cases


def run_case(detector: Detector, case: Case) -> list[Alert]:
    """The alerts the detector raises over one case, starting from empty states."""
    states: dict[str, StanceState] = {}
    alerts: list[Alert] = []
    for event in case.statements:
        state = states.get(event.actor) or StanceState.empty(event.actor)
        states[event.actor], raised = detector.step(state, event)
        alerts.extend(raised)
    return alerts


def score_case(case: Case, alerts: Sequence[Alert], report: Report) -> None:
    """Add one case's outcome to ``report`` (the matching rules of the eval format)."""
    report.cases += 1
    report.statements += len(case.statements)
    report.expected += len(case.expected)
    report.alerts += len(alerts)
    unmatched = list(alerts)
    for exp in case.expected:
        match = next(
            (a for a in unmatched if a.statement.id == exp.statement_id and exp.accepts(a.kind)),
            None,
        )
        if match is None:
            report.false_negatives += 1
            report.failures.append(Failure(case.case, exp.statement_id, "false_negative", exp.kind.value))
            continue
        unmatched.remove(match)
        report.true_positives += 1
        if exp.prior_statement_id is not None and match.prior.id != exp.prior_statement_id:
            report.prior_mismatch += 1
            report.failures.append(Failure(case.case, exp.statement_id, "prior_mismatch", match.kind.value))
    for a in unmatched:
        report.false_positives += 1
        report.failures.append(Failure(case.case, a.statement.id, "false_positive", a.kind.value))


def evaluate(detector: Detector, cases: Iterable[Case]) -> Report:
    report = Report()
    for case in cases:
        score_case(case, run_case(detector, case), report)
    return report
