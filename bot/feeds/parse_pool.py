"""Parsing off the event loop: a small process pool around `parse_feed`.

Owns where parsing runs. Parsing is CPU-bound (a 1.6 MB podcast feed takes
tens of milliseconds even on the fast path, more than half a second on
feedparser), so the loop only ever runs the fast path, and only on small
bodies: shipping a small body to a worker and back costs more than parsing it
(bench/bench_parse.py, "pool round trip": about 1 ms against 0.1-0.3 ms).
Large bodies, and small ones the fast path leaves to feedparser, go to a
worker process, and the loop keeps serving chat commands meanwhile.

Exceptions cross the process boundary as a plain envelope, because our error
types keep extra attributes (NotAFeedError.feed_links) that default pickling
of exceptions would drop.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import TracebackType

from bot.errors import NotAFeedError, ParseError
from bot.feeds.parse import parse_feed, parse_quick, parse_with_feedparser
from bot.types import ParsedFeed

__all__ = ["INLINE_BELOW", "ParserPool"]

#: bodies smaller than this are parsed in the calling thread (see module docstring)
INLINE_BELOW = 64 * 1024


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


def _parse_in_worker(
    body: bytes, headers: dict[str, str], url: str | None, quick_tried: bool
) -> ParsedFeed | _Failure:
    """Runs in a worker process."""
    try:
        if quick_tried:
            return parse_with_feedparser(body, headers, url)
        return parse_feed(body, headers, url)
    except NotAFeedError as e:
        return _Failure("not_a_feed", str(e), e.feed_links)
    except ParseError as e:
        return _Failure("parse", str(e))


class ParserPool:
    """`async with ParserPool() as pool: feed = await pool.parse(body, headers, url)`."""

    def __init__(self, workers: int = 2, inline_below: int = INLINE_BELOW) -> None:
        self.workers = workers
        self.inline_below = inline_below
        self._executor: ProcessPoolExecutor | None = None

    async def __aenter__(self) -> ParserPool:
        self._executor = self._new_executor()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            # shutdown(wait=True) blocks; do it off the loop
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    def _new_executor(self) -> ProcessPoolExecutor:
        # "spawn": forking a process that runs an event loop and threads can
        # copy held locks into the child; spawn starts clean on every platform.
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
        )

    async def parse(self, body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed:
        """Parse `body` like `parse_feed`; feedparser and large bodies run in a worker."""
        small = len(body) < self.inline_below
        if small:
            quick = parse_quick(body, headers, url)
            if quick is not None:
                return quick
        if self._executor is None:
            raise RuntimeError("ParserPool used outside `async with`")
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(
                self._executor, _parse_in_worker, body, dict(headers), url, small
            )
        except BrokenProcessPool as e:
            # A worker died (out of memory, killed): start fresh for the next feed.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            raise ParseError("the parser process died on this feed") from e
        if isinstance(outcome, _Failure):
            raise outcome.to_exception()
        return outcome
