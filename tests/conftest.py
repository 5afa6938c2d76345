"""Shared fixtures: a clean environment, and databases on SQLite and PostgreSQL.

PostgreSQL tests use TEST_DATABASE_URL (default: the local server at
127.0.0.1:5432, database `test`), each in a schema of its own that is dropped
afterwards. They are skipped, with the reason, when the server is unreachable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store.db import Database

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_SECRET_ENV = ("DATABASE_URL", "SLACK_", "TELEGRAM_", "SKYWATCH_")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's tokens or database."""
    for name in list(os.environ):
        if name.startswith(_SECRET_ENV):
            monkeypatch.delenv(name)


def _postgres_unreachable_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as e:  # any failure means: skip, and say why
        return f"PostgreSQL not reachable at {PG_URL}: {type(e).__name__}: {e}".strip()


_PG_REASON: list[str | None] = []


def postgres_skip_reason() -> str | None:
    if not _PG_REASON:
        _PG_REASON.append(_postgres_unreachable_reason())
    return _PG_REASON[0]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema."""
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"sw_{uuid.uuid4().hex[:12]}"
    plain = PG_URL.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'skywatch.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite and on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


def _upgraded(url: str) -> Iterator[Database]:
    db = Database(url)
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
def sqlite_database(sqlite_url: str) -> Iterator[Database]:
    """An upgraded, empty SQLite database."""
    yield from _upgraded(sqlite_url)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """An upgraded, empty database (SQLite and PostgreSQL)."""
    yield from _upgraded(db_url)
