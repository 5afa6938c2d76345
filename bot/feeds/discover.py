"""Feed discovery: the feed URLs an HTML page advertises.

Owns one rule: a page names its feeds with `<link rel="alternate" type="...">`
where the type is RSS, Atom or JSON Feed (the convention browsers and feed
readers share). Used when a fetched document turns out to be a web page
(`parse_feed` raises `NotAFeedError` with these links) and by `feeds add
SITE_URL`.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from lxml import etree  # type: ignore[import-untyped]  # no stubs in our pins

#: MIME types that mark a `<link rel="alternate">` as a feed.
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        # Older spellings still seen in the wild.
        "application/rdf+xml",
        "application/json",
        "application/x.atom+xml",
        "application/x-atom+xml",
    }
)


def _html_parser() -> etree.HTMLParser:
    # no_network and no entity expansion: a hostile page must not make us fetch anything
    return etree.HTMLParser(no_network=True, remove_comments=True, recover=True)


def find_feed_links(html: bytes, base_url: str) -> tuple[str, ...]:
    """Return the absolute http(s) feed URLs advertised in `html`, in page order.

    Relative hrefs are resolved against `<base href>` when present, else
    `base_url`. Duplicates are dropped; anything that is not http(s) is ignored.
    """
    if not html.strip():
        return ()
    try:
        root = etree.fromstring(html, _html_parser())
    except (etree.ParserError, ValueError):
        return ()
    if root is None:
        return ()
    base = _document_base(root, base_url)
    links: dict[str, None] = {}  # an ordered set
    for link in root.iter("link"):
        href = _feed_href(link)
        if href is None:
            continue
        absolute = urljoin(base, href)
        if urlsplit(absolute).scheme in ("http", "https"):
            links.setdefault(absolute, None)
    return tuple(links)


def _document_base(root: etree._Element, base_url: str) -> str:
    for base in root.iter("base"):
        href = str(base.get("href") or "").strip()
        if href:
            return urljoin(base_url, href)
    return base_url


def _feed_href(link: etree._Element) -> str | None:
    rels = (link.get("rel") or "").lower().split()
    if "alternate" not in rels:
        return None
    media_type = (link.get("type") or "").split(";")[0].strip().lower()
    if media_type not in FEED_TYPES:
        return None
    href = str(link.get("href") or "").strip()
    return href or None
