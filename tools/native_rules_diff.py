"""Differential check of the native rules (native/src/rules.rs) against the Python rules.

    PYTHONPATH=<dir with monitor_native*.so> .venv/bin/python tools/native_rules_diff.py [--seeds 1 2 3]
        [--novel 20000] [--fuzz 20000] [--show 5] [--bench]

For every statement of the labeled sets (tests/cases/*.jsonl, shared/eval/dev_cases.jsonl), of the
benchmark's novel corpus (bench/bench_engine.py, one corpus per seed) and of a fuzzed corpus
(labeled sentences cut, spliced and sprinkled with lexicon phrases, so rare rules fire), each read
with its speaker, with no speaker and with a speaker named in the text, it compares
``RuleAnalyzer(native=False).analyze`` (the specification) with the native core's reading: claims
(every field; floats by their repr, so -0.0 and 0.0 differ), relations and undecided notes.
It prints the first mismatches of each corpus in detail and the counts; exit status 1 on any.
``--bench`` also times both readers over the first novel corpus, single-threaded.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from monitor.domain.analysis import Analysis  # noqa: E402
from monitor.domain.analysis.native import core_for  # noqa: E402
from monitor.domain.analysis.rules import RuleAnalyzer, _from_native  # noqa: E402
from monitor.domain.analysis.text import normalize_any  # noqa: E402

LABELED = [*sorted((ROOT / "tests" / "cases").glob("*.jsonl")), ROOT.parent / "shared" / "eval" / "dev_cases.jsonl"]


def _plain(v: Any) -> Any:
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, tuple | list):
        return tuple(_plain(x) for x in v)
    return v


def _shape(a: Analysis) -> tuple[Any, ...]:
    claims = tuple(tuple((k, _plain(v)) for k, v in c.model_dump().items()) for c in a.claims)
    relations = tuple((r.topic, r.relation, r.cue, r.sentence) for r in a.relations)
    return claims, relations, tuple(a.undecided)


def _parts(speaker: str | None) -> list[str]:
    return sorted({w.lower().strip(".,") for w in speaker.split()}) if speaker else []


def labeled() -> list[tuple[str, str | None]]:
    out = []
    for path in LABELED:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            if line.strip():
                out.extend((st["text"], st.get("speaker")) for st in json.loads(line)["statements"])
    return out


def novel(n: int, seed: int) -> list[tuple[str, str | None]]:
    from bench_engine import novel_corpus

    return [(ev.text, ev.speaker) for ev in novel_corpus(n, seed)]


def fuzz(n: int, seed: int, analyzer: RuleAnalyzer) -> list[tuple[str, str | None]]:
    """Sentences cut and spliced at random, with lexicon phrases and punctuation sprinkled in."""
    rng = random.Random(seed)
    words = [w for text, _ in labeled() for w in text.split()]
    phrases = [p.rstrip("*") for p in analyzer._lexicon.phrases if p.isascii()]
    glue = [",", ";", ":", " and", " but", " if", ", and we", ", which", " no", " not", "?", ".", " May", " to",
            " 20%", " '", '"', " (", ")", " said", " Russia said", " were", " Should", " had"]
    out: list[tuple[str, str | None]] = []
    for _ in range(n):
        parts: list[str] = []
        for _ in range(rng.randint(3, 40)):
            r = rng.random()
            if r < 0.45:
                i = rng.randrange(len(words))
                parts.append(" ".join(words[i : i + rng.randint(1, 6)]))
            elif r < 0.8:
                p = rng.choice(phrases)
                parts.append(p.capitalize() if rng.random() < 0.15 else p)
            else:
                parts.append(rng.choice(glue))
        text = " ".join(parts).replace(" ,", ",") if rng.random() < 0.5 else " ".join(parts)
        cap = [w.strip(".,;:\"'()") for w in text.split() if w[:1].isupper()]
        speaker = rng.choice([None, "Anna Petrov", *(cap[:3] or ["Nobody"])])
        out.append((text, speaker))
    return out


def compare(name: str, items: list[tuple[str, str | None]], python: RuleAnalyzer, core: Any, show: int) -> int:
    bad = 0
    read = 0
    for text, speaker in items:
        native_text = text if text.isascii() else normalize_any(text)[0]
        if not native_text.isascii():
            continue
        speakers: list[str | None] = [speaker, None]
        cap = [w.strip(".,;:\"'()") for w in text.split()[1:] if w[:1].isupper()]
        if cap:
            speakers.append(cap[len(cap) // 2])
        for sp in dict.fromkeys(speakers):
            read += 1
            want = _shape(python.analyze(text, speaker=sp))
            got = _shape(_from_native(core.analyze(native_text, _parts(sp))))
            if want != got:
                bad += 1
                if bad <= show:
                    print(f"--- {name}: mismatch #{bad}\ntext: {text!r}\nspeaker: {sp!r}")
                    for label, w, g in zip(("claims", "relations", "undecided"), want, got, strict=True):
                        if w != g:
                            print(f"  {label}:\n    python: {w}\n    native: {g}")
    print(f"{name}: {read} readings, {bad} mismatches", flush=True)
    return bad


def bench(items: list[tuple[str, str | None]], python: RuleAnalyzer, core: Any) -> None:
    texts = [(t, _parts(s), s) for t, s in items if t.isascii()]
    t0 = time.perf_counter()
    for text, _, sp in texts:
        python.analyze(text, speaker=sp)
    t_py = time.perf_counter() - t0
    t0 = time.perf_counter()
    for text, parts, _ in texts:
        core.analyze(text, parts)
    t_core = time.perf_counter() - t0
    t0 = time.perf_counter()
    for text, parts, _ in texts:
        _from_native(core.analyze(text, parts))
    t_models = time.perf_counter() - t0
    n = len(texts)
    print(f"speed over {n} novel statements, one thread:\n  python rules:        {n / t_py:9.0f}/s"
          f"\n  native core.analyze: {n / t_core:9.0f}/s\n  native + models:     {n / t_models:9.0f}/s")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3, 4, 5])
    ap.add_argument("--novel", type=int, default=20000)
    ap.add_argument("--fuzz", type=int, default=20000)
    ap.add_argument("--show", type=int, default=5)
    ap.add_argument("--bench", action="store_true")
    args = ap.parse_args(argv)
    python = RuleAnalyzer(sentence_cache=0, native=False)
    core = core_for(python)
    bad = compare("labeled", labeled(), python, core, args.show)
    for seed in args.seeds:
        if args.novel:
            bad += compare(f"novel seed {seed}", novel(args.novel, seed), python, core, args.show)
        if args.fuzz:
            bad += compare(f"fuzz seed {seed}", fuzz(args.fuzz, seed, python), python, core, args.show)
    if args.bench and args.seeds:
        bench(novel(args.novel or 20000, args.seeds[0]), RuleAnalyzer(sentence_cache=0, native=False), core)
    print(f"total mismatches: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
