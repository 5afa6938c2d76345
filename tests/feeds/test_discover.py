"""Feed discovery from HTML pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.feeds.discover import find_feed_links

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"


def test_fixture_page_lists_rss_atom_and_json_once_each() -> None:
    html = (DATA / "html_page_alternate.html").read_bytes()
    assert find_feed_links(html, "https://other.example.com/") == (
        "https://site.example.org/news/feed.rss",  # relative to <base href>
        "https://site.example.org/atom.xml",
        "https://site.example.org/feed.json",
    )


CASES = {
    "relative to the page": (
        b'<html><head><link rel="alternate" type="application/rss+xml" href="rss.xml"></head>',
        ("https://site.example.org/blog/rss.xml",),
    ),
    "type with parameters and case": (
        b'<link REL="Alternate" TYPE="Application/Atom+XML; charset=utf-8" HREF="/a.atom">',
        ("https://site.example.org/a.atom",),
    ),
    "rel list containing alternate": (
        b'<link rel="home alternate" type="application/rss+xml" href="/r">',
        ("https://site.example.org/r",),
    ),
    "not alternate": (b'<link rel="stylesheet" type="application/rss+xml" href="/x">', ()),
    "not a feed type": (b'<link rel="alternate" type="text/html" href="/fr/">', ()),
    "no href": (b'<link rel="alternate" type="application/rss+xml">', ()),
    "non-http scheme dropped": (
        b'<link rel="alternate" type="application/rss+xml" href="file:///etc/passwd">',
        (),
    ),
    "empty document": (b"", ()),
    "not html at all": (b"\x00\x01\x02", ()),
    "broken html still read": (
        b"<html><head><link rel=alternate type=application/rss+xml href=/feed><body><p>unclosed",
        ("https://site.example.org/feed",),
    ),
}


@pytest.mark.parametrize(("html", "expected"), CASES.values(), ids=CASES.keys())
def test_find_feed_links(html: bytes, expected: tuple[str, ...]) -> None:
    assert find_feed_links(html, "https://site.example.org/blog/") == expected
