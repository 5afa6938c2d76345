"""PreparedFeed's pickling (worker -> main process) rebuilds the very feed it was given.

`__reduce__` sends only the items that matched or have a fingerprint, by index;
these feeds mix every case: no items, unmatched items between matched ones, a
match without a fingerprint and a fingerprint without a match, at either end.
"""

from __future__ import annotations

import pickle
import random
import sys
from datetime import UTC, datetime, timedelta

import pytest

from bot.feeds.prepare import UNCLAMPED, PreparedFeed
from bot.match.similarity import Fingerprint
from bot.types import Hit, Item, Match

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _item(rng: random.Random, n: int) -> Item:
    when = UNCLAMPED if rng.random() < 0.2 else START - timedelta(seconds=rng.randrange(10**6))
    return Item(
        key=f"key-{n}",
        title=f"Patriot drones {n} é",
        link=None if rng.random() < 0.3 else f"https://example.org/{n}",
        summary="" if rng.random() < 0.3 else "Drones over the harbour " * rng.randrange(1, 5),
        published_at=when,
        content_hash=f"{n:064x}",
        lang=rng.choice([None, "de", "en"]),
    )


def _matches(rng: random.Random, item: Item) -> tuple[Match, ...]:
    return tuple(
        Match(
            topic,
            rng.random(),
            tuple(
                Hit("drone", "drones", rng.choice(["title", "summary"]), h, h + 6)
                for h in range(rng.randrange(3))
            ),
            item.title[: rng.randrange(20)],
        )
        for topic in rng.sample(["air-defense", "drones", "other"], rng.randrange(4))
    )


def _feed(seed: int) -> PreparedFeed:
    rng = random.Random(seed)
    items = tuple(_item(rng, n) for n in range(rng.choice([0, 1, 2, 7, 30])))
    matches = tuple(_matches(rng, i) if rng.random() < 0.4 else () for i in items)
    fingerprints = tuple(
        # mostly as prepare() sets them, sometimes not: the pickling must not assume it
        Fingerprint.of(i.title, i.summary) if bool(ms) != (rng.random() < 0.15) else None
        for i, ms in zip(items, matches, strict=True)
    )
    return PreparedFeed(
        rng.choice(["rss20", "atom10"]),
        rng.choice([None, "Title"]),
        rng.choice([None, "https://example.org/"]),
        rng.choice([None, "de"]),
        rng.choice([None, 60]),
        items,
        matches,
        fingerprints,
        rng.choice([None, b"", bytes(range(32))]),
    )


@pytest.mark.parametrize("seed", range(60))
def test_a_pickled_feed_comes_back_equal(seed: int) -> None:
    feed = _feed(seed)
    back = pickle.loads(pickle.dumps((True, feed), pickle.HIGHEST_PROTOCOL))[1]
    assert back == feed
    assert [type(m) for m in back.matches] == [tuple] * len(feed.items)
    assert [type(f) for f in back.fingerprints] == [type(f) for f in feed.fingerprints]
    assert all(type(h) is Hit for ms in back.matches for m in ms for h in m.hits)
    for f in back.fingerprints:
        if f is not None:  # the stems are interned, shared with the story index's
            assert all(sys.intern(s) is s for s in f.title | f.words)


def test_the_cases_are_all_covered() -> None:
    """The seeds above hold unmatched items, a match without a fingerprint, and the reverse."""
    feeds = [_feed(seed) for seed in range(60)]
    pairs = [
        (bool(m), f is not None)
        for feed in feeds
        for m, f in zip(feed.matches, feed.fingerprints, strict=True)
    ]
    assert {(False, False), (True, True), (True, False), (False, True)} <= set(pairs)
    assert any(not feed.items for feed in feeds)
