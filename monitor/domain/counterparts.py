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
        alternatives = "|".join(re.escape(n) for n in sorted(self._by_name, key=len, reverse=True))
        # "in Vilnius", "at Ramstein": a venue, not a counterpart
        self._pattern = re.compile(rf"(?<![\w.])(?<!\b[Ii]n )(?<!\b[Aa]t )({alternatives})(?:'s)?(?![\w])")

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
        return {self._by_name[m.group(1)] for m in self._pattern.finditer(sentence)}

    def counterpart(self, sentence: str, own: str | None) -> str | None:
        """The one state ``sentence`` is about other than ``own`` (the actor's state, see :meth:`own`).

        None when it names none or several.
        """
        named = self.named(sentence)
        if own is not None:
            named.discard(own)
        return next(iter(named)) if len(named) == 1 else None

    def display(self, cid: str) -> str:
        return self._names.get(cid, cid)


def split_key(key: str) -> tuple[str, str | None]:
    """``"sanctions@iran"`` -> ``("sanctions", "iran")``; a key without a counterpart -> ``(key, None)``."""
    topic, sep, counterpart = key.partition(SEPARATOR)
    return topic, (counterpart if sep else None)
