"""feedparser alone: the reference the fast path must match, and the fallback.

It reads what the fast path steps aside from: broken documents (its loose
parser recovers every item it can), DOCTYPEs, unusual shapes. It is handed a
`BytesIO`, never bytes or str: given a string feedparser would fetch URLs and
open local files (RELIABILITY.md, F1-F3).
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser

from bot.errors import NotAFeedError, ParseError
from bot.feeds.discover import find_feed_links
from bot.feeds.identity import PLACEHOLDER_BASE, is_relative, with_relative_ref
from bot.feeds.parse.sniff import describe_problem, feedparser_headers
from bot.types import ParsedFeed, RawItem

__all__ = ["int_or_none", "parse_with_feedparser", "struct_to_utc"]


def parse_with_feedparser(
    body: bytes, headers: Mapping[str, str] | None = None, url: str | None = None
) -> ParsedFeed:
    """Parse with feedparser alone (the reference the fast path must match)."""
    response_headers = feedparser_headers(headers, url)
    # BytesIO, never bytes or str: see the module docstring.
    result = feedparser.parse(io.BytesIO(body), response_headers=response_headers)
    entries = result.get("entries") or []
    version = result.get("version") or ""
    problem = describe_problem(result, response_headers)
    if not entries and not version:
        if b"<html" in body[:65536].lower() or b"<body" in body[:65536].lower():
            raise NotAFeedError("an HTML page, not a feed", find_feed_links(body, url or ""))
        raise ParseError(f"not a feed: {problem or 'no feed elements found'}")
    feed = result.get("feed") or {}
    return ParsedFeed(
        version=version or "unknown",
        title=dict.get(feed, "title"),
        link=dict.get(feed, "link"),
        lang=dict.get(feed, "language"),
        ttl_minutes=int_or_none(dict.get(feed, "ttl")),
        items=_with_written_refs(body, response_headers, entries),
        problem=problem,
    )


def _with_written_refs(
    body: bytes, response_headers: Mapping[str, str], entries: list[dict[str, Any]]
) -> tuple[RawItem, ...]:
    """Items, with the identity each entry's document alone gives it (identity.py).

    feedparser does not say what a resolved id looked like, so when a base URL
    could have made a relative identity absolute, the document is read a
    second time with the placeholder as its base. Only here, on the slow path
    for broken or unusual documents, and only when some identity is relative
    or lies under the base's origin (where a resolved relative one would be).
    """
    raws = [_raw_from_entry(e) for e in entries]
    origin = _origin(response_headers.get("content-location", ""))
    if not any(_could_be_relative(_identity(e), origin) for e in entries):
        return tuple(raws)
    placed = {**response_headers, "content-location": PLACEHOLDER_BASE}
    again = feedparser.parse(io.BytesIO(body), response_headers=placed).get("entries") or []
    if len(again) != len(raws):
        return tuple(raws)
    return tuple(with_relative_ref(r, _identity(e)) for r, e in zip(raws, again, strict=True))


def _origin(base: str) -> str:
    """ "scheme://host[:port]" of the base, or "http" when there is no usable base."""
    try:
        parts = urlsplit(base)
    except ValueError:
        return "http"
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "http"


def _could_be_relative(identity: str, origin: str) -> bool:
    # "tag:..." or "urn:..." ids, and links to other hosts, were never relative
    return bool(identity) and (identity.startswith(origin) or is_relative(identity))


def _identity(entry: dict[str, Any]) -> str:
    """The guid, else the link, as feedparser gives them (normalize keys on the same)."""
    guid = dict.get(entry, "id") or ""
    return str(guid if guid.strip() else dict.get(entry, "link") or "")


def _raw_from_entry(entry: dict[str, Any]) -> RawItem:
    # dict.get, not entry.get: FeedParserDict maps some missing keys onto others
    # (updated -> published) with a DeprecationWarning.
    return RawItem(
        title=dict.get(entry, "title"),
        link=dict.get(entry, "link"),
        guid=dict.get(entry, "id"),
        published=struct_to_utc(dict.get(entry, "published_parsed")),
        updated=struct_to_utc(dict.get(entry, "updated_parsed")),
        summary=dict.get(entry, "summary"),
        author=dict.get(entry, "author"),
    )


def struct_to_utc(value: time.struct_time | None) -> datetime | None:
    """feedparser's `*_parsed` 9-tuples are already UTC."""
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (ValueError, TypeError):
        return None


def int_or_none(value: object) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
