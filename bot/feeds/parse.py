"""The parse stage: feed bytes (+ HTTP headers) in, a `ParsedFeed` out.

Owns format detection (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed 1.0/1.1),
the choice between the fast path and feedparser, and the mapping of either
onto `RawItem`. It never sees a URL it could fetch: `url` only serves as the
base for relative links, and feedparser gets a `BytesIO`, because given a
string it would fetch URLs and open local files (RELIABILITY.md, F1-F3).

Which parser runs:

    JSON Feed  -> json (feedparser 6 cannot read it)
    XML        -> parse_fast(): lxml, strict, mirroring feedparser's
                  rules for title/link/id/dates; returns None when the
                  document holds anything it does not mirror exactly
               -> feedparser (strict SAX, then its loose parser on breakage)

The fast path is only an optimisation: on any doubt it steps aside, so the
items are always the ones feedparser would give (tests/feeds/test_parse.py
compares both on every fixture and every real-world feed).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from bot.errors import NotAFeedError, ParseError
from bot.feeds.discover import find_feed_links
from bot.feeds.identity import PLACEHOLDER_BASE, is_relative, with_relative_ref
from bot.types import ParsedFeed, RawItem

__all__ = ["parse_fast", "parse_feed", "parse_json_feed", "parse_quick", "parse_with_feedparser"]

# Sniffed in the first bytes only: a feed that *mentions* <html> in an item is still a feed.
_HTML_START = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b",
    re.IGNORECASE | re.DOTALL,
)
_PROBLEM_MAX = 200


def parse_feed(
    body: bytes, headers: Mapping[str, str] | None = None, url: str | None = None
) -> ParsedFeed:
    """Parse one feed document.

    `headers` are the response headers (any case); content-type decides the
    charset as feedparser would. `url` is the base for relative links.

    Raises NotAFeedError for an HTML page (with the feeds it advertises) and
    ParseError for an empty body or a document with nothing recoverable.
    """
    quick = parse_quick(body, headers, url)
    return quick if quick is not None else parse_with_feedparser(body, headers, url)


def parse_quick(
    body: bytes, headers: Mapping[str, str] | None = None, url: str | None = None
) -> ParsedFeed | None:
    """Everything `parse_feed` can do without feedparser; None when only feedparser can.

    Cheap enough to run on the event loop (see parse_pool.py); raises like `parse_feed`.
    """
    if not body or body.isspace():
        raise ParseError("empty document")
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if _looks_like_json(body, lowered):
        return parse_json_feed(body, url)
    if _HTML_START.match(body, 0, 4096):
        raise NotAFeedError("an HTML page, not a feed", find_feed_links(body, url or ""))
    return parse_fast(body, lowered, url)


def parse_with_feedparser(
    body: bytes, headers: Mapping[str, str] | None = None, url: str | None = None
) -> ParsedFeed:
    """Parse with feedparser alone (the reference the fast path must match)."""
    response_headers = _response_headers(headers, url)
    # BytesIO, never bytes or str: see the module docstring.
    result = feedparser.parse(io.BytesIO(body), response_headers=response_headers)
    entries = result.get("entries") or []
    version = result.get("version") or ""
    problem = _problem(result, response_headers)
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
        ttl_minutes=_int_or_none(dict.get(feed, "ttl")),
        items=_with_written_refs(body, response_headers, entries),
        problem=problem,
    )


def _with_written_refs(
    body: bytes, response_headers: Mapping[str, str], entries: list[dict[str, Any]]
) -> tuple[RawItem, ...]:
    """Items, with the identity each entry's document alone gives it (identity.py).

    feedparser does not say what a resolved id looked like, so when a base URL
    could have made a relative identity absolute, the document is read a
    second time without one (only here, on the slow path for unusual feeds).
    """
    raws = [_raw_from_entry(e) for e in entries]
    # Relative identities come out relative (no base) or as http(s) URLs; ids
    # like "tag:..." or "urn:..." cannot have been relative.
    if not any(_could_be_relative(_identity(e)) for e in entries):
        return tuple(raws)
    placed = {**response_headers, "content-location": PLACEHOLDER_BASE}
    again = feedparser.parse(io.BytesIO(body), response_headers=placed).get("entries") or []
    if len(again) != len(raws):
        return tuple(raws)
    return tuple(with_relative_ref(r, _identity(e)) for r, e in zip(raws, again, strict=True))


def _could_be_relative(identity: str) -> bool:
    return bool(identity) and (identity.startswith("http") or is_relative(identity))


def _identity(entry: dict[str, Any]) -> str:
    """The guid, else the link, as feedparser gives them (normalize keys on the same)."""
    guid = dict.get(entry, "id") or ""
    return str(guid if guid.strip() else dict.get(entry, "link") or "")


def _response_headers(headers: Mapping[str, str] | None, url: str | None) -> dict[str, str]:
    """What feedparser sees as response headers: ours, lower-cased, plus the base URL."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    location = content_location(lowered, url)
    if location:
        lowered["content-location"] = location
    return lowered


def _problem(result: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    if not result.get("bozo"):
        return None
    exc = result.get("bozo_exception")
    if type(exc).__name__ == "NonXMLContentType" and "content-type" not in headers:
        # feedparser complains when headers lack a content-type; with no
        # content-type at all (a file, a test) that is not breakage
        return None
    text = f"{type(exc).__name__}: {exc}" if exc is not None else "malformed feed"
    return text[:_PROBLEM_MAX]


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


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


# --- JSON Feed ------------------------------------------------------------------------------

_JSON_VERSIONS = {
    "https://jsonfeed.org/version/1": "json10",
    "https://jsonfeed.org/version/1.1": "json11",
}


def _looks_like_json(body: bytes, headers: Mapping[str, str]) -> bool:
    start = body[:256].lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return start == b"{" or ("json" in headers.get("content-type", "").lower() and start != b"<")


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


# --- fast path: lxml, mirroring feedparser --------------------------------------------------
#
# feedparser (strict mode) turns each element name into a handler name, e.g.
# `{http://purl.org/dc/elements/1.1/}date` -> `dc_date`, and its handlers decide
# title/link/id/dates. The fast path computes the same handler names and mirrors
# only the handlers that feed RawItem; any handler it does not know to be
# harmless, and any shape where feedparser's order- or depth-dependent rules
# could matter (two titles, a nested guid, an item inside an item ...), makes
# it give up and let feedparser do the work. Private feedparser helpers are
# reused where the exact behaviour matters (date parsing, URL joining,
# encoding detection); feedparser is pinned in pyproject.toml.

from feedparser.datetimes import _parse_date as _fp_parse_date  # noqa: E402
from feedparser.encodings import convert_to_utf8 as _fp_convert_to_utf8  # noqa: E402
from feedparser.html import _cp1252 as _FP_CP1252  # noqa: E402
from feedparser.mixin import _FeedParserMixin as _FPMixin  # noqa: E402
from feedparser.sanitizer import _sanitize_html as _fp_sanitize_html  # noqa: E402
from feedparser.urls import _urljoin as _fp_urljoin  # noqa: E402
from feedparser.urls import make_safe_absolute_uri as _fp_safe_uri  # noqa: E402
from feedparser.urls import resolve_relative_uris as _fp_resolve_relative_uris  # noqa: E402
from lxml import etree  # type: ignore[import-untyped]  # noqa: E402

#: the feedparser release whose handlers the fast path mirrors (read line by line);
#: under any other release the fast path steps aside until someone re-checks it
MIRRORED_FEEDPARSER = "6.0.14"
_FAST_PATH_ON = feedparser.__version__ == MIRRORED_FEEDPARSER

_MATCH_NS: dict[str, str] = {k.lower(): v for k, v in _FPMixin.namespaces.items()}
_STD_PREFIXES = frozenset(_MATCH_NS.values())
_HANDLERS = frozenset(
    name.split("_", 2)[2] if name.startswith("_start_") else name[len("_end_") :]
    for name in dir(_FPMixin)
    if name.startswith(("_start_", "_end_"))
)
_VERSION_NS = {
    "http://my.netscape.com/rdf/simple/0.9/": "rss090",
    "http://purl.org/rss/1.0/": "rss10",
    "http://www.w3.org/2005/atom": "atom10",
}
_RSS_VERSIONS = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
_ATOM_VERSIONS = {"0.1": "atom01", "0.2": "atom02", "0.3": "atom03"}
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_RDF_ABOUT = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"

_ITEM = frozenset({"item", "entry"})
_TITLE = frozenset({"title", "dc_title", "media_title"})
_LINK = frozenset({"link"})
_GUID = frozenset({"guid", "id"})
_PUBLISHED = frozenset({"published", "issued", "pubdate", "dcterms_issued"})
_UPDATED = frozenset({"updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"})
_SUMMARY = frozenset({"description", "summary", "abstract", "dc_description"})
_CONTENT = frozenset({"content", "content_encoded", "fullitem", "body", "xhtml_body"})
_AUTHOR = frozenset({"author", "dc_creator", "dc_author", "itunes_author", "managingeditor"})
#: handlers whose text feedparser keeps as (possibly HTML) content: never descended into
_OPAQUE = (
    _TITLE
    | _SUMMARY
    | _CONTENT
    | frozenset(
        {
            "subtitle",
            "tagline",
            "rights",
            "copyright",
            "info",
            "feedburner_browserfriendly",
            "itunes_subtitle",
            "itunes_summary",
            "media_description",
            "dc_rights",
        }
    )
)
#: handlers that cannot touch title/link/id/dates of an entry (read in feedparser 6.0.14)
_HARMLESS = _AUTHOR | frozenset(
    {
        "category",
        "keywords",
        "tags",
        "dc_subject",
        "enclosure",
        "cloud",
        "source",
        "width",
        "height",
        "url",
        "uri",
        "homepage",
        "name",
        "email",
        "contributor",
        "dc_contributor",
        "dc_publisher",
        "webmaster",
        "language",
        "dc_language",
        "generator",
        "created",
        "dcterms_created",
        "expirationdate",
        "dcterms_valid",
        "newlocation",
        "media_content",
        "media_group",
        "media_thumbnail",
        "media_credit",
        "media_category",
        "media_rating",
        "media_player",
        "media_license",
        "media_restriction",
        "media_keywords",
        "itunes_image",
        "itunes_link",
        "itunes_category",
        "image",
        "itunes_owner",
        "itunes_name",
        "itunes_email",
        "itunes_block",
        "itunes_explicit",
        "itunes_keywords",
        "georss_point",
        "georss_line",
        "georss_polygon",
        "georss_box",
        "georss_where",
        "georssgeom",
        "geom",
        "where",
        "gml_point",
        "gml_pos",
        "gml_poslist",
        "gml_linestring",
        "gml_polygon",
        "gml_exterior",
        "gml_linearring",
        "psc_chapters",
        "psc_chapter",
        "cc_license",
        "creativecommons_license",
    }
)
#: what an RSS <image> may hold for feedparser to keep ignoring its <link> (its "inimage" hack)
_K_TITLE, _K_LINK, _K_GUID, _K_PUBLISHED, _K_UPDATED, _K_SUMMARY, _K_OPAQUE = range(7)
_K_AUTHOR, _K_HARMLESS, _UNKNOWN = 7, 8, 9
#: what the item loop does with each handler name, in one dict lookup
_KINDS: dict[str, int] = {
    **dict.fromkeys(_HARMLESS, _K_HARMLESS),
    **dict.fromkeys(_AUTHOR, _K_AUTHOR),
    **dict.fromkeys(_OPAQUE, _K_OPAQUE),
    **dict.fromkeys(_SUMMARY | _CONTENT, _K_SUMMARY),
    **dict.fromkeys(_TITLE, _K_TITLE),
    **dict.fromkeys(_LINK, _K_LINK),
    **dict.fromkeys(_GUID, _K_GUID),
    **dict.fromkeys(_PUBLISHED, _K_PUBLISHED),
    **dict.fromkeys(_UPDATED, _K_UPDATED),
}
_IMAGE_CHILDREN = frozenset({"title", "link", "description", "url", "width", "height"})
_AMP_REF = re.compile("&([A-Za-z0-9_]+);")
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_BEYOND_LATIN1 = re.compile("[^\x00-\xff]")
_XMLNS_DECL = re.compile(rb"""xmlns(?::([^\s=/>]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SHAPES: dict[tuple[tuple[str, str], ...], _Shape] = {}
_SHAPES_MAX = 512


class _Shape:
    """What follows from a root's namespace declarations alone; shared by documents."""

    def __init__(self, nsmap: Mapping[str | None, str]) -> None:
        #: handler names by tag (filled as tags are met)
        self.names: dict[str, str] = {}
        #: feedparser's `namespacemap`: document prefix -> standard prefix
        self.prefix_map: dict[str, str] = {}
        self.ambiguous = False
        self.bindings = {(prefix or "", uri) for prefix, uri in nsmap.items()}
        self.prefixes = {prefix or "" for prefix in nsmap}
        uris: set[str] = set()
        for prefix, uri in nsmap.items():
            low = _norm_ns(uri)
            self.ambiguous |= low in uris  # one namespace under two prefixes
            uris.add(low)
            if prefix and low in _MATCH_NS:
                self.prefix_map[prefix] = _MATCH_NS[low]
        # the versions feedparser's track_namespace would take from these declarations
        self.versions = {
            version
            for prefix, uri in nsmap.items()
            if (version := _VERSION_NS.get(uri.lower(), ""))
            and (version != "rss090" or prefix is None)  # RSS 0.90 only as the default
        }
        # item/entry in a base namespace, or in an unknown default namespace, are entries
        entry_uris = {""} | {
            uri
            for prefix, uri in nsmap.items()
            if _MATCH_NS.get(_norm_ns(uri)) == ""
            or (_MATCH_NS.get(_norm_ns(uri)) is None and prefix is None)
        }
        self.item_tags = [
            f"{{{uri}}}{local}" if uri else local for uri in sorted(entry_uris) for local in _ITEM
        ]


def _shape_for(nsmap: Mapping[str | None, str]) -> _Shape:
    key = tuple(sorted((prefix or "", uri) for prefix, uri in nsmap.items()))
    shape = _SHAPES.get(key)
    if shape is None:
        if len(_SHAPES) >= _SHAPES_MAX:
            _SHAPES.clear()  # many unusual feeds: start over rather than grow without bound
        shape = _SHAPES[key] = _Shape(nsmap)
    return shape


class _GiveUp(Exception):
    """The document holds something the fast path does not mirror exactly."""


def content_location(headers: Mapping[str, str], url: str | None) -> str | None:
    """The base URL feedparser should resolve against (Content-Location, else the URL)."""
    location = headers.get("content-location")
    if location and url:
        return urljoin(url, location)
    return location or url


def parse_fast(
    body: bytes, headers: Mapping[str, str] | None = None, url: str | None = None
) -> ParsedFeed | None:
    """Parse `body` with lxml the way feedparser would, or return None to defer to it.

    `headers` are response headers (any case). None means "not sure": a broken
    document, an encoding feedparser would not trust, a DOCTYPE, or any element
    whose effect on title/link/id/dates is not mirrored here.
    """
    if not _FAST_PATH_ON:
        return None
    response_headers = _response_headers(headers, url)
    result: dict[str, Any] = {}
    data = _fp_convert_to_utf8(response_headers, body, result)
    # A DOCTYPE (feedparser rewrites it, and its entities) is left to feedparser;
    # a lower-case "<!doctype" is not XML and fails the strict parse below.
    if not result.get("encoding") or b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None
    base = _fp_safe_uri(response_headers.get("content-location", "")) or ""
    has_base_attr = b"base=" in data
    if has_base_attr and not base:
        # feedparser's base stack never restores an empty base: an xml:base leaks past its element
        return None
    try:
        root = etree.fromstring(data, _xml_parser())
        problem = _problem(result, response_headers)
        return _FastDoc(root, base, has_base_attr, problem).parse(data)
    except (etree.XMLSyntaxError, _GiveUp, ValueError):
        return None


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


class _FastDoc:
    """One document being read by the fast path (raises _GiveUp on doubt)."""

    def __init__(
        self, root: etree._Element, base: str, has_base_attr: bool, problem: str | None
    ) -> None:
        self.root = root
        self.base = base
        self.has_base_attr = has_base_attr
        self.problem = problem
        self.nsmap: dict[str | None, str] = root.nsmap
        self.shape = _shape_for(self.nsmap)
        if self.shape.ambiguous:
            raise _GiveUp("one namespace under two prefixes")
        self.prefix_map = self.shape.prefix_map
        self.names = self.shape.names
        #: False when some element below the root declares a namespace: then every
        #: element's binding is checked and the whole tree is walked
        self.simple = True
        self.version = ""
        self.items: list[RawItem] = []
        #: (parent base, xml:base) -> base; most elements repeat their parent's
        self.bases: dict[tuple[str, str], str] = {}

    def _only_root_bindings(self, data: bytes) -> bool:
        """True when an element's tag alone fixes its feedparser handler name.

        That holds when every namespace declaration in the text is either one
        of the root's, or binds a namespace feedparser knows under a fresh
        prefix (feedburner's `<atom10:link xmlns:atom10=...>`). Text that only
        looks like a declaration can merely make this False (the checked walk).
        """
        root, root_prefixes = self.shape.bindings, self.shape.prefixes
        extra: dict[str, str] = {}
        for match in _XMLNS_DECL.finditer(data):
            raw_prefix, dq, sq = match.groups()
            try:
                prefix = (raw_prefix or b"").decode()
                uri = (dq if dq is not None else sq).decode()
            except UnicodeDecodeError:
                return False
            if (prefix, uri) in root:
                continue
            std = _MATCH_NS.get(_norm_ns(uri))
            if not prefix or std is None or prefix in root_prefixes:
                return False
            # feedparser maps this prefix to `std` from here on: harmless unless
            # it is some other namespace's standard prefix
            if (prefix in _STD_PREFIXES and prefix != std) or extra.setdefault(prefix, uri) != uri:
                return False
        return True

    def parse(self, data: bytes) -> ParsedFeed:
        self.simple = self._only_root_bindings(data)
        root_name = self.name(self.root)
        self.version = self._version(root_name)
        if self.simple:
            self.find_items()
        else:
            self.walk(self.root, self.element_base(self.root, self.base))
        return ParsedFeed(
            version=self.version,
            items=tuple(self.items),
            problem=self.problem,
            **self.feed_info(root_name),
        )

    # names and bases

    def name(self, el: etree._Element) -> str:
        """feedparser's handler name for `el` (e.g. "dc_date", "title", "jto_thumb")."""
        if not self.simple:
            tag = el.tag
            uri = tag[1 : tag.index("}")] if tag[0] == "{" else None
            if self.nsmap.get(el.prefix) != uri:
                raise _GiveUp("namespace declared below the root element")
        # In a simple document a tag determines its prefix (one prefix per namespace).
        found = self.names.get(el.tag)
        if found is None:
            found = self.names[el.tag] = self._compute_name(el)
        return found

    def _compute_name(self, el: etree._Element) -> str:
        qname = etree.QName(el)
        uri, local = qname.namespace or "", qname.localname.lower()
        std = _MATCH_NS.get(_norm_ns(uri)) if uri else ""
        prefix = std if std is not None else (el.prefix or "")
        prefix = self.prefix_map.get(prefix, prefix) if prefix else ""
        return f"{prefix.lower()}_{local}" if prefix else local

    def find_items(self) -> None:
        """Find entries with lxml's own tag filter instead of walking every element."""
        checked: dict[etree._Element, str] = {}  # parent -> base of its children
        for item in self.root.iter(*self.shape.item_tags):
            parent = item.getparent()
            if parent is None:
                raise _GiveUp("the root is an item")
            base = checked.get(parent)
            if base is None:
                base = checked[parent] = self.parent_base(parent)
            if self.has_base_attr:
                base = self.element_base(item, base)
            self.items.append(self.item(item, base))

    def parent_base(self, parent: etree._Element) -> str:
        """Check an item's ancestors (no content, no item) and return their base URL."""
        chain = [parent, *parent.iterancestors()]
        if not all(_is_container(self.name(a)) for a in chain):
            raise _GiveUp("item inside content, another item or an <image>")
        base = self.base
        for ancestor in reversed(chain):
            base = self.element_base(ancestor, base)
        return base

    def element_base(self, el: etree._Element, parent: str) -> str:
        """feedparser's base URL inside `el` (mixin.py `unknown_starttag`)."""
        if not self.has_base_attr:
            return parent
        given = el.get(_XML_BASE, el.get("base")) or parent
        key = (parent, given)
        found = self.bases.get(key)
        if found is None:
            joined = _fp_safe_uri(parent, given) if parent else _fp_urljoin(parent, given)
            found = self.bases[key] = str(joined or parent)
        return found

    def _version(self, root_name: str) -> str:
        found = self.shape.versions
        if len(found) > 1:
            raise _GiveUp("ambiguous version namespaces")
        version = next(iter(found)) if found else ""
        if root_name == "rss":
            if not version.startswith("rss"):
                attr = self.root.get("version", "")
                version = _RSS_VERSIONS.get(attr) or ("rss20" if attr.startswith("2.") else "rss")
        elif root_name == "feed":
            version = version or _ATOM_VERSIONS.get(self.root.get("version", ""), "atom")
        elif root_name != "rdf_rdf" or not version:
            raise _GiveUp(f"root element {root_name!r}")
        return version

    # traversal

    def walk(self, el: etree._Element, base: str, *, clean: bool = True) -> None:
        """Visit every element, checking namespaces; `clean`: all ancestors are containers."""
        for child in el:
            if not isinstance(child.tag, str):
                continue  # comments and processing instructions
            name = self.name(child)
            child_base = self.element_base(child, base)
            if name in _ITEM:
                if not clean:
                    raise _GiveUp("item inside an element that changes feedparser's state")
                self.items.append(self.item(child, child_base))
            elif name in _OPAQUE:
                _check_content_children(child)
            else:
                self.walk(child, child_base, clean=clean and _is_container(name))

    def item(self, item: etree._Element, base: str) -> RawItem:
        if item.keys():
            attrs = _fp_attrs(item)
            if "lastmod" in attrs or "href" in attrs:
                raise _GiveUp("CDF attributes on an item")
        ctx: dict[str, Any] = {}
        about = item.get(_RDF_ABOUT)
        if about:
            ctx["id"] = about  # never resolved: its own identity, wherever the feed lives
        titles = 0
        names_get, kinds_get = self.names.get, _KINDS.get
        simple, has_base = self.simple, self.has_base_attr
        for child in item:
            tag = child.tag
            name = names_get(tag) if simple else None
            if name is None:
                if not isinstance(tag, str):
                    continue  # comments and processing instructions
                name = self.name(child)
            kind = kinds_get(name, _UNKNOWN)
            child_base = self.element_base(child, base) if has_base else base
            if kind == _K_TITLE:
                titles += 1
                ctx["title"] = self.title(child, child_base)
            elif kind == _K_LINK:
                self.link(child, child_base, ctx)
            elif kind == _K_GUID:
                self.guid(child, child_base, ctx)
            elif kind == _K_PUBLISHED:
                ctx["published_parsed"] = _fp_parse_date(_finish(_leaf_text(child)))
            elif kind == _K_UPDATED:
                ctx["updated_parsed"] = _fp_parse_date(_finish(_leaf_text(child)))
            elif kind == _K_SUMMARY:
                if len(child):
                    _check_content_children(child)
                if "summary" not in ctx:
                    ctx["summary"] = _finish(_all_text(child))
            elif kind == _K_OPAQUE:
                if len(child):
                    _check_content_children(child)
            elif kind == _K_AUTHOR:
                if "author" not in ctx:
                    ctx["author"] = " ".join("".join(child.itertext()).split())
                if len(child):
                    self.nested(child, name)
            elif kind == _K_HARMLESS or name not in _HANDLERS:
                if len(child):
                    self.nested(child, name)
            else:
                raise _GiveUp(f"item element {name!r}")
        if titles != 1:
            self.check_titles(item, titles)
        raw = RawItem(
            title=ctx.get("title"),
            link=ctx.get("link"),
            guid=ctx.get("id"),
            published=struct_to_utc(ctx.get("published_parsed")),
            updated=struct_to_utc(ctx.get("updated_parsed")),
            summary=ctx.get("summary"),
            author=ctx.get("author") or None,
        )
        # the identity normalize keys on: the guid, else the link (identity.py)
        written = ctx.get("id_written") if ctx.get("id") else ctx.get("link_written")
        return with_relative_ref(raw, written) if written else raw

    def check_titles(self, item: etree._Element, titles: int) -> None:
        # Of several titles feedparser keeps the first non-empty one at the
        # shallowest depth, with resets by <source>/<image>: not mirrored.
        if titles > 1:
            raise _GiveUp("several titles in one item")
        if any(self.name(e) in _TITLE for e in _elements(item.iterdescendants())):
            raise _GiveUp("only a nested title")

    def nested(self, el: etree._Element, name: str) -> None:
        """Check what sits below a direct child of an item: nothing that changes our fields."""
        for child in el:
            if not isinstance(child.tag, str):
                continue
            child_name = self.name(child)
            if child_name in _OPAQUE:
                _check_content_children(child)
            elif child_name in _LINK and name == "image":
                self.image_link(el, child)
            elif child_name in _HARMLESS or child_name not in _HANDLERS:
                self.nested(child, child_name)
            else:
                raise _GiveUp(f"nested element {child_name!r}")

    def image_link(self, image: etree._Element, link: etree._Element) -> None:
        # Inside <image>, feedparser drops a text <link>, but only while no
        # other un-prefixed element has reset its "inimage" flag.
        if _fp_attrs(link) or any(
            self.name(e) not in _IMAGE_CHILDREN for e in _elements(iter(image))
        ):
            raise _GiveUp("unusual <image> in an item")

    # the mirrored handlers

    def title(self, el: etree._Element, base: str) -> str:
        """feedparser's title: text, or HTML it resolves and sanitizes (mixin.py `pop`)."""
        content_type = "text/plain"
        if el.keys():
            attrs = _fp_attrs(el)
            if "mode" in attrs:
                raise _GiveUp("Atom 0.3 content mode")
            content_type = _FPMixin.map_content_type(attrs.get("type", "text/plain"))
            if content_type not in ("text/plain", "text/html"):
                raise _GiveUp(f"{content_type} title")
        text = _leaf_text(el)
        if (
            content_type == "text/plain"
            and not self.version.startswith("atom")
            # looks_like_html needs a "</x>" or an "&x;"; most titles have neither
            and ("<" in text or "&" in text)
            and _FPMixin.looks_like_html(text)
        ):
            content_type = "text/html"  # feedparser guesses so for RSS
        if content_type == "text/html":
            if feedparser.RESOLVE_RELATIVE_URIS:
                text = _fp_resolve_relative_uris(text, base, "utf-8", content_type)
            if feedparser.SANITIZE_HTML:
                text = _fp_sanitize_html(text, "utf-8", content_type)
        return _finish(text)

    def link(self, el: etree._Element, base: str, ctx: dict[str, Any]) -> None:
        attrs = _fp_attrs(el)
        rel = attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs["href"] = href
        if "href" in attrs:
            if len(el):
                raise _GiveUp("link with children")
            href = attrs["href"]
            if rel == "alternate" and _FPMixin.map_content_type(attrs["type"]) in _HTML_TYPES:
                ctx["link"] = _urljoin(base or "", href)
                ctx["link_written"] = self.written(el, href, lambda b, v: _urljoin(b, v))
            return
        text = _leaf_text(el)
        ctx["link"] = _link_text(base, text)
        ctx["link_written"] = self.written(el, text, _link_text)

    def guid(self, el: etree._Element, base: str, ctx: dict[str, Any]) -> None:
        is_link = not el.keys() or _fp_attrs(el).get("ispermalink", "true") == "true"
        text = _leaf_text(el)
        value = _finish(_urljoin(base or "", text) if text and is_link else text)
        ctx["id"] = value
        # an id feedparser does not resolve needs no written form: it is one already
        ctx["id_written"] = self.written(el, text, _guid_text) if is_link and text else None
        if is_link and "link" not in ctx:
            ctx["link"], ctx["link_written"] = value, ctx["id_written"]

    def written(self, el: etree._Element, text: str, finish: Any) -> str | None:
        """A relative reference resolved against the placeholder (identity.py).

        `finish(base, text)` is the handler's own resolution, here with the
        document's xml:base chain on top of the placeholder instead of the URL.
        """
        if not is_relative(text):  # "" too: an empty href resolves to the base
            return None
        base = PLACEHOLDER_BASE
        if self.has_base_attr:
            for ancestor in reversed([el, *el.iterancestors()]):
                base = self.element_base(ancestor, base)
        return str(finish(base, text))

    def feed_info(self, root_name: str) -> dict[str, Any]:
        """Feed title, link, language and ttl (informational; not part of the item contract)."""
        channel = self.root
        if root_name != "feed":
            channel = next(
                (c for c in _elements(iter(self.root)) if self.name(c) == "channel"), self.root
            )
        info: dict[str, Any] = {"lang": self.root.get(_XML_LANG)}
        for child in channel:
            name = self.names.get(child.tag) if isinstance(child.tag, str) else None
            if name in ("title", "dc_title") and "title" not in info and not len(child):
                info["title"] = _finish((child.text or "").strip())
            elif name == "link" and "link" not in info:
                href = child.get("href")
                rel = (child.get("rel") or "alternate").lower()
                if href is None or rel == "alternate":
                    info["link"] = _urljoin(self.base, (href or child.text or "").strip())
            elif name in ("language", "dc_language") and not info["lang"]:
                info["lang"] = (child.text or "").strip() or None
            elif name == "ttl":
                info["ttl_minutes"] = _int_or_none(child.text)
        return info


_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def _is_container(name: str) -> bool:
    """Elements entries may sit in: the feed's own, or ones feedparser has no handler for."""
    return name in ("rss", "channel", "rdf_rdf", "feed", "items") or name not in _HANDLERS


def _norm_ns(uri: str) -> str:
    low = uri.lower()
    return "http://backend.userland.com/rss" if "backend.userland.com/rss" in low else low


def _elements(it: Any) -> Any:
    return (e for e in it if isinstance(e.tag, str))


def _fp_attrs(el: etree._Element) -> dict[str, str]:
    """Attributes keyed as feedparser keys them (lower-case; rel/type values lower-cased)."""
    attrs: dict[str, str] = {}
    for key, value in el.attrib.items():
        if key.startswith("{"):
            uri, local = key[1:].split("}", 1)
            prefix = _MATCH_NS.get(uri.lower(), "")
            key = f"{prefix}:{local}" if prefix else local
        key = key.lower()
        attrs[key] = value.lower() if key in ("rel", "type") and value else value
    return attrs


def _check_content_children(el: etree._Element) -> None:
    # Child elements of content are markup to feedparser only while the content
    # type is not some other XML type; then it would dispatch them as elements.
    if len(el) and any(isinstance(c.tag, str) for c in el):
        declared = _FPMixin.map_content_type(_fp_attrs(el).get("type", "text/html"))
        if declared.endswith("xml") and declared != "application/xhtml+xml":
            raise _GiveUp("XML-typed content with child elements")


def _link_text(base: str, text: str) -> str:
    """feedparser's text <link>: resolved, finished, and `&amp;` unescaped once."""
    if text:
        text = _urljoin(base or "", text)
    text = _finish(text)
    if "&" in text:
        text = _AMP_REF.sub(r"&\g<1>", text.replace("&amp;", "&"))
    return text


def _guid_text(base: str, text: str) -> str:
    """feedparser's permalink guid: resolved and finished."""
    return _finish(_urljoin(base or "", text))


def _leaf_text(el: etree._Element) -> str:
    """The stripped text of an element that must hold text only."""
    if len(el):
        raise _GiveUp("markup or comments inside a text element")
    return (el.text or "").strip()


def _all_text(el: etree._Element) -> str:
    """Text with any child markup kept as markup (summaries may be XHTML)."""
    children = "".join(etree.tostring(c, encoding="unicode", with_tail=True) for c in el)
    return (el.text or "") + children


def _finish(text: str) -> str:
    """feedparser's last touches on every text value (mixin.py `pop`)."""
    if text.isascii():
        return text  # neither step below can change ASCII
    if not _BEYOND_LATIN1.search(text):
        # it undoes UTF-8 read as Latin-1 ("Ã©" -> "é")
        with contextlib.suppress(UnicodeDecodeError):
            text = text.encode("iso-8859-1").decode("utf-8")
    # and maps C1 controls to the windows-1252 characters they were meant to be
    return text.translate(_FP_CP1252) if _C1_CONTROLS.search(text) else text


def _urljoin(base: str, uri: str) -> str:
    """feedparser's `_urljoin`, skipping its work when it cannot change anything.

    Most links are already absolute with the base's scheme; urljoin then
    returns `urlunparse(urlparse(uri))`, which is `uri` itself unless the URL
    has an empty query or fragment, `;` parameters, control characters, an
    IP-literal or a non-ASCII host to check. Anything like that takes the
    real code (tests/feeds/test_parse.py compares both on many URLs).
    """
    if not base:
        return uri if ":///" not in uri else str(_fp_urljoin(base, uri))
    scheme = _SCHEMES.get(base)
    if scheme is None:
        scheme = _scheme_of(base)
    if scheme and uri.startswith(scheme) and _is_plain_absolute(uri, len(scheme)):
        return uri
    if _SIMPLE_SEGMENT.match(uri):
        # A bare name ("item-42", "a.html") replaces the last path segment:
        # join a probe once per base and reuse its directory.
        directory = _DIRECTORIES.get(base)
        if directory is None:
            directory = _directory_of(base)
        if directory is not None:
            return directory + uri
    return str(_fp_urljoin(base, uri))


#: base URL -> what urljoin puts before a bare name (None: do not guess)
_DIRECTORIES: dict[str, str | None] = {}
_SIMPLE_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9_.~-]*\Z")


def _directory_of(base: str) -> str | None:
    if len(_DIRECTORIES) > 1024:
        _DIRECTORIES.clear()
    probe = str(_fp_urljoin(base, "x"))
    directory = _DIRECTORIES[base] = probe[:-1] if probe.endswith("x") else None
    return directory


#: base URL -> its "scheme://" prefix (or "" when it has no usable one)
_SCHEMES: dict[str, str] = {}


def _scheme_of(base: str) -> str:
    if len(_SCHEMES) > 1024:
        _SCHEMES.clear()
    try:
        scheme = urlsplit(base).scheme
    except ValueError:
        scheme = ""
    prefix = _SCHEMES[base] = f"{scheme}://" if scheme in ("http", "https") else ""
    return prefix


def _is_plain_absolute(uri: str, start: int) -> bool:
    """`uri[start:]` is "host/..." with nothing urlsplit/urlunsplit would rewrite."""
    return (
        len(uri) > start
        and uri[start] not in "/?#"
        and uri.isascii()
        and not _URL_SPECIALS.search(uri)
        and not uri.endswith(("?", "#"))
        and "?#" not in uri
    )


_URL_SPECIALS = re.compile(r"[\x00-\x20;\[\]\\]")
