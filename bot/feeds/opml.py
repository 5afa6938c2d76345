"""OPML, the feed-list format every reader imports and exports (pure: bytes in, bytes out)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from bot.errors import ParseError


@dataclass(frozen=True, slots=True)
class OutlineFeed:
    url: str
    title: str | None = None


def read_opml(data: bytes) -> list[OutlineFeed]:
    """Every `<outline xmlUrl=...>`, nested folders included, in document order, once each."""
    if b"<!ENTITY" in data or b"<!DOCTYPE" in data:
        raise ParseError("OPML with a DOCTYPE is refused (entity expansion is unsafe)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise ParseError(f"not an OPML file: {e}") from None
    if root.tag.lower() != "opml":
        raise ParseError(f"not an OPML file: the root element is <{root.tag}>")
    feeds: dict[str, OutlineFeed] = {}
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if url and url not in feeds:
            title = outline.get("title") or outline.get("text")
            feeds[url] = OutlineFeed(url, title.strip() if title else None)
    return list(feeds.values())


def write_opml(feeds: Iterable[OutlineFeed], title: str = "Skywatch feeds") -> bytes:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(root, "body")
    for feed in feeds:
        label = feed.title or feed.url
        ET.SubElement(body, "outline", type="rss", text=label, title=label, xmlUrl=feed.url)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"
