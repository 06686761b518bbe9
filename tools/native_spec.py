"""Declare which version of the Python rules the native analyzer core implements.

    .venv/bin/python tools/native_spec.py          # print the digests, exit 1 if they differ
    .venv/bin/python tools/native_spec.py --write  # after the differential tests pass: record it

The native core (``native/``) is a port of ``monitor/domain/analysis`` (text, lexicon, rules).
``native/SPEC`` holds the digest of the Python sources it was last checked against; the
engine uses the native core only while that digest matches the installed Python rules, and
``tests/test_native*.py`` fail when it does not. ``--write`` first runs those tests with the
freshly built core and records the digest only if they pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from monitor.domain.analysis.rules import spec_digest

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "native" / "SPEC"


def main(argv: list[str]) -> int:
    current = spec_digest()
    recorded = SPEC.read_text().strip() if SPEC.exists() else "(none)"
    print(f"python rules: {current}\nnative/SPEC:  {recorded}")
    if "--write" not in argv:
        return 0 if current == recorded else 1
    tests = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_native*.py") if p.name != "test_native_spec.py"
    )
    # the core under test declares the old digest until it is rebuilt: let the tests use it anyway
    env = dict(os.environ, MONITOR_NATIVE_CANDIDATE=current)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=ROOT, env=env)
    if run.returncode != 0:
        print("differential tests failed: native/SPEC left unchanged", file=sys.stderr)
        return run.returncode
    SPEC.write_text(current + "\n")
    print(f"native/SPEC set to {current}; rebuild the core (make) so the module declares it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
