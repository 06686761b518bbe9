"""The installed native analyzer core declares the Python rules it was checked against.

``native/SPEC`` records the digest of ``monitor/domain/analysis``'s Python sources that the
differential tests last passed on (``tools/native_spec.py --write``). A change to the rules
without a port to ``native/`` fails here, so the two implementations cannot drift apart
unnoticed; at run time the engine falls back to the Python rules in that case.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.domain.analysis.rules import RuleAnalyzer, spec_digest

ROOT = Path(__file__).resolve().parent.parent

try:
    import monitor_native
except ImportError:  # pragma: no cover - depends on the machine
    monitor_native = None

needs_native = pytest.mark.skipif(
    monitor_native is None and not os.environ.get("CI"),
    reason="the native core is not built here (make builds it when cargo is installed)",
)


def test_spec_file_names_the_current_rules() -> None:
    recorded = (ROOT / "native" / "SPEC").read_text().strip()
    assert recorded == spec_digest(), (
        "monitor/domain/analysis changed since the native core was last checked against it: "
        "port the change to native/src, then run tools/native_spec.py --write"
    )


@needs_native
def test_installed_core_is_built_from_this_spec_and_used_by_default() -> None:
    assert monitor_native is not None, "CI must build the native core (make needs cargo)"
    assert (ROOT / "native" / "SPEC").read_text().strip() == monitor_native.SPEC, "stale build: run make"
    assert RuleAnalyzer().native
    assert not RuleAnalyzer(native=False).native
