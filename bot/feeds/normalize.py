"""The normalize stage: one `RawItem` in, one `Item` (or None) out. Pure.

Owns what "the same item" means inside a feed and how its text looks to the
matcher:

- text: HTML reduced to plain text (tags stripped, block elements become line
  breaks, scripts and styles dropped, entities decoded), NFKC, whitespace folded;
- `canonical_url`: one spelling per link (see TRACKING_PARAMS);
- time: UTC, the fetch time when missing, never in the future;
- identity: `key` = guid, else canonical link, else a content hash; a guid
  or link the document writes as a relative reference is keyed as written, so
  the key survives the feed moving to another address (identity.py); and
  `content_hash` over the normalized title and summary only, so a new date or
  a reordered feed never looks like an edit (reader `_hash_utils.py`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser

from bot.feeds.identity import ParsedItem
from bot.feeds.links import PLAIN_URL, TRACKING_PARAMS, canonical_url, clean_query
from bot.types import Item, RawItem, slot_setters

__all__ = [
    "SUMMARY_MAX",
    "TRACKING_PARAMS",
    "canonical_url",
    "content_hash",
    "html_to_text",
    "normalize_item",
    "normalize_text",
]

#: summaries are cut here (at a word boundary): enough to match and to show a snippet
SUMMARY_MAX = 1000
TITLE_MAX = 500


# Block-level elements end a line; everything else is inline.
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    }
)
# Their content is never text a reader sees.
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title", "svg"})
# Zero-width characters and soft hyphens split words without showing anything.
_INVISIBLE_CHARS = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
# Control characters but the ones str.split folds as whitespace: ESC and its kin would
# drive the terminal of whoever reads the console alerts or `feeds list`, and XML (OPML
# export) cannot hold them. JSON Feed and feedparser's recovery let them through.
_CONTROL_CHARS = "".join(
    c for c in map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]) if not c.isspace()
)
_INVISIBLE = dict.fromkeys(map(ord, _INVISIBLE_CHARS + _CONTROL_CHARS))
_INVISIBLE_RE = re.compile(f"[{re.escape(_INVISIBLE_CHARS + _CONTROL_CHARS)}]")
_ASCII_CONTROL = "".join(c for c in _CONTROL_CHARS if c.isascii()).encode()
#: the ASCII characters str.split takes for whitespace, but for the space
_ASCII_SPACES_BUT_SPACE = "".join(
    c for c in map(chr, range(128)) if c.isspace() and c != " "
).encode()
#: maps those to the space: ASCII bytes it leaves unchanged hold no other whitespace
_SPACES_TO_SPACE = bytes.maketrans(_ASCII_SPACES_BUT_SPACE, b" " * len(_ASCII_SPACES_BUT_SPACE))


def normalize_item(
    raw: RawItem, *, feed_url: str, now: datetime, lang: str | None = None
) -> Item | None:
    """Normalize one parsed entry; None when it has neither title, link nor summary."""
    # an Item is always true: `or` takes the general path only where the plain one refuses
    return _plain_item(raw, now, lang) or _general_item(raw, feed_url, now, lang)


def _general_item(raw: RawItem, feed_url: str, now: datetime, lang: str | None) -> Item | None:
    """normalize_item for any entry: the rules, step by step."""
    title = _truncate(normalize_text(raw.title), TITLE_MAX)
    summary = _truncate(normalize_text(raw.summary, keep_lines=True), SUMMARY_MAX)
    link = canonical_url(raw.link, feed_url) if raw.link else None
    if not (title or link or summary):
        return None
    digest = content_hash(title, summary)
    guid = (raw.guid or "").strip()
    return Item(
        key=_written_key(raw, from_link=not guid) or guid or link or f"sha256:{digest}",
        title=title,
        link=link,
        summary=summary,
        published_at=_published_at(raw, now),
        content_hash=digest,
        lang=lang,
    )


def _plain_item(raw: RawItem, now: datetime, lang: str | None) -> Item | None:
    """What `_general_item` makes of the commonest entry, at half the cost; None when
    `raw` is not of that shape (then nothing is decided yet).

    The shape: ASCII title and summary, already folded (no whitespace but single
    inner spaces), no entities, no markup but one `<p>` around the whole summary,
    nothing to truncate, no control characters, a link `canonical_url` keeps as it is
    (or none), and no relative identity (a plain `RawItem`). Then each text is its own normalized
    form, and `content_hash` hashes the very string the checks look at.
    """
    if type(raw) is not RawItem:  # a ParsedItem's key may be its relative reference
        return None
    title = raw.title or ""
    summary = raw.summary or ""
    if summary.startswith("<p>") and summary.endswith("</p>"):
        # one paragraph when no other "<" is found below: _simple_html_to_text's
        # "\n" + inner + "\n", whose line breaks fold away
        summary = summary[3:-4]
    if len(title) > TITLE_MAX or len(summary) > SUMMARY_MAX:
        return None
    text = f"{title}\n{summary}"
    if (
        not text.isascii()
        or "\n" in title
        or "\n" in summary
        or title.strip() != title
        or summary.strip() != summary
    ):
        return None
    data = text.encode()
    marks = data.translate(_MARKS)
    if _OTHER in marks:  # markup, an entity, whitespace but the space
        return None
    # Two spaces in a row, as the bits of one integer: searching for "  " costs three
    # times as much (a mispredicted branch at every space).
    spaces = int.from_bytes(marks, "little")
    if spaces & (spaces >> 8):
        return None
    link = raw.link or None
    # the pattern holds no whitespace: a link it matches is its stripped self
    if (link is not None and PLAIN_URL.fullmatch(link) is None) or not (title or link or summary):
        return None
    when = raw.published or raw.updated
    if when is None or when.tzinfo is not UTC or now.tzinfo is not UTC:
        when = _published_at(raw, now)
    elif now < when:  # min(when, now), as _published_at has it
        when = now
    digest = hashlib.sha256(data).hexdigest()
    key = (raw.guid or "").strip() or link or f"sha256:{digest}"
    return new_item(key, title, link, summary, when, digest, lang)


_SPACE, _OTHER = 1, 2
_OTHER_SPACES = _ASCII_SPACES_BUT_SPACE.replace(b"\n", b"")  # the line break is the separator
#: what `_plain_item` looks for in a byte: _SPACE, _OTHER ("<", "&", ASCII whitespace
#: but the space and the line break, control characters), else 0
_MARKS = bytes(
    _SPACE if c == 32 else _OTHER if c in b"<&" or c in _OTHER_SPACES + _ASCII_CONTROL else 0
    for c in range(256)
)


def _item_maker() -> Callable[[str, str, str | None, str, datetime, str, str | None], Item]:
    """`Item` with all seven fields, without the frozen dataclass's `__init__`, which
    sets each through `object.__setattr__` (half the cost of an item): the slots are
    set directly. `Item` itself should its fields ever change."""
    setters = slot_setters(Item, _ITEM_FIELDS)
    if setters is None:
        return Item
    new = object.__new__
    key, title, link, summary, published_at, content_hash, lang = setters

    def make(k: str, t: str, li: str | None, s: str, p: datetime, c: str, la: str | None) -> Item:
        item: Item = new(Item)
        key(item, k)
        title(item, t)
        link(item, li)
        summary(item, s)
        published_at(item, p)
        content_hash(item, c)
        lang(item, la)
        return item

    return make


_ITEM_FIELDS = ("key", "title", "link", "summary", "published_at", "content_hash", "lang")
#: Item(key, title, link, summary, published_at, content_hash, lang), made faster
new_item = _item_maker()


def _written_key(raw: RawItem, *, from_link: bool) -> str | None:
    """The key of an item whose identity is relative, as the document writes it.

    A relative link drops its fragment and tracking parameters like any link.
    """
    ref = raw.relative_ref if isinstance(raw, ParsedItem) else None
    if not ref or not from_link:
        return ref
    path, _, query = ref.partition("#")[0].partition("?")
    query = clean_query(query)
    return (f"{path}?{query}" if query else path) or None


def content_hash(title: str, summary: str) -> str:
    """sha256 hex of the normalized title and summary; dates and links stay out."""
    return hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()


def _published_at(raw: RawItem, now: datetime) -> datetime:
    now = _as_utc(now)
    when = raw.published or raw.updated
    if when is None:
        return now
    # A date in the future is a wrong clock or a wrong zone; it must not sort above news.
    return min(_as_utc(when), now)


def _as_utc(value: datetime) -> datetime:
    # A naive datetime here was produced as UTC by our parser or by the caller. One
    # in UTC already (most) is returned as is, which astimezone would do too.
    if value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- text ----------------------------------------------------------------------------------


def normalize_text(value: str | None, *, keep_lines: bool = False) -> str:
    """HTML or plain text -> NFKC plain text with folded whitespace.

    With `keep_lines`, paragraph and line breaks survive as single newlines;
    otherwise everything folds onto one line.
    """
    if not value:
        return ""
    text = html_to_text(value)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        if _INVISIBLE_RE.search(text):
            text = text.translate(_INVISIBLE)
    elif not text.isprintable() and _INVISIBLE_RE.search(text):
        # ASCII is NFKC already; of the invisible characters it can hold only controls
        # (isprintable is False for line breaks too: the search tells)
        text = text.translate(_INVISIBLE)
    # Every whitespace run becomes one space, or one line break when it holds any
    # (blank lines go). str.split does that in C; regexes cost more than the rest,
    # even one that only looks for whitespace to fold. Line breaks only at the ends
    # (`<p>…</p>`) leave one line: that is the one-line case.
    stripped = text.strip()
    if keep_lines and "\n" in stripped:
        lines = (" ".join(line.split()) for line in text.split("\n"))
        return "\n".join(line for line in lines if line)
    if stripped.isascii():
        # Already folded when no whitespace but single spaces: bytes.translate and
        # one search tell that in half the time of splitting and joining.
        raw = stripped.encode()
        if raw.translate(_SPACES_TO_SPACE) == raw and b"  " not in raw:
            return stripped
    return " ".join(text.split())


def normalize_title(value: str | None) -> str | None:
    """A feed's own title, as plain text (the parsers decode it), on one line and without
    control characters; None when empty."""
    if not value:
        return None
    if not value.isprintable():  # control characters, or whitespace but the space
        value = value.translate(_INVISIBLE)
    return " ".join(value.split()) or None


def html_to_text(value: str) -> str:
    """Strip tags, drop scripts and styles, decode entities; blocks become newlines."""
    if "<" not in value:
        return unescape(value) if "&" in value else value
    simple = _simple_html_to_text(value)
    if simple is not None:
        return simple
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    return "".join(parser.parts)


# A tag without attributes, as HTMLParser reads one: `<p>`, `</P >`, `<br/>`.
_SIMPLE_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[ \t\n\r\f]*(/?)>")


def _simple_html_to_text(value: str) -> str | None:
    """What `_TextExtractor` makes of a fragment whose only markup is attribute-less
    tags and entities (most summaries: `<p>…</p>`), at a fraction of the cost;
    None for anything else (a stray `<`, attributes, comments, scripts ...)."""
    if value.startswith("<p>") and value.find("<", 3) == len(value) - 4 and value.endswith("</p>"):
        # one paragraph, the commonest summary: what the loop below makes of it
        inner = value[3:-4]
        return "\n" + (unescape(inner) if "&" in inner else inner) + "\n"
    parts: list[str] = []
    pos = 0
    for tag in _SIMPLE_TAG.finditer(value):
        text = value[pos : tag.start()]
        closing, name, self_closing = tag.groups()
        name = name.lower()
        if "<" in text or (closing and self_closing) or name in _SKIP_TAGS:
            return None
        parts.append(unescape(text) if "&" in text else text)
        if name in _BLOCK_TAGS:
            parts.append("\n")
        pos = tag.end()
    rest = value[pos:]
    if "<" in rest:
        return None
    parts.append(unescape(rest) if "&" in rest else rest)
    return "".join(parts)


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _truncate(text: str, limit: int) -> str:
    """Cut at the last word boundary before `limit` and mark the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    boundary = max(cut.rfind(" "), cut.rfind("\n"))
    # Scripts without spaces (Japanese) have no word boundary: cut at the limit.
    if boundary > limit // 2:
        cut = cut[:boundary]
    return cut.rstrip() + "…"


# --- links ---------------------------------------------------------------------------------
