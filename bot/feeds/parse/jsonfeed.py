"""JSON Feed 1.0/1.1 (https://jsonfeed.org/version/1.1); feedparser 6 cannot read it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from bot.errors import ParseError
from bot.feeds.identity import PLACEHOLDER_BASE, is_relative, with_relative_ref
from bot.types import ParsedFeed, RawItem

__all__ = ["parse_json_feed"]

_JSON_VERSIONS = {
    "https://jsonfeed.org/version/1": "json10",
    "https://jsonfeed.org/version/1.1": "json11",
}


def parse_json_feed(body: bytes, url: str | None = None) -> ParsedFeed:
    """Read a JSON Feed 1.0/1.1 document (https://jsonfeed.org/version/1.1)."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ParseError(f"not a JSON feed: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise ParseError("not a JSON feed: no items list")
    version = _JSON_VERSIONS.get(str(doc.get("version", "")).rstrip("/"), "json")
    base = url or _str(doc.get("feed_url")) or ""
    items = tuple(_json_item(item, base) for item in doc["items"] if isinstance(item, dict))
    return ParsedFeed(
        version=version,
        title=_str(doc.get("title")),
        link=_resolve(base, _str(doc.get("home_page_url"))),
        lang=_str(doc.get("language")),
        items=items,
    )


def _json_item(item: Mapping[str, Any], base: str) -> RawItem:
    guid = item.get("id")
    # the spec allows numbers here; ids are compared as text
    guid_text = str(guid) if isinstance(guid, str | int) and not isinstance(guid, bool) else None
    link = _str(item.get("url")) or _str(item.get("external_url"))
    raw = RawItem(
        title=_str(item.get("title")),
        link=_resolve(base, link),
        guid=guid_text,
        published=_iso_date(item.get("date_published")),
        updated=_iso_date(item.get("date_modified")),
        summary=_str(item.get("summary"))
        or _str(item.get("content_html"))
        or _str(item.get("content_text")),
        author=_json_author(item),
    )
    # ids are never resolved, so only an id-less item's link can be relative
    if link and not (guid_text or "").strip() and is_relative(link):
        return with_relative_ref(raw, _resolve(PLACEHOLDER_BASE, link))
    return raw


def _json_author(item: Mapping[str, Any]) -> str | None:
    authors = item.get("authors")
    candidates = authors if isinstance(authors, list) else [item.get("author")]
    for author in candidates:
        if isinstance(author, dict) and _str(author.get("name")):
            return _str(author.get("name"))
    return None


def _iso_date(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # RFC 3339 requires an offset; a date without one is read as UTC, like feedparser does
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _resolve(base: str, link: str | None) -> str | None:
    if not link:
        return link
    return urljoin(base, link) if base else link
