"""Scraper configuration: the sources file, the actor watchlist and the scrape settings.

Sources and watchlist are YAML files written by people, so every validation error is
reported as a :class:`~monitor.errors.ConfigError` naming the file and the field
(``sources.yaml: sources.2.url: Input should be a valid URL``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.domain.models import ActorId
from monitor.errors import ConfigError

DEFAULT_USER_AGENT = "monitor-scraper/0.1 (+https://github.com/monitor-project/monitor; statement monitor)"


class ScrapeSettings(BaseModel):
    """How the scraper fetches and where it keeps its state (``MONITOR_SCRAPE__*``)."""

    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=10.0, gt=0)
    total_timeout_s: float = Field(default=30.0, gt=0, description="Deadline for one response, body included.")
    max_bytes: int = Field(default=5_000_000, ge=1024, description="Responses larger than this are cut off.")
    max_redirects: int = Field(default=5, ge=0, le=20)
    per_host_concurrency: int = Field(default=2, ge=1)
    per_host_interval_s: float = Field(default=1.0, ge=0, description="Minimum delay between requests to a host.")
    retries: int = Field(default=2, ge=0, le=10, description="Retries on 5xx, 429 and timeouts.")
    backoff_s: float = Field(default=0.5, ge=0, description="First retry delay; doubles per retry.")
    backoff_max_s: float = Field(default=30.0, ge=0)
    respect_robots: bool = True
    max_concurrency: int = Field(default=8, ge=1, description="Pages in flight across all hosts.")
    state_path: Path = Path(".monitor/scrape.db")
    watchlist: Path = Path("deploy/watchlist.example.yaml")
    dedupe_window_days: int = Field(
        default=7, ge=1, description="The same quote by the same actor within this window is one statement."
    )


SourceKind = Literal["feed", "urls", "jsonl"]


class SourceBase(BaseModel):
    """Fields common to every source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")]
    poll_interval_s: float = Field(default=900.0, ge=1.0)
    language: str = "en"
    default_actor: ActorId | None = Field(
        default=None,
        description="Actor of an official page: title-only speakers ('The President') resolve within it.",
    )
    transcript: bool = Field(
        default=False, description="Paragraphs 'Speaker: text' are statements (official transcripts)."
    )
    enabled: bool = True


def _check_http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{url!r} is not an http(s) URL")
    return url


class FeedSource(SourceBase):
    """An RSS or Atom feed; every entry's link is fetched as an article."""

    kind: Literal["feed"] = "feed"
    url: str
    max_entries: int = Field(default=50, ge=1)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_http_url(v)


class UrlListSource(SourceBase):
    """A fixed list of article or transcript pages."""

    kind: Literal["urls"] = "urls"
    urls: list[str] = Field(min_length=1)

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        return [_check_http_url(u) for u in v]


class JsonlSource(SourceBase):
    """A local JSON Lines file of statements (speaker, text, published_at, source_url[, actor])."""

    kind: Literal["jsonl"] = "jsonl"
    path: Path


Source = Annotated[FeedSource | UrlListSource | JsonlSource, Field(discriminator="kind")]


class SourcesFile(BaseModel):
    """The sources file: a list of sources and, optionally, the watchlist to use."""

    model_config = ConfigDict(extra="forbid")

    watchlist: Path | None = None
    sources: list[Source] = Field(min_length=1)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, v: list[FeedSource | UrlListSource | JsonlSource]) -> list[Any]:
        names = [s.name for s in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return v


class SpeakerSpec(BaseModel):
    """One person who speaks for an actor, with every way the press names them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1)]
    aliases: tuple[str, ...] = ()
    titles: tuple[str, ...] = Field(
        default=(), description="Title phrases that alone designate this speaker ('the Russian president')."
    )


class ActorSpec(BaseModel):
    """An actor (a government, an institution) and its speakers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    speakers: tuple[SpeakerSpec, ...] = ()
    institutions: tuple[str, ...] = Field(
        default=(), description="Names of the institution itself as a speaker ('the Kremlin')."
    )


class Watchlist(BaseModel):
    """The actors whose statements are kept; everyone else is dropped unless ``keep_unknown``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actors: dict[ActorId, ActorSpec] = Field(min_length=1)
    keep_unknown: bool = False


M = TypeVar("M", bound=BaseModel)


def _format_validation(path: Path, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{path}: {loc}: {err['msg']}")
    return "; ".join(parts)


def _load_yaml(path: Path, what: str) -> Mapping[str, Any]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: {what} file not found; pass an existing file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what} file: {exc}") from exc
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the {what} file must be a YAML mapping at the top level")
    return data


def _validate(model: type[M], path: Path, data: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(path, exc)) from exc


def load_sources(path: Path) -> SourcesFile:
    """Load and validate a sources file; relative paths inside it are resolved against it."""
    loaded = _validate(SourcesFile, path, _load_yaml(path, "sources"))
    base = path.parent
    sources: list[FeedSource | UrlListSource | JsonlSource] = []
    for s in loaded.sources:
        if isinstance(s, JsonlSource) and not s.path.is_absolute():
            s = s.model_copy(update={"path": base / s.path})
        sources.append(s)
    watchlist = loaded.watchlist
    if watchlist is not None and not watchlist.is_absolute():
        watchlist = base / watchlist
    return SourcesFile.model_construct(watchlist=watchlist, sources=sources)


def load_watchlist(path: Path) -> Watchlist:
    """Load and validate a watchlist file."""
    return _validate(Watchlist, path, _load_yaml(path, "watchlist"))
