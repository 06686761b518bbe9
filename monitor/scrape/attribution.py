"""Watchlist resolution: from a speaker as written to the actor they speak for. Pure.

A speaker is written many ways: "Vladimir Putin", "Putin", "the Russian president",
"Kremlin spokesman Dmitry Peskov", "Putin's spokesman Dmitry Peskov". The
:class:`Resolver` finds watchlist names, aliases and titles in a phrase and picks the
head of the noun phrase (the last non-possessive mention), so "Putin's spokesman
Dmitry Peskov" is Peskov, not Putin. A title shared by speakers of several actors
("the president") is ambiguous and resolves only within a source's ``default_actor``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from monitor.scrape.config import Watchlist

UNKNOWN_ACTOR = "unknown"

# Same-length substitutions so offsets found in the normalised text hold in the original.
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "\u00a0": " "})


def normalise_chars(text: str) -> str:
    """Map typographic apostrophes and no-break spaces to ASCII, keeping the length."""
    return text.translate(_APOSTROPHES)


@dataclass(frozen=True, slots=True)
class Resolved:
    """A watchlist speaker: the actor id and the speaker's canonical name."""

    actor: str
    speaker: str


@dataclass(frozen=True, slots=True)
class Mention:
    """A watchlist name, alias or title found in a text, with its span."""

    start: int
    end: int
    kind: Literal["name", "title", "institution"]
    candidates: tuple[Resolved, ...]
    possessive: bool


def _alternation(phrases: list[str]) -> str:
    # Longest first so "Dmitry Peskov" wins over "Peskov" at the same position.
    ordered = sorted(set(phrases), key=lambda p: (-len(p), p))
    return "|".join(re.escape(normalise_chars(p)).replace(r"\ ", r"\s+") for p in ordered)


def _strip_article(title: str) -> str:
    return re.sub(r"^(?:the|a|an)\s+", "", title.strip(), flags=re.IGNORECASE)


class Resolver:
    """Resolves speakers as written to watchlist actors; built once per watchlist."""

    def __init__(self, watchlist: Watchlist) -> None:
        self.watchlist = watchlist
        self._names: dict[str, list[Resolved]] = {}
        self._titles: dict[str, list[Resolved]] = {}
        self._institutions: dict[str, list[Resolved]] = {}
        for actor_id, actor in watchlist.actors.items():
            for inst in actor.institutions:
                key = _strip_article(normalise_chars(inst)).casefold()
                self._institutions.setdefault(key, []).append(Resolved(actor_id, _strip_article(inst)))
            for spk in actor.speakers:
                who = Resolved(actor_id, spk.name)
                for name in (spk.name, *spk.aliases):
                    self._names.setdefault(normalise_chars(name), []).append(who)
                for title in spk.titles:
                    key = _strip_article(normalise_chars(title)).casefold()
                    self._titles.setdefault(key, []).append(who)
        # Names are case-sensitive (proper nouns); titles and institutions are not.
        self._name_re = re.compile(rf"(?<![\w'])(?:{_alternation(list(self._names))})(?![\w])") if self._names else None
        title_like = [*self._titles, *self._institutions]
        self._title_re = (
            re.compile(rf"(?<![\w'])(?:{_alternation(title_like)})(?![\w])", re.IGNORECASE) if title_like else None
        )

    @property
    def keep_unknown(self) -> bool:
        return self.watchlist.keep_unknown

    def mentions(self, text: str) -> list[Mention]:
        """Every watchlist mention in ``text``, in order, longest match at each position."""
        norm = normalise_chars(text)
        found: list[Mention] = []
        if self._name_re is not None:
            for m in self._name_re.finditer(norm):
                key = re.sub(r"\s+", " ", m.group(0))
                found.append(Mention(m.start(), m.end(), "name", tuple(self._names[key]), _possessive(norm, m.end())))
        if self._title_re is not None:
            for m in self._title_re.finditer(norm):
                key = re.sub(r"\s+", " ", m.group(0)).casefold()
                if key in self._titles:
                    found.append(
                        Mention(m.start(), m.end(), "title", tuple(self._titles[key]), _possessive(norm, m.end()))
                    )
                else:
                    found.append(
                        Mention(
                            m.start(),
                            m.end(),
                            "institution",
                            tuple(self._institutions[key]),
                            _possessive(norm, m.end()),
                        )
                    )
        found.sort(key=lambda x: (x.start, -(x.end - x.start)))
        # Drop mentions nested inside a longer one ("Peskov" inside "Dmitry Peskov").
        kept: list[Mention] = []
        for men in found:
            if kept and men.start < kept[-1].end:
                continue
            kept.append(men)
        return kept

    def pick(self, mention: Mention, default_actor: str | None = None) -> Resolved | None:
        """The one speaker a mention designates, or None when it is ambiguous."""
        cands = mention.candidates
        if default_actor is not None and len(cands) > 1:
            cands = tuple(c for c in cands if c.actor == default_actor) or cands
        unique = set(cands)
        return cands[0] if len(unique) == 1 else None

    def resolve(self, phrase: str, default_actor: str | None = None) -> Resolved | None:
        """Resolve a speaker phrase as written ("Kremlin spokesman Dmitry Peskov") to a watchlist speaker.

        The head of the phrase decides: the last name mention that is not possessive;
        failing a name, a title or institution naming the whole remainder of the phrase.
        """
        mentions = [m for m in self.mentions(phrase) if not m.possessive]
        names = [m for m in mentions if m.kind == "name"]
        if names:
            return self.pick(names[-1], default_actor)
        if mentions:
            # A title must reach the end of the phrase: in "the Russian president's aide" it does not.
            last = mentions[-1]
            if phrase[last.end :].strip(" ,") == "":
                return self.pick(last, default_actor)
        return None


def _possessive(text: str, end: int) -> bool:
    return text[end : end + 2] in ("'s",) or (text[end : end + 1] == "'" and text[end - 1 : end] == "s")
