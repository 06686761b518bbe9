"""The native fold gives exactly what the Python fold gives: every state, every alert, step by step.

A differential test of ``monitor_native.Fold`` (``native/src/fold.rs``, glued by
``monitor/domain/nativefold.py``) against ``Detector.step``'s Python fold (``detector.py``,
``stance.py``, ``counterparts.py``), its specification. The same statements go through both,
one state per actor; after every step the new states must be equal, serialise to the same JSON
and report the same set fields (down to each stance and statement reference), and the alerts
likewise. Where the native fold declines a statement (``step`` returns None) the Python fold
runs, as ``Detector.step`` does; the tests count those and check they are only what may be
declined (text that is not ASCII once normalised).

Corpora: every labeled set (with the Python rules, the whole specification), the benchmark's
novel corpus (tens of thousands of statements, many actors and counterparts) and its labeled
remix (sentences repeat), republications, non-ASCII texts and speakers, stored states read back
from JSON, and several engine configurations. The gazetteer matching and the seen-window
fingerprint are also compared on their own, over fuzzed strings.

Without the module (the ``monitor_native`` fixture of conftest.py) the tests are skipped,
except under CI (``$CI`` set), where they fail.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from bench_corpus import bench_engine

from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.analysis.text import fingerprint_text
from monitor.domain.counterparts import Counterparts
from monitor.domain.detector import Detector
from monitor.domain.ids import digest
from monitor.domain.models import Alert, StanceState, StatementEvent
from monitor.domain.nativefold import NativeFold, native_fold, python_fold_detector
from monitor.domain.stance import EngineConfig
from monitor.domain.topics import TopicPack, load_pack
from monitor.evaluation import parse_cases

HERE = Path(__file__).parent
ROOT = HERE.parent
LABELED = [*sorted((HERE / "cases").glob("*.jsonl")), ROOT.parent / "shared" / "eval" / "dev_cases.jsonl"]
NOVEL = 20_000  # statements of the benchmark's novel corpus folded with the default configuration
CONFIGS = {
    "default": EngineConfig(),
    "no-window": EngineConfig(seen_window=0),
    "window-1": EngineConfig(seen_window=1, quote_chars=40),
    "eager": EngineConfig(
        escalation_threshold=0.5, escalation_floor=0.0, magnitude_ratio=1.01, magnitude_min_step=0.0,
        min_confidence=0.3, prior_min_confidence=0.3, escalation_min_confidence=0.2, seen_window=5, quote_chars=60,
    ),
    "strict": EngineConfig(
        escalation_threshold=4.0, escalation_floor=-6.0, magnitude_ratio=3.0, magnitude_min_step=20.0,
        min_confidence=0.9, prior_min_confidence=0.8, escalation_min_confidence=0.9, seen_window=200,
    ),
}


@cache
def _pack() -> TopicPack:
    return load_pack()


def _native(config: EngineConfig) -> tuple[Detector, NativeFold]:
    detector = Detector(RuleAnalyzer(_pack(), sentence_cache=0, native=True), config)
    fold = native_fold(detector)
    assert fold is not None, "the native fold must apply to the default engine"
    return detector, fold


def _reference(config: EngineConfig, *, python_rules: bool = False) -> Detector:
    """The Python fold, reading with the Python rules (the whole specification) or the native core."""
    if python_rules:
        return Detector(RuleAnalyzer(_pack(), sentence_cache=0, native=False), config)
    return python_fold_detector(RuleAnalyzer(_pack(), sentence_cache=0, native=True), config)


# -- comparing -----------------------------------------------------------------------------------


def _difference(
    prior: StanceState,
    expected: tuple[StanceState, list[Alert]],
    got: tuple[StanceState, list[Alert]],
    reference_prior: StanceState | None = None,
) -> str | None:
    """How ``got`` (a step from ``prior``) differs from ``expected`` (a step from ``reference_prior``,
    an equal state), None when it does not."""
    if reference_prior is None:
        reference_prior = prior
    (want, want_alerts), (have, have_alerts) = expected, got
    if type(have) is not StanceState:
        return f"state of type {type(have).__name__}"
    if have.model_dump_json() != want.model_dump_json():
        return f"state JSON\n  python {want.model_dump_json()}\n  native {have.model_dump_json()}"
    if have != want:
        return "states serialise the same but are not equal"
    if have.model_fields_set != want.model_fields_set:
        return f"state fields set {have.model_fields_set} != {want.model_fields_set}"
    if (have.topics is prior.topics) != (want.topics is reference_prior.topics):  # a republication keeps it
        return "the new state shares the prior state's dict of topics, or does not, unlike the Python fold's"
    for key, stance in have.topics.items():
        if stance is prior.topics.get(key):
            continue  # the prior's own stance, unchanged
        theirs = want.topics[key]
        if type(stance) is not type(theirs) or stance.model_fields_set != theirs.model_fields_set:
            return f"stance {key}: fields set {stance.model_fields_set} != {theirs.model_fields_set}"
        if stance.basis.model_fields_set != theirs.basis.model_fields_set:
            return f"stance {key}: basis fields set differs"
        if list(stance.__dict__) != list(theirs.__dict__):
            return f"stance {key}: field order {list(stance.__dict__)} != {list(theirs.__dict__)}"
    if [a.model_dump_json() for a in have_alerts] != [a.model_dump_json() for a in want_alerts]:
        return (
            f"alerts\n  python {[a.model_dump_json() for a in want_alerts]}\n"
            f"  native {[a.model_dump_json() for a in have_alerts]}"
        )
    for a, b in zip(have_alerts, want_alerts, strict=True):
        if type(a) is not Alert or a != b:
            return f"alert {b.id} not equal"
        if a.model_fields_set != b.model_fields_set or a.statement.model_fields_set != b.statement.model_fields_set:
            return f"alert {b.id}: fields sets differ"
    return None


@dataclass
class Tally:
    steps: int = 0
    declined: int = 0
    alerts: int = 0
    republished: int = 0
    mismatches: list[str] = field(default_factory=list)
    explanations: Counter[str] = field(default_factory=Counter)
    topics: Counter[str] = field(default_factory=Counter)  # alerts by topic, "@" and ":" kinds of keys


_REASON = re.compile(
    r"(reversed|rate raised|on the conflict scale|harder category|became a firm|explicit threat|Also:)"
)


def _compare(
    events: Iterable[StatementEvent],
    reference: Detector,
    detector: Detector,
    fold: NativeFold,
    tally: Tally,
    states: tuple[dict[str, StanceState], dict[str, StanceState]] | None = None,
) -> tuple[dict[str, StanceState], dict[str, StanceState]]:
    """Folds ``events`` through both, comparing after each step; keeps going after a mismatch
    (from the Python fold's state) to report up to a few of them."""
    mine, theirs = states or ({}, {})
    for ev in events:
        prior = theirs.get(ev.actor) or StanceState.empty(ev.actor)
        own_prior = mine.get(ev.actor) or StanceState.empty(ev.actor)
        expected = reference.step(prior, ev)
        got = fold.step(own_prior, ev)
        if got is None:
            tally.declined += 1
            got = detector.step(own_prior, ev)
        tally.steps += 1
        tally.alerts += len(expected[1])
        tally.republished += expected[0].statements == prior.statements + 1 and expected[0].seen == prior.seen != ()
        for a in expected[1]:
            tally.explanations.update(_REASON.findall(a.explanation))
            base = re.split("[@:]", a.topic)[0]
            tally.topics.update([base, *(base + sep for sep in "@:" if sep in a.topic)])
        problem = _difference(own_prior, expected, got, prior)
        if problem is not None:
            tally.mismatches.append(f"{ev.id} ({ev.actor}): {ev.text[:120]!r}: {problem}")
            got = expected
        mine[ev.actor], theirs[ev.actor] = got[0], expected[0]
    return mine, theirs


def _assert_same(tally: Tally) -> None:
    assert not tally.mismatches, (
        f"{len(tally.mismatches)} of {tally.steps} steps differ:\n" + "\n".join(tally.mismatches[:5])
    )


# -- corpora -------------------------------------------------------------------------------------


@cache
def _novel(n: int, seed: int) -> tuple[StatementEvent, ...]:
    return tuple(bench_engine().novel_corpus(n, seed))


@cache
def _labeled_cases() -> tuple[tuple[StatementEvent, ...], ...]:
    """The statements of every labeled case, one sequence per case (each starts from empty states)."""
    out: list[tuple[StatementEvent, ...]] = []
    for path in LABELED:
        if path.exists():
            cases = parse_cases(path.read_text("utf-8").splitlines(), name=path.name)
            out.extend(tuple(case.statements) for case in cases)
    return tuple(out)


def _event(i: int, actor: str, text: str, speaker: str = "Ann Example", prefix: str = "t") -> StatementEvent:
    return StatementEvent(
        id=f"{prefix}-{i}", actor=actor, speaker=speaker, text=text,
        published_at=datetime(2024, 3, 1, tzinfo=UTC) + timedelta(hours=i), source_url=f"https://example.org/{i}",
    )


# -- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("config", ["default", "no-window", "eager", "strict"])
def test_labeled_sets_with_the_python_rules(monitor_native: ModuleType, config: str) -> None:
    """Every labeled case, against the whole specification (Python rules, Python fold)."""
    cfg = CONFIGS[config]
    reference = _reference(cfg, python_rules=True)
    detector, fold = _native(cfg)
    tally = Tally()
    for case in _labeled_cases():
        _compare(case, reference, detector, fold, tally)
    _assert_same(tally)
    assert tally.steps > 1000 and tally.alerts > 100
    # only non-ASCII texts may be declined, and the labeled sets have few
    assert tally.declined <= sum(not e.text.isascii() for case in _labeled_cases() for e in case)


def test_novel_corpus_step_by_step(monitor_native: ModuleType) -> None:
    """Tens of thousands of novel statements by hundreds of actors: every state and alert."""
    events = _novel(NOVEL, 7)
    detector, fold = _native(CONFIGS["default"])
    tally = Tally()
    _compare(events, _reference(CONFIGS["default"]), detector, fold, tally)
    _assert_same(tally)
    assert tally.steps == NOVEL and tally.declined == 0
    assert tally.alerts > NOVEL // 5
    # the comparison went through every kind of alert explanation the fold writes
    for reason in ("reversed", "rate raised", "on the conflict scale", "harder category", "became a firm",
                   "explicit threat", "Also:"):
        assert tally.explanations[reason] > 0, f"no alert says {reason!r}: {tally.explanations}"


@pytest.mark.parametrize("config", ["no-window", "window-1", "eager", "strict"])
def test_novel_corpus_other_configurations(monitor_native: ModuleType, config: str) -> None:
    events = _novel(6000, 11)
    detector, fold = _native(CONFIGS[config])
    tally = Tally()
    _compare(events, _reference(CONFIGS[config]), detector, fold, tally)
    _assert_same(tally)
    assert tally.steps == 6000 and tally.declined == 0


def test_labeled_remix_and_republications(monitor_native: ModuleType) -> None:
    """Sentences that repeat (the labeled remix), whole statements published again later, by the
    same actor and by others, with other case and punctuation (the same words: republications)."""
    base = list(bench_engine().labeled_corpus(3000, 5))
    rng = random.Random(3)
    events: list[StatementEvent] = []
    for i, ev in enumerate(base):
        events.append(ev)
        if i > 10 and rng.random() < 0.3:
            old = base[rng.randrange(max(0, i - 60), i)]
            text = old.text if rng.random() < 0.5 else "  " + old.text.upper().replace(".", " !") + " "
            actor = old.actor if rng.random() < 0.8 else ev.actor
            events.append(old.model_copy(update={"id": f"{old.id}-again-{i}", "text": text, "actor": actor}))
    for config in ("default", "window-1", "no-window"):
        detector, fold = _native(CONFIGS[config])
        tally = Tally()
        _compare(events, _reference(CONFIGS[config]), detector, fold, tally)
        _assert_same(tally)
        if config == "default":
            assert tally.republished > 300, tally.republished


def test_non_ascii_texts_and_speakers(monitor_native: ModuleType) -> None:
    """Typographic quotes normalise to ASCII (the native fold takes them, fingerprinting the raw
    text as Python does); other non-ASCII letters are declined; non-ASCII speakers and long texts
    (the alert quote is clipped by characters) are taken."""
    events = list(_novel(3000, 13))
    rng = random.Random(8)
    odd: list[StatementEvent] = []
    kinds = Counter[str]()
    for i, ev in enumerate(events):
        r = rng.random()
        if r < 0.15:
            text = ev.text.replace(" we ", " \u201cwe ").replace(".", ".\u201d", 1).replace("'", "\u2019")
            kinds["quotes"] += text != ev.text
            odd.append(ev.model_copy(update={"text": text}))
        elif r < 0.2:
            odd.append(ev.model_copy(update={"text": ev.text.replace("the ", "the Erdo\u011fan ", 1)}))
            kinds["letters"] += 1
        elif r < 0.3:
            odd.append(ev.model_copy(update={"speaker": "Recep Tayyip Erdo\u011fan \u212a.", "text": ev.text}))
        elif r < 0.33:
            long = " ".join([ev.text] * 30)
            odd.append(ev.model_copy(update={"text": long + " \u00e9t\u00e9 " * (i % 2)}))
            kinds["long"] += 1
        else:
            odd.append(ev)
    detector, fold = _native(CONFIGS["default"])
    tally = Tally()
    _compare(odd, _reference(CONFIGS["default"]), detector, fold, tally)
    _assert_same(tally)
    assert kinds["quotes"] > 100 and kinds["long"] > 50
    assert 0 < tally.declined <= kinds["letters"] + kinds["long"]


def test_states_read_back_from_json(monitor_native: ModuleType) -> None:
    """States as a store gives them back (validated from JSON, not the objects the fold built)."""
    events = _novel(4000, 17)
    detector, fold = _native(CONFIGS["default"])
    reference = _reference(CONFIGS["default"])
    tally = Tally()
    _, theirs = _compare(events[:2000], reference, detector, fold, tally)
    stored = {actor: StanceState.model_validate_json(s.model_dump_json()) for actor, s in theirs.items()}
    _compare(events[2000:], reference, detector, fold, tally, (dict(stored), dict(stored)))
    _assert_same(tally)
    assert tally.declined == 0


def test_declines_stances_it_did_not_write(monitor_native: ModuleType) -> None:
    """A stored stance holding a value the engine never writes (a plain string for an enum): the
    native fold declines rather than read it differently."""
    _, fold = _native(CONFIGS["default"])
    reference = _reference(CONFIGS["default"])
    first = _event(1, "kremlin", "We will never send troops to Ukraine.")
    state, _ = reference.step(StanceState.empty("kremlin"), first)
    assert state.topics
    odd_topics = {k: s.model_construct(**{**s.__dict__, "polarity": s.polarity.value}) for k, s in state.topics.items()}
    odd = state.model_copy(update={"topics": odd_topics})
    second = _event(2, "kremlin", "We will send troops to Ukraine next week.")
    got = fold.step(odd, second)
    if got is not None:  # taken: then it must be what the Python fold gives
        assert _difference(odd, reference.step(odd, second), got) is None


def test_user_topic_pack(monitor_native: ModuleType, tmp_path: Path) -> None:
    """A user's topic pack laid over the built-in one: its topics (one kept per counterpart, one of
    another severity, with objects) are folded natively as in Python."""
    pack = tmp_path / "arctic.yaml"
    pack.write_text(json.dumps({
        "version": "user-1",
        "topics": [
            {"id": "arctic_shipping", "name": "Arctic shipping", "severity": "critical", "per_counterpart": True,
             "cues": ["northern sea route", "arctic shipping"], "intensity": {"pro": 2, "contra": -3},
             "objects": {"icebreakers": ["icebreaker", "icebreakers"]}},
            {"id": "fishing_quotas", "name": "Fishing quotas", "severity": "low",
             "cues": ["fishing quotas", "fishing rights"], "intensity": {"pro": 1, "contra": -2}},
        ],
    }))
    config = EngineConfig(topic_packs=(str(pack),))
    user_pack = load_pack(config.topic_packs)
    detector = Detector(RuleAnalyzer(user_pack, sentence_cache=0, native=True), config)
    fold = native_fold(detector)
    assert fold is not None
    reference = python_fold_detector(RuleAnalyzer(user_pack, sentence_cache=0, native=True), config)
    rng = random.Random(12)
    subjects = ["We", "Russia", "Our government", "The ministry"]
    verbs = ["will keep open", "will close", "support", "oppose", "will never accept", "may reconsider",
             "will block", "welcome"]
    objects = ["the Northern Sea Route", "Arctic shipping", "icebreakers on the Northern Sea Route",
               "fishing quotas", "new fishing rights"]
    tails = ["", " for Norway", " for China's ships", " to Japan and Korea", " in Oslo", " for Finland"]
    events = [
        _event(i, rng.choice(["kremlin", "norway_mfa", "china_mfa"]),
               f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}{rng.choice(tails)}.")
        for i in range(3000)
    ]
    events += list(_novel(2000, 19))
    tally = Tally()
    _compare(events, reference, detector, fold, tally)
    _assert_same(tally)
    assert tally.alerts > 100 and tally.declined == 0
    assert tally.topics["arctic_shipping@"] > 10 and tally.topics["arctic_shipping:"] > 10, tally.topics
    assert tally.topics["fishing_quotas"] > 10, tally.topics


class _OwnState(StanceState):
    """A state of another class (a republication keeps the class in the Python fold)."""


def test_declines_states_of_other_classes(monitor_native: ModuleType) -> None:
    _, fold = _native(CONFIGS["default"])
    event = _event(1, "kremlin", "We will never send troops to Ukraine.")
    assert fold.step(_OwnState(actor="kremlin"), event) is None
    assert fold.step(StanceState(actor="kremlin"), event) is not None


def test_applies_to_the_default_engine_only(monitor_native: ModuleType) -> None:
    assert native_fold(Detector(RuleAnalyzer(_pack(), native=True))) is not None
    assert native_fold(Detector()) is not None or not RuleAnalyzer().native
    assert native_fold(Detector(RuleAnalyzer(_pack(), native=False))) is None
    assert native_fold(_reference(CONFIGS["default"])) is None

    class Custom(Detector):
        pass

    assert native_fold(Custom(RuleAnalyzer(_pack(), native=True))) is None


def test_seen_key_matches_the_fingerprint(monitor_native: ModuleType) -> None:
    rng = random.Random(4)
    alphabet = string.ascii_letters + string.digits + "_ \t\n\x0b\x0c\r\x1c\x1f.,;:'\"!?-()%&*"
    texts = ["", " ", "_", "a", "Hello, World!", "  A_b  c9 ", *(e.text for e in _novel(2000, 7))]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(20_000)]
    for text in texts:
        assert monitor_native.Fold.seen_key(text) == digest(fingerprint_text(text), size=16), repr(text)


def test_counterparts_match(monitor_native: ModuleType) -> None:
    """``own`` and ``counterpart`` against ``Counterparts`` over names in every context the
    gazetteer pattern tells apart, and fuzzed strings of name fragments."""
    _, fold = _native(CONFIGS["default"])
    gaz = Counterparts.builtin()
    names = [n for n in gaz._by_name if n.isascii()]
    ids = sorted(set(gaz._by_name.values()))
    actors = ["kremlin", "white_house", "us_white_house_press", "south_korea_mofa", "russia", "nato", "eu_council",
              "ukraine_mfa", "x_south_africa", "south_africa", "south", "china_mfa_spokesperson", *ids]
    for actor in actors:
        assert fold.native.own(actor) == gaz.own(actor), actor
    rng = random.Random(6)
    contexts = ["{}", "in {}", "In {}", "at {}", "At {}", "rain {}", "cat {}", ".{}", "x{}", "{}'s", "{}'sx",
                "{}s", "{}_", "the {}-led", "({})", "{}.", "Within {}", "{} and {}", "{}, not {}", "\"{}\""]
    samples = []
    for _ in range(20_000):
        template = rng.choice(contexts)
        samples.append(template.format(*(rng.choice(names) for _ in range(template.count("{}")))))
    pieces = [*names, *(n[: rng.randint(1, len(n))] for n in names), " ", " in ", " at ", ".", "'s", ",", "-", "x"]
    samples += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(20_000)]
    for sentence in samples:
        for own in (None, "russia", "united_states", rng.choice(ids)):
            assert fold.native.counterpart(sentence, own) == gaz.counterpart(sentence, own), (sentence, own)
