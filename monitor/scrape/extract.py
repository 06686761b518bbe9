"""From an article page to attributed statement candidates. Pure: no I/O, no clock.

Two steps:

1. :func:`parse_article` -- trafilatura finds the main text (paragraphs, headings and
   block quotes, boilerplate dropped); the publication time comes from the feed entry
   when given, else the page's meta tags / JSON-LD / ``<time>``, else trafilatura's date.
2. :func:`find_statements` -- quotes and indirect speech, each attributed with the
   patterns newsrooms use (see ``docs/scraping.md``), resolved against the watchlist.

Offsets are character offsets into :attr:`Article.text`, the extracted main text
(blocks joined by newlines), so ``article.text[c.offset:c.offset + len(c.text)] == c.text``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import dateparser  # type: ignore[import-untyped]
import trafilatura
from lxml import etree  # type: ignore[import-untyped]
from lxml import html as lxml_html

from monitor.scrape.attribution import Resolved, Resolver, normalise_chars

BlockKind = Literal["p", "head", "quote"]


@dataclass(frozen=True, slots=True)
class Block:
    """One paragraph, heading or block quote of the main text; ``start`` is its offset in the article."""

    kind: BlockKind
    start: int
    text: str


@dataclass(frozen=True, slots=True)
class Article:
    """The main text of a page, split in blocks, with its publication time when known."""

    url: str
    title: str | None
    text: str
    blocks: tuple[Block, ...]
    published_at: datetime | None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A statement found in an article, before deduplication.

    ``resolved`` is None when the speaker is not on the watchlist (or ambiguous);
    ``rule`` names the attribution pattern that matched, for debugging and tests.
    """

    text: str
    kind: Literal["direct", "indirect"]
    speaker_as_written: str
    resolved: Resolved | None
    offset: int
    rule: str


# -- article ---------------------------------------------------------------------------------------------


def parse_article(html: str, url: str, *, published_hint: datetime | None = None) -> Article:
    """Main text and publication time of an HTML page (any junk in, an empty article out)."""
    blocks: list[Block] = []
    title: str | None = None
    pos = 0
    xml = None
    if html.strip():
        xml = trafilatura.extract(
            html,
            url=url,
            output_format="xml",
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            favor_recall=True,
            deduplicate=False,
        )
    doc_date: str | None = None
    if xml:
        root = etree.fromstring(xml.encode("utf-8"))
        title = root.get("title")
        doc_date = root.get("date")
        main = root.find("main")
        for el in main if main is not None else ():
            for kind, text in _element_blocks(el):
                if not text:
                    continue
                blocks.append(Block(kind, pos, text))
                pos += len(text) + 1
    text = "\n".join(b.text for b in blocks)
    published = published_hint or _meta_published(html) or _parse_time(doc_date)
    return Article(url=url, title=title, text=text, blocks=tuple(blocks), published_at=published)


def _clean(text: str) -> str:
    return re.sub(r"[ \t\r\f\v\u00a0]+", " ", text).strip()


def _element_blocks(el: etree._Element) -> Iterator[tuple[BlockKind, str]]:
    tag = el.tag
    if tag == "quote":
        inner = [_clean("".join(p.itertext())) for p in el] or [_clean("".join(el.itertext()))]
        yield "quote", "\n".join(t for t in inner if t)
    elif tag == "head":
        yield "head", _clean("".join(el.itertext()))
    elif tag == "list":
        for item in el:
            yield "p", _clean("".join(item.itertext()))
    elif tag in ("p", "div", "item"):
        yield "p", _clean("".join(el.itertext()))


_META_KEYS = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "date",
    "dc.date.issued",
    "dc.date",
    "sailthru.date",
    "parsely-pub-date",
)


def _meta_published(html: str) -> datetime | None:
    if not html.strip():
        return None
    try:
        doc = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None
    found: dict[str, str] = {}
    for meta in doc.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        value = meta.get("content")
        if key in _META_KEYS and value and key not in found:
            found[key] = value
    for key in _META_KEYS:
        if key in found and (ts := _parse_time(found[key])):
            return ts
    for script in doc.iter("script"):
        is_jsonld = (script.get("type") or "").lower() == "application/ld+json"
        if is_jsonld and script.text and (ts := _jsonld_published(script.text)):
            return ts
    for el in doc.iter("time"):
        if (value := el.get("datetime")) and (ts := _parse_time(value)):
            return ts
    return None


def _jsonld_published(raw: str) -> datetime | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            value = item.get("datePublished")
            if isinstance(value, str) and (ts := _parse_time(value)):
                return ts
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
    return None


def _parse_time(value: str | None) -> datetime | None:
    """ISO 8601 first (fast, exact), then dateparser for the free forms; naive means UTC."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = dateparser.parse(
            value,
            languages=["en"],
            settings={"RETURN_AS_TIMEZONE_AWARE": False, "PREFER_DAY_OF_MONTH": "first"},
        )
        if parsed is None:
            return None
        ts = parsed
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


# -- patterns ---------------------------------------------------------------------------------------------

_OPEN_CLOSE = {"“": "”", '"': '"', "«": "»"}
_CLOSERS = set(_OPEN_CLOSE.values())
_TITLE_WORDS = (
    "spokesman|spokeswoman|spokesperson|president|vice|minister|prime|deputy|foreign|secretary|general|"
    "press|chief|adviser|advisor|aide|official|ambassador|envoy|leader|head|chancellor|commissioner|"
    "representative|senior|top|former|presidential|state|defence|defense|policy|affairs|national|security|"
    "chairman|chair|ministry|office|government|director|diplomat|negotiator|assistant|counsellor|"
    "counselor|lawmaker|senator|governor|mayor|commander|ministry's|president's|kremlin|white|house|"
    "administration|spokesperson's|counterpart|diplomatic|military|intelligence|party|parliamentary"
)
_TOKEN = rf"(?:[A-Z][\w'’.\-]*|(?:{_TITLE_WORDS})(?:'s|’s)?)"
_WHO = rf"(?<![\w'’])(?:(?:[Tt]he|[Aa]n?|[Hh]is|[Hh]er)\s+)?{_TOKEN}(?:\s+(?:of\s+(?:the\s+)?)?{_TOKEN}){{0,7}}"
_PRONOUNS = {"he", "she"}
_WHO_OR_PRON = rf"(?<![\w'’])(?:[Hh]e|[Ss]he|{_WHO})"
_TIME = (
    r"(?:(?:on|late|early|last|this)\s+)?(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|"
    r"yesterday|today|week|month)(?:\s+(?:morning|afternoon|evening|night))?"
)
_ADV = r"(?:also|later|then|again|previously|earlier|separately|further|repeatedly|once\s+again|" + _TIME + r")"
_SAY = (
    r"(?:said|says|added|adds|stressed|noted|stated|declared|warned|insisted|argued|claimed|explained|"
    r"continued|wrote|writes|replied|answered|remarked|emphasi[sz]ed|underlined|underscored|recalled|"
    r"admitted|acknowledged|complained|suggested|confirmed|announced|predicted|vowed|promised|urged|"
    r"cautioned|observed|commented|asserted|maintained|contended|retorted|countered|concluded|"
    r"reiterated|repeated|pointed\s+out|went\s+on|told\s+(?:[\w’'.\-]+\s+){0,4}?[\w’'.\-]+)"
)
_PARTICIPLE = (
    r"(?:saying|adding|noting|stressing|insisting|warning|declaring|explaining|arguing|recalling|"
    r"emphasi[sz]ing|telling\s+(?:[\w’'.\-]+\s+){0,3}?[\w’'.\-]+)"
)

_RIGHT_WHO_SAY = re.compile(rf"^\s*,?\s*(?P<who>{_WHO_OR_PRON})\s+(?:{_ADV}\s+)?{_SAY}\b")
_RIGHT_SAY_WHO = re.compile(
    rf"^\s*,?\s*(?:said|says|added|adds|continued|asked|wrote|explained|warned|insisted)\s+(?P<who>{_WHO})"
)
_RIGHT_ACCORDING = re.compile(rf"^\s*,?\s*according\s+to\s+(?P<who>{_WHO})")
_LEFT_WHO_SAY = re.compile(rf"(?P<who>{_WHO_OR_PRON})\s+(?:{_ADV}\s+)?{_SAY}\b[^,:;“”\"«»]{{0,80}}?\s*[,:]\s*$")
_LEFT_ACCORDING = re.compile(rf"(?:^|[,;]\s*)[Aa]ccording\s+to\s+(?P<who>{_WHO})\s*[,:]\s*$")
_LEFT_COLON = re.compile(rf"^(?P<who>{_WHO})\s*:\s*$")
_LEFT_PARTICIPLE = re.compile(rf",\s*(?:{_ADV}\s+)?{_PARTICIPLE}\s*[,:]?\s*$")
_LEAD_CLAUSE = re.compile(
    r"^(?:(?:However|But|And|Meanwhile|Separately|Earlier|Later|Still|Yet|Instead|Also|Asked\s+[^,]{1,120}|"
    r"Speaking\s+[^,]{1,120}|Commenting\s+[^,]{1,120}|Replying\s+[^,]{1,160}|Responding\s+[^,]{1,160}|"
    r"Answering\s+[^,]{1,160}|Referring\s+[^,]{1,120}|In\s+[^,]{1,100}|On\s+[^,]{1,100}|At\s+[^,]{1,100}|"
    r"During\s+[^,]{1,100}|Over\s+[^,]{1,100}|While\s+[^,]{1,120}|When\s+[^,]{1,120}|"
    r"Despite\s+[^,]{1,100}|Following\s+[^,]{1,100}|As\s+[^,]{1,100}|After\s+[^,]{1,100}|Before\s+[^,]{1,100}|Earlier\s+[^,]{1,80})\s*,\s*)+"
)
_INDIRECT_VERBS = (
    r"(?:said|says|added|stressed|noted|stated|warned|insisted|argued|claimed|explained|declared|"
    r"confirmed|announced|acknowledged|admitted|emphasi[sz]ed|reiterated|maintained|suggested|predicted|"
    r"told\s+(?:[\w’'.\-]+\s+){0,4}?[\w’'.\-]+(?=\s+that\b))"
)
_INDIRECT_LEAD = re.compile(
    rf"^(?P<who>{_WHO_OR_PRON})\s+(?:{_ADV}\s+)?{_INDIRECT_VERBS}(?:\s+{_TIME})?"
    rf"(?:\s+(?:in|at|during)\s+[^,“\"]{{1,60}}?(?=\s+that\b))?(?:\s+that)?\s+(?P<content>\S.*?)\s*[.!?]?$"
)
_INDIRECT_TRAIL = re.compile(
    rf"^(?P<content>\S.*?),\s*(?:(?P<who>{_WHO_OR_PRON})\s+(?:{_ADV}\s+)?{_INDIRECT_VERBS}|"
    rf"(?:said|added)\s+(?P<who2>{_WHO})|according\s+to\s+(?P<who3>{_WHO}))"
    rf"(?:\s+{_TIME})?(?:\s+(?:in|at|on|during)\s+[^,“\"]{{1,60}})?\s*[.!?]$"
)
_TRANSCRIPT_LINE = re.compile(r"^(?P<who>[A-Z][^:\n“\"]{1,80}?)\s*:\s+(?P<text>\S.*)$", re.DOTALL)
_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "st",
    "gen",
    "sen",
    "rep",
    "gov",
    "lt",
    "col",
    "jr",
    "sr",
    "no",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "prof",
    "vs",
    "approx",
    "etc",
}
_NOT_CONTENT_START = re.compile(
    r"^(?:in|on|at|to|of|for|with|by|from|about|against|so|it\b(?!\s+(?:is|was|would|will)))\b"
)


@dataclass(frozen=True, slots=True)
class _Quote:
    open: int  # index of the opening mark in the block
    close: int  # index of the closing mark (len(block) when unclosed)
    full: bool  # a quote of its own, not a fragment inside reported speech


@dataclass(slots=True)
class _Speaker:
    as_written: str
    resolved: Resolved | None


@dataclass(slots=True)
class _Context:
    resolver: Resolver
    default_actor: str | None
    last_speaker: _Speaker | None = None
    prev_subject: _Speaker | None = None
    out: list[Candidate] = field(default_factory=list)


# -- statements -------------------------------------------------------------------------------------------


def find_statements(
    article: Article, resolver: Resolver, *, default_actor: str | None = None, transcript: bool = False
) -> list[Candidate]:
    """All quotes and reported statements of ``article`` with their attributed speaker.

    Candidates whose speaker is not on the watchlist are kept with ``resolved=None``;
    the caller decides whether to drop them or file them under ``unknown``.
    """
    ctx = _Context(resolver=resolver, default_actor=default_actor)
    prev_block: Block | None = None
    prev_block_last_quote_attr: _Speaker | None = None
    transcript_speaker: _Speaker | None = None
    for block in article.blocks:
        if block.kind == "head":
            prev_block, prev_block_last_quote_attr = block, None
            continue
        if transcript and block.kind == "p":
            m = _TRANSCRIPT_LINE.match(block.text)
            if m:
                transcript_speaker = _speaker(ctx, m.group("who"))
                if transcript_speaker is None:
                    transcript_speaker = _Speaker(m.group("who").strip(), None)
                _emit(ctx, block, m.start("text"), m.end("text"), transcript_speaker, "direct", "transcript")
                prev_block = block
                continue
            if transcript_speaker is not None and not any(c in block.text for c in _OPEN_CLOSE):
                _emit(ctx, block, 0, len(block.text), transcript_speaker, "direct", "transcript-continued")
                prev_block = block
                continue
        if block.kind == "quote":
            prev_block_last_quote_attr = _block_quote(ctx, block, prev_block)
            prev_block = block
            continue
        prev_block_last_quote_attr = _paragraph(ctx, block, prev_block_last_quote_attr)
        prev_block = block
    return ctx.out


def _block_quote(ctx: _Context, block: Block, prev: Block | None) -> _Speaker | None:
    """A block quote is attributed by the end of the paragraph before it ("Putin said:")."""
    if prev is None or prev.kind != "p":
        return None
    sentences = _sentences(prev.text, _quotes(prev.text))
    if not sentences:
        return None
    s0, s1 = sentences[-1]
    tail = prev.text[s0:s1].strip()
    spk = _left_attribution(ctx, tail)
    if spk is None:
        return None
    start, end = 0, len(block.text)
    # Some sites keep the marks inside the block quote.
    if block.text[:1] in _OPEN_CLOSE and block.text[-1:] in _CLOSERS:
        start, end = 1, end - 1
    _emit(ctx, block, start, end, spk, "direct", "blockquote")
    return spk


def _paragraph(ctx: _Context, block: Block, carried: _Speaker | None) -> _Speaker | None:
    text = block.text
    quotes = _quotes(text)
    last_attr: _Speaker | None = None
    last_quote_end = -1
    for s0, s1 in _sentences(text, quotes):
        in_sentence = [q for q in quotes if s0 <= q.open < s1]
        full = [q for q in in_sentence if q.full]
        if not full:
            _indirect(ctx, block, s0, s1)
            ctx.prev_subject = _subject(ctx, text[s0:s1]) or ctx.prev_subject
            continue
        sentence_subject = _subject(ctx, text[s0:s1])
        for i, q in enumerate(full):
            left_from = max(s0, full[i - 1].close + 1) if i else s0
            right_to = full[i + 1].open if i + 1 < len(full) else s1
            left = text[left_from : q.open]
            right = text[min(q.close + 1, len(text)) : right_to]
            spk, rule = _attribute(ctx, left, right, text[s0 : q.open])
            between = text[last_quote_end : q.open] if last_quote_end >= 0 else None
            # "“A,” Peskov told reporters. “B.”" -- the next quote continues the speaker.
            continues = between is not None and (not between.strip(" ,.;") or _only_attribution_between(between))
            if spk is None and i == 0 and last_attr is not None and continues:
                spk, rule = last_attr, "continued"
            if spk is None and i > 0 and last_attr is not None:
                spk, rule = last_attr, "split"
            if spk is None and carried is not None and q.open == 0 and last_quote_end < 0:
                # A paragraph opening with an unattributed quote continues the previous paragraph's speaker.
                spk, rule = carried, "next-paragraph"
            last_quote_end = q.close + 1
            if spk is None:
                last_attr = None
                continue
            _emit(ctx, block, q.open + 1, q.close, spk, "direct", rule)
            last_attr = spk
            ctx.last_speaker = spk
        ctx.prev_subject = sentence_subject or last_attr or ctx.prev_subject
    if last_attr is None or not quotes[-1].full:
        return None
    # The paragraph ends with the attributed quote, or with its attribution ("..., Zakharova said.").
    tail = text[quotes[-1].close + 1 :]
    return last_attr if not tail.strip(" .") or _only_attribution_between(tail) else None


def _only_attribution_between(between: str) -> bool:
    """True when the text between two quotes only attributes the first ("Peskov told reporters.")."""
    return (
        bool(_RIGHT_WHO_SAY.match(between) or _RIGHT_SAY_WHO.match(between))
        and between.count(".") <= 1
        and (len(between) < 80)
    )


def _attribute(ctx: _Context, left: str, right: str, sentence_prefix: str) -> tuple[_Speaker | None, str]:
    for rule, rx in (
        ("who-said", _RIGHT_WHO_SAY),
        ("said-who", _RIGHT_SAY_WHO),
        ("according", _RIGHT_ACCORDING),
    ):
        m = rx.match(right)
        if m and (spk := _speaker(ctx, m.group("who"))) is not None:
            return spk, rule
    spk = _left_attribution(ctx, left.strip(), sentence_prefix)
    if spk is not None:
        return spk, "left"
    return None, ""


def _left_attribution(ctx: _Context, left: str, sentence_prefix: str | None = None) -> _Speaker | None:
    if not left:
        return None
    m = _LEFT_COLON.match(left)
    if m:
        spk = _speaker(ctx, m.group("who"))
        if spk is not None and (spk.resolved is not None or len(m.group("who").split()) >= 2):
            return spk
    m = _LEFT_ACCORDING.search(left)
    if m:
        return _speaker(ctx, m.group("who"))
    m = _LEFT_WHO_SAY.search(left)
    if m:
        return _speaker(ctx, m.group("who"))
    if _LEFT_PARTICIPLE.search(left):
        return _subject(ctx, sentence_prefix if sentence_prefix is not None else left)
    return None


def _speaker(ctx: _Context, who: str) -> _Speaker | None:
    """A speaker phrase as written to a speaker; pronouns refer to the last named speaker."""
    who = who.strip().rstrip(",.")
    if who.lower() in _PRONOUNS:
        return ctx.prev_subject or ctx.last_speaker
    resolved = ctx.resolver.resolve(who, ctx.default_actor)
    if resolved is not None:
        return _Speaker(who, resolved)
    words = who.split()
    # Someone we do not watch: keep them as the last speaker so "he said" is not misattributed.
    if any(w[:1].isupper() for w in words[1:] or words) and who.lower() not in {"the", "a", "an"}:
        return _Speaker(who, None)
    if any(w.lower().rstrip("'s’") in _TITLE_WORDS.split("|") for w in words):
        return _Speaker(who, None)
    return None


def _subject(ctx: _Context, sentence: str) -> _Speaker | None:
    """The grammatical subject of a sentence when it is a person ("However, he also said ..." -> he)."""
    rest = _LEAD_CLAUSE.sub("", sentence.strip())
    m = re.match(
        rf"(?P<who>{_WHO_OR_PRON})\s+(?:{_ADV}\s+)?(?:{_SAY}|[a-z]{{2,}})\b",
        rest,
    )
    if not m:
        return None
    who = m.group("who")
    if who.lower() in _PRONOUNS:
        return ctx.prev_subject or ctx.last_speaker
    resolved = ctx.resolver.resolve(who, ctx.default_actor)
    if resolved is not None:
        return _Speaker(who, resolved)
    words = who.split()
    if len(words) >= 2 and all(w[:1].isupper() for w in words[-2:]):
        return _Speaker(who, None)
    return None


def _indirect(ctx: _Context, block: Block, s0: int, s1: int) -> None:
    sentence = block.text[s0:s1]
    stripped = sentence.rstrip()
    lead = _LEAD_CLAUSE.match(stripped)
    body_start = lead.end() if lead else 0
    body = stripped[body_start:]
    m = _INDIRECT_LEAD.match(body)
    who: str | None = None
    if m:
        who, c0, c1 = m.group("who"), m.start("content"), m.end("content")
        rule = "indirect"
    else:
        m = _INDIRECT_TRAIL.match(stripped)
        if not m:
            return
        who = m.group("who") or m.group("who2") or m.group("who3")
        c0, c1, body_start = m.start("content"), m.end("content"), 0
        rule = "indirect-trailing"
    content = body[c0:c1] if rule == "indirect" else stripped[c0:c1]
    # "X says A — but B, his spokesman clarified": the statement is A.
    cut = re.search(r"\s+[—–]\s+(?:but|however|and|while)\b|,\s+(?:while|whereas|but)\s|;\s", content)
    if cut:
        content = content[: cut.start()]
    if len(content.split()) < 4 or _NOT_CONTENT_START.match(content):
        return
    spk = _speaker(ctx, who) if who else None
    if spk is None:
        return
    start = s0 + body_start + c0
    _emit(ctx, block, start, start + len(content), spk, "indirect", rule)
    ctx.last_speaker = spk


def _emit(
    ctx: _Context,
    block: Block,
    start: int,
    end: int,
    spk: _Speaker,
    kind: Literal["direct", "indirect"],
    rule: str,
) -> None:
    raw = block.text[start:end]
    # Trailing comma belongs to the attribution ("“..., ” he said"), not to the statement.
    lead = len(raw) - len(raw.lstrip())
    text = raw.strip().rstrip(",").rstrip()
    if not text:
        return
    ctx.out.append(
        Candidate(
            text=text,
            kind=kind,
            speaker_as_written=spk.as_written,
            resolved=spk.resolved,
            offset=block.start + start + lead,
            rule=rule,
        )
    )


def _quotes(text: str) -> list[_Quote]:
    """Quote spans of one paragraph; a fragment ("its “readiness and openness” to") is not a full quote."""
    out: list[_Quote] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        closer = _OPEN_CLOSE.get(ch)
        if closer is None:
            i += 1
            continue
        j = text.find(closer, i + 1)
        if ch == '"' and j < 0:
            i += 1
            continue
        close = j if j >= 0 else n
        before = text[:i].rstrip()
        full = not before or before[-1] in ",:;.!?—–-(" or before[-1] in _CLOSERS
        inner = text[i + 1 : close].strip()
        if inner and full and not (inner[:1].isupper() or before.endswith((",", "—", "–"))):
            full = False
        if inner:
            out.append(_Quote(i, close, full))
        i = close + 1
    return out


def _sentences(text: str, quotes: Sequence[_Quote]) -> list[tuple[int, int]]:
    """Sentence spans; a full stop inside a quote only ends the sentence at the closing mark."""
    inside = [False] * (len(text) + 1)
    for q in quotes:
        for k in range(q.open + 1, min(q.close, len(text))):
            inside[k] = True
    spans: list[tuple[int, int]] = []
    start = 0
    for m in re.finditer(r"[.!?][”\"»’)]*\s+(?=[“\"«A-Z])", text):
        end = m.start()
        if inside[end]:
            # The end of a quote ends the sentence only when the closing mark follows the stop.
            closing = text[end + 1 : m.end()].strip()
            if not closing or closing[0] not in _CLOSERS:
                continue
        word = re.search(r"([\w.]+)$", text[start : end + 0])
        token = word.group(1).lower() if word else ""
        if token in _ABBREVIATIONS or re.fullmatch(r"(?:[a-z]\.)*[a-z]", token):
            continue
        spans.append((start, m.end()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def normalise_text(text: str) -> str:
    """Text for comparing quotes across outlets: case, quote marks, dashes and punctuation ignored."""
    t = normalise_chars(text).casefold()
    t = re.sub(r"[—–‒―-]", " ", t)
    t = re.sub(r"[^\w\s]", "", t)
    return re.sub(r"\s+", " ", t).strip()
