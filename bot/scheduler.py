"""APScheduler jobs: triggers only, no decisions.

The poll job runs every few seconds and asks the store which feeds are due
(`next_check_at <= now`), then indexes the new items for search
(bot.app.App.poll_and_index: after the poll, so it never slows one down nor
contends with it for SQLite's write lock); the send job drains the outbox;
the digest job asks every minute which channels' digests are due
(bot.notify.digest decides, and its (channel, period) key makes a second run a
no-op). Every job first runs at start-up, so a digest missed while the bot was
down goes out then, once. No job overlaps itself (`max_instances=1`) and
missed runs are coalesced into one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

#: how often the store is asked for due feeds; each feed's own schedule lives in the store
POLL_TICK = timedelta(seconds=15)


class _SkipOverlapNotice(logging.Filter):
    """Drop APScheduler's warning that a tick was skipped because the job still runs.

    With `max_instances=1` that is the intended behaviour (a long delivery or
    poll simply continues), not something an operator must act on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


_skip_overlap_notice = _SkipOverlapNotice()


def build_scheduler(
    *,
    poll: Callable[[], Awaitable[object]],
    send: Callable[[], Awaitable[object]],
    send_every: timedelta,
    digest: Callable[[], Awaitable[object]] | None = None,
) -> AsyncIOScheduler:
    """A scheduler with the poll, send (and digest) jobs, starting at once."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if _skip_overlap_notice not in scheduler_log.filters:
        scheduler_log.addFilter(_skip_overlap_notice)
    now = datetime.now(UTC)
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(
        poll, "interval", seconds=POLL_TICK.total_seconds(), id="poll", next_run_time=now, **common
    )
    scheduler.add_job(
        send,
        "interval",
        seconds=max(send_every.total_seconds(), 1),
        id="send",
        next_run_time=now,
        **common,
    )
    if digest is not None:
        scheduler.add_job(digest, "interval", minutes=1, id="digest", next_run_time=now, **common)
    return scheduler
