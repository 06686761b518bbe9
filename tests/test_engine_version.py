"""``Detector.version`` names the exact engine: rules, data, thresholds and code."""

from __future__ import annotations

import shutil
from pathlib import Path

from monitor.domain import detector as detector_module
from monitor.domain.detector import ENGINE_CODE, Detector, EngineConfig, code_digest

DOMAIN = Path(detector_module.__file__).parent


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "domain"
    shutil.copytree(DOMAIN, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_version_carries_the_code_digest() -> None:
    assert f"+code{ENGINE_CODE}+" in Detector().version
    assert Detector().version == Detector().version
    assert Detector(config=EngineConfig(escalation_threshold=2.5)).version != Detector().version


def test_code_digest_follows_the_deciding_files(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    assert code_digest(root) == ENGINE_CODE
    (root / "README.txt").write_text("notes")  # not engine code
    assert code_digest(root) == ENGINE_CODE
    for name in ("analysis/rules.py", "analysis/lexicon.yaml", "topics/pack-v1.yaml", "stance.py", "detector.py"):
        path = root / name
        original = path.read_text()
        path.write_text(original + "\n# changed\n")
        assert code_digest(root) != ENGINE_CODE, name
        path.write_text(original)
    assert code_digest(root) == ENGINE_CODE
