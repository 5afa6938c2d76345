"""A feed's new items, their matches and the feed rows of 304s, each written in one
statement, on SQLite and PostgreSQL: the same rows as one statement per item."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.store import feeds as feed_store
from bot.store import items as item_store
from bot.store.db import Database
from bot.store.schema import Feed, ItemRow, MatchRow
from bot.types import Item, Match

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def make_item(key: str, title: str = "Patriot battery arrives") -> Item:
    return Item(
        key=key,
        title=title,
        link=f"https://n.example/{key[:40]}",
        summary=f"About {title}",
        published_at=NOW,
        content_hash=f"h-{title}",
        lang="en",
    )


def test_new_items_get_ids_in_list_order_and_known_ones_none(database: Database) -> None:
    long_key = "k" * 600  # stored cut to 512 characters
    with database.write() as s:
        feed_id = feed_store.add_feed(s, "https://a.example/rss", NOW).id
        (known,) = item_store.insert_items(s, feed_id, [(make_item("k1"), False)], now=NOW)
        ids = item_store.insert_items(
            s,
            feed_id,
            [
                (make_item("k2", "Second"), True),
                (make_item("k1", "Retitled"), True),  # stored already: a racing writer won
                (make_item(long_key, "Long"), False),
                (make_item(long_key + "-other", "Same cut key"), True),
                (make_item("k3", "Third"), False),
            ],
            now=NOW,
        )
    assert known is not None
    second, again, long_id, same_cut, third = ids
    assert again is None and same_cut is None
    assert second is not None and long_id is not None and third is not None
    assert known < second < long_id < third
    with database.read() as s:
        rows = {r.id: r for r in s.scalars(select(ItemRow).where(ItemRow.feed_id == feed_id))}
    assert set(rows) == {known, second, long_id, third}
    assert (rows[second].title, rows[second].alerted, rows[second].summary) == (
        "Second",
        True,
        "About Second",
    )
    assert rows[known].title == "Patriot battery arrives"  # the conflict changed nothing
    assert (rows[long_id].key, rows[long_id].title) == (long_key[:512], "Long")
    assert rows[third].first_seen_at.replace(tzinfo=UTC) == NOW


def test_no_items_write_nothing(database: Database) -> None:
    with database.write() as s:
        feed_id = feed_store.add_feed(s, "https://a.example/rss", NOW).id
        assert item_store.insert_items(s, feed_id, [], now=NOW) == []
        item_store.insert_all_matches(s, [], now=NOW)
        assert item_store.known_keys(s, feed_id, []) == {}


def test_matches_of_many_items_in_one_statement(database: Database) -> None:
    with database.write() as s:
        feed_id = feed_store.add_feed(s, "https://a.example/rss", NOW).id
        a, b = item_store.insert_items(
            s, feed_id, [(make_item("a"), True), (make_item("b"), True)], now=NOW
        )
        assert a is not None and b is not None
        item_store.insert_matches(s, a, [Match("air-defense", 1.0)], now=NOW)
        item_store.insert_all_matches(
            s,
            [(a, [Match("air-defense", 2.0), Match("drones", 1.5)]), (b, [Match("drones", 3.0)])],
            now=NOW,
        )
    with database.read() as s:
        rows = s.execute(select(MatchRow.item_id, MatchRow.topic, MatchRow.score)).all()
    # a pair stored already keeps its first score
    assert sorted(rows) == sorted([(a, "air-defense", 1.0), (a, "drones", 1.5), (b, "drones", 3.0)])


def test_unchanged_feeds_are_recorded_like_one_success_each(database: Database) -> None:
    later = NOW + timedelta(hours=1)
    with database.write() as s:
        failing = feed_store.add_feed(s, "https://a.example/failing", NOW)
        feed_store.record_error(
            s, failing.id, now=NOW, error="boom", next_check_at=NOW, permanent=False, report_after=1
        )
        fine = feed_store.add_feed(s, "https://a.example/fine", NOW)
        feed_store.record_success(s, fine.id, now=NOW, next_check_at=NOW, etag='"v1"')
        untouched = feed_store.add_feed(s, "https://a.example/untouched", NOW).id
        failing_id, fine_id = failing.id, fine.id
        feed_store.record_unchanged(
            s, [(failing.id, later, later + timedelta(minutes=5)), (fine.id, later, later)]
        )
        # a row the session had loaded is not stale
        assert (failing.status, failing.consecutive_errors, failing.last_error) == (
            "active",
            0,
            None,
        )
    with database.read() as s:
        rows = {f.id: f for f in s.scalars(select(Feed))}
    for feed_id, next_at in ((failing_id, later + timedelta(minutes=5)), (fine_id, later)):
        row = rows[feed_id]
        assert (row.status, row.consecutive_errors, row.last_error) == ("active", 0, None)
        assert row.error_reported is False
        assert row.last_success_at is not None and row.next_check_at is not None
        assert row.last_success_at.replace(tzinfo=UTC) == later
        assert row.next_check_at.replace(tzinfo=UTC) == next_at
    assert rows[fine_id].etag == '"v1"'  # a 304 keeps the validators
    assert rows[untouched].last_success_at is None
