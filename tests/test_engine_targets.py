"""The stance engine against its targets: labeled cases, the Meduza case, readable alerts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.detector import Detector
from monitor.domain.models import AlertKind, StanceState, StatementEvent
from monitor.evaluation import evaluate, parse_cases, run_case

HERE = Path(__file__).parent
OWN = HERE / "cases" / "own_cases.jsonl"
HOLDOUT = HERE / "cases" / "holdout_cases.jsonl"
DEV = HERE.parent.parent / "shared" / "eval" / "dev_cases.jsonl"
OWN_2 = HERE / "cases" / "own_cases_2.jsonl"  # written for the generalised verb classes and ladder
BLIND = HERE / "cases" / "blind_cases.jsonl"  # written by someone who never saw the engine
BLIND_2 = HERE / "cases" / "blind_cases_2.jsonl"  # a second such set, by another writer
BLIND_3 = HERE / "cases" / "blind_cases_3.jsonl"  # a third blind set, scored blind at 0.73 / 0.33
BLIND_4 = HERE / "cases" / "blind_cases_4.jsonl"  # a fourth, scored blind at 0.44 / 0.38
BLIND_5 = HERE / "cases" / "blind_cases_5.jsonl"  # a fifth, scored blind at 0.60 / 0.33
BLIND_6 = HERE / "cases" / "blind_cases_6.jsonl"  # a sixth, scored blind at 0.64 / 0.35
BLIND_7 = HERE / "cases" / "blind_cases_7.jsonl"  # a seventh, scored blind at 0.83 / 0.37
BLIND_8 = HERE / "cases" / "blind_cases_8.jsonl"  # an eighth, scored blind at 0.91 / 0.37
BLIND_9 = HERE / "cases" / "blind_cases_9.jsonl"  # a ninth, scored blind at 1.00 / 0.23
BLIND_10 = HERE / "cases" / "blind_cases_10.jsonl"  # a tenth, scored blind at 0.91 / 0.37
BLIND_11 = HERE / "cases" / "blind_cases_11.jsonl"  # an eleventh, scored blind at 0.33 / 0.15
# the dev set's 30 scenarios reworded (a) and transplanted to other actors (b) by writers who never saw the engine
PARA_A = HERE / "cases" / "para_cases_a.jsonl"  # scored blind at 0.89 / 0.40
PARA_B = HERE / "cases" / "para_cases_b.jsonl"  # scored blind at 0.91 / 0.50
# two more, written after the a/b round and scored once before any change for them
PARA_C = HERE / "cases" / "para_cases_c.jsonl"  # news-agency copy, scored blind at 0.65 / 0.65
PARA_D = HERE / "cases" / "para_cases_d.jsonl"  # other actors, plain-spoken, scored blind at 0.67 / 0.40
OWN_3 = HERE / "cases" / "own_cases_3.jsonl"  # written for the generalisation round, in four batches


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


def test_own_cases_cover_the_phenomena() -> None:
    cases = parse_cases(OWN.read_text().splitlines(), name=str(OWN))
    assert len(cases) >= 60
    actors = {s.actor for c in cases for s in c.statements}
    assert len(actors) >= 10
    kinds = {e.kind for c in cases for e in c.expected}
    assert kinds == {AlertKind.CONTRADICTION, AlertKind.ESCALATION}
    assert sum(1 for c in cases if not c.expected) >= 25  # plenty of "raise nothing" cases


@pytest.mark.parametrize("path", [OWN, HOLDOUT], ids=["own", "holdout"])
def test_engine_meets_targets_on_own_labeled_sets(detector: Detector, path: Path) -> None:
    report = evaluate(detector, parse_cases(path.read_text().splitlines(), name=str(path)))
    assert report.precision >= 0.95, report.failures
    assert report.recall >= 0.90, report.failures


def test_engine_meets_targets_on_second_own_set(detector: Detector) -> None:
    cases = parse_cases(OWN_2.read_text().splitlines(), name=str(OWN_2))
    assert len(cases) >= 20
    report = evaluate(detector, cases)
    assert report.precision >= 0.95, report.failures
    assert report.recall >= 0.90, report.failures


# Blind sets: written by someone who saw neither the engine nor the other sets, scored once blind,
# then developed against. Their floors (the achieved figures rounded down) guard against regressions;
# they are not estimates for unseen wording (see docs/stance-engine.md, "The honest estimate").
BLIND_FLOORS = [
    # (file, cases, precision floor, recall floor)
    # 1: first run 0.85 / 0.37; half A developed against, then half B's failures too; now 1.00 / 1.00
    pytest.param(BLIND, 50, 0.95, 0.95, id="blind-1"),
    # 2: first run 0.82 / 0.375; now 1.00 / 0.917. Still missed: a conditional threat phrased "Should X
    # dare" hedged by "could"; a renounced territorial claim outvoted by "abide by" and "accepts"
    pytest.param(BLIND_2, 40, 1.0, 0.87, id="blind-2"),
    # 3: first run 0.73 / 0.33; the generalisation round (vocabularies, verb classes, threat ladder);
    # now 1.00 / 0.875. Still missed: countermeasures after a warning (entity listings), wider permission
    # to use supplied missiles, a supply cut-off threatened in reply to penalties
    pytest.param(BLIND_3, 40, 0.95, 0.85, id="blind-3"),
    # 4: first run 0.44 / 0.38; the scope round (comma clauses, "no" scope, opaque phrases, conditional
    # threats) and the counterpart fold; now 1.00 / 1.00
    pytest.param(BLIND_4, 40, 0.95, 0.95, id="blind-4"),
    # 5: first run 0.60 / 0.33 on the engine after both rounds, the same as before them: the figure to
    # quote for unseen wording; then own speakers "told reporters", extending a measure, stops put off,
    # asset freezes: 0.71 / 0.56; after the dismissal round (see blind-6): 0.92 / 0.67
    pytest.param(BLIND_5, 36, 0.90, 0.65, id="blind-5"),
    # 6: first run 0.64 / 0.35; the dismissal round (reports denied by a verb that is also a stance word,
    # negated threat words, diplomatic relations and border crossings as topics, a refusal of a whole
    # topic meeting a weapon system): 0.90 / 0.73; at the end of the session 0.95 / 0.73
    pytest.param(BLIND_6, 40, 0.90, 0.70, id="blind-6"),
    # 7: first run 0.83 / 0.37 (the engine before this round: 0.80 / 0.30); then ruptures, protests,
    # treaties signed, concern over a thing: 0.94 / 0.56; at the end of the session 1.00 / 0.59
    pytest.param(BLIND_7, 40, 0.90, 0.55, id="blind-7"),
    # 8: first run 0.91 / 0.37 (the engine from before the blind-6 round: 0.88 / 0.26); then membership of
    # international bodies, output cuts as stops, militarising a border, bans "in principle"; 0.92 / 0.44;
    # with the ladder of a topic family (a first hostile claim against the latest warning): 0.93 / 0.48
    pytest.param(BLIND_8, 40, 0.90, 0.48, id="blind-8"),
    # 9: first run 1.00 / 0.23 (the engine from before the blind-6 round: 1.00 / 0.19); then humanitarian
    # aid as a topic, a system meeting the latest refusal about any state, licences to obtain, shares of
    # a cut, envoys summoned as protests; now 1.00 / 0.42
    pytest.param(BLIND_9, 40, 0.95, 0.42, id="blind-9"),
    # 10: first run 0.91 / 0.37; most misses are escalations from a vague warning to a concrete act;
    # with the ladder of a topic family: 0.92 / 0.41
    pytest.param(BLIND_10, 40, 0.90, 0.40, id="blind-10"),
    # 11: first run 0.33 / 0.15 (long newswire sentences); then an operator negating the change word
    # after it ("no intention of moving it"), closures kept in force, firmness "not up for negotiation",
    # "keep" before what others go on saying: 0.67 / 0.15; with the ladder of a topic family: 0.71 / 0.18;
    # red lines drawn without a topic ("all options remain on the table") as warnings: 0.86 / 0.22;
    # contingent readiness as a hedge, the dev paraphrase round: 1.00 / 0.30
    pytest.param(BLIND_11, 40, 0.95, 0.29, id="blind-11"),
    # the dev set reworded: first runs 0.89 / 0.40 and 0.91 / 0.50; then ceasefires on the whole front,
    # troops going home, lawfully elected leaders, replies and reactions as retaliation, "per cent",
    # direct participation in a war as a threat: 0.93 / 0.65 both; then troops staying on, sitting down
    # with someone, halting the fighting, refusals judged unthinkable or leading nowhere, accepting an
    # occupation as a surrender of a claim, a question declared closed: 0.94 / 0.75 and 1.00 / 0.75; staying
    # is the state stayed in ("will stay shut"), "willing to consider" hedges: 0.94 / 0.80 and 1.00 / 0.75
    # a question the next sentence answers "no" is denied, another party's seizure no threat of ours:
    # a 1.00 / 0.80, c 0.88 / 0.70, d 0.83 / 0.50; "the whole of" a country claimed, a joint assault by
    # both, a nuclear response: a 1.00 / 0.90, b 1.00 / 0.80, c 0.88 / 0.75
    pytest.param(PARA_A, 30, 0.95, 0.90, id="para-a"),
    pytest.param(PARA_B, 30, 0.95, 0.80, id="para-b"),
    # c and d: first runs 0.65 / 0.65 and 0.67 / 0.40 (the engine from the start of the session: 0.63 / 0.50
    # and 0.70 / 0.35); then questions asked at a press conference, a one-word reply, "so long as" as a
    # condition, a ladder rung only for a clearly hostile act: 0.81 / 0.65 and 0.73 / 0.40; armed groups'
    # names hide their words, reciprocal duties as countermeasures, dependable suppliers, war aims on the
    # force ladder: 0.81 / 0.65 and 0.77 / 0.50; the answer after "asked about X," read as the speaker's
    # own, "while" as a subordinator: 0.82 / 0.70 and 0.77 / 0.50
    pytest.param(PARA_C, 30, 0.85, 0.75, id="para-c"),
    pytest.param(PARA_D, 30, 0.80, 0.50, id="para-d"),
]


@pytest.mark.parametrize(("path", "size", "precision", "recall"), BLIND_FLOORS)
def test_engine_on_blind_sets_holds_its_floors(
    detector: Detector, path: Path, size: int, precision: float, recall: float
) -> None:
    cases = parse_cases(path.read_text().splitlines(), name=str(path))
    assert len(cases) == size
    report = evaluate(detector, cases)
    assert report.precision >= precision, report.failures
    assert report.recall >= recall, report.failures


# a dismissed report reads as the opposite of what it reports, whichever verb dismisses it; the verb
# itself ("denies" is also a stance word) votes nothing; sanctions evaded are sanctions undone; a
# negated threat word is no threat
_DISMISSED = [
    ("The ministry denies reports that the sanctions will be lifted.", "sanctions", "pro"),
    ("The department denied media reports that Manila had agreed to remove the ship from the shoal.",
     "territorial_claims", "pro"),
    ("The ministry rejected reports that talks had been suspended.", "negotiations", "pro"),
    ("The spokesman rejected media reports that the talks had been suspended.", "negotiations", "pro"),
    ("Reports that the ministry has stopped the talks are untrue, the spokesperson said.", "negotiations", "pro"),
    ("We will not allow anyone to circumvent the sanctions.", "sanctions", "pro"),
    ("Kazakhstan will not allow its territory to be used to evade sanctions against Russia.", "sanctions", "pro"),
    # a threat word right after a negator threatens nothing
    ("Mexico will not answer tariffs with tariffs.", "trade_tariffs", "contra"),
    ("Our reply to the duties remains dialogue rather than retaliation.", "retaliation", "contra"),
]


# an operator right before a change word negates the change: a reaffirmation, not a vote against the topic
_NEGATED_CHANGE = [
    ("The government has no plans to change its sanctions policy.", "sanctions"),
    ("We refuse to revise our position on the sanctions.", "sanctions"),
    ("The allies have no plans to adjust the exercise.", "military_exercises"),
]


# a red line drawn in a sentence naming no topic warns of retaliation, as "we warn" does
_RED_LINE = [
    "Turkey will not tolerate terrorist formations along its southern border.",
    "Israel will not accept continued fire on its northern communities, and we are prepared for every scenario.",
    "All options remain on the table.",
]


# "Asked about X, the spokesman said Y": the question is someone else's words, the answer the speaker's own
_ANSWERED = [
    ("Asked about the planned drills, the chief cabinet secretary said they will go ahead as scheduled.",
     "military_exercises", "pro"),
    ("Asked about the latest sanctions package, the spokesman said Moscow would respond with countermeasures.",
     "retaliation", "pro"),
]


# a question the next sentence answers "no" denies what it asks about
_RHETORICAL = [
    ("When did the commander ever say our objectives were shifting? Never.", "war_aims", "pro"),
    ("Who in Kyiv ever suggested surrendering the peninsula? No one, the adviser said.", "territorial_claims", "pro"),
]


@pytest.mark.parametrize(("text", "topic", "polarity"), _RHETORICAL)
def test_a_question_answered_no_is_denied(text: str, topic: str, polarity: str) -> None:
    for analyzer in (RuleAnalyzer(), RuleAnalyzer(native=False)):
        claims = analyzer.analyze(text, speaker="spokesperson").claims
        assert [(c.topic, c.polarity.value) for c in claims] == [(topic, polarity)]


@pytest.mark.parametrize(("text", "topic", "polarity"), _ANSWERED)
def test_the_answer_after_a_question_is_the_speakers_own(text: str, topic: str, polarity: str) -> None:
    claims = RuleAnalyzer().analyze(text, speaker="spokesperson").claims
    assert (topic, polarity) in [(c.topic, c.polarity.value) for c in claims]


@pytest.mark.parametrize("text", _RED_LINE)
def test_a_red_line_without_a_topic_warns_of_retaliation(text: str) -> None:
    claims = RuleAnalyzer().analyze(text, speaker="spokesperson").claims
    assert [(c.topic, c.polarity.value) for c in claims] == [("retaliation", "pro")]
    assert claims[0].intensity < 0


@pytest.mark.parametrize(("text", "topic"), _NEGATED_CHANGE)
def test_an_operator_before_a_change_word_reaffirms(text: str, topic: str) -> None:
    analysis = RuleAnalyzer().analyze(text, speaker="spokesperson")
    assert not analysis.claims, analysis
    assert [(r.topic, r.relation) for r in analysis.relations] == [(topic, "same")]


@pytest.mark.parametrize(("text", "topic", "polarity"), _DISMISSED)
def test_dismissals_evasion_and_negated_threats_read_as_their_opposite(text: str, topic: str, polarity: str) -> None:
    from monitor.domain.analysis.rules import RuleAnalyzer

    analyzer = RuleAnalyzer()
    who = "spokesperson"
    native, python = analyzer.analyze(text, speaker=who), analyzer._analyze(text, frozenset({who}))
    for analysis in (native, python):
        got = {c.topic.split(":")[0]: c.polarity.value for c in analysis.claims}
        assert got == {topic: polarity}, (text, analysis)


def test_engine_meets_targets_on_third_own_set(detector: Detector) -> None:
    """Written for the generalisation round in four batches, each scored once before tuning on it:
    44 cases (first run 0.92 / 0.38), 20 cases (0.75 / 0.50; the engine before the round scored the
    same), 16 cases (0.80 / 0.40; the engine before the round 1.00 / 0.30), 16 cases (0.75 / 0.30; the
    engine before the round the same). Developed against since (0.98 / 0.92 on all 96), so these floors
    are no estimate for unseen text: the first runs are (see docs/stance-engine.md)."""
    cases = parse_cases(OWN_3.read_text().splitlines(), name=str(OWN_3))
    assert len(cases) >= 30
    assert sum(1 for c in cases if not c.expected) >= 12  # reaffirmations, reports, hedges, other actors
    report = evaluate(detector, cases)
    assert report.precision >= 0.95, report.failures
    assert report.recall >= 0.90, report.failures


# verb classes in every inflection: each (topic, objects, starting verbs, stopping verbs) is read in five
# frames ("we will V", "X will be Ved", "we have Ved", "we are Ving", "we decided to V")
_GRID: list[tuple[str, list[str], list[tuple[str, str, str]], list[tuple[str, str, str]]]] = [
    ("negotiations", ["talks with Kyiv", "the dialogue with Beijing"],
     [("resume", "resumed", "resuming"), ("start", "started", "starting")],
     [("suspend", "suspended", "suspending"), ("break off", "broken off", "breaking off"), ("end", "ended", "ending")]),
    ("ceasefire", ["the ceasefire", "a truce"],
     [("accept", "accepted", "accepting"), ("respect", "respected", "respecting"), ("extend", "extended", "extending")],
     [("reject", "rejected", "rejecting"), ("abandon", "abandoned", "abandoning")]),
    ("sanctions", ["the sanctions", "the oil embargo"],
     [("keep", "kept", "keeping"), ("tighten", "tightened", "tightening")],
     [("lift", "lifted", "lifting"), ("ease", "eased", "easing"), ("scrap", "scrapped", "scrapping")]),
    ("arms_supplies", ["F-16s to Kyiv", "Leopard tanks to Kyiv"],
     [("send", "sent", "sending"), ("supply", "supplied", "supplying"), ("provide", "provided", "providing")],
     [("halt", "halted", "halting"), ("withhold", "withheld", "withholding")]),
    ("energy_supplies", ["gas to Europe", "LNG to Europe"],
     [("supply", "supplied", "supplying"), ("resume", "resumed", "resuming")],
     [("cut off", "cut off", "cutting off"), ("phase out", "phased out", "phasing out")]),
    ("prisoner_exchanges", ["the detainees", "the hostages"],
     [("release", "released", "releasing"), ("hand over", "handed over", "handing over")], []),
    ("military_exercises", ["the joint drills", "the naval exercise"],
     [("hold", "held", "holding"), ("resume", "resumed", "resuming")],
     [("cancel", "cancelled", "cancelling"), ("postpone", "postponed", "postponing"),
      ("scale down", "scaled down", "scaling down")]),
    ("alliance_membership", ["the CSTO", "the alliance"], [("join", "joined", "joining")],
     [("leave", "left", "leaving"), ("quit", "quit", "quitting")]),
    ("trade_tariffs", ["the tariffs on steel", "the duties on cars"],
     [("raise", "raised", "raising"), ("impose", "imposed", "imposing")],
     [("lift", "lifted", "lifting"), ("cut", "cut", "cutting"), ("scrap", "scrapped", "scrapping")]),
    ("recognition", ["the election result", "the new government"],
     [("recognise", "recognised", "recognising"), ("acknowledge", "acknowledged", "acknowledging")],
     [("reject", "rejected", "rejecting")]),
]
_FRAMES = [
    "We will {v} {o}.", "{O} will be {vpp}.", "We have {vpp} {o}.", "We are {ving} {o}.", "We decided to {v} {o}.",
]


def test_verb_classes_read_in_every_inflection() -> None:
    from monitor.domain.analysis.rules import RuleAnalyzer

    analyzer = RuleAnalyzer()
    wrong: list[str] = []
    n = 0
    for topic, objects, starts, stops in _GRID:
        for want, verbs in (("pro", starts), ("contra", stops)):
            for v, vpp, ving in verbs:
                for o in objects:
                    for frame in _FRAMES:
                        text = frame.format(v=v, vpp=vpp, ving=ving, o=o, O=o[0].upper() + o[1:])
                        claims = [c for c in analyzer.analyze(text).claims if c.topic.split(":")[0] == topic]
                        n += 1
                        if not claims or claims[0].polarity.value != want:
                            wrong.append(text)
    assert n >= 400
    assert len(wrong) <= n // 100, wrong


@pytest.mark.skipif(not DEV.exists(), reason="shared development set not present")
def test_engine_meets_targets_on_dev_set(detector: Detector) -> None:
    report = evaluate(detector, parse_cases(DEV.read_text().splitlines(), name=str(DEV)))
    assert report.precision >= 0.95, report.failures
    assert report.recall >= 0.90, report.failures


def _events(actor: str, rows: list[tuple[str, str]]) -> list[StatementEvent]:
    return [
        StatementEvent(
            id=f"m-{i}", actor=actor, speaker=speaker, text=text,
            published_at=f"2024-11-0{i}T10:00:00Z", source_url=f"https://example.org/{i}",
        )
        for i, (speaker, text) in enumerate(rows, start=1)
    ]


def _fold(detector: Detector, events: list[StatementEvent]) -> tuple[StanceState, list[object]]:
    state = StanceState.empty(events[0].actor)
    alerts: list[object] = []
    for ev in events:
        state, raised = detector.step(state, ev)
        alerts.extend(raised)
    return state, alerts


def test_meduza_case_raises_nothing(detector: Detector) -> None:
    events = _events("kremlin", [
        ("Vladimir Putin", "The goals of the special military operation have not changed and will be achieved."),
        ("Vladimir Putin",
         "We are ready for dialogue with Mr Trump. If he wants to resume contacts, we have nothing against it."),
        ("Dmitry Peskov",
         "Readiness for dialogue does not mean that our goals have changed. The president never said the "
         "goals were changing. On the contrary, he has repeatedly said that they remain the same."),
    ])
    state, alerts = _fold(detector, events)
    assert alerts == []
    assert state.topics["war_aims"].support >= 2


def test_alert_is_readable_on_its_own(detector: Detector) -> None:
    events = _events("white_house", [
        ("John Kirby", "We have no plans to send F-16s to Ukraine."),
        ("Joe Biden", "The United States will deliver F-16 fighter jets to Ukraine."),
    ])
    _, alerts = _fold(detector, events)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.kind is AlertKind.CONTRADICTION  # type: ignore[attr-defined]
    assert alert.prior.quote and alert.statement.quote  # type: ignore[attr-defined]
    assert alert.prior.source_url == "https://example.org/1"  # type: ignore[attr-defined]
    assert alert.statement.source_url == "https://example.org/2"  # type: ignore[attr-defined]
    assert "F-16" in alert.topic_name or "fighter" in alert.topic_name  # type: ignore[attr-defined]
    assert "no plans" in " ".join(alert.cues) or "deliver" in " ".join(alert.cues)  # type: ignore[attr-defined]
    assert "reversed" in alert.explanation and "\n" not in alert.explanation  # type: ignore[attr-defined]
    assert alert.engine == detector.version  # type: ignore[attr-defined]


def test_same_input_same_output() -> None:
    cases = parse_cases(OWN.read_text().splitlines(), name=str(OWN))
    a = [[x.model_dump_json() for x in run_case(Detector(), c)] for c in cases]
    b = [[x.model_dump_json() for x in run_case(Detector(), c)] for c in cases]
    assert a == b


def test_state_stays_small_and_seen_bounded(detector: Detector) -> None:
    cases = parse_cases(OWN.read_text().splitlines(), name=str(OWN))
    state = StanceState.empty("kremlin")
    for i, ev in enumerate(s for c in cases for s in c.statements):
        state, _ = detector.step(state, ev.model_copy(update={"actor": "kremlin", "id": f"x{i}"}))
    assert len(state.seen) <= detector.config.seen_window
    for stance in state.topics.values():
        assert len(stance.model_dump_json().encode()) <= 2048


def test_undecided_is_recorded_not_guessed(detector: Detector) -> None:
    events = _events("kremlin", [("Dmitry Peskov", "The president held a meeting on the economy today.")])
    state, alerts = _fold(detector, events)
    assert alerts == [] and state.topics == {} and state.undecided == 1


def test_republished_statement_is_evidence(detector: Detector) -> None:
    events = _events("kremlin", [
        ("Maria Zakharova", "Russia is ready to continue prisoner exchanges."),
        ("Maria Zakharova", "Russia is suspending all prisoner exchanges."),
        ("Maria Zakharova", "Russia is suspending all prisoner exchanges!"),
    ])
    state, alerts = _fold(detector, events)
    assert len(alerts) == 1 and state.statements == 3


def test_user_topic_pack_extends_and_changes_version(tmp_path: Path) -> None:
    pack = tmp_path / "arctic.yaml"
    pack.write_text(json.dumps({
        "version": "user-1",
        "topics": [{"id": "arctic_shipping", "name": "Arctic shipping", "cues": ["northern sea route"],
                    "intensity": {"pro": 2, "contra": -3}}],
    }))
    from monitor.domain.stance import EngineConfig

    custom = Detector(config=EngineConfig(topic_packs=(str(pack),)))
    assert custom.version != Detector().version and "user-1" in custom.version
    events = _events("kremlin", [
        ("Dmitry Peskov", "Russia will keep the Northern Sea Route open to foreign ships."),
        ("Dmitry Peskov", "Russia will close the Northern Sea Route to foreign ships."),
    ])
    _, alerts = _fold(custom, events)
    assert [a.topic for a in alerts] == ["arctic_shipping"]  # type: ignore[attr-defined]


# A weapon system with no stance of its own meets a refusal of arms supplies as a whole, never a
# general promise: "no lethal weapons" then "shells" reverses; "we keep arming" then "no jets" does not.
_WHOLE = [
    (["Our principle of not supplying lethal weapons to Ukraine remains in place.",
      "We will supply artillery shells to Ukraine."], ["contradiction"]),
    (["We will keep supplying weapons to Ukraine.", "We will not send fighter jets to Ukraine."], []),
    # the system's statement names two states (no counterpart of its own): the latest refusal about any
    (["Our principle of not supplying lethal weapons to Ukraine remains in place.",
      "We will supply artillery shells to Ukraine, citing the deployment of North Korean troops to Russia."],
     ["contradiction"]),
]


@pytest.mark.parametrize(("texts", "kinds"), _WHOLE)
def test_a_system_meets_a_refusal_of_the_whole_topic(texts: list[str], kinds: list[str]) -> None:
    from monitor.domain.analysis.rules import RuleAnalyzer
    from monitor.domain.nativefold import python_fold_detector

    events = _events("seoul", [("Presidential office", t) for t in texts])
    for detector in (Detector(), python_fold_detector(RuleAnalyzer())):
        _state, alerts = _fold(detector, events)
        assert [a.kind.value for a in alerts] == kinds  # type: ignore[attr-defined]


# The topics of one family (force: retaliation, deployments, drills, nuclear posture) are rungs of one
# ladder: a first hostile claim on one of them is measured against the latest hostile stance on the
# others. A vague warning, then a concrete deployment: an escalation; a hedged act, an act no harder
# than the warning, or a warning from another family: none.
_LADDER = [
    (["Russia will take appropriate countermeasures in response to the build-up of alliance forces.",
      "Missile brigades will be stationed in the Kaliningrad region, and the Baltic Fleet has been put on "
      "heightened readiness."], ["escalation"]),
    (["The large-scale joint exercises are a rehearsal for invasion, and we will take corresponding "
      "countermeasures.",
      "Should the enemy cross the line, our nuclear forces will launch a pre-emptive strike."], ["escalation"]),
    (["Russia will take appropriate countermeasures in response to the build-up of alliance forces.",
      "Russia may station additional missile brigades in the Kaliningrad region."], []),
    (["The sanctions will stay in place for as long as necessary.",
      "Missile brigades will be stationed in the Kaliningrad region, and the Baltic Fleet has been put on "
      "heightened readiness."], []),
]


@pytest.mark.parametrize(("texts", "kinds"), _LADDER)
def test_a_first_hostile_claim_climbs_from_the_latest_warning_of_its_family(
    texts: list[str], kinds: list[str]
) -> None:
    from monitor.domain.nativefold import python_fold_detector

    events = _events("kremlin", [("Spokesman", t) for t in texts])
    for detector in (Detector(), python_fold_detector(RuleAnalyzer())):
        _state, alerts = _fold(detector, events)
        assert [a.kind.value for a in alerts] == kinds  # type: ignore[attr-defined]
        if alerts:
            assert "after a warning on" in alerts[0].explanation  # type: ignore[attr-defined]
            assert alerts[0].prior.id == events[0].id  # type: ignore[attr-defined]
