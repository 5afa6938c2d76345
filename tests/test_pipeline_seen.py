"""A pipeline whose workers skip seen items stores what one that prepares nothing stores.

The real Pipeline, a real ParserPool given the topics (so its workers parse,
normalize, match and skip the items of each feed's last stored version,
bot/feeds/seen.py) and a loopback server whose documents change between
polls. Beside it, a pipeline whose parser only parses, matching in-process,
on a store of its own. Both must store the same items, matches, stories and
outbox rows; `feeds.item_digests` follows each 200 and survives a 304; and a
feed whose write is rolled back keeps the digests of what is stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.feeds.fetch import Fetcher
from bot.feeds.parse_pool import ParserPool
from bot.feeds.prepare import PreparedFeed
from bot.feeds.seen import SIZE
from bot.match.spec import TopicSpec
from bot.store.db import Database
from bot.store.schema import Feed, ItemRow
from bot.types import ParsedFeed, PollSummary
from tests.test_pipeline_dedup import NEXT_POLL, START, FeedSite, InlineParser, item, rss
from tests.test_pipeline_workers import TOPICS, Run, _run, _words

FEEDS = 3


@dataclass
class CountingPool:
    """The pool, noting how many items each prepared feed holds: the ones not skipped."""

    pool: ParserPool
    #: feed URL -> items prepared, per fetch
    prepared: dict[str, list[int]] = field(default_factory=dict)
    topics: Mapping[str, TopicSpec] | None = field(init=False)

    def __post_init__(self) -> None:
        self.topics = self.pool.topics

    async def parse(self, body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed:
        return await self.pool.parse(body, headers, url)

    async def prepare(
        self,
        body: bytes,
        headers: Mapping[str, str],
        url: str,
        lang: str | None,
        seen: bytes | None = None,
    ) -> PreparedFeed:
        prepared = await self.pool.prepare(body, headers, url, lang, seen)
        self.prepared.setdefault(url, []).append(len(prepared.items))
        return prepared

    def last(self, url: str) -> int:
        return self.prepared[url][-1]


# --- the versions every feed goes through ----------------------------------------------------

#: (key, seed of its title, the version it first appears in: its date is just before that poll)
A, B, C = ("a", 1, 0), ("b", 2, 0), ("c", 3, 0)
N, B_RETITLED = ("n", 4, 1), ("b", 5, 1)
A_COPY, M = ("a", 6, 2), ("m", 7, 2)
A_REWRITTEN = ("a", 8, 4)
K = ("k", 9, 7)

#: (entries, how many items the workers prepare for each feed, an ETag); every version
#: ends with the same undated item
VERSIONS: list[tuple[list[tuple[str, int, int]], int, str | None]] = [
    ([A, B, C], 4, None),  # the first fetch: everything, the undated item too
    ([N, A, B_RETITLED, C], 2, None),  # a new item at the top, one retitled
    ([N, A, B_RETITLED, A_COPY, M], 1, None),  # C gone; a copy of A's key (dropped); M new
    ([M, A_COPY, N, B_RETITLED], 1, None),  # reordered, A gone: its copy stands alone
    ([M, A_REWRITTEN, A_COPY, N, B_RETITLED], 1, None),  # a new item of a key, then the stored
    ([M, A_REWRITTEN, A_COPY, N, B_RETITLED], 0, None),  # unchanged, served again
    ([M, A_REWRITTEN, N, B_RETITLED], 0, '"v6"'),  # the second of a key gone: nothing new
    ([M, A_REWRITTEN, N, B_RETITLED], 0, '"v6"'),  # 304
    ([K, M, A_REWRITTEN, N, B_RETITLED], 1, None),  # after a 304, the digests still serve
]
NOT_MODIFIED = 7


def document(feed: int, version: int) -> bytes:
    entries = []
    for key, seed, first in VERSIONS[version][0]:
        published = START + NEXT_POLL * (first + 1) - timedelta(hours=1)
        title = f"Patriot {_words(feed * 100 + seed)}"
        # a relative guid: keyed as written, "/f0-a" (bot/feeds/identity.py)
        entries.append(item(title, f"f{feed}-{key}", published))
    # undated: normalized at the write's `now`, and the same element at every version
    entries.append(f"<item><title>Drones {_words(-feed)}</title><guid>f{feed}-u</guid></item>")
    return rss(*entries, title=f"Desk {feed}")


def serve(site: FeedSite, version: int, feeds: int = FEEDS) -> None:
    for n in range(feeds):
        site.serve(f"/f/{n}.xml", document(n, version), etag=VERSIONS[version][2])


def digests(db: Database) -> dict[str, bytes | None]:
    with db.read() as s:
        return {url: blob for url, blob in s.execute(select(Feed.url, Feed.item_digests))}


def counts(summary: PollSummary) -> tuple[int, ...]:
    return (
        summary.fetched,
        summary.not_modified,
        summary.new_items,
        summary.matched,
        summary.queued,
        summary.errors,
    )


@pytest.fixture
async def site() -> AsyncIterator[FeedSite]:
    async with FeedSite() as running:
        yield running


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(timeout_s=5, allow_private_hosts=("localhost",)) as opened:
        yield opened


@pytest.fixture
async def pool() -> AsyncIterator[CountingPool]:
    async with ParserPool(workers=2, topics=TOPICS) as running:
        yield CountingPool(running)


async def test_skipping_workers_store_what_the_in_process_pipeline_stores(
    site: FeedSite, fetcher: Fetcher, pool: CountingPool, tmp_path: Path
) -> None:
    feeds = [site.url(f"/f/{n}.xml") for n in range(FEEDS)]
    inline = await _run(f"sqlite:///{tmp_path / 'inline.db'}", InlineParser(), fetcher, feeds)
    workers = await _run(f"sqlite:///{tmp_path / 'workers.db'}", pool, fetcher, feeds)
    assert workers.pipeline._preparer is pool  # the workers prepare, with the digests
    queued = 0
    for version, (entries, prepared, _) in enumerate(VERSIONS):
        serve(site, version)
        before = digests(workers.db)
        a, b = await inline.poll(), await workers.poll()
        assert counts(a) == counts(b), version
        assert b.errors == 0
        queued += b.queued
        after = digests(workers.db)
        if version == NOT_MODIFIED:
            assert b.not_modified == FEEDS
            assert after == before  # a 304 leaves them alone
            assert all(len(pool.prepared[url]) == version for url in feeds)  # nothing prepared
        else:
            assert b.fetched == FEEDS
            for url in feeds:
                assert pool.last(url) == prepared, (version, url)
                blob = after[url]
                assert blob is not None and len(blob) == 2 * SIZE * (len(entries) + 1)
        assert set(digests(inline.db).values()) == {b""}  # no worker, no digests
        assert inline.rows() == workers.rows(), version
    assert queued > 0
    rows = workers.rows()
    # the edits reached the store: B retitled, A's key holding its rewritten item
    titles = {key: title for key, title, *_ in rows["items"]}
    assert titles["/f0-b"] == f"Patriot {_words(5)}"
    assert titles["/f0-a"] == f"Patriot {_words(8)}"
    assert len(rows["items"]) == FEEDS * 7  # a, b, c, n, m, k and the undated one


def _refuse_items(db: Database, feed_url: str) -> None:
    """Inserting this feed's items fails: its whole write is rolled back."""
    with db.write() as s:
        feed_id = s.scalar(select(Feed.id).where(Feed.url == feed_url))
        s.execute(
            text(
                "CREATE TRIGGER refuse_items BEFORE INSERT ON items"
                f" WHEN new.feed_id = {feed_id} BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )


def _allow_items(db: Database) -> None:
    with db.write() as s:
        s.execute(text("DROP TRIGGER refuse_items"))


def _stored_keys(db: Database) -> set[str]:
    with db.read() as s:
        return set(s.scalars(select(ItemRow.key)))


async def test_a_rolled_back_write_keeps_the_digests_of_what_is_stored(
    site: FeedSite, fetcher: Fetcher, pool: CountingPool, tmp_path: Path
) -> None:
    """A feed whose items cannot be stored keeps its last digests, so the next poll
    prepares and stores the items it lost (the same rows as the in-process pipeline)."""
    feeds = [site.url(f"/f/{n}.xml") for n in range(2)]
    failing = feeds[1]
    inline = await _run(f"sqlite:///{tmp_path / 'inline.db'}", InlineParser(), fetcher, feeds)
    workers = await _run(f"sqlite:///{tmp_path / 'workers.db'}", pool, fetcher, feeds)
    runs: list[Run] = [inline, workers]

    serve(site, 0, feeds=2)
    for run in runs:
        assert (await run.poll()).errors == 0
    first = digests(workers.db)[failing]
    assert first is not None and len(first) == 2 * SIZE * 4

    for run in runs:
        _refuse_items(run.db, failing)
    serve(site, 1, feeds=2)  # N new, B retitled
    for run in runs:
        summary = await run.poll()
        assert (summary.fetched, summary.errors) == (1, 1)
    assert pool.last(failing) == 2
    assert digests(workers.db)[failing] == first  # not the digests of a version not stored
    assert "/f1-n" not in _stored_keys(workers.db)
    with workers.db.read() as s:
        feed = s.scalars(select(Feed).where(Feed.url == failing)).one()
        assert feed.last_error is not None and "refused" in feed.last_error
        # the retitle was rolled back with the rest
        assert s.scalar(select(ItemRow.title).where(ItemRow.key == "/f1-b")) == (
            f"Patriot {_words(100 + 2)}"
        )

    for run in runs:
        _allow_items(run.db)
    summary = await workers.poll()
    assert (summary.fetched, summary.new_items, summary.errors) == (2, 1, 0)
    assert pool.last(failing) == 2  # N and B again: what the failed write lost
    assert pool.last(feeds[0]) == 0
    assert "/f1-n" in _stored_keys(workers.db)
    stored = digests(workers.db)[failing]
    assert stored is not None and stored != first and len(stored) == 2 * SIZE * 5
    assert counts(await inline.poll()) == counts(summary)
    assert inline.rows() == workers.rows()
