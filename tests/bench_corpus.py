"""The benchmark's corpus builders (``bench/bench_engine.py``) for tests that need its novel statements.

``bench/`` is not a package; tests load the module from its file once and share it.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

BENCH_ENGINE = Path(__file__).resolve().parent.parent / "bench" / "bench_engine.py"


@cache
def bench_engine() -> ModuleType:
    """``bench/bench_engine.py`` as a module (``novel_corpus``, ``labeled_corpus``, ...)."""
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH_ENGINE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def bench_common() -> ModuleType:
    """``bench/common.py`` as a module (``encoded``: the pipeline benchmarks' statements)."""
    spec = importlib.util.spec_from_file_location("bench_common", BENCH_ENGINE.with_name("common.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
