"""Phrase lexicons compiled into one token trie, matched once per sentence.

Every phrase the rule analyzer knows (negators, hedges, stance verbs, topic cues, threat
words, ...) is a path of tokens in one trie; a trailing ``*`` makes its last token a stem.
:meth:`Lexicon.scan` tokenises a sentence with one regex, walks the trie from each token
and keeps the longest phrase there ("no doubt" before "no"). What each word starts is
memoised, so a word costs one dictionary lookup after its first sighting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Roles a phrase can play. Kept as plain strings: they are compared in the hot loop.
NEG = "neg"  # negator
CANCEL = "cancel"  # contains a negator but does not negate ("no doubt")
STANCE = "stance"  # pol=+1 supports / -1 opposes; topic=None means any topic
CUE = "cue"  # names a topic (pol may carry a stance too)
OBJECT = "object"  # names a sub-topic (e.g. a weapon system) of ``topic``
REAFFIRM = "reaffirm"  # continuity ("unchanged")
CHANGE = "change"  # change of position ("changed")
HEDGE = "hedge"
COND = "cond"  # subordinator opening a conditional clause ("if", "unless")
CONDCUE = "condcue"  # conditional modality without a clause ("depends on")
SUB = "sub"  # subordinator of a background clause ("after", "because", "which")
BOUND = "bound"  # clause boundary ("but", ";")
COMMA = "comma"
AMP = "amp"  # value > 0 hardens, < 0 softens
THREAT = "threat"  # value: ceiling of the claim's intensity
REPORT_NOUN = "rnoun"
OTHER_SOURCE = "rsrc"
REPORT_VERB = "rverb"
DISMISS = "dismiss"  # predicate dismissing a report ("are fabrications")
DISMISS_VERB = "dverb"  # verb dismissing a report ("he denied reports")
QUESTION = "question"
OWN = "own"
NEUTRAL = "neutral"  # swallows words that would otherwise fire a cue
OPERATOR = "operator"  # negative stance verb that may govern the next stance word
EVALUATOR = "evaluator"  # negative judgement of the stance word before it ("... would be a mistake")
PCT = "pct"
GOVERNOR = "governor"  # supporting verb that defers to the stance word after it ("support a ban")
NEG_NOUN = "negnoun"  # a stop named as a noun ("the ban", "the suspension"): a passive reverser undoes it
REVERSER = "reverser"  # undoes a stop named before it ("the ban ... is lifted")
SCENARIO = "scenario"  # what an exercise rehearses follows ("training to", "simulating"): no stance


@dataclass(frozen=True, slots=True)
class Meaning:
    """What a matched phrase means to the analyzer."""

    role: str
    topic: str | None = None
    pol: int = 0
    value: float = 0.0
    obj: str | None = None


class Hit:
    """One matched phrase: where, which words, what it means.

    A plain slotted class (not a frozen dataclass): the scanner makes one per matched phrase,
    so construction cost matters. ``role`` is the first meaning's role and ``roles`` all of
    them, precomputed per phrase, because the analyzer asks these questions in its hot loops.
    Treat instances as immutable.
    """

    __slots__ = ("end", "meanings", "role", "roles", "start", "text")

    def __init__(
        self, start: int, end: int, text: str, meanings: tuple[Meaning, ...], roles: frozenset[str] | None = None
    ) -> None:
        self.start = start
        self.end = end
        self.text = text
        self.meanings = meanings
        self.role = meanings[0].role
        self.roles = roles if roles is not None else frozenset(m.role for m in meanings)

    def __repr__(self) -> str:
        return f"Hit({self.start}, {self.end}, {self.text!r}, {self.meanings!r})"


def normalize_phrase(phrase: str) -> str:
    """Lowercase, hyphens as spaces, single spaces: the same shape as the analysed text."""
    return " ".join(phrase.lower().replace("-", " ").replace("’", "'").split())


@dataclass
class LexiconBuilder:
    """Collects phrases and their meanings, then compiles them."""

    phrases: dict[str, list[Meaning]] = field(default_factory=dict)

    def add(self, phrase: str, meaning: Meaning) -> None:
        key = normalize_phrase(phrase)
        if not key or key == "*":
            return
        bucket = self.phrases.setdefault(key, [])
        if meaning not in bucket:
            bucket.append(meaning)

    def add_all(self, phrases: Iterable[str], meaning: Meaning) -> None:
        for phrase in phrases:
            self.add(phrase, meaning)

    def add_weighted(self, phrases: Mapping[str, float], role: str) -> None:
        for phrase, value in phrases.items():
            self.add(phrase, Meaning(role, value=float(value)))

    def compile(self) -> Lexicon:
        _inherit_topic_cues(self.phrases)
        return Lexicon(self.phrases)


def _inherit_topic_cues(phrases: dict[str, list[Meaning]]) -> None:
    """A longer phrase that contains a topic cue also names that topic.

    "use of nuclear weapons" is a threat; because the trie keeps only the longest match,
    it must also carry the cue of "nuclear weapons" or the topic would be lost.
    """
    literal: dict[tuple[str, ...], list[Meaning]] = {}
    stems: list[tuple[tuple[str, ...], str, list[Meaning]]] = []
    for phrase, meanings in phrases.items():
        cues = [m for m in meanings if m.role in (CUE, OBJECT)]
        if not cues:
            continue
        words = tuple(phrase.split())
        if phrase.endswith("*"):
            stems.append((words[:-1], words[-1][:-1], cues))
        else:
            literal[words] = cues
    for phrase, meanings in phrases.items():
        if any(m.role == CUE or (m.role == NEUTRAL and m.value) for m in meanings):
            # a cue of its own: "nuclear weapons" must not also name arms supplies; an opaque phrase
            # ("internationally recognised") swallows the cue inside it
            continue
        threat = any(m.role == THREAT for m in meanings)
        words = tuple(phrase.rstrip("*").split())
        n = len(words)
        if n < 2:
            continue
        found: list[tuple[int, int, list[Meaning]]] = []
        for i in range(n):
            for j in range(i + 1, n + 1):
                if j - i == n:
                    continue
                sub = words[i:j]
                cues = list(literal.get(sub, ()))
                for prefix, stem, stem_cues in stems:
                    if threat:
                        break  # "legitimate targets" is a threat, not a word on legitimacy ("legitim*")
                    if len(prefix) == j - i - 1 and sub[:-1] == prefix and sub[-1].startswith(stem):
                        cues.extend(stem_cues)
                if cues:
                    found.append((i, j, cues))
        # keep only maximal contained cues ("nuclear weapons", not also "weapons")
        for i, j, cues in found:
            if any(a <= i and j <= b and (a, b) != (i, j) for a, b, _ in found):
                continue
            for m in cues:
                if m not in meanings:
                    meanings.append(m)


def _percent_end(toks: list[str], i: int) -> int:
    """The last token of a percentage sign after the number ``toks[i]`` ("%", "percent", "per cent"), or 0."""
    n = len(toks)
    if i + 1 < n and toks[i + 1] in ("%", "percent"):
        return i + 1
    if i + 2 < n and toks[i + 1] == "per" and toks[i + 2] == "cent":
        return i + 2
    return 0


_TOKEN = re.compile(r"\w+n't|\w+|'\w+|[;:,()—–%]")
_PUNCT: dict[str, str] = {";": BOUND, ":": BOUND, "(": BOUND, ")": BOUND, "—": BOUND, "–": BOUND, ",": COMMA}
_MEMO_LIMIT = 200_000
_PUNCT_HITS: dict[str, tuple[Meaning, ...]] = {k: (Meaning(v),) for k, v in _PUNCT.items()}


def _roles(meanings: tuple[Meaning, ...]) -> frozenset[str]:
    return frozenset(m.role for m in meanings)


_PUNCT_ROLES: dict[str, frozenset[str]] = {k: _roles(v) for k, v in _PUNCT_HITS.items()}


class _Node:
    __slots__ = ("children", "leaf", "meanings", "roles", "stars")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.meanings: tuple[Meaning, ...] | None = None
        self.roles: frozenset[str] = frozenset()
        self.stars: list[tuple[str, tuple[Meaning, ...], frozenset[str]]] = []
        self.leaf = False  # no longer phrase can start here: the match ends at this token

    def seal(self) -> None:
        """Precompute what the scanner asks on every visit (after the trie is complete)."""
        if self.meanings is not None:
            self.roles = _roles(self.meanings)
        self.leaf = not self.children and not self.stars
        for child in self.children.values():
            child.seal()


_MISS = _Node()  # memo sentinel: a word not looked up yet
_Found = tuple[int, tuple[Meaning, ...] | None, frozenset[str]]


class Lexicon:
    """The compiled matcher: ``scan(text)`` returns every known phrase in order.

    Phrases live in a trie keyed by tokens; matching walks the trie from each token, so
    the cost is a dictionary lookup per token plus the length of the phrases found.
    """

    def __init__(self, phrases: Mapping[str, list[Meaning]]) -> None:
        self.phrases = phrases  # what was compiled, in insertion order (the native core is built from it)
        self._root = _Node()
        for phrase, meanings in phrases.items():
            star = phrase.endswith("*")
            toks = _TOKEN.findall(phrase[:-1] if star else phrase)
            if not toks:
                continue
            stem = toks.pop() if star else ""
            node = self._root
            for t in toks:
                node = node.children.setdefault(t, _Node())
            if star:
                node.stars.append((stem, tuple(meanings), _roles(tuple(meanings))))
                node.stars.sort(key=lambda x: -len(x[0]))
            else:
                node.meanings = tuple(meanings)
        self._root.seal()
        # single-token stems ("negotiat*") are resolved per distinct word, memoised
        # (indexed by first letter, each list in the trie's longest-stem-first order)
        self._root_stars: dict[str, list[tuple[str, tuple[Meaning, ...]]]] = {}
        for stem, ms, _ in self._root.stars:
            self._root_stars.setdefault(stem[:1], []).append((stem, ms))
        self._memo: dict[str, _Node | None] = {}
        self.size = len(phrases)

    def _first(self, tok: str) -> _Node | None:
        """The root child for ``tok``, with any matching single-word stem merged in (memoised)."""
        memo = self._memo
        literal = self._root.children.get(tok)
        star = next((ms for stem, ms in self._root_stars.get(tok[:1], ()) if tok.startswith(stem)), None)
        node: _Node | None = literal
        if star is not None:
            node = _Node()
            if literal is not None:
                node.children = literal.children
                node.stars = literal.stars
            merged = list(literal.meanings) if literal is not None and literal.meanings is not None else []
            merged.extend(m for m in star if m not in merged)
            node.meanings = tuple(merged)
            node.roles = _roles(node.meanings)
            node.leaf = not node.children and not node.stars
        if len(memo) > _MEMO_LIMIT:
            memo.clear()
        memo[tok] = node
        return node

    def scan(self, text: str) -> list[Hit]:
        """All phrases in ``text`` (already lowercased by the caller), left to right.

        Where a longer topic phrase starts inside a matched one and runs past it ("will
        return" then "return to their permanent bases"), both are kept.
        """
        ms = list(_TOKEN.finditer(text))
        toks = [m[0] for m in ms]
        n = len(toks)
        out: list[Hit] = []
        append = out.append
        memo = self._memo
        first = self._first
        longest = self._longest
        i = 0
        while i < n:
            tok = toks[i]
            node = memo.get(tok, _MISS)
            if node is _MISS:
                node = first(tok)
            if node is None:
                punct = _PUNCT_HITS.get(tok)
                if punct is not None:
                    m = ms[i]
                    append(Hit(m.start(), m.end(), tok, punct, _PUNCT_ROLES[tok]))
                elif tok[0].isdigit() and (last := _percent_end(toks, i)):
                    try:  # "5 %", "12 percent", "34 per cent"
                        append(Hit(ms[i].start(), ms[last].end(), tok + "%", (Meaning(PCT, value=float(tok)),)))
                        i = last
                    except ValueError:
                        pass
                i += 1
                continue
            if node.leaf:
                meanings = node.meanings
                if meanings is None:
                    i += 1
                    continue
                m = ms[i]
                append(Hit(m.start(), m.end(), tok, meanings, node.roles))
                i += 1
                continue
            if node.meanings is None and not node.stars and (i + 1 == n or toks[i + 1] not in node.children):
                i += 1  # a phrase could start here ("the ..."), but this one does not go on
                continue
            end, meanings, roles = longest(toks, i, node)
            if meanings is None:
                i += 1
                continue
            start = ms[i].start()
            stop = ms[end - 1].end()
            append(Hit(start, stop, text[start:stop], meanings, roles))
            nxt = end
            for k in range(i + 1, end):
                node2 = memo.get(toks[k], _MISS)
                if node2 is _MISS:
                    node2 = first(toks[k])
                if node2 is None:
                    continue
                e2, m2, r2 = longest(toks, k, node2)
                if m2 is not None and e2 > end and any(x.topic is not None for x in m2):
                    a, b = ms[k].start(), ms[e2 - 1].end()
                    append(Hit(a, b, text[a:b], m2, r2))
                    nxt = e2
                    break
            i = nxt
        return out

    @staticmethod
    def _longest(toks: list[str], i: int, node: _Node | None) -> _Found:
        best_end: int = i
        best: tuple[Meaning, ...] | None = None
        best_roles: frozenset[str] = frozenset()
        j = i
        n = len(toks)
        while node is not None:
            if node.meanings is not None:
                best_end, best, best_roles = j + 1, node.meanings, node.roles
            j += 1
            if j >= n:
                break
            t = toks[j]
            for stem, ms, roles in node.stars:
                if t.startswith(stem):
                    best_end, best, best_roles = j + 1, ms, roles
                    break
            node = node.children.get(t)
        return best_end, best, best_roles
