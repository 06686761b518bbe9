"""Domain events and state: frozen pydantic models, no I/O.

Three shapes cross every boundary of the monitor:

* :class:`StatementEvent` -- one statement by one speaker, attributed to an actor.
  It is the only input of the stance engine and the record of the ``statements`` log.
* :class:`StanceState` -- what one actor has established, per topic. It is never
  written by hand: it is the fold of that actor's statements (event sourcing).
* :class:`Alert` -- the output: a ``contradiction`` or an ``escalation``, carrying
  both statements so it can be read on its own.

Everything here is JSON-serialisable and deterministic: no clocks, no random ids.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

SCHEMA_VERSION: Literal[1] = 1

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ActorId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
]
Intensity = Annotated[float, Field(ge=-10.0, le=10.0)]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class Frozen(BaseModel):
    """Base of every domain model: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class StatementEvent(Frozen):
    """One statement, attributed to a speaker and the actor the speaker speaks for.

    ``id`` is deterministic (scrapers derive it from the source and the quote), so a
    statement published twice is recognisable. ``text`` is the statement itself (the
    quote or the indirect speech), not the surrounding article.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
    actor: ActorId
    speaker: NonEmpty
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
    published_at: AwareDatetime
    source_url: str | None = None
    language: str = "en"
    kind: Literal["direct", "indirect", "unknown"] = "unknown"
    speaker_as_written: str | None = None
    offset: int | None = Field(default=None, ge=0, description="Offset of the quote in the source article.")


class Polarity(StrEnum):
    """Direction of a claim on a topic: ``pro`` supports/affirms it, ``contra`` opposes/denies it."""

    PRO = "pro"
    CONTRA = "contra"

    def flipped(self) -> Polarity:
        return Polarity.CONTRA if self is Polarity.PRO else Polarity.PRO


class Modality(StrEnum):
    """How firmly a claim is made."""

    ASSERTED = "asserted"
    HEDGED = "hedged"
    CONDITIONAL = "conditional"


class AlertKind(StrEnum):
    CONTRADICTION = "contradiction"
    ESCALATION = "escalation"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class Claim(Frozen):
    """One stance-bearing claim found in a statement.

    A statement may carry several claims on several topics. ``intensity`` is on a
    cooperation-conflict scale in the spirit of the Goldstein scale: -10 is the most
    hostile (war, threats of force), +10 the most cooperative.
    """

    topic: str
    polarity: Polarity
    intensity: Intensity
    modality: Modality = Modality.ASSERTED
    category: str | None = None
    confidence: Unit = 1.0
    sentence: str
    cues: tuple[str, ...] = ()
    negation_cues: tuple[str, ...] = ()
    modality_cues: tuple[str, ...] = ()
    magnitude: float | None = Field(default=None, description="A rate the claim states, e.g. a tariff in percent.")
    explicit: bool = Field(default=True, description="False when the polarity is only implied by threat words.")


class StatementRef(Frozen):
    """Enough of a statement to read an alert on its own: who, what, where, when."""

    id: str
    speaker: str
    quote: str
    source_url: str | None = None
    published_at: datetime


class TopicStance(Frozen):
    """The established position of one actor on one topic."""

    topic: str
    polarity: Polarity
    intensity: Intensity
    category: str | None = None
    confidence: Unit
    basis: StatementRef
    support: int = Field(default=1, ge=1, description="Statements that established or reaffirmed it.")
    last_statement_id: str
    cues: tuple[str, ...] = ()
    magnitude: float | None = None
    modality: Modality = Modality.ASSERTED
    evidence: int = Field(default=0, ge=0, description="Statements seen on the topic that changed nothing.")


class StanceState(Frozen):
    """Everything the monitor knows about one actor: its stance per topic.

    Rebuilt by folding the actor's statements in order; ``seen`` keeps a bounded
    window of text fingerprints so a republished statement is evidence, not news.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    actor: str
    topics: dict[str, TopicStance] = Field(default_factory=dict)
    seen: tuple[str, ...] = ()
    statements: int = 0
    undecided: int = 0

    @classmethod
    def empty(cls, actor: str) -> StanceState:
        return cls(actor=actor)


class Alert(Frozen):
    """A change of stance worth waking an analyst for.

    ``id`` is derived from the statement id, the kind and the topic, so the same
    input always yields the same alert id (receivers deduplicate on it).
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str
    kind: AlertKind
    actor: str
    topic: str
    topic_name: str
    statement: StatementRef
    prior: StatementRef
    severity: Severity
    confidence: Unit
    explanation: str
    cues: tuple[str, ...] = ()
    negation_cues: tuple[str, ...] = ()
    modality_cues: tuple[str, ...] = ()
    prior_polarity: Polarity
    new_polarity: Polarity
    prior_intensity: Intensity
    new_intensity: Intensity
    engine: str


class DeadLetter(Frozen):
    """A record the pipeline could not process, with the reason, kept instead of dropped."""

    schema_version: Literal[1] = SCHEMA_VERSION
    source_topic: str
    partition: int
    offset: int
    key: str | None = None
    error: str
    payload: str = Field(description="The original bytes, decoded as UTF-8 with replacement, truncated.")
