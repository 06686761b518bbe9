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

_new = object.__new__
# The setters of BaseModel's four slots, bound once: calling one costs less than
# object.__setattr__ (no argument tuple sliced, no attribute looked up by name).
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


class _Required:
    """Marks a required field not given to :func:`build` (compared by identity)."""

    def __repr__(self) -> str:
        return "<required>"


_REQUIRED = _Required()


class _Shape:
    """What :func:`build` needs to know about a class, computed once per class."""

    __slots__ = ("defaults", "fields", "required", "size")

    def __init__(self, cls: type[BaseModel]) -> None:
        # field name -> default, in declaration order (required fields hold ``_REQUIRED``)
        self.defaults: dict[str, Any] = {
            name: _REQUIRED if field.is_required() else field.get_default(call_default_factory=False)
            for name, field in cls.model_fields.items()
        }
        self.required = frozenset(name for name, field in cls.model_fields.items() if field.is_required())
        self.fields = frozenset(self.defaults)
        self.size = len(self.defaults)
        factories = [name for name, field in cls.model_fields.items() if field.default_factory is not None]
        if factories:  # a fresh default per instance (dict, list) cannot be shared: not supported here
            raise TypeError(f"{cls.__name__}: build() does not support default factories ({', '.join(factories)})")


_SHAPES: dict[type[BaseModel], _Shape] = {}


def _shape(cls: type[BaseModel]) -> _Shape:
    found = _SHAPES.get(cls)
    if found is None:
        found = _SHAPES[cls] = _Shape(cls)
    return found


def build(cls: type[M], values: dict[str, Any]) -> M:
    """An instance of ``cls`` holding ``values`` (plus defaults), trusted as valid.

    Fields keep their declaration order, so the JSON is byte-identical to a validated model's.
    """
    shape = _shape(cls)
    data = shape.defaults.copy()
    data.update(values)
    # an unknown key adds an entry; a required field left out keeps its marker (both checks in C)
    if len(data) != shape.size or _REQUIRED in data.values():
        missing = sorted(shape.required - values.keys())
        unknown = sorted(values.keys() - shape.fields)
        raise TypeError(f"{cls.__name__}: missing {', '.join(missing)}; unknown {', '.join(unknown)}")
    obj = _new(cls)
    _set_dict(obj, data)
    _set_fields_set(obj, set(values))
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def construct(cls: type[M], data: dict[str, Any], fields_set: set[str]) -> M:
    """An instance of ``cls`` whose field values are ``data``, nothing checked: the hot path's :func:`build`.

    ``data`` must hold every field, in declaration order (the order of the JSON), and becomes
    the instance's ``__dict__``; ``fields_set`` is what ``model_fields_set`` reports. It may be
    one set shared by many instances (it is then neither copied, nor tracked by the garbage
    collector once per instance): the models are frozen, so pydantic never changes it in place
    (``model_copy`` changes a copy), and the engine never does.
    """
    obj = _new(cls)
    _set_dict(obj, data)
    _set_fields_set(obj, fields_set)
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def replace(obj: M, update: dict[str, Any]) -> M:
    """``obj.model_copy(update=update)`` for the engine's own flat models, without its overhead.

    Like ``model_copy``, nothing is validated: ``update`` must hold valid values of known fields.
    """
    new = _new(type(obj))
    data = obj.__dict__.copy()
    data.update(update)
    _set_dict(new, data)
    _set_fields_set(new, obj.__pydantic_fields_set__ | update.keys())
    _set_extra(new, None)
    _set_private(new, obj.__pydantic_private__)
    return new
