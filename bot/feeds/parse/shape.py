"""What follows from a root element's namespace declarations alone.

Documents from one publisher share their declarations, so a `Shape` (handler
names by tag, prefix mapping, version, entry tags) is computed once and shared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.feeds.parse.rules import ITEM, MATCH_NS, STD_PREFIXES, VERSION_NS, norm_ns

__all__ = ["Shape", "only_root_bindings", "shape_for"]

XMLNS_DECL = re.compile(rb"""xmlns(?::([^\s=/>]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")

_SHAPES: dict[tuple[tuple[str, str], ...], Shape] = {}
_SHAPES_MAX = 512


class Shape:
    """What follows from a root's namespace declarations alone; shared by documents."""

    def __init__(self, nsmap: Mapping[str | None, str]) -> None:
        #: handler names by tag (filled as tags are met)
        self.names: dict[str, str] = {}
        #: what an item's child is to the item loop, by tag (rules.kind_of; filled as met)
        self.kinds: dict[str, int] = {}
        #: feedparser's `namespacemap`: document prefix -> standard prefix
        self.prefix_map: dict[str, str] = {}
        self.ambiguous = False
        self.bindings = {(prefix or "", uri) for prefix, uri in nsmap.items()}
        self.prefixes = {prefix or "" for prefix in nsmap}
        uris: set[str] = set()
        for prefix, uri in nsmap.items():
            low = norm_ns(uri)
            self.ambiguous |= low in uris  # one namespace under two prefixes
            uris.add(low)
            if prefix and low in MATCH_NS:
                self.prefix_map[prefix] = MATCH_NS[low]
        # the versions feedparser's track_namespace would take from these declarations
        self.versions = {
            version
            for prefix, uri in nsmap.items()
            if (version := VERSION_NS.get(uri.lower(), ""))
            and (version != "rss090" or prefix is None)  # RSS 0.90 only as the default
        }
        # item/entry in a base namespace, or in an unknown default namespace, are entries
        entry_uris = {""} | {
            uri
            for prefix, uri in nsmap.items()
            if MATCH_NS.get(norm_ns(uri)) == ""
            or (MATCH_NS.get(norm_ns(uri)) is None and prefix is None)
        }
        self.item_tags = [
            f"{{{uri}}}{local}" if uri else local for uri in sorted(entry_uris) for local in ITEM
        ]


def shape_for(nsmap: Mapping[str | None, str]) -> Shape:
    key = tuple(sorted((prefix or "", uri) for prefix, uri in nsmap.items()))
    shape = _SHAPES.get(key)
    if shape is None:
        if len(_SHAPES) >= _SHAPES_MAX:
            _SHAPES.clear()  # many unusual feeds: start over rather than grow without bound
        shape = _SHAPES[key] = Shape(nsmap)
    return shape


def only_root_bindings(shape: Shape, data: bytes) -> dict[str, str] | None:
    """The declarations beyond the root's (prefix -> namespace) when an element's
    tag alone fixes its feedparser handler name; None when it may not.

    That holds when every namespace declaration in the text is either one
    of the root's, or binds a namespace feedparser knows under a fresh
    prefix (feedburner's `<atom10:link xmlns:atom10=...>`). Text that only
    looks like a declaration can merely make this None (the checked walk), or
    add a binding no element uses. Each prefix has one namespace in the whole
    text: the root's, or the one these declarations give it.
    """
    root, root_prefixes = shape.bindings, shape.prefixes
    extra: dict[str, str] = {}
    for match in XMLNS_DECL.finditer(data):
        raw_prefix, dq, sq = match.groups()
        try:
            prefix = (raw_prefix or b"").decode()
            uri = (dq if dq is not None else sq).decode()
        except UnicodeDecodeError:
            return None
        if (prefix, uri) in root:
            continue
        std = MATCH_NS.get(norm_ns(uri))
        if not prefix or std is None or prefix in root_prefixes:
            return None
        # feedparser maps this prefix to `std` from here on: harmless unless
        # it is some other namespace's standard prefix
        if (prefix in STD_PREFIXES and prefix != std) or extra.setdefault(prefix, uri) != uri:
            return None
    return extra
