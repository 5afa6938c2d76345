"""The digest job in the running app: due digests go out once per channel and period, a digest
missed while the bot was down goes out at start-up, and a restart never doubles one
(SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.app import App
from bot.config import Config, load_config
from bot.scheduler import build_scheduler
from bot.store.db import Database
from bot.store.schema import Digest, OutboxRow
from bot.types import Match
from tests.chat.conftest import NOW
from tests.chat.test_commands import store_item
from tests.test_app_chat import write_config

#: after the console's 08:00 UTC digest time on NOW's day, while the bot was down
LATER = NOW + timedelta(minutes=1)
TITLE = "Patriot batteries reach Rzeszów"


def config_for(tmp_path: Path, db_url: str) -> Config:
    return load_config(write_config(tmp_path), env={"DATABASE_URL": db_url})


def fixed(at: datetime) -> Callable[[], datetime]:
    return lambda: at


def stored_digests(db: Database) -> list[tuple[str, str]]:
    with db.read() as s:
        rows = s.execute(select(Digest.channel_id, Digest.period)).all()
        return [(r.channel_id, r.period) for r in rows]


def digest_rows(db: Database) -> list[OutboxRow]:
    with db.read() as s:
        return list(s.scalars(select(OutboxRow).where(OutboxRow.kind == "digest")))


async def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_the_scheduler_runs_the_digest_job_at_start_and_every_minute() -> None:
    async def job() -> None:
        pass

    before = datetime.now(NOW.tzinfo)
    scheduler = build_scheduler(poll=job, send=job, send_every=timedelta(seconds=5), digest=job)
    digest = scheduler.get_job("digest")
    assert digest is not None
    assert digest.trigger.interval == timedelta(minutes=1)
    assert before <= digest.next_run_time <= datetime.now(NOW.tzinfo)
    assert digest.max_instances == 1 and digest.coalesce


async def test_a_missed_digest_goes_out_once_at_start_up_and_a_restart_does_not_repeat_it(
    tmp_path: Path, database: Database, db_url: str
) -> None:
    config = config_for(tmp_path, db_url)
    store_item(database, TITLE, matches=(Match("air-defense", 2.0),))
    first = io.StringIO()
    async with App(config, clock=fixed(LATER), console=first) as app:
        app.STOP_GRACE_S = 0.2  # the stored feed's poll would wait for DNS, with no network
        task = asyncio.create_task(app.run_forever())
        await wait_for(lambda: TITLE in first.getvalue())
        app.stop()
        await asyncio.wait_for(task, 10)
    assert stored_digests(database) == [("console", "2026-11-27")]
    (row,) = digest_rows(database)
    assert row.status == "sent"
    # Restarted an hour later, the same day: the job runs at start-up again, and finds it done.
    second = io.StringIO()
    async with App(config, clock=fixed(LATER + timedelta(hours=1)), console=second) as app:
        app.STOP_GRACE_S = 0.2
        task = asyncio.create_task(app.run_forever())
        assert await app.digest() == []
        await asyncio.sleep(0.5)
        app.stop()
        await asyncio.wait_for(task, 10)
    assert TITLE not in second.getvalue()
    assert len(digest_rows(database)) == 1
    assert stored_digests(database) == [("console", "2026-11-27")]


async def test_the_next_days_digest_covers_what_came_after(
    tmp_path: Path, database: Database, db_url: str
) -> None:
    config = config_for(tmp_path, db_url)
    store_item(database, TITLE, matches=(Match("air-defense", 2.0),))
    async with App(config, clock=fixed(LATER), console=io.StringIO()) as app:
        assert await app.digest() == ["console"]
        assert await app.digest() == []
    tomorrow = LATER + timedelta(days=1)
    async with App(config, clock=fixed(tomorrow), console=io.StringIO()) as app:
        # nothing matched since yesterday's digest: the period is recorded, nothing is sent
        assert await app.digest() == []
    assert [p for _, p in stored_digests(database)] == ["2026-11-27", "2026-11-28"]
    assert len(digest_rows(database)) == 1


async def test_run_once_queues_and_delivers_a_due_digest_once(
    tmp_path: Path, database: Database, db_url: str
) -> None:
    config = config_for(tmp_path, db_url)
    store_item(database, TITLE, matches=(Match("air-defense", 2.0),))
    shown = []
    for _ in range(2):  # e.g. from cron
        console = io.StringIO()
        async with App(config, clock=fixed(LATER), console=console) as app:
            await app.run_once()
        shown.append(console.getvalue())
    assert TITLE in shown[0] and TITLE not in shown[1]
    assert len(digest_rows(database)) == 1


async def test_before_the_digest_time_nothing_is_queued(
    tmp_path: Path, database: Database, db_url: str
) -> None:
    config = config_for(tmp_path, db_url)
    store_item(database, TITLE, matches=(Match("air-defense", 2.0),))
    early = NOW.replace(hour=7, minute=59)
    async with App(config, clock=fixed(early), console=io.StringIO()) as app:
        assert await app.digest() == []
    assert stored_digests(database) == []
