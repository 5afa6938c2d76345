"""Search indexing off the write path: a write only notes new items as pending, search
finds them meanwhile, and `index_pending` indexes them later in chunks (bot.store.search_index)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, event, text
from sqlalchemy.exc import IntegrityError

from bot.errors import StoreError
from bot.store import items as item_store
from bot.store.db import Database, alembic_config
from bot.store.schema import ItemRow
from bot.store.search import search
from bot.store.search_index import index_pending
from bot.types import Item
from tests.store.old_schema import feed_at_any_revision

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FEED_URL = "https://a.example/rss"


@pytest.fixture
def db(sqlite_database: Database) -> Database:
    return sqlite_database


def item(n: int, title: str, summary: str = "") -> Item:
    return Item(
        key=f"k{n}",
        title=title,
        link=f"https://a.example/{n}",
        summary=summary,
        published_at=NOW - timedelta(minutes=n),  # newest first, as feeds list them
        content_hash=f"h{n}-{title}",
    )


def store(db: Database, *titles: str, start: int = 0, step: int = 1) -> int:
    """Store items with these titles (item n: key kn, published n minutes ago) in one
    transaction; the feed's id."""
    with db.write() as session:
        feed_id = feed_at_any_revision(session, FEED_URL, NOW)
        for i, title in enumerate(titles):
            n = start + i * step
            item_store.insert_item(session, feed_id, item(n, title), now=NOW, alerted=False)
    return feed_id


def titles(db: Database, query: str, **filters: Any) -> list[str]:
    with db.read() as session:
        return [found.title for found in search(session, query, limit=50, **filters)]


def pending(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(text("SELECT count(*) FROM items_fts_pending")).scalar_one())


def assert_index_sound(db: Database) -> None:
    """Nothing pending, and the index holds exactly the items' text (rank 1: checked against
    the content, so an item indexed twice or not at all fails)."""
    assert pending(db) == 0
    with db.read() as session:
        session.execute(
            text("INSERT INTO items_fts(items_fts, rank) VALUES ('integrity-check', 1)")
        )


def test_a_write_only_notes_new_items_and_search_finds_them_before_and_after_indexing(
    db: Database,
) -> None:
    store(db, *(f"Patriot battery {n}" for n in range(40)))
    assert pending(db) == 40  # not indexed at commit any more
    before = titles(db, "patriot battery")
    assert len(before) == 40
    assert titles(db, "battery 7") == [f"Patriot battery {n}" for n in (7, 17, 27, 37)]
    assert index_pending(db) == 40
    assert_index_sound(db)
    assert titles(db, "patriot battery") == before
    assert index_pending(db) == 0


def test_search_merges_indexed_and_pending_items_newest_first_within_the_limit(
    db: Database,
) -> None:
    store(db, *(f"Radar {n}" for n in range(0, 20, 2)), step=2)
    assert index_pending(db) == 10
    store(db, *(f"Radar {n}" for n in range(1, 20, 2)), start=1, step=2)
    with db.read() as session:
        found = [i.title for i in search(session, "radar", limit=5)]
    assert found == [f"Radar {n}" for n in range(5)]
    assert pending(db) == 10


def test_index_pending_works_in_chunks_each_its_own_transaction(db: Database) -> None:
    store(db, *(f"Drone sighting {n}" for n in range(25)))
    commits: list[int] = []
    event.listen(db.engine, "commit", lambda _conn: commits.append(1))
    assert index_pending(db, batch=10, limit=15) == 15
    assert (pending(db), len(commits)) == (10, 2)
    assert index_pending(db, batch=4) == 10
    assert (pending(db), len(commits)) == (0, 2 + 3)
    assert len(titles(db, "drone sighting")) == 25
    assert_index_sound(db)


def test_a_chunk_that_fails_half_way_leaves_its_items_pending_and_unindexed(db: Database) -> None:
    store(db, "Patriot in Rzeszów", "IRIS-T in Kyiv", "NASAMS in Vilnius")
    with db.write() as session:
        # a real failure after the chunk's items went into the index, before they are forgotten
        session.execute(
            text(
                "CREATE TRIGGER boom BEFORE DELETE ON items_fts_pending "
                "BEGIN SELECT RAISE(ABORT, 'boom'); END"
            )
        )
    with pytest.raises(IntegrityError, match="boom"):
        index_pending(db)
    assert pending(db) == 3
    assert titles(db, "in ") == ["Patriot in Rzeszów", "IRIS-T in Kyiv", "NASAMS in Vilnius"]
    with db.write() as session:
        session.execute(text("DROP TRIGGER boom"))
    # had the failed chunk left entries behind, indexing them again would corrupt the index
    assert index_pending(db) == 3
    assert_index_sound(db)
    assert titles(db, "Kyiv") == ["IRIS-T in Kyiv"]


def test_a_failed_write_leaves_nothing_pending(db: Database) -> None:
    feed_id = store(db)
    with pytest.raises(StoreError), db.write() as session:
        item_store.insert_item(session, feed_id, item(0, "Patriot"), now=NOW, alerted=False)
        raise StoreError("boom")
    assert pending(db) == 0
    assert titles(db, "patriot") == []


def test_an_item_changed_or_deleted_while_pending_is_found_and_indexed_as_it_ends_up(
    db: Database,
) -> None:
    feed_id = store(db, "Radar in Poland", "Drone over Odesa", "Grid repaired")
    with db.write() as session:
        item_store.update_item(session, feed_id, item(0, "Radar moved to Romania"))
        session.execute(delete(ItemRow).where(ItemRow.key == "k1"))
    for _ in ("pending", "indexed"):
        assert titles(db, "Romania") == ["Radar moved to Romania"]
        assert titles(db, "Poland") == []
        assert titles(db, "Odesa") == []
        assert titles(db, "repaired") == ["Grid repaired"]
        assert index_pending(db) in (2, 0)
    assert_index_sound(db)
    with db.write() as session:  # indexed by now: the ordinary triggers take over
        item_store.update_item(session, feed_id, item(0, "Radar back in Poland"))
        session.execute(delete(ItemRow).where(ItemRow.key == "k2"))
    assert pending(db) == 0
    assert titles(db, "Poland") == ["Radar back in Poland"]
    assert titles(db, "Romania") == []
    assert titles(db, "repaired") == []
    assert_index_sound(db)


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("ппо", "Системы ППО отразили атаку"),
        ("ΣΊΣΥΦΟΣ", "σίσυφος"),
        ("σίσυφος", "ΣΊΣΥΦΟΣ"),  # final sigma and capital sigma fold alike
        ("ſtraße", "STRASSE und Straße"),  # long s
        ('"µm filter"', "5 μm filter"),  # micro sign and Greek mu
        ("パトリオット", "米軍、パトリオットを配備"),
        ("flugABWEHR", "Bundeswehr stärkt die Flugabwehr"),
    ],
)
def test_pending_items_match_at_least_what_the_index_matches(
    db: Database, query: str, title: str
) -> None:
    store(db, title, "something else entirely")
    found_pending = titles(db, query)
    index_pending(db)
    found_indexed = titles(db, query)
    assert found_indexed == [title]  # the trigram index's own folding
    assert set(found_indexed) <= set(found_pending)


def test_filters_and_short_terms_apply_to_pending_items(db: Database) -> None:
    store(db, "Patriot 防空 Japan", "Patriot Poland", "Gas prices")
    assert titles(db, "patriot 防空") == ["Patriot 防空 Japan"]
    assert titles(db, "patriot", since=NOW - timedelta(minutes=1)) == [
        "Patriot 防空 Japan",
        "Patriot Poland",
    ]
    assert titles(db, "patriot", since=NOW - timedelta(seconds=30)) == ["Patriot 防空 Japan"]
    assert titles(db, "patriot", lang="de") == []


def test_downgrade_and_upgrade_keep_every_item_searchable(db: Database) -> None:
    store(db, "Patriot battery")
    command.downgrade(alembic_config(db.engine), "0003")  # indexes what is pending
    store(db, "IRIS-T battery", start=1)  # 0002's triggers index at once
    assert index_pending(db) == 0  # no pending table: nothing to do
    assert sorted(titles(db, "battery")) == ["IRIS-T battery", "Patriot battery"]
    db.upgrade()
    store(db, "NASAMS battery", start=2)
    assert sorted(titles(db, "battery")) == ["IRIS-T battery", "NASAMS battery", "Patriot battery"]
    assert index_pending(db) == 1
    assert_index_sound(db)


@pytest.mark.postgres
def test_postgresql_has_nothing_to_index(postgres_url: str) -> None:
    database = Database(postgres_url)
    try:
        database.upgrade()
        store(database, "Patriot battery arrives")
        assert index_pending(database) == 0
        assert titles(database, "patriot") == ["Patriot battery arrives"]
    finally:
        database.dispose()
