"""The native fold against the Python fold: statements/s of the whole ``Detector.step``, one core.

    .venv/bin/python bench/bench_fold_native.py [--statements 20000] [--seed 7] [--rounds 5]

Over ``bench_engine.novel_corpus`` (cold: almost no sentence repeats), one state per actor, a
fresh detector per round (no sentence cache), pinned to one core:

* **native fold**: ``nativefold.native_fold(detector).step`` (analysis, fold, states and alerts
  in ``monitor_native``), the Python fold for the statements it declines;
* **Python fold**: the fold of ``detector.py`` (native analysis, Python fold: the detector reads
  through an analyzer of another type, so it does not fold natively);
* **analysis alone**: the native core's ``analyze`` (plain tuples), for reference.

Rates are statements per CPU second (``time.process_time``: waiting for a shared core is left
out), best and median of the rounds; the wall-clock best is printed too. The garbage collector
stays on, as in a running engine. ``--check`` also compares both folds' final states and alerts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import bench_engine  # bench/ is on sys.path: these scripts run as bench/<name>.py

from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.detector import Detector
from monitor.domain.models import Alert, StanceState, StatementEvent
from monitor.domain.nativefold import native_fold, python_fold_detector
from monitor.domain.topics import TopicPack, load_pack

ROOT = Path(__file__).resolve().parent.parent


def _detector(pack: TopicPack) -> Detector:
    return Detector(RuleAnalyzer(pack, sentence_cache=0))


def _python_detector(pack: TopicPack) -> Detector:
    return python_fold_detector(RuleAnalyzer(pack, sentence_cache=0))


def fold_native(
    events: list[StatementEvent], detector: Detector, keep: bool = False
) -> tuple[dict[str, StanceState], list[Alert], int]:
    """Every event through the native fold (the Python fold where it declines): states, alerts
    (when ``keep``; as a runner, the timed folds let them go), how many it declined."""
    native = native_fold(detector)
    if native is None:
        raise SystemExit("the native fold does not apply (is monitor_native built with its Fold?)")
    step, python_step = native.step, detector.step
    states: dict[str, StanceState] = {}
    alerts: list[Alert] = []
    declined = 0
    for ev in events:
        state = states.get(ev.actor)
        if state is None:
            state = StanceState.empty(ev.actor)
        out = step(state, ev)
        if out is None:
            declined += 1
            out = python_step(state, ev)
        states[ev.actor], raised = out
        if keep:
            alerts += raised
    return states, alerts, declined


def fold_python(
    events: list[StatementEvent], detector: Detector, keep: bool = False
) -> tuple[dict[str, StanceState], list[Alert]]:
    states: dict[str, StanceState] = {}
    alerts: list[Alert] = []
    for ev in events:
        state = states.get(ev.actor)
        if state is None:
            state = StanceState.empty(ev.actor)
        states[ev.actor], raised = detector.step(state, ev)
        if keep:
            alerts += raised
    return states, alerts


def rates(n: int, rounds: int, once: Callable[[], object]) -> dict[str, float]:
    cpu, wall = [], []
    for _ in range(rounds):
        t, c = time.perf_counter(), time.process_time()
        once()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {
        "cpu_best": n / min(cpu), "cpu_median": n / statistics.median(cpu), "wall_best": n / min(wall),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--statements", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="compare the final states and alerts of both folds")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    n = args.statements
    events = bench_engine.novel_corpus(n, args.seed)
    pack = load_pack()
    core = _detector(pack).analyzer._native  # type: ignore[attr-defined]
    if core is None:
        raise SystemExit("the native analyzer core is not in use")
    _, alerts, declined = fold_native(events, _detector(pack), keep=True)
    figures = {
        "native fold (whole step)": rates(n, args.rounds, lambda: fold_native(events, _detector(pack))),
        "Python fold (whole step)": rates(n, args.rounds, lambda: fold_python(events, _python_detector(pack))),
        "analysis alone (native)": rates(n, args.rounds, lambda: [core.analyze(e.text, []) for e in events]),
    }
    print(f"{n} novel statements, {len(alerts)} alerts ({len(alerts) / n:.1%}), "
          f"{declined} declined by the native fold; load {os.getloadavg()}")
    print(f"statements per CPU second, best / median of {args.rounds} (wall-clock best):")
    for label, r in figures.items():
        print(f"  {label:<28} {r['cpu_best']:>9,.0f} / {r['cpu_median']:>9,.0f}   ({r['wall_best']:,.0f})")
    speedup = figures["native fold (whole step)"]["cpu_best"] / figures["Python fold (whole step)"]["cpu_best"]
    print(f"native fold / Python fold: {speedup:.2f}x")
    if args.check:
        states_n, alerts_n, _ = fold_native(events, _detector(pack), keep=True)
        states_p, alerts_p = fold_python(events, _python_detector(pack), keep=True)
        same_states = {k: s.model_dump_json() for k, s in states_n.items()} == {
            k: s.model_dump_json() for k, s in states_p.items()
        }
        same_alerts = [a.model_dump_json() for a in alerts_n] == [a.model_dump_json() for a in alerts_p]
        verdict = {True: "identical", False: "DIFFER"}
        print(f"check: states {verdict[same_states]}, alerts {verdict[same_alerts]}")
        if not (same_states and same_alerts):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
