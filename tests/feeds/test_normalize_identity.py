"""normalize's key for items whose identity the document writes as a relative reference."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.feeds.identity import ParsedItem
from bot.feeds.normalize import normalize_item
from bot.types import RawItem

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
URL = "https://feeds.example.com/a/feed.xml"


def key(raw: RawItem) -> str:
    item = normalize_item(raw, feed_url=URL, now=NOW)
    assert item is not None
    return item.key


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # a relative guid: the written form, untouched (ids are opaque)
        (
            ParsedItem(title="t", guid="https://feeds.example.com/42", relative_ref="/42?x=1#f"),
            "/42?x=1#f",
        ),
        # no guid: a relative link drops fragment and tracking parameters like any link
        (
            ParsedItem(
                title="t",
                link="https://h/a?id=1&utm_source=x",
                relative_ref="/a?utm_source=x&id=1#c",
            ),
            "/a?id=1",
        ),
        # nothing left of the written link: the resolved, canonical link
        (ParsedItem(title="t", link="https://h/a#top", relative_ref="#top"), "https://h/a"),
        # a plain RawItem (built in code, or an absolute identity): the keys they always had
        (RawItem(title="t", guid="https://h/1", link="https://h/2"), "https://h/1"),
        (RawItem(title="t", link="https://h/2?utm_medium=rss"), "https://h/2"),
    ],
)
def test_written_keys(raw: RawItem, expected: str) -> None:
    assert key(raw) == expected


def test_the_link_shown_is_still_resolved_against_the_feed() -> None:
    raw = ParsedItem(title="t", link="https://feeds.example.com/a/story", relative_ref="/story")
    item = normalize_item(raw, feed_url=URL, now=NOW)
    assert item is not None
    assert (item.key, item.link) == ("/story", "https://feeds.example.com/a/story")
