"""One stance per counterpart state: an actor's position toward one state is not its position toward another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.domain.counterparts import Counterparts, split_key
from monitor.domain.detector import Detector
from monitor.domain.models import Alert, AlertKind, StanceState, StatementEvent

_T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


def _run(detector: Detector, actor: str, texts: list[str]) -> tuple[StanceState, list[list[Alert]]]:
    state = StanceState.empty(actor)
    raised: list[list[Alert]] = []
    for i, text in enumerate(texts, 1):
        event = StatementEvent(id=f"{actor}-s{i}", actor=actor, speaker="Spokesperson", text=text,
                               published_at=_T0 + timedelta(days=i))
        state, alerts = detector.step(state, event)
        raised.append(alerts)
    return state, raised


def test_gazetteer_reads_states_not_venues() -> None:
    c = Counterparts.builtin()
    assert c.own("kremlin") == "russia" and c.own("us_state_department") == "united_states"
    assert c.own("south_africa_dirco") == "south_africa" and c.own("nato") is None
    assert c.named("Sanctions against Iran's oil sector and on Russian banks.") == {"iran", "russia"}
    assert c.counterpart("Sanctions against Iran's oil sector and on Russian banks.", c.own("eu_council")) is None
    # a venue is not a counterpart; the actor's own state is not one either
    assert c.counterpart("At the summit in Vilnius, Turkey agreed to forward Sweden's accession protocol.",
                         c.own("turkey_presidency")) == "sweden"
    assert c.counterpart("The talks continue.", c.own("kremlin")) is None
    assert split_key("sanctions@iran") == ("sanctions", "iran") and split_key("sanctions") == ("sanctions", None)


def test_one_candidate_ratified_is_no_reversal_on_another(detector: Detector) -> None:
    _, raised = _run(detector, "turkey_presidency", [
        "Sweden should not expect any support from us for its NATO membership.",
        "The President has decided to start the ratification of Finland's accession protocol to NATO.",
        "The President has agreed to forward Sweden's NATO accession protocol to parliament for ratification.",
    ])
    assert raised[1] == []
    assert [(a.kind, a.topic, a.prior.id) for a in raised[2]] == [
        (AlertKind.CONTRADICTION, "alliance_membership@sweden", "turkey_presidency-s1")]
    assert raised[2][0].topic_name.endswith(", Sweden")


def test_tariffs_toward_two_states_are_two_stances(detector: Detector) -> None:
    state, raised = _run(detector, "white_house", [
        "We are imposing a 25 percent tariff on all Chinese goods.",
        "The tariffs on Mexican goods are suspended for a month while talks go on.",
        "The tariffs on Chinese goods are lifted as part of the new trade deal.",
    ])
    assert raised[1] == []
    assert [(a.kind, a.topic) for a in raised[2]] == [(AlertKind.CONTRADICTION, "trade_tariffs@china")]
    assert {"trade_tariffs@china", "trade_tariffs@mexico"} <= set(state.topics)


def test_a_claim_naming_no_state_meets_the_stances_that_did(detector: Detector) -> None:
    # named, then unnamed: the unnamed claim is read against the latest named stance
    _, raised = _run(detector, "germany_chancellery", [
        "Germany will not send Leopard tanks to Ukraine.",
        "The federal government has decided that the Leopard tanks will be delivered after all.",
    ])
    assert [a.kind for a in raised[1]] == [AlertKind.CONTRADICTION]
    # unnamed, then named: the named claim is read against the general stance
    _, raised = _run(detector, "germany_chancellery", [
        "We will not send Leopard tanks.",
        "Germany will send Leopard tanks to Ukraine.",
    ])
    assert [a.kind for a in raised[1]] == [AlertKind.CONTRADICTION]


def test_a_sentence_naming_no_state_joins_the_state_its_statement_names(detector: Detector) -> None:
    first = "Today we adopt new sanctions on Russian banks. We will not lift the sanctions until the war ends."
    state, raised = _run(detector, "eu_commission", [first])
    assert raised == [[]] and set(state.topics) == {"sanctions@russia"}
    # a later statement naming no state is read against it (a restatement: no alert)
    state, raised = _run(detector, "eu_commission", [first, "Every sanction currently in force remains in force."])
    assert raised == [[], []] and set(state.topics) == {"sanctions@russia", "sanctions"}
