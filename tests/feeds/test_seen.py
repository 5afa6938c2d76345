"""Seen items (bot/feeds/seen.py): skipping them gives exactly the intents of preparing all.

A feed's versions, written by these tests in each format (RSS and Atom on the
fast path, Atom with xml:base, RSS with a DOCTYPE that only feedparser reads,
JSON Feed), go through two paths against one model store (key -> content
hash): every item normalized and decided (the reference), and the worker's
path, parsed and prepared with the digests the previous version left. Both
must decide the same inserts, updates and alerts at every version; and the
worker's path must really skip, or these tests would prove nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

import pytest

from bot.feeds.decide import decide_items
from bot.feeds.parse import parse_fast, parse_feed
from bot.feeds.prepare import PreparedFeed, normalized, prepare, prepare_document
from bot.feeds.seen import NEVER, NO_KEY, SIZE, SeenItems, encode
from bot.match.topics import TopicMatcher
from bot.types import Item, ItemIntent
from tests.test_pipeline_dedup import TOPICS

URL = "https://feeds.example.org/news/feed.xml"
#: the first version's fetch; each next version is fetched an hour later
FIRST_FETCH = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PUBLISHED = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
BACKLOG = timedelta(hours=24)
MATCHER = TopicMatcher.compile(TOPICS)


# --- one feed's items, written in every format ------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One item as a document writes it; None leaves the element out."""

    title: str | None = None
    id: str | None = None
    link: str | None = None
    summary: str | None = None
    published: datetime | None = None
    author: str | None = None


def story(key: str, title: str, published: datetime = PUBLISHED) -> Entry:
    return Entry(
        title=title,
        id=f"tag:desk.example,2026:{key}",
        link=f"https://desk.example.org/{key}",
        summary=f"<p>{title}, told in a sentence about a Patriot battery.</p>",
        published=published,
    )


def _rss_item(e: Entry) -> str:
    parts = []
    if e.title is not None:
        parts.append(f"<title>{escape(e.title)}</title>")
    if e.id is not None:
        parts.append(f"<guid>{escape(e.id)}</guid>")
    if e.link is not None:
        parts.append(f"<link>{escape(e.link)}</link>")
    if e.summary is not None:
        parts.append(f"<description>{escape(e.summary)}</description>")
    if e.published is not None:
        parts.append(f"<pubDate>{format_datetime(e.published)}</pubDate>")
    if e.author is not None:
        parts.append(f"<author>{escape(e.author)}</author>")
    return "<item>" + "".join(parts) + "</item>"


def rss(entries: Sequence[Entry], lang: str = "en", *, doctype: bool = False) -> bytes:
    head = '<?xml version="1.0" encoding="utf-8"?>\n'
    if doctype:  # the fast path leaves a DOCTYPE to feedparser
        head += "<!DOCTYPE rss>\n"
    items = "".join(map(_rss_item, entries))
    return (
        f'{head}<rss version="2.0"><channel><title>Desk</title>'
        f"<link>https://desk.example.org/</link><language>{lang}</language>"
        f"{items}</channel></rss>"
    ).encode()


def _atom_entry(e: Entry) -> str:
    parts = []
    if e.title is not None:
        parts.append(f"<title>{escape(e.title)}</title>")
    if e.id is not None:
        parts.append(f"<id>{escape(e.id)}</id>")
    if e.link is not None:
        parts.append(f'<link rel="alternate" href="{escape(e.link)}"/>')
    if e.summary is not None:
        parts.append(f'<summary type="html">{escape(e.summary)}</summary>')
    if e.published is not None:
        parts.append(f"<published>{e.published.isoformat()}</published>")
    if e.author is not None:
        parts.append(f"<author><name>{escape(e.author)}</name></author>")
    return "<entry>" + "".join(parts) + "</entry>"


def atom(entries: Sequence[Entry], lang: str = "en", *, base: str | None = None) -> bytes:
    based = f' xml:base="{base}"' if base else ""
    items = "".join(map(_atom_entry, entries))
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}"{based}>'
        "<title>Desk</title><id>tag:desk.example,2026:feed</id>"
        f"<updated>2026-11-27T09:00:00Z</updated>{items}</feed>"
    ).encode()


def _json_item(e: Entry) -> dict[str, object]:
    found: dict[str, object] = {}
    if e.id is not None:
        found["id"] = e.id
    if e.title is not None:
        found["title"] = e.title
    if e.link is not None:
        found["url"] = e.link
    if e.summary is not None:
        found["content_html"] = e.summary
    if e.published is not None:
        found["date_published"] = e.published.isoformat()
    if e.author is not None:
        found["authors"] = [{"name": e.author}]
    return found


def json_feed(entries: Sequence[Entry], lang: str = "en") -> bytes:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Desk",
        "language": lang,
        "items": [_json_item(e) for e in entries],
    }
    return json.dumps(doc).encode()


@dataclass(frozen=True)
class Format:
    """How a version is written and served, and which parser reads it."""

    write: Callable[[Sequence[Entry], str], bytes]
    headers: Mapping[str, str]
    #: the fast path reads it (else feedparser, or the JSON Feed reader)
    fast: bool
    #: the fast path digests its items itself (else prepare digests the parsed items)
    fast_digests: bool


FORMATS = {
    "rss": Format(rss, {"content-type": "application/rss+xml"}, fast=True, fast_digests=True),
    "atom": Format(atom, {"content-type": "application/atom+xml"}, fast=True, fast_digests=True),
    "atom-xml-base": Format(
        lambda entries, lang: atom(entries, lang, base="https://mirror.example.net/desk/"),
        {"content-type": "application/atom+xml"},
        fast=True,
        fast_digests=False,
    ),
    "rss-doctype": Format(
        lambda entries, lang: rss(entries, lang, doctype=True),
        {"content-type": "application/rss+xml"},
        fast=False,
        fast_digests=False,
    ),
    "json-feed": Format(
        json_feed, {"content-type": "application/feed+json"}, fast=False, fast_digests=False
    ),
}


# --- the two paths against one model store -------------------------------------------------


@dataclass
class Feed:
    """One feed's model store and the digests its last version left."""

    format: Format
    url: str = URL
    lang: str | None = None
    #: key -> content hash, as the items table holds them
    store: dict[str, str] = field(default_factory=dict)
    blob: bytes | None = None
    fetches: int = 0

    def now(self) -> datetime:
        return FIRST_FETCH + timedelta(hours=self.fetches)

    def decide(self, items: Sequence[Item]) -> list[ItemIntent]:
        return decide_items(
            items,
            self.store,
            now=self.now(),
            feed_added_at=FIRST_FETCH - timedelta(minutes=1),
            backlog_age=BACKLOG,
            first_poll=self.fetches == 0,
        )

    def reference(self, body: bytes) -> list[ItemIntent]:
        """Every item normalized and decided, as the in-process pipeline does."""
        parsed = parse_feed(body, self.format.headers, self.url)
        return self.decide(normalized(parsed, self.url, self.now(), self.lang))

    def prepare(self, body: bytes) -> PreparedFeed:
        """The worker's path: parse and prepare, skipping what `blob` holds."""
        seen = SeenItems.load(self.blob, self.url, self.lang)
        parsed = parse_feed(body, self.format.headers, self.url, seen=seen)
        if self.format.fast_digests:
            assert parsed.digests is not None
            # the seen items are not even read
            assert len(parsed.items) == sum(d not in seen.keys for d in parsed.digests)
        else:
            assert parsed.digests is None
        return prepare(parsed, self.url, self.lang, MATCHER, seen)

    def fetch(self, body: bytes) -> tuple[PreparedFeed, list[ItemIntent]]:
        """One version: both paths decide alike; the intents are stored, and the digests."""
        expected = self.reference(body)
        prepared = self.prepare(body)
        intents = self.decide(prepared.items_at(self.now()))
        assert intents == expected
        for intent in intents:
            item = intent.item
            assert (intent.action == "insert") == (item.key not in self.store)
            self.store[item.key] = item.content_hash
        assert prepared.digests is not None
        self.blob = prepared.digests
        self.fetches += 1
        return prepared, intents


# --- the versions ------------------------------------------------------------------------------

A = story("a", "Alpha")
B = story("b", "Bravo")
C = story("c", "Charlie")
N = story("n", "November")
B_RETITLED = story("b", "Bravo, corrected")
A_COPY = story("a", "Alpha, a second copy")
A_REWRITTEN = story("a", "Alpha, rewritten")
#: normalize to nothing: no title, link or text
EMPTY = Entry(author="nobody")
BLANK = Entry(title="   ", author="nobody else")
#: relative identities: a guid ("42"; JSON Feed ids stay as written) and an id-less link
RELATIVE_ID = Entry(title="Relative id", id="42", summary="Resolved against the feed.")
RELATIVE_LINK = Entry(title="Relative link", link="/news/r2", summary="No id at all.")
#: clamped to the fetch time
FUTURE = story("f", "Foxtrot from the future", published=datetime(2099, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class Version:
    entries: Sequence[Entry]
    #: how many items the worker's path prepares: the ones it could not skip
    prepared: int
    #: (action, title) of each intent
    intents: Sequence[tuple[str, str]] = ()


VERSIONS = {
    "first fetch": Version([A, B, C], 3, [("insert", t) for t in ("Alpha", "Bravo", "Charlie")]),
    "unchanged": Version([A, B, C], 0),
    "one new at the top": Version([N, A, B, C], 1, [("insert", "November")]),
    "one removed": Version([N, A, B], 0),
    "retitled": Version([N, A, B_RETITLED], 1, [("update", "Bravo, corrected")]),
    "reordered": Version([B_RETITLED, A, N], 0),
    # decide_items takes a key's first item: the copy after A is ignored ...
    "a stored item, then a copy of its key": Version([B_RETITLED, A, N, A_COPY], 0),
    # ... until it stands alone
    "the copy alone": Version([B_RETITLED, N, A_COPY], 1, [("update", "Alpha, a second copy")]),
    "a new item of a key, then the stored one": Version(
        [B_RETITLED, A_REWRITTEN, N, A_COPY], 1, [("update", "Alpha, rewritten")]
    ),
    "the stored one alone again": Version(
        [B_RETITLED, N, A_COPY], 1, [("update", "Alpha, a second copy")]
    ),
    "the same item twice": Version([B_RETITLED, N, A_COPY, A_COPY], 0),
    "items that normalize to nothing": Version([EMPTY, B_RETITLED, N, BLANK, A_COPY], 0),
    "the same, again": Version([EMPTY, B_RETITLED, N, BLANK, A_COPY], 0),
    "relative ids and links": Version(
        [RELATIVE_ID, RELATIVE_LINK, EMPTY, B_RETITLED, N, BLANK, A_COPY],
        2,
        [("insert", "Relative id"), ("insert", "Relative link")],
    ),
    "relative, again": Version([RELATIVE_ID, RELATIVE_LINK, B_RETITLED, N, A_COPY], 0),
    "a date in the future": Version(
        [FUTURE, RELATIVE_ID, B_RETITLED, N, A_COPY], 1, [("insert", "Foxtrot from the future")]
    ),
    "future, again": Version([FUTURE, RELATIVE_ID, B_RETITLED, N, A_COPY], 0),
    "one left out": Version([B_RETITLED, N], 0),
    # not in the last version's digests: prepared again, and found stored as it is
    "and back": Version([B_RETITLED, N, A_COPY], 1),
}


@pytest.mark.parametrize("name", FORMATS)
def test_skipping_seen_items_decides_what_preparing_every_item_decides(name: str) -> None:
    feed = Feed(FORMATS[name])
    for label, version in VERSIONS.items():
        body = feed.format.write(version.entries, "en")
        prepared, intents = feed.fetch(body)
        assert len(prepared.items) == version.prepared, label
        assert [(i.action, i.item.title) for i in intents] == list(version.intents), label
        assert len(feed.blob or b"") == 2 * SIZE * len(version.entries), label
    assert len(feed.store) == 7  # a, b, c, n, the two relative ones and the future one


def test_the_formats_take_the_paths_they_are_named_for() -> None:
    """The xml:base document is the fast path's, undigested; the DOCTYPE is feedparser's."""
    seen = SeenItems.load(None, URL, None)
    for name, fmt in FORMATS.items():
        body = fmt.write([A, B], "en")
        quick = parse_fast(body, fmt.headers, URL, seen=seen)
        if name == "json-feed":
            assert quick is None  # not XML: parse_feed reads it as JSON Feed
            continue
        assert (quick is not None) == fmt.fast, name
        if quick is not None:
            assert (quick.digests is not None) == fmt.fast_digests, name


def test_alerts_are_decided_alike() -> None:
    """New items after the first fetch alert, on both paths (the intents compare alerts)."""
    old = story("o", "Old news", published=FIRST_FETCH - timedelta(days=3))
    feed = Feed(FORMATS["rss"])
    _, first = feed.fetch(rss([A, old]))
    _, later = feed.fetch(rss([N, A, old]))
    assert [i.alert for i in first] == [True, False]  # an old backlog stays quiet
    assert [(i.item.title, i.alert) for i in later] == [("November", True)]


def test_an_unchanged_refetch_reads_no_item() -> None:
    feed = Feed(FORMATS["rss"])
    feed.fetch(rss([A, B, C]))
    seen = SeenItems.load(feed.blob, URL, None)
    parsed = parse_feed(rss([A, B, C]), {}, URL, seen=seen)
    assert parsed.items == () and parsed.digests is not None and len(parsed.digests) == 3
    prepared = prepare(parsed, URL, None, MATCHER, seen)
    assert (prepared.items, prepared.matches, prepared.fingerprints) == ((), (), ())
    assert prepared.digests == feed.blob


# --- what a digest depends on ----------------------------------------------------------------


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize(
    "change",
    [
        pytest.param({}, id="nothing"),
        pytest.param({"url": "https://feeds.example.org/world/feed.xml"}, id="feed-url"),
        pytest.param({"lang": "de"}, id="configured-language"),
        pytest.param({"doc_lang": "fr"}, id="document-language"),
    ],
)
def test_a_new_url_or_language_skips_nothing(name: str, change: dict[str, str]) -> None:
    fmt = FORMATS[name]
    feed = Feed(fmt)
    feed.fetch(fmt.write([A, B, C], "en"))
    feed.url = change.get("url", URL)
    feed.lang = change.get("lang")
    prepared, intents = feed.fetch(fmt.write([A, B, C], change.get("doc_lang", "en")))
    assert len(prepared.items) == (3 if change else 0)
    if "lang" in change or "doc_lang" in change:  # each item carries the language
        assert {i.lang for i in prepared.items} == {change.get("lang") or change["doc_lang"]}
    assert intents == []  # the same keys and content: stored as they are


# --- the blob ---------------------------------------------------------------------------------


def _digest(n: int) -> bytes:
    return bytes([n]) * SIZE


def test_load_reads_what_encode_wrote() -> None:
    entries = [
        (_digest(1), _digest(11)),
        (NEVER, _digest(12)),
        (_digest(3), NO_KEY),
        (_digest(4), _digest(11)),
    ]
    blob = encode(entries)
    assert len(blob) == 4 * 2 * SIZE
    seen = SeenItems.load(blob, URL, None)
    assert seen.keys == {_digest(1): _digest(11), _digest(3): NO_KEY, _digest(4): _digest(11)}
    assert NEVER not in seen.keys
    # a torn last entry is left out, not misread
    assert SeenItems.load(blob + _digest(5), URL, None).keys == seen.keys


def test_the_salt_holds_the_url_and_the_configured_language() -> None:
    salts = {
        SeenItems.load(None, URL, None).salt,
        SeenItems.load(None, URL, "de").salt,
        SeenItems.load(None, "https://feeds.example.org/world/feed.xml", None).salt,
    }
    assert len(salts) == 3
    assert SeenItems.load(b"", URL, "de").salt == SeenItems.load(None, URL, "de").salt


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("blob", [None, b""], ids=["none", "empty"])
def test_nothing_stored_skips_nothing(name: str, blob: bytes | None) -> None:
    fmt = FORMATS[name]
    body = fmt.write([A, B, EMPTY, C, A_COPY], "en")
    seen = SeenItems.load(blob, URL, None)
    assert seen.keys == {}
    every = prepare(parse_feed(body, fmt.headers, URL), URL, None, MATCHER)
    prepared = prepare_document(body, fmt.headers, URL, None, MATCHER, blob)
    assert every.digests is None
    assert prepared.items == every.items and len(prepared.items) == 4
    assert prepared.matches == every.matches
    assert prepared.fingerprints == every.fingerprints
    assert prepared.digests is not None and len(prepared.digests) == 5 * 2 * SIZE


@pytest.mark.parametrize("name", FORMATS)
def test_never_entries_are_never_skipped(name: str) -> None:
    fmt = FORMATS[name]
    feed = Feed(fmt)
    body = fmt.write([A, B, C], "en")
    feed.fetch(body)
    assert feed.blob is not None
    pairs = [feed.blob[at : at + 2 * SIZE] for at in range(0, len(feed.blob), 2 * SIZE)]
    # B's digest replaced by NEVER, its key kept: B alone is prepared again
    feed.blob = pairs[0] + NEVER + pairs[1][SIZE:] + pairs[2]
    prepared, intents = feed.fetch(body)
    assert [i.title for i in prepared.items] == ["Bravo"] and intents == []
    # every digest NEVER: everything is prepared
    feed.blob = b"".join(NEVER + p[SIZE:] for p in pairs)
    prepared, intents = feed.fetch(body)
    assert [i.title for i in prepared.items] == ["Alpha", "Bravo", "Charlie"] and intents == []
