"""Choosing the engine a replay runs: ``module:factory`` plus an optional config file.

The default is the worker's own :class:`~monitor.domain.detector.Detector`; its config
file holds the fields of :class:`~monitor.domain.stance.EngineConfig` (thresholds, extra
topic packs). Another engine (a candidate version, a test engine) is named
``package.module:callable``; the callable returns a ``Detector`` and receives the config
file's mapping as keyword arguments. The config hash in every manifest is the SHA-256 of that mapping serialised
canonically (sorted keys), so the same settings written differently hash the same.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from monitor.codec import describe_validation_error
from monitor.domain.detector import Detector
from monitor.errors import InputError

DEFAULT_ENGINE = "monitor.domain.detector:Detector"


@dataclass(frozen=True)
class EngineChoice:
    """The engine of a run: how it was named, its config, and the detector built from them."""

    spec: str
    detector: Detector
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.detector.version

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(dict(config), option=orjson.OPT_SORT_KEYS)).hexdigest()


def read_config(path: Path) -> dict[str, Any]:
    """A YAML or JSON mapping; errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read engine config: {exc.strerror}", where=str(path)) from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(f"engine config is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}",
                         where=str(path)) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"engine config must be a mapping, got {type(data).__name__}", where=str(path))
    return data


def load_engine(spec: str | None = None, config_path: Path | None = None) -> EngineChoice:
    """Import ``spec`` (``module:callable``; default the worker's Detector) and build it with the config."""
    config = read_config(config_path) if config_path is not None else {}
    return build_engine(spec or DEFAULT_ENGINE, config, where=str(config_path) if config_path else "--engine")


def build_engine(spec: str, config: Mapping[str, Any], *, where: str = "--engine") -> EngineChoice:
    """The engine ``spec`` built with ``config`` (what :func:`load_engine` does once the file is read)."""
    config = dict(config)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(f"engine {spec!r} must look like package.module:callable", where="--engine")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"cannot load engine {spec!r}: {exc}", where="--engine") from exc
    try:
        if spec == DEFAULT_ENGINE:
            from monitor.domain.detector import EngineConfig

            detector = Detector(config=EngineConfig.model_validate(config)) if config else Detector()
        else:
            detector = factory(**config)
    except ValidationError as exc:
        raise InputError(f"invalid engine config: {describe_validation_error(exc)}", where=where) from exc
    except TypeError as exc:
        raise InputError(f"engine {spec!r} rejects its config: {exc}", where=where) from exc
    if not (callable(getattr(detector, "step", None)) and isinstance(getattr(detector, "version", None), str)):
        raise InputError(f"engine {spec!r} did not return a detector (step(state, event) and version)",
                         where="--engine")
    return EngineChoice(spec=spec, detector=detector, config=config)
