"""The LLM judge against a real OpenAI-compatible fake on 127.0.0.1 (stdlib http.server)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from monitor.classifiers import build_analyzer
from monitor.classifiers.llm import LLMAnalyzer, LLMSettings
from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.detector import Detector
from monitor.domain.models import AlertKind, Polarity, StanceState, StatementEvent

API_KEY = "sk-test-0123456789-do-not-log"

# (status, body) per request; "sleep" delays the answer past the client's timeout
Reply = tuple[int, str] | str


@dataclass
class FakeOpenAI:
    """Answers each POST /v1/chat/completions with the next canned reply and records the request."""

    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""


def _completion(content: str) -> str:
    return json.dumps({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {
        "role": "assistant", "content": content}, "finish_reason": "stop"}]})


def _claims(*claims: dict[str, Any]) -> tuple[int, str]:
    return 200, _completion(json.dumps({"claims": list(claims)}))


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    state = FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append({"path": self.path, **json.loads(body)})
            state.headers.append(dict(self.headers))
            reply = state.replies.pop(0) if state.replies else (500, "no reply queued")
            if reply == "sleep":
                state.release.wait(5)
                reply = _claims()
            assert not isinstance(reply, str)
            status, text = reply
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            try:
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and went away: that is the point of the test

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def rules() -> RuleAnalyzer:
    return RuleAnalyzer()


@pytest.fixture
def judge(fake: FakeOpenAI, rules: RuleAnalyzer) -> Iterator[Callable[..., LLMAnalyzer]]:
    clients: list[httpx.Client] = []

    def make(**overrides: Any) -> LLMAnalyzer:
        settings = LLMSettings(
            base_url=fake.url, model="fake-judge", api_key=SecretStr(API_KEY), timeout_s=0.5,
            max_retries=1, retry_backoff_s=0.0, mode="only",
        ).model_copy(update=overrides)
        client = httpx.Client()
        clients.append(client)
        return LLMAnalyzer(client, settings, base=rules)

    yield make
    for c in clients:
        c.close()


CEASEFIRE_PRO = {"topic": "ceasefire", "polarity": "pro", "intensity": 6, "modality": "asserted",
                 "confidence": 0.9, "cues": ["accept"], "sentence": "We accept the truce."}
CEASEFIRE_CONTRA = {**CEASEFIRE_PRO, "polarity": "contra", "intensity": -4, "sentence": "No truce."}


def test_valid_answer_becomes_claims_and_request_is_strict(fake: FakeOpenAI, judge: Callable[..., LLMAnalyzer]) -> None:
    fake.replies = [_claims(CEASEFIRE_PRO, {**CEASEFIRE_PRO, "topic": "arms_supplies:tanks", "polarity": "contra",
                                            "intensity": -2, "confidence": 0.8})]
    analysis = judge().analyze("We accept the truce and will send no more of them.", speaker="A. Speaker")
    assert [(c.topic, c.polarity) for c in analysis.claims] == [
        ("ceasefire", Polarity.PRO), ("arms_supplies:tanks", Polarity.CONTRA)]
    assert analysis.claims[0].cues == ("llm", "accept")
    req = fake.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["temperature"] == 0 and req["seed"] == 7 and req["model"] == "fake-judge"
    assert req["response_format"] == {"type": "json_object"}
    assert "ceasefire" in req["messages"][0]["content"]
    assert json.loads(req["messages"][1]["content"]) == {
        "speaker": "A. Speaker", "statement": "We accept the truce and will send no more of them."}
    assert fake.headers[0]["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize(
    ("replies", "reason"),
    [
        ([(200, _completion("this is not json"))], "llm: invalid answer"),
        ([(200, _completion('{"claims": [{"topic": "ceasefire", "polarity": "maybe"}]}'))], "llm: invalid answer"),
        ([(200, _completion('{"verdict": "pro"}'))], "llm: invalid answer"),
        ([(200, '{"unexpected": true}')], "llm: no answer"),
        ([(500, "boom"), (500, "boom")], "llm: no answer"),
        ([(401, '{"error": "bad key"}')], "llm: no answer"),
        ([_claims({**CEASEFIRE_PRO, "topic": "moon_landing"})], "llm: unknown topic moon_landing"),
        ([_claims({**CEASEFIRE_PRO, "intensity": 42})], "llm: invalid answer"),
        ([_claims()], "llm: no stance"),
    ],
)
def test_bad_answers_are_undecided_not_errors(
    fake: FakeOpenAI, judge: Callable[..., LLMAnalyzer], replies: list[Reply], reason: str
) -> None:
    fake.replies = list(replies)
    with capture_logs() as logs:
        analysis = judge().analyze("Some statement.")
    assert analysis.claims == ()
    assert analysis.undecided == (reason,)
    if reason != "llm: no stance":
        assert logs and logs[0]["log_level"] == "warning"


def test_server_error_is_retried_then_answered(fake: FakeOpenAI, judge: Callable[..., LLMAnalyzer]) -> None:
    fake.replies = [(503, "busy"), _claims(CEASEFIRE_PRO)]
    analysis = judge().analyze("We accept the truce.")
    assert [c.topic for c in analysis.claims] == ["ceasefire"]
    assert len(fake.requests) == 2


def test_timeout_is_undecided_after_bounded_retries(fake: FakeOpenAI, judge: Callable[..., LLMAnalyzer]) -> None:
    fake.replies = ["sleep", "sleep"]
    with capture_logs() as logs:
        analysis = judge(timeout_s=0.2, max_retries=1).analyze("We accept the truce.")
    fake.release.set()
    assert analysis.claims == () and analysis.undecided == ("llm: no answer",)
    assert [(e["event"], e["reason"], e["attempts"]) for e in logs] == [("llm_no_answer", "timeout", 2)]


def test_same_text_same_claims_and_one_request(fake: FakeOpenAI, judge: Callable[..., LLMAnalyzer]) -> None:
    fake.replies = [_claims(CEASEFIRE_PRO)]
    analyzer = judge()
    first = analyzer.analyze("We accept the truce.")
    assert analyzer.analyze("We accept the truce.") == first
    assert len(fake.requests) == 1


def test_fallback_mode_asks_only_when_the_rules_decide_nothing(
    fake: FakeOpenAI, judge: Callable[..., LLMAnalyzer]
) -> None:
    fake.replies = [_claims(CEASEFIRE_PRO)]
    analyzer = judge(mode="fallback")
    ruled = analyzer.analyze("We reject any ceasefire.")
    assert [(c.topic, c.polarity) for c in ruled.claims] == [("ceasefire", Polarity.CONTRA)]
    assert fake.requests == []
    judged = analyzer.analyze("The guns should fall silent at dawn.")
    assert [c.topic for c in judged.claims] == ["ceasefire"] and len(fake.requests) == 1


def test_api_key_is_never_logged(
    fake: FakeOpenAI, judge: Callable[..., LLMAnalyzer], caplog: pytest.LogCaptureFixture
) -> None:
    fake.replies = [(500, "boom"), (200, _completion("garbage")), _claims(CEASEFIRE_PRO)]
    caplog.set_level(logging.DEBUG)
    analyzer = judge(max_retries=0)
    with capture_logs() as logs:
        analyzer.analyze("one")
        analyzer.analyze("two")
        analyzer.analyze("three")
    assert len(logs) == 2
    assert API_KEY not in repr(logs) and API_KEY not in caplog.text
    assert API_KEY not in repr(analyzer.settings) and API_KEY not in analyzer.name


def test_detector_raises_a_contradiction_from_judged_claims(fake: FakeOpenAI) -> None:
    fake.replies = [_claims(CEASEFIRE_CONTRA), _claims(CEASEFIRE_PRO)]
    with httpx.Client() as client:
        analyzer = build_analyzer(
            "llm", client=client, base_url=fake.url, model="fake-judge", api_key=SecretStr(API_KEY), mode="only"
        )
        detector = Detector(analyzer=analyzer)
        assert "llm" in detector.version and "fake-judge" in detector.version
        state = StanceState.empty("kremlin")
        alerts = []
        for i, text in enumerate(["No truce.", "We accept the truce."]):
            event = StatementEvent(id=f"s{i}", actor="kremlin", speaker="Speaker", text=text,
                                   published_at=datetime(2025, 1, 1 + i, tzinfo=UTC))
            state, raised = detector.step(state, event)
            alerts.extend(raised)
    assert [a.kind for a in alerts] == [AlertKind.CONTRADICTION]
