"""A feed's pure CPU work, done where the body was parsed: normalize, match, fingerprint.

Owns the result a parser worker hands back to the pipeline. Everything here
depends only on the document and the topics, so it runs in a `ParserPool`
worker process, beside the parse, and the main process (fetching, the
known-keys lookup, the writes, the story index) keeps the other core:

    parsed   = parse_feed(body)                       # in the worker
    prepared = prepare(parsed, url, lang, matcher)    # in the worker, every item
    items    = prepared.items_at(now)                 # main: clamp to write time

The pipeline's `now` is the moment its write transaction starts, which a
worker cannot know: items are normalized against `UNCLAMPED` (so a date is
kept as written and a missing date reads as `UNCLAMPED`), and `items_at(now)`
then applies normalize's own rule, min(date, now), giving the very items
`normalize_item(raw, now=now)` would.

The result crosses the process boundary once per feed, and unpickling it is
main-process CPU, so it pickles as plain tuples (`__reduce__`), not as one
dataclass state per item, match and hit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import starmap
from sys import intern
from typing import Any

from bot.feeds.normalize import new_item, normalize_item, normalize_title
from bot.feeds.seen import NEVER, NO_KEY, SeenItems, encode, key_digest, raw_item_digest
from bot.match.similarity import Fingerprint, MinHash
from bot.match.topics import TopicMatcher
from bot.types import Hit, Item, Match, ParsedFeed, RawItem

__all__ = ["UNCLAMPED", "PreparedFeed", "normalized", "prepare", "prepare_document"]

#: the `now` items are normalized against in a worker; later than any real date
UNCLAMPED = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    """A parsed feed's items, normalized, with every item's matches.

    `matches[i]` are `items[i]`'s topics; `fingerprints[i]` is its
    `Fingerprint` when it matched (the story index needs no other), else None.
    Items are normalized against `UNCLAMPED`: read them through `items_at`.

    Prepared with `seen` items, `items` leaves out those (bot/feeds/seen.py) and
    `digests` is the blob to store with this version; None: prepared without.
    """

    version: str
    title: str | None
    link: str | None
    lang: str | None
    ttl_minutes: int | None
    items: tuple[Item, ...]
    matches: tuple[tuple[Match, ...], ...]
    fingerprints: tuple[Fingerprint | None, ...]
    digests: bytes | None = None

    def items_at(self, now: datetime) -> list[Item]:
        """The items as normalized at `now` (a date after `now` reads as `now`)."""
        return [
            item if item.published_at <= now else replace(item, published_at=now)
            for item in self.items
        ]

    def __reduce__(self) -> tuple[Any, ...]:
        items = [
            (i.key, i.title, i.link, i.summary, i.published_at, i.content_hash, i.lang)
            for i in self.items
        ]
        # Most items match nothing: only those that do (or have a fingerprint) are
        # sent, with their index, so rebuilding costs nothing per unmatched item.
        matched = [
            (n, [_match_state(m) for m in ms], None if f is None else _fingerprint_state(f))
            for n, (ms, f) in enumerate(zip(self.matches, self.fingerprints, strict=True))
            if ms or f is not None
        ]
        meta = (self.version, self.title, self.link, self.lang, self.ttl_minutes)
        return (_rebuild, (meta, items, matched, self.digests))


MatchState = tuple[str, float, list[tuple[str, str, str, int, int]], str]
FingerprintState = tuple[frozenset[str], frozenset[str], bytes, bool]


def _match_state(m: Match) -> MatchState:
    return (
        m.topic,
        m.score,
        [(h.concept, h.term, h.field, h.start, h.end) for h in m.hits],
        m.snippet,
    )


def _fingerprint_state(f: Fingerprint) -> FingerprintState:
    return (f.title, f.words, f.signature.values, f.has_summary)


def _rebuild(
    meta: tuple[str, str | None, str | None, str | None, int | None],
    items: Sequence[tuple[str, str, str | None, str, datetime, str, str | None]],
    matched: Sequence[tuple[int, Sequence[MatchState], FingerprintState | None]],
    digests: bytes | None,
) -> PreparedFeed:
    # Runs in the main process for every feed: constructors only, no checks. The
    # stems are interned: the story index keeps them for its whole window, and
    # unpickled, each item would hold copies of its own where Fingerprint.of's stem
    # cache shares one string per stem (the farm, 3,000 feeds: 12 MB of copies).
    matches: list[tuple[Match, ...]] = [()] * len(items)
    fingerprints: list[Fingerprint | None] = [None] * len(items)
    for n, states, f in matched:
        matches[n] = tuple(
            Match(topic, score, tuple(starmap(Hit, hits)), snippet)  # type: ignore[arg-type]
            for topic, score, hits, snippet in states
        )
        if f is not None:
            fingerprints[n] = Fingerprint(
                frozenset(map(intern, f[0])), frozenset(map(intern, f[1])), MinHash(f[2]), f[3]
            )
    return PreparedFeed(
        *meta,
        items=tuple(starmap(new_item, items)),
        matches=tuple(matches),
        fingerprints=tuple(fingerprints),
        digests=digests,
    )


def prepare_document(
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    lang: str | None,
    matcher: TopicMatcher,
    seen_blob: bytes | None,
) -> PreparedFeed:
    """Parse `body`, then `prepare` it, leaving out the items of `seen_blob`, the
    feed's stored digests (bot/feeds/seen.py): a parser worker's whole call.

    Raises like `parse_feed`.
    """
    # imported here: this module is the main process's too, which need not load the parsers
    from bot.feeds.parse import parse_feed

    seen = SeenItems.load(seen_blob, url, lang)
    return prepare(parse_feed(body, headers, url, seen=seen), url, lang, matcher, seen)


def prepare(
    parsed: ParsedFeed,
    url: str,
    lang: str | None,
    matcher: TopicMatcher,
    seen: SeenItems | None = None,
) -> PreparedFeed:
    """Normalize every raw item (dropping the empty ones), match it, fingerprint the matched.

    `url` is the feed's address (the base for links), `lang` the configured
    language, which wins over the document's. With `seen` (what `parsed` was
    parsed with, if the parser took it), the items it holds are left out and
    the result carries the digests to store (bot/feeds/seen.py).
    """
    digests: bytes | None = None
    if seen is None:
        items = normalized(parsed, url, UNCLAMPED, lang)
    else:
        items, digests = _unseen(parsed, url, lang, seen)
    matches = tuple(tuple(matcher.match_item(item)) for item in items)
    return PreparedFeed(
        parsed.version,
        normalize_title(parsed.title),
        parsed.link,
        parsed.lang,
        parsed.ttl_minutes,
        tuple(items),
        matches,
        tuple(
            Fingerprint.of(item.title, item.summary) if found else None
            for item, found in zip(items, matches, strict=True)
        ),
        digests,
    )


def _unseen(
    parsed: ParsedFeed, url: str, lang: str | None, seen: SeenItems
) -> tuple[list[Item], bytes]:
    """The normalized items `seen` does not hold, which `decide_items` could act on,
    and the digest blob of this version (the rules are in bot/feeds/seen.py)."""
    lang = lang or parsed.lang
    raws: list[RawItem | None]
    if parsed.digests is None:  # the parser read every item: digest them here
        context = f"{parsed.version}\0{parsed.lang}".encode()
        digests = [raw_item_digest(seen.salt, context, raw) for raw in parsed.items]
        raws = [
            None if d in seen.keys else raw for d, raw in zip(digests, parsed.items, strict=True)
        ]
    else:  # the parser skipped the seen ones: `items` are the rest, in order
        digests = list(parsed.digests)
        unread = iter(parsed.items)
        raws = [None if d in seen.keys else next(unread) for d in digests]
    items: list[Item] = []
    entries: list[tuple[bytes, bytes]] = []
    first: set[bytes] = set()  # the keys an earlier item of this document had
    skipped: set[bytes] = set()  # the keys of the items left out
    for digest, raw in zip(digests, raws, strict=True):
        if raw is None:
            key = seen.keys[digest]
            skipped.add(key)
        else:
            item = normalize_item(raw, feed_url=url, now=UNCLAMPED, lang=lang)
            if item is None:
                key = NO_KEY
            else:
                key = key_digest(item.key)
                # decide_items would ignore an item whose key a left-out item had first
                if key not in skipped:
                    items.append(item)
        if key == NO_KEY:
            entries.append((digest, key))
        elif key in first:  # decide_items ignores a key's later items: never skip them
            entries.append((NEVER, key))
        else:
            first.add(key)
            entries.append((digest, key))
    return items, encode(entries)


def normalized(parsed: ParsedFeed, url: str, now: datetime, lang: str | None) -> list[Item]:
    """Normalize every raw item, dropping the empty ones; `lang` wins over the document's.

    The one normalizing loop: a worker's `prepare` and the pipeline's in-process path
    (bot/update.py) both run it, so both give the same items.
    """
    items = (
        normalize_item(raw, feed_url=url, now=now, lang=lang or parsed.lang) for raw in parsed.items
    )
    return [item for item in items if item is not None]
