"""Building frozen models from values the engine computed itself, without re-validation.

The stance engine creates a few models per statement (claims, stance records, references).
Their values come from the engine, not from outside, so validating them again would only
cost time on the hot path. :func:`build` is ``model_construct`` reduced to what these flat
models need: defaults are filled in once per class, then the instance dictionary is set.
Models built here are equal to validated ones and serialise the same.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_DEFAULTS: dict[type[BaseModel], dict[str, Any]] = {}
_setattr = object.__setattr__
_REQUIRED: Any = object()


def _defaults(cls: type[BaseModel]) -> dict[str, Any]:
    """Field name -> default (``_REQUIRED`` when there is none), in declaration order."""
    found = _DEFAULTS.get(cls)
    if found is None:
        found = {
            name: _REQUIRED if field.is_required() else field.get_default(call_default_factory=True)
            for name, field in cls.model_fields.items()
        }
        _DEFAULTS[cls] = found
    return found


def build(cls: type[M], values: dict[str, Any]) -> M:
    """An instance of ``cls`` holding ``values`` (plus defaults), trusted as valid.

    Fields keep their declaration order, so the JSON is byte-identical to a validated model's.
    """
    data = {name: values.get(name, default) for name, default in _defaults(cls).items()}
    if _REQUIRED in data.values():
        missing = [k for k, v in data.items() if v is _REQUIRED]
        raise TypeError(f"{cls.__name__}: missing {', '.join(missing)}")
    obj = cls.__new__(cls)
    _setattr(obj, "__dict__", data)
    _setattr(obj, "__pydantic_fields_set__", set(values))
    _setattr(obj, "__pydantic_extra__", None)
    _setattr(obj, "__pydantic_private__", None)
    return obj
