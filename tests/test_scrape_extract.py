"""Pure extraction and attribution on hand-written fixture pages: no network, no clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.scrape.attribution import Resolved, Resolver
from monitor.scrape.config import Watchlist, load_watchlist
from monitor.scrape.dedupe import statement_id
from monitor.scrape.extract import Article, Block, find_statements, normalise_text, parse_article
from monitor.scrape.fetch import decode_body

FIXTURES = Path(__file__).parent / "fixtures" / "scrape"
WATCHLIST = Path(__file__).parent.parent / "deploy" / "watchlist.example.yaml"


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver(load_watchlist(WATCHLIST))


def page(name: str) -> Article:
    return parse_article(decode_body((FIXTURES / name).read_bytes()), f"https://example.test/{name}")


def attributed(article: Article, resolver: Resolver, **kw: object) -> list[tuple[str, str]]:
    out = []
    for c in find_statements(article, resolver, **kw):  # type: ignore[arg-type]
        if c.resolved is not None:
            out.append((c.resolved.speaker, c.text))
    return out


def paragraph_article(*paragraphs: str) -> Article:
    blocks, pos = [], 0
    for p in paragraphs:
        kind = "quote" if p.startswith(">") else "p"
        text = p.lstrip("> ")
        blocks.append(Block(kind, pos, text))
        pos += len(text) + 1
    return Article("https://example.test/x", None, "\n".join(b.text for b in blocks), tuple(blocks), None)


def test_wire_story_quotes_split_around_peskov_told_reporters(resolver: Resolver) -> None:
    article = page("valdai_wire.html")
    assert article.published_at == datetime(2024, 11, 8, 9, 30, tzinfo=UTC)
    assert "Most read" not in article.text and "Subscribe" not in article.text  # boilerplate dropped
    got = attributed(article, resolver)
    assert got == [
        ("Vladimir Putin", "Moscow was ready to resume dialogue with U.S. President-elect Donald Trump"),
        ("Vladimir Putin", "If someone wants to restore contact, we are not against it. We have never been against it"),
        ("Vladimir Putin", "I am ready to talk to him"),
        ("Vladimir Putin", "and I do not consider it humiliating to pick up the phone."),
        (
            "Vladimir Putin",
            "At one point Western leaders called me almost every week, and then they simply stopped. "
            "If they do not want to talk, that is their choice. We are alive and well, and we are moving forward.",
        ),
        ("Dmitry Peskov", "Moscow remained open to contacts with the incoming administration"),
        (
            "Dmitry Peskov",
            "The president has never said that the goals of the special military operation have changed",
        ),
        ("Dmitry Peskov", "They remain exactly the same."),
        ("Dmitry Peskov", "Putin's congratulatory words to Trump should be treated as an official message"),
        ("Dmitry Peskov", "There are no concrete plans for now."),
        ("Volodymyr Zelensky", "Nothing about Ukraine can be decided without Ukraine"),
        ("Sergei Lavrov", "We will judge the new administration by its deeds, not by its words"),
    ]


def test_candidates_keep_exact_offsets_kind_and_rule(resolver: Resolver) -> None:
    article = page("valdai_wire.html")
    cands = find_statements(article, resolver)
    for c in cands:
        assert article.text[c.offset : c.offset + len(c.text)] == c.text
    by_text = {c.text: c for c in cands}
    split = by_text["They remain exactly the same."]
    assert (split.kind, split.rule, split.speaker_as_written) == ("direct", "continued", "Peskov")
    assert by_text["There are no concrete plans for now."].speaker_as_written == "the Kremlin spokesman"
    assert by_text["Moscow remained open to contacts with the incoming administration"].kind == "indirect"
    # A speaker outside the watchlist is found but not resolved; "he" never jumps back to Putin.
    trump = by_text["I think we'll speak"]
    assert trump.resolved is None and trump.speaker_as_written == "Trump"


def test_attribution_patterns_on_second_outlet(resolver: Resolver) -> None:
    article = page("lavrov_presser.html")
    assert article.published_at == datetime(2024, 11, 12, 13, 5, tzinfo=UTC)  # from JSON-LD, +03:00
    cands = find_statements(article, resolver)
    rules = {c.text[:30]: c.rule for c in cands if c.resolved}
    assert rules["Russia will not accept a cease"] == "indirect-trailing"
    assert rules["A pause would simply be used t"] == "said-who"
    assert rules["any settlement must take into "] == "left"  # according to Lavrov, "..."
    assert rules["The West has once again shown "] == "left"  # a colon after the name
    # "the diplomat said ... she said": both stay with the unnamed diplomat, not Zakharova.
    unresolved = [(c.speaker_as_written, c.text) for c in cands if c.resolved is None]
    assert unresolved == [
        ("the diplomat", "We expected nothing else from Moscow"),
        ("the diplomat", "It is a familiar script"),
    ]


def test_transcript_mode_uses_default_actor_for_titles(resolver: Resolver) -> None:
    article = page("transcript.html")
    got = attributed(article, resolver, default_actor="kremlin", transcript=True)
    assert got == [
        (
            "Vladimir Putin",
            "I do not see anything shameful in making such a call. "
            "If they want to resume contact, we are ready for it.",
        ),
        ("Vladimir Putin", "I have said so many times and I will say it again today."),
        ("Vladimir Putin", "The goals we set at the start of the operation remain unchanged."),
    ]
    # Without the hint, "The President" is ambiguous between actors and is not attributed.
    assert ("Vladimir Putin", "The goals we set at the start of the operation remain unchanged.") not in attributed(
        article, resolver, transcript=True
    )


def test_malformed_and_non_utf8_pages(resolver: Resolver) -> None:
    assert attributed(page("malformed.html"), resolver) == [
        ("Dmitry Peskov", "Talks are possible only if our security interests are taken into account")
    ]
    cp = page("cp1252.html")
    assert attributed(cp, resolver) == [
        ("Maria Zakharova", "These measures will hurt Europe\u2019s own economies far more than ours")
    ]
    empty = parse_article("", "https://example.test/empty")
    assert empty.blocks == () and find_statements(empty, resolver) == []
    junk = parse_article("\x00\x01<<<>>>", "https://example.test/junk")
    assert find_statements(junk, resolver) == []


def test_attribution_precision_and_recall_on_fixtures(resolver: Resolver) -> None:
    """The issue's target: precision >= 0.95 and recall >= 0.85 for watchlist speakers."""
    gold: dict[str, list[list[str]]] = json.loads((FIXTURES / "gold.json").read_text(encoding="utf-8"))
    tp = fp = fn = 0
    for name, expected in gold.items():
        if name.startswith("_"):
            continue
        got = attributed(page(name), resolver)
        want = [tuple(x) for x in expected]
        remaining = list(want)
        for item in got:
            if item in remaining:
                remaining.remove(item)
                tp += 1
            else:
                fp += 1
        fn += len(remaining)
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    print(f"attribution precision={precision:.3f} recall={recall:.3f} (tp={tp} fp={fp} fn={fn})")
    assert precision >= 0.95
    assert recall >= 0.85


@pytest.mark.parametrize(
    ("paragraphs", "expected"),
    [
        (
            ['"We will not back down," said Kremlin spokesman Dmitry Peskov.'],
            [("Dmitry Peskov", "We will not back down")],
        ),
        (
            ["Peskov told reporters: «The door remains open to talks.»"],
            [("Dmitry Peskov", "The door remains open to talks.")],
        ),
        (
            ["Putin's spokesman Dmitry Peskov said: “The sanctions changed nothing for us.”"],
            [("Dmitry Peskov", "The sanctions changed nothing for us.")],
        ),
        (
            ["Lavrov met his Chinese counterpart on Monday.", "“Our positions on this coincide completely,” he said."],
            [("Sergei Lavrov", "Our positions on this coincide completely")],
        ),
        (
            ["“The talks were useful,” Zakharova said.", "“We will continue them next month in Geneva.”"],
            [
                ("Maria Zakharova", "The talks were useful"),
                ("Maria Zakharova", "We will continue them next month in Geneva."),
            ],
        ),
        (["The weather was “very cold” on Friday, locals said."], []),
        (["“Nobody here wants another war,” a resident of the town said."], []),
        (["He said nothing at all about the matter today."], []),
    ],
)
def test_attribution_rules(resolver: Resolver, paragraphs: list[str], expected: list[tuple[str, str]]) -> None:
    assert attributed(paragraph_article(*paragraphs), resolver) == expected


def test_resolver_heads_titles_and_ambiguity(resolver: Resolver) -> None:
    assert resolver.resolve("Kremlin spokesman Dmitry Peskov") == Resolved("kremlin", "Dmitry Peskov")
    assert resolver.resolve("Putin’s spokesman") == Resolved("kremlin", "Dmitry Peskov")
    assert resolver.resolve("the Russian president") == Resolved("kremlin", "Vladimir Putin")
    assert resolver.resolve("the president") is None
    assert resolver.resolve("the president", default_actor="white_house") == Resolved("white_house", "Joe Biden")
    assert resolver.resolve("the Kremlin") == Resolved("kremlin", "Kremlin")
    assert resolver.resolve("Donald Trump") is None
    assert resolver.resolve("putin") is None  # names are proper nouns: case matters


def test_keep_unknown_is_configuration() -> None:
    wl = Watchlist.model_validate({"actors": {"kremlin": {"speakers": [{"name": "Dmitry Peskov"}]}}})
    assert not Resolver(wl).keep_unknown
    assert Resolver(wl.model_copy(update={"keep_unknown": True})).keep_unknown


def test_normalised_text_and_deterministic_ids() -> None:
    a = "“The president has never said that the goals have changed,” "
    b = '"The President has never said that the goals have changed"'
    assert normalise_text(a) == normalise_text(b)
    t = datetime(2024, 11, 8, 9, 30, tzinfo=UTC)
    assert statement_id("kremlin", a, t, 7) == statement_id("kremlin", b, t.replace(hour=14), 7)
    assert statement_id("kremlin", a, t, 7) != statement_id("white_house", a, t, 7)
    assert statement_id("kremlin", a, t, 7) != statement_id("kremlin", a, t.replace(year=2025), 7)
