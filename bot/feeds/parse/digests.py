"""What the fast path hashes into an item's digest (bot/feeds/seen.py).

A digest must change with any change to what reading the item gives, and
should stay the same for an item written the same way. In a simple document
without xml:base (the only ones the fast path digests), reading an item
depends on its element and on the document's context: version, namespace
bindings, language and base URL, hashed once per document (`context`).

The element is hashed as the document writes it: the bytes from its start
tag to its end tag (`item_spans`), which is what lxml parsed it from. The
same bytes under the same bindings are the same element (no DOCTYPE, so no
entities or default attributes; the bytes are UTF-8 whatever the feed was
sent in). That is a quarter of the cost of serializing it again with
`etree.tostring`, which remains the way when the bytes cannot be told for
certain; the two kinds of digest never share a context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from lxml import etree  # type: ignore[import-untyped]

from bot.feeds.seen import item_hasher

__all__ = ["context_hasher", "item_spans"]


def context_hasher(
    salt: bytes,
    version: str,
    nsmap: Mapping[str | None, str],
    extra: Mapping[str, str] | None,
    lang: str | None,
    base: str,
) -> Any:
    """The hash of what all items read against `base` share; each item's own bytes
    go on a copy. `extra`: the bindings below the root (shape.py
    `only_root_bindings`) when items are hashed as written, None for `tostring`."""
    context: tuple[Any, ...] = (version, sorted(nsmap.items(), key=str), lang, base)
    if extra is not None:
        # the element's bytes name prefixes, so their namespaces are context too
        context = ("as written", *context, sorted(extra.items()))
    return item_hasher(salt, b"fast", repr(context).encode("utf-8", "surrogatepass"))


def item_spans(data: bytes, items: Sequence[etree._Element]) -> list[tuple[int, int]] | None:
    """Where each of `items` (in document order) is written in `data`: from its
    "<" to the end of its end tag's name, or to the next item when there is no
    end tag. None when that cannot be told for certain.

    Each item must be written "<name" with no prefix, so every one of them is
    among the places where "<name" starts a tag in `data`. When there are
    exactly as many such places as items, no other text (a comment, CDATA)
    looks like one of them, and the places are the items, in order. When items
    do not nest (the fast path gives up on that, and so does this), each one's
    end tag lies before the next one's start: the last "</name" before it ends
    it, or ends after it (text after the end tag is hashed too: harmless, and
    rare); an item with no end tag there is empty ("<item/>").
    """
    if not items:
        return []
    tag = items[0].tag
    if any(item.tag != tag or item.prefix is not None for item in items):
        return None
    name = tag[tag.find("}") + 1 :].encode()
    pattern = _STARTS.get(name)
    if pattern is None:
        return None
    starts = [m.start() for m in pattern.finditer(data)]
    if len(starts) != len(items):
        return None
    close = b"</" + name
    starts.append(len(data))
    spans = []
    rfind = data.rfind
    for (at, following), item in zip(pairwise(starts), items, strict=True):
        end = rfind(close, at, following)
        if end < 0 and (len(item) or item.text):
            return None  # an end tag after the next item's start: items nest
        spans.append((at, following if end < 0 else end + len(close)))
    return spans


#: item name (rules.ITEM) -> where it starts a tag: "<item" and whitespace, ">" or "/>"
_STARTS = {name: re.compile(rb"<" + name + rb"[ \t\r\n/>]") for name in (b"item", b"entry")}
