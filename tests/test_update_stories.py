"""The pipeline's story tracker against a real store (SQLite and PostgreSQL).

The in-memory index must only ever hold committed members: what a rolled-back
savepoint or transaction added is forgotten, so a story id the database never
kept cannot be joined; and a rebuilt index (a restart) holds exactly the
stored members of the window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.store import feeds as feed_store
from bot.store import items as item_store
from bot.store.db import Database
from bot.store.schema import ItemRow, Story
from bot.stories import StoryTracker
from bot.types import Item
from tests.notify.world import labelled

NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
EN = labelled("en")


class Boom(Exception):
    pass


def item(story: str, *, at: datetime = NOW) -> Item:
    row = EN[story]
    return Item(story, row["title"], None, row["summary"], at - timedelta(minutes=5), story, "en")


def store(db: Database, tracker: StoryTracker, *reports: tuple[int, Item]) -> list[int]:
    """Insert and assign items in one transaction; their story ids."""
    stories = []
    with tracker.transaction(), db.write() as s:
        for feed_id, it in reports:
            item_id = item_store.insert_item(s, feed_id, it, now=NOW, alerted=True)
            assert item_id is not None
            stories.append(tracker.assign(s, item_id, it, feed_id=feed_id, now=NOW).story_id)
        tracker.flush(s)
    return stories


@pytest.fixture
def feeds(database: Database) -> list[int]:
    with database.write() as s:
        return [feed_store.add_feed(s, f"https://f{i}.example/rss", NOW).id for i in range(4)]


def test_reports_of_one_story_share_it_and_others_do_not(
    database: Database, feeds: list[int]
) -> None:
    tracker = StoryTracker()
    tracker.load(database, NOW)
    ids = store(
        database,
        tracker,
        (feeds[0], item("en-01a")),
        (feeds[1], item("en-01b")),
        (feeds[0], item("en-02a")),  # Kharkiv: another story, same outlet, same night
        (feeds[2], item("en-01c")),
    )
    assert ids[0] == ids[1] == ids[3] != ids[2]
    with database.read() as s:
        counts = {sid: n for sid, n in s.execute(select(Story.id, Story.item_count))}
        signatures = list(s.scalars(select(Story.signature)))
    assert counts == {ids[0]: 3, ids[2]: 1}
    assert all(sig is not None and len(sig) == 128 for sig in signatures)


def test_a_rolled_back_savepoint_forgets_its_members(database: Database, feeds: list[int]) -> None:
    tracker = StoryTracker()
    tracker.load(database, NOW)
    with tracker.transaction(), database.write() as s:
        with pytest.raises(Boom), tracker.savepoint(), s.begin_nested():
            item_id = item_store.insert_item(s, feeds[0], item("en-01a"), now=NOW, alerted=True)
            assert item_id is not None
            tracker.assign(s, item_id, item("en-01a"), feed_id=feeds[0], now=NOW)
            assert len(tracker.index) == 1
            raise Boom
        assert len(tracker.index) == 0
    (story,) = store(database, tracker, (feeds[1], item("en-01b")))
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(Story)) == 1
        assert s.scalar(select(ItemRow.story_id)) == story


def test_a_failed_transaction_forgets_everything_it_added(
    database: Database, feeds: list[int]
) -> None:
    tracker = StoryTracker()
    tracker.load(database, NOW)
    store(database, tracker, (feeds[0], item("en-01a")))
    with pytest.raises(Boom), tracker.transaction(), database.write() as s:
        item_id = item_store.insert_item(s, feeds[1], item("en-02a"), now=NOW, alerted=True)
        assert item_id is not None
        tracker.assign(s, item_id, item("en-02a"), feed_id=feeds[1], now=NOW)
        raise Boom
    assert [m.story_id for m in tracker.index.members()] == [1]


def test_a_restart_rebuilds_the_window_from_the_store(database: Database, feeds: list[int]) -> None:
    live = StoryTracker()
    live.load(database, NOW)
    old = item("en-03a", at=NOW - timedelta(hours=60))  # outside the 48 h window
    first = store(database, live, (feeds[0], old), (feeds[1], item("en-01a")))
    rebuilt = StoryTracker()
    assert rebuilt.load(database, NOW) == 1
    assert rebuilt.load(database, NOW) == 0  # once
    (joined,) = store(database, rebuilt, (feeds[2], item("en-01b")))
    assert joined == first[1]


def test_a_rolled_back_savepoint_leaves_nothing_for_the_flush(
    database: Database, feeds: list[int]
) -> None:
    """Story ids and join counts wait for `flush`; a savepoint that rolls back takes
    its share of them along, while what came before and after it is written."""
    tracker = StoryTracker()
    tracker.load(database, NOW)
    (first,) = store(database, tracker, (feeds[0], item("en-01a")))
    with tracker.transaction(), database.write() as s:
        kept = item_store.insert_item(s, feeds[1], item("en-01b"), now=NOW, alerted=True)
        assert kept is not None
        assert tracker.assign(s, kept, item("en-01b"), feed_id=feeds[1], now=NOW).story_id == first
        with pytest.raises(Boom), tracker.savepoint(), s.begin_nested():
            lost = item_store.insert_item(s, feeds[2], item("en-01c"), now=NOW, alerted=True)
            assert lost is not None
            tracker.assign(s, lost, item("en-01c"), feed_id=feeds[2], now=NOW)
            raise Boom
        tracker.flush(s)
    with database.read() as s:
        assert s.scalar(select(Story.item_count).where(Story.id == first)) == 2
        assert s.scalar(select(ItemRow.story_id).where(ItemRow.id == kept)) == first
        assert s.scalar(select(func.count()).select_from(ItemRow)) == 2


def test_a_joined_story_keeps_the_time_of_its_last_join(
    database: Database, feeds: list[int]
) -> None:
    """Joins are written at the flush, with the time each item joined, not the flush's."""
    tracker = StoryTracker()
    tracker.load(database, NOW)
    (first,) = store(database, tracker, (feeds[0], item("en-01a")))
    later, latest = NOW + timedelta(minutes=3), NOW + timedelta(minutes=7)
    with tracker.transaction(), database.write() as s:
        for feed_id, story, at in ((feeds[1], "en-01b", later), (feeds[2], "en-01c", latest)):
            item_id = item_store.insert_item(s, feed_id, item(story), now=at, alerted=True)
            assert item_id is not None
            assert (
                tracker.assign(s, item_id, item(story), feed_id=feed_id, now=at).story_id == first
            )
        tracker.flush(s)
    with database.read() as s:
        count, updated = s.execute(
            select(Story.item_count, Story.updated_at).where(Story.id == first)
        ).one()
    assert (count, updated) == (3, latest)
