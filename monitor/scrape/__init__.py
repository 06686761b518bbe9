"""Scrapers: feeds, article pages and statement files to attributed statement events.

``config`` (sources, watchlist, settings) -> ``fetch`` (polite HTTP) -> ``extract``
(pure: main text, quotes, attribution) -> ``dedupe`` (ids, scrape state) ->
``service`` (the loop that publishes to the event log). See ``docs/scraping.md``.
"""
