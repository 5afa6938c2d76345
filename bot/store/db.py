"""Database engine, transactions and migrations, for SQLite and PostgreSQL.

SQLite is tuned so that the poller and a chat command writing at the same time
wait for each other instead of failing with "database is locked":

* WAL journal, so readers never block the writer;
* a busy timeout, so a writer waits for the lock;
* `BEGIN IMMEDIATE` for write transactions: a deferred transaction that reads
  and then writes fails at once under WAL, whatever the timeout
  (RELIABILITY.md V6, https://sqlite.org/lang_transaction.html);
* `synchronous=FULL`, so a committed "sent" mark survives power loss (B12).
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ClauseElement

from bot.errors import StoreError
from bot.store import fastsql

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL, a busy timeout and immediate writes."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        return create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as e:
        raise StoreError(f"cannot use database URL: {e}") from e


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Database:
    """The engine plus session factories for reads and writes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        read_engine = (
            self.engine.execution_options(sqlite_begin="DEFERRED")
            if self.is_sqlite
            else self.engine
        )
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(read_engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any error.

        New items are not indexed for search here: migration 0004's trigger notes
        them as pending in this same transaction, and bot.store.search_index
        indexes them later, off the ingestion path (search finds them meanwhile).
        """
        with _wrap_errors(), self._write.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (deferred on SQLite, so it never takes the write lock)."""
        with _wrap_errors(), self._read() as session:
            yield session

    def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _wrap_errors() -> Iterator[None]:
    try:
        yield
    except OperationalError as e:
        raise StoreError(f"database error: {e.orig}") from e
    except sqlite3.OperationalError as e:  # from bot.store.fastsql, which runs without Core
        raise StoreError(f"database error: {e}") from e


def migrations_dir() -> Path:
    """Migrations ship inside the wheel as bot/_migrations; in a checkout they are at the top."""
    packaged = Path(__file__).resolve().parent.parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "migrations"


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Run `alembic upgrade head` on this engine."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as e:
        raise StoreError(f"cannot upgrade the database: {e}") from e


def insert_ignoring_conflicts(session: Session, table: Any, values: dict[str, Any]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL; the new key, or None if it existed.

    The unique constraints, not a prior SELECT, decide "already seen": two
    writers racing on one item cannot both insert it.
    """
    connection = session.connection()
    key = _single_key(table)
    if _has_clauses(values):
        stmt = _insert_statement(connection.dialect.name, table).values(**values)
        result = connection.execute(stmt)
    else:
        if key is not None:  # on SQLite, straight on the driver
            found = fastsql.insert_rows(connection, table, [values], returning=(key.name,))
            if found is not None:
                return found[0][0] if found else None
        # Values travel as parameters of one statement built once per table, so
        # SQLAlchemy's compiled cache serves it without rebuilding or re-keying it:
        # this runs for every stored item, and building it cost more than SQLite.
        stmt = _insert_statement(connection.dialect.name, table)
        result = connection.execute(stmt, values)
    if key is not None:
        row = result.first()
        return None if row is None else row[0]
    return 1 if result.rowcount else None


def update_one_row(
    session: Session, stmt: Any, params: dict[str, Any], entity: Any, row_id: int
) -> None:
    """Run a prebuilt UPDATE of one row, keeping the session's view of it consistent
    (`update_rows` of one)."""
    update_rows(session, stmt, [params], entity, [row_id])


def update_rows(
    session: Session, stmt: Any, params: Sequence[dict[str, Any]], entity: Any, row_ids: Any
) -> None:
    """Run a prebuilt UPDATE once per parameter set, in one call (fastsql.execute_many),
    keeping the session's view of the rows (`row_ids` of `entity`) consistent: pending
    ORM changes are flushed first (so they cannot land after this and undo it), and
    loaded copies of the rows are expired, so they reload when read."""
    if not params:
        return
    session.flush()
    fastsql.execute_many(session.connection(), stmt, params)
    identity_map, identity_key = session.identity_map, session.identity_key
    for row_id in row_ids:
        loaded = identity_map.get(identity_key(entity, row_id))
        if loaded is not None:
            session.expire(loaded)


def insert_many_ignoring_conflicts(
    session: Session, table: Any, rows: Sequence[dict[str, Any]], *, returning: Sequence[str] = ()
) -> list[tuple[Any, ...]]:
    """INSERT … ON CONFLICT DO NOTHING of many rows in one round trip; the `returning`
    columns of each row actually inserted (in no promised order), else nothing.

    One statement per feed instead of one per item: multi-row VALUES, built by
    bot.store.fastsql on SQLite; elsewhere the rows share one cached statement,
    which SQLAlchemy batches the same way ("insertmanyvalues").
    """
    if not rows:
        return []
    connection = session.connection()
    found = fastsql.insert_rows(connection, table, rows, returning=tuple(returning))
    if found is not None:
        return found
    stmt = _insert_many_statement(connection.dialect.name, table, tuple(returning))
    result = connection.execute(stmt, list(rows))
    return [tuple(row) for row in result] if returning else []


@functools.lru_cache(maxsize=256)
def _insert_many_statement(dialect: str, table: Any, returning: tuple[str, ...]) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).on_conflict_do_nothing()
    return stmt.returning(*(table.c[name] for name in returning)) if returning else stmt


def _has_clauses(values: dict[str, Any]) -> bool:
    """Some value is an SQL expression, not a plain value."""
    return any(isinstance(v, ClauseElement) for v in values.values())


def _single_key(table: Any) -> Any:
    pk = list(table.primary_key.columns)
    return pk[0] if len(pk) == 1 else None


def _insert_statement(dialect: str, table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING [RETURNING key] for `table`; cached (immutable)."""
    key = _single_key(table)
    return _insert_many_statement(dialect, table, (key.name,) if key is not None else ())
