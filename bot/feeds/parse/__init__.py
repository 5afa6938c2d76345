"""The parse stage: feed bytes (+ HTTP headers) in, a `ParsedFeed` out.

Owns format detection (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed 1.0/1.1),
the choice between the fast path and feedparser, and the mapping of either
onto `RawItem`. It never sees a URL it could fetch: `url` only serves as the
base for relative links, and feedparser gets a `BytesIO`, because given a
string it would fetch URLs and open local files (RELIABILITY.md, F1-F3).

Which parser runs, one module each:

    sniff.py      JSON, an HTML page ("not a feed", with the feeds it
                  advertises), or XML; the headers feedparser is given
    jsonfeed.py   JSON Feed -> json (feedparser 6 cannot read it)
    fast.py       XML -> lxml, strict, mirroring feedparser's rules for
                  title/link/id/dates (items.py reads an item; rules.py,
                  shape.py, values.py, urls.py, dates.py; digests.py for
                  `seen`); None when the document holds anything it does
                  not mirror exactly
    reference.py  -> feedparser (strict SAX, then its loose parser on breakage)

The fast path is only an optimisation: on any doubt it steps aside, so the
items are always the ones feedparser would give (tests/feeds/test_parse.py
compares both on every fixture and every real-world feed).
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.errors import NotAFeedError, ParseError
from bot.feeds.discover import find_feed_links
from bot.feeds.parse.fast import parse_fast
from bot.feeds.parse.jsonfeed import parse_json_feed
from bot.feeds.parse.reference import parse_with_feedparser, struct_to_utc
from bot.feeds.parse.rules import MIRRORED_FEEDPARSER
from bot.feeds.parse.sniff import HTML_START, content_location, looks_like_json
from bot.feeds.seen import SeenItems
from bot.types import ParsedFeed

__all__ = [
    "MIRRORED_FEEDPARSER",
    "content_location",
    "parse_fast",
    "parse_feed",
    "parse_json_feed",
    "parse_quick",
    "parse_with_feedparser",
    "struct_to_utc",
]


def parse_feed(
    body: bytes,
    headers: Mapping[str, str] | None = None,
    url: str | None = None,
    *,
    seen: SeenItems | None = None,
) -> ParsedFeed:
    """Parse one feed document.

    `headers` are the response headers (any case); content-type decides the
    charset as feedparser would. `url` is the base for relative links.

    Raises NotAFeedError for an HTML page (with the feeds it advertises) and
    ParseError for an empty body or a document with nothing recoverable.

    `seen`: the fast path skips the items it holds (`parse_fast`); feedparser
    and JSON Feed return every item, with no digests.
    """
    quick = parse_quick(body, headers, url, seen=seen)
    return quick if quick is not None else parse_with_feedparser(body, headers, url)


def parse_quick(
    body: bytes,
    headers: Mapping[str, str] | None = None,
    url: str | None = None,
    *,
    seen: SeenItems | None = None,
) -> ParsedFeed | None:
    """Everything `parse_feed` can do without feedparser; None when only feedparser can.

    Cheap enough to run on the event loop (see parse_pool.py); raises like `parse_feed`.
    """
    if not body or body.isspace():
        raise ParseError("empty document")
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if looks_like_json(body, lowered):
        return parse_json_feed(body, url)
    if HTML_START.match(body, 0, 4096):
        raise NotAFeedError("an HTML page, not a feed", find_feed_links(body, url or ""))
    return parse_fast(body, lowered, url, seen=seen)
