"""SQLite: a poller and a chat command writing at once wait for each other, never fail.

RELIABILITY.md V6: under WAL, a *deferred* transaction that reads and then
writes fails at once with "database is locked". Writes here begin IMMEDIATE.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import select, text

from bot.store import feeds as feed_store
from bot.store.db import Database
from bot.store.schema import Feed

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def test_sqlite_pragmas(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    with db.read() as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert int(s.execute(text("PRAGMA busy_timeout")).scalar() or 0) >= 5000
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_concurrent_read_then_write_transactions_never_lock(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.upgrade()
    with db.write() as s:
        feed = feed_store.add_feed(s, "https://a.example/rss", NOW)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(20):
                with db.write() as s:
                    count = s.scalar(select(Feed.consecutive_errors).where(Feed.id == feed.id))
                    time.sleep(0.002)  # hold the transaction so the other thread collides
                    s.execute(
                        Feed.__table__.update()
                        .where(Feed.id == feed.id)
                        .values(consecutive_errors=(count or 0) + 1)
                    )
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as s:
        # Immediate transactions also serialise the read-modify-write: no lost update.
        assert s.scalar(select(Feed.consecutive_errors).where(Feed.id == feed.id)) == 60
    db.dispose()


def test_deferred_read_then_write_would_fail(sqlite_url: str) -> None:
    """The failure the IMMEDIATE mode prevents, shown on a plain deferred connection."""
    import sqlite3

    db = Database(sqlite_url)
    db.upgrade()
    path = sqlite_url.split("///", 1)[1]
    a = sqlite3.connect(path, timeout=5, isolation_level=None)
    b = sqlite3.connect(path, timeout=5, isolation_level=None)
    a.execute("BEGIN DEFERRED")
    a.execute("SELECT count(*) FROM feeds").fetchall()
    b.execute("BEGIN IMMEDIATE")
    b.execute("INSERT INTO chat_updates VALUES ('t', '1', '2026-01-01')")
    b.execute("COMMIT")
    try:
        a.execute("INSERT INTO chat_updates VALUES ('t', '2', '2026-01-01')")
    except sqlite3.OperationalError as e:
        assert "locked" in str(e) or "busy" in str(e).lower()
    else:
        raise AssertionError("expected the deferred writer to fail; SQLite changed behaviour")
    finally:
        a.close()
        b.close()
        db.dispose()
