"""The fast path's shortcuts give what the plain steps they skip would give.

- `new_raw_item` fills a RawItem's slots directly: equal to `RawItem(...)`;
- `kept_as_is` (urls.py) says a URL needs no joining: feedparser's urljoin and
  the text-link unescaping give it back unchanged;
- `item_spans` (digests.py) finds each item's bytes: they parse to the item,
  and any doubt (look-alike text, prefixed items) gives None;
- digests over those bytes change with any change to an item or to the
  bindings its prefixes use, and not with an item's position.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
from feedparser.urls import _urljoin as fp_urljoin
from lxml import etree

from bot.feeds.parse import items as items_module
from bot.feeds.parse import parse_feed
from bot.feeds.parse.digests import item_spans
from bot.feeds.parse.encoding import convert_to_utf8
from bot.feeds.parse.items import new_raw_item
from bot.feeds.parse.shape import shape_for
from bot.feeds.parse.sniff import feedparser_headers
from bot.feeds.parse.urls import _PLAIN_ABSOLUTE, kept_as_is
from bot.feeds.parse.values import guid_text, link_text
from bot.feeds.seen import SeenItems
from bot.types import RawItem

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "feeds"
URL = "https://feeds.example.org/news/feed.xml"


# --- RawItem through its slots ------------------------------------------------------------------


def test_new_raw_item_is_the_constructed_item() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert items_module._SETTERS is not None, "RawItem changed: new_raw_item is the constructor"
    for values in [
        ("t", "https://a/1", "g", when, None, "<p>s</p>", "Ann"),
        (None, None, None, None, None, None, None),
        ("", "", "", None, when, "", None),
    ]:
        made = new_raw_item(*values)
        assert type(made) is RawItem
        assert made == RawItem(*values)
        assert hash(made) == hash(RawItem(*values))
        with pytest.raises(AttributeError):
            made.title = "changed"  # type: ignore[misc]


# --- URLs kept as they are ------------------------------------------------------------------------


_SPECIALS = re.compile(r"[\x00-\x20;\[\]\\]")


def _plain_absolute_reference(uri: str) -> bool:
    """urls.py's former test, step by step."""
    if not uri.startswith(("http://", "https://")):
        return False
    start = uri.index("//") + 2
    return (
        len(uri) > start
        and uri[start] not in "/?#"
        and uri.isascii()
        and not _SPECIALS.search(uri)
        and not uri.endswith(("?", "#"))
        and "?#" not in uri
    )


def _urls(count: int) -> list[str]:
    rng = random.Random(7)
    alphabet = "ab/?#;[]\\ \t\n\x7f\x00é:.&%=@!\"$<>^~`{|}Z09_-'"
    prefixes = ["http://", "https://", "http:/", "HTTP://", "https:///", "ftp://", "", "//"]
    found = [
        rng.choice(prefixes) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))
        for _ in range(count)
    ]
    for code in range(0x100):
        found += [f"http://a{chr(code)}b", f"http://a{chr(code)}", f"https://{chr(code)}x"]
    return found


def test_the_plain_absolute_pattern_is_the_step_by_step_test() -> None:
    urls = _urls(100_000)
    wrong = [u for u in urls if bool(_PLAIN_ABSOLUTE.match(u)) != _plain_absolute_reference(u)]
    assert wrong == []


@pytest.mark.parametrize("base", [URL, "http://example.com", "https://[::1]/x/", "file:///a/b"])
def test_a_url_kept_as_is_is_what_every_handler_gives(base: str) -> None:
    kept = [u for u in _urls(20_000) if kept_as_is(base, u)]
    assert len(kept) > 100
    for uri in kept:
        assert str(fp_urljoin(base, uri)) == uri
        assert link_text(base, uri) == uri
        assert guid_text(base, uri) == uri
    assert not kept_as_is("", "https://a.example/x")
    assert not kept_as_is("http://[bad", "https://a.example/x")  # urljoin cannot parse that base


# --- item spans -----------------------------------------------------------------------------------


def _tree(el: Any) -> Any:
    """An element as data: tag, attributes, text, children, each child's tail."""
    children = [(_tree(c), c.tail) for c in el]
    return (el.tag, sorted(el.attrib.items()), el.text, children)


def _documents() -> list[Path]:
    paths = sorted(p for p in DATA.iterdir() if p.suffix in (".xml", ".rdf"))
    if SHARED.is_dir():
        paths += sorted(p for p in SHARED.iterdir() if p.suffix in (".xml", ".rss", ".rdf"))
    return paths


def _utf8(body: bytes) -> bytes | None:
    result: dict[str, Any] = {}
    data = convert_to_utf8(feedparser_headers({}, URL), body, result)
    return data if result.get("encoding") and b"<!DOCTYPE" not in data else None


def _check_spans(data: bytes) -> bool:
    """Whether `item_spans` gave spans; when it did, each holds exactly its item."""
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError:
        return False
    items = list(root.iter(*shape_for(root.nsmap).item_tags))
    spans = item_spans(data, items)
    if spans is None:
        return False
    declarations = b" ".join(
        b'xmlns%s="%s"' % (b":" + p.encode() if p else b"", uri.encode())
        for p, uri in root.nsmap.items()
    )
    for (start, end), item in zip(spans, items, strict=True):
        close = b"</" + etree.QName(item).localname.encode()
        if data[start:end].endswith(close):
            closed = data.index(b">", end) + 1
        else:  # a self-closing item: its span runs on to the next item
            closed = data.index(b"/>", start) + 2
            assert closed <= end
        wrapped = b"<wrap " + declarations + b">" + data[start:closed] + b"</wrap>"
        assert _tree(etree.fromstring(wrapped)[0]) == _tree(item)
    return True


def test_item_spans_hold_exactly_their_items() -> None:
    taken = 0
    for path in _documents():
        data = _utf8(path.read_bytes())
        if data is not None:
            taken += _check_spans(data)
    assert taken >= 15


RSS = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<rss version="2.0"{ns}><channel{chan}><title>T</title>'
    b"<link>https://example.org/</link>{items}</channel></rss>"
)


def _rss(items: list[bytes], ns: bytes = b"", chan: bytes = b"") -> bytes:
    return RSS.replace(b"{ns}", ns).replace(b"{chan}", chan).replace(b"{items}", b"".join(items))


def _item(n: int, extra: bytes = b"") -> bytes:
    return (
        b"<item><title>Story %d</title><link>https://example.org/%d</link>"
        b"<guid>https://example.org/%d</guid>%s"
        b"<description><![CDATA[<p>Body %d</p>]]></description></item>" % (n, n, n, extra, n)
    )


def test_item_spans_of_plain_and_self_closing_items() -> None:
    assert _check_spans(_rss([_item(1), _item(2), _item(3)]))
    assert _check_spans(_rss([_item(1), b"<item/>", b"<item  />", _item(2), b"<item\n/>"]))
    assert _check_spans(_rss([b"<item ><title>a</title></item >", _item(2)]))


@pytest.mark.parametrize(
    "doc",
    [
        # look-alike text: a start tag in CDATA, a comment, a processing instruction
        _rss([_item(1, b"<description><![CDATA[<item>]]></description>"), _item(2)]),
        _rss([_item(1), b"<!-- <item> -->", _item(2)]),
        _rss([_item(1), b"<?pi <item ?>", _item(2)]),
        # an item inside an item: the outer one's end tag comes after the inner one's start
        _rss([b"<item><title>a</title>" + _item(2) + b"</item>"]),
        # an item written with a prefix is not found by its plain name
        _rss(
            [_item(1), b"<r:item><title>x</title></r:item>"],
            ns=b' xmlns="http://backend.userland.com/rss2" xmlns:r="http://backend.userland.com/rss2"',
        ),
    ],
)
def test_item_spans_step_aside_on_doubt(doc: bytes) -> None:
    root = etree.fromstring(doc)
    items = list(root.iter(*shape_for(root.nsmap).item_tags))
    assert len(items) >= 2
    assert item_spans(doc, items) is None


def test_items_that_look_alike_elsewhere_keep_their_digests_exact() -> None:
    # doubt falls back to serialized items: still digests, and the same items
    doc = _rss([_item(1), b"<!-- <item> -->", _item(2)])
    parsed = parse_feed(doc, {}, URL, seen=SeenItems.load(None, URL, None))
    assert parsed.digests is not None and len(parsed.digests) == 2
    assert [i.title for i in parsed.items] == ["Story 1", "Story 2"]
    # serialized, not as written: the two kinds never share a digest
    assert parsed.digests != _digests(_rss([_item(1), _item(2)]))


# --- digests ------------------------------------------------------------------------------------


def _digests(doc: bytes) -> tuple[bytes, ...] | None:
    try:
        parsed = parse_feed(doc, {}, URL, seen=SeenItems.load(None, URL, None))
    except Exception:
        return None
    return parsed.digests


def test_a_digest_follows_its_item_not_its_position() -> None:
    a, b, c = _digests(_rss([_item(1), _item(2), _item(3)]))
    assert _digests(_rss([_item(3), _item(1), b"\n  ", _item(2)])) == (c, a, b)
    assert _digests(_rss([_item(2)])) == (b,)


def test_every_change_to_an_item_changes_its_digest() -> None:
    items = [_item(1), _item(2)]
    before = _digests(_rss(items))
    first = items[0]
    changed = {
        first[:at] + first[at + 1 :]
        for at in range(len(first))
        if first[at : at + 1] not in b"<>/![]"  # keep it well-formed
    }
    changed |= {first.replace(b"Story", b"Storm"), first.replace(b"<item>", b'<item a="1">')}
    assert before is not None
    tested = 0
    for version in changed:
        after = _digests(_rss([version, items[1]]))
        if after is None:
            continue  # not a document any more, or not the fast path's
        assert after[0] != before[0], version
        assert after[1] == before[1]
        tested += 1
    assert tested > 50


def test_a_binding_below_the_root_is_part_of_every_digest() -> None:
    item = _item(1, b"<a10:updated>2026-11-27T09:00:00Z</a10:updated>")
    atom = b' xmlns:a10="http://www.w3.org/2005/Atom"'
    dc = b' xmlns:a10="http://purl.org/dc/elements/1.1/"'
    as_atom = parse_feed(_rss([item], chan=atom), {}, URL, seen=SeenItems.load(None, URL, None))
    as_dc = parse_feed(_rss([item], chan=dc), {}, URL, seen=SeenItems.load(None, URL, None))
    assert as_atom.items[0].updated is not None and as_dc.items[0].updated is None
    assert as_atom.digests is not None and as_dc.digests is not None
    assert as_atom.digests != as_dc.digests


# --- xml:base written with spaces -----------------------------------------------------------------


@pytest.mark.parametrize("equals", [b"=", b" = ", b"\n=\t"])
def test_an_xml_base_is_seen_however_its_equals_sign_is_spaced(equals: bytes) -> None:
    from bot.feeds.parse import parse_fast, parse_with_feedparser

    item = b'<item xml:base%shttp://other.example/dir/"><title>a</title><link>rel/1</link>' % (
        equals + b'"'
    )
    doc = _rss([item + b"<guid>g/2</guid></item>"])
    fast = parse_fast(doc, {}, URL, seen=SeenItems.load(None, URL, None))
    reference = parse_with_feedparser(doc, {}, URL)
    assert fast is not None and fast.digests is None  # an xml:base: no digests
    assert [(i.link, i.guid) for i in fast.items] == [(i.link, i.guid) for i in reference.items]
    assert fast.items[0].link == "http://other.example/dir/rel/1"
