"""`parse_address` is cached: asked again, it answers what the uncached parse does."""

from __future__ import annotations

import pytest

from bot.errors import BlockedAddressError
from bot.feeds.guard import check_url, parse_address

SPELLINGS = [
    "feeds.example.org",
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "[::ffff:127.0.0.1]",
    "::1",
    "8.8.8.8",
    "8.8.8.8.",
    " 1.2.3.4 ",
    "256.1.1.1",
    "0x",
    "deadbeef",
    "cafe.example",
    "2001:db8::1",
    "localhost",
    "",
]


@pytest.mark.parametrize("text", SPELLINGS)
def test_the_cached_parse_answers_as_the_uncached(text: str) -> None:
    expected = parse_address.__wrapped__(text)
    for _ in range(3):  # the first call fills the cache, the later ones read it
        assert parse_address(text) == expected


def test_a_cached_name_is_still_checked_on_every_call() -> None:
    url = "http://0x7f.0.0.1/feed.xml"
    for _ in range(3):
        with pytest.raises(BlockedAddressError, match="private address"):
            check_url(url)
    check_url(url, ["127.0.0.1"])  # allowed by address, through the cached parse
