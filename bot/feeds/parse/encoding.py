"""The fast path's encoding step: feedparser's `convert_to_utf8`, cheaper for the
usual document, with the same bytes, encoding and complaint as feedparser's.

feedparser finds the declared encoding with a regex whose `.*` runs to the end
of the first line and back: on a document written on one line (most feeds a
server generates), most of the step's cost. tests/feeds/test_parse_encoding.py
holds this to feedparser's own answer on generated document starts and on
every real feed and fixture.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from typing import Any

from feedparser.encodings import convert_to_utf8 as _fp_convert_to_utf8
from feedparser.exceptions import CharacterEncodingOverride, CharacterEncodingUnknown

__all__ = ["convert_to_utf8", "declared_encoding"]


def convert_to_utf8(headers: Mapping[str, str], data: bytes, result: dict[str, Any]) -> bytes:
    """feedparser's `convert_to_utf8`, cheaper for the usual document: one that starts
    with an XML declaration and that the encoding feedparser picks first reads as is.

    feedparser finds the declared encoding with a regex whose `.*` runs to the end
    of the first line and back: on a document written on one line, most of its
    cost. Here that capture is found with `rfind` (`declared_encoding`); then
    feedparser itself reads a probe, the declaration alone, under the same
    headers, which settles the encoding and the complaint (they depend only on
    the headers and the declaration while its first choice decodes). When that
    choice reads the whole document unchanged (UTF-8, or ASCII text under an
    ASCII-compatible codec), feedparser would return the document with its
    declaration replaced up to the first ">", which is what is built here.
    Anything else goes to feedparser (tests/feeds/test_parse_encoding.py).
    """
    end = data.find(b">") if data.startswith(b"<?xml") else -1
    declared = declared_encoding(data) if end >= 0 else None
    if end < 0 or not _PLAIN_ENCODING.fullmatch(declared or b""):
        return _feedparser_utf8(headers, data, result)
    probe = b"<?xml version='1.0'"
    if declared is not None:
        probe += b' encoding="' + declared + b'"'
    probed: dict[str, Any] = {}
    _feedparser_utf8(headers, probe + b"?>", probed)
    if isinstance(probed.get("bozo_exception"), _OTHER_CHOICE) or not _reads_as_is(
        data, probed["encoding"]
    ):
        return _feedparser_utf8(headers, data, result)
    result.update(probed)
    return _UTF8_DECLARATION + data[end + 1 :]


def _feedparser_utf8(headers: Mapping[str, str], data: bytes, result: dict[str, Any]) -> bytes:
    converted: bytes = _fp_convert_to_utf8(headers, data, result)
    return converted


#: feedparser's own replacement declaration (encodings.py)
_UTF8_DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>"
#: complaints that feedparser's first choice failed: it went on to another
_OTHER_CHOICE = (CharacterEncodingOverride, CharacterEncodingUnknown)
#: declared names the probe repeats exactly (no quote, "?>" or "encoding=" in them)
_PLAIN_ENCODING = re.compile(rb"[A-Za-z0-9._:-]*")
_ASCII_READERS = frozenset({"ascii", "utf-8", "iso8859-1", "cp1252"})


def _reads_as_is(data: bytes, encoding: str) -> bool:
    """Decoding `data` with `encoding` and encoding it to UTF-8 gives `data` back."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    if data.isascii():
        return name in _ASCII_READERS
    if name != "utf-8":
        return False
    try:
        data.decode("utf-8")  # valid UTF-8 round-trips byte for byte
    except UnicodeDecodeError:
        return False
    return True


def declared_encoding(data: bytes) -> bytes | None:
    """What feedparser's RE_XML_PI_ENCODING, `^<\\?.*encoding=['"](.*?)['"].*\\?>`,
    captures from `data`, or None where it does not match.

    Its `.` stops at a line feed, and the greedy `.*` makes it take the last
    `encoding=` of the first line that a quote follows, then another quote
    (the value ends at the first), then "?>" somewhere after that quote: so
    before the line's last "?>", found first by its rare "?".
    """
    if not data.startswith(b"<?"):
        return None
    end = data.find(b"\n")
    end = len(data) if end < 0 else end
    last_close = -1
    mark = data.find(b"?", 2, end)
    while mark >= 0:
        if data.startswith(b">", mark + 1):  # data[end] is the line feed: never ">"
            last_close = mark
        mark = data.find(b"?", mark + 1, end)
    before = last_close
    while before > 0 and (at := data.rfind(b"encoding=", 2, before)) >= 0:
        before = at + len(b"encoding=") - 1  # next: an occurrence starting before this one
        opening = at + len(b"encoding=")
        if data[opening] not in b"\"'":
            continue
        quotes = [
            data.find(b'"', opening + 1, last_close),
            data.find(b"'", opening + 1, last_close),
        ]
        closing = min((q for q in quotes if q >= 0), default=-1)
        if closing >= 0:
            return data[opening + 1 : closing]
    return None
