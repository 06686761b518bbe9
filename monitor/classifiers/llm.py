"""An LLM judge over any OpenAI-compatible ``/v1/chat/completions`` endpoint.

:class:`LLMAnalyzer` asks a chat model for the stance claims of a statement in a strict
JSON shape (topic id from the pack, polarity, intensity -10..10, modality, confidence,
cues), validates the answer with pydantic and turns it into
:class:`~monitor.domain.models.Claim` s. Anything else (an HTTP error, a timeout after the
bounded retries, text that is not JSON, JSON of the wrong shape, a topic not in the pack)
is logged with the reason and yields *no claim*: the statement is undecided, never
guessed.

By default (``mode="fallback"``) the rules read the statement first and the model is only
asked when they decide nothing, so the rules' precision is kept and the model sees only
the statements they miss; ``mode="only"`` asks the model for every statement.

The HTTP client is injected (``httpx.Client``; the Analyzer interface is synchronous).
Requests use temperature 0 and a fixed seed, and answers are cached per text, so a
process gives one reading per statement; across processes an LLM is only as repeatable
as its server. The API key is a ``SecretStr``, sent only as the ``Authorization`` header
and never logged. Install with ``pip install 'monitor[llm]'``.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from typing import Annotated, Literal

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.domain.analysis import Analysis
from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.ids import digest
from monitor.domain.models import Claim, Modality, Polarity

PROMPT_VERSION = "1"

_log = structlog.get_logger("monitor.classifiers.llm")


class LLMSettings(BaseSettings):
    """Where the judge is and how it is asked; env ``MONITOR_LLM_*`` (e.g. ``MONITOR_LLM_API_KEY``)."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_LLM_", extra="ignore")

    base_url: str = "http://127.0.0.1:8000"
    model: str = "gpt-4o-mini"
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=5)
    retry_backoff_s: float = Field(default=0.5, ge=0)
    seed: int = 7
    mode: Literal["fallback", "only"] = "fallback"
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    cache_size: int = Field(default=10_000, ge=0)


class JudgedClaim(BaseModel):
    """One claim as the model must state it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str
    polarity: Polarity
    intensity: Annotated[float, Field(ge=-10.0, le=10.0)]
    modality: Modality = Modality.ASSERTED
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    cues: tuple[str, ...] = ()
    sentence: str = ""


class Judgement(BaseModel):
    """The whole answer: the claims of one statement (empty when it takes no stance)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    claims: tuple[JudgedClaim, ...] = ()


class LLMAnalyzer:
    """Claims judged by a chat model, validated; undecided on any failure."""

    def __init__(
        self,
        client: httpx.Client,
        settings: LLMSettings | None = None,
        *,
        base: RuleAnalyzer | None = None,
    ) -> None:
        self.settings = settings or LLMSettings()
        self.base = base if base is not None else RuleAnalyzer()
        self._client = client
        self._topics = self.base.pack.by_id()
        self._prompt = _system_prompt(self.base)
        self._cache: OrderedDict[tuple[str, str | None], Analysis] = OrderedDict()
        s = self.settings
        self._name = (
            f"{self.base.name}+llm{PROMPT_VERSION}-{s.model}-{s.mode}-seed{s.seed}"
            f"-p{digest(self._prompt, size=6)}"
        )

    @property
    def name(self) -> str:
        return self._name

    def topic_name(self, topic: str) -> str:
        return self.base.topic_name(topic)

    def topic_severity(self, topic: str) -> str:
        return self.base.topic_severity(topic)

    def analyze(self, text: str, *, speaker: str | None = None) -> Analysis:
        if self.settings.mode == "fallback":
            ruled = self.base.analyze(text, speaker=speaker)
            if ruled.claims or ruled.relations:
                return ruled
        key = (text, speaker)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        result = self._judge(text, speaker)
        if self.settings.cache_size:
            self._cache[key] = result
            if len(self._cache) > self.settings.cache_size:
                self._cache.popitem(last=False)
        return result

    # -- internals ----------------------------------------------------------------------------

    def _judge(self, text: str, speaker: str | None) -> Analysis:
        content = self._ask(text, speaker)
        if content is None:
            return Analysis(undecided=("llm: no answer",))
        try:
            judgement = Judgement.model_validate_json(content)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(root)"
            _log.warning("llm_invalid_answer", reason=f"{where}: {first['msg']}", model=self.settings.model)
            return Analysis(undecided=("llm: invalid answer",))
        claims: list[Claim] = []
        undecided: list[str] = []
        for jc in judgement.claims:
            base_id, _, obj = jc.topic.partition(":")
            spec = self._topics.get(base_id)
            if spec is None or (obj and obj not in spec.objects):
                _log.warning("llm_unknown_topic", topic=jc.topic, model=self.settings.model)
                undecided.append(f"llm: unknown topic {jc.topic}")
                continue
            if jc.confidence < self.settings.min_confidence:
                undecided.append(f"llm: low confidence on {jc.topic}")
                continue
            claims.append(
                Claim(
                    topic=jc.topic,
                    polarity=jc.polarity,
                    intensity=jc.intensity,
                    modality=jc.modality,
                    confidence=jc.confidence,
                    sentence=jc.sentence or text,
                    cues=("llm", *jc.cues[:7]),
                )
            )
        if not claims and not undecided:
            undecided.append("llm: no stance")
        return Analysis(claims=tuple(claims), undecided=tuple(undecided))

    def _ask(self, text: str, speaker: str | None) -> str | None:
        """The model's message content, or ``None`` after logging why there is none."""
        s = self.settings
        user = json.dumps({"speaker": speaker, "statement": text}, ensure_ascii=False)
        body = {
            "model": s.model,
            "temperature": 0,
            "seed": s.seed,
            "response_format": {"type": "json_object"},
            "messages": [{"role": "system", "content": self._prompt}, {"role": "user", "content": user}],
        }
        headers = {"Authorization": f"Bearer {s.api_key.get_secret_value()}"} if s.api_key else {}
        url = f"{s.base_url.rstrip('/')}/v1/chat/completions"
        reason = ""
        for attempt in range(s.max_retries + 1):
            if attempt:
                time.sleep(s.retry_backoff_s * 2 ** (attempt - 1))
            try:
                resp = self._client.post(url, json=body, headers=headers, timeout=s.timeout_s)
            except httpx.TimeoutException:
                reason = "timeout"
                continue
            except httpx.HTTPError as exc:
                reason = f"transport error: {type(exc).__name__}"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                reason = f"http {resp.status_code}"
                continue
            if resp.status_code != 200:
                reason = f"http {resp.status_code}"
                break  # a client error does not get better by asking again
            try:
                content = resp.json()["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError):
                reason = "not a chat completion"
                break
            if not isinstance(content, str):
                reason = "no message content"
                break
            return content
        _log.warning("llm_no_answer", reason=reason, attempts=attempt + 1, model=s.model)
        return None


def _system_prompt(base: RuleAnalyzer) -> str:
    lines = []
    for spec in base.pack.topics:
        objects = f" (sub-topics: {', '.join(f'{spec.id}:{o}' for o in spec.objects)})" if spec.objects else ""
        lines.append(f"- {spec.id}: {spec.name}{objects}")
    topics = "\n".join(lines)
    return (
        "You read one statement by a political actor and report the stances it takes, as JSON only:\n"
        '{"claims": [{"topic": <topic id>, "polarity": "pro"|"contra", "intensity": <-10..10>, '
        '"modality": "asserted"|"hedged"|"conditional", "confidence": <0..1>, "cues": [<words>], '
        '"sentence": <the sentence making the claim>}]}\n'
        "pro affirms or supports the topic's proposition (sanctions stay, talks happen, weapons are sent), "
        "contra denies or opposes it. Intensity is a conflict-cooperation scale: -10 most hostile, +10 most "
        "cooperative. Report only the speaker's own stances, not what others said; if the statement takes no "
        'stance on these topics, answer {"claims": []}. Never guess.\n'
        f"Topics:\n{topics}"
    )


__all__ = ["PROMPT_VERSION", "JudgedClaim", "Judgement", "LLMAnalyzer", "LLMSettings"]
