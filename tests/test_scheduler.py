"""The scheduler's jobs and its log: triggers only, no noise an operator cannot act on."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.scheduler import build_scheduler


async def _nothing() -> None:
    return None


async def test_jobs_poll_send_and_digest_start_at_once_and_never_overlap() -> None:
    scheduler = build_scheduler(
        poll=_nothing, send=_nothing, send_every=timedelta(seconds=5), digest=_nothing
    )
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"poll", "send", "digest"}
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    assert jobs["send"].trigger.interval == timedelta(seconds=5)


async def test_a_skipped_overlapping_tick_is_not_logged_but_other_warnings_are(
    caplog: pytest.LogCaptureFixture,
) -> None:
    build_scheduler(poll=_nothing, send=_nothing, send_every=timedelta(seconds=5))
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    with caplog.at_level(logging.WARNING):
        scheduler_log.warning(
            'Execution of job "send" skipped: maximum number of running instances reached (1)'
        )
        scheduler_log.warning("Run time of job poll was missed by 0:00:09")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["Run time of job poll was missed by 0:00:09"]
