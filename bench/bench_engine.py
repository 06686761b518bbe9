"""Benchmark of the default stance engine: statements per second on one core, state size.

    .venv/bin/python bench/bench_engine.py [--statements 20000] [--seed 7]

The corpus is built from the labeled statements in tests/cases/ (and the shared development
set when present): each benchmark statement joins 1-4 sentences drawn from that pool, so the
wording is realistic and almost every statement is new to the detector (nothing is cached
across statements except the per-word lexicon lookup). Every statement goes through
``Detector.step`` exactly as the pipeline calls it, one actor state per actor.

It prints statements/s, the JSON bytes of each actor x topic stance (max and mean; the
target is <= 2 KB) and a calibration figure (a fixed pure-Python loop) so results from
busy or slow machines can be compared. A JSON result is written to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.detector import Detector
from monitor.domain.models import StanceState, StatementEvent
from monitor.domain.topics import load_pack

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    ROOT / "tests" / "cases" / "own_cases.jsonl",
    ROOT / "tests" / "cases" / "holdout_cases.jsonl",
    ROOT.parent / "shared" / "eval" / "dev_cases.jsonl",
]
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def sentence_pools() -> list[tuple[str, list[str]]]:
    """Per labeled case and actor: (actor, the sentences that actor says in the case)."""
    pools: list[tuple[str, list[str]]] = []
    for path in SOURCES:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            by_actor: dict[str, list[str]] = {}
            for st in json.loads(line)["statements"]:
                by_actor.setdefault(st["actor"], []).extend(s for s in _SENT.split(st["text"]) if len(s) > 15)
            pools.extend((actor, sorted(set(sents))) for actor, sents in by_actor.items() if sents)
    return pools


def corpus(n: int, seed: int) -> list[StatementEvent]:
    """Statements of 1-4 sentences, each mixing what one actor says within one labeled case,
    attributed to one of 20 copies of that actor (so stances evolve as in the labeled data)."""
    rng = random.Random(seed)
    pools = sentence_pools()
    start = datetime(2024, 1, 1, tzinfo=UTC)
    out: list[StatementEvent] = []
    for i in range(n):
        actor, pool = rng.choice(pools)
        k = rng.randint(1, min(4, len(pool)))
        text = " ".join(rng.sample(pool, k))
        out.append(
            StatementEvent(
                id=f"bench-{i}", actor=f"{actor}_{rng.randrange(20)}", speaker="Bench Speaker", text=text,
                published_at=start + timedelta(minutes=i), source_url=f"https://example.org/bench/{i}",
            )
        )
    return out


def calibrate() -> float:
    """Microseconds for a fixed pure-Python loop (about 8 us on an idle modern core)."""
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(200):
            sum(range(1000))
        best = min(best, (time.perf_counter() - t) / 200 * 1e6)
    return best


def run(events: list[StatementEvent], detector: Detector) -> tuple[float, dict[str, StanceState], int]:
    states: dict[str, StanceState] = {}
    alerts = 0
    t = time.perf_counter()
    for ev in events:
        state = states.get(ev.actor)
        if state is None:
            state = StanceState.empty(ev.actor)
        states[ev.actor], raised = detector.step(state, ev)
        alerts += len(raised)
    return time.perf_counter() - t, states, alerts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; the best is reported")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    events = corpus(args.statements, args.seed)
    cold_detector = Detector(RuleAnalyzer(load_pack(), sentence_cache=0))
    run(events[:500], cold_detector)  # warm up the per-word lexicon memo
    cold = min(run(events, cold_detector)[0] for _ in range(args.rounds))
    detector = Detector()
    times = []
    for _ in range(args.rounds):
        elapsed, states, alerts = run(events, Detector(detector.analyzer))  # sentence cache warm after round 1
        times.append(elapsed)
    best = min(times)
    t = time.perf_counter()
    for ev in events:
        cold_detector.analyze(ev)
    analyze_rate = len(events) / (time.perf_counter() - t)
    sizes = [len(s.model_dump_json().encode()) for st in states.values() for s in st.topics.values()]
    actor_sizes = [len(st.model_dump_json().encode()) for st in states.values()]
    calib = calibrate()
    result = {
        "engine": detector.version,
        "statements": len(events),
        "mean_sentences": round(statistics.mean(len(_SENT.split(e.text)) for e in events), 2),
        "mean_chars": round(statistics.mean(len(e.text) for e in events), 1),
        "statements_per_s": round(len(events) / best),
        "statements_per_s_no_sentence_cache": round(len(events) / cold),
        "analyze_only_per_s_no_cache": round(analyze_rate),
        "alerts": alerts,
        "stance_bytes_max": max(sizes),
        "stance_bytes_mean": round(statistics.mean(sizes)),
        "actor_state_bytes_max": max(actor_sizes),
        "topics_per_actor_mean": round(len(sizes) / len(states), 1),
        "calibration_us": round(calib, 2),
        "statements_per_s_at_8us_calibration": round(len(events) / best * calib / 8.0),
        "no_cache_per_s_at_8us_calibration": round(len(events) / cold * calib / 8.0),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    print(f"engine                  {result['engine']}")
    print(f"statements              {result['statements']} ({result['mean_sentences']} sentences, "
          f"{result['mean_chars']} chars on average)")
    print(f"statements/s (1 core)   {result['statements_per_s']} with the sentence cache, "
          f"{result['statements_per_s_no_sentence_cache']} without (every sentence analysed)")
    print(f"alerts                  {result['alerts']} ({result['alerts'] / len(events):.1%} of statements)")
    print(f"stance bytes / actor x topic   max {result['stance_bytes_max']}, mean {result['stance_bytes_mean']}")
    print(f"actor state bytes       max {result['actor_state_bytes_max']} "
          f"({result['topics_per_actor_mean']} topics per actor)")
    print(f"calibration             {result['calibration_us']} us per loop (about 8 us idle); "
          f"scaled to 8 us: {result['statements_per_s_at_8us_calibration']} statements/s "
          f"({result['no_cache_per_s_at_8us_calibration']} without cache)")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"engine-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written                 {out.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
