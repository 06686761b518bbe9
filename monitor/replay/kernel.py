"""The replay kernel: a replay folded natively, from record bytes to output bytes.

A replay folds records it reads once and writes alerts it never reads back, so the Python
models the worker's fold makes for every statement (the decoded event, the new state, each
alert) are most of its cost. ``monitor_native.ReplayKernel`` (``native/src/replay.rs``) folds a
batch of records with the default engine's native fold while keeping the states as Rust
values, and returns the alert and timeline lines as bytes: the bytes the Python path writes
(``tests/test_replay_kernel.py`` replays the same logs both ways and compares them, and the
final states).

A record the kernel cannot read exactly as pydantic does (an unusual field, a datetime in
another form, text the native analyzer does not take) stops it; the runner folds that record
in Python on the actor's state taken out of the kernel, and puts the new state back. An actor
whose state the kernel cannot hold (a stored stance with values the engine does not write)
stays in Python for the rest of the replay.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, MutableMapping
from typing import Any

from monitor.codec import encode
from monitor.domain.analysis.native import native_module
from monitor.domain.detector import Detector
from monitor.domain.models import StanceState

__all__ = ["ReplayKernel", "kernel_applies", "replay_kernel"]

log = logging.getLogger(__name__)

_validate_state = StanceState.__pydantic_validator__.validate_json


class ReplayKernel:
    """The native kernel of one replay (or one replay process): states in, output bytes out."""

    def __init__(self, native: Any) -> None:
        self.native = native
        self.feed = native.feed

    def load(self, states: Iterable[StanceState]) -> None:
        """Take the states a replay starts from (a snapshot's); the ones it cannot hold stay out."""
        for state in states:
            self.native.put(encode(state), False)

    def hold(self, actors: Iterable[str]) -> None:
        """Leave the states of ``actors`` with the caller until the Python path folds each one's
        first record and puts the new state (kernels that share a snapshot need not copy it all)."""
        for actor in actors:
            self.native.hold(actor)

    def take(self, actor: str) -> StanceState | None:
        """The actor's state, out of the kernel (None when the kernel does not hold it)."""
        raw = self.native.take(actor)
        return None if raw is None else _validate_state(raw)

    def put(self, state: StanceState) -> bool:
        """Hold ``state`` (folded in Python); False when the kernel cannot, and the caller keeps it."""
        return bool(self.native.put(encode(state), True))

    def export(self, states: MutableMapping[str, StanceState]) -> list[str]:
        """Write the state of every actor folded in the kernel into ``states``; those actors."""
        actors = []
        for actor, raw in self.native.export():
            states[actor] = _validate_state(raw)
            actors.append(actor)
        return actors


def _native_kernel_class() -> Any | None:
    native = getattr(native_module(), "ReplayKernel", None)
    if native is None:  # no native core, or an older build: the Python path
        log.info("monitor_native has no replay kernel (rebuild it with make): the replay folds in Python")
    return native


def kernel_applies(detector: Detector) -> bool:
    """Whether a replay with ``detector`` folds in the kernel (the default engine on the native core)."""
    return detector.native is not None and _native_kernel_class() is not None


def replay_kernel(detector: Detector, *, timeline: bool, topics: Iterable[str] = (),
                  actors: Iterable[str] = ()) -> ReplayKernel | None:
    """A kernel folding with ``detector``'s native fold, or None when it has none (another engine,
    no native core). Kernels of one detector share its fold (its memos are locked: kernels may
    fold in several threads)."""
    fold, native = detector.native, _native_kernel_class()
    if fold is None or native is None:
        return None
    return ReplayKernel(native(fold.native, timeline, sorted(topics) or None, sorted(actors) or None))
