"""Database.write(durable=False): the poll's commits do not wait for the disk, and no
other transaction inherits that from a pooled connection (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bot.store.db import Database

#: PRAGMA synchronous's answers
NORMAL, FULL = 1, 2


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.upgrade()
    try:
        yield database
    finally:
        database.dispose()


def setting(db: Database, session: object) -> object:
    query = "PRAGMA synchronous" if db.is_sqlite else "SHOW synchronous_commit"
    return session.execute(text(query)).scalar_one()  # type: ignore[attr-defined]


def test_a_lazy_write_does_not_wait_for_the_disk_and_nothing_after_it_inherits_that(
    db: Database,
) -> None:
    lazy, durable = (NORMAL, FULL) if db.is_sqlite else ("off", "on")
    for _ in range(2):  # the same pooled connection, back and forth
        with db.write(durable=False) as session:
            assert setting(db, session) == lazy
        with db.write() as session:
            assert setting(db, session) == durable
        with db.read() as session:
            assert setting(db, session) == durable


def test_a_lazy_write_commits_like_any_other(db: Database) -> None:
    with db.write(durable=False) as session:
        session.execute(text("CREATE TABLE lazy_probe (n INTEGER)"))
        session.execute(text("INSERT INTO lazy_probe VALUES (1)"))
    with pytest.raises(RuntimeError), db.write(durable=False) as session:
        session.execute(text("INSERT INTO lazy_probe VALUES (2)"))
        raise RuntimeError("rolled back")
    with db.read() as session:
        assert session.execute(text("SELECT n FROM lazy_probe")).scalars().all() == [1]
    with db.write() as session:
        session.execute(text("DROP TABLE lazy_probe"))
