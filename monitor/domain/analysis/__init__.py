"""Claim analysis: from a statement's text to the stance claims it makes.

One small seam, :class:`Analyzer`, separates *reading* a statement from *folding* its
claims into an actor's stance (``monitor.domain.stance``). The default is the
deterministic :class:`~monitor.domain.analysis.rules.RuleAnalyzer`; optional backends
(embeddings, an LLM judge) live in ``monitor.classifiers`` and implement the same Protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from monitor.domain.models import Claim


@dataclass(frozen=True, slots=True)
class Relation:
    """A claim relative to the established stance: "our position is unchanged" (``same``)
    or "we changed our approach" (``changed``) on a topic, without a polarity of its own."""

    topic: str
    relation: Literal["same", "changed"]
    cue: str
    sentence: str


@dataclass(frozen=True, slots=True)
class Analysis:
    """What a statement says: its claims, relative claims, and why parts were left undecided."""

    claims: tuple[Claim, ...] = ()
    relations: tuple[Relation, ...] = ()
    undecided: tuple[str, ...] = ()


class Analyzer(Protocol):
    """Turns one statement into claims. Must be deterministic and free of I/O at call time."""

    @property
    def name(self) -> str:
        """Identifies the analyzer and its data (lexicon, topic pack) in the detector version."""
        ...

    def topic_name(self, topic: str) -> str:
        """Human name of a topic key (``arms_supplies:fighter_jets`` -> ``Arms supplies (fighter jets)``)."""
        ...

    def topic_severity(self, topic: str) -> str:
        """Base severity (a :class:`~monitor.domain.models.Severity` value) of alerts on a topic."""
        ...

    def analyze(self, text: str, *, speaker: str | None = None) -> Analysis:
        """The claims ``text`` makes; ``speaker`` helps tell own words from reported ones."""
        ...


__all__ = ["Analysis", "Analyzer", "Relation"]
