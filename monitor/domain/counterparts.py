"""Counterparts: which state a claim is about, so one actor keeps one stance per counterpart.

An actor can hold opposite positions on one topic toward different states at once: tariffs
raised on one country and waived for another, one candidate's alliance membership ratified
while another's stays blocked. For topics marked ``per_counterpart`` in the topic pack, the
detector keys a claim by the one state its sentence names (other than the actor's own), read
from ``topics/countries.yaml``: names, adjectives, capitals and seats of government, matched
case-sensitively as whole words, not after "in" or "at" (a venue: "the summit in Vilnius"). A
sentence naming no state, or several, has no counterpart.
"""

from __future__ import annotations

import re
from functools import cache

from monitor.domain.topics import read_data

COUNTRIES_FILE = "countries.yaml"
SEPARATOR = "@"  # stance key of a claim with a counterpart: "sanctions@iran"


class Counterparts:
    """The gazetteer of states, compiled once: ``counterpart(sentence, actor)``."""

    def __init__(self, table: dict[str, dict[str, list[str]]]) -> None:
        self._by_name: dict[str, str] = {}
        self._names: dict[str, str] = {}  # id -> display name (the first name listed)
        self._actor_words: dict[str, str] = {}
        self._actor_prefixes: list[tuple[str, str]] = []
        for cid, entry in table.items():
            names = entry.get("names", [])
            self._names[cid] = names[0] if names else cid.replace("_", " ").title()
            for name in names:
                self._by_name[name] = cid
            for word in entry.get("actor", []):
                if "_" in word:
                    self._actor_prefixes.append((word, cid))
                else:
                    self._actor_words[word] = cid
        self._pattern = _gazetteer_pattern(self._by_name)

    @staticmethod
    @cache
    def builtin() -> Counterparts:
        """The gazetteer shipped with the package, read and compiled once per process (it is read-only)."""
        return Counterparts(read_data("monitor.domain.topics", COUNTRIES_FILE)["countries"])

    def own(self, actor: str) -> str | None:
        """The state an actor id stands for ("kremlin" -> russia), if its words say so."""
        low = actor.lower()
        for prefix, cid in self._actor_prefixes:
            if low == prefix or low.startswith(prefix + "_") or f"_{prefix}" in low:
                return cid
        for word in low.split("_"):
            found = self._actor_words.get(word)
            if found is not None:
                return found
        return None

    def named(self, sentence: str) -> set[str]:
        """The states a sentence names."""
        by_name = self._by_name
        return {by_name[name] for name in self._pattern.findall(sentence)}

    def counterpart(self, sentence: str, own: str | None) -> str | None:
        """The one state ``sentence`` is about other than ``own`` (the actor's state, see :meth:`own`).

        None when it names none or several.
        """
        found = None
        by_name = self._by_name
        for name in self._pattern.findall(sentence):
            cid = by_name[name]
            if cid != own and cid != found:
                if found is not None:
                    return None  # a second state
                found = cid
        return found

    def display(self, cid: str) -> str:
        return self._names.get(cid, cid)


def _gazetteer_pattern(by_name: dict[str, str]) -> re.Pattern[str]:
    """The names as whole words, longest first, not after "in" or "at" (a venue: "in Vilnius").

    Same matches as ``(?<![\\w.])(?<!\\b[Ii]n )(?<!\\b[Aa]t )(name|name|...)(?:'s)?(?!\\w)`` with the
    names sorted longest first, written so that the regex engine skips ahead to the characters a
    name can start with: the alternatives are grouped by their first character (each group keeps
    the longest-first order), and the look-behinds are checked after that character, over it.
    """
    if not by_name or "" in by_name:
        alternatives = "|".join(re.escape(n) for n in sorted(by_name, key=len, reverse=True))
        return re.compile(rf"(?<![\w.])(?<!\b[Ii]n )(?<!\b[Aa]t )({alternatives})(?:'s)?(?![\w])")
    groups: dict[str, list[str]] = {}
    for name in sorted(by_name, key=len, reverse=True):
        groups.setdefault(name[0], []).append(name)
    branches = []
    for first, names in groups.items():
        f = re.escape(first)
        rests = "|".join(re.escape(n[1:]) for n in names)
        branches.append(rf"{f}(?<![\w.]{f})(?<!\b[Ii]n {f})(?<!\b[Aa]t {f})(?:{rests})")
    return re.compile(rf"({'|'.join(branches)})(?:'s)?(?![\w])")


def split_key(key: str) -> tuple[str, str | None]:
    """``"sanctions@iran"`` -> ``("sanctions", "iran")``; a key without a counterpart -> ``(key, None)``."""
    topic, sep, counterpart = key.partition(SEPARATOR)
    return topic, (counterpart if sep else None)
