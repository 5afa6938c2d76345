"""THE pipeline: the only place where feeds, matching and the store meet.

For every due feed::

    feed    = store.due_feeds(now)                       # the scheduler decides nothing
    result  = await fetcher.fetch(feed)                  # network: 200, 304 or FetchError
    if 304:  store.record_success(feed, next_check)      # parse nothing, alert nothing
    prepared = await parser.prepare(body)                # in a worker process: parse, then
                                                         #   normalize, match, fingerprint
    items   = prepared.items_at(now)                     #   (pure, bot/feeds/prepare.py)
    intents = decide(items, store.known_keys(feed))      # pure: insert / update, alert or not
    with store.write():                                  # ONE transaction:
        insert items and matches
        story   = stories.assign(item)                   # in-memory index + new Story rows
        per (channel, item): an alert for a story's first item in the channel,
                             else a thread follow-up (at most one per interval)
        record_success(feed, validators, next_check)
      stories.flush()                                    # items' story ids, stories' counts

With a parser that cannot prepare (tests, a pool without the topics), the
writer normalizes and matches itself, with the same functions and results.

A crash before the commit leaves nothing behind (the next poll sees the items
as new again, and the story index forgets what the transaction added); after
it, the outbox holds every alert and follow-up and the sender delivers them.
The story index is rebuilt from the stored items at the first write, so a new
Pipeline on the same database neither alerts nor threads an item twice. One
bad feed never stops a run: each feed's outcome is returned and its error
stored on the feed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.errors import BotError, FetchError, StoreError
from bot.feeds.decide import decide_items
from bot.feeds.normalize import normalize_title
from bot.feeds.prepare import PreparedFeed, normalized
from bot.feeds.schedule import cache_max_age, next_check_at, update_rate
from bot.match.similarity import Fingerprint
from bot.match.spec import TopicSpec
from bot.match.topics import TopicMatcher
from bot.store import channels as channel_store
from bot.store import feeds as feed_store
from bot.store import items as item_store
from bot.store import outbox
from bot.store.db import Database
from bot.stories import StoryTracker
from bot.types import (
    FeedForUpdate,
    Fetched,
    FetchResult,
    Item,
    Match,
    ParsedFeed,
    PollSummary,
)

log = logging.getLogger(__name__)


class FeedFetcher(Protocol):
    async def fetch(self, feed: FeedForUpdate) -> FetchResult: ...


class FeedParser(Protocol):
    async def parse(self, body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed: ...


@runtime_checkable
class FeedPreparer(Protocol):
    """A parser that also normalizes and matches items, against `topics` (ParserPool)."""

    topics: Mapping[str, TopicSpec] | None

    async def prepare(
        self,
        body: bytes,
        headers: Mapping[str, str],
        url: str,
        lang: str | None,
        seen: bytes | None = None,
    ) -> PreparedFeed: ...


#: most feeds written in one transaction (group commit); 100 rather than 200 keeps a
#: 10,000-feed cold cycle under 200 MB (bench_ingest: 172 MB, was 203) at the same speed
WRITE_BATCH = 100
#: a transaction waits for this many feeds, or for WRITE_LINGER_S after its first one:
#: each transaction costs the writer about 1 ms besides its rows (a commit, the
#: followers query, the session), and a writer that keeps up would otherwise commit
#: every feed or two (bench_ingest, 1,000 feeds cold: 269 transactions, writer CPU
#: 1.65 s; replayed in batches of 25: 1.35 s)
MIN_BATCH = 25
#: at most this much later an alert is queued than without waiting for company
WRITE_LINGER_S = 0.05
#: most feeds fetched or parsed but not yet written: when the writer falls behind,
#: new fetches wait instead of piling parsed feeds up in memory. One batch, not two:
#: 6 MB less at 10,000 feeds (bench_ingest, process and worker PSS: 201 -> 195 MB),
#: no speed difference the run-to-run noise lets one see
MAX_HELD = WRITE_BATCH


@dataclass(frozen=True, slots=True)
class _Result:
    """A feed's fetch-and-parse result, waiting for the writer."""

    feed: FeedForUpdate
    headers: Mapping[str, str] = field(default_factory=dict)
    fetched: Fetched | None = None
    parsed: ParsedFeed | None = None
    #: instead of `parsed`, when the parser prepared the feed (FeedPreparer)
    prepared: PreparedFeed | None = None
    error: BotError | None = None


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """What happened to one feed in one cycle; logged as one line."""

    feed_id: int
    url: str
    status: Literal["fetched", "not_modified", "error"]
    new_items: int = 0
    matched: int = 0
    queued: int = 0
    error: str | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Pipeline:
    """Runs update cycles; every effectful part is injected."""

    db: Database
    fetcher: FeedFetcher
    parser: FeedParser
    matcher: TopicMatcher
    settings: Settings
    clock: Callable[[], datetime] = utcnow
    rng: random.Random | None = None
    #: story clustering; its index is rebuilt from the store at the first write
    stories: StoryTracker = field(default_factory=StoryTracker)
    #: who follows what, read once per write transaction (`_channels_for`)
    _followers: channel_store.Followers | None = field(default=None, init=False)
    #: channels following a set of topics, for the transaction being written
    _channels: dict[frozenset[str], list[str]] = field(default_factory=dict, init=False)
    #: the parser, when it prepares feeds with the topics `matcher` was compiled from
    _preparer: FeedPreparer | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        # A parser with other topics (or none) only parses: the writer matches.
        parser = self.parser
        if isinstance(parser, FeedPreparer) and parser.topics is not None:
            if tuple(parser.topics) == self.matcher.topics:
                self._preparer = parser
            else:
                log.warning("the parser's topics are not the matcher's; matching in-process")

    async def poll_due(self) -> PollSummary:
        """Update every feed that is due now; never raises for one feed.

        Fetching and parsing run concurrently; a single writer task commits the
        results in batches (group commit): whatever has arrived, plus what arrives
        within WRITE_LINGER_S while fewer than MIN_BATCH wait (`_next_batch`), is
        written in one transaction; should one feed fail, the batch is written
        again with each feed in its own SAVEPOINT, so one bad feed cannot spoil
        the others (`_write_batch`). A slow feed never holds up the writes of fast ones.
        """
        started = time.monotonic()
        due = await asyncio.to_thread(self._due, self.clock())
        queue: asyncio.Queue[_Result | None] = asyncio.Queue(maxsize=WRITE_BATCH)
        writer = asyncio.create_task(self._write_results(queue))
        held = asyncio.Semaphore(MAX_HELD)

        async def produce(feed: FeedForUpdate) -> None:
            try:
                await queue.put(await self._fetch_and_parse(feed))
            finally:
                held.release()

        # A feed's task starts when a slot frees up, so memory stays flat however
        # many feeds are due: a writer that falls behind slows the fetching down.
        producers: list[asyncio.Task[None]] = []
        try:
            for feed in due:
                await held.acquire()
                producers.append(asyncio.create_task(produce(feed)))
            await asyncio.gather(*producers)
        except BaseException:
            for task in producers:
                task.cancel()
            raise
        finally:
            await queue.put(None)
            outcomes = await writer
        return summarize(outcomes, time.monotonic() - started)

    async def update_feed(self, feed: FeedForUpdate) -> FeedOutcome:
        """Fetch, parse, match and store one feed; errors are recorded, not raised."""
        result = await self._fetch_and_parse(feed)
        (outcome,) = await asyncio.to_thread(self._write_batch, [result])
        return outcome

    def _due(self, now: datetime) -> list[FeedForUpdate]:
        with self.db.read() as session:
            return feed_store.due_feeds(session, now)

    async def _fetch_and_parse(self, feed: FeedForUpdate) -> _Result:
        try:
            result = await self.fetcher.fetch(feed)
            if not isinstance(result, Fetched):
                return _Result(feed, headers=result.headers)
            # The body is parsed: the writer needs only the rest (up to MAX_HELD wait for it).
            held = replace(result, body=b"")
            if self._preparer is not None:
                prepared = await self._preparer.prepare(
                    result.body, result.headers, result.url, feed.lang, feed.item_digests
                )
                return _Result(feed, fetched=held, prepared=prepared)
            parsed = await self.parser.parse(result.body, result.headers, result.url)
            return _Result(feed, fetched=held, parsed=parsed)
        except BotError as e:
            log.warning("feed failed", extra={"feed": feed.url, "error": str(e)})
            return _Result(feed, error=e)

    async def _write_results(self, queue: asyncio.Queue[_Result | None]) -> list[FeedOutcome]:
        outcomes: list[FeedOutcome] = []
        failure: Exception | None = None
        done = False
        while not done:
            batch, done = await _next_batch(queue)
            if batch and failure is None:
                try:
                    outcomes.extend(await asyncio.to_thread(self._write_batch, batch))
                except Exception as e:  # the store is down: nothing more is written, but
                    failure = e  # the queue is bounded, so keep draining it to the end
        if failure is not None:
            raise failure
        return outcomes

    def _write_batch(self, batch: Sequence[_Result]) -> list[FeedOutcome]:
        """Write many feeds' results in one transaction.

        First all at once, with no savepoints: they cost the writer more than most
        feeds' own rows. Should any feed fail, that transaction is rolled back and
        the batch written again with each feed in its own savepoint, so one bad feed
        cannot spoil the others (`_write(isolated=True)`).
        """
        self.stories.load(self.db, self.clock())
        try:
            return self._write(batch, isolated=False)
        except Exception:
            log.info("a batch failed as a whole; writing its feeds one by one")
        return self._write(batch, isolated=True)

    def _write(self, batch: Sequence[_Result], *, isolated: bool) -> list[FeedOutcome]:
        """`batch` in one transaction; `isolated`: each feed in its own savepoint.

        A 304 writes nothing but its feed row: those rows are noted in order and
        written together at the end (in one savepoint, and one per feed only if that
        fails).
        """
        outcomes: list[FeedOutcome] = []
        unchanged: list[tuple[int, _Result, datetime, datetime]] = []
        apply = self._apply_isolated if isolated else self._apply
        self._followers, self._channels = None, {}
        with self.stories.transaction(), self.db.write() as session:
            for result in batch:
                if result.error is None and result.fetched is None:
                    now = self.clock()
                    next_at = self._next_check(result.feed, now, headers=result.headers)
                    unchanged.append((len(outcomes), result, now, next_at))
                    outcomes.append(FeedOutcome(result.feed.id, result.feed.url, "not_modified"))
                else:
                    outcomes.append(apply(session, result))
            self._store_unchanged(session, unchanged, outcomes, isolated=isolated)
            # outside the feeds' savepoints: its rows are the ones they kept (a rolled-back
            # savepoint takes its links along), so it fails only when the store does
            self.stories.flush(session)
        return outcomes

    def _apply_isolated(self, session: Session, result: _Result) -> FeedOutcome:
        try:
            with self.stories.savepoint(), session.begin_nested():
                return self._apply(session, result)
        except Exception as e:  # a bug or bad data in one feed must not stop the rest
            log.exception("storing feed failed", extra={"feed": result.feed.url})
            error = StoreError(f"could not store this feed's items: {e}")
            with session.begin_nested():
                return self._apply(session, _Result(result.feed, error=error))

    def _store_unchanged(
        self,
        session: Session,
        unchanged: Sequence[tuple[int, _Result, datetime, datetime]],
        outcomes: list[FeedOutcome],
        *,
        isolated: bool,
    ) -> None:
        """The noted 304s' feed rows; `outcomes[position]` is each one's outcome.

        Not `isolated`, a failure fails the whole attempt (`_write_batch`).
        """
        if not unchanged:
            return
        checks = [(r.feed.id, now, next_at) for _, r, now, next_at in unchanged]
        if not isolated:
            feed_store.record_unchanged(session, checks)
            return
        try:
            with session.begin_nested():
                feed_store.record_unchanged(session, checks)
            return
        except Exception:
            log.exception("storing unchanged feeds failed; storing them one by one")
        for position, result, _, _ in unchanged:
            outcomes[position] = self._apply_isolated(session, result)

    def _apply(self, session: Session, result: _Result) -> FeedOutcome:
        feed = result.feed
        if result.error is not None:
            self._store_error(session, feed, result.error)
            return FeedOutcome(feed.id, feed.url, "error", error=str(result.error))
        document = result.parsed if result.prepared is None else result.prepared
        if result.fetched is None or document is None:
            self._store_not_modified(session, feed, result.headers)
            return FeedOutcome(feed.id, feed.url, "not_modified")
        return self._store_fetched(session, feed, result.fetched, document)

    # -- the write side: each runs in a worker thread, one transaction each ----------

    def _next_check(
        self,
        feed: FeedForUpdate,
        now: datetime,
        *,
        headers: Mapping[str, str] | None = None,
        ttl_minutes: int | None = None,
        items_per_day: float | None = None,
        errors: int = 0,
        retry_after: float | None = None,
    ) -> datetime:
        s = self.settings
        interval = timedelta(seconds=feed.interval_s) if feed.interval_s else s.poll_interval
        return next_check_at(
            now=now,
            interval=interval,
            min_interval=s.min_interval,
            max_interval=s.max_interval,
            items_per_day=items_per_day if items_per_day is not None else feed.items_per_day,
            ttl_minutes=ttl_minutes,
            max_age_s=cache_max_age(headers or {}),
            retry_after_s=retry_after,
            consecutive_errors=errors,
            rng=self.rng,
        )

    def _channels_for(self, session: Session, matches: Sequence[Match]) -> list[str]:
        """Channels following the matched topics; the store is asked once per transaction."""
        topics = frozenset(m.topic for m in matches)
        if topics not in self._channels:
            if self._followers is None:
                self._followers = channel_store.instant_followers(session)
            self._channels[topics] = self._followers.channels_for(topics)
        return self._channels[topics]

    def _store_not_modified(
        self, session: Session, feed: FeedForUpdate, headers: Mapping[str, str]
    ) -> None:
        now = self.clock()
        feed_store.record_success(
            session, feed.id, now=now, next_check_at=self._next_check(feed, now, headers=headers)
        )

    def _store_error(self, session: Session, feed: FeedForUpdate, error: BotError) -> None:
        now = self.clock()
        retry_after = error.retry_after if isinstance(error, FetchError) else None
        permanent = isinstance(error, FetchError) and error.permanent
        errors = feed.consecutive_errors + 1
        next_at = self._next_check(feed, now, errors=errors, retry_after=retry_after)
        report = feed_store.record_error(
            session,
            feed.id,
            now=now,
            error=str(error),
            next_check_at=next_at,
            permanent=permanent,
            report_after=self.settings.report_after_errors,
        )
        if report:
            verb = "stopped" if permanent else f"failing ({errors} errors in a row)"
            text = f"Feed {feed.title or feed.url} is {verb}: {error}\n{feed.url}"
            enqueue_report(session, f"feed:{feed.id}:{now.isoformat()}", text, now)

    def _store_fetched(
        self,
        session: Session,
        feed: FeedForUpdate,
        fetched: Fetched,
        parsed: ParsedFeed | PreparedFeed,
    ) -> FeedOutcome:
        now = self.clock()
        if isinstance(parsed, PreparedFeed):  # normalized in the worker, title too
            items, title = parsed.items_at(now), parsed.title
        else:
            items = normalized(parsed, fetched.url, now, feed.lang)
            title = normalize_title(parsed.title)
        first_poll = feed.last_success_at is None
        # Items are only ever stored with a success (record_success, below, in the same
        # transaction): a feed that never succeeded has none to look up.
        known = (
            {} if first_poll else item_store.known_keys(session, feed.id, (i.key for i in items))
        )
        intents = decide_items(
            items,
            known,
            now=now,
            feed_added_at=feed.added_at,
            backlog_age=self.settings.backlog_age,
            first_poll=first_poll,
        )
        new, matched, queued = 0, 0, 0
        # each new item with its alert flag, its matches and, from a worker, its fingerprint
        inserts: list[tuple[Item, bool, Sequence[Match], Fingerprint | None]] = []
        prepared = parsed if isinstance(parsed, PreparedFeed) else None
        position = {id(item): i for i, item in enumerate(items)} if prepared else {}
        for item, action, alert in intents:
            if action == "update":
                item_store.update_item(session, feed.id, item)
            elif prepared is not None:
                i = position[id(item)]
                inserts.append((item, alert, prepared.matches[i], prepared.fingerprints[i]))
            else:
                inserts.append((item, alert, self.matcher.match_item(item), None))
        # One statement for the feed's new items, one for their matches; then, in
        # the same order as before, each matched item's story and alerts.
        item_ids = item_store.insert_items(
            session,
            feed.id,
            [(item, alert and bool(matches)) for item, alert, matches, _ in inserts],
            now=now,
        )
        stored = [
            (item_id, *insert)
            for item_id, insert in zip(item_ids, inserts, strict=True)
            if item_id is not None  # None: another writer stored it first and alerted there
        ]
        new = len(stored)
        item_store.insert_all_matches(
            session,
            [(item_id, matches) for item_id, _, _, matches, _ in stored if matches],
            now=now,
        )
        for item_id, item, alert, matches, fingerprint in stored:
            if not matches:
                continue
            matched += 1
            story = self.stories.assign(
                session,
                item_id,
                item,
                feed_id=feed.id,
                now=now,
                fingerprint=fingerprint,
            )
            if alert:
                queued += enqueue_alerts(
                    session,
                    item_id,
                    item,
                    matches,
                    feed.title or title or "",
                    now,
                    story_id=story.story_id,
                    followup_interval=self.settings.followup_interval,
                    new_story=story.is_new,
                    channel_ids=self._channels_for(session, matches),
                )
        # The first poll's items are a backlog, not a rate: start measuring from there.
        rate = feed.items_per_day
        if feed.last_success_at is not None:
            elapsed = (now - feed.last_success_at) or self.settings.poll_interval
            rate = update_rate(feed.items_per_day, new, elapsed)
        feed_store.record_success(
            session,
            feed.id,
            now=now,
            next_check_at=self._next_check(
                feed,
                now,
                headers=fetched.headers,
                ttl_minutes=parsed.ttl_minutes,
                items_per_day=rate,
            ),
            etag=fetched.headers.get("etag"),
            last_modified=fetched.headers.get("last-modified"),
            title=title,
            site_url=parsed.link,
            items_per_day=rate,
            new_items=new,
            moved_to=fetched.moved_to,
            # what the next fetch may skip; b"" (nothing) when this version was not digested
            item_digests=b"" if prepared is None or prepared.digests is None else prepared.digests,
        )
        return FeedOutcome(feed.id, feed.url, "fetched", new, matched, queued)


async def _next_batch(queue: asyncio.Queue[_Result | None]) -> tuple[list[_Result], bool]:
    """The results for one transaction, and whether the end (None) was reached.

    Whatever is waiting, up to WRITE_BATCH; with fewer than MIN_BATCH, the results
    arriving within WRITE_LINGER_S of the first join it too.
    """
    loop = asyncio.get_running_loop()
    batch: list[_Result] = []
    item = await queue.get()
    deadline = loop.time() + WRITE_LINGER_S
    while item is not None:
        batch.append(item)
        if len(batch) >= WRITE_BATCH:
            break
        if not queue.empty():
            item = queue.get_nowait()
            continue
        wait = deadline - loop.time()
        if len(batch) >= MIN_BATCH or wait <= 0:
            break
        try:
            item = await asyncio.wait_for(queue.get(), wait)
        except TimeoutError:
            break
    return batch, item is None


def alert_payload(item: Item, matches: Sequence[Match], feed_name: str) -> dict[str, object]:
    """Everything a notifier renders, snapshotted so delivery needs no joins."""
    return {
        "title": item.title,
        "link": item.link,
        "feed": feed_name,
        "published_at": item.published_at.isoformat(),
        "lang": item.lang,
        "summary": item.summary,
        "topics": [m.topic for m in matches],
        "why": [m.explanation() for m in matches],
    }


def enqueue_alerts(
    session: Session,
    item_id: int,
    item: Item,
    matches: Sequence[Match],
    feed_name: str,
    now: datetime,
    *,
    story_id: int | None = None,
    followup_interval: timedelta,
    new_story: bool = False,
    channel_ids: Sequence[str],
) -> int:
    """For each channel following a matched topic: an alert for the story's first item
    there, else the story's thread follow-up; returns how many new rows.

    `new_story`: the story was created by this item, so no channel has heard of it yet.
    `channel_ids`: the channels following the matched topics (`_channels_for`).
    """
    payload = alert_payload(item, matches, feed_name)
    count = 0
    for channel_id in channel_ids:
        count += outbox.enqueue_for_story(
            session,
            channel_id=channel_id,
            item_id=item_id,
            story_id=story_id,
            payload=payload,
            now=now,
            interval=followup_interval,
            new_story=new_story,
        )
    return count


def enqueue_report(session: Session, key: str, text: str, now: datetime) -> None:
    """An operational notice (failing feed, paused channel) to every admin channel."""
    for channel_id in channel_store.admin_channel_ids(session):
        outbox.enqueue(
            session,
            channel_id=channel_id,
            kind="report",
            dedup_key=f"report:{channel_id}:{key}",
            payload={"text": text},
            now=now,
        )


def summarize(outcomes: Sequence[FeedOutcome], seconds: float) -> PollSummary:
    return PollSummary(
        feeds=len(outcomes),
        fetched=sum(o.status == "fetched" for o in outcomes),
        not_modified=sum(o.status == "not_modified" for o in outcomes),
        new_items=sum(o.new_items for o in outcomes),
        matched=sum(o.matched for o in outcomes),
        queued=sum(o.queued for o in outcomes),
        errors=sum(o.status == "error" for o in outcomes),
        seconds=seconds,
    )
