"""Benchmark of the default stance engine: statements per second on one core, state size.

    .venv/bin/python bench/bench_engine.py [--statements 20000] [--seed 7] [--rounds 5]

Two corpora of realistic 1-4 sentence statements:

* **novel** (:func:`novel_corpus`): sentences of the labeled sets with names, numbers, places
  and framing varied, mixed with template sentences (subject x stance phrase x topic phrase x
  tail) and topic-free filler. Almost no sentence repeats, so the per-sentence cache cannot
  help: this is the honest *cold* figure (issue #4).
* **labeled** (:func:`labeled_corpus`): 1-4 sentences drawn from what one actor says in one
  labeled case. Sentences repeat across statements, so the cache hits: the *warm* figure.

Every statement goes through ``Detector.step`` exactly as the pipeline calls it, one state
per actor, pinned to one core. The *path* figure adds what a runner does around it:
``Projector.apply`` over JSON records (decode + validate + step + alerts).

Each figure is measured over several rounds; the best and the median are printed, with the
load average and a calibration loop (about 8 us on an idle core) so figures from busy
machines can be compared. A JSON result is written to bench/results/.
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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.codec import encode
from monitor.domain.analysis import Analysis
from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.analysis.text import normalize, sentences
from monitor.domain.detector import Detector
from monitor.domain.models import StanceState, StatementEvent
from monitor.domain.topics import load_pack
from monitor.ports import Record
from monitor.projection import Projector

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    ROOT / "tests" / "cases" / "own_cases.jsonl",
    ROOT / "tests" / "cases" / "holdout_cases.jsonl",
    ROOT.parent / "shared" / "eval" / "dev_cases.jsonl",
]
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_START = datetime(2024, 1, 1, tzinfo=UTC)


def sentence_pools(sources: list[Path] = SOURCES) -> list[tuple[str, list[str]]]:
    """Per labeled case and actor: (actor, the sentences that actor says in the case)."""
    pools: list[tuple[str, list[str]]] = []
    for path in sources:
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


def _event(i: int, actor: str, speaker: str, text: str, prefix: str) -> StatementEvent:
    return StatementEvent(
        id=f"{prefix}-{i}", actor=actor, speaker=speaker, text=text,
        published_at=_START + timedelta(minutes=i), source_url=f"https://example.org/{prefix}/{i}",
    )


def labeled_corpus(n: int, seed: int, sources: list[Path] = SOURCES) -> list[StatementEvent]:
    """Statements of 1-4 sentences, each mixing what one actor says within one labeled case,
    attributed to one of 20 copies of that actor (so stances evolve as in the labeled data)."""
    rng = random.Random(seed)
    pools = sentence_pools(sources)
    out: list[StatementEvent] = []
    for i in range(n):
        actor, pool = rng.choice(pools)
        k = rng.randint(1, min(4, len(pool)))
        out.append(_event(i, f"{actor}_{rng.randrange(20)}", "Bench Speaker", " ".join(rng.sample(pool, k)), "bench"))
    return out


# -- novel statements ------------------------------------------------------------------------

def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _split(
    "Anna Boris Carla Dmitri Elena Farid Greta Hans Irina Jamal Karin Lars Maria Nikolai Olga Pavel Quentin "
    "Rosa Stefan Tamara Umar Vera Walter Xenia Yuri Zofia Ahmed Beata Ciaran Dana Emil Fatima Goran Helga"
)
_LAST = _split(
    "Petrov Schmidt Novak Kowalski Dubois Rossi Jensen Ivanova Morales Haddad Lindqvist Horvat Popescu "
    "Kuznetsov Meyer Fischer Costa Nowak Varga Sato Okafor Brennan Mendes Lukic Aalto Berger Chen Dimitrov"
)
_PLACES = _split(
    "Geneva Vienna Istanbul Minsk Riga Warsaw Brussels Ankara Doha Helsinki Tallinn Vilnius Bucharest "
    "Sofia Belgrade Oslo Baku Tbilisi Yerevan Astana Cairo Rome Madrid Prague Budapest Lisbon Dublin"
)
_COUNTRIES = _split(
    "Ukraine Russia Poland Finland Georgia Moldova Serbia Turkey Germany France Japan China Canada Mexico "
    "Belarus Latvia Estonia Lithuania Romania Hungary Armenia Azerbaijan Kazakhstan"
)
_GOODS = ("steel", "cars", "grain", "chips", "solar panels", "aluminium", "fertiliser", "timber", "textiles", "drones")
_WEEKDAYS = _split("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
_SUBJECTS = ("We", "Our government", "The ministry", "This administration", "Our country", "The cabinet")
_STANCES = (
    "will continue", "support", "oppose", "reject", "are ready for", "will never accept", "remain committed to",
    "have no plans for", "welcome", "categorically refuse", "will not allow", "are open to", "insist on",
    "will not give up", "are considering", "firmly back", "cannot support", "will end",
)
_TOPICS = (
    "the sanctions against {country}", "talks with {country}", "a ceasefire in the {region} region",
    "deliveries of tanks to {country}", "tariffs of {n}% on {goods}", "new tariffs on {goods} from {country}",
    "membership of {country} in NATO", "prisoner exchanges with {country}", "the exercises near {place}",
    "gas supplies to {country}", "the deployment of troops to {country}", "negotiations in {place}",
    "air defence systems for {country}", "long-range missiles for {country}", "the recognition of the elections "
    "in {country}", "retaliation against {country}", "the goals of the operation", "our claims to {region}",
    "arms supplies to {country}", "a nuclear test", "the return of {region}",
)
_TAILS = (
    "", "", " this year", " as long as {country} keeps its promises", " despite pressure from {country}",
    " after the summit in {place}", " because of what happened in {place}", ", and we will say so in {place}",
    " in the coming {n} months", ", whatever {name} says", " if {country} does the same", " before {weekday}",
)
_FILLER = (
    "The meeting in {place} lasted {n} hours.", "{name} arrived in {place} on {weekday}.",
    "The press conference was held in {place} on {weekday} morning.", "Thank you for the question, {first}.",
    "I spoke with {name} by phone on {weekday}.", "There were {n} journalists in the room in {place}.",
    "The delegation from {country} will arrive in {place} on {weekday}.",
)
_FRAMES = (
    "{s}", "{s}", "{s}", "On {weekday}, {l}", "Speaking in {place}, {l}", "In {place}, {l}",
    "As {name} put it in {place}, {l}", "{s} That is our position in {place}.",
)
_CAPWORD = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]{3,}\b")
_NUMBER = re.compile(r"\b\d+\b")


def _fill(template: str, rng: random.Random) -> str:
    first = rng.choice(_FIRST)
    return template.format(
        name=f"{first} {rng.choice(_LAST)}", first=first, place=rng.choice(_PLACES), country=rng.choice(_COUNTRIES),
        region=rng.choice(_PLACES), goods=rng.choice(_GOODS), n=rng.randint(2, 160), weekday=rng.choice(_WEEKDAYS),
    )


def _vary(sentence: str, rng: random.Random) -> str:
    """A labeled sentence with its names, numbers and framing changed."""
    s = _NUMBER.sub(lambda m: str(rng.randint(2, 160)), sentence)
    s = _CAPWORD.sub(lambda m: rng.choice(_COUNTRIES + _PLACES) if rng.random() < 0.5 else m.group(), s)
    frame = rng.choice(_FRAMES)
    lowered = s[:1].lower() + s[1:] if s[:2] != "I " else s
    return _fill(frame.replace("{s}", "\0").replace("{l}", "\1"), rng).replace("\0", s).replace("\1", lowered)


def _template(rng: random.Random) -> str:
    tail = rng.choice(_TAILS)
    return _fill(f"{rng.choice(_SUBJECTS)} {rng.choice(_STANCES)} {rng.choice(_TOPICS)}{tail}.", rng)


def novel_corpus(n: int, seed: int, sources: list[Path] = SOURCES) -> list[StatementEvent]:
    """Statements of 1-4 sentences that (almost) never repeat a sentence: the cache stays cold."""
    rng = random.Random(seed)
    pools = sentence_pools(sources)
    out: list[StatementEvent] = []
    for i in range(n):
        actor, pool = rng.choice(pools)
        parts: list[str] = []
        for _ in range(rng.randint(1, 4)):
            r = rng.random()
            if r < 0.5:
                parts.append(_vary(rng.choice(pool), rng))
            elif r < 0.85:
                parts.append(_template(rng))
            else:
                parts.append(_fill(rng.choice(_FILLER), rng))
        speaker = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        out.append(_event(i, f"{actor}_{rng.randrange(20)}", speaker, " ".join(parts), "novel"))
    return out


# -- measuring -------------------------------------------------------------------------------


def calibrate() -> float:
    """Microseconds for a fixed pure-Python loop (about 8 us on an idle modern core)."""
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(200):
            sum(range(1000))
        best = min(best, (time.perf_counter() - t) / 200 * 1e6)
    return best


def fold(events: list[StatementEvent], detector: Detector) -> tuple[dict[str, StanceState], int]:
    states: dict[str, StanceState] = {}
    alerts = 0
    for ev in events:
        state = states.get(ev.actor)
        if state is None:
            state = StanceState.empty(ev.actor)
        states[ev.actor], raised = detector.step(state, ev)
        alerts += len(raised)
    return states, alerts


def records(events: list[StatementEvent]) -> list[Record]:
    return [
        Record(topic="statements", partition=0, offset=i, key=ev.actor.encode(), value=encode(ev), timestamp_ms=0)
        for i, ev in enumerate(events)
    ]


def rates(n: int, rounds: int, once: Callable[[], object]) -> tuple[float, float, float]:
    """(best, median, best by CPU time) items/s of ``once`` over ``rounds`` timed runs.

    On a shared machine the process waits for the core; CPU time leaves that out (it still
    includes the slowdown from sharing caches with other processes).
    """
    wall, cpu = [], []
    for _ in range(rounds):
        t, c = time.perf_counter(), time.process_time()
        once()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return n / min(wall), n / statistics.median(wall), n / min(cpu)


class _Replayed:
    """An analyzer that hands back analyses computed beforehand: the fold measured alone."""

    def __init__(self, inner: RuleAnalyzer, analyses: dict[str, Analysis]) -> None:
        self.inner = inner
        self.name = inner.name
        self._by_text = analyses

    def analyze(self, text: str, *, speaker: str | None = None) -> Analysis:
        return self._by_text[text]

    def topic_name(self, topic: str) -> str:
        return self.inner.topic_name(topic)

    def topic_severity(self, topic: str) -> str:
        return self.inner.topic_severity(topic)


def stages(events: list[StatementEvent], rounds: int, analyzer: RuleAnalyzer) -> dict[str, float]:
    """Microseconds per statement (best of ``rounds``) of each stage of a cold ``Detector.step``.

    ``text``: normalise and split sentences; ``scan``: the lexicon trie over every sentence;
    ``clauses``: the rest of the rule analysis (frames, clauses, votes, claims); ``fold``: the
    detector without analysis (seen-window, merge, decide, alerts, new state).
    """
    texts = [ev.text for ev in events]
    cold = RuleAnalyzer(analyzer.pack, sentence_cache=0, native=False)
    lows = [low for _, low in (normalize(t) for t in texts)]
    spans = [sentences(cased) for cased, _ in (normalize(t) for t in texts)]
    parts = [low[a:b] for low, sp in zip(lows, spans, strict=True) for a, b in sp]
    scan = cold._lexicon.scan  # the benchmark times the scanner on its own
    analyses = {ev.text: cold.analyze(ev.text, speaker=ev.speaker) for ev in events}
    replayed = Detector(_Replayed(cold, analyses))

    def best(once: Callable[[], object]) -> float:
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            once()
            times.append(time.perf_counter() - t)
        return min(times) / len(events) * 1e6

    text = best(lambda: [sentences(normalize(t)[0]) for t in texts])
    scanned = best(lambda: [scan(p) for p in parts])
    analysis = best(lambda: [cold.analyze(ev.text, speaker=ev.speaker) for ev in events])
    folded = best(lambda: fold(events, replayed))
    return {
        "text": round(text, 1), "scan": round(scanned, 1), "clauses": round(max(0.0, analysis - text - scanned), 1),
        "fold": round(folded, 1), "total": round(analysis + folded, 1),
    }


def _cold_detector(native: bool | None = None) -> Detector:
    return Detector(RuleAnalyzer(load_pack(), sentence_cache=0, native=native))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--statements", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds; best and median are reported")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    n = args.statements
    novel = novel_corpus(n, args.seed)
    labeled = labeled_corpus(n, args.seed)
    novel_records = records(novel)
    base = Detector()
    fold(novel[:500], base)  # warm up the per-word lexicon memo (not the sentences measured)

    def cold_default() -> None:  # the default detector, a fresh sentence cache each round
        fold(novel, Detector(RuleAnalyzer(base.analyzer.pack)))  # type: ignore[attr-defined]

    def path() -> None:  # decode + validate + step + alerts, as the runners call it
        Projector(Detector(RuleAnalyzer(base.analyzer.pack)), {}).apply(novel_records)  # type: ignore[attr-defined]

    warm_detector = Detector()
    fold(labeled, warm_detector)  # fill the sentence cache once

    native = base.analyzer.native  # type: ignore[attr-defined]

    def analyze_all(analyzer: object) -> None:
        for e in novel:
            analyzer.analyze(e.text, speaker=e.speaker)  # type: ignore[attr-defined]

    python = RuleAnalyzer(base.analyzer.pack, sentence_cache=0, native=False)  # type: ignore[attr-defined]
    figures = {
        "cold_novel": rates(n, args.rounds, cold_default),
        "cold_novel_no_cache": rates(n, args.rounds, lambda: fold(novel, _cold_detector())),
        "warm_labeled": rates(n, args.rounds, lambda: fold(labeled, Detector(warm_detector.analyzer))),
        "path_novel": rates(n, args.rounds, path),
        # the baseline, measured in the same run: the Python rules the native core is a port of
        "python_cold_novel_no_cache": rates(n, args.rounds, lambda: fold(novel, _cold_detector(native=False))),
        "analysis_novel": rates(n, args.rounds, lambda: analyze_all(base.analyzer)),
        "python_analysis_novel": rates(n, args.rounds, lambda: analyze_all(python)),
    }
    breakdown = stages(novel, args.rounds, python)
    states, alerts = fold(novel, Detector())
    sizes = [len(s.model_dump_json().encode()) for st in states.values() for s in st.topics.values()]
    actor_sizes = [len(st.model_dump_json().encode()) for st in states.values()]
    distinct = len({s for ev in novel for s in _SENT.split(ev.text)})
    total_sents = sum(len(_SENT.split(ev.text)) for ev in novel)
    calib = calibrate()
    result: dict[str, object] = {
        "engine": base.version,
        "native_core": native,
        "native_speedup_engine": round(figures["cold_novel_no_cache"][2] / figures["python_cold_novel_no_cache"][2], 2),
        "native_speedup_analysis": round(figures["analysis_novel"][2] / figures["python_analysis_novel"][2], 2),
        "statements": n,
        "novel_mean_sentences": round(total_sents / n, 2),
        "novel_distinct_sentence_share": round(distinct / total_sents, 3),
        "novel_mean_chars": round(statistics.mean(len(e.text) for e in novel), 1),
        **{f"{k}_per_s_best": round(v[0]) for k, v in figures.items()},
        **{f"{k}_per_s_median": round(v[1]) for k, v in figures.items()},
        **{f"{k}_per_cpu_s_best": round(v[2]) for k, v in figures.items()},
        "stage_us_per_statement": breakdown,
        "alerts_novel": alerts,
        "stance_bytes_max": max(sizes),
        "stance_bytes_mean": round(statistics.mean(sizes)),
        "actor_state_bytes_max": max(actor_sizes),
        "topics_per_actor_mean": round(len(sizes) / len(states), 1),
        "calibration_us": round(calib, 2),
        "rounds": args.rounds,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    labels = {
        "cold_novel": "engine, novel sentences (cold cache)",
        "cold_novel_no_cache": "engine, novel, cache disabled",
        "warm_labeled": "engine, labeled sentences (warm cache)",
        "path_novel": "decode + validate + step (novel)",
        "python_cold_novel_no_cache": "baseline: Python rules, novel, no cache",
        "analysis_novel": "analysis alone (default analyzer), novel",
        "python_analysis_novel": "analysis alone, Python rules, novel",
    }
    print(f"engine        {result['engine']}")
    print(f"analyzer      {'native core (monitor_native)' if native else 'Python rules (native core not in use)'}; "
          f"engine {result['native_speedup_engine']}x and analysis {result['native_speedup_analysis']}x "
          "the Python rules (per CPU second)")
    print(f"corpus        {n} statements, {result['novel_mean_sentences']} sentences and "
          f"{result['novel_mean_chars']} chars on average; {result['novel_distinct_sentence_share']:.1%} "
          f"of novel sentences distinct")
    print(f"statements/s on one core, best / median of {args.rounds} (wall clock); best per CPU second:")
    for key, label in labels.items():
        best, median, cpu = figures[key]
        print(f"  {label:<42} {best:>8,.0f} / {median:>8,.0f}   {cpu:>8,.0f}")
    print("where the time goes with the Python rules, us per novel statement, no cache (20,000/s is 50 us):")
    print("  " + "   ".join(f"{k} {v:,.1f}" for k, v in breakdown.items()))
    print(f"alerts        {alerts} ({alerts / n:.1%} of novel statements)")
    print(f"stance JSON bytes per actor x topic   max {result['stance_bytes_max']}, mean {result['stance_bytes_mean']}")
    print(f"actor state JSON bytes                max {result['actor_state_bytes_max']} "
          f"({result['topics_per_actor_mean']} topics per actor)")
    print(f"calibration   {result['calibration_us']} us per loop (about 8 us idle); load {result['load_average']}")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"engine-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written       {out.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
