"""Fold rules: how one statement's claims change an actor's stance per topic.

Pure functions. A claim is read through its fields (``Claim.__dict__``, or the merged fields of
several claims on one topic), so the fold reads plain dictionaries on its hot path; stances are
the frozen :class:`~monitor.domain.models.TopicStance` models. For each topic a statement speaks
to:

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

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from monitor.domain.fast import construct, replace
from monitor.domain.models import Modality, Polarity, StatementRef, TopicStance

Fields = dict[str, Any]
"""A claim's fields by name: a :class:`~monitor.domain.models.Claim`'s ``__dict__`` (read, never
written) or a merged claim's. Holds every field of ``Claim``."""

_CATEGORY_RANK = {None: 0, "warning": 1, "explicit_threat": 2}
_MODALITY_RANK = {Modality.ASSERTED: 2, Modality.CONDITIONAL: 1, Modality.HEDGED: 0}
_RANKED_MODALITY = {rank: modality for modality, rank in _MODALITY_RANK.items()}


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
Decision = tuple[Outcome, TopicStance, str]
"""What a claim did to the stance on its topic: the outcome, the stance now held, why."""

_WEAK_IMPLIED = 0.45  # an implied claim below this is a described posture (rules._BARE_CONFIDENCE)
_HEDGED = Modality.HEDGED
_ASSERTED = Modality.ASSERTED
_PRO = Polarity.PRO
_CONTRA = Polarity.CONTRA
_STANCE_FIELDS = set(TopicStance.model_fields)


def merge_claims(group: list[Fields]) -> Fields | None:
    """One claim for several claims of one statement on one topic: confidence-weighted polarity vote.

    The first sentence weighs a little more (it is usually the lead); the most hostile
    intensity, the firmest modality and the union of cues of the winning side are kept.
    A split vote lowers the confidence; a tie says nothing (None). The merged claim holds the
    fields of the leading claim of the winning side, with those values.

    Written as plain loops (no generators: each costs a function object and a frame); every
    "most" keeps the first of equals, as ``max``/``min`` do.
    """
    pro = contra = 0.0
    first = True
    for c in group:
        w = c["confidence"] * (1.0 if c["explicit"] else 0.5) * (1.1 if first else 1.0)
        w *= 0.5 if c["modality"] is _HEDGED else 1.0
        if c["polarity"] is _PRO:
            pro += w
        else:
            contra += w
        first = False
    if pro == contra:
        return None
    if pro > contra:
        pol, won, lose = _PRO, pro, contra
    else:
        pol, won, lose = _CONTRA, contra, pro
    share = won / (won + lose)
    win: list[Fields] = []
    lead: Fields = group[0]
    lead_key: tuple[bool, int, float] | None = None
    # the firmest modality and its highest confidence, over the firm claims and over all of them:
    # a described posture ("forces patrol these waters", weak and implied) sets neither the
    # modality nor the confidence when firmer claims of the same side exist
    firm_rank = all_rank = -1
    firm_confidence = all_confidence = 0.0
    intensity = 0.0
    explicit = False
    magnitude = None
    category = None
    category_rank = -1
    cues: list[str] = []
    negation_cues: list[str] = []
    for c in group:
        if c["polarity"] is not pol:
            continue
        win.append(c)
        confidence = c["confidence"]
        is_explicit = c["explicit"]
        rank = _MODALITY_RANK[c["modality"]]
        value = c["intensity"]
        key = (is_explicit, rank, confidence)
        if lead_key is None:
            lead, lead_key, intensity = c, key, value
        else:
            if key > lead_key:
                lead, lead_key = c, key
            if value < intensity:
                intensity = value
        if rank > all_rank:
            all_rank, all_confidence = rank, confidence
        elif rank == all_rank and confidence > all_confidence:
            all_confidence = confidence
        if is_explicit or confidence >= _WEAK_IMPLIED:
            if is_explicit:
                explicit = True
            if rank > firm_rank:
                firm_rank, firm_confidence = rank, confidence
            elif rank == firm_rank and confidence > firm_confidence:
                firm_confidence = confidence
        value = c["magnitude"]
        if value is not None and (magnitude is None or value > magnitude):
            magnitude = value
        value = c["category"]
        rank = _CATEGORY_RANK.get(value, 0)
        if rank > category_rank:  # the hardest category
            category, category_rank = value, rank
        for x in c["cues"]:
            if x not in cues:
                cues.append(x)
        for x in c["negation_cues"]:
            if x not in negation_cues:
                negation_cues.append(x)
    if firm_rank < 0:  # no firm claim: all of them count
        firm_rank, firm_confidence = all_rank, all_confidence
    modality = _RANKED_MODALITY[firm_rank]
    modality_cues: list[str] = []
    for c in win:
        if c["modality"] is modality:
            for x in c["modality_cues"]:
                if x not in modality_cues:
                    modality_cues.append(x)
    confidence = firm_confidence
    if lose:
        confidence *= 0.6 + 0.4 * share
    merged = lead.copy()
    merged["intensity"] = intensity
    merged["modality"] = modality
    merged["confidence"] = round(confidence, 3)
    merged["explicit"] = explicit
    merged["magnitude"] = magnitude
    merged["category"] = category
    merged["cues"] = tuple(cues[:8])
    merged["negation_cues"] = tuple(negation_cues[:8])
    merged["modality_cues"] = tuple(modality_cues[:8])
    return merged


def decide(
    prior: TopicStance | None, claim: Fields, key: str, ref: StatementRef, sid: str, cfg: dict[str, Any]
) -> Decision:
    """Compare one merged claim (stance key ``key``) with the established stance on its topic.

    ``ref`` is the statement the claim was read in (its id ``sid``); ``cfg`` the fields of an
    :class:`EngineConfig`.
    """
    if prior is None:
        if claim["modality"] is _HEDGED and not claim["explicit"]:
            # "an operation is possible": a baseline for escalations, too weak to be reversed
            weak = min(claim["confidence"], cfg["prior_min_confidence"] - 0.05)
            return "established", _stance(claim, key, ref, sid, 1, None, weak), "hedged and implied: a weak baseline"
        return "established", _stance(claim, key, ref, sid, 1), "first statement on the topic"

    p = prior.__dict__
    if claim["polarity"] is not p["polarity"]:
        if claim["modality"] is _HEDGED:
            return "evidence", _noted(prior, p), "hedged opposite claim"
        if not claim["explicit"]:
            if (
                claim["category"] == "explicit_threat"
                and p["intensity"] > cfg["escalation_floor"]
                and claim["confidence"] >= cfg["escalation_min_confidence"]
            ):
                # a calm stance answered by an explicit threat of force ("their bases will be
                # legitimate targets"): not a reversal argued, a hardening
                return (
                    "escalation", _stance(claim, key, ref, sid, 1),
                    f"explicit threat after a calm stance ({p['intensity']:+.1f} -> {claim['intensity']:+.1f})",
                )
            return "evidence", _noted(prior, p), "polarity only implied by threat words"
        if claim["confidence"] < cfg["min_confidence"]:
            return "evidence", _noted(prior, p), "opposite claim below confidence threshold"
        if p["confidence"] < cfg["prior_min_confidence"]:
            return "replaced", _stance(claim, key, ref, sid, 1), "weak prior stance replaced"
        return "contradiction", _stance(claim, key, ref, sid, 1), "polarity reversed"

    # same polarity: reaffirmation, softening, or escalation
    if claim["modality"] is _HEDGED:
        return "reaffirmed", _noted(prior, p, support=True), "hedged restatement"
    reason = _escalation(p, claim, cfg)
    if reason and claim["confidence"] >= cfg["escalation_min_confidence"]:
        return "escalation", _stance(claim, key, ref, sid, p["support"] + 1, p), reason
    if not claim["explicit"] and claim["confidence"] < cfg["prior_min_confidence"]:
        # a posture merely described ("our troops are in the region") neither softens nor restates
        return "reaffirmed", _noted(prior, p, support=True), "weak implied restatement"
    return "reaffirmed", _stance(claim, key, ref, sid, p["support"] + 1, p), "same polarity"


def _escalation(p: dict[str, Any], claim: Fields, cfg: dict[str, Any]) -> str:
    """Why ``claim`` hardens the stance whose fields are ``p`` ("" when it does not)."""
    intensity = claim["intensity"]
    prior_intensity = p["intensity"]
    floor = cfg["escalation_floor"]
    if claim["polarity"] is _PRO:
        before, now = p["magnitude"], claim["magnitude"]
        if (
            before is not None
            and now is not None
            and now >= before * cfg["magnitude_ratio"]
            and now - before >= cfg["magnitude_min_step"]
        ):
            return f"rate raised from {before:g}% to {now:g}%"
    drop = prior_intensity - intensity
    if drop >= cfg["escalation_threshold"] and intensity <= floor:
        return f"intensity {prior_intensity:+.1f} -> {intensity:+.1f} on the conflict scale"
    if (
        _CATEGORY_RANK.get(claim["category"], 0) > _CATEGORY_RANK.get(p["category"], 0)
        and drop >= 1.0
        and intensity <= floor
    ):
        return f"harder category: {p['category'] or 'plain statement'} -> {claim['category']}"
    if (
        _MODALITY_RANK[claim["modality"]] > _MODALITY_RANK[p["modality"]]
        and drop >= 1.0
        and intensity <= floor - 1.0
    ):
        return (
            f"{p['modality'].value} warning became a firm hostile act "
            f"({prior_intensity:+.1f} -> {intensity:+.1f})"
        )
    return ""


def _stance(
    claim: Fields, key: str, ref: StatementRef, sid: str, support: int,
    p: dict[str, Any] | None = None, confidence: float | None = None,
) -> TopicStance:
    """The stance ``claim`` sets (``p``: the fields of the stance it follows, if it keeps some)."""
    magnitude = claim["magnitude"]
    basis = ref
    if confidence is None:
        confidence = claim["confidence"]
    evidence = 0
    if p is not None:
        if magnitude is None:
            magnitude = p["magnitude"]
            if magnitude is not None:
                # a restatement without a rate keeps the statement that set the rate as the basis
                # an escalation of the rate is compared with ("doubled from 25 to 50 percent")
                basis = p["basis"]
        before = p["confidence"]
        if before > confidence:  # max(), keeping the claim's value on a tie
            confidence = before
        evidence = p["evidence"]
    # every field, in declaration order (the order of the JSON)
    return construct(TopicStance, {
        "topic": key,
        "polarity": claim["polarity"],
        "intensity": claim["intensity"],
        "category": claim["category"],
        "confidence": confidence,
        "basis": basis,
        "support": support,
        "last_statement_id": sid,
        "cues": claim["cues"][:6],
        "magnitude": magnitude,
        "modality": claim["modality"],
        "evidence": evidence,
    }, _STANCE_FIELDS)


def _noted(prior: TopicStance, p: dict[str, Any], *, support: bool = False) -> TopicStance:
    update: dict[str, object] = {"evidence": p["evidence"] + 1}
    if support:
        update["support"] = p["support"] + 1
    return replace(prior, update)
