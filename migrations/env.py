"""Alembic environment: migrations run on the engine Skywatch hands over (see bot/store/db.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from bot.store.db import make_engine
from bot.store.schema import Base

config = context.config
target_metadata = Base.metadata

#: objects made with raw SQL in migrations (SQLite FTS5 tables and their shadow
#: tables, PostgreSQL trigram indexes): autogenerate cannot model them, so the
#: drift check must not mistake them for tables or indexes to drop
RAW_SQL_OBJECTS = ("items_fts", "ix_items_search_trgm")


def include_object(
    obj: object, name: str | None, kind: str, reflected: bool, compare_to: object
) -> bool:
    return not (reflected and compare_to is None and (name or "").startswith(RAW_SQL_OBJECTS))


def run_migrations_online() -> None:
    engine: Engine | None = config.attributes.get("engine")
    if engine is None:
        # `alembic` run by hand: read the URL from -x url=... or the alembic config.
        url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
            "sqlalchemy.url"
        )
        engine = make_engine(str(url))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
