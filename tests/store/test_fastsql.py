"""bot.store.fastsql writes on SQLite exactly what SQLAlchemy's Core would: the same
stored values (compared as SQLite holds them), the same ids, the same fallbacks."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from bot.errors import StoreError
from bot.store import fastsql
from bot.store import feeds as feed_store
from bot.store.db import Database, _insert_many_statement
from bot.store.schema import Channel, ItemRow, MatchRow, OutboxRow, Story, UTCDateTime

NOW = datetime(2026, 11, 27, 12, 0, 0, 0, tzinfo=UTC)


def _items(feed_id: int) -> list[dict[str, Any]]:
    return [
        {
            "feed_id": feed_id,
            "key": f"k{i}",
            "title": f"Title «{i}»",
            "link": None if i % 3 == 0 else f"https://n.example/{i}",
            "summary": "",
            "lang": None if i % 2 else "uk",
            "content_hash": f"h{i}",
            "published_at": NOW - timedelta(minutes=i, microseconds=i * 7),
            "first_seen_at": NOW,
            "alerted": i % 2 == 0,
        }
        for i in range(40)
    ]


def _outbox(item_id: int) -> list[dict[str, Any]]:
    # `status` and `attempts` left out: their plain defaults are written
    return [
        {
            "channel_id": "console",
            "kind": "alert",
            "dedup_key": f"alert:console:{item_id}",
            "item_id": item_id,
            "story_id": None,
            "payload": {"title": "Patriot «ще»", "topics": ["air-defence"], "n": 1.5},
            "created_at": NOW,
            "due_at": NOW + timedelta(seconds=1),
        }
    ]


def _stored(session: Session, table: str) -> list[tuple[Any, ...]]:
    """Rows as SQLite holds them: the raw stored values, not SQLAlchemy's reading."""
    return [tuple(r) for r in session.execute(text(f"SELECT * FROM {table} ORDER BY id"))]


def _write_all(db: Database, insert: Callable[..., list[tuple[Any, ...]]]) -> list[Any]:
    with db.write() as s:
        feed_id = feed_store.add_feed(s, "https://a.example/rss", NOW).id
        s.add(Channel(id="console", platform="console"))
        s.flush()
        ids = insert(s, ItemRow.__table__, _items(feed_id), ("id", "key"))
        again = insert(s, ItemRow.__table__, _items(feed_id)[:5], ("id", "key"))  # all conflict
        item_id = min(i for i, _ in ids)
        explanation = {"topic": "air-defence", "terms": ["Patriot"], "score": 2.0}
        matches = [
            {"item_id": i, "topic": t, "score": 1.25, "explanation": explanation, "matched_at": NOW}
            for i, _ in sorted(ids)[:3]
            for t in ("air-defence", "strikes")
        ]
        insert(s, MatchRow.__table__, matches, ())
        stories = [{"created_at": NOW, "updated_at": NOW, "signature": "ab" * 64, "item_count": 1}]
        story = insert(s, Story.__table__, stories, ("id",))
        outbox = insert(s, OutboxRow.__table__, _outbox(item_id), ("id",))
    with db.read() as s:
        tables = [_stored(s, t) for t in ("items", "matches", "stories", "outbox")]
    return [sorted(ids), again, story, outbox, *tables]


def _core(s: Session, table: Any, rows: list[dict[str, Any]], returning: tuple[str, ...]) -> Any:
    stmt = _insert_many_statement("sqlite", table, returning)
    result = s.connection().execute(stmt, rows)
    return [tuple(r) for r in result] if returning else []


def _fast(s: Session, table: Any, rows: list[dict[str, Any]], returning: tuple[str, ...]) -> Any:
    found = fastsql.insert_rows(s.connection(), table, rows, returning=returning)
    assert found is not None, "fastsql fell back to Core"
    return found


def _fast_tuples(
    s: Session, table: Any, rows: list[dict[str, Any]], returning: tuple[str, ...]
) -> Any:
    """insert_tuples, each column whose value is the same in every row passed as shared."""
    shared = {k: v for k, v in rows[0].items() if all(r[k] is v for r in rows[1:])}
    keys = tuple(k for k in rows[0] if k not in shared)
    values = [tuple(r[k] for k in keys) for r in rows]
    found = fastsql.insert_tuples(
        s.connection(), table, keys, values, shared=shared, returning=returning
    )
    assert found is not None, "fastsql fell back to Core"
    return found


@pytest.mark.parametrize("fast", [_fast, _fast_tuples])
def test_inserts_store_what_core_stores(tmp_path: Path, fast: Callable[..., Any]) -> None:
    by_core = Database(f"sqlite:///{tmp_path / 'core.db'}")
    by_fastsql = Database(f"sqlite:///{tmp_path / 'fast.db'}")
    for db in (by_core, by_fastsql):
        db.upgrade()
    core, fast = _write_all(by_core, _core), _write_all(by_fastsql, fast)
    assert fast[1] == [] and len(fast[0]) == 40  # the repeated rows conflicted
    assert fast == core


def test_tuples_of_other_lengths_are_refused(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'len.db'}")
    db.upgrade()
    with pytest.raises(ValueError, match="same keys"), db.write() as s:
        keys = ("item_id", "topic")
        fastsql.insert_tuples(s.connection(), MatchRow.__table__, keys, [(1, "a"), (2,)])


def test_many_rows_are_split_below_sqlites_parameter_limit(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'big.db'}")
    db.upgrade()
    with db.write() as s:
        feed_id = feed_store.add_feed(s, "https://a.example/rss", NOW).id
        s.flush()
        rows = [{**_items(feed_id)[0], "key": f"k{i}"} for i in range(4_000)]  # 40,000 values
        found = fastsql.insert_rows(s.connection(), ItemRow.__table__, rows, returning=("key",))
        more = [{**row, "key": f"more {row['key']}"} for row in rows]
        found_too = _fast_tuples(s, ItemRow.__table__, more, ("key",))
        stored = _stored(s, "items")
    assert found is not None and sorted(k for (k,) in found) == sorted(r["key"] for r in rows)
    assert sorted(k for (k,) in found_too) == sorted(r["key"] for r in more)
    key = 2  # column of `items`, after `id` and `feed_id`: the rows differ only there
    assert [r[1:key] + r[key + 1 :] for r in stored[:4_000]] == [
        r[1:key] + r[key + 1 :] for r in stored[4_000:]
    ]


def test_rows_with_other_keys_are_refused(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'keys.db'}")
    db.upgrade()
    with pytest.raises(ValueError, match="same keys"), db.write() as s:
        feed_id = feed_store.add_feed(s, "https://a.example/rss", NOW).id
        s.flush()
        first, second = _items(feed_id)[:2]
        del second["lang"]
        fastsql.insert_rows(s.connection(), ItemRow.__table__, [first, second])


def test_a_python_computed_default_is_left_to_core(tmp_path: Path) -> None:
    metadata = MetaData()
    table = Table(
        "notes",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("text", String, default=lambda: "computed"),
    )
    db = Database(f"sqlite:///{tmp_path / 'notes.db'}")
    metadata.create_all(db.engine)
    with db.write() as s:
        assert fastsql.insert_rows(s.connection(), table, [{"id": 1}]) is None
        assert s.execute(select(table.c.text)).all() == []  # nothing was written


def test_updates_match_core_and_unrunnable_ones_go_through_core(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'upd.db'}")
    db.upgrade()
    items = ItemRow.__table__
    by_id = update(items).where(items.c.id == bindparam("id_"))
    by_ids = update(items).where(items.c.id.in_(bindparam("ids_", expanding=True)))
    later = NOW + timedelta(hours=1, microseconds=5)
    with db.write() as s:
        feed_id = feed_store.add_feed(s, "https://a.example/rss", NOW).id
        s.flush()
        ids = sorted(i for (i,) in _fast(s, items, _items(feed_id)[:4], ("id",)))
        change = {"title": "New", "published_at": later}
        fastsql.execute(s.connection(), by_id, {"id_": ids[0], **change})
        s.connection().execute(by_id, {"id_": ids[1], **change})
        fastsql.execute(s.connection(), by_ids, {"ids_": ids[2:], "title": "Both"})  # Core's job
        rows = _stored(s, "items")
    title, published_at = 3, 8  # columns of `items`
    assert (rows[0][title], rows[0][published_at]) == (rows[1][title], rows[1][published_at])
    assert rows[0][title] == "New" and rows[0][published_at] != rows[3][published_at]
    assert [r[3] for r in rows[2:]] == ["Both", "Both"]


def test_many_updates_match_core(tmp_path: Path) -> None:
    """execute_many stores what Core's executemany stores, row for row."""
    db = Database(f"sqlite:///{tmp_path / 'many.db'}")
    db.upgrade()
    items = ItemRow.__table__
    by_id = update(items).where(items.c.id == bindparam("id_"))
    later = NOW + timedelta(hours=1, microseconds=5)
    with db.write() as s:
        feed_id = feed_store.add_feed(s, "https://a.example/rss", NOW).id
        s.flush()
        ids = sorted(i for (i,) in _fast(s, items, _items(feed_id)[:6], ("id",)))
        # the same three changes, to three rows each way
        changes = [
            {"id_": i, "title": f"New {n % 3}", "published_at": later + timedelta(minutes=n % 3)}
            for n, i in enumerate(ids)
        ]
        fastsql.execute_many(s.connection(), by_id, changes[:3])
        s.connection().execute(by_id, changes[3:])
        fastsql.execute_many(s.connection(), by_id, [])  # nothing to do
        rows = _stored(s, "items")
    title, published_at = 3, 8  # columns of `items`
    fast = [(r[title], r[published_at]) for r in rows[:3]]
    assert fast == [(r[title], r[published_at]) for r in rows[3:]]
    assert [t for t, _ in fast] == ["New 0", "New 1", "New 2"]
    assert len({p for _, p in fast}) == 3


def _reference() -> Callable[[Any], Any]:
    dialect = sqlite.dialect()
    processor = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None
    return processor


def test_utc_times_are_formatted_as_sqlalchemy_formats_them() -> None:
    reference = _reference()
    quick = fastsql._processor(UTCDateTime(), sqlite.dialect())
    assert quick is not None and quick is not reference
    rng = random.Random(7)
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    times = [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]
    times += [datetime(999, 3, 4, 5, 6, 7, tzinfo=UTC), NOW]
    for _ in range(2_000):
        seconds = rng.randrange(0, 4_000_000_000)
        micro = rng.choice([0, rng.randrange(1_000_000)])
        when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=micro)
        times.append(when.astimezone(rng.choice(zones)))
    assert [quick(t) for t in times] == [reference(t) for t in times]
    assert quick(None) is None
    with pytest.raises(ValueError, match="naive"):
        quick(datetime(2026, 1, 2))


def test_a_database_error_on_the_fast_path_is_a_store_error(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'gone.db'}")
    db.upgrade()
    with pytest.raises(StoreError, match="no such table"), db.write() as s:
        s.execute(text("DROP TABLE matches"))
        fastsql.insert_rows(s.connection(), MatchRow.__table__, [{"item_id": 1, "topic": "t"}])
