"""Canonical links: one spelling per link, tracking parameters dropped. Pure.

Part of the normalize stage (normalize.py): an item's link, and its key when it
has no guid, is its canonical URL.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

__all__ = ["PLAIN_URL", "TRACKING_PARAMS", "canonical_url", "clean_query"]

#: query parameters that only say where a click came from; dropped from links.
#: Names compare case-insensitively; every `utm_*` goes too.
TRACKING_PARAMS = frozenset(
    {
        # ad and social click ids (Facebook, Google, Yandex, Microsoft, X, TikTok, LinkedIn)
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "yclid",
        "msclkid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "igshid",
        "igsh",
        # mailing tools (Mailchimp, HubSpot) and Google Analytics linker
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "_ga",
        "_gl",
        # publishers' campaign tags: BBC (at_*), Guardian (CMP), NYT (smid), Microsoft (ocid),
        # AT Internet (xtor), Webtrends (wt.mc_id), comScore (ns_*)
        "at_medium",
        "at_campaign",
        "at_custom1",
        "at_custom2",
        "at_custom3",
        "at_custom4",
        "cmp",
        "cmpid",
        "ocid",
        "icid",
        "smid",
        "smtyp",
        "xtor",
        "wt.mc_id",
        "ito",
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
        # generic referrer tags
        "ref",
        "ref_src",
        "ref_url",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """One spelling of a link, or None when it is not an absolute http(s) URL.

    Resolves against `base`, lower-cases scheme and host, drops the default
    port, the fragment, credentials and TRACKING_PARAMS, keeps the remaining
    query parameters in their order and spelling, and gives an empty path "/".
    """
    candidate = url.strip() if url else None
    if not candidate:
        return None
    if PLAIN_URL.fullmatch(candidate):
        return candidate  # what the general path below makes of it, unchanged
    try:
        parts = urlsplit(candidate)
        # An absolute http(s) link resolves to itself (urljoin would only re-spell empty
        # "?", "#" or ";" parts, which are dropped or kept below anyway): skip the join.
        absolute = parts.scheme in _DEFAULT_PORTS and parts.netloc and ";" not in parts.path
        if base and not absolute:
            parts = urlsplit(urljoin(base.strip(), candidate))
        port = parts.port
    except ValueError:
        return None  # unbalanced brackets, a port out of range ...
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None:
        # credentials in a news link are a trick, not an address (RELIABILITY.md A1)
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", clean_query(parts.query), ""))


# An absolute link that is canonical already (most are): lower-case http(s) scheme and
# host, no port, credentials, query, fragment or ";" (see urljoin above), a path
# starting with "/" of ASCII characters that urlsplit keeps as they are.
PLAIN_URL = re.compile(r"https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*/[-A-Za-z0-9._~!$&'()*+,=:@%/]*")


def clean_query(query: str) -> str:
    if not query:
        return ""
    kept = [
        pair
        for pair in query.split("&")
        if pair and not _is_tracking(unquote_plus(pair.split("=", 1)[0]).lower())
    ]
    return "&".join(kept)


def _is_tracking(name: str) -> bool:
    return name.startswith("utm_") or name in TRACKING_PARAMS
