"""Rows written to a database still at an earlier revision, for the migration tests.

`feed_store.add_feed` inserts every column today's `Feed` maps, so on an older
schema it names columns that do not exist yet; this inserts only the columns
every revision has had since 0001.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.store.schema import Feed

_FEEDS = Feed.__table__


def feed_at_any_revision(session: Session, url: str, now: datetime, name: str | None = None) -> int:
    """The id of the active feed at `url`, inserted if missing."""
    found = session.scalar(select(Feed.id).where(Feed.url == url))
    if found is not None:
        return int(found)
    row = session.execute(
        insert(_FEEDS)
        .values(
            url=url,
            name=name,
            origin="command",
            status="active",
            added_at=now,
            next_check_at=now,
            consecutive_errors=0,
            error_reported=False,
        )
        .returning(_FEEDS.c.id)
    )
    return int(row.scalar_one())
