"""Optional claim readers behind the one :class:`~monitor.domain.analysis.Analyzer` seam.

``rules`` (the default, no extra dependencies) is the deterministic rule engine;
``embeddings`` adds paraphrase topic matching with MiniLM (extra ``embeddings``);
``llm`` asks an OpenAI-compatible chat endpoint (extra ``llm``). Build one by name and
hand it to the detector::

    Detector(analyzer=build_analyzer("embeddings", threshold=0.6))

Heavy dependencies are imported only when their backend is built.
"""

from __future__ import annotations

from typing import Any

from monitor.domain.analysis import Analyzer
from monitor.domain.analysis.rules import RuleAnalyzer
from monitor.domain.topics import load_pack

CLASSIFIERS = ("rules", "embeddings", "llm")


def build_analyzer(name: str, *, topic_packs: tuple[str, ...] = (), **options: Any) -> Analyzer:
    """The analyzer called ``name`` (one of :data:`CLASSIFIERS`), configured by ``options``.

    * ``rules``: no options.
    * ``embeddings``: ``threshold`` (cosine, default 0.55), ``encoder`` (an ``Encoder``).
    * ``llm``: ``client`` (an ``httpx.Client``; one is made from the settings if absent),
      ``settings`` (``LLMSettings``), or any ``LLMSettings`` field as a keyword; fields not
      given come from ``MONITOR_LLM_*`` environment variables.

    ``topic_packs`` are extra topic pack files, as in ``EngineConfig.topic_packs``.
    """
    rules = RuleAnalyzer(load_pack(topic_packs))
    if name == "rules":
        if options:
            raise ValueError(f"the rules classifier takes no options, got {sorted(options)}")
        return rules
    if name == "embeddings":
        from monitor.classifiers.embeddings import EmbeddingAnalyzer

        return EmbeddingAnalyzer(rules, **options)
    if name == "llm":
        import httpx

        from monitor.classifiers.llm import LLMAnalyzer, LLMSettings

        client = options.pop("client", None)
        settings = options.pop("settings", None) or LLMSettings(**options)
        if client is None:
            client = httpx.Client(timeout=settings.timeout_s)
        return LLMAnalyzer(client, settings, base=rules)
    raise ValueError(f"unknown classifier {name!r}: choose one of {', '.join(CLASSIFIERS)}")


__all__ = ["CLASSIFIERS", "build_analyzer"]
