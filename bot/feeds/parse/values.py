"""feedparser's treatment of element text and attributes, mirrored value by value."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import feedparser
from feedparser.html import _cp1252 as _FP_CP1252
from feedparser.mixin import _FeedParserMixin as _FPMixin
from feedparser.sanitizer import _sanitize_html as _fp_sanitize_html
from feedparser.urls import resolve_relative_uris as _fp_resolve_relative_uris
from lxml import etree  # type: ignore[import-untyped]

from bot.feeds.parse.rules import MATCH_NS, GiveUp
from bot.feeds.parse.urls import join_url

__all__ = ["all_text", "check_content_children", "elements", "finish", "fp_attrs", "guid_text"]
__all__ += ["leaf_text", "link_text", "title_text"]

AMP_REF = re.compile("&([A-Za-z0-9_]+);")
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_BEYOND_LATIN1 = re.compile("[^\x00-\xff]")


def elements(it: Any) -> Any:
    return (e for e in it if isinstance(e.tag, str))


def fp_attrs(el: etree._Element) -> dict[str, str]:
    """Attributes keyed as feedparser keys them (lower-case; rel/type values lower-cased)."""
    attrs: dict[str, str] = {}
    for key, value in el.items():  # the attributes, without building an `attrib` view
        if key.startswith("{"):
            uri, local = key[1:].split("}", 1)
            prefix = MATCH_NS.get(uri.lower(), "")
            key = f"{prefix}:{local}" if prefix else local
        key = key.lower()
        attrs[key] = value.lower() if key in ("rel", "type") and value else value
    return attrs


def check_content_children(el: etree._Element) -> None:
    # Child elements of content are markup to feedparser only while the content
    # type is not some other XML type; then it would dispatch them as elements.
    if len(el) and any(isinstance(c.tag, str) for c in el):
        declared = _FPMixin.map_content_type(fp_attrs(el).get("type", "text/html"))
        if declared.endswith("xml") and declared != "application/xhtml+xml":
            raise GiveUp("XML-typed content with child elements")


def link_text(base: str, text: str) -> str:
    """feedparser's text <link>: resolved, finished, and `&amp;` unescaped once."""
    if text:
        text = join_url(base or "", text)
    text = finish(text)
    if "&" in text:
        text = AMP_REF.sub(r"&\g<1>", text.replace("&amp;", "&"))
    return text


def guid_text(base: str, text: str) -> str:
    """feedparser's permalink guid: resolved and finished."""
    return finish(join_url(base or "", text))


def leaf_text(el: etree._Element) -> str:
    """The stripped text of an element that must hold text only."""
    if len(el):
        raise GiveUp("markup or comments inside a text element")
    return (el.text or "").strip()


def all_text(el: etree._Element) -> str:
    """Text with any child markup kept as markup (summaries may be XHTML)."""
    if not len(el):
        return el.text or ""
    children = "".join(etree.tostring(c, encoding="unicode", with_tail=True) for c in el)
    return (el.text or "") + children


def finish(text: str) -> str:
    """feedparser's last touches on every text value (mixin.py `pop`)."""
    if text.isascii():
        return text  # neither step below can change ASCII
    if not _BEYOND_LATIN1.search(text):
        # it undoes UTF-8 read as Latin-1 ("Ã©" -> "é")
        with contextlib.suppress(UnicodeDecodeError):
            text = text.encode("iso-8859-1").decode("utf-8")
    # and maps C1 controls to the windows-1252 characters they were meant to be
    return text.translate(_FP_CP1252) if _C1_CONTROLS.search(text) else text


def title_text(el: etree._Element, base: str, version: str) -> str:
    """feedparser's title: text, or HTML it resolves and sanitizes (mixin.py `pop`)."""
    content_type = "text/plain"
    if el.keys():
        attrs = fp_attrs(el)
        if "mode" in attrs:
            raise GiveUp("Atom 0.3 content mode")
        content_type = _FPMixin.map_content_type(attrs.get("type", "text/plain"))
        if content_type not in ("text/plain", "text/html"):
            raise GiveUp(f"{content_type} title")
    text = leaf_text(el)
    if (
        content_type == "text/plain"
        and not version.startswith("atom")
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
    return finish(text)
