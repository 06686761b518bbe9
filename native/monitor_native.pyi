"""Type stubs of ``monitor_native``, the native core of monitor's rule analyzer (native/src/lib.rs).

The core reads ASCII text only: every method taking text raises ``ValueError`` on anything else.
See ``monitor/domain/analysis/native.py`` for how it is built from a ``RuleAnalyzer``.
"""

from collections.abc import Callable
from typing import Any

SPEC: str
__version__: str

# (role, topic, pol, value, obj)
_Meaning = tuple[str, str | None, int, float, str | None]
# (id, intensity_pro, intensity_contra, threat (+1/-1), threat_explicit, trigger_frame, change (+1/-1/None), percent)
_Topic = tuple[str, float, float, int, bool, bool, int | None, bool]
# (key, polarity, intensity, modality, category, confidence, sentence, cues, neg_cues, mod_cues, magnitude, explicit)
_Claim = tuple[
    str, str, float, str, str | None, float, str, tuple[str, ...], tuple[str, ...], tuple[str, ...], float | None, bool
]
# (topic, relation, cue, sentence)
_Relation = tuple[str, str, str, str]

class Core:
    def __init__(
        self,
        phrases: list[tuple[str, list[_Meaning]]],
        topics: list[_Topic],
        answers_no: list[str],
        answers_yes: list[str],
        threat_default: str | None,
        red_lines: list[str] = ...,
    ) -> None: ...
    @property
    def size(self) -> int: ...
    def normalize(self, text: str) -> tuple[str, str]: ...
    def sentences(self, cased: str) -> list[tuple[int, int]]: ...
    def scan(self, low: str) -> list[tuple[int, int, str, list[_Meaning]]]: ...
    def analyze(self, text: str, speaker_parts: list[str]) -> tuple[list[_Claim], list[_Relation], list[str]]: ...

def phrase_tokens(phrase: str) -> list[str]: ...

class Fold:
    """The native fold of one ``Detector`` (native/src/fold.rs; built by ``monitor.domain.nativefold``)."""

    def __init__(
        self,
        core: Core,
        topics: list[tuple[str, str, int, bool, str | None]],
        config: tuple[float, float, float, float, float, float, float, int, int],
        gazetteer: tuple[
            list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]
        ],
        engine: str,
        models: tuple[type, type, type, type],
        order: list[list[str]],
        members: list[object],
        fields: tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]],
        helpers: tuple[Callable[[str], str], Callable[[str], str], Callable[[str], list[str]]],
    ) -> None: ...
    def step(self, state: Any, event: Any) -> tuple[Any, list[Any]] | None:
        """``Detector.step(state, event)``, or None when the Python fold must take the statement."""
    @staticmethod
    def seen_key(text: str) -> str: ...
    def own(self, actor: str) -> str | None: ...
    def counterpart(self, sentence: str, own: str | None) -> str | None: ...

class ReplayKernel:
    """A replay's fold on native states, record bytes to output bytes (native/src/replay.rs;
    built by ``monitor.replay.kernel``)."""

    def __init__(
        self, fold: Fold, timeline: bool, topics: list[str] | None = None, actors: list[str] | None = None
    ) -> None: ...
    def feed(
        self, records: list[Any] | Records, pos: int, start: int, partition: int
    ) -> tuple[int, bytes, bytes, tuple[int, int, int, int, int]]:
        """Fold ``records[pos:]`` (objects with ``key``, ``value`` and ``offset``, or a record set
        read by ``read_batches``) until one needs Python: ``(stop, alerts, timeline, (folded,
        in_range, skipped, contradictions, escalations))``."""
    def take(self, actor: str) -> bytes | None: ...
    def put(self, raw: bytes, stepped: bool) -> bool: ...
    def hold(self, actor: str) -> None:
        """Leave ``actor``'s state with the caller: its records stop the kernel until ``put``."""
    def export(self) -> list[tuple[str, bytes]]: ...
    def __len__(self) -> int: ...
    @staticmethod
    def read_time(text: str) -> tuple[str, str, int] | None: ...

class Records:
    """The records of one partition's fetched record set, found in place (native/src/kafka.rs)."""

    def __len__(self) -> int: ...
    def row(self, i: int) -> tuple[int, bytes | None, bytes | None, int]:
        """``(offset, key, value, timestamp_ms)`` of record ``i``."""

def read_batches(data: bytes, fetch_offset: int, end: int) -> tuple[Records, int, int | None]:
    """The records of ``[fetch_offset, end)`` in a Kafka record set (message format v2, uncompressed),
    the offset to fetch next, and the byte position of the first batch not read here (or None)."""
