"""Composition root: build every part from the Config, start and stop them together.

app = App(config)
async with app:              # database upgraded, feeds/channels synced, clients open
    await app.run_forever()  # or: await app.run_once()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import datetime
from types import TracebackType
from typing import TextIO

from bot.config import Config
from bot.feeds.fetch import Fetcher
from bot.feeds.parse_pool import ParserPool
from bot.match.topics import TopicMatcher
from bot.notify.base import Notifier
from bot.notify.console import ConsoleNotifier
from bot.notify.sender import SendSummary, drain_outbox
from bot.scheduler import build_scheduler
from bot.store import channels as channel_store
from bot.store import feeds as feed_store
from bot.store.db import Database
from bot.types import PollSummary
from bot.update import Pipeline, utcnow

log = logging.getLogger(__name__)


class App:
    """Skywatch, assembled: store, pipeline, notifiers and scheduler."""

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
        self.pipeline: Pipeline | None = None

    async def __aenter__(self) -> App:
        await asyncio.to_thread(self._prepare_store)
        fetcher = await self._stack.enter_async_context(Fetcher.from_settings(self.config.settings))
        parser = await self._stack.enter_async_context(ParserPool())
        self.pipeline = Pipeline(
            self.db, fetcher, parser, self.matcher, self.config.settings, clock=self.clock
        )
        self.notifiers = await self._open_notifiers()
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

    async def send(self) -> SendSummary:
        """Deliver what is due in the outbox."""
        return await drain_outbox(self.db, self.notifiers, now=self.clock)

    async def run_once(self) -> tuple[PollSummary, SendSummary]:
        """Poll every feed now (whatever its schedule), then deliver; for `run --once`."""
        with self.db.write() as session:
            feed_store.make_all_due(session, self.clock())
        summary = await self.poll()
        return summary, await self.send()

    async def run_forever(self) -> None:
        """Run the scheduler until SIGINT or SIGTERM, then stop cleanly."""
        scheduler = build_scheduler(
            poll=self._guarded(self.poll),
            send=self._guarded(self.send),
            send_every=self.config.settings.send_interval,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self._stopping.set)
        scheduler.start()
        log.info(
            "skywatch running: %d feeds, %d topics, channels: %s",
            len(self.config.file.feeds),
            len(self.config.file.topics),
            ", ".join(c.id for c in self.config.channels()),
        )
        try:
            await self._stopping.wait()
        finally:
            log.info("stopping")
            scheduler.shutdown(wait=False)

    def stop(self) -> None:
        self._stopping.set()

    def _guarded(self, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        """A job wrapper that logs failures instead of killing the scheduler's job."""

        async def run() -> None:
            try:
                await job()
            except Exception:
                log.exception("job %s failed; it runs again at its next tick", job.__name__)

        run.__name__ = job.__name__
        return run
