"""Small frozen types passed between pipeline stages.

Each stage takes and returns these, never ORM rows, so the pure stages can be
tested without a database (see STYLE.md, "Data flow").

    fetch      FeedForUpdate        -> Fetched | NotModified
    parse      bytes + headers      -> ParsedFeed (RawItem...)
    normalize  RawItem              -> Item
    dedup      Items + stored keys  -> ItemIntent...
    match      Item + Topics        -> Match...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, NamedTuple


@dataclass(frozen=True, slots=True)
class FeedForUpdate:
    """What the fetcher and scheduler need to know about one stored feed."""

    id: int
    url: str
    #: validators from the last 200 response, sent back for a conditional GET
    etag: str | None = None
    last_modified: str | None = None
    #: the configured polling interval in seconds (None: the global default)
    interval_s: int | None = None
    consecutive_errors: int = 0
    #: when the feed was added; items older than this minus the backlog age stay quiet
    added_at: datetime | None = None
    #: observed new items per day, for adaptive scheduling
    items_per_day: float | None = None
    lang: str | None = None
    title: str | None = None
    #: the last poll, successful or not, and the last successful one (None: never)
    last_check_at: datetime | None = None
    last_success_at: datetime | None = None
    #: the item digests of the last stored version (bot/feeds/seen.py); None: none
    item_digests: bytes | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """A 200 response: the body (already decompressed, within the size cap)."""

    url: str
    body: bytes
    #: lower-cased header names; at least content-type, etag, last-modified, cache-control
    headers: Mapping[str, str] = field(default_factory=dict)
    #: set when a 301/308 moved the feed (checked by the address guard)
    moved_to: str | None = None
    elapsed_s: float = 0.0


@dataclass(frozen=True, slots=True)
class NotModified:
    """A 304 response: nothing to parse, nothing to alert."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    elapsed_s: float = 0.0


FetchResult = Fetched | NotModified


@dataclass(frozen=True, slots=True)
class RawItem:
    """One entry as the parser found it; text may still hold HTML and entities."""

    title: str | None = None
    link: str | None = None
    guid: str | None = None
    #: timezone-aware UTC, or None when the feed gives no date we can read
    published: datetime | None = None
    updated: datetime | None = None
    summary: str | None = None
    author: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A whole feed document."""

    #: rss090, rss10, rss20, atom03, atom10, json10, json11 ...
    version: str
    title: str | None = None
    link: str | None = None
    lang: str | None = None
    #: RSS <ttl> in minutes, a hint for the scheduler
    ttl_minutes: int | None = None
    items: tuple[RawItem, ...] = ()
    #: a description of recovered breakage (feedparser's "bozo"), None when clean
    problem: str | None = None
    #: parsed with `seen` items (bot/feeds/seen.py): every item's digest in document
    #: order, and `items` holds only those whose digest was not seen; None: all items
    digests: tuple[bytes, ...] | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """A normalized item, ready to store and match."""

    #: stable identity inside its feed: guid, else canonical link, else content hash
    key: str
    title: str
    link: str | None
    summary: str
    #: UTC, clamped to fetch time when missing or in the future
    published_at: datetime
    #: hash of title+summary, to notice edits without treating them as new items
    content_hash: str
    lang: str | None = None


class ItemIntent(NamedTuple):
    """What the update step should do with one normalized item.

    A named tuple, not a dataclass: the writer makes one per new item (30,000 in a
    cold poll of 1,000 feeds) and unpacks it, and a tuple is the cheaper of the two.
    """

    item: Item
    #: new items are inserted; known items with changed content are updated quietly
    action: Literal["insert", "update"]
    #: False for backlog items: stored and searchable, never alerted
    alert: bool


@dataclass(frozen=True, slots=True)
class Hit:
    """One term occurrence that contributed to a match."""

    concept: str
    term: str
    field: Literal["title", "summary"]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Match:
    """An item matched a topic; `hits` and `snippet` explain why."""

    topic: str
    score: float
    hits: tuple[Hit, ...] = ()
    snippet: str = ""

    def explanation(self) -> dict[str, Any]:
        """A JSON-ready explanation, stored with the match and shown by `why`."""
        return {
            "topic": self.topic,
            "score": round(self.score, 3),
            "hits": [
                {"concept": h.concept, "term": h.term, "field": h.field, "at": [h.start, h.end]}
                for h in self.hits
            ],
            "snippet": self.snippet,
        }


@dataclass(frozen=True, slots=True)
class PollSummary:
    """What one polling cycle did, printed by `skywatch run --once`."""

    feeds: int = 0
    fetched: int = 0
    not_modified: int = 0
    new_items: int = 0
    matched: int = 0
    queued: int = 0
    errors: int = 0
    seconds: float = 0.0


def slot_setters(
    cls: type, names: tuple[str, ...]
) -> tuple[Callable[[Any, Any], None], ...] | None:
    """The slot setters of the dataclass `cls`, in the order of `names`, when those are
    its fields, it has slots and its __init__ does nothing but store them; else None.

    Setting them on `object.__new__(cls)` makes what `cls(...)` makes in about half
    the time: a frozen dataclass's __init__ stores each field through
    `object.__setattr__`. For the items made by the thousand (parse and normalize);
    a change to the class makes this None, and its callers fall back to `cls`.
    """
    if tuple(f.name for f in fields(cls)) != names or hasattr(cls, "__post_init__"):
        return None
    if getattr(cls, "__slots__", None) is None:
        return None
    return tuple(getattr(cls, name).__set__ for name in names)
