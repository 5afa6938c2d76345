"""Parsing off the event loop: a small process pool around `parse_feed`.

Owns where parsing runs. Parsing is CPU-bound (a 1.6 MB podcast feed takes
tens of milliseconds even on the fast path, more than half a second on
feedparser), so the loop only ever runs the fast path, and only on small
bodies: shipping a small body to a worker and back costs more than parsing it
(bench/bench_parse.py, "pool round trip": about 1 ms against 0.1-0.3 ms).
Large bodies, and small ones the fast path leaves to feedparser, go to a
worker process, and the loop keeps serving chat commands meanwhile.

Given the topics, the pool also `prepare`s feeds: the worker parses,
normalizes, matches and fingerprints (prepare.py), most of a new feed's CPU,
and the main process keeps the fetching and the writes. Then every body goes
to a worker, small ones too, because the main process is the one that runs
out of CPU first (one core, one GIL): for a 30-item, 30 KB feed a round trip
costs it about 0.22 ms (workers.py; 0.33 ms through ProcessPoolExecutor),
where doing the work inline costs 1.8 ms (the workers spend 2.1 ms on it).

Exceptions cross the process boundary as a plain envelope, because our error
types keep extra attributes (NotAFeedError.feed_links) that default pickling
of exceptions would drop. A worker that dies (killed, out of memory) fails
the calls it held and is replaced; each of those calls runs once more, so a
crash costs no other feed its cycle, and a feed that kills its worker twice
is a ParseError.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

from bot.errors import NotAFeedError, ParseError
from bot.feeds.prepare import PreparedFeed, prepare_document
from bot.feeds.workers import NotReady, NoWorkers, WorkerDied, WorkerPool
from bot.match.spec import TopicSpec
from bot.match.topics import TopicMatcher
from bot.types import ParsedFeed

__all__ = ["INLINE_BELOW", "ParserPool", "PreparedFeed"]

log = logging.getLogger(__name__)

#: bodies smaller than this are parsed in the calling thread (see module docstring)
INLINE_BELOW = 64 * 1024
#: how long start-up waits for the workers (`started`); they take ~0.25 s here
WORKER_START_S = 10.0

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Failure:
    """A parse error, flattened so it pickles with all its fields."""

    kind: str  # "not_a_feed" or "parse"
    message: str
    feed_links: tuple[str, ...] = ()

    def to_exception(self) -> ParseError:
        if self.kind == "not_a_feed":
            return NotAFeedError(self.message, self.feed_links)
        return ParseError(self.message)


def _failure(e: ParseError) -> _Failure:
    if isinstance(e, NotAFeedError):
        return _Failure("not_a_feed", str(e), e.feed_links)
    return _Failure("parse", str(e))


def _parse_in_worker(
    body: bytes, headers: dict[str, str], url: str | None, quick_tried: bool
) -> ParsedFeed | _Failure:
    """Runs in a worker process."""
    # bot.feeds.parse is imported where it runs, as everywhere in this module: the
    # main process of a running bot then never loads the parsers (~7 MB)
    from bot.feeds.parse import parse_feed, parse_with_feedparser

    try:
        if quick_tried:
            return parse_with_feedparser(body, headers, url)
        return parse_feed(body, headers, url)
    except ParseError as e:
        return _failure(e)


#: the worker's matcher, set once by `_start_worker`
_matcher: TopicMatcher | None = None


def _start_worker(topics: Mapping[str, TopicSpec] | None) -> None:
    """Runs once in each new worker process: compile the pool's topics.

    The topics, not a compiled matcher, cross to the worker: they pickle to a
    few KB where the matcher's automaton takes hundreds, and `WorkerPool` writes
    the start-up frame from the event loop, which must never block on a child
    that dies before reading a frame larger than the pipe's buffer.
    """
    global _matcher
    _matcher = None if topics is None else TopicMatcher.compile(topics)


def _prepare_in_worker(
    body: bytes, headers: dict[str, str], url: str, lang: str | None, seen_blob: bytes | None
) -> PreparedFeed | _Failure:
    """Runs in a worker process: parse, then `prepare` with the worker's matcher,
    skipping the items of the feed's last stored version (bot/feeds/seen.py)."""
    if _matcher is None:  # only a pool given topics ever sends this
        raise RuntimeError("this parser worker has no matcher")
    try:
        return prepare_document(body, headers, url, lang, _matcher, seen_blob)
    except ParseError as e:
        return _failure(e)


def default_workers() -> int:
    """One worker per core but one: the main process keeps a core for fetching and
    the database. On this 2-core machine one worker beat two (bench_ingest, 1,000
    feeds: cold 2.6 vs 2.8 s, 10% changed 0.28 vs 0.37 s) and saved its ~48 MB."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 2
    return max(1, cores - 1)


class ParserPool:
    """`async with ParserPool() as pool: feed = await pool.parse(body, headers, url)`.

    With `topics`, `await pool.prepare(body, headers, url, lang)` also
    normalizes and matches in the worker (the pipeline's path, when its matcher
    was compiled from the same topics).
    """

    def __init__(
        self,
        workers: int | None = None,
        inline_below: int = INLINE_BELOW,
        *,
        topics: Mapping[str, TopicSpec] | None = None,
    ) -> None:
        self.workers = default_workers() if workers is None else workers
        self.inline_below = inline_below
        #: what `prepare` matches against (each worker compiles its own TopicMatcher)
        self.topics = topics
        self._pool: WorkerPool | None = None
        #: the workers could not start: calls run in a thread here (`_in_process`)
        self._degraded = False

    async def __aenter__(self) -> ParserPool:
        self._pool = WorkerPool(self.workers, _start_worker, (self.topics,))
        # With topics, start the workers now: a spawned worker takes a few hundred ms
        # to import and compile the topics, which the first cycle would wait for.
        # Without, only a body the loop cannot parse starts them.
        self._pool.start(spawn=self.topics is not None)
        return self

    async def started(self, timeout: float = WORKER_START_S) -> None:
        """Wait (at most `timeout`) for the workers started with the pool to be ready,
        so that their start-up is not in the first poll's time."""
        pool = self._pool
        if pool is None or self.topics is None:  # no workers start with the pool
            return
        if not await pool.started(timeout):
            log.warning("the parser workers are still starting after %.0f s", timeout)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def parse(self, body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed:
        """Parse `body` like `parse_feed`; feedparser and large bodies run in a worker."""
        small = len(body) < self.inline_below
        if small:
            from bot.feeds.parse import parse_quick

            quick = parse_quick(body, headers, url)
            if quick is not None:
                return quick
        outcome = await self._run(_parse_in_worker, body, dict(headers), url, small)
        if isinstance(outcome, _Failure):
            raise outcome.to_exception()
        return outcome

    async def prepare(
        self,
        body: bytes,
        headers: Mapping[str, str],
        url: str,
        lang: str | None,
        seen: bytes | None = None,
    ) -> PreparedFeed:
        """Parse `body` and `prepare` its items (bot/feeds/prepare.py), in a worker.

        `seen` is the feed's stored digest blob: the items it holds are left out
        (bot/feeds/seen.py), and the result's `digests` is the blob to store.
        Raises like `parse`; needs a pool built with `topics`.
        """
        if self.topics is None:
            raise RuntimeError("ParserPool.prepare needs a pool built with topics")
        outcome = await self._run(_prepare_in_worker, body, dict(headers), url, lang, seen)
        if isinstance(outcome, _Failure):
            raise outcome.to_exception()
        return outcome

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` in a worker; a call whose worker died runs once more in another."""
        if self._pool is None:
            raise RuntimeError("ParserPool used outside `async with`")
        failures = 0
        while True:
            try:
                return await self._pool.run(fn, *args)
            except NoWorkers:  # none can start: slower here, but no feed fails for it
                return await self._in_process(fn, *args)
            except NotReady:
                continue  # it never ran; the pool gives up respawning after a few (NoWorkers)
            except WorkerDied as e:  # killed, or out of memory: on this feed or another
                failures += 1
                if failures == 2:
                    raise ParseError("the parser process died on this feed") from e

    async def _in_process(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` in a thread of this process, when no worker process can start
        (a process limit, a broken interpreter install): slower, but no feed fails for it."""
        global _matcher
        if not self._degraded:
            self._degraded = True
            log.error("parser workers cannot start; parsing in the main process instead")
            # what `_start_worker` gives each worker: `_prepare_in_worker` reads it
            if _matcher is None and self.topics is not None:
                _matcher = TopicMatcher.compile(self.topics)
        return await asyncio.to_thread(fn, *args)
