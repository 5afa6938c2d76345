"""The fast path's reading of one item: feedparser's entry handlers, mirrored.

The loop runs once per child of every item read, so it avoids what costs there:
one dict lookup per child gives its kind (the shape caches it by tag), the
fields live in local variables rather than a dict, the common cases (a text
<link>, a plain <guid>, an ASCII title) are handled inline, and the `RawItem`
is filled through its slots (see `new_raw_item`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from feedparser.mixin import _FeedParserMixin as _FPMixin
from lxml import etree  # type: ignore[import-untyped]

from bot.feeds.identity import PLACEHOLDER_BASE, is_relative, with_relative_ref
from bot.feeds.parse.dates import parse_date
from bot.feeds.parse.rules import (
    HANDLERS,
    HARMLESS,
    HTML_TYPES,
    IMAGE_CHILDREN,
    K_AUTHOR,
    K_GUID,
    K_HARMLESS,
    K_LINK,
    K_OPAQUE,
    K_PUBLISHED,
    K_SUMMARY,
    K_TITLE,
    K_UPDATED,
    LINK,
    OPAQUE,
    RDF_ABOUT,
    TITLE,
    GiveUp,
    kind_of,
)
from bot.feeds.parse.urls import join_url, kept_as_is, plain_absolute_under
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
from bot.types import RawItem, slot_setters

__all__ = ["ItemReader", "new_raw_item"]

#: links and ids that start so are absolute: they have no written form (identity.py)
_ABSOLUTE = ("http:", "https:")


class ItemReader:
    """The item-reading half of `_FastDoc` (fast.py); raises GiveUp on doubt."""

    simple: bool
    has_base_attr: bool
    version: str
    #: tag -> kind (rules.KINDS), shared by documents of one shape; used when `simple`
    kinds: dict[str, int]

    def name(self, el: etree._Element) -> str:
        raise NotImplementedError

    def element_base(self, el: etree._Element, parent: str) -> str:
        raise NotImplementedError

    def kind(self, el: etree._Element) -> int:
        """The kind of a child of an item, cached by tag when tags fix names."""
        kind = kind_of(self.name(el))
        if self.simple:
            self.kinds[el.tag] = kind
        return kind

    def item(self, item: etree._Element, base: str) -> RawItem:
        title = link = link_written = guid = guid_written = None
        published = updated = summary = author = None
        if item.keys():
            attrs = fp_attrs(item)
            if "lastmod" in attrs or "href" in attrs:
                raise GiveUp("CDF attributes on an item")
            # never resolved: its own identity, wherever the feed lives
            guid = item.get(RDF_ABOUT) or None
        titles = 0
        # outside a simple document every child's binding is checked (`name`): no cache
        kinds_get = self.kinds.get if self.simple else _NO_KINDS.get
        has_base, version = self.has_base_attr, self.version
        # absolute URLs that need no joining (urls.kept_as_is), when all children share `base`
        kept = None if has_base else plain_absolute_under(base)
        for child in item:
            tag = child.tag
            kind = kinds_get(tag)
            if kind is None:
                if not isinstance(tag, str):
                    continue  # comments and processing instructions
                kind = self.kind(child)
            child_base = self.element_base(child, base) if has_base else base
            if kind == K_TITLE:
                titles += 1
                title = _title(child, child_base, version)
            elif kind == K_LINK:
                if kept is not None and not child.keys() and not len(child):
                    text = (child.text or "").strip()
                    if kept(text) is not None:  # what text_link would give
                        link, link_written = text, None
                        continue
                found = (
                    self.link(child, child_base)
                    if child.keys()
                    else self.text_link(child, child_base)
                )
                if found is not None:
                    link, link_written = found
            elif kind == K_GUID:
                guid, guid_written, is_link = self.guid(child, child_base)
                if is_link and link is None:
                    link, link_written = guid, guid_written
            elif kind == K_PUBLISHED:
                published = _date(child)
            elif kind == K_UPDATED:
                updated = _date(child)
            elif kind == K_SUMMARY:
                if not len(child):
                    if summary is None:
                        text = child.text or ""
                        summary = text if text.isascii() else finish(text)
                else:
                    check_content_children(child)
                    if summary is None:
                        summary = finish(all_text(child))
            elif kind == K_OPAQUE:
                if len(child):
                    check_content_children(child)
            elif kind == K_AUTHOR:
                if author is None:
                    author = " ".join("".join(child.itertext()).split())
                if len(child):
                    self.nested(child, self.name(child))
            elif kind == K_HARMLESS:
                if len(child):
                    self.nested(child, self.name(child))
            else:
                raise GiveUp(f"item element {self.name(child)!r}")
        if titles != 1:
            self.check_titles(item, titles)
        raw = new_raw_item(title, link, guid, published, updated, summary, author or None)
        # the identity normalize keys on: the guid, else the link (identity.py)
        written = guid_written if guid else link_written
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

    # the mirrored handlers: each gives the value and its written form (identity.py)

    def link(self, el: etree._Element, base: str) -> tuple[str, str | None] | None:
        """A <link>'s value, or None when feedparser would not take it as the entry's."""
        if not el.keys():
            return self.text_link(el, base)
        attrs = fp_attrs(el)
        rel = attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs["href"] = href
        if "href" not in attrs:
            return self.text_link(el, base)
        if len(el):
            raise GiveUp("link with children")
        href = attrs["href"]
        if rel == "alternate" and _FPMixin.map_content_type(attrs["type"]) in HTML_TYPES:
            written = None if href.startswith(_ABSOLUTE) else self.written(el, href, join_url)
            return join_url(base or "", href), written
        return None

    def text_link(self, el: etree._Element, base: str) -> tuple[str, str | None]:
        text = leaf_text(el)
        if kept_as_is(base, text):
            return text, None  # link_text would give it back as it is
        written = None if text.startswith(_ABSOLUTE) else self.written(el, text, link_text)
        return link_text(base, text), written

    def guid(self, el: etree._Element, base: str) -> tuple[str, str | None, bool]:
        """The id, its written form, and whether feedparser also takes it as the link."""
        attrs = el.items()
        if not attrs:
            is_link = True
        elif len(attrs) == 1 and attrs[0][0] == "isPermaLink":
            is_link = attrs[0][1] == "true"
        else:
            is_link = fp_attrs(el).get("ispermalink", "true") == "true"
        text = leaf_text(el)
        if not (text and is_link):
            return (text if text.isascii() else finish(text)), None, is_link
        if kept_as_is(base, text):
            return text, None, True  # guid_text would give it back as it is
        value = finish(join_url(base or "", text))
        # an id feedparser does not resolve needs no written form: it is one already
        written = None if text.startswith(_ABSOLUTE) else self.written(el, text, guid_text)
        return value, written, True

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


_NO_KINDS: dict[str, int] = {}


def _date(el: etree._Element) -> datetime | None:
    """`parse_date(finish(leaf_text(el)))`, `finish` only for non-ASCII text."""
    if len(el):
        raise GiveUp("markup or comments inside a text element")
    text = (el.text or "").strip()
    if not text.isascii():
        text = finish(text)
    return parse_date(text)


def _title(el: etree._Element, base: str, version: str) -> str:
    """`title_text`, skipping its steps for a plain ASCII title without attributes."""
    if el.keys() or len(el):
        return title_text(el, base, version)
    text = (el.text or "").strip()
    if "<" in text or "&" in text or not text.isascii():
        return title_text(el, base, version)
    return text


_FIELDS = ("title", "link", "guid", "published", "updated", "summary", "author")
_SETTERS = slot_setters(RawItem, _FIELDS)


def new_raw_item(
    title: str | None,
    link: str | None,
    guid: str | None,
    published: Any,
    updated: Any,
    summary: str | None,
    author: str | None,
) -> RawItem:
    """`RawItem(title, link, ...)`, a third of the cost: a frozen dataclass's
    __init__ stores each field through `object.__setattr__`; here the slots are set
    directly (tests/feeds/test_parse_fast_shortcuts.py compares both)."""
    if _SETTERS is None:
        return RawItem(title, link, guid, published, updated, summary, author)
    s_title, s_link, s_guid, s_published, s_updated, s_summary, s_author = _SETTERS
    raw = _new(RawItem)
    s_title(raw, title)
    s_link(raw, link)
    s_guid(raw, guid)
    s_published(raw, published)
    s_updated(raw, updated)
    s_summary(raw, summary)
    s_author(raw, author)
    return raw


_new = object.__new__
