"""What the bytes are, before any parser runs: JSON, an HTML page, or XML.

Also the headers feedparser is given (and the fast path mirrors): ours,
lower-cased, with the base URL as Content-Location, and how its "bozo"
complaint reads as a `ParsedFeed.problem`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

__all__ = [
    "HTML_START",
    "content_location",
    "describe_problem",
    "feedparser_headers",
    "looks_like_json",
]

# Sniffed in the first bytes only: a feed that *mentions* <html> in an item is still a feed.
HTML_START = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b",
    re.IGNORECASE | re.DOTALL,
)
PROBLEM_MAX = 200


def looks_like_json(body: bytes, headers: Mapping[str, str]) -> bool:
    """A JSON object, or declared JSON that does not start like markup."""
    start = body[:256].lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return start == b"{" or ("json" in headers.get("content-type", "").lower() and start != b"<")


def feedparser_headers(headers: Mapping[str, str] | None, url: str | None) -> dict[str, str]:
    """What feedparser sees as response headers: ours, lower-cased, plus the base URL."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    location = content_location(lowered, url)
    if location:
        lowered["content-location"] = location
    return lowered


def content_location(headers: Mapping[str, str], url: str | None) -> str | None:
    """The base URL feedparser should resolve against (Content-Location, else the URL)."""
    location = headers.get("content-location")
    if location and url:
        return urljoin(url, location)
    return location or url


def describe_problem(result: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    """feedparser's "bozo" complaint as one short line; None for a clean document."""
    if not result.get("bozo"):
        return None
    exc = result.get("bozo_exception")
    if type(exc).__name__ == "NonXMLContentType" and "content-type" not in headers:
        # feedparser complains when headers lack a content-type; with no
        # content-type at all (a file, a test) that is not breakage
        return None
    text = f"{type(exc).__name__}: {exc}" if exc is not None else "malformed feed"
    return text[:PROBLEM_MAX]
