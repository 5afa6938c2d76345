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

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from sys import intern
from typing import Any

from bot.feeds.normalize import normalize_item
from bot.match.similarity import Fingerprint, MinHash
from bot.match.topics import TopicMatcher
from bot.types import Hit, Item, Match, ParsedFeed

__all__ = ["UNCLAMPED", "PreparedFeed", "normalized", "prepare"]

#: the `now` items are normalized against in a worker; later than any real date
UNCLAMPED = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    """A parsed feed's items, normalized, with every item's matches.

    `matches[i]` are `items[i]`'s topics; `fingerprints[i]` is its
    `Fingerprint` when it matched (the story index needs no other), else None.
    Items are normalized against `UNCLAMPED`: read them through `items_at`.
    """

    version: str
    title: str | None
    link: str | None
    lang: str | None
    ttl_minutes: int | None
    items: tuple[Item, ...]
    matches: tuple[tuple[Match, ...], ...]
    fingerprints: tuple[Fingerprint | None, ...]

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
        matches = [[_match_state(m) for m in ms] for ms in self.matches]
        fingerprints = [
            None if f is None else (f.title, f.words, f.signature.values, f.has_summary)
            for f in self.fingerprints
        ]
        meta = (self.version, self.title, self.link, self.lang, self.ttl_minutes)
        return (_rebuild, (meta, items, matches, fingerprints))


MatchState = tuple[str, float, list[tuple[str, str, str, int, int]], str]


def _match_state(m: Match) -> MatchState:
    return (
        m.topic,
        m.score,
        [(h.concept, h.term, h.field, h.start, h.end) for h in m.hits],
        m.snippet,
    )


def _rebuild(
    meta: tuple[str, str | None, str | None, str | None, int | None],
    items: Sequence[tuple[str, str, str | None, str, datetime, str, str | None]],
    matches: Sequence[Sequence[MatchState]],
    fingerprints: Sequence[tuple[frozenset[str], frozenset[str], bytes, bool] | None],
) -> PreparedFeed:
    # Runs in the main process for every feed: constructors only, no checks. The
    # stems are interned: the story index keeps them for its whole window, and
    # unpickled, each item would hold copies of its own where Fingerprint.of's stem
    # cache shares one string per stem (the farm, 3,000 feeds: 12 MB of copies).
    return PreparedFeed(
        *meta,
        items=tuple(Item(*state) for state in items),
        matches=tuple(
            tuple(
                Match(topic, score, tuple(Hit(*h) for h in hits), snippet)  # type: ignore[arg-type]
                for topic, score, hits, snippet in ms
            )
            for ms in matches
        ),
        fingerprints=tuple(
            None
            if f is None
            else Fingerprint(
                frozenset(map(intern, f[0])), frozenset(map(intern, f[1])), MinHash(f[2]), f[3]
            )
            for f in fingerprints
        ),
    )


def prepare(parsed: ParsedFeed, url: str, lang: str | None, matcher: TopicMatcher) -> PreparedFeed:
    """Normalize every raw item (dropping the empty ones), match it, fingerprint the matched.

    `url` is the feed's address (the base for links), `lang` the configured
    language, which wins over the document's.
    """
    items = normalized(parsed, url, UNCLAMPED, lang)
    matches = tuple(tuple(matcher.match_item(item)) for item in items)
    return PreparedFeed(
        parsed.version,
        parsed.title,
        parsed.link,
        parsed.lang,
        parsed.ttl_minutes,
        tuple(items),
        matches,
        tuple(
            Fingerprint.of(item.title, item.summary) if found else None
            for item, found in zip(items, matches, strict=True)
        ),
    )


def normalized(parsed: ParsedFeed, url: str, now: datetime, lang: str | None) -> list[Item]:
    """Normalize every raw item, dropping the empty ones; `lang` wins over the document's.

    The one normalizing loop: a worker's `prepare` and the pipeline's in-process path
    (bot/update.py) both run it, so both give the same items.
    """
    items = (
        normalize_item(raw, feed_url=url, now=now, lang=lang or parsed.lang) for raw in parsed.items
    )
    return [item for item in items if item is not None]
