"""The replay report: one self-contained HTML file, checked in a real headless Chromium, plus its JSON twin."""

from __future__ import annotations

import asyncio
import html
import re
import subprocess
from pathlib import Path

import orjson
import pytest

from monitor.adapters.embedded import SqliteLog
from monitor.cli import main
from monitor.codec import statement_message
from monitor.replay.testing import synthetic_statements

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    db = tmp / "log.db"

    async def fill() -> None:
        log = SqliteLog(db)
        await log.append("statements", [statement_message(e) for e in synthetic_statements(300, actors=3)])
        await log.close()

    asyncio.run(fill())
    out = tmp / "replay"
    assert main(["replay", "--db", str(db), "--engine", "monitor.replay.testing:KeywordDetector",
                 "--out", str(out), "--progress", "none"]) == 0
    assert main(["report", str(out)]) == 0
    return out


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run tools/ensure-chromium.sh (the report must be checked in a browser)")
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, timeout=90, check=True)


def test_report_is_self_contained_with_a_json_twin(report: Path) -> None:
    page = (report / "report.html").read_text(encoding="utf-8")
    data = orjson.loads((report / "report.json").read_bytes())
    manifest = orjson.loads((report / "manifest.json").read_bytes())
    assert data["manifest"] == manifest
    assert data["alerts_total"] == manifest["counts"]["alerts"] > 0
    assert {(s["actor"], s["topic"]) for s in data["series"]} >= {(a["actor"], a["topic"]) for a in data["alerts"]}
    # Nothing to fetch: no scripts, stylesheets, images or fonts from elsewhere.
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert "url(" not in page and "@import" not in page
    assert manifest["output"]["alerts_sha256"] in page


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    data = orjson.loads((report / "report.json").read_bytes())
    dom = chromium("--dump-dom", (report / "report.html").as_uri(), tmp=tmp_path).stdout.decode("utf-8")
    alert = data["alerts"][0]
    for text in (alert["statement"]["quote"], alert["prior"]["quote"], alert["explanation"]):
        assert html.escape(text, quote=False) in dom
    assert f'href="{alert["statement"]["source_url"]}"' in dom
    points = re.findall(r'<circle class="alert-point" data-alert-id="(alr_[0-9a-f]+)"', dom)
    assert sorted(points) == sorted(a["id"] for a in data["alerts"])
    assert dom.count('class="point') >= sum(len(s["points"]) for s in data["series"]) > 0
    assert dom.count("<svg") == len(data["series"])
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,1400", (report / "report.html").as_uri(), tmp=tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
