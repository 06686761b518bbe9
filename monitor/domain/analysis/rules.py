"""The default analyzer: deterministic rules over lexicons and a topic pack.

How a statement is read (details in ``docs/stance-engine.md``):

1. Normalise, split into sentences, match every known phrase in one regex pass.
2. Per sentence, find attribution frames: reports by others ("Western media claim X") are
   not the actor's stance and are dropped; dismissed reports ("reports that X are
   fabrications", "he denied reports that X") count as the opposite of X; a question
   answered "No" denies its content.
3. Split the sentence into clauses at boundaries (``;``, ``:``, "but", ", and we", ...)
   and subordinators. Conditional clauses ("if", "unless", "as long as") make the rest of
   the sentence conditional; background clauses ("after", "because", "which") carry no stance.
4. In each main clause, every topic cue gets a polarity from the stance words governing it,
   each flipped by the negators before it in the clause (so double negation cancels and
   "does not mean that our goals have changed" negates only the change). Continuity and
   change words map to a polarity for topics whose proposition is continuity (war aims).
   A clause without a cue inherits the topics of the clause or sentence before it.
5. Intensity on a -10..+10 conflict-cooperation scale: the topic's value for the polarity,
   capped by threat words, scaled by amplifiers ("all of", "massive") and softeners
   ("measured", "scaled-down"); tariff-like topics also read percentages.

Nothing here guesses: a sentence without a topic, or with votes that cancel out, yields no
claim and an ``undecided`` reason.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from itertools import pairwise
from typing import Any

from monitor.domain.analysis import Analysis, Relation
from monitor.domain.analysis.lexicon import (
    AMP,
    BOUND,
    CANCEL,
    CHANGE,
    COMMA,
    COND,
    CONDCUE,
    CUE,
    DISMISS,
    DISMISS_VERB,
    EVALUATOR,
    GOVERNOR,
    HEDGE,
    NEG,
    NEG_NOUN,
    NEUTRAL,
    OBJECT,
    OPERATOR,
    OTHER_SOURCE,
    OWN,
    PCT,
    QUESTION,
    REAFFIRM,
    REPORT_NOUN,
    REPORT_VERB,
    REVERSER,
    SCENARIO,
    STANCE,
    SUB,
    THREAT,
    Hit,
    LexiconBuilder,
    Meaning,
)
from monitor.domain.analysis.text import normalize, normalize_any, sentences
from monitor.domain.fast import build
from monitor.domain.ids import digest
from monitor.domain.models import Claim, Modality, Polarity
from monitor.domain.topics import TopicPack, TopicSpec, builtin_pack, read_data
from monitor.errors import EnvironmentProblem

RULES_VERSION = "1.0"
LEXICON_FILE = "lexicon.yaml"

_PRO, _CONTRA = Polarity.PRO, Polarity.CONTRA
_ANSWER = re.compile(r"""(?:said|replied|answered|responded|:)\s*"?\s*([a-z][a-z ,']*?)\s*[.!]*"?\s*[.!]*$""")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_TITLES = _words(
    "president prime minister foreign secretary spokesman spokeswoman spokesperson chancellor "
    "general deputy press ambassador chairman he she i we they it mr mrs ms dr"
)
_NAMED_REPORT_VERBS = _words(
    "said says claimed claims alleged alleges suggested suggests wrote writes told insisted insists "
    "argued argues accused accuses"
)
_WITHOUT_SCOPE = 30  # characters: "without" negates only what follows closely
_MAX_AMP = 3.0
_THREAT_NEG_GAP = 2  # characters between a negator and the threat word it denies ("no war", "not answer")
_THREAT_ACT = -7.0  # threat words at or below this are acts ("legitimate targets"), not nouns ("war")
_SENTENCE_THREAT = -6.0  # explicit threats colour every claim of their sentence that points the same way
_TRIGGER_SPAN = 24  # characters after "response"/"countermeasures" naming what is responded to
# the preposition that introduces what is responded to, after the cue or as its last word
_TRIGGER_PREP = re.compile(r"\s+(?:\w+ly\s+)?(?:to|against|for|on|over|at)\b", re.IGNORECASE)  # "respond harshly to"
_TRIGGER_END = re.compile(r"\b(?:to|against|for|on|over|at)$")
# characters between a stance verb that dismisses ("denies") and the report it dismisses ("media reports")
_DISMISS_GAP = 16
_OPERATOR_GAP = 30  # characters between a negative stance word and the stance word it governs
_REPORT_SOURCES = frozenset((REPORT_NOUN, OTHER_SOURCE))
_NO_POSITIONS: frozenset[int] = frozenset()
# characters between a negating subject and the topic it denies without a stance word: "no one
# will negotiate", not "nobody in Paris is talking about French soldiers fighting"
_NEG_TOPIC_GAP = 25
_NEG_SUBJECTS = frozenset(("nobody", "no one", "nothing", "none"))
# a phrase granting permission ("under licence", "with an exemption"): the clause's "may" grants, it
# does not hedge ("imports of LNG may continue under licence" lets them continue)
PERMIT = "permit"
_DEONTIC = frozenset(("may", "can"))
# a verb and its particle with an object between them ("pulling our last soldiers out")
_PHRASAL_VERBS = (
    "pull|pulls|pulled|pulling|bring|brings|brought|bringing|call|calls|called|calling|hand|hands|handed|"
    "handing|cut|cuts|cutting|phase|phases|phased|phasing|turn|turns|turned|turning|roll|rolls|rolled|"
    "rolling|wind|winds|winding|wound|break|breaks|broke|breaking|shut|shuts|shutting|scale|scales|scaled|"
    "scaling|switch|switches|switched|switching|give|gives|gave|giving|put|puts|putting|draw|draws|drew|"
    "drawing|ramp|ramps|ramped|ramping|step|steps|stepped|stepping|lay|lays|laid|laying|send|sends|sent|sending"
)
_PHRASAL_VERB_SET = frozenset(_PHRASAL_VERBS.split("|"))
_PARTICLES = frozenset(("out", "off", "over", "back", "down", "home", "up", "aside"))
# a cheap test before the sentence is tokenised: a particle as a whole word (one C-level search)
_PARTICLE_HINT = re.compile(r" (?:o(?:ut|ff|ver)|back|down|home|up|aside)\b")

_WORD = re.compile(r"[a-z0-9'-]+")
_SPACES_AND_WORDS = re.compile(r"[a-z0-9'\- ]*")
_INVERSIONS = ("should ", "were ", "had ")
# a question answered "no" by the sentence after it ("When did he ever say the goals were changing?
# Never."): the question's content is denied
_RHETORICAL_NO = re.compile(r"""[\s"']*(no one|nobody|never|none|not|no)(?![a-z0-9])""")
_EVAL_NEG_SPAN = 20  # characters before a post-posed judgement where a negator still turns it
_BARE_CONFIDENCE = 0.4  # below the least confidence of a stance a reversal is alerted on
_WARN_VERBS = _words("warn warns warned warning")
_CLOSES_QUESTION = frozenset((COMMA, BOUND))  # the end of a question's clause ("asked about X, he said ...")
_WARN_SPAN = 40  # characters between "warn" and the "against" that names what is warned against
_FORCE_NOUN = frozenset((THREAT, CUE))
_NOT_NOUN = frozenset((STANCE, NEG, BOUND, COMMA, COND, SUB, THREAT))  # a noun phrase ends here
# after a comma, a subject of one to five words (not a preposition, subordinator or pronoun that
# continues the clause) and a finite auxiliary: the comma starts a new clause
_NEW_CLAUSE = re.compile(
    r"\s*(?:and\s+|so\s+)?(?!(?:as|if|when|whether|which|who|whom|whose|that|in|on|at|for|with|of|to|by|from|"
    r"including|although|though|since|because|after|before|until|unless|while|where|once|even|not|nor|or|"
    r"but|then|than|what|how|why)\b)([A-Za-z][\w'-]*)\s+(?:(?!(?:and|or|nor)\b)[A-Za-z][\w'-]*\s+){0,4}?"
    r"(?:has|have|had|will|would|shall|may|might|can|could|must|is|are|was|were|does|do|did)\s"
)
_SCOPED = frozenset((NEG, HEDGE))  # what a new clause after a comma keeps out of its scope
# verbs whose infinitive is their object: "going to ease" is no purpose clause like "(in order) to ease"
_TO_HEADS = _words(
    "going want wants wanted plan plans planned intend intends intended need needs needed decided decide "
    "decides agreed agree agrees ready prepared willing able unable refuse refuses refused seek seeks sought "
    "have has had"
)
_ARTICLE = _words("article articles")
_PRONOUNS = _words(
    "it they this that these those we he she i you nobody nothing none everyone everybody everything anyone "
    "anything someone somebody something all both"
)
# a comma that ends what a determiner "no" negates: a conjunction or a new clause follows, not a list
_CLAUSE_COMMA = re.compile(r"\s*(?:and|but|while|so|yet|whereas)\b")
_PURPOSE = frozenset(("in support of",))  # after a comma: why the act is done, not a stance
_CLAIM_ROLES = frozenset((CUE, STANCE, REAFFIRM, CHANGE, THREAT))  # what a claim or relation needs


@dataclass(slots=True)
class _Segment:
    kind: str  # main | cond | sub
    start: int
    close_at_comma: bool = False
    named_subject: bool = False  # opened after a comma by a subject that is no pronoun: it inherits no topic
    hits: list[Hit] = field(default_factory=list)


@dataclass(slots=True)
class _Raw:
    key: str
    topic: str
    pol: Polarity
    explicit: bool
    confidence: float
    intensity: float
    modality: Modality
    category: str | None
    pos: int
    sentence: str
    cues: list[str]
    neg_cues: list[str]
    mod_cues: list[str]
    magnitude: float | None
    at: int = -1  # where its stance words start (its first vote; pos when it has none)


_Done = tuple[tuple[Claim, ...], tuple[Relation, ...], tuple[str, ...], tuple[str, ...]]


class _InflectingBuilder(LexiconBuilder):
    """A stem written with its final e ("resume*", "postpone*") also names its -ing form.

    The scanner matches a stem as a prefix, so "postpone*" finds "postponed" but not "postponing";
    every such stem in the lexicon and the topic packs gets its -ing form as a literal phrase too.
    """

    def add(self, phrase: str, meaning: Meaning) -> None:
        super().add(phrase, meaning)
        if phrase.endswith("e*") and len(phrase) > 4:
            super().add(phrase[:-2] + "ing", meaning)

    def compile(self) -> Any:
        """A stance phrase keeps the stance readings of its tail for the topics it has none for.

        The scanner keeps the longest phrase, so recognition's "have ended" would hide the generic
        "ended" from "we have ended talks", and territory's "be handed over" the prisoners' "handed
        over"; the longer phrase carries those readings too (a topic's own reading still wins for
        that topic).
        """
        stance = {
            p: [m for m in ms if m.role == STANCE]
            for p, ms in self.phrases.items()
            if not p.endswith("*") and any(m.role == STANCE for m in ms)
        }
        for phrase, own in stance.items():
            words = phrase.split()
            meanings = self.phrases[phrase]
            for k in range(1, len(words)):
                tail = stance.get(" ".join(words[k:]))
                if tail is None:
                    continue
                have = {m.topic for m in own}
                for m in tail:
                    if m.topic not in have and m not in meanings:
                        meanings.append(m)
                break  # the longest tail that is a phrase of its own
        return super().compile()


# words before a container noun that make it a verb: "we will supply weapons", "they continue to export"
_VERB_BEFORE = _words("will would shall can could must may might to we they i not also still never cannot won't")


def _names(h: Hit, topic: str) -> bool:
    return any(m.role == CUE and m.topic == topic for m in h.meanings)


def _verb_use(sentence: str, pos: int) -> bool:
    """The word at ``pos`` is used as a verb ("we will supply weapons"), judged by the word before it."""
    before = sentence[max(0, pos - 24) : pos].split()
    while before and len(before[-1]) > 3 and before[-1].lower().endswith("ly"):
        before.pop()  # an adverb between: "will directly supply"
    return bool(before) and before[-1].lower() in _VERB_BEFORE


def speaker_words(speaker: str | None) -> frozenset[str]:
    """The speaker's words as the rules read them: "Dmitry Peskov," -> {"dmitry", "peskov"} (a sentence
    naming them is the speaker's own, not reported speech of others)."""
    return frozenset(w.lower().strip(".,") for w in speaker.split()) if speaker else frozenset()


def _load_lexicon_data() -> dict[str, Any]:
    data: dict[str, Any] = read_data(__package__, LEXICON_FILE)
    return data


class RuleAnalyzer:
    """Deterministic, explainable claim extraction. Same text in, same claims out."""

    def __init__(
        self, pack: TopicPack | None = None, *, sentence_cache: int = 20_000, native: bool | None = None
    ) -> None:
        """``native``: read with the native core (``monitor_native``, a port of these rules checked
        against them by a differential test). ``None`` (default) uses it when it is installed and
        built from these rules, ``False`` never, ``True`` requires it."""
        self.pack = pack if pack is not None else builtin_pack()
        self._cache_size = sentence_cache
        self._cache: dict[tuple[str, tuple[str, ...], frozenset[str], str], _Done] | None = (
            {} if sentence_cache > 0 else None
        )
        self._topics: dict[str, TopicSpec] = self.pack.by_id()
        # the topic a conditional threat with no topic of its own speaks to ("if they fire, we will
        # flatten the district" is a threat of retaliation)
        self._threat_default = next((t.id for t in self.pack.topics if t.threat_default), None)
        data = _load_lexicon_data()
        self._answers_no = frozenset(data["answers_no"])
        self._answers_yes = frozenset(data["answers_yes"])
        self._red_lines = frozenset(data["red_lines"])
        b = _InflectingBuilder()
        b.add_all(data["negators"], Meaning(NEG))
        b.add_all(data["cancel"], Meaning(CANCEL))
        b.add_all(data["pro"], Meaning(STANCE, pol=1))
        b.add_all(data["contra"], Meaning(STANCE, pol=-1))
        b.add_all(data["operators"], Meaning(OPERATOR))
        b.add_all(data["operators"], Meaning(STANCE, pol=-1))
        b.add_all(data["evaluators"], Meaning(EVALUATOR))
        b.add_all(data["evaluators"], Meaning(STANCE, pol=-1))
        b.add_all(data["reaffirm"], Meaning(REAFFIRM))
        b.add_all(data["change"], Meaning(CHANGE))
        b.add_all(data["hedges"], Meaning(HEDGE))
        b.add_all(data["conditions"], Meaning(COND))
        b.add_all(data["condition_cues"], Meaning(CONDCUE))
        b.add_all(data["subordinators"], Meaning(SUB))
        b.add_all(data["boundaries"], Meaning(BOUND))
        b.add_weighted(data["amplifiers"], AMP)
        b.add_weighted(data["threats"], THREAT)
        b.add_weighted(data["red_lines"], THREAT)
        b.add_all(data["report_nouns"], Meaning(REPORT_NOUN))
        b.add_all(data["other_sources"], Meaning(OTHER_SOURCE))
        b.add_all(data["report_verbs"], Meaning(REPORT_VERB))
        b.add_all(data["dismissals"], Meaning(DISMISS))
        b.add_all(data["dismiss_verbs"], Meaning(DISMISS_VERB))
        # "rejected reports", "rejects media claims": a dismissing phrase that ends in a report noun names the report
        nouns = frozenset(data["report_nouns"])
        b.add_all([p for p in data["dismiss_verbs"] if " " in p and p.rsplit(" ", 1)[1] in nouns], Meaning(REPORT_NOUN))
        b.add_all(data["questions"], Meaning(QUESTION))
        b.add_all(data["own_subjects"], Meaning(OWN))
        b.add_all(data["neutral"], Meaning(NEUTRAL))
        b.add_all(data["opaque"], Meaning(NEUTRAL, value=1.0))
        b.add_all(data["scenario"], Meaning(SCENARIO))
        b.add_all(data["governors"], Meaning(GOVERNOR))
        b.add_all(data["neg_nouns"], Meaning(NEG_NOUN))
        b.add_all(data["reversers"], Meaning(REVERSER))
        b.add_all(data.get("permissions", ()), Meaning(PERMIT))
        for t in self.pack.topics:
            b.add_all(t.cues, Meaning(CUE, topic=t.id))
            b.add_all(t.pro_cues, Meaning(CUE, topic=t.id, pol=1))
            b.add_all(t.contra_cues, Meaning(CUE, topic=t.id, pol=-1))
            b.add_all(t.pro, Meaning(STANCE, topic=t.id, pol=1))
            b.add_all(t.contra, Meaning(STANCE, topic=t.id, pol=-1))
            for obj, phrases in t.objects.items():
                b.add_all(phrases, Meaning(OBJECT, topic=t.id, obj=obj))
        self._lexicon = b.compile()
        self._phrasal_memo: dict[str, tuple[Meaning, ...]] = {}
        self._name = f"rules-{RULES_VERSION}+lex{data['version']}+topics-{self.pack.version}"
        self._native: Any = _native_core(self, required=bool(native)) if native is not False else None

    @property
    def native(self) -> bool:
        """Whether statements are read by the native core (the output is the same either way)."""
        return self._native is not None

    @property
    def name(self) -> str:
        return self._name

    def _phrasal(self, hits: list[Hit], low: str) -> list[Hit]:
        """Phrasal verbs split by their object: "pulling our last soldiers out", "hand them back".

        The verb takes the meaning of the joined phrase ("pull out") when the lexicon knows it, and
        the particle's own reading ("back" = support) is dropped; the object keeps its hits.
        """
        out = hits
        words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(low)]
        for j, (p0, _, particle) in enumerate(words):
            if particle not in _PARTICLES:
                continue
            # the nearest phrasal verb one to four words before the particle, no punctuation between
            k = next((k for k in range(j - 2, max(j - 6, -1), -1) if words[k][2] in _PHRASAL_VERB_SET), -1)
            if k < 0 or not _SPACES_AND_WORDS.fullmatch(low, words[k][1], p0):
                continue
            v0, v1, verb = words[k]
            joined = f"{verb} {particle}"
            found = self._phrasal_memo.get(joined)
            if found is None:
                scanned = self._lexicon.scan(joined)
                found = scanned[0].meanings if len(scanned) == 1 and scanned[0].text == joined else ()
                self._phrasal_memo[joined] = found
            if not found:
                continue
            out = [h for h in out if not (h.start == v0 and h.end == v1) and h.start != p0]
            out.append(Hit(v0, v1, joined, found))
            out.sort(key=lambda h: h.start)
        return out

    def topic_spec(self, topic: str) -> TopicSpec | None:
        return self._topics.get(topic.split(":", 1)[0])

    def topic_name(self, topic: str) -> str:
        base, _, obj = topic.partition(":")
        spec = self._topics.get(base)
        name = spec.name if spec else base
        return f"{name} ({obj.replace('_', ' ')})" if obj else name

    def topic_severity(self, topic: str) -> str:
        spec = self.topic_spec(topic)
        return spec.severity.value if spec else "medium"

    # -- analysis ---------------------------------------------------------------------

    def analyze(self, text: str, *, speaker: str | None = None) -> Analysis:
        speaker_parts = speaker_words(speaker)
        core = self._native
        # the native core reads ASCII only (its offsets are bytes); normalising maps typographic quotes
        # to ASCII ones, so most other statements qualify once normalised (which reads the same)
        if core is not None and (text.isascii() or (text := normalize_any(text)[0]).isascii()):
            return _from_native(core.analyze(text, list(speaker_parts)))
        return self._analyze(text, speaker_parts)

    def _analyze(self, text: str, speaker_parts: frozenset[str]) -> Analysis:
        cased, low = normalize(text)
        claims: list[Claim] = []
        relations: list[Relation] = []
        undecided: list[str] = []
        carry: tuple[str, ...] = ()
        cache = self._cache
        for s0, s1 in sentences(cased):
            # A sentence reads the same wherever it appears, given the topics carried into it
            # and the speaker: its result is cached (bounded), which changes speed, not output.
            denied = ""
            if low[s0:s1].rstrip().endswith("?") and (m := _RHETORICAL_NO.match(low, s1)) is not None:
                denied = m.group(1)
            key = (low[s0:s1], carry, speaker_parts, denied)
            done = cache.get(key) if cache is not None else None
            if done is None:
                s_cased, s_low = cased[s0:s1], low[s0:s1]
                raws: list[_Raw] = []
                rels: list[Relation] = []
                und: list[str] = []
                hits = self._lexicon.scan(s_low)
                if s_low.startswith(_INVERSIONS) and not s_low.rstrip().endswith("?"):
                    # "Should Tokyo host a NATO office, ..." / "Were they to ...": an inverted condition
                    hits.insert(0, Hit(0, s_low.index(" "), s_low[: s_low.index(" ")], (Meaning(COND),)))
                if _PARTICLE_HINT.search(s_low):
                    hits = self._phrasal(hits, s_low)
                cued = self._sentence(
                    hits, 0, s1 - s0, s_cased, s_low, carry, speaker_parts, raws, rels, und, denied
                )
                done = (tuple(_to_claim(r) for r in raws), tuple(rels), tuple(und), cued)
                if cache is not None:
                    if len(cache) >= self._cache_size:
                        cache.clear()
                    cache[key] = done
            claims.extend(done[0])
            relations.extend(done[1])
            undecided.extend(done[2])
            if done[3]:
                carry = done[3]
        if not claims and not relations and not undecided:
            undecided.append("no topic recognised")
        return Analysis(claims=tuple(claims), relations=tuple(relations), undecided=tuple(undecided))

    def _sentence(
        self,
        hits: list[Hit],
        s0: int,
        s1: int,
        cased: str,
        low: str,
        carry: tuple[str, ...],
        speaker_parts: frozenset[str],
        raws: list[_Raw],
        relations: list[Relation],
        undecided: list[str],
        denied: str = "",
    ) -> tuple[str, ...]:
        if not any(h.roles & _CLAIM_ROLES for h in hits):
            # Without topic cues, stance, continuity or threat words a sentence can make no claim,
            # relation or "stance words without a topic" note, whatever it carries or frames.
            return ()
        sentence = cased[s0:s1]
        # -- attribution frame: which span is someone else's words, and is it dismissed?
        region: tuple[int, int] | None = None
        flip_cue = ""
        qhit = next((h for h in hits if h.role == QUESTION), None)
        asked = qhit is not None
        if denied:
            # a question the next sentence answers "no": "Who ever suggested surrendering it? No one."
            region, flip_cue = (s0, s1), f"? -> {denied}"
        elif qhit is not None:
            m = _ANSWER.search(low[s0:s1])
            answer = m.group(1).strip(" ,") if m else ""
            if answer in self._answers_no:
                region, flip_cue = (qhit.start, s1), f"{qhit.text} -> {answer}"
            elif answer not in self._answers_yes:
                # "asked about the drills, the spokesman said they will go ahead": the question is
                # someone else's words; after the comma that closes it comes the answer, the speaker's own
                end = next((h.start for h in hits if h.start >= qhit.end and h.role in _CLOSES_QUESTION), s1)
                region = (qhit.start, end)
        else:
            region, flip_cue, muted = self._report_frame(hits, s0, s1, cased, speaker_parts)
            if muted is not None:
                # "the ministry denies reports that ...": the verb dismisses the report, it is no stance
                hits = [Hit(h.start, h.end, h.text, (Meaning(DISMISS_VERB),)) if h.start == muted else h for h in hits]

        # -- clauses
        segments: list[_Segment] = []
        cur = _Segment("main", s0)
        after_comma = False
        scoped: bool | None = None  # the sentence has a negator or hedge (computed at its first comma)
        for i, h in enumerate(hits):
            role = h.role
            if after_comma and h.text in _PURPOSE and cur.kind == "main":
                # ", in support of stable oil markets": a trailing purpose adjunct, not a stance
                role = SUB
            elif role == SUB and h.text.startswith("to ") and _word_before(cased, h.start) in _TO_HEADS:
                # "is not going to ease the sanctions": an infinitive after a verb, not a purpose clause
                inner = [x for x in self._lexicon.scan(low[h.start + 3 : h.end]) if x.start == 0]
                if not inner:
                    continue
                x = inner[0]
                h = Hit(h.start + 3, h.end, x.text, x.meanings, x.roles)
                role = h.role
            after_comma = role == COMMA
            if role == BOUND:
                segments.append(cur)
                cur = _Segment("main", h.end)
                continue
            if role == COMMA:
                if cur.kind != "main" and cur.close_at_comma:
                    segments.append(cur)
                    cur = _Segment("main", h.end)
                elif (
                    cur.kind == "main"
                    and (scoped if scoped is not None else (scoped := _any_scoped(hits)))
                    and _scoped_around(cur.hits, hits, i)
                    and (m := _NEW_CLAUSE.match(cased, h.end))
                ):
                    # ", Russia has decided to resume ...", ", and vessels may leave port": a new subject
                    # and its verb start a clause; negation and hedges before the comma stay behind, and
                    # a named subject ("the offensive will continue") takes no topic from before the comma
                    segments.append(cur)
                    cur = _Segment("main", h.end, named_subject=_PRONOUNS.isdisjoint(m.group(0).lower().split()))
                else:
                    cur.hits.append(h)
                continue
            if role in (COND, SUB):
                if cur.hits or cur.kind != "main":
                    segments.append(cur)
                # a subordinate clause ends at the next comma or boundary, wherever it starts
                cur = _Segment(role, h.start, close_at_comma=True)
                cur.hits.append(h)
                continue
            cur.hits.append(h)
        segments.append(cur)
        conditional = any(s.kind == COND for s in segments)

        objects: dict[str, str] = {}
        for h in hits:
            for mm in h.meanings:
                if mm.role == OBJECT and mm.topic is not None and mm.obj is not None:
                    objects.setdefault(mm.topic, mm.obj)

        cued_keys: list[str] = []
        prev: tuple[str, ...] = carry
        prev_cond = False  # the carried topics were named by this sentence's condition
        cond_keys: tuple[str, ...] = ()  # every topic named by this sentence's conditions so far
        any_votes = False
        first_raw = len(raws)
        sentence_threat = 0.0
        threat_cue = ""
        cond_segs: list[tuple[_Segment, list[str], dict[str, list[int]] | None]] = []
        for seg in segments:
            if seg.kind == "main":
                for i, h in enumerate(seg.hits):
                    if THREAT in h.roles and _negated_threat(seg.hits, i):
                        continue
                    for mm in h.meanings:
                        if mm.role == THREAT and mm.value < sentence_threat:
                            sentence_threat, threat_cue = mm.value, h.text
        for seg in segments:
            own_topics = self._segment_topics(seg)
            carried_topics = own_topics
            heads: dict[str, list[int]] | None = None
            if len(own_topics) > 1:
                # what the next clause talks about is the head, not a modifier ("the oil sanctions ...
                # and we will not end them")
                cue_hits = [(h, m.topic) for h in seg.hits for m in h.meanings if m.role == CUE and m.topic is not None]
                heads = _heads(cue_hits, seg.hits, sentence)
                carried_topics = [t for t in own_topics if t in heads]
            keys = tuple(self._key(t, objects) for t in carried_topics)
            for k in keys:
                if k not in cued_keys:
                    cued_keys.append(k)
            if seg.kind == "main":
                made, voted = self._claims(
                    seg, own_topics, prev, objects, conditional, sentence, relations, heads, prev_cond, cond_keys
                )
                any_votes = any_votes or voted
                for raw in made:
                    # a claim answering a question stands where its stance words are ("asked about the
                    # drills, he said they will go ahead"); one inside a report, where it starts
                    where = raw.at if asked and raw.at >= 0 else raw.pos
                    if region is not None and region[0] <= where < region[1]:
                        if not flip_cue:
                            undecided.append(f"reported speech of others: {raw.topic}")
                            continue
                        raw.pol = raw.pol.flipped()
                        raw.confidence = round(raw.confidence * 0.85, 3)
                        raw.intensity = self._intensity_for_flip(raw)
                        raw.neg_cues.append(flip_cue)
                    raws.append(raw)
            if seg.kind == COND and own_topics:
                cond_keys = cond_keys + tuple(self._key(t, objects) for t in own_topics)
            if keys:
                prev = keys
                prev_cond = seg.kind == COND
                if seg.kind == COND:
                    cond_segs.append((seg, own_topics, heads))
        if sentence_threat <= _THREAT_ACT and cond_segs and region is None:
            # "if they let Ukraine strike with long-range weapons, NATO countries are at war with us": an
            # act of force threatened on a condition that affirms a topic the threat opposes (supplies,
            # membership) opposes that topic; "if the ceasefire is violated, we will strike" does not
            claimed = {r.key for r in raws[first_raw:]}
            affirmed: list[str] = []
            for cseg, ctopics, cheads in cond_segs:
                made, _ = self._claims(cseg, ctopics, (), objects, True, sentence, [], cheads)
                affirmed.extend(r.key for r in made if r.pol is _PRO and r.explicit and r.key not in affirmed)
            for k in affirmed:
                topic = k.split(":", 1)[0]
                spec = self._topics.get(topic)
                if k in claimed or spec is None or spec.trigger_frame or spec.threat is not _CONTRA:
                    continue
                raws.append(_Raw(
                    key=k, topic=topic, pol=spec.threat, explicit=False, confidence=0.6,
                    intensity=min(spec.intensity.get(spec.threat, 0.0), sentence_threat), modality=Modality.CONDITIONAL,
                    category="explicit_threat", pos=0, sentence=sentence, cues=[threat_cue], neg_cues=[],
                    mod_cues=[], magnitude=None,
                ))
        if sentence_threat <= _SENTENCE_THREAT:
            for raw in raws[first_raw:]:
                spec = self._topics[raw.topic]
                if raw.pol is spec.threat and raw.intensity > sentence_threat:
                    raw.intensity = sentence_threat
                    raw.cues = _dedupe([*raw.cues, threat_cue])
        if any_votes and not cued_keys and not carry:
            undecided.append("stance words without a recognised topic")
        return tuple(cued_keys)

    def _report_frame(
        self, hits: list[Hit], s0: int, s1: int, cased: str, speaker_parts: frozenset[str]
    ) -> tuple[tuple[int, int] | None, str, int | None]:
        """The span of this sentence attributed to someone else, the dismissal cue if any, and the
        start of a dismissing verb that is also a stance word (it then votes nothing)."""
        src: Hit | None = None
        for h in hits:
            role = h.role
            if h.roles & _REPORT_SOURCES:
                if h.text in _ARTICLE and cased[h.end : h.end + 2].strip()[:1].isdigit():
                    continue  # "Article 51 of the UN Charter": a legal article, not a press one
                src = h
                break
            if role == REPORT_VERB and h.text in _NAMED_REPORT_VERBS:
                before = cased[s0 : h.start].rstrip()
                word = before.rsplit(" ", 1)[-1].strip("\"'(,") if before else ""
                if (
                    word[:1].isupper()
                    and word.lower() not in speaker_parts
                    and word.lower() not in _TITLES
                    and h.end < s1 - 2
                    and len(before) > len(word)  # not the first word: "Russia says" stays own
                ):
                    src = Hit(h.start - len(word) - 1, h.end, word, (Meaning(OTHER_SOURCE),))
                    break
        if src is None:
            return None, "", None
        if DISMISS_VERB in src.roles:  # "rejected reports that ...": the dismissal and its report in one phrase
            return (src.end, s1), src.text, None
        for h in hits:
            if h.start >= src.end and DISMISS in h.roles:
                return (src.start, h.start), h.text, None
        for h in hits:
            if h.start < src.start and DISMISS_VERB in h.roles:
                # a verb that is also a stance word ("denies") dismisses only the report it governs
                # right after it ("denied media reports that ..."; not "denied access, reports say"),
                # and then votes nothing itself
                close = src.start - h.end <= _DISMISS_GAP
                if h.role == DISMISS_VERB or close:
                    return (src.start, s1), h.text, h.start if close and len(h.roles) > 1 else None
        # trailing attribution: "..., the newspaper claimed."
        rest = [h for h in hits if h.start > src.end]
        # (a source noun ending the sentence with no reporting verb after it is no attribution:
        # "a cessation of hostilities, to be monitored by international observers")
        if all(h.role in (REPORT_VERB, COMMA) for h in rest) and any(h.role == REPORT_VERB for h in rest):
            commas = [h for h in hits if h.role == COMMA and h.start < src.start]
            if commas:
                return (s0, src.start), "", None
        return (src.start, s1), "", None

    @staticmethod
    def _key(topic: str, objects: dict[str, str]) -> str:
        obj = objects.get(topic)
        return f"{topic}:{obj}" if obj else topic

    @staticmethod
    def _segment_topics(seg: _Segment) -> list[str]:
        out: list[str] = []
        for h in seg.hits:
            for m in h.meanings:
                if m.role == CUE and m.topic is not None and m.topic not in out:
                    out.append(m.topic)
        return out

    def _claims(
        self,
        seg: _Segment,
        own_topics: list[str],
        inherited: tuple[str, ...],
        objects: dict[str, str],
        conditional: bool,
        sentence: str,
        relations: list[Relation],
        heads: dict[str, list[int]] | None = None,
        from_condition: bool = False,
        cond_keys: tuple[str, ...] = (),
    ) -> tuple[list[_Raw], bool]:
        cue_pos: dict[str, list[int]] = {}
        votes_raw: list[tuple[Hit, Meaning]] = []
        negs: list[Hit] = []
        threats: list[tuple[Hit, float]] = []
        amp = 0.0
        amp_cues: list[str] = []
        hedges: list[str] = []
        condcues: list[str] = []
        pcts: list[float] = []
        continuity: list[tuple[Hit, int]] = []
        specific: dict[str, set[int]] = {}  # per topic, the phrases it reads its own way
        against = False
        permit = False  # "imports may continue under licence": a permission, "may" is no hedge
        scenario = 10**9  # "training to close the sea lanes": what is rehearsed is no stance on the drill
        for i, h in enumerate(seg.hits):
            unthreat = THREAT in h.roles and _negated_threat(seg.hits, i)
            for m in h.meanings:
                r = m.role
                if r == CUE:
                    if m.topic is not None:
                        cue_pos.setdefault(m.topic, []).append(h.start)
                    if m.pol and h.start < scenario:
                        votes_raw.append((h, m))
                        if m.topic is not None:
                            specific.setdefault(m.topic, set()).add(h.start)
                elif r == STANCE:
                    if h.start < scenario:
                        votes_raw.append((h, m))
                        if m.topic is not None:
                            specific.setdefault(m.topic, set()).add(h.start)
                        elif h.text == "against":
                            against = True
                elif r == SCENARIO:
                    scenario = min(scenario, h.end)
                elif r == NEG:
                    negs.append(h)
                elif r == THREAT:
                    if not unthreat:
                        threats.append((h, m.value))
                elif r == AMP:
                    amp += m.value
                    amp_cues.append(h.text)
                elif r == HEDGE:
                    if h.text == "may" and h.start > 0 and sentence.startswith("May", h.start):
                        continue  # "from May", "until 5 May": the month, not a hedge
                    hedges.append(h.text)
                elif r == PERMIT:
                    permit = True
                elif r == CONDCUE:
                    condcues.append(h.text)
                elif r == PCT:
                    pcts.append(m.value)
                elif r == REAFFIRM:
                    continuity.append((h, 1))
                elif r == CHANGE:
                    continuity.append((h, -1))
        if permit and hedges:
            hedges = [x for x in hedges if x not in _DEONTIC]
        commas = (
            [h.start for h in seg.hits if h.role == COMMA and _CLAUSE_COMMA.match(sentence, h.end)] if negs else []
        )
        voted = bool(votes_raw or continuity)
        generic = [v for v in votes_raw if v[1].topic is None] if len(votes_raw) > 1 else votes_raw
        if threats:
            threats = self._outside_triggers(seg, threats, sentence)
        carried = False
        topics: list[tuple[str, str]]  # (topic id, key)
        if own_topics:
            topics = [(t, self._key(t, objects)) for t in own_topics]
        elif inherited and not seg.named_subject:
            topics = [(k.split(":", 1)[0], k) for k in inherited]
            carried = True
        elif threats and self._implied_threat_topic([], threats, conditional) is not None:
            topics = []
        else:
            return [], voted
        multi = len(topics) > 1 and not carried
        # generic stance words attach to the head of a noun phrase: in "restrictions on Syria's
        # energy sector are lifted" the restrictions are lifted, not the energy
        # "against" right after a threat or topic noun is a preposition ("a ground offensive against")
        prepositions = _prepositions(seg.hits) if against else _NO_POSITIONS
        # "the missiles the UK has supplied are for use within Ukraine": a stance verb in an object
        # relative clause after its topic noun describes a past act, not the stance of the clause
        if " ha" in sentence:
            relative = _relatives(seg.hits, sentence)
            if relative:
                prepositions = prepositions | relative
        # the topic each generic stance word attaches to, computed once per word
        nearest: dict[int, str | None] = {}
        near_pos = cue_pos
        if multi:
            near_pos = heads if heads is not None else cue_pos
            for h, m in votes_raw:
                if m.topic is None and h.start not in nearest:
                    nearest[h.start] = _nearest(h.start, near_pos)
        implied = self._implied_threat_topic(topics, threats, conditional) if threats else None
        if implied is not None:
            topics.append((implied, implied))
        # "Should NATO weapons be deployed in Finland, its territory becomes a legitimate target for our
        # armed forces": an act of force threatened on a condition speaks to the topics the condition
        # names, even when the threat names topics of its own
        implied_set = {implied} if implied is not None else set()
        if cond_keys and own_topics and threats and min(v for _, v in threats) <= _THREAT_ACT:
            named = {t for t, _ in topics}
            for k in cond_keys:
                t = k.split(":", 1)[0]
                if t not in named:
                    topics.append((t, k))
                    named.add(t)
                    implied_set.add(t)
        # "our response to the sanctions": the sanctions are the trigger, not a stance
        # only a cue followed by what it responds to frames ("our response to", "countermeasures
        # against"); "we will use every weapon in our arsenal, nuclear ones included" frames nothing
        framing = {
            t
            for t, _ in topics
            if (sp := self._topics.get(t)) is not None
            and sp.trigger_frame
            and (t == implied or self._frames(seg, t, sentence))
        }

        if hedges:
            modality = Modality.HEDGED
        elif conditional or condcues:
            modality = Modality.CONDITIONAL
        else:
            modality = Modality.ASSERTED
        mod_cues = hedges + condcues

        out: list[_Raw] = []
        for topic, key in topics:
            spec = self._topics.get(topic)
            if spec is None:
                continue
            votes: list[tuple[int, Hit]] = []
            neg_used: list[str] = []
            framed = multi and spec.id not in framing and bool(framing)
            voted_at: set[int] = set()
            cands: list[tuple[Hit, Meaning]] = []
            # a topic's own reading of a word wins over the generic one ("cut" from SWIFT is a sanction)
            own = specific.get(topic, ())
            # only this topic's own readings and the generic ones, in hit order
            pool = votes_raw if own else generic
            for h, m in pool:
                if topic in implied_set:
                    break
                if m.topic is not None and m.topic != topic:
                    continue
                if h.text in _CONTAINERS and m.role == STANCE and not _verb_use(sentence, h.start):
                    continue  # "deliveries", "shipments": the noun names what is supplied, it votes nothing
                if h.start in prepositions:
                    continue  # "an offensive against the militia": a preposition, not opposition
                if m.topic is None and (
                    h.start in own
                    or framed
                    or (multi and topic not in framing and nearest[h.start] != topic)
                ):
                    continue
                if h.start in voted_at:  # one vote per phrase and topic
                    continue
                voted_at.add(h.start)
                cands.append((h, m))
            ops = 0  # negative verbs governing the next stance word (they chain: "lifted the ban on exports")
            by_noun = False  # the pending operator chain is headed by a negative noun ("the ban on ...")
            noun_led: list[bool] = []  # per vote: it stands under a negative noun a passive reverser can undo
            op_negated: list[int] = []  # change words negated by the operator right before them
            for idx, (h, m) in enumerate(cands):
                nxt = cands[idx + 1][0] if idx + 1 < len(cands) else None
                close = nxt is not None and nxt.start - h.end <= _OPERATOR_GAP
                if m.pol < 0 and continuity and OPERATOR in h.roles:
                    # "no plans to change its policy", "refused to revise": the operator negates the
                    # change word right after it (a reaffirmation) and casts no vote of its own
                    after = next((c for c, _ in continuity if 0 <= c.start - h.end <= _OPERATOR_GAP
                                  and (nxt is None or c.start < nxt.start)
                                  and not _cue_between(cue_pos, h.end, c.start)), None)
                    if after is not None:
                        op_negated.append(after.start)
                        neg_used.append(h.text)
                        continue
                if votes and noun_led[-1] and (REVERSER in h.roles or m.pol > 0):
                    # the predicate of a stop named as a noun: "the ban on imports will be lifted" undoes
                    # it, "the ban will stay in place" confirms it, "will not stay" undoes it
                    prev_pol, prev_hit = votes[-1]
                    between = _negations(negs, prev_hit.end, h.start, commas) + (1 if REVERSER in h.roles else 0)
                    if between % 2:
                        votes[-1] = (-prev_pol, prev_hit)
                        noun_led[-1] = False
                    neg_used.append(h.text)
                    continue
                # a negative stance word right before another stance word scopes over it:
                # "no plans to send", "opposes lifting", "refused to resume" -> one negated vote
                if (
                    m.pol < 0
                    and close
                    and OPERATOR in h.roles
                    # "the ban on exports will stay": a stop named as a noun governs no verb across its
                    # object; nor does a verb whose object is a topic noun ("we reject the truce and the
                    # fighting will continue": the truce is rejected, the fighting is not)
                    and not (nxt is not None and _cue_between(cue_pos, h.end, nxt.start))
                ):
                    ops += 1
                    by_noun = by_noun or NEG_NOUN in h.roles
                    neg_used.append(h.text)
                    continue
                # a supporting verb right before another stance word defers to it: "we support a
                # ban" is the ban, "they propose to resume" the resumption
                if (
                    m.pol > 0 and close and GOVERNOR in h.roles
                    and not (nxt is not None and _cue_between(cue_pos, h.end, nxt.start))
                ):
                    continue
                # a post-posed judgement carries its own negation ("is not a priority"); only a negator
                # right before it turns it ("would not be a mistake"), not one of an earlier predicate
                neg_from = max(seg.start, h.start - _EVAL_NEG_SPAN) if EVALUATOR in h.roles else seg.start
                n = _negations(negs, neg_from, h.start, commas) + ops
                led = by_noun or NEG_NOUN in h.roles
                ops, by_noun = 0, False
                if n:
                    neg_used.extend(x.text for x in negs if seg.start <= x.start < h.start)
                pol_vote = m.pol if n % 2 == 0 else -m.pol
                if votes and m.pol < 0 and EVALUATOR in h.roles:
                    # "lifting the sanctions would be a mistake": the judgement flips what it judges
                    prev_pol, prev_hit = votes[-1]
                    votes[-1] = (-prev_pol if n % 2 == 0 else prev_pol, prev_hit)
                    neg_used.append(h.text)
                    continue
                votes.append((pol_vote, h))
                noun_led.append(led)
            for h, sign in continuity:
                n = _negations(negs, seg.start, h.start, commas) + op_negated.count(h.start)
                same = sign if n % 2 == 0 else -sign
                if n:
                    neg_used.extend(x.text for x in negs if x.start < h.start)
                if spec.change is not None:
                    changed_pol = 1 if spec.change is _PRO else -1
                    votes.append((-changed_pol if same > 0 else changed_pol, h))
                else:
                    relations.append(Relation(key, "same" if same > 0 else "changed", h.text, sentence))
            explicit = True
            # the topic's own noun ("lift the oil embargo", "end the blockade") is no act against it
            acts = min((v for h, v in threats if not _names(h, topic)), default=0.0)
            if votes:
                total = sum(v for v, _ in votes)
                if total == 0:
                    continue
                pol = _PRO if total > 0 else _CONTRA
                confidence = 0.9 if abs(total) == len(votes) else 0.7
                cues = [h.text for _, h in votes]
                if acts <= _THREAT_ACT and pol is not spec.threat and not framed:
                    # "the countries supplying them become parties to the conflict": an explicit
                    # threat against the topic outweighs a stance verb describing others
                    pol, explicit, confidence = spec.threat, False, 0.6
            elif spec.magnitude == "percent" and pcts and not framed and topic in cue_pos:
                pol, confidence = _PRO, 0.75  # "a tariff of 20% will apply": the rate is the claim
                cues = []
            elif threats and not framed and (topic in cue_pos or carried or topic in implied_set):
                pol, explicit = spec.threat, spec.threat_explicit
                confidence = 0.85 if explicit else 0.6
                cues = []
            elif (
                negs
                and not continuity  # "no amendments to our doctrine": the negator is the change word's
                and topic in cue_pos
                and negs[0].start < cue_pos[topic][0]
                # "that does not mean the question of legitimacy has gone away": no denial of the topic
                and not sentence.startswith(" mean", negs[0].end)
                and (negs[0].text not in _NEG_SUBJECTS or cue_pos[topic][0] - negs[0].end <= _NEG_TOPIC_GAP)
                and (not multi or topic in near_pos)
            ):
                # "will not conduct any negotiations"; not a modifier: "will not lift the sanctions on oil"
                pol, confidence = _CONTRA, 0.75
                cues = [negs[0].text]
                neg_used.append(negs[0].text)
            elif amp < 0 and spec.threat is _PRO and topic in cue_pos and not framed:
                # "the drills were routine": a described act of force, softly worded
                pol, explicit, confidence = _PRO, False, 0.5
                cues = []
            elif (
                spec.threat is _PRO
                and topic in near_pos
                and not (framed or negs or votes_raw or continuity or carried or topic in implied_set)
            ):
                # "coast guard vessels patrol the shoal", "the aim of the operation is to protect
                # Donbas": a posture described, not argued. Weak (it establishes a baseline an
                # escalation is measured from, too weak to be reversed with an alert)
                pol, explicit, confidence = _PRO, False, _BARE_CONFIDENCE
                cues = []
            else:
                continue
            if carried and not from_condition:
                # "if Kyiv is invited into the alliance, we will respond with every means": a threat
                # whose condition names the topic speaks to it as surely as one naming it
                confidence *= 0.85
            if modality is Modality.CONDITIONAL:
                confidence *= 0.9
            elif modality is Modality.HEDGED:
                confidence = min(confidence, 0.5)
            # intensity on the conflict-cooperation scale
            value = spec.intensity.get(pol, 0.0)
            threat_cues: list[str] = []
            min_threat = 0.0
            if threats and pol is spec.threat and not framed:
                min_threat = min(v for _, v in threats)
                value = min(value, min_threat)
                threat_cues = [h.text for h, _ in threats]
            magnitude = None
            if spec.magnitude == "percent" and pcts and pol is _PRO:
                magnitude = max(pcts)
                value = min(value, _pct_intensity(magnitude))
            a = max(-_MAX_AMP, min(_MAX_AMP, amp))
            if value < 0:
                value = min(0.0, value - a)
            elif value > 0:
                value = max(0.0, value + a)
            value = round(max(-10.0, min(10.0, value)), 2)
            category = None
            if min_threat <= -7:
                category = "explicit_threat"
            elif min_threat <= -5:
                category = "warning"
            pos = min([h.start for _, h in votes] + cue_pos.get(topic, []) + [seg.start if carried else 10**9])
            at = min(h.start for _, h in votes) if votes else pos
            out.append(
                _Raw(
                    key=key, topic=topic, pol=pol, explicit=explicit, confidence=round(confidence, 3),
                    intensity=value, modality=modality, category=category, pos=pos, sentence=sentence,
                    cues=_dedupe(cues + threat_cues + amp_cues), neg_cues=_dedupe(neg_used),
                    mod_cues=list(mod_cues), magnitude=magnitude, at=at,
                )
            )
        return out, voted

    def _implied_threat_topic(
        self, topics: list[tuple[str, str]], threats: list[tuple[Hit, float]], conditional: bool
    ) -> str | None:
        """The default threat topic when a conditional sentence threatens force without naming it.

        "If one more rocket is fired, we will flatten the district" threatens retaliation; a
        topic whose threats are the stance itself (nuclear use) already says what is threatened.
        """
        default = self._threat_default
        if default is None or not threats:
            return None
        # a conditional act of force, or an explicit warning to someone ("we warn the enemy"), or a
        # red line drawn ("we will not tolerate this")
        warned = not topics and any(h.text in _WARN_VERBS or h.text in self._red_lines for h, _ in threats)
        # an act of force threatened outright that names no topic ("every American base in the
        # region will be struck") is a threat of retaliation too, conditional or not
        acts = min(v for _, v in threats) <= _THREAT_ACT
        if not warned and not acts:
            return None
        if not warned and not conditional and topics:
            return None
        for t, _ in topics:
            spec = self._topics.get(t)
            if t == default or (spec is not None and spec.threat_explicit):
                return None
        return default

    @staticmethod
    def _frames(seg: _Segment, topic: str, sentence: str) -> bool:
        """A cue of ``topic`` in the clause introduces what is responded to ("our response to ...")."""
        return any(
            m.role == CUE and m.topic == topic and (_TRIGGER_PREP.match(sentence, h.end) or _TRIGGER_END.search(h.text))
            for h in seg.hits
            for m in h.meanings
        )

    def _outside_triggers(
        self, seg: _Segment, threats: list[tuple[Hit, float]], sentence: str
    ) -> list[tuple[Hit, float]]:
        """Threat words naming the trigger of a response ("our response to any seizure") are not threats."""
        spans: list[tuple[int, int]] = []
        for h in seg.hits:
            for m in h.meanings:
                if m.role == CUE and m.topic is not None:
                    spec = self._topics.get(m.topic)
                    if (
                        spec is not None
                        and spec.trigger_frame
                        # "our response to the seizure" names the trigger; "we will answer with more
                        # firepower", "the response will be massive" name the response itself
                        and (_TRIGGER_PREP.match(sentence, h.end) or _TRIGGER_END.search(h.text))
                    ):
                        spans.append((h.end, h.end + _TRIGGER_SPAN))
        if not spans:
            return threats
        return [(h, v) for h, v in threats if not any(a < h.start <= b for a, b in spans)]

    def _intensity_for_flip(self, raw: _Raw) -> float:
        spec = self._topics[raw.topic]
        return spec.intensity.get(raw.pol, 0.0)


def _word_before(text: str, pos: int) -> str:
    head = text[max(0, pos - 24) : pos].rstrip()
    return head.rsplit(" ", 1)[-1].lower() if head else ""


def _any_scoped(hits: list[Hit]) -> bool:
    return any(x.role in _SCOPED for x in hits)


def _scoped_around(before: list[Hit], hits: list[Hit], i: int) -> bool:
    """A negator or hedge in the clause so far, or between this comma and the next one."""
    if any(x.role in _SCOPED for x in before):
        return True
    for x in hits[i + 1 :]:
        if x.role in _SCOPED:
            return True
        if x.role in (COMMA, BOUND):
            return False
    return False


def _negations(negs: list[Hit], seg_start: int, pos: int, commas: list[int] = []) -> int:  # noqa: B006
    n = 0
    for h in negs:
        if seg_start <= h.start < pos:
            if h.text == "without" and pos - h.end > _WITHOUT_SCOPE:
                continue
            if h.text == "no" and commas and any(h.end <= c < pos for c in commas):
                continue  # "no sanctions relief for the regime, and the restrictions remain": "no" negates its noun
            n += 1
    return n


_LINK = re.compile(r"\s*(?:'s\s+)?(?:of|on|against|for|from|in|to|over)\s+", re.IGNORECASE)
_LINK_SPAN = 40  # characters between a head noun and the topic cue that modifies it


def _heads(cue_hits: list[tuple[Hit, str]], hits: list[Hit], sentence: str) -> dict[str, list[int]]:
    """Cue positions by topic, each counted as the head of its noun phrase's.

    "restrictions on Syria's energy sector": the restrictions are the head; "grain talks": the last
    noun of a compound is; "shipments of Patriot interceptors": a container noun (shipments,
    exports, deliveries) takes the topic of what it contains.
    """
    out: dict[str, list[int]] = {}
    prev: tuple[Hit, str] | None = None  # the current head
    members: list[int] = []  # positions of the current phrase counted under the head so far
    for h, topic in cue_hits:
        joined = False
        if prev is not None and prev[1] != topic and prev[0].end <= h.start <= prev[0].end + _LINK_SPAN:
            between = [x for x in hits if prev[0].end <= x.start < h.start]
            compound = h.start - prev[0].end <= 1 and " " not in prev[0].text  # "grain talks"
            if compound or prev[0].text in _CONTAINERS:
                # compound or container: the phrase so far belongs to this cue's topic
                for p in members:
                    out[prev[1]].remove(p)
                    out.setdefault(topic, []).append(p)
                if not out[prev[1]]:
                    del out[prev[1]]
                prev = (h, topic)
                members.append(h.start)
                out.setdefault(topic, []).append(h.start)
                continue
            if _LINK.match(sentence, prev[0].end) and not any(x.roles & _NOT_NOUN for x in between):
                out.setdefault(prev[1], []).append(h.start)
                members.append(h.start)
                joined = True
        if not joined:
            out.setdefault(topic, []).append(h.start)
            prev, members = (h, topic), [h.start]
    return out


# nouns naming what is supplied, bought or shipped: they take the topic of their content and vote nothing
_CONTAINERS = _words(
    "exports export shipments shipment deliveries delivery supplies supply imports flows transit "
    "purchases purchase cargoes cargo consignments"
)


_RELATIVE = re.compile(r"\s+(?:the\s+|our\s+|its\s+|their\s+)?[\w'-]+(?:\s+[\w'-]+)?\s+(?:has|have|had)\s+$")


def _relatives(hits: list[Hit], sentence: str) -> frozenset[int]:
    """Stance words right after "<topic noun> <subject> has": "the missiles the UK has supplied"."""
    return frozenset(
        h.start for prev_h, h in pairwise(hits)
        if CUE in prev_h.roles and STANCE in h.roles and h.start - prev_h.end <= 30
        and _RELATIVE.match(sentence, prev_h.end, h.start) is not None
    )


def _prepositions(hits: list[Hit]) -> frozenset[int]:
    out = {
        h.start for prev_h, h in pairwise(hits)
        if h.text == "against" and h.start - prev_h.end <= 1 and prev_h.roles & _FORCE_NOUN
    }
    # "we warn the United States against further provocations": what is warned against
    warns = [h.end for h in hits if h.text in _WARN_VERBS]
    for h in hits:
        if h.text == "against" and any(0 <= h.start - w <= _WARN_SPAN for w in warns):
            out.add(h.start)
    return frozenset(out)


def _negated_threat(hits: list[Hit], i: int) -> bool:
    """The threat word ``hits[i]`` right after a negator threatens nothing: "will not answer tariffs
    with tariffs", "dialogue rather than retaliation", "there will be no war"."""
    if i == 0:
        return False
    prev = hits[i - 1]
    return prev.role == NEG and hits[i].start - prev.end <= _THREAT_NEG_GAP


def _cue_between(cue_pos: dict[str, list[int]], start: int, end: int) -> bool:
    return any(start <= p < end for positions in cue_pos.values() for p in positions)


def _nearest(pos: int, cue_pos: dict[str, list[int]]) -> str | None:
    best: str | None = None
    dist = 10**9
    for topic, positions in cue_pos.items():
        for p in positions:
            d = abs(p - pos)
            if d < dist:
                best, dist = topic, d
    return best


def _pct_intensity(pct: float) -> float:
    """Tariff-like rates on the conflict scale: 10% -> -4, 34% -> -5.3, 100% -> -6.5, 145% -> -7."""
    if pct <= 0:
        return 0.0
    import math

    return -min(9.0, 1.5 + 2.5 * math.log10(max(pct, 1.0)))


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for x in items:
        if x not in seen:
            seen.append(x)
    return seen[:8]


# The Python files the native core is a port of (the analysis, and the fold of detector.py with
# what it calls): it declares the digest of the versions it was checked against
# (``monitor_native.SPEC``), and is used only while they are unchanged.
_SPEC_FILES = (
    ("monitor.domain.analysis", ("__init__.py", "text.py", "lexicon.py", "rules.py")),
    ("monitor.domain", ("detector.py", "stance.py", "counterparts.py", "fast.py", "ids.py", "models.py")),
)
_log = logging.getLogger(__name__)
_CANDIDATE = "MONITOR_NATIVE_CANDIDATE"  # = the digest under test: use the core although it declares another


def spec_digest() -> str:
    """Digest of the engine's Python source: what a native core must have been checked against."""
    files = [resources.files(package).joinpath(name) for package, names in _SPEC_FILES for name in names]
    return digest(*(f.read_text("utf-8") for f in files), size=8)


def _native_core(analyzer: RuleAnalyzer, *, required: bool) -> Any:
    """The native core for ``analyzer``'s data, or None when it is missing or stale."""
    try:
        import monitor_native

        from monitor.domain.analysis.native import core_for
    except ImportError as exc:
        if required:
            raise EnvironmentProblem(
                f"the native analyzer core is not installed ({exc}); build it with `make` (needs Rust's cargo)"
            ) from exc
        return None
    spec = spec_digest()
    # tools/native_spec.py runs the differential tests on a core built before the new digest is recorded
    if spec != monitor_native.SPEC and os.environ.get(_CANDIDATE) != spec:
        problem = (
            f"the native analyzer core was checked against rules {monitor_native.SPEC}, these are {spec}: "
            "reading with the Python rules (port the change to native/ and run tools/native_spec.py)"
        )
        if required:
            raise EnvironmentProblem(problem)
        _log.warning(problem)
        return None
    return core_for(analyzer)


_POLARITY = {p.value: p for p in Polarity}
_MODALITY = {m.value: m for m in Modality}
_CLAIM_FIELDS = (
    "topic", "polarity", "intensity", "modality", "category", "confidence", "sentence", "cues",
    "negation_cues", "modality_cues", "magnitude", "explicit",
)


def _from_native(out: tuple[list[tuple[Any, ...]], list[tuple[str, str, str, str]], list[str]]) -> Analysis:
    """The native core's plain tuples as the models :meth:`RuleAnalyzer.analyze` returns."""
    claims, relations, undecided = out
    built = []
    for c in claims:
        values = dict(zip(_CLAIM_FIELDS, c, strict=True))
        values["polarity"] = _POLARITY[values["polarity"]]
        values["modality"] = _MODALITY[values["modality"]]
        built.append(build(Claim, values))
    return Analysis(
        claims=tuple(built),
        relations=tuple(Relation(t, r, cue, s) for t, r, cue, s in relations),  # type: ignore[arg-type]
        undecided=tuple(undecided),
    )


def _to_claim(r: _Raw) -> Claim:
    return build(Claim, {
        "topic": r.key, "polarity": r.pol, "intensity": r.intensity, "modality": r.modality,
        "category": r.category, "confidence": r.confidence, "sentence": r.sentence, "cues": tuple(r.cues),
        "negation_cues": tuple(r.neg_cues), "modality_cues": tuple(r.mod_cues), "magnitude": r.magnitude,
        "explicit": r.explicit,
    })
