"""The fast path: lxml, strict, giving the items feedparser would give.

It mirrors only the handlers that feed `RawItem` (rules.py); any handler it
does not know to be harmless, and any shape where feedparser's order- or
depth-dependent rules could matter (two titles, a nested guid, an item inside
an item ...), makes it give up and let feedparser do the work. Private
feedparser helpers are reused where the exact behaviour matters (date parsing,
URL joining, encoding detection); feedparser is pinned in pyproject.toml.

This module reads the document: encoding, names, bases, where the entries
are; items.py reads each entry, and digests.py says what `seen` digests hash.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from feedparser.urls import _urljoin as _fp_urljoin
from feedparser.urls import make_safe_absolute_uri as _fp_safe_uri
from lxml import etree  # type: ignore[import-untyped]

from bot.feeds.parse.digests import context_hasher, item_spans
from bot.feeds.parse.encoding import convert_to_utf8
from bot.feeds.parse.items import ItemReader
from bot.feeds.parse.reference import int_or_none
from bot.feeds.parse.rules import (
    ATOM_VERSIONS,
    FAST_PATH_ON,
    ITEM,
    MATCH_NS,
    OPAQUE,
    RSS_VERSIONS,
    XML_BASE,
    XML_LANG,
    GiveUp,
    is_container,
    norm_ns,
)
from bot.feeds.parse.shape import only_root_bindings, shape_for
from bot.feeds.parse.sniff import describe_problem, feedparser_headers
from bot.feeds.parse.urls import join_url
from bot.feeds.parse.values import check_content_children, elements, finish
from bot.feeds.seen import SeenItems, item_digest
from bot.types import ParsedFeed, RawItem

__all__ = ["parse_fast"]


def parse_fast(
    body: bytes,
    headers: Mapping[str, str] | None = None,
    url: str | None = None,
    *,
    seen: SeenItems | None = None,
) -> ParsedFeed | None:
    """Parse `body` with lxml the way feedparser would, or return None to defer to it.

    `headers` are response headers (any case). None means "not sure": a broken
    document, an encoding feedparser would not trust, a DOCTYPE, or any element
    whose effect on title/link/id/dates is not mirrored here.

    With `seen` (bot/feeds/seen.py), the result's `digests` hold every item's
    digest in document order and `items` only the items whose digest is not in
    `seen`: the others are not even read. A document where an item's reading
    depends on more than the item, the root and the harmless bindings declared
    below it (shape.py `only_root_bindings`), such as one with xml:base, gets no
    digests: all its items are read.
    """
    if not FAST_PATH_ON:
        return None
    response_headers = feedparser_headers(headers, url)
    result: dict[str, Any] = {}
    data = convert_to_utf8(response_headers, body, result)
    # A DOCTYPE (feedparser rewrites it, and its entities) is left to feedparser;
    # a lower-case "<!doctype" is not XML and fails the strict parse below.
    if not result.get("encoding") or _has_declarations(data):
        return None
    base = _fp_safe_uri(response_headers.get("content-location", "")) or ""
    has_base_attr = _BASE_ATTR.search(data) is not None
    if has_base_attr and not base:
        # feedparser's base stack never restores an empty base: an xml:base leaks past its element
        return None
    try:
        root = etree.fromstring(data, _xml_parser())
        problem = describe_problem(result, response_headers)
        return _FastDoc(root, base, has_base_attr, problem, seen).parse(data)
    except (etree.XMLSyntaxError, GiveUp, ValueError):
        return None


#: an xml:base (or plain base) attribute; XML allows white space around its "="
_BASE_ATTR = re.compile(rb"base[ \t\r\n]*=")


def _has_declarations(data: bytes) -> bool:
    # Either needs a "!": looking for that one byte first costs a tenth of the two searches.
    return b"!" in data and (b"<!DOCTYPE" in data or b"<!ENTITY" in data)


_PARSERS = threading.local()


def _xml_parser() -> etree.XMLParser:
    # No entity resolution, no network, no recovery: recovering is feedparser's job.
    # One parser per thread: lxml parsers are reusable but not thread-safe.
    parser: etree.XMLParser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, recover=False, collect_ids=False
        )
    return parser


class _FastDoc(ItemReader):
    """One document being read by the fast path (raises GiveUp on doubt)."""

    def __init__(
        self,
        root: etree._Element,
        base: str,
        has_base_attr: bool,
        problem: str | None,
        seen: SeenItems | None = None,
    ) -> None:
        self.root = root
        self.seen = seen
        #: with `seen`: every item's digest, in document order (`ParsedFeed.digests`)
        self.digests: list[bytes] | None = None
        self.base = base
        self.has_base_attr = has_base_attr
        self.problem = problem
        self.nsmap: dict[str | None, str] = root.nsmap
        self.shape = shape_for(self.nsmap)
        if self.shape.ambiguous:
            raise GiveUp("one namespace under two prefixes")
        self.prefix_map = self.shape.prefix_map
        self.names = self.shape.names
        self.kinds = self.shape.kinds
        #: False when a declaration below the root could change an element's handler
        #: name (shape.py `only_root_bindings`): then every element's binding is
        #: checked and the whole tree is walked
        self.simple = True
        #: when `simple`: the namespace bindings declared below the root
        self.extra: dict[str, str] | None = None
        self.version = ""
        self.items: list[RawItem] = []
        #: (parent base, xml:base) -> base; most elements repeat their parent's
        self.bases: dict[tuple[str, str], str] = {}

    def parse(self, data: bytes) -> ParsedFeed:
        self.extra = only_root_bindings(self.shape, data)
        self.simple = self.extra is not None
        root_name = self.name(self.root)
        self.version = self._version(root_name)
        info = self.feed_info(root_name)
        if self.simple:
            if self.seen is not None and not self.has_base_attr:
                self.digests = []
            self.find_items(data, info.get("lang"))
        else:
            self.walk(self.root, self.element_base(self.root, self.base))
        return ParsedFeed(
            version=self.version,
            items=tuple(self.items),
            problem=self.problem,
            digests=None if self.digests is None else tuple(self.digests),
            **info,
        )

    # names and bases

    def name(self, el: etree._Element) -> str:
        """feedparser's handler name for `el` (e.g. "dc_date", "title", "jto_thumb")."""
        if not self.simple:
            tag = el.tag
            uri = tag[1 : tag.index("}")] if tag[0] == "{" else None
            if self.nsmap.get(el.prefix) != uri:
                raise GiveUp("namespace declared below the root element")
        # In a simple document a tag determines its prefix (one prefix per namespace).
        found = self.names.get(el.tag)
        if found is None:
            found = self.names[el.tag] = self._compute_name(el)
        return found

    def _compute_name(self, el: etree._Element) -> str:
        qname = etree.QName(el)
        uri, local = qname.namespace or "", qname.localname.lower()
        std = MATCH_NS.get(norm_ns(uri)) if uri else ""
        prefix = std if std is not None else (el.prefix or "")
        prefix = self.prefix_map.get(prefix, prefix) if prefix else ""
        return f"{prefix.lower()}_{local}" if prefix else local

    def find_items(self, data: bytes, lang: str | None) -> None:
        """Find entries with lxml's own tag filter instead of walking every element.

        With `self.digests`, each item's digest is taken first (digests.py),
        and an item `self.seen` holds is not read (see `parse_fast`).
        """
        checked: dict[etree._Element, str] = {}  # parent -> base of its children
        hashers: dict[str, Any] = {}  # base -> the hash of what all its items share
        digests, seen = self.digests, self.seen
        items = list(self.root.iter(*self.shape.item_tags))
        spans = item_spans(data, items) if digests is not None else None
        extra = self.extra if spans is not None else None
        view = memoryview(data)
        has_base, tostring, read, found = self.has_base_attr, etree.tostring, self.item, self.items
        for at, item in enumerate(items):
            parent = item.getparent()
            if parent is None:
                raise GiveUp("the root is an item")
            base = checked.get(parent)
            if base is None:
                base = checked[parent] = self.parent_base(parent)
            if has_base:
                base = self.element_base(item, base)
            if digests is not None and seen is not None:
                hasher = hashers.get(base)
                if hasher is None:
                    hasher = hashers[base] = context_hasher(
                        seen.salt, self.version, self.nsmap, extra, lang, base
                    )
                h = hasher.copy()
                if spans is not None:
                    start, end = spans[at]
                    h.update(view[start:end])
                else:
                    h.update(tostring(item, with_tail=False))
                digest = item_digest(h)
                digests.append(digest)
                if digest in seen.keys:
                    continue
            found.append(read(item, base))

    def parent_base(self, parent: etree._Element) -> str:
        """Check an item's ancestors (no content, no item) and return their base URL."""
        chain = [parent, *parent.iterancestors()]
        if not all(is_container(self.name(a)) for a in chain):
            raise GiveUp("item inside content, another item or an <image>")
        base = self.base
        for ancestor in reversed(chain):
            base = self.element_base(ancestor, base)
        return base

    def element_base(self, el: etree._Element, parent: str) -> str:
        """feedparser's base URL inside `el` (mixin.py `unknown_starttag`)."""
        if not self.has_base_attr:
            return parent
        given = el.get(XML_BASE, el.get("base")) or parent
        key = (parent, given)
        found = self.bases.get(key)
        if found is None:
            joined = _fp_safe_uri(parent, given) if parent else _fp_urljoin(parent, given)
            found = self.bases[key] = str(joined or parent)
        return found

    def _version(self, root_name: str) -> str:
        found = self.shape.versions
        if len(found) > 1:
            raise GiveUp("ambiguous version namespaces")
        version = next(iter(found)) if found else ""
        if root_name == "rss":
            if not version.startswith("rss"):
                attr = self.root.get("version", "")
                version = RSS_VERSIONS.get(attr) or ("rss20" if attr.startswith("2.") else "rss")
        elif root_name == "feed":
            version = version or ATOM_VERSIONS.get(self.root.get("version", ""), "atom")
        elif root_name != "rdf_rdf" or not version:
            raise GiveUp(f"root element {root_name!r}")
        return version

    # traversal

    def walk(self, el: etree._Element, base: str, *, clean: bool = True) -> None:
        """Visit every element, checking namespaces; `clean`: all ancestors are containers."""
        for child in el:
            if not isinstance(child.tag, str):
                continue  # comments and processing instructions
            name = self.name(child)
            child_base = self.element_base(child, base)
            if name in ITEM:
                if not clean:
                    raise GiveUp("item inside an element that changes feedparser's state")
                self.items.append(self.item(child, child_base))
            elif name in OPAQUE:
                check_content_children(child)
            else:
                self.walk(child, child_base, clean=clean and is_container(name))

    def feed_info(self, root_name: str) -> dict[str, Any]:
        """Feed title, link, language and ttl (informational; not part of the item contract)."""
        channel = self.root
        if root_name != "feed":
            channel = next(
                (c for c in elements(iter(self.root)) if self.name(c) == "channel"), self.root
            )
        info: dict[str, Any] = {"lang": self.root.get(XML_LANG)}
        # the entries hold nothing of the feed's; only a simple document's names never fail
        entries = self.shape.item_tags if self.simple else ()
        for child in channel:
            tag = child.tag
            if tag in entries:
                continue
            # self.name, not the cache: channel elements items never use are not in it yet
            name = self.name(child) if isinstance(tag, str) else None
            if name in ("title", "dc_title") and "title" not in info and not len(child):
                info["title"] = finish((child.text or "").strip())
            elif name == "link" and "link" not in info:
                href = child.get("href")
                rel = (child.get("rel") or "alternate").lower()
                if href is None or rel == "alternate":
                    info["link"] = join_url(self.base, (href or child.text or "").strip())
            elif name in ("language", "dc_language") and not info["lang"]:
                info["lang"] = (child.text or "").strip() or None
            elif name == "ttl":
                info["ttl_minutes"] = int_or_none(child.text)
        return info
