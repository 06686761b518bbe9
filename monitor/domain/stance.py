"""Fold rules: how one statement's claims change an actor's stance per topic.

Pure functions over frozen models. For each topic a statement speaks to:

* no established stance            -> the claim establishes it (no alert);
* opposite polarity, confident,
  explicit and not hedged          -> **contradiction** (the new claim replaces the stance);
* same polarity, clearly harder    -> **escalation** (intensity drops by at least the
  threshold into the conflict half of the scale, a stated rate rises by the configured
  ratio, a harder category appears, or a conditional warning becomes a firm hostile act);
* anything else (reaffirmation, paraphrase, hedged or softer restatement, weak or implied
  opposite claims)                 -> evidence only, no alert.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from monitor.domain.fast import build, replace
from monitor.domain.models import (
    AlertKind,
    Claim,
    Modality,
    Polarity,
    StatementRef,
    TopicStance,
)

_CATEGORY_RANK = {None: 0, "warning": 1, "explicit_threat": 2}
_MODALITY_RANK = {Modality.ASSERTED: 2, Modality.CONDITIONAL: 1, Modality.HEDGED: 0}


class EngineConfig(BaseModel):
    """Thresholds of the stance engine. Defaults are the tuned values; all are optional."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    escalation_threshold: float = Field(default=2.0, gt=0, description="Intensity drop that is an escalation.")
    escalation_floor: float = Field(default=-3.0, description="An escalation must end at or below this intensity.")
    magnitude_ratio: float = Field(default=1.5, gt=1, description="Rate increase (x) that is an escalation.")
    magnitude_min_step: float = Field(default=5.0, ge=0, description="...and by at least this many points.")
    min_confidence: float = Field(default=0.65, ge=0, le=1, description="Least confidence of a reversing claim.")
    prior_min_confidence: float = Field(
        default=0.45, ge=0, le=1, description="Least confidence of the stance it reverses."
    )
    escalation_min_confidence: float = Field(default=0.5, ge=0, le=1)
    seen_window: int = Field(default=48, ge=0, description="Fingerprints kept to recognise republished statements.")
    quote_chars: int = Field(default=280, ge=40, description="Quote length kept in state for the prior statement.")
    topic_packs: tuple[str, ...] = Field(
        default=(), description="Extra topic pack YAML files laid over the built-in one."
    )


Outcome = Literal["established", "reaffirmed", "contradiction", "escalation", "evidence", "replaced"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What a claim did to the stance on its topic."""

    outcome: Outcome
    stance: TopicStance | None
    reason: str = ""

    @property
    def alert_kind(self) -> AlertKind | None:
        if self.outcome == "contradiction":
            return AlertKind.CONTRADICTION
        if self.outcome == "escalation":
            return AlertKind.ESCALATION
        return None


_WEAK_IMPLIED = 0.45  # an implied claim below this is a described posture (rules._BARE_CONFIDENCE)


def merge_claims(claims: Iterable[Claim]) -> dict[str, Claim]:
    """One claim per topic for a statement: confidence-weighted polarity vote.

    The first sentence weighs a little more (it is usually the lead); the most hostile
    intensity, the firmest modality and the union of cues of the winning side are kept.
    A split vote lowers the confidence.
    """
    by_topic: dict[str, list[Claim]] = {}
    for c in claims:
        by_topic.setdefault(c.topic, []).append(c)
    out: dict[str, Claim] = {}
    for topic, group in by_topic.items():
        if len(group) == 1:
            out[topic] = group[0]
            continue
        weights = {Polarity.PRO: 0.0, Polarity.CONTRA: 0.0}
        for idx, c in enumerate(group):
            w = c.confidence * (1.0 if c.explicit else 0.5) * (1.1 if idx == 0 else 1.0)
            w *= 0.5 if c.modality is Modality.HEDGED else 1.0
            weights[c.polarity] += w
        if weights[Polarity.PRO] == weights[Polarity.CONTRA]:
            continue
        pol = Polarity.PRO if weights[Polarity.PRO] > weights[Polarity.CONTRA] else Polarity.CONTRA
        win = [c for c in group if c.polarity is pol]
        lose = weights[pol.flipped()]
        share = weights[pol] / (weights[pol] + lose)
        lead = max(win, key=lambda c: (c.explicit, _MODALITY_RANK[c.modality], c.confidence))
        # a described posture ("forces patrol these waters", weak and implied) sets neither the
        # modality nor the confidence when firmer claims of the same side exist
        firm = [c for c in win if c.explicit or c.confidence >= _WEAK_IMPLIED] or win
        modality = max((c.modality for c in firm), key=lambda m: _MODALITY_RANK[m])
        confidence = max(c.confidence for c in firm if c.modality is modality)
        if lose:
            confidence *= 0.6 + 0.4 * share
        mags = [c.magnitude for c in win if c.magnitude is not None]
        cats = [c.category for c in win]
        out[topic] = replace(lead, {
            "intensity": min(c.intensity for c in win),
            "modality": modality,
            "confidence": round(confidence, 3),
            "explicit": any(c.explicit for c in win),
            "magnitude": max(mags) if mags else None,
            "category": max(cats, key=lambda x: _CATEGORY_RANK.get(x, 0)),
            "cues": _union(c.cues for c in win),
            "negation_cues": _union(c.negation_cues for c in win),
            "modality_cues": _union(c.modality_cues for c in win if c.modality is modality),
        })
    return out


def decide(prior: TopicStance | None, claim: Claim, ref: StatementRef, cfg: EngineConfig) -> Decision:
    """Compare one merged claim with the established stance on its topic."""
    if prior is None:
        if claim.modality is Modality.HEDGED and not claim.explicit:
            # "an operation is possible": a baseline for escalations, too weak to be reversed
            weak = replace(claim, {"confidence": min(claim.confidence, cfg.prior_min_confidence - 0.05)})
            return Decision("established", _stance(weak, ref, support=1), "hedged and implied: a weak baseline")
        return Decision("established", _stance(claim, ref, support=1), "first statement on the topic")

    if claim.polarity is not prior.polarity:
        if claim.modality is Modality.HEDGED:
            return Decision("evidence", _noted(prior), "hedged opposite claim")
        if not claim.explicit:
            if (
                claim.category == "explicit_threat"
                and prior.intensity > cfg.escalation_floor
                and claim.confidence >= cfg.escalation_min_confidence
            ):
                # a calm stance answered by an explicit threat of force ("their bases will be
                # legitimate targets"): not a reversal argued, a hardening
                return Decision(
                    "escalation", _stance(claim, ref, support=1),
                    f"explicit threat after a calm stance ({prior.intensity:+.1f} -> {claim.intensity:+.1f})",
                )
            return Decision("evidence", _noted(prior), "polarity only implied by threat words")
        if claim.confidence < cfg.min_confidence:
            return Decision("evidence", _noted(prior), "opposite claim below confidence threshold")
        if prior.confidence < cfg.prior_min_confidence:
            return Decision("replaced", _stance(claim, ref, support=1), "weak prior stance replaced")
        return Decision("contradiction", _stance(claim, ref, support=1), "polarity reversed")

    # same polarity: reaffirmation, softening, or escalation
    if claim.modality is Modality.HEDGED:
        return Decision("reaffirmed", _noted(prior, support=True), "hedged restatement")
    reason = _escalation(prior, claim, cfg)
    if reason and claim.confidence >= cfg.escalation_min_confidence:
        return Decision("escalation", _stance(claim, ref, support=prior.support + 1, prior=prior), reason)
    if not claim.explicit and claim.confidence < cfg.prior_min_confidence:
        # a posture merely described ("our troops are in the region") neither softens nor restates
        return Decision("reaffirmed", _noted(prior, support=True), "weak implied restatement")
    return Decision("reaffirmed", _stance(claim, ref, support=prior.support + 1, prior=prior), "same polarity")


def _escalation(prior: TopicStance, claim: Claim, cfg: EngineConfig) -> str:
    if (
        claim.polarity is Polarity.PRO
        and prior.magnitude is not None
        and claim.magnitude is not None
        and claim.magnitude >= prior.magnitude * cfg.magnitude_ratio
        and claim.magnitude - prior.magnitude >= cfg.magnitude_min_step
    ):
        return f"rate raised from {prior.magnitude:g}% to {claim.magnitude:g}%"
    drop = prior.intensity - claim.intensity
    if drop >= cfg.escalation_threshold and claim.intensity <= cfg.escalation_floor:
        return f"intensity {prior.intensity:+.1f} -> {claim.intensity:+.1f} on the conflict scale"
    if (
        _CATEGORY_RANK.get(claim.category, 0) > _CATEGORY_RANK.get(prior.category, 0)
        and drop >= 1.0
        and claim.intensity <= cfg.escalation_floor
    ):
        return f"harder category: {prior.category or 'plain statement'} -> {claim.category}"
    if (
        _MODALITY_RANK[claim.modality] > _MODALITY_RANK[prior.modality]
        and drop >= 1.0
        and claim.intensity <= cfg.escalation_floor - 1.0
    ):
        return (
            f"{prior.modality.value} warning became a firm hostile act "
            f"({prior.intensity:+.1f} -> {claim.intensity:+.1f})"
        )
    return ""


def _stance(claim: Claim, ref: StatementRef, *, support: int, prior: TopicStance | None = None) -> TopicStance:
    magnitude = claim.magnitude
    basis = ref
    if magnitude is None and prior is not None:
        magnitude = prior.magnitude
        if magnitude is not None:
            # a restatement without a rate keeps the statement that set the rate as the basis an
            # escalation of the rate is compared with ("doubled from 25 to 50 percent")
            basis = prior.basis
    return build(TopicStance, {
        "topic": claim.topic,
        "polarity": claim.polarity,
        "intensity": claim.intensity,
        "category": claim.category,
        "confidence": max(claim.confidence, prior.confidence) if prior is not None else claim.confidence,
        "basis": basis,
        "support": support,
        "last_statement_id": ref.id,
        "cues": claim.cues[:6],
        "magnitude": magnitude,
        "modality": claim.modality,
        "evidence": prior.evidence if prior is not None else 0,
    })


def _noted(prior: TopicStance, *, support: bool = False) -> TopicStance:
    update: dict[str, object] = {"evidence": prior.evidence + 1}
    if support:
        update["support"] = prior.support + 1
    return replace(prior, update)


def _union(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    out: list[str] = []
    for g in groups:
        for x in g:
            if x not in out:
                out.append(x)
    return tuple(out[:8])
