"""The worker's state encoder writes exactly the bytes of ``encode``; decoding is pydantic's, field errors named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.codec import StateEncoder, decode_statement, encode
from monitor.domain.detector import Detector
from monitor.domain.models import StanceState, StatementEvent
from monitor.errors import DecodeError
from monitor.replay.testing import KeywordDetector, synthetic_statements

CASES = Path(__file__).resolve().parent / "cases"


def _real_events(limit: int = 240) -> list[StatementEvent]:
    """Statements of the labeled cases, several actors, in file order."""
    events: list[StatementEvent] = []
    for path in sorted(CASES.glob("own_cases*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                events += [StatementEvent.model_validate(s) for s in json.loads(line)["statements"]]
    return events[:limit]


def _assert_encodes_like_pydantic(detector: Detector, events: list[StatementEvent], every: int) -> int:
    """Fold ``events``; every ``every`` statements encode each changed actor both ways and compare."""
    encoder = StateEncoder()
    assert encoder.enabled, "StanceState changed shape: update StateEncoder (it falls back to encode meanwhile)"
    states: dict[str, StanceState] = {}
    changed: set[str] = set()
    compared = 0
    for i, event in enumerate(events, start=1):
        state = states.get(event.actor) or StanceState.empty(event.actor)
        states[event.actor], _ = detector.step(state, event)
        changed.add(event.actor)
        if i % every == 0 or i == len(events):
            for actor in sorted(changed):
                got = encoder.encode(states[actor])
                assert got == encode(states[actor]), actor
                assert StanceState.model_validate_json(got) == states[actor]
                compared += 1
            changed.clear()
    return compared


@pytest.mark.parametrize("every", [1, 7, 50])
def test_state_encoder_matches_pydantic_on_the_real_engine(every: int) -> None:
    assert _assert_encodes_like_pydantic(Detector(), _real_events(), every) > 0


def test_state_encoder_matches_pydantic_on_many_small_steps() -> None:
    events = list(synthetic_statements(3000, actors=20))
    assert _assert_encodes_like_pydantic(KeywordDetector(), events, every=13) > 200


def test_state_encoder_reuses_only_the_very_same_topic_objects() -> None:
    events = list(synthetic_statements(200, actors=3))
    detector = KeywordDetector()
    encoder = StateEncoder()
    state = StanceState.empty(events[0].actor)
    for event in (e for e in events if e.actor == state.actor):
        state, _ = detector.step(state, event)
        assert encoder.encode(state) == encode(state)
    # An equal-looking but different object with other content is never served from the cache.
    name, stance = next(iter(state.topics.items()))
    edited = state.model_copy(update={"topics": {**state.topics,
                                                 name: stance.model_copy(update={"support": stance.support + 1})}})
    assert encoder.encode(edited) == encode(edited) != encode(state)
    # Special characters in every string the state carries.
    odd = "quote \"with\" \\ control \x01\x1f\t\n, unicode é \u2028 \U0001f600"
    ref = stance.basis.model_copy(update={"quote": odd, "speaker": odd})
    weird = state.model_copy(update={"seen": (*state.seen, odd), "topics": {
        **state.topics, odd: stance.model_copy(update={"basis": ref, "cues": (odd,)})}})
    assert encoder.encode(weird) == encode(weird)
    assert StateEncoder().encode(state) == encoder.encode(state) == encode(state)


def test_decode_statement_is_pydantic_validation() -> None:
    for event in synthetic_statements(50):
        raw = encode(event)
        assert decode_statement(raw) == StatementEvent.model_validate_json(raw)
        assert decode_statement(raw.decode()) == event
    bad = b'{"id": "x", "actor": "a", "text": "t", "published_at": "2024-01-01T00:00:00Z"}'
    with pytest.raises(DecodeError, match=r"p\[0\]@1: invalid StatementEvent: speaker: Field required"):
        decode_statement(bad, where="p[0]@1")
    with pytest.raises(DecodeError, match="not valid JSON"):
        decode_statement(b'{"id": ')
