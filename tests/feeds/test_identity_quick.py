"""is_relative's shortcut for http(s) references gives the scheme regex's answer."""

from __future__ import annotations

import pytest

from bot.feeds import identity
from bot.feeds.identity import is_relative

REFS = [
    "http://a.example/x", "https://a.example/x", "http:x", "https:", "http", "https//a",
    "HTTP://a.example/", "httpx://a", "http+x:y", "tag:a,2026:1", "urn:x", "42", "/a/b",
    "?p=1", "//host/x", "", " http://a", "1http:", "h:", "ht tp:",
]  # fmt: skip


@pytest.mark.parametrize("ref", REFS)
def test_is_relative_is_the_scheme_rule(ref: str) -> None:
    assert is_relative(ref) == (identity._SCHEME.match(ref) is None)
