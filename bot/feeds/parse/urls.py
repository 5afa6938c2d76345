"""feedparser's URL joining, with a shortcut for the links that cannot change."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from feedparser.urls import _urljoin as _fp_urljoin

__all__ = ["join_url", "kept_as_is", "plain_absolute_under"]


def join_url(base: str, uri: str) -> str:
    """feedparser's `join_url`, skipping its work when it cannot change anything.

    Most links are already absolute http(s) URLs. With the base's scheme,
    urljoin returns `urlunparse(urlparse(uri))`, which is `uri` itself unless
    the URL has an empty query or fragment, `;` parameters, control characters,
    an IP-literal or a non-ASCII host to check; with another scheme (an https
    link in an http feed) it returns `uri` as it is, once both parse. Anything
    else takes the real code (tests/feeds/test_parse.py compares both on many
    URLs).
    """
    if not base:
        return uri if ":///" not in uri else str(_fp_urljoin(base, uri))
    if kept_as_is(base, uri):
        return uri
    if _SIMPLE_SEGMENT.match(uri):
        # A bare name ("item-42", "a.html") replaces the last path segment:
        # join a probe once per base and reuse its directory.
        directory = _DIRECTORIES.get(base)
        if directory is None:
            directory = _directory_of(base)
        if directory is not None:
            return directory + uri
    return str(_fp_urljoin(base, uri))


def kept_as_is(base: str, uri: str) -> bool:
    """`join_url(base, uri)` is `uri`: a plain absolute http(s) URL, a parsable base.

    Such a URL is also ASCII without ";", so neither `finish` nor the `&amp;`
    unescaping of a text link (values.py) can change it.
    """
    return bool(base) and _PLAIN_ABSOLUTE.match(uri) is not None and _parsable(base)


def plain_absolute_under(base: str) -> Callable[[str], object] | None:
    """`kept_as_is` for one base: a test of the URL alone (None: nothing is kept)."""
    return _PLAIN_ABSOLUTE.match if base and _parsable(base) else None


#: base URL -> what urljoin puts before a bare name (None: do not guess)
_DIRECTORIES: dict[str, str | None] = {}
_SIMPLE_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9_.~-]*\Z")


def _directory_of(base: str) -> str | None:
    if len(_DIRECTORIES) > 1024:
        _DIRECTORIES.clear()
    probe = str(_fp_urljoin(base, "x"))
    directory = _DIRECTORIES[base] = probe[:-1] if probe.endswith("x") else None
    return directory


#: base URL -> whether urljoin can parse it (an invalid IP literal, say, fails)
_PARSABLE: dict[str, bool] = {}


def _parsable(base: str) -> bool:
    known = _PARSABLE.get(base)
    if known is not None:
        return known
    if len(_PARSABLE) > 1024:
        _PARSABLE.clear()
    try:
        urlsplit(base)
        ok = True
    except ValueError:
        ok = False
    _PARSABLE[base] = ok
    return ok


#: an http(s) URL with a host start ("/?#" is none) and nothing urlsplit/urlunsplit
#: would rewrite: ASCII without controls, space, ";", "[", "]" or "\\", no "?#",
#: not ending in "?" or "#" (tests/feeds/test_parse_fast_shortcuts.py checks it)
_PLAIN_ABSOLUTE = re.compile(r"https?://(?![/?#])(?!.*\?#)[!-:<-Z^-\x7f]*[!\"$-:<->@-Z^-\x7f]\Z")
