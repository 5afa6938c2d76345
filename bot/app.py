"""Composition root: build every part from the Config, start and stop them together.

app = App(config)
async with app:              # database upgraded, feeds/channels synced, clients open
    await app.run_forever()  # or: await app.run_once()

`run_forever` runs the scheduler (poll, send, digest jobs) and serves the chat
commands the environment enables (bot.chat.serve); `run_once` polls, indexes
the new items for search, queues due digests and delivers, without chat.
SIGINT and SIGTERM stop the chat front-ends first (so no command runs on
closed clients), then the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import datetime
from types import TracebackType
from typing import Any, TextIO

from bot.chat.commands import Commands
from bot.chat.digest_now import make_digest_now
from bot.chat.feed_add import make_add_feed
from bot.chat.serve import chat_plan, start_chat
from bot.config import Config
from bot.feeds.fetch import Fetcher
from bot.feeds.parse_pool import ParserPool
from bot.heap import settle
from bot.match.topics import TopicMatcher
from bot.notify.base import Notifier
from bot.notify.console import ConsoleNotifier
from bot.notify.digest import enqueue_due_digests
from bot.notify.sender import SendSummary, drain_outbox
from bot.scheduler import build_scheduler
from bot.store import channels as channel_store
from bot.store import feeds as feed_store
from bot.store.db import Database
from bot.store.search_index import BATCH as INDEX_BATCH
from bot.store.search_index import index_pending
from bot.types import PollSummary
from bot.update import Pipeline, utcnow

log = logging.getLogger(__name__)


class App:
    """Skywatch, assembled: store, pipeline, notifiers and scheduler."""

    #: how long a stop waits for a running poll, send or digest before cutting it short
    STOP_GRACE_S = 10.0

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], datetime] = utcnow,
        console: TextIO | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.console = console or sys.stdout
        self.db = Database(config.database_url)
        self.matcher = TopicMatcher.compile(config.file.topics)
        self.notifiers: dict[str, Notifier] = {}
        self._stack = AsyncExitStack()
        self._stopping = asyncio.Event()
        #: the scheduler's jobs running now (a stop lets them finish, within STOP_GRACE_S)
        self._jobs: set[asyncio.Task[Any]] = set()
        self.pipeline: Pipeline | None = None
        self.commands: Commands | None = None

    async def __aenter__(self) -> App:
        await asyncio.to_thread(self._prepare_store)
        fetcher = await self._stack.enter_async_context(Fetcher.from_settings(self.config.settings))
        # the workers parse, normalize and match: the pool gets the topics self.matcher has
        parser = await self._stack.enter_async_context(ParserPool(topics=self.config.file.topics))
        self.pipeline = Pipeline(
            self.db, fetcher, parser, self.matcher, self.config.settings, clock=self.clock
        )
        self.notifiers = await self._open_notifiers()
        self.commands = Commands(
            self.db,
            self.config.file.topics,
            add_feed=make_add_feed(self.db, fetcher, self.clock),
            digest_now=make_digest_now(self.db, self.clock),
            clock=self.clock,
            configured_channels=frozenset(c.id for c in self.config.channels()),
            quiet_policy=self.config.settings.quiet_policy,
        )
        await parser.started()  # so the first poll does not wait for the workers' start-up
        settle()  # what start-up built lives as long as the app: out of every later collection
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()
        self.db.dispose()

    def _prepare_store(self) -> None:
        """Migrate, then make the store's feeds and channels match the configuration."""
        self.db.upgrade()
        now = self.clock()
        with self.db.write() as session:
            feed_store.sync_feeds(session, self.config.file.feeds, now)
            channel_store.sync_channels(session, self.config.channels(), now)

    async def _open_notifiers(self) -> dict[str, Notifier]:
        platforms = {c.platform for c in self.config.channels()}
        secrets = self.config.secrets
        notifiers: dict[str, Notifier] = {"console": ConsoleNotifier(stream=self.console)}
        if "slack" in platforms and secrets.slack_bot_token is not None:
            from bot.notify.slack import SlackNotifier

            notifiers["slack"] = SlackNotifier(
                secrets.slack_bot_token.get_secret_value(), base_url=secrets.slack_api_url
            )
        if "telegram" in platforms and secrets.telegram_bot_token is not None:
            from bot.notify.telegram import TelegramNotifier

            notifiers["telegram"] = TelegramNotifier(
                secrets.telegram_bot_token.get_secret_value(), base_url=secrets.telegram_api_url
            )
        for missing in sorted(platforms - set(notifiers)):
            log.warning("no token for %s channels; their alerts wait in the outbox", missing)
        for notifier in notifiers.values():
            closer = getattr(notifier, "aclose", None)
            if closer is not None:
                self._stack.push_async_callback(closer)
        return notifiers

    # -- jobs -------------------------------------------------------------------------

    async def poll(self) -> PollSummary:
        """One polling cycle over the due feeds."""
        assert self.pipeline is not None, "use `async with App(...)`"
        summary = await self.pipeline.poll_due()
        if summary.feeds:
            log.info(
                "poll: %d feeds, %d fetched, %d not modified, %d new items, %d errors in %.1fs",
                summary.feeds,
                summary.fetched,
                summary.not_modified,
                summary.new_items,
                summary.errors,
                summary.seconds,
            )
        return summary

    async def index(self) -> int:
        """Index the items stored since the last run for search (SQLite); how many.

        Kept out of `poll` so that storing, matching and queueing alerts never
        wait for it (search finds pending items meanwhile: bot.store.search).
        One chunk per thread hop, so a stop can cut in between chunks.
        """
        started = time.perf_counter()
        total = 0
        while True:
            indexed = await asyncio.to_thread(index_pending, self.db, limit=INDEX_BATCH)
            total += indexed
            if indexed < INDEX_BATCH:
                break
        if total:
            log.info(
                "index: %d items made searchable in %.1fs", total, time.perf_counter() - started
            )
        return total

    async def poll_and_index(self) -> None:
        """The scheduler's poll job: a polling cycle, then what follows one."""
        await self.poll()
        await self.after_poll()

    async def after_poll(self) -> int:
        """After a poll: the search index catches up, then the heap settles (bot/heap.py),
        so the next poll is not paused by collecting what this one left; items indexed."""
        indexed = await self.index()
        settle()
        return indexed

    async def send(self) -> SendSummary:
        """Deliver what is due in the outbox."""
        settings = self.config.settings
        return await drain_outbox(
            self.db,
            self.notifiers,
            now=self.clock,
            lease=settings.send_lease,
            quiet_policy=settings.quiet_policy,
        )

    async def digest(self) -> list[str]:
        """Queue the digests that are due; one per channel and period, also across restarts."""
        queued = await asyncio.to_thread(self._enqueue_digests)
        if queued:
            log.info("digest queued for %s", ", ".join(queued))
        return queued

    def _enqueue_digests(self) -> list[str]:
        with self.db.write() as session:
            return enqueue_due_digests(session, self.clock())

    async def run_once(self) -> tuple[PollSummary, SendSummary]:
        """Poll every healthy feed now (whatever its schedule; failing ones when their
        backoff or Retry-After is over), index, queue due digests, deliver; `run --once`."""
        with self.db.write() as session:
            feed_store.make_all_due(session, self.clock())
        summary = await self.poll()
        await self.after_poll()
        await self.digest()
        return summary, await self.send()

    async def run_forever(self) -> None:
        """Run the scheduler and the chat commands until SIGINT or SIGTERM, then stop cleanly.

        The digest job's first run is at start-up: a digest missed while the bot
        was down goes out once, now.
        """
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self._stopping.set)
        scheduler = build_scheduler(
            poll=self._guarded(self.poll_and_index),
            send=self._guarded(self.send),
            send_every=self.config.settings.send_interval,
            digest=self._guarded(self.digest),
        )
        scheduler.start()
        log.info(
            "skywatch running: %d feeds, %d topics, channels: %s",
            len(self.config.file.feeds),
            len(self.config.file.topics),
            ", ".join(c.id for c in self.config.channels()),
        )
        try:
            async with AsyncExitStack() as chat:
                await self._until_stopped(self._start_chat(chat))
                await self._stopping.wait()
                log.info("stopping")
        finally:
            scheduler.pause()  # no new runs; the running ones may finish
            await self._finish_jobs()
            scheduler.shutdown(wait=False)  # cancels what is still running
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.remove_signal_handler(sig)

    async def _start_chat(self, stack: AsyncExitStack) -> list[str]:
        """Start the chat front-ends the environment enables; a failing one stays off."""
        assert self.commands is not None, "use `async with App(...)`"
        plan = chat_plan(self.config.settings, self.config.secrets)
        return await start_chat(stack, plan, self.commands, self.config)

    async def _until_stopped(self, work: Awaitable[object]) -> None:
        """Await `work`, or cancel it when a stop is asked for first (a slow start must not
        hold up Ctrl-C)."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _finish_jobs(self) -> None:
        if self._jobs:
            await asyncio.wait(set(self._jobs), timeout=self.STOP_GRACE_S)

    def stop(self) -> None:
        self._stopping.set()

    def _guarded(self, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        """A job wrapper that logs failures instead of killing the scheduler's job, and
        lets a shutdown wait for the running jobs (`_finish_jobs`)."""

        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None  # APScheduler runs coroutine jobs as tasks
            self._jobs.add(task)
            try:
                await job()
            except asyncio.CancelledError:
                # Not re-raised: APScheduler would log the shutdown as a crash, traceback and all.
                # Every job is safe to cut short: the next start picks up where it stopped.
                log.warning("job %s was cut short by the shutdown", job.__name__)
            except Exception:
                log.exception("job %s failed; it runs again at its next tick", job.__name__)
            finally:
                self._jobs.discard(task)

        run.__name__ = job.__name__
        return run
