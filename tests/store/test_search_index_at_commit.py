"""SQLite: new items are indexed for search when their transaction commits (migration 0004)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import delete, text

from bot.errors import StoreError
from bot.store import feeds as feed_store
from bot.store import items as item_store
from bot.store.db import Database, alembic_config
from bot.store.schema import ItemRow
from bot.store.search import search
from bot.types import Item

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    database.upgrade()
    yield database
    database.dispose()


def item(n: int, title: str, summary: str = "") -> Item:
    return Item(
        key=f"k{n}",
        title=title,
        link=f"https://a.example/{n}",
        summary=summary,
        published_at=NOW - timedelta(minutes=n),  # newest first, as feeds list them
        content_hash=f"h{n}-{title}",
    )


def titles(db: Database, query: str) -> list[str]:
    with db.read() as session:
        return [found.title for found in search(session, query, limit=50)]


def assert_index_sound(db: Database) -> None:
    with db.read() as session:
        pending = session.execute(text("SELECT count(*) FROM items_fts_pending")).scalar()
        # rank 1: compare the index with the content it was built from
        session.execute(
            text("INSERT INTO items_fts(items_fts, rank) VALUES ('integrity-check', 1)")
        )
    assert pending == 0


def test_items_are_searchable_once_committed(db: Database) -> None:
    with db.write() as session:
        feed_id = feed_store.add_feed(session, "https://a.example/rss", NOW).id
        for n in range(40):
            item_store.insert_item(
                session, feed_id, item(n, f"Patriot battery {n}"), now=NOW, alerted=False
            )
    assert len(titles(db, "patriot battery")) == 40
    assert titles(db, "battery 7") == [f"Patriot battery {n}" for n in (7, 17, 27, 37)]
    assert_index_sound(db)


def test_an_item_changed_or_deleted_before_commit_is_indexed_as_it_ends_up(db: Database) -> None:
    with db.write() as session:
        feed_id = feed_store.add_feed(session, "https://a.example/rss", NOW).id
        for n, title in enumerate(["Radar in Poland", "Drone over Odesa", "Grid repaired"]):
            item_store.insert_item(session, feed_id, item(n, title), now=NOW, alerted=False)
        item_store.update_item(session, feed_id, item(0, "Radar moved to Romania"))
        session.execute(delete(ItemRow).where(ItemRow.key == "k1"))
    assert titles(db, "Romania") == ["Radar moved to Romania"]
    assert titles(db, "Poland") == []
    assert titles(db, "Odesa") == []
    assert titles(db, "repaired") == ["Grid repaired"]
    assert_index_sound(db)
    with db.write() as session:  # indexed by now: the ordinary triggers take over
        item_store.update_item(session, feed_id, item(0, "Radar back in Poland"))
        session.execute(delete(ItemRow).where(ItemRow.key == "k2"))
    assert titles(db, "Poland") == ["Radar back in Poland"]
    assert titles(db, "Romania") == []
    assert titles(db, "repaired") == []
    assert_index_sound(db)


def test_a_failed_transaction_leaves_nothing_pending(db: Database) -> None:
    with db.write() as session:
        feed_id = feed_store.add_feed(session, "https://a.example/rss", NOW).id
    with pytest.raises(StoreError), db.write() as session:
        item_store.insert_item(session, feed_id, item(0, "Patriot battery"), now=NOW, alerted=False)
        raise StoreError("boom")
    assert titles(db, "patriot") == []
    assert_index_sound(db)


def test_downgrade_and_upgrade_keep_every_item_searchable(db: Database) -> None:
    with db.write() as session:
        feed_id = feed_store.add_feed(session, "https://a.example/rss", NOW).id
        item_store.insert_item(session, feed_id, item(0, "Patriot battery"), now=NOW, alerted=False)
    command.downgrade(alembic_config(db.engine), "0003")
    with db.write() as session:  # 0002's triggers index at once
        item_store.insert_item(session, feed_id, item(1, "IRIS-T battery"), now=NOW, alerted=False)
    db.upgrade()
    with db.write() as session:
        item_store.insert_item(session, feed_id, item(2, "NASAMS battery"), now=NOW, alerted=False)
    assert sorted(titles(db, "battery")) == ["IRIS-T battery", "NASAMS battery", "Patriot battery"]
    assert_index_sound(db)
