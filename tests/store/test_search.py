"""Full-text search on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm), newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import delete, text

from bot.store import items as item_store
from bot.store.db import Database, alembic_config
from bot.store.schema import Feed
from bot.store.search import Filters, fts_query, scan_query, search, split_terms
from bot.types import Item, Match
from tests.store.old_schema import feed_at_any_revision

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def add_items(
    db: Database, *rows: tuple[str, str, str | None, datetime], feed: str = "a"
) -> list[int]:
    """Store items given as (title, summary, lang, published_at); their ids, in order."""
    ids = []
    with db.write() as session:
        feed_id = feed_at_any_revision(session, f"https://{feed}.example/rss", NOW, name=feed)
        for n, (title, summary, lang, published) in enumerate(rows):
            item = Item(
                key=f"{feed}{n}",
                title=title,
                link=f"https://{feed}.example/{n}",
                summary=summary,
                published_at=published,
                content_hash=f"h{n}",
                lang=lang,
            )
            item_id = item_store.insert_item(session, feed_id, item, now=NOW, alerted=False)
            assert item_id is not None
            ids.append(item_id)
    return ids


def titles(db: Database, query: str, **kwargs: object) -> list[str]:
    with db.read() as session:
        return [i.title for i in search(session, query, **kwargs)]  # type: ignore[arg-type]


@pytest.fixture
def news(database: Database) -> Database:
    hour = timedelta(hours=1)
    add_items(
        database,
        ("米軍、パトリオットを配備", "防空システムの強化", "ja", NOW - 1 * hour),
        ("Системы ППО отразили атаку", "Над Киевом работала ПВО", "ru", NOW - 2 * hour),
        (
            "Bundeswehr stärkt die Flugabwehr",
            "Neue Patriot-Systeme für Polen",
            "de",
            NOW - 3 * hour,
        ),
        ("Patriot battery arrives", "Air defense in Poland", "en-GB", NOW - 4 * hour),
        ("Energy prices fall", "Gas is cheaper in the EU", "en", NOW - 50 * hour),
        ("Discount: 100% off", "snake_case and 50%", "en", NOW - 60 * hour),
    )
    return database


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("パトリオット", ["米軍、パトリオットを配備"]),
        ("ППО", ["Системы ППО отразили атаку"]),
        ("ппо", ["Системы ППО отразили атаку"]),  # case folded in Cyrillic too
        ("Flugabwehr", ["Bundeswehr stärkt die Flugabwehr"]),
        ("flugABWEHR", ["Bundeswehr stärkt die Flugabwehr"]),
        ("patriot", ["Bundeswehr stärkt die Flugabwehr", "Patriot battery arrives"]),
        ("防空", ["米軍、パトリオットを配備"]),  # two characters: below the trigram length
        # substrings, as for Japanese: "eu" is in "Neue" too
        ("EU", ["Bundeswehr stärkt die Flugabwehr", "Energy prices fall"]),
        ("Poland battery", ["Patriot battery arrives"]),  # every term, title or summary
        ('"air defense"', ["Patriot battery arrives"]),
        ('"defense air"', []),
        ("xyzzy", []),
        ("100%", ["Discount: 100% off"]),  # LIKE wildcards are literal
        ("snake_case", ["Discount: 100% off"]),
        ("50%", ["Discount: 100% off"]),
    ],
)
def test_search_finds_every_language(news: Database, query: str, expected: list[str]) -> None:
    assert titles(news, query) == expected


@pytest.mark.parametrize(
    "query",
    ['xq"zz', "OR xqz", "NEAR(xq zz)", "xqz*", "title:xqz", "^xqz", "'; DROP TABLE items; --"],
)
def test_query_syntax_is_never_interpreted(news: Database, query: str) -> None:
    assert titles(news, query) == []
    with news.read() as session:  # terms given as a list keep their quotes
        assert search(session, ['Patriot"']) == []
        assert search(session, ["Patriot", '"']) == []


def test_no_terms_lists_the_newest_items_matching_the_filters(news: Database) -> None:
    assert titles(news, "", lang="en", limit=2) == ["Patriot battery arrives", "Energy prices fall"]


def test_filters(news: Database) -> None:
    with news.write() as session:
        (item_id,) = [i.id for i in search(session, "battery")]
        item_store.insert_matches(session, item_id, [Match("air-defense", 2.0)], now=NOW)
    assert titles(news, "patriot", topic="air-defense") == ["Patriot battery arrives"]
    assert titles(news, "patriot", topic="energy") == []
    assert titles(news, "patriot", lang="de") == ["Bundeswehr stärkt die Flugabwehr"]
    assert titles(news, "patriot", lang="EN") == ["Patriot battery arrives"]  # en finds en-GB
    # one Latin letter: a scan, with the time filter
    assert titles(news, "e", since=NOW - timedelta(hours=3, minutes=30)) == [
        "Bundeswehr stärkt die Flugabwehr"
    ]
    assert titles(news, "prices", since=NOW - timedelta(hours=49)) == []
    assert titles(news, "prices", since=NOW - timedelta(hours=51)) == ["Energy prices fall"]


def test_newest_first_and_limit(database: Database) -> None:
    rows = [(f"Patriot {n}", "", "en", NOW - timedelta(minutes=7 * n)) for n in range(30)]
    add_items(database, *reversed(rows))  # stored oldest first: ids disagree with age
    assert titles(database, "patriot", limit=5) == [f"Patriot {n}" for n in range(5)]
    assert len(titles(database, "patriot", limit=500)) == 30


def test_order_is_exact_within_one_minute(database: Database) -> None:
    """The SQLite index orders by minute, then id; seconds decide inside the minute."""
    minute = NOW.replace(second=0)
    add_items(
        database,
        ("Patriot late", "", "en", minute + timedelta(seconds=50)),
        ("Patriot early", "", "en", minute + timedelta(seconds=10)),
        ("Patriot before", "", "en", minute - timedelta(seconds=30)),
    )
    assert titles(database, "patriot", limit=1) == ["Patriot late"]
    assert titles(database, "patriot", limit=2) == ["Patriot late", "Patriot early"]


def test_index_follows_updates_and_deletes(news: Database) -> None:
    with news.write() as session:
        feed_id = session.scalar(text("SELECT id FROM feeds"))
        changed = Item(
            key="a3",
            title="Patriot battery moved",
            link=None,
            summary="Now in Romania",
            published_at=NOW,
            content_hash="x",
        )
        item_store.update_item(session, feed_id, changed)
    assert titles(news, "Romania") == ["Patriot battery moved"]
    assert titles(news, "Poland battery") == []
    with news.write() as session:
        session.execute(delete(Feed))  # items go with their feed (ON DELETE CASCADE)
    assert titles(news, "Romania") == []
    assert titles(news, "防空") == []


def test_items_stored_before_the_migration_are_indexed(db_url: str) -> None:
    db = Database(db_url)
    command.upgrade(alembic_config(db.engine), "0001")
    add_items(db, ("Flugabwehr im Test", "", "de", NOW))
    db.upgrade()
    assert titles(db, "flugabwehr") == ["Flugabwehr im Test"]
    db.dispose()


def test_results_carry_feed_and_topics(news: Database) -> None:
    with news.write() as session:
        (item,) = search(session, "パトリオット")
        item_store.insert_matches(session, item.id, [Match("air-defense", 1.5)], now=NOW)
    with news.read() as session:
        (item,) = search(session, "パトリオット")
    assert (item.feed, item.lang, item.topics) == ("a", "ja", ("air-defense",))
    assert item.published_at == NOW - timedelta(hours=1)


def test_split_terms() -> None:
    assert split_terms('Patriot "air defense"  ППО ""') == ["Patriot", "air defense", "ППО"]
    assert split_terms('unclosed "quote here') == ["unclosed", "quote here"]


def test_short_terms_alone_search_the_newest_items(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No index serves a two-character term: the scan is bounded to the newest items."""
    monkeypatch.setattr("bot.store.search.SHORT_SCAN_ITEMS", 3)
    hour = timedelta(hours=1)
    add_items(database, *((f"防空 {n}", "", "ja", NOW - n * hour) for n in (5, 4, 3, 2, 1)))
    assert titles(database, "防空") == ["防空 1", "防空 2", "防空 3"]
    assert titles(database, "防空 5") == []  # "5" is short too
    assert titles(database, "防空 " + "5", lang="ja") == []
    # with a term the index can look up, everything is searched
    with database.write() as session:
        session.execute(text("UPDATE items SET summary = 'Patriot' WHERE title = '防空 5'"))
    assert titles(database, "防空 Patriot") == ["防空 5"]


@pytest.mark.postgres
def test_postgres_queries_use_the_trigram_index(postgres_url: str) -> None:
    """The query's expression must be the index's, bound parameters and all."""
    db = Database(postgres_url)
    db.upgrade()
    stmt = scan_query("postgresql", ["patriot", "ППО"], Filters(lang="en"), 10)
    with db.read() as session:
        compiled = stmt.compile(dialect=session.get_bind().dialect)
        cursor = session.connection().connection.cursor()
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + str(compiled), compiled.params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    db.dispose()
    assert "ix_items_search_trgm" in plan, plan


def test_sqlite_reads_the_index_newest_first_without_sorting(sqlite_url: str) -> None:
    """The FTS rowid order is the result order: no sort, so LIMIT stops the scan early."""
    db = Database(sqlite_url)
    db.upgrade()
    stmt = fts_query(["patriot", "EU"], Filters(topic="t", lang="de", since=NOW)).limit(10)
    with db.read() as session:
        compiled = stmt.compile(dialect=session.get_bind().dialect)
        cursor = session.connection().connection.cursor()
        params = [compiled.params[name] for name in compiled.positiontup or ()]
        plan = [row[3] for row in cursor.execute("EXPLAIN QUERY PLAN " + str(compiled), params)]
    db.dispose()
    assert plan[0].startswith("SCAN items_fts VIRTUAL TABLE"), plan
    assert "SEARCH items USING INTEGER PRIMARY KEY (rowid=?)" in plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_dates_far_in_the_past_or_future_are_indexed(database: Database) -> None:
    """The sort key clamps the minute, so no date makes the index (or the insert) fail."""
    add_items(
        database,
        ("Patriot ancient", "", "en", datetime(1, 1, 2, tzinfo=UTC)),
        ("Patriot far future", "", "en", datetime(9999, 12, 30, tzinfo=UTC)),
        ("Patriot today", "", "en", NOW),
    )
    assert titles(database, "patriot") == ["Patriot far future", "Patriot today", "Patriot ancient"]
    assert titles(database, "patriot", since=NOW) == ["Patriot far future", "Patriot today"]
