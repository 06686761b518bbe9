"""The detector: ``(state, event) -> (new_state, alerts)``. Pure and deterministic.

It reads a statement with an :class:`~monitor.domain.analysis.Analyzer` (the rule engine
by default), merges the claims per topic, folds each into the actor's stance with the
rules of :mod:`monitor.domain.stance`, and turns contradictions and escalations into
self-contained :class:`~monitor.domain.models.Alert` s. No clock, no I/O, no randomness:
the topic pack is read once, when the detector is built.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from hashlib import sha256
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from monitor.domain.analysis import Analysis, Analyzer
from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.analysis.text import fingerprint_text
from monitor.domain.counterparts import SEPARATOR, Counterparts, split_key
from monitor.domain.fast import construct, replace
from monitor.domain.ids import alert_id, digest
from monitor.domain.models import (
    SCHEMA_VERSION,
    Alert,
    AlertKind,
    Claim,
    Modality,
    Polarity,
    Severity,
    StanceState,
    StatementEvent,
    StatementRef,
    TopicStance,
)
from monitor.domain.nativefold import NativeFold, NativeStep, native_fold
from monitor.domain.stance import EngineConfig, Fields, Outcome, _escalation, decide, merge_claims
from monitor.domain.topics import load_pack

__all__ = ["Analyzer", "Detector", "EngineConfig"]

_SEVERITIES = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
_ALERT_QUOTE_CHARS = 1200
# Everything in monitor/domain that decides what an alert says: the rules, the fold, the
# models and ids it builds, and the data they read.
_DECIDING = (
    "analysis/*.py", "analysis/*.yaml", "topics/*.py", "topics/*.yaml",
    "detector.py", "stance.py", "fast.py", "ids.py", "models.py", "counterparts.py",
)


def code_digest(root: Traversable | None = None) -> str:
    """A short digest of the engine's source and data files (``root``: the installed package).

    Part of :attr:`Detector.version`, so a replay manifest or alert names the exact code that
    decided, not only the declared rule and data versions.
    """
    if root is None:
        root = resources.files(__package__)
    parts: list[str] = []
    for pattern in _DECIDING:
        folder, _, suffix = pattern.rpartition("*")
        base = root.joinpath(folder) if folder else root
        entries = sorted(base.iterdir(), key=lambda e: e.name) if folder else [root.joinpath(suffix)]
        for entry in entries:
            if entry.is_file() and entry.name.endswith(suffix):
                parts.extend((f"{folder}{entry.name}", entry.read_bytes().decode("utf-8")))
    return digest(*parts, size=8)


ENGINE_CODE = code_digest()  # computed once, at import: the files do not change under a running engine


class Detector:
    """Folds one statement into an actor's state and returns the alerts it raises.

    ``Detector()`` is the deterministic rule engine with the built-in topic pack.
    ``analyzer`` swaps the claim reader (see ``monitor.classifiers``); ``config`` sets the
    thresholds and extra topic packs.
    """

    #: the native fold of this detector (``monitor_native.Fold``), when it applies; the replay
    #: kernel folds with it too (None for engines built otherwise, subclasses included)
    native: NativeFold | None = None

    def __init__(self, analyzer: Analyzer | None = None, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        if analyzer is None:
            analyzer = RuleAnalyzer(load_pack(self.config.topic_packs))
        self.analyzer: Analyzer = analyzer
        # topics keyed per counterpart state ("tariffs on China" and "tariffs on Mexico" are two stances)
        pack = getattr(analyzer, "pack", None) or load_pack(self.config.topic_packs)
        self._per_counterpart = frozenset(t.id for t in pack.topics if t.per_counterpart)
        self._families = {t.id: t.family for t in pack.topics if t.family}
        self._counterparts = Counterparts.builtin()
        self._tracked_topics: dict[str, bool] = {}  # memo of _tracked
        self._own_states: dict[str, str | None] = {}  # memo of Counterparts.own per actor
        self._facts: dict[str, tuple[str, Severity]] = {}  # memo of _topic_facts, for self._facts_of
        self._facts_of: Analyzer | None = None
        self._version = f"{analyzer.name}+code{ENGINE_CODE}+cfg{digest(self.config.model_dump_json(), size=6)}"
        # the default engine folds natively (monitor_native.Fold, checked against this module's fold
        # by tests/test_native_fold.py); its step declines what it does not take, which runs below
        self.native = native = native_fold(self)
        self._native_step: NativeStep | None = native.step if native is not None else None

    @property
    def version(self) -> str:
        """Changes whenever the rules, lexicon, topic pack, thresholds or engine code change."""
        return self._version

    def analyze(self, event: StatementEvent) -> Analysis:
        """The claims of one statement (what :meth:`step` folds), for tools and tests."""
        fields = event.__dict__
        return self.analyzer.analyze(fields["text"], speaker=fields["speaker"])

    def step(self, state: StanceState, event: StatementEvent) -> tuple[StanceState, list[Alert]]:
        native = self._native_step
        if native is not None and (done := native(state, event)) is not None:
            return done
        # The models' fields are read through their __dict__: pydantic models define __getattr__,
        # which makes every attribute read take the interpreter's slow path.
        ev = event.__dict__
        st = state.__dict__
        fp = _seen_key(ev["text"])
        if fp in st["seen"]:
            # The same words again (a republication): evidence, never news.
            return replace(state, {"statements": st["statements"] + 1}), []
        cfg = self.config.__dict__
        window = cfg["seen_window"]
        if window:
            seen = st["seen"] + (fp,)
            if len(seen) > window:
                seen = seen[-window:]
        else:
            seen = ()
        analysis = self.analyze(event)
        relations = analysis.relations
        prior_topics: dict[str, TopicStance] = st["topics"]
        topics = dict(prior_topics)
        claims = analysis.claims
        merged = self._merged(claims, ev["actor"]) if claims else {}
        candidates: list[tuple[Outcome, str, Fields, str, TopicStance]] = []
        if merged:
            general = self._per_counterpart and prior_topics  # a key without a stance may fall back to one
            families = self._families
            sid, speaker, source_url, published_at = ev["id"], ev["speaker"], ev["source_url"], ev["published_at"]
            refs: dict[str, StatementRef] = {}
            quote_chars = cfg["quote_chars"]
            for key, claim in merged.items():
                sentence = claim["sentence"]
                ref = refs.get(sentence)
                if ref is None:
                    ref = refs[sentence] = construct(StatementRef, {
                        "id": sid, "speaker": speaker,
                        "quote": sentence if len(sentence) <= quote_chars else _clip(sentence, quote_chars),
                        "source_url": source_url, "published_at": published_at,
                    }, _REF_FIELDS)
                prior = prior_topics.get(key)
                if prior is None and general:
                    prior = self._general(prior_topics, key)  # stances from before this statement
                if prior is None and ":" in key and prior_topics:
                    prior = self._whole(prior_topics, key)
                outcome, stance, reason = decide(prior, claim, key, ref, sid, cfg)
                topics[key] = stance
                if prior is not None:
                    if outcome == "contradiction" or outcome == "escalation":
                        candidates.append((outcome, reason, claim, key, prior))
                elif families and prior_topics:
                    warned = self._warning(prior_topics, key, claim, cfg)
                    if warned is not None:
                        candidates.append(("escalation", warned[1], claim, key, warned[0]))
        for rel in relations:
            prior = topics.get(rel.topic)
            if prior is not None and rel.relation == "same" and rel.topic not in merged:
                topics[rel.topic] = replace(prior, {"support": prior.support + 1})
        alerts = self._alerts(ev, candidates) if candidates else []
        data = st.copy()
        data["topics"] = topics
        data["seen"] = seen
        data["statements"] = st["statements"] + 1
        if not merged and not relations:
            data["undecided"] = st["undecided"] + 1
        fields_set = state.__pydantic_fields_set__
        if not fields_set >= _STEP_FIELDS:
            fields_set = fields_set | _STEP_FIELDS  # as replace() would
        new_state = construct(StanceState, data, fields_set)
        return new_state, alerts

    def _merged(self, claims: tuple[Claim, ...], actor: str) -> dict[str, Fields]:
        """One claim per stance key, in the order the keys first appear.

        The key is the claim's topic, and for topics tracked per counterpart the state its
        sentence is about ("sanctions@iran"). Within one statement a sentence naming no state
        speaks of the state its other sentences on the topic name, when they all name the same
        one ("A ban on Russian aluminium. We will not let up.").
        """
        tracked = self._tracked_topics if self._per_counterpart else None
        if len(claims) == 1:
            f = claims[0].__dict__
            topic = f["topic"]
            if tracked is not None:
                is_tracked = tracked.get(topic)
                if is_tracked is None:
                    is_tracked = self._tracked(topic)
                if is_tracked:
                    state = self._counterparts.counterpart(f["sentence"], self._own(actor))
                    if state is not None:
                        return {f"{topic}{SEPARATOR}{state}": f}
            return {topic: f}
        fields: list[Fields] = []
        keys: list[str] = []
        states: list[str | None] | None = None  # per claim, the state its sentence names
        named: dict[str, str | None] = {}  # topic -> the one state its claims name (None: several)
        said: dict[str, str | None] = {}  # sentence -> its state (a sentence often makes several claims)
        own: str | None = None
        own_known = False
        i = -1  # (a counter is cheaper than enumerate's tuples on this path)
        for c in claims:
            i += 1
            f = c.__dict__
            topic = f["topic"]
            fields.append(f)
            keys.append(topic)
            if tracked is None:
                continue
            is_tracked = tracked.get(topic)
            if is_tracked is None:
                is_tracked = self._tracked(topic)
            if not is_tracked:
                continue
            sentence = f["sentence"]
            if sentence in said:
                state = said[sentence]
            else:
                if not own_known:
                    own, own_known = self._own(actor), True
                state = said[sentence] = self._counterparts.counterpart(sentence, own)
            if state is None:
                continue
            if states is None:
                states = [None] * len(claims)
            states[i] = state
            if topic not in named:
                named[topic] = state
            elif named[topic] != state:
                named[topic] = None
        if states is not None:
            for i in range(len(keys)):
                topic = keys[i]
                state = states[i]
                if state is None:
                    state = named.get(topic)  # the one state the topic's other claims name
                if state is not None:
                    keys[i] = f"{topic}{SEPARATOR}{state}"
        out: dict[str, Fields] = {}
        groups: dict[str, list[Fields]] | None = None
        for key, f in zip(keys, fields):  # noqa: B905 (same length; zip's strict keyword costs a slow call)
            first = out.get(key)
            if first is None:
                out[key] = f
            else:
                if groups is None:
                    groups = {}
                group = groups.get(key)
                if group is None:
                    groups[key] = [first, f]
                else:
                    group.append(f)
        if groups is not None:
            for key, group in groups.items():
                merged = merge_claims(group)
                if merged is None:
                    del out[key]  # a tie says nothing
                else:
                    out[key] = merged
        return out

    # -- counterparts ----------------------------------------------------------------------

    def _own(self, actor: str) -> str | None:
        """The state ``actor`` stands for (see :meth:`Counterparts.own`), memoised."""
        own = self._own_states.get(actor, _UNKNOWN)
        if own is _UNKNOWN:
            if len(self._own_states) >= _MEMO_SIZE:
                self._own_states.clear()
            own = self._own_states[actor] = self._counterparts.own(actor)
        assert not isinstance(own, _Unknown)
        return own

    def _general(self, topics: dict[str, TopicStance], key: str) -> TopicStance | None:
        """The stance a claim is compared with when its own key has none yet.

        A claim about one state falls back to the stance stated without naming any ("we will
        not send tanks", then "tanks will go to Ukraine"); a claim naming no state falls back to
        the latest stance about any state. A claim about one state never meets another state's
        stance: Finland's accession ratified is no reversal on Sweden's.
        """
        topic, sep, _ = key.partition(SEPARATOR)
        tracked = self._tracked_topics.get(topic)
        if not (self._tracked(topic) if tracked is None else tracked):
            return None
        if sep:
            return topics.get(topic)
        return _latest_about_a_state(topics, topic)

    @staticmethod
    def _whole(topics: dict[str, TopicStance], key: str) -> TopicStance | None:
        """A sub-topic (a weapon system) with no stance yet meets a refusal of its whole topic.

        "No lethal weapons", then "we will supply artillery shells" reverses the refusal; but
        a general promise ("we will keep arming Kyiv") is no promise of every system, so a stance
        for the whole topic counts only when it is a refusal. With a state, the whole topic's
        stance on that state comes first, then the one naming no state.
        """
        head, sep, state = key.partition(SEPARATOR)
        topic = head.partition(":")[0]
        found = None
        for k in (f"{topic}{SEPARATOR}{state}", topic) if sep else (topic,):
            found = topics.get(k)
            if found is not None:
                break
        if found is None and not sep:
            found = _latest_about_a_state(topics, topic)  # as _general reads a claim naming no state
        return found if found is not None and found.__dict__["polarity"] is Polarity.CONTRA else None

    def _warning(
        self, topics: dict[str, TopicStance], key: str, claim: Fields, cfg: dict[str, Any]
    ) -> tuple[TopicStance, str] | None:
        """The latest hostile stance of ``claim``'s family that ``claim`` hardens, and why.

        "We will take corresponding countermeasures", then "missile brigades will be stationed on
        the border": the first hostile claim on a topic is measured against the actor's latest
        hostile stance on the other topics of its family (``family`` in the topic pack), by the rules of
        an escalation on one topic; across topics the claim must also be clearly hostile (a threshold
        below the escalation floor). Never a contradiction: the topics differ. A stance
        about another state than the claim's does not count.
        """
        topic, _, state = key.partition(SEPARATOR)
        family = self._families.get(topic.partition(":")[0])
        # across topics only a clearly hostile act counts: a threshold below the escalation floor
        if (
            family is None
            or claim["modality"] is Modality.HEDGED
            or claim["intensity"] > cfg["escalation_floor"] - cfg["escalation_threshold"]
            or claim["confidence"] < cfg["escalation_min_confidence"]
        ):
            return None
        families = self._families

        def rung(k: str, s: TopicStance) -> bool:
            head, _, other = k.partition(SEPARATOR)
            return (
                families.get(head.partition(":")[0]) == family
                and not (state and other and other != state)
                and s.__dict__["intensity"] < 0
            )

        latest = _latest(s for k, s in topics.items() if rung(k, s))
        if latest is None:
            return None
        reason = _escalation(latest.__dict__, claim, cfg)
        if not reason:
            return None
        return latest, f"{reason}, after a warning on {self._topic_name(latest.__dict__['topic'])}"

    def _tracked(self, topic: str) -> bool:
        """Whether ``topic`` (a topic id, or id:system) keeps one stance per counterpart state."""
        found = self._tracked_topics.get(topic)
        if found is None:
            if len(self._tracked_topics) >= _MEMO_SIZE:
                self._tracked_topics.clear()
            found = self._tracked_topics[topic] = topic.split(":", 1)[0] in self._per_counterpart
        return found

    def _topic_name(self, key: str) -> str:
        topic, state = split_key(key)
        name = self.analyzer.topic_name(topic)
        return f"{name}, {self._counterparts.display(state)}" if state else name

    def _topic_facts(self, key: str) -> tuple[str, Severity]:
        """The name of a stance key and the base severity of its alerts, asked of the analyzer once
        (it answers the same every time: :class:`~monitor.domain.analysis.Analyzer`)."""
        analyzer = self.analyzer
        if analyzer is not self._facts_of:
            self._facts.clear()
            self._facts_of = analyzer
        facts = self._facts.get(key)
        if facts is None:
            if len(self._facts) >= _MEMO_SIZE:
                self._facts.clear()
            severity = analyzer.topic_severity(split_key(key)[0])
            facts = self._facts[key] = (self._topic_name(key), _SEVERITY_OF.get(severity) or Severity(severity))
        return facts

    # -- alerts ---------------------------------------------------------------------------

    def _alerts(
        self, event: dict[str, Any], candidates: list[tuple[Outcome, str, Fields, str, TopicStance]]
    ) -> list[Alert]:
        """One alert per kind per statement: the most severe topic wins, others are named."""
        best: dict[AlertKind, tuple[Alert, list[str]]] = {}
        for outcome, reason, claim, key, prior in candidates:
            kind = AlertKind.CONTRADICTION if outcome == "contradiction" else AlertKind.ESCALATION
            alert = self._alert(event, kind, reason, claim, key, prior)
            current = best.get(kind)
            if current is None:
                best[kind] = (alert, [])
            elif (alert.severity.rank, alert.confidence) > (current[0].severity.rank, current[0].confidence):
                best[kind] = (alert, [current[0].topic_name, *current[1]])
            else:
                current[1].append(alert.topic_name)
        out: list[Alert] = []
        for kind in (AlertKind.CONTRADICTION, AlertKind.ESCALATION):
            if kind in best:
                alert, others = best[kind]
                if others:
                    alert = replace(alert, {"explanation": f"{alert.explanation} Also: {', '.join(others)}."})
                out.append(alert)
        return out

    def _alert(
        self, event: dict[str, Any], kind: AlertKind, reason: str, claim: Fields, key: str, prior: TopicStance
    ) -> Alert:
        actor, speaker, published_at = event["actor"], event["speaker"], event["published_at"]
        p = prior.__dict__
        basis = p["basis"].__dict__
        name, base = self._topic_facts(key)
        confidence = round(min(claim["confidence"], max(p["confidence"], 0.5) + 0.1, 1.0), 3)
        modality = claim["modality"]
        if kind is AlertKind.CONTRADICTION:
            rank = _SEVERITY_RANK[base]
            if modality is not Modality.ASSERTED or confidence < 0.75:
                rank -= 1
            explanation = (
                f"{actor} reversed its stance on {name}: {basis['speaker']} "
                f"({_day(basis['published_at'])}) {_verb(p['polarity'])} it, now {speaker} "
                f"({_day(published_at)}) {_verb(claim['polarity'], present=True)} it"
            )
        else:
            intensity = claim["intensity"]
            rank = 3 if intensity <= -8 else 2 if intensity <= -6 else 1
            explanation = (
                f"{actor} hardened its stance on {name}: {reason}; "
                f"{basis['speaker']} ({_day(basis['published_at'])}) -> {speaker} "
                f"({_day(published_at)})"
            )
        cues = ", ".join(claim["cues"][:4])
        if cues:
            explanation += f" [cues: {cues}"
            if claim["negation_cues"]:
                explanation += f"; negation: {', '.join(claim['negation_cues'][:3])}"
            if modality is not Modality.ASSERTED:
                explanation += f"; {_MODALITY_VALUE[modality]}: {', '.join(claim['modality_cues'][:2])}"
            explanation += "]"
        explanation += "."
        text = event["text"]
        statement = construct(StatementRef, {
            "id": event["id"], "speaker": speaker,
            "quote": text if len(text) <= _ALERT_QUOTE_CHARS else _clip(text, _ALERT_QUOTE_CHARS),
            "source_url": event["source_url"], "published_at": published_at,
        }, _REF_FIELDS)
        # every field in declaration order; all but schema_version given, as build() would record
        return construct(Alert, {
            "schema_version": SCHEMA_VERSION,
            "id": alert_id(event["id"], _KIND_VALUE[kind], key),
            "kind": kind,
            "actor": actor,
            "topic": key,
            "topic_name": name,
            "statement": statement,
            "prior": p["basis"],
            "severity": _SEVERITIES[max(0, min(3, rank))],
            "confidence": confidence,
            "explanation": explanation,
            "cues": claim["cues"],
            "negation_cues": claim["negation_cues"],
            "modality_cues": claim["modality_cues"],
            "prior_polarity": p["polarity"],
            "new_polarity": claim["polarity"],
            "prior_intensity": p["intensity"],
            "new_intensity": claim["intensity"],
            "engine": self.version,
        }, _ALERT_FIELDS)


def _day(moment: datetime) -> str:
    """``f"{moment:%Y-%m-%d}"``, memoised per day and without strftime (the C library's %Y does not
    pad years below 1000: those keep strftime)."""
    day = moment.date()
    text = _DAYS.get(day)
    if text is None:
        if len(_DAYS) >= _MEMO_SIZE:
            _DAYS.clear()
        text = _DAYS[day] = day.isoformat() if day.year >= 1000 else f"{moment:%Y-%m-%d}"
    return text


_DAYS: dict[date, str] = {}


class _Unknown:
    """Marks a memo entry not computed yet."""


_UNKNOWN = _Unknown()
_MEMO_SIZE = 4096  # entries kept per memo (actors, topic keys) before it starts over
_REF_FIELDS = set(StatementRef.model_fields)
_ALERT_FIELDS = set(Alert.model_fields) - {"schema_version"}
_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(_SEVERITIES)}
_SEVERITY_OF: dict[str, Severity] = {severity.value: severity for severity in Severity}
_KIND_VALUE = {kind: kind.value for kind in AlertKind}  # enum .value is a Python-level property
_MODALITY_VALUE = {modality: modality.value for modality in Modality}
_STEP_FIELDS = frozenset(("topics", "seen", "statements", "undecided"))
_WORD_BYTES = bytes(
    c + 32 if 65 <= c <= 90 else c if chr(c).isascii() and (chr(c).isalnum() or c == 95) else 32 for c in range(256)
)


def _seen_key(text: str) -> str:
    """``digest(fingerprint_text(text), size=16)``: the key of ``text`` in the seen window.

    For ASCII text the words are found in bytes (the word characters of ASCII are A-Z, a-z, 0-9
    and the underscore): without the regex, the list of words and their join.
    """
    if text.isascii():
        data = text.encode().translate(_WORD_BYTES)  # word characters lowered, all else spaces
        while True:  # runs of spaces to one
            shorter = data.replace(b"  ", b" ")
            if len(shorter) == len(data):
                break
            data = shorter
        data = data.strip()
    else:
        data = fingerprint_text(text).encode("utf-8")
    return sha256(len(data).to_bytes(4, "big") + data).hexdigest()[:16]


def _latest(stances: Iterable[TopicStance]) -> TopicStance | None:
    """The latest of ``stances`` by the date of its basis, the first of the latest on a tie (as max() picks)."""
    latest: TopicStance | None = None
    when = None
    for s in stances:
        at = s.__dict__["basis"].__dict__["published_at"]
        if latest is None or at > when:
            latest, when = s, at
    return latest


def _latest_about_a_state(topics: dict[str, TopicStance], key: str) -> TopicStance | None:
    """The latest stance on ``key`` about any state (``key@state``), the first of the latest on a tie."""
    prefix = key + SEPARATOR
    return _latest(s for k, s in topics.items() if k.startswith(prefix))


def _verb(polarity: Polarity, *, present: bool = False) -> str:
    if polarity is Polarity.PRO:
        return "supports" if present else "supported"
    return "opposes" if present else "opposed"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
