"""Topic packs: the topics the engine recognises, as versioned YAML data.

The built-in pack is ``pack-v1.yaml`` next to this module. Users extend it with their own
files of the same shape (passed as paths in the engine config); a user topic with the id
of a built-in topic replaces it. Loading happens once, when a detector is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.domain.ids import digest
from monitor.domain.models import Polarity, Severity

_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster start-up


def load_yaml(text: str) -> Any:
    """Safe YAML parsing for the engine's data files (libyaml's loader where it is installed)."""
    return yaml.load(text, Loader=_YAML_LOADER)


def read_data(package: str, name: str) -> Any:
    """A YAML data file shipped inside ``package``, parsed."""
    return load_yaml(resources.files(package).joinpath(name).read_text(encoding="utf-8"))


BUILTIN_PACK = "pack-v1.yaml"


class TopicSpec(BaseModel):
    """One topic: how to recognise it and what its stances mean."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    severity: Severity = Severity.MEDIUM
    intensity: dict[Polarity, float] = Field(default_factory=lambda: {Polarity.PRO: 1.0, Polarity.CONTRA: -1.0})
    threat: Polarity = Polarity.PRO
    threat_explicit: bool = False
    trigger_frame: bool = False
    threat_default: bool = False
    change: Polarity | None = None
    magnitude: Literal["percent"] | None = None
    per_counterpart: bool = False
    family: str | None = Field(default=None, pattern=r"^[a-z0-9_]+$")
    cues: tuple[str, ...] = ()
    pro_cues: tuple[str, ...] = ()
    contra_cues: tuple[str, ...] = ()
    pro: tuple[str, ...] = ()
    contra: tuple[str, ...] = ()
    objects: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class TopicPack(BaseModel):
    """A versioned list of topics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    topics: tuple[TopicSpec, ...]

    def by_id(self) -> dict[str, TopicSpec]:
        return {t.id: t for t in self.topics}

    def merged(self, other: TopicPack) -> TopicPack:
        """This pack with ``other`` laid over it (same id replaces, new ids append)."""
        topics = self.by_id()
        topics.update(other.by_id())
        return TopicPack(version=f"{self.version}+{other.version}", topics=tuple(topics.values()))


class TopicPackError(ValueError):
    """A topic pack file cannot be read; the message names the file and the problem."""


def _parse(text: str, where: str) -> TopicPack:
    try:
        return TopicPack.model_validate(load_yaml(text))
    except yaml.YAMLError as exc:
        raise TopicPackError(f"{where}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise TopicPackError(f"{where}: not a valid topic pack: {exc}") from exc


def builtin_pack() -> TopicPack:
    """The topic pack shipped with the package."""
    text = resources.files(__package__).joinpath(BUILTIN_PACK).read_text(encoding="utf-8")
    return _parse(text, BUILTIN_PACK)


def load_pack(extra_paths: Sequence[str | Path] = ()) -> TopicPack:
    """The built-in pack extended by the user's pack files, in order.

    A user pack's version is folded into the result as a short digest of its content, so
    the detector version changes whenever a user pack changes.
    """
    pack = builtin_pack()
    for path in extra_paths:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise TopicPackError(f"{p}: cannot read topic pack: {exc}") from exc
        user = _parse(text, str(p))
        pack = pack.merged(user.model_copy(update={"version": f"{user.version}.{digest(text, size=8)}"}))
    return pack
