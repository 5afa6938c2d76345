"""Item keys do not depend on where a feed lives (bot/feeds/identity.py).

A feed that moves (301) or is served through a redirect resolves its relative
guids and links against another URL; the keys normalize builds must not change,
on the fast path and on feedparser's alike.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ParseError
from bot.feeds.identity import ParsedItem, is_relative
from bot.feeds.normalize import normalize_item
from bot.feeds.parse import parse_fast, parse_feed, parse_with_feedparser
from bot.feeds.parse_pool import ParserPool
from bot.types import ParsedFeed
from tests.feeds.test_parse import DATA, FEED_URL, _documents, _fixture_files, _load, _mutate

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
#: the same document after a move to another host, scheme and directory
MOVED_URL = "http://www.moved.example.org/v2/rss/feed.xml"


def _refs(feed: ParsedFeed) -> list[str | None]:
    return [i.relative_ref if isinstance(i, ParsedItem) else None for i in feed.items]


def _keys(body: bytes, headers: dict[str, str], url: str) -> list[str]:
    items = (
        normalize_item(raw, feed_url=url, now=NOW) for raw in parse_feed(body, headers, url).items
    )
    return [item.key for item in items if item is not None]


def _all_documents() -> list[Any]:
    json_docs = [pytest.param(DATA / n, id=f"fixture:{n}") for n in ("json10.json", "json11.json")]
    return [*_documents(), *json_docs]


@pytest.mark.parametrize("path", _all_documents())
def test_keys_are_the_same_wherever_the_document_is_served(path: Path | None) -> None:
    assert path is not None
    body, headers = _load(path)
    headers = {k: v for k, v in headers.items() if k != "content-location"}
    try:
        before = _keys(body, headers, FEED_URL)
    except ParseError:
        pytest.skip("not a feed")
    assert _keys(body, headers, MOVED_URL) == before


def test_relative_guids_and_links_are_keyed_as_written() -> None:
    body, headers = _load(DATA / "relative_links.xml")
    feed = parse_feed(body, headers, FEED_URL)
    assert _refs(feed) == [
        "/news/9001",  # a relative permalink guid
        None,  # isPermaLink="false": never resolved, so its own key already
        "/story/9003",
        "/news?id=9004&lang=en",  # no guid: the link, as written
    ]
    # what readers see is still resolved like feedparser does
    assert feed.items[2].link == "https://rel.example.com/feeds/story/9003"
    assert _keys(body, headers, FEED_URL) == [
        "/news/9001",
        "rel-9002",
        "/story/9003",
        "/news?id=9004&lang=en",
    ]


def test_absolute_identities_keep_their_keys() -> None:
    body, _ = _load(DATA / "guid_permalink.xml")
    assert _refs(parse_feed(body, {}, FEED_URL)) == [None, None, None, None]
    assert _keys(body, {}, FEED_URL) == [
        "https://news.example.com/p/1",
        "p-2",
        "https://news.example.com/p/3-guid",
        "p-4",
    ]


_DOC = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"{root}><channel><title>t</title>'
    "{items}</channel></rss>"
)


@pytest.mark.parametrize(
    ("root", "items", "expected"),
    [
        ("", "<item><title>a</title><guid>42</guid></item>", ["/42"]),
        ("", "<item><title>a</title><guid>../up/42</guid></item>", ["/up/42"]),
        ("", "<item><title>a</title><guid>tag:x,2026:42</guid></item>", ["tag:x,2026:42"]),
        (
            "",
            "<item><title>a</title><link>/a?utm_source=rss&amp;id=1#top</link></item>",
            ["/a?id=1"],
        ),
        # an absolute xml:base decides alone: the URL no longer matters, nor does the key change
        (
            ' xml:base="https://base.example/b/"',
            "<item><title>a</title><guid>42</guid></item>",
            ["https://base.example/b/42"],
        ),
        # a relative xml:base is part of the document: it is kept in the key
        (
            ' xml:base="/blog/"',
            "<item><title>a</title><guid>42</guid></item><item><title>b</title><guid>7</guid></item>",
            ["/blog/42", "/blog/7"],
        ),
    ],
)
def test_written_keys(root: str, items: str, expected: list[str]) -> None:
    body = _DOC.format(root=root, items=items).encode()
    assert _keys(body, {}, FEED_URL) == expected
    assert _keys(body, {}, MOVED_URL) == expected
    fast = parse_fast(body, {}, FEED_URL)
    assert fast is None or _refs(fast) == _refs(parse_with_feedparser(body, {}, FEED_URL))


def test_an_item_level_xml_base_does_not_leak_into_later_items() -> None:
    items = (
        '<item xml:base="https://mirror.example/"><title>a</title><guid>1</guid></item>'
        "<item><title>b</title><guid>2</guid></item>"
    )
    body = _DOC.format(root="", items=items).encode()
    # feedparser, started without a base, would resolve "2" against the mirror
    assert _keys(body, {}, FEED_URL) == ["https://mirror.example/1", "/2"]
    assert _refs(parse_with_feedparser(body, {}, FEED_URL)) == [None, "/2"]


def test_a_broken_feed_gets_the_same_keys_on_feedparser() -> None:
    items = "<item><title>a &amp b</title><guid>42</guid></item>"  # unescaped "&": not XML
    body = _DOC.format(root="", items=items).encode()
    assert parse_fast(body, {}, FEED_URL) is None
    assert _keys(body, {}, FEED_URL) == _keys(body, {}, MOVED_URL) == ["/42"]


def test_json_feed_ids_are_keys_and_idless_items_use_the_written_url() -> None:
    items = [
        {"id": "7", "url": "a/7"},
        {"url": "/b?utm_medium=x"},
        {"url": "https://abs.example/c"},
    ]
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items}).encode()
    assert _keys(body, {}, FEED_URL) == ["7", "/b", "https://abs.example/c"]
    assert _keys(body, {}, MOVED_URL) == ["7", "/b", "https://abs.example/c"]


@pytest.mark.parametrize("path", [p for p in _fixture_files()], ids=lambda p: p.name)
def test_fast_path_and_feedparser_agree_on_written_references(path: Path) -> None:
    body, headers = _load(path)
    fast = parse_fast(body, headers, FEED_URL)
    if fast is None:
        pytest.skip("the fast path defers this document to feedparser")
    assert _refs(fast) == _refs(parse_with_feedparser(body, headers, FEED_URL))


def test_mutated_feeds_never_make_the_written_references_disagree() -> None:
    from lxml import etree  # type: ignore[import-untyped]

    roots = []
    for path in _fixture_files():
        try:
            roots.append(etree.fromstring(path.read_bytes()))
        except etree.XMLSyntaxError:
            continue  # the broken fixtures
    rng = random.Random(20261127)
    answered = 0
    for _ in range(400):
        root = copy.deepcopy(rng.choice(roots))
        items = list(root.iter("{*}item", "{*}entry", "item", "entry"))
        if not items:
            continue
        for _ in range(rng.randint(1, 3)):
            _mutate(rng, rng.choice(items))
        body = etree.tostring(root, xml_declaration=True, encoding="utf-8")
        fast = parse_fast(body, {}, FEED_URL)
        if fast is None:
            continue
        answered += 1
        assert _refs(fast) == _refs(parse_with_feedparser(body, {}, FEED_URL)), body.decode()
    assert answered > 50


async def test_written_references_cross_the_process_boundary() -> None:
    body, headers = _load(DATA / "relative_links.xml")
    async with ParserPool(workers=1, inline_below=0) as pool:
        feed = await pool.parse(body, headers, FEED_URL)
    assert feed == parse_feed(body, headers, FEED_URL)
    assert "/story/9003" in _refs(feed)


@pytest.mark.parametrize(
    ("ref", "relative"),
    [
        *[("42", True), ("/a", True), ("?p=1", True), ("//h/x", True), ("", True)],
        *[("tag:x", False), ("urn:a", False), ("https://x", False), ("HTTP://x", False)],
    ],
)
def test_is_relative(ref: str, relative: bool) -> None:
    assert is_relative(ref) is relative
