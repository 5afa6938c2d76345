"""OPML import and export."""

from __future__ import annotations

import pytest

from bot.errors import ParseError
from bot.feeds.opml import OutlineFeed, read_opml, write_opml

NESTED = b"""<?xml version="1.0"?>
<opml version="1.0"><head><title>Desk</title></head><body>
  <outline text="Ukraine">
    <outline text="Kyiv Desk" type="rss" xmlUrl="https://kyiv.example/rss"/>
    <outline text="Lviv Desk" title="Lviv" type="rss" xmlUrl=" https://lviv.example/feed "/>
  </outline>
  <outline text="Dup" xmlUrl="https://kyiv.example/rss"/>
  <outline text="A folder with no feeds"/>
</body></opml>"""


def test_nested_outlines_are_read_once_each() -> None:
    assert read_opml(NESTED) == [
        OutlineFeed("https://kyiv.example/rss", "Kyiv Desk"),
        OutlineFeed("https://lviv.example/feed", "Lviv"),
    ]


def test_round_trip() -> None:
    feeds = [
        OutlineFeed("https://a.example/rss", "A & B <desk>"),
        OutlineFeed("https://b.example/"),
    ]
    assert read_opml(write_opml(feeds)) == [
        feeds[0],
        OutlineFeed("https://b.example/", "https://b.example/"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html><body>hi</body></html>", "root element is <html>"),
        (b"<opml><body><outline", "not an OPML file"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><opml/>', "DOCTYPE is refused"),
    ],
)
def test_bad_opml_is_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        read_opml(data)
