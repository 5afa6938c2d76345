"""The fast path: lxml, strict, giving the items feedparser would give.

It mirrors only the handlers that feed `RawItem` (rules.py); any handler it
does not know to be harmless, and any shape where feedparser's order- or
depth-dependent rules could matter (two titles, a nested guid, an item inside
an item ...), makes it give up and let feedparser do the work. Private
feedparser helpers are reused where the exact behaviour matters (date parsing,
URL joining, encoding detection); feedparser is pinned in pyproject.toml.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from feedparser.mixin import _FeedParserMixin as _FPMixin
from feedparser.urls import _urljoin as _fp_urljoin
from feedparser.urls import make_safe_absolute_uri as _fp_safe_uri
from lxml import etree  # type: ignore[import-untyped]

from bot.feeds.identity import PLACEHOLDER_BASE, is_relative, with_relative_ref
from bot.feeds.parse.dates import parse_date
from bot.feeds.parse.encoding import convert_to_utf8
from bot.feeds.parse.reference import int_or_none
from bot.feeds.parse.rules import (
    ATOM_VERSIONS,
    FAST_PATH_ON,
    HANDLERS,
    HARMLESS,
    HTML_TYPES,
    IMAGE_CHILDREN,
    ITEM,
    K_AUTHOR,
    K_GUID,
    K_HARMLESS,
    K_LINK,
    K_OPAQUE,
    K_PUBLISHED,
    K_SUMMARY,
    K_TITLE,
    K_UPDATED,
    KINDS,
    LINK,
    MATCH_NS,
    OPAQUE,
    RDF_ABOUT,
    RSS_VERSIONS,
    TITLE,
    UNKNOWN,
    XML_BASE,
    XML_LANG,
    GiveUp,
    is_container,
    norm_ns,
)
from bot.feeds.parse.shape import only_root_bindings, shape_for
from bot.feeds.parse.sniff import describe_problem, feedparser_headers
from bot.feeds.parse.urls import join_url
from bot.feeds.parse.values import (
    all_text,
    check_content_children,
    elements,
    finish,
    fp_attrs,
    guid_text,
    leaf_text,
    link_text,
    title_text,
)
from bot.feeds.seen import SeenItems, item_digest, item_hasher
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
    depends on more than the item and the root (xml:base, namespaces declared
    below the root) gets no digests: all its items are read.
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
    has_base_attr = b"base=" in data
    if has_base_attr and not base:
        # feedparser's base stack never restores an empty base: an xml:base leaks past its element
        return None
    try:
        root = etree.fromstring(data, _xml_parser())
        problem = describe_problem(result, response_headers)
        return _FastDoc(root, base, has_base_attr, problem, seen).parse(data)
    except (etree.XMLSyntaxError, GiveUp, ValueError):
        return None


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


class _FastDoc:
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
        #: False when some element below the root declares a namespace: then every
        #: element's binding is checked and the whole tree is walked
        self.simple = True
        self.version = ""
        self.items: list[RawItem] = []
        #: (parent base, xml:base) -> base; most elements repeat their parent's
        self.bases: dict[tuple[str, str], str] = {}

    def parse(self, data: bytes) -> ParsedFeed:
        self.simple = only_root_bindings(self.shape, data)
        root_name = self.name(self.root)
        self.version = self._version(root_name)
        info = self.feed_info(root_name)
        if self.simple:
            if self.seen is not None and not self.has_base_attr:
                self.digests = []
            self.find_items(info.get("lang"))
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

    def find_items(self, lang: str | None) -> None:
        """Find entries with lxml's own tag filter instead of walking every element.

        With `self.digests`, each item's digest is taken first, and an item
        `self.seen` holds is not read (see `parse_fast`).
        """
        checked: dict[etree._Element, str] = {}  # parent -> base of its children
        prefixes: dict[str, Any] = {}  # base -> the digest of what all its items share
        digests, seen = self.digests, self.seen
        has_base, tostring, read, found = self.has_base_attr, etree.tostring, self.item, self.items
        for item in self.root.iter(*self.shape.item_tags):
            parent = item.getparent()
            if parent is None:
                raise GiveUp("the root is an item")
            base = checked.get(parent)
            if base is None:
                base = checked[parent] = self.parent_base(parent)
            if has_base:
                base = self.element_base(item, base)
            if digests is not None and seen is not None:
                prefix = prefixes.get(base)
                if prefix is None:
                    prefix = prefixes[base] = self.digest_prefix(seen.salt, base, lang)
                h = prefix.copy()
                h.update(tostring(item, with_tail=False))
                digest = item_digest(h)
                digests.append(digest)
                if digest in seen.keys:
                    continue
            found.append(read(item, base))

    def digest_prefix(self, salt: bytes, base: str, lang: str | None) -> Any:
        """A hash of everything besides its own element that reading an item depends on
        in a simple document without xml:base: the feed (salt), the document's version,
        namespaces and language, and the base URL."""
        context = (self.version, sorted(self.nsmap.items(), key=str), lang, base)
        return item_hasher(salt, b"fast", repr(context).encode("utf-8", "surrogatepass"))

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

    def item(self, item: etree._Element, base: str) -> RawItem:
        ctx: dict[str, Any] = {}
        if item.keys():
            attrs = fp_attrs(item)
            if "lastmod" in attrs or "href" in attrs:
                raise GiveUp("CDF attributes on an item")
            about = item.get(RDF_ABOUT)
            if about:
                ctx["id"] = about  # never resolved: its own identity, wherever the feed lives
        titles = 0
        names_get, kinds_get = self.names.get, KINDS.get
        simple, has_base = self.simple, self.has_base_attr
        for child in item:
            tag = child.tag
            name = names_get(tag) if simple else None
            if name is None:
                if not isinstance(tag, str):
                    continue  # comments and processing instructions
                name = self.name(child)
            kind = kinds_get(name, UNKNOWN)
            child_base = self.element_base(child, base) if has_base else base
            if kind == K_TITLE:
                titles += 1
                ctx["title"] = title_text(child, child_base, self.version)
            elif kind == K_LINK:
                self.link(child, child_base, ctx)
            elif kind == K_GUID:
                self.guid(child, child_base, ctx)
            elif kind == K_PUBLISHED:
                ctx["published"] = parse_date(finish(leaf_text(child)))
            elif kind == K_UPDATED:
                ctx["updated"] = parse_date(finish(leaf_text(child)))
            elif kind == K_SUMMARY:
                if len(child):
                    check_content_children(child)
                if "summary" not in ctx:
                    ctx["summary"] = finish(all_text(child))
            elif kind == K_OPAQUE:
                if len(child):
                    check_content_children(child)
            elif kind == K_AUTHOR:
                if "author" not in ctx:
                    ctx["author"] = " ".join("".join(child.itertext()).split())
                if len(child):
                    self.nested(child, name)
            elif kind == K_HARMLESS or name not in HANDLERS:
                if len(child):
                    self.nested(child, name)
            else:
                raise GiveUp(f"item element {name!r}")
        if titles != 1:
            self.check_titles(item, titles)
        raw = RawItem(
            title=ctx.get("title"),
            link=ctx.get("link"),
            guid=ctx.get("id"),
            published=ctx.get("published"),
            updated=ctx.get("updated"),
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
            raise GiveUp("several titles in one item")
        if any(self.name(e) in TITLE for e in elements(item.iterdescendants())):
            raise GiveUp("only a nested title")

    def nested(self, el: etree._Element, name: str) -> None:
        """Check what sits below a direct child of an item: nothing that changes our fields."""
        for child in el:
            if not isinstance(child.tag, str):
                continue
            child_name = self.name(child)
            if child_name in OPAQUE:
                check_content_children(child)
            elif child_name in LINK and name == "image":
                self.image_link(el, child)
            elif child_name in HARMLESS or child_name not in HANDLERS:
                self.nested(child, child_name)
            else:
                raise GiveUp(f"nested element {child_name!r}")

    def image_link(self, image: etree._Element, link: etree._Element) -> None:
        # Inside <image>, feedparser drops a text <link>, but only while no
        # other un-prefixed element has reset its "inimage" flag.
        if fp_attrs(link) or any(self.name(e) not in IMAGE_CHILDREN for e in elements(iter(image))):
            raise GiveUp("unusual <image> in an item")

    # the mirrored handlers

    def link(self, el: etree._Element, base: str, ctx: dict[str, Any]) -> None:
        if not el.keys():  # most links: no href, so the text is the link
            self.text_link(el, base, ctx)
            return
        attrs = fp_attrs(el)
        rel = attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs["href"] = href
        if "href" in attrs:
            if len(el):
                raise GiveUp("link with children")
            href = attrs["href"]
            if rel == "alternate" and _FPMixin.map_content_type(attrs["type"]) in HTML_TYPES:
                ctx["link"] = join_url(base or "", href)
                ctx["link_written"] = self.written(el, href, lambda b, v: join_url(b, v))
            return
        self.text_link(el, base, ctx)

    def text_link(self, el: etree._Element, base: str, ctx: dict[str, Any]) -> None:
        text = leaf_text(el)
        ctx["link"] = link_text(base, text)
        ctx["link_written"] = self.written(el, text, link_text)

    def guid(self, el: etree._Element, base: str, ctx: dict[str, Any]) -> None:
        is_link = not el.keys() or fp_attrs(el).get("ispermalink", "true") == "true"
        text = leaf_text(el)
        value = finish(join_url(base or "", text) if text and is_link else text)
        ctx["id"] = value
        # an id feedparser does not resolve needs no written form: it is one already
        ctx["id_written"] = self.written(el, text, guid_text) if is_link and text else None
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
