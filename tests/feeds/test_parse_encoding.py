"""The fast path's encoding step gives what feedparser's `convert_to_utf8` gives.

`bot.feeds.parse.encoding.convert_to_utf8` skips feedparser's work for the usual
document (an XML declaration, bytes that read as they are); these tests hold it
to feedparser's answer, bytes and complaint alike, on generated documents and
headers, on every fixture and real-world feed, and check that the quick route
is really taken, so a regression that always defers does not pass unseen.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from feedparser.encodings import RE_XML_PI_ENCODING
from feedparser.encodings import convert_to_utf8 as feedparser_convert

from bot.feeds.parse import encoding
from bot.feeds.parse.encoding import convert_to_utf8, declared_encoding
from tests.feeds.test_parse import HEADERS, _fixture_files, _shared_files

#: pieces of a document's start, chosen to hit the regex's corners: several
#: declarations, stray quotes and "?>", line breaks, non-ASCII and bad UTF-8
PIECES = [
    b"<?xml", b"<?", b" version='1.0'", b' encoding="utf-8"', b" encoding='UTF-8'",
    b' encoding="iso-8859-1"', b' encoding="gb2312"', b' encoding="utf-16"', b' encoding=""',
    b" encoding='x\"y'", b"encoding=", b'"', b"'", b"?>", b">", b"\n", b"\r\n", b"<rss>",
    b"</rss>", b"caf\xc3\xa9", b"\xe9", b"\xef\xbb\xbf", b"x", b" ", b"ascii", b"windows-1252",
]  # fmt: skip
HEADER_CHOICES: list[dict[str, str]] = [
    {},
    {"content-location": "https://feeds.example.com/feed.xml"},
    {"content-type": "application/rss+xml"},
    {"content-type": "application/xml; charset=iso-8859-1"},
    {"content-type": "application/atom+xml; charset=UTF-8"},
    {"content-type": "application/rss+xml; charset=bogus"},
    {"content-type": "application/rss+xml; charset=utf-16"},
    {"content-type": "text/xml"},
    {"content-type": "text/xml; charset=utf-8"},
    {"content-type": "text/html"},
]


DECLARED = [
    b"",
    b' encoding="utf-8"',
    b" encoding='UTF-8'",
    b' encoding="ascii"',
    b' encoding="latin-1"',
]


def _document(rng: random.Random) -> bytes:
    body = b"".join(rng.choice(PIECES) for _ in range(rng.randint(1, 14)))
    start = rng.random()
    if start < 0.4:  # a usual declaration, then anything
        return b"<?xml version='1.0'" + rng.choice(DECLARED) + b"?>" + body
    return (b"<?xml" + body) if start < 0.8 else body


def _outcome(headers: dict[str, str], data: bytes, convert: Any) -> tuple[Any, ...]:
    result: dict[str, Any] = {}
    try:
        converted = convert(headers, data, result)
    except Exception as e:  # feedparser's own failures must stay the same
        return ("raised", type(e), str(e))
    problem = result.pop("bozo_exception", None)
    return converted, result, type(problem), str(problem)


def test_declared_encoding_is_the_regex_capture() -> None:
    rng = random.Random(7)
    found = 0
    for _ in range(20_000):
        data = _document(rng)
        match = RE_XML_PI_ENCODING.match(data)
        assert declared_encoding(data) == (match.group(1) if match else None), data
        found += match is not None
    assert found > 1_000  # the generator does reach the regex's matches


def test_generated_documents_convert_as_feedparser_does(monkeypatch: pytest.MonkeyPatch) -> None:
    quick = 0
    calls: list[bytes] = []

    def counted(headers: Any, data: bytes, result: dict[str, Any]) -> bytes:
        calls.append(data)
        return feedparser_convert(headers, data, result)  # type: ignore[no-any-return]

    monkeypatch.setattr(encoding, "_fp_convert_to_utf8", counted)
    rng = random.Random(11)
    for _ in range(20_000):
        data, headers = _document(rng), rng.choice(HEADER_CHOICES)
        calls.clear()
        ours = _outcome(headers, data, convert_to_utf8)
        assert ours == _outcome(headers, data, feedparser_convert), (data, headers)
        quick += data not in calls  # feedparser only read the probe
    assert quick > 2_000


def _real_documents() -> list[Any]:
    paths = _fixture_files() + _shared_files()
    return [pytest.param(p, id=p.name) for p in paths]


@pytest.mark.parametrize("path", _real_documents())
def test_real_documents_convert_as_feedparser_does(path: Path) -> None:
    body = path.read_bytes()
    for headers in (
        HEADERS.get(path.name, {}),
        {"content-location": "https://feeds.example.com/feed.xml"},
        {"content-type": "application/rss+xml"},
        {"content-type": "text/xml; charset=utf-8"},
    ):
        assert _outcome(headers, body, convert_to_utf8) == _outcome(
            headers, body, feedparser_convert
        )
