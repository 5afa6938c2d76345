"""What the fast path knows of feedparser's handlers, as data.

feedparser (strict mode) turns each element name into a handler name, e.g.
`{http://purl.org/dc/elements/1.1/}date` -> `dc_date`, and its handlers decide
title/link/id/dates. These tables say which handler names feed which
`RawItem` field, which are harmless, and which hold opaque content; every
other handler makes the fast path give up (`GiveUp`) and leave the document to
feedparser.
"""

from __future__ import annotations

import feedparser
from feedparser.mixin import _FeedParserMixin as _FPMixin

__all__ = ["FAST_PATH_ON", "MIRRORED_FEEDPARSER", "GiveUp", "is_container", "kind_of", "norm_ns"]

#: the feedparser release whose handlers the fast path mirrors (read line by line);
#: under any other release the fast path steps aside until someone re-checks it
MIRRORED_FEEDPARSER = "6.0.14"
FAST_PATH_ON = feedparser.__version__ == MIRRORED_FEEDPARSER

MATCH_NS: dict[str, str] = {k.lower(): v for k, v in _FPMixin.namespaces.items()}
STD_PREFIXES = frozenset(MATCH_NS.values())
HANDLERS = frozenset(
    name.split("_", 2)[2] if name.startswith("_start_") else name[len("_end_") :]
    for name in dir(_FPMixin)
    if name.startswith(("_start_", "_end_"))
)
VERSION_NS = {
    "http://my.netscape.com/rdf/simple/0.9/": "rss090",
    "http://purl.org/rss/1.0/": "rss10",
    "http://www.w3.org/2005/atom": "atom10",
}
RSS_VERSIONS = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
ATOM_VERSIONS = {"0.1": "atom01", "0.2": "atom02", "0.3": "atom03"}
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RDF_ABOUT = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"

ITEM = frozenset({"item", "entry"})
TITLE = frozenset({"title", "dc_title", "media_title"})
LINK = frozenset({"link"})
GUID = frozenset({"guid", "id"})
PUBLISHED = frozenset({"published", "issued", "pubdate", "dcterms_issued"})
UPDATED = frozenset({"updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"})
SUMMARY = frozenset({"description", "summary", "abstract", "dc_description"})
CONTENT = frozenset({"content", "content_encoded", "fullitem", "body", "xhtml_body"})
AUTHOR = frozenset({"author", "dc_creator", "dc_author", "itunes_author", "managingeditor"})
#: handlers whose text feedparser keeps as (possibly HTML) content: never descended into
OPAQUE = (
    TITLE
    | SUMMARY
    | CONTENT
    | frozenset(
        {
            "subtitle",
            "tagline",
            "rights",
            "copyright",
            "info",
            "feedburner_browserfriendly",
            "itunes_subtitle",
            "itunes_summary",
            "media_description",
            "dc_rights",
        }
    )
)
#: handlers that cannot touch title/link/id/dates of an entry (read in feedparser 6.0.14)
HARMLESS = AUTHOR | frozenset(
    {
        "category",
        "keywords",
        "tags",
        "dc_subject",
        "enclosure",
        "cloud",
        "source",
        "width",
        "height",
        "url",
        "uri",
        "homepage",
        "name",
        "email",
        "contributor",
        "dc_contributor",
        "dc_publisher",
        "webmaster",
        "language",
        "dc_language",
        "generator",
        "created",
        "dcterms_created",
        "expirationdate",
        "dcterms_valid",
        "newlocation",
        "media_content",
        "media_group",
        "media_thumbnail",
        "media_credit",
        "media_category",
        "media_rating",
        "media_player",
        "media_license",
        "media_restriction",
        "media_keywords",
        "itunes_image",
        "itunes_link",
        "itunes_category",
        "image",
        "itunes_owner",
        "itunes_name",
        "itunes_email",
        "itunes_block",
        "itunes_explicit",
        "itunes_keywords",
        "georss_point",
        "georss_line",
        "georss_polygon",
        "georss_box",
        "georss_where",
        "georssgeom",
        "geom",
        "where",
        "gml_point",
        "gml_pos",
        "gml_poslist",
        "gml_linestring",
        "gml_polygon",
        "gml_exterior",
        "gml_linearring",
        "psc_chapters",
        "psc_chapter",
        "cc_license",
        "creativecommons_license",
    }
)
#: kinds of handler, as the item loop dispatches on them
K_TITLE, K_LINK, K_GUID, K_PUBLISHED, K_UPDATED, K_SUMMARY, K_OPAQUE = range(7)
K_AUTHOR, K_HARMLESS, UNKNOWN = 7, 8, 9
#: what the item loop does with each handler name, in one dict lookup
KINDS: dict[str, int] = {
    **dict.fromkeys(HARMLESS, K_HARMLESS),
    **dict.fromkeys(AUTHOR, K_AUTHOR),
    **dict.fromkeys(OPAQUE, K_OPAQUE),
    **dict.fromkeys(SUMMARY | CONTENT, K_SUMMARY),
    **dict.fromkeys(TITLE, K_TITLE),
    **dict.fromkeys(LINK, K_LINK),
    **dict.fromkeys(GUID, K_GUID),
    **dict.fromkeys(PUBLISHED, K_PUBLISHED),
    **dict.fromkeys(UPDATED, K_UPDATED),
}


def kind_of(name: str) -> int:
    """What the item loop does with a handler name: a kind above, K_HARMLESS for a
    name feedparser has no handler for, UNKNOWN (give up) for an unmirrored handler."""
    kind = KINDS.get(name)
    if kind is not None:
        return kind
    return UNKNOWN if name in HANDLERS else K_HARMLESS


#: what an RSS <image> may hold for feedparser to keep ignoring its <link> (its "inimage" hack)
IMAGE_CHILDREN = frozenset({"title", "link", "description", "url", "width", "height"})
#: link types feedparser takes as an entry's web page
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def is_container(name: str) -> bool:
    """Elements entries may sit in: the feed's own, or ones feedparser has no handler for."""
    return name in ("rss", "channel", "rdf_rdf", "feed", "items") or name not in HANDLERS


def norm_ns(uri: str) -> str:
    """A namespace as feedparser compares it (lower case; any Userland RSS is one)."""
    low = uri.lower()
    return "http://backend.userland.com/rss" if "backend.userland.com/rss" in low else low


class GiveUp(Exception):
    """The document holds something the fast path does not mirror exactly."""
