"""Sources and watchlist files: the shipped examples load, mistakes name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.scrape.config import FeedSource, JsonlSource, UrlListSource, load_sources, load_watchlist
from monitor.settings import Settings

DEPLOY = Path(__file__).parent.parent / "deploy"


def test_examples_load() -> None:
    sources = load_sources(DEPLOY / "sources.example.yaml")
    kinds = [type(s) for s in sources.sources]
    assert kinds == [FeedSource, FeedSource, UrlListSource, JsonlSource]
    assert sources.watchlist == DEPLOY / "watchlist.example.yaml"
    jsonl = sources.sources[3]
    assert isinstance(jsonl, JsonlSource) and jsonl.path == DEPLOY / "../data/statements.jsonl"
    watchlist = load_watchlist(sources.watchlist)
    assert {"kremlin", "white_house", "ukraine_presidency", "eu_commission", "china_mfa", "nato"} <= set(
        watchlist.actors
    )
    kremlin = {s.name for s in watchlist.actors["kremlin"].speakers}
    assert kremlin == {"Vladimir Putin", "Dmitry Peskov", "Sergei Lavrov", "Maria Zakharova"}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("sources:\n  - name: a\n    kind: feed\n    url: ftp://x\n", "sources.0.feed.url"),
        ("sources:\n  - name: a\n    kind: rss\n    url: http://x\n", "sources.0"),
        ("sources:\n  - name: a\n    kind: urls\n    urls: []\n", "sources.0.urls.urls"),
        ("sources:\n  - name: a\n    kind: feed\n    url: http://x\n    poll_interval_s: 0\n", "poll_interval_s"),
        (
            "sources:\n  - {name: a, kind: feed, url: 'http://x'}\n  - {name: a, kind: feed, url: 'http://y'}\n",
            "repeated: a",
        ),
        ("sources: [\n", "not valid YAML"),
        ("- just a list\n", "mapping at the top level"),
    ],
)
def test_bad_sources_name_file_and_field(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_sources(path)
    assert str(path) in str(info.value) and where in str(info.value)


def test_bad_watchlist_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text("actors:\n  Kremlin!: {speakers: [{name: Putin}]}\n")
    with pytest.raises(ConfigError, match=r"watchlist.yaml: actors.Kremlin!"):
        load_watchlist(path)
    with pytest.raises(ConfigError, match="not found"):
        load_watchlist(tmp_path / "nope.yaml")


def test_scrape_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_SCRAPE__MAX_BYTES", "2048")
    monkeypatch.setenv("MONITOR_SCRAPE__STATE_PATH", "/tmp/x/scrape.db")
    settings = Settings()
    assert settings.scrape.max_bytes == 2048
    assert settings.scrape.state_path == Path("/tmp/x/scrape.db")
    assert settings.scrape.user_agent.startswith("monitor-scraper/")
