"""The fold alone: ``Detector.step`` minus analysis, over the novel corpus, for profilers.

    .venv/bin/python bench/fold_profile.py N [--time] [--cprofile] [--check]

Builds ``novel_corpus(TOTAL, seed)`` (``TOTAL`` is fixed, so corpus building and analysis
cost the same whatever ``N``), analyses every statement once with a cold ``RuleAnalyzer``
*before* the measured part, then folds the first ``N`` statements with an analyzer that hands
back those analyses (one state per actor, as ``bench_engine.fold`` does). Instruction counts
per statement (docs/engine-speed.md)::

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.a .venv/bin/python bench/fold_profile.py 600
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.b .venv/bin/python bench/fold_profile.py 1100
    # (total of b - total of a) / 500

``--time`` prints wall-clock microseconds per statement (best of 5 folds of all ``TOTAL``);
``--cprofile`` prints a cProfile of the fold; ``--check`` prints a digest of the alerts and
final states (compare it before and after a change).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import pickle
import pstats
import sys
import time
from pathlib import Path

import bench_engine  # bench/ is on sys.path: these scripts run as bench/<name>.py

from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.detector import Detector
from monitor.domain.models import StanceState, StatementEvent
from monitor.domain.topics import load_pack

ROOT = Path(__file__).resolve().parent.parent
TOTAL = 1100


def _fold(
    events: list[StatementEvent], detector: Detector, alerts: list[str] | None = None
) -> dict[str, StanceState]:
    """As ``bench_engine.fold``; the alerts' JSON (without ``engine``) into ``alerts`` if given."""
    states: dict[str, StanceState] = {}
    for ev in events:
        state = states.get(ev.actor)
        if state is None:
            state = StanceState.empty(ev.actor)
        states[ev.actor], raised = detector.step(state, ev)
        if alerts is not None:
            alerts.extend(a.model_dump_json(exclude={"engine"}) for a in raised)
    return states


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=TOTAL)
    parser.add_argument("--total", type=int, default=TOTAL)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time", action="store_true")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument(
        "--gc", choices=("on", "freeze", "off"), default="on",
        help="freeze: gc.freeze() after the set-up, so collections during the fold do not traverse the "
        "corpus and its analyses (a full collection landing in one run and not the other moves the "
        "count); off: no collections during the fold (the fold's own work, without its garbage)",
    )
    parser.add_argument(
        "--corpus", type=Path, default=None,
        help="a pickle of (events, analyses): read if it exists, else written (analyses stay fixed "
        "while the analyzer changes)",
    )
    args = parser.parse_args(argv)
    bench = bench_engine
    cold = RuleAnalyzer(load_pack(), sentence_cache=0)
    if args.corpus is not None and args.corpus.exists():
        events, analyses = pickle.loads(args.corpus.read_bytes())
    else:
        events = bench.novel_corpus(args.total, args.seed)
        analyses = {ev.text: cold.analyze(ev.text, speaker=ev.speaker) for ev in events}
        if args.corpus is not None:
            args.corpus.write_bytes(pickle.dumps((events, analyses)))
    detector = Detector(bench._Replayed(cold, analyses))
    todo = events[: args.n]
    if args.gc != "on":
        gc.collect()
        gc.freeze()
    if args.gc == "off":
        gc.disable()
    if args.check:
        alerts: list[str] = []
        states = _fold(events, detector, alerts)
        h = hashlib.sha256()
        for a in alerts:
            h.update(a.encode())
        for k in sorted(states):
            h.update(states[k].model_dump_json().encode())
        print(f"{len(alerts)} alerts, {len(states)} states, digest {h.hexdigest()[:16]}")
        return 0
    if args.time:
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            _fold(events, detector)
            best = min(best, time.perf_counter() - t)
        print(f"{best / len(events) * 1e6:.1f} us per statement (best of 5, {len(events)} statements)")
        return 0
    if args.cprofile:
        prof = cProfile.Profile()
        prof.enable()
        _fold(events, detector)
        prof.disable()
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(25)
        return 0
    _fold(todo, detector)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
