"""``monitor eval CASES.jsonl [--json]``: score the detector on labeled cases."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from monitor.classifiers import CLASSIFIERS, build_analyzer
from monitor.domain.detector import Detector
from monitor.domain.stance import EngineConfig
from monitor.domain.topics import TopicPackError
from monitor.errors import ConfigError, InputError
from monitor.evaluation import Report, evaluate, parse_cases


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score the stance engine on labeled cases (JSON Lines)",
        description="Run each labeled case through the detector and report precision, recall and failures.",
    )
    p.add_argument("cases", metavar="CASES.jsonl", help="labeled cases, one JSON object per line")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    p.add_argument(
        "--topics", action="append", default=[], metavar="PACK.yaml",
        help="extra topic pack laid over the built-in one (repeatable)",
    )
    p.add_argument(
        "--classifier", choices=CLASSIFIERS, default="rules",
        help="claim reader: the deterministic rules (default), or an optional backend (docs/classifiers.md)",
    )
    p.set_defaults(handler=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    path = Path(args.cases)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read cases file: {exc.strerror}", where=f"{path}:0") from exc
    cases = parse_cases(raw.splitlines(), name=str(path))
    try:
        config = EngineConfig(topic_packs=tuple(args.topics))
        analyzer = None if args.classifier == "rules" else build_analyzer(args.classifier,
                                                                          topic_packs=config.topic_packs)
        detector = Detector(analyzer=analyzer, config=config)
    except TopicPackError as exc:
        raise ConfigError(str(exc)) from exc
    report = evaluate(detector, cases)
    if args.json:
        sys.stdout.write(orjson.dumps(report.as_dict()).decode() + "\n")
    else:
        _print_table(report, detector.version)
    return 0


def _print_table(report: Report, version: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table(title=f"monitor eval ({version})", show_header=False)
    for key, value in report.as_dict().items():
        if key != "failures":
            summary.add_row(key, str(value))
    console.print(summary)
    if report.failures:
        failures = Table(title="failures")
        for col in ("case", "statement", "error", "kind"):
            failures.add_column(col)
        for f in report.failures:
            failures.add_row(f.case, f.statement_id, f.error, f.kind)
        console.print(failures)
