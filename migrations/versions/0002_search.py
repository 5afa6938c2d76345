"""full-text search over items

Why: the chat `search` command searches every item ever seen, in every language
(issue 6). SQLite gets an external-content FTS5 table with the trigram
tokenizer (substring matching, so Japanese without spaces works), kept in sync
by triggers; PostgreSQL gets a pg_trgm GIN index that serves ILIKE.
https://sqlite.org/fts5.html#the_trigram_tokenizer
https://www.postgresql.org/docs/current/pgtrgm.html#PGTRGM-INDEX

Autogenerate cannot model these objects; migrations/env.py leaves names starting
with `items_fts` and `ix_items_search_trgm` out of `alembic check`.

NB: a later batch migration that rebuilds `items` on SQLite drops its triggers
and view; it must create them again (copy the statements, do not import them).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 00:40:00
"""
import logging
from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

#: The FTS rowid is a sort key, not the item id: the published minute in the high
#: bits and the item id (< 2**32) in the low 32, so `ORDER BY rowid DESC LIMIT n`
#: walks the index newest first and stops after n hits, however common the term.
#: The content "table" is a view exposing that key; only `rebuild` reads it.
#: Minutes are clamped to 32 bits (years -2053..6053) so the key never overflows 64.
SORT_KEY = (
    "MIN(MAX(COALESCE(CAST(strftime('%s', {row}.published_at) AS INTEGER) / 60, 0),"
    " -2147483648), 2147483647) * 4294967296 + {row}.id"
)

SQLITE_OBJECTS = (
    f"""CREATE VIEW items_fts_source AS
        SELECT {SORT_KEY.format(row="items")} AS sort_key, title, summary FROM items""",
    """CREATE VIRTUAL TABLE items_fts USING fts5(
        title, summary, content='items_fts_source', content_rowid='sort_key',
        tokenize='trigram')""",
    f"""CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN
        INSERT INTO items_fts(rowid, title, summary)
        VALUES ({SORT_KEY.format(row="new")}, new.title, new.summary);
    END""",
    # an external-content table must be told the old text to delete its trigrams
    f"""CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary)
        VALUES ('delete', {SORT_KEY.format(row="old")}, old.title, old.summary);
    END""",
    f"""CREATE TRIGGER items_fts_au AFTER UPDATE OF title, summary, published_at ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary)
        VALUES ('delete', {SORT_KEY.format(row="old")}, old.title, old.summary);
        INSERT INTO items_fts(rowid, title, summary)
        VALUES ({SORT_KEY.format(row="new")}, new.title, new.summary);
    END""",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_OBJECTS:
            op.execute(statement)
        op.execute("INSERT INTO items_fts(items_fts) VALUES ('rebuild')")
    elif dialect == "postgresql":
        schema = _pg_trgm_schema()
        if schema is not None:
            op.execute(
                "CREATE INDEX ix_items_search_trgm ON items USING gin "
                f"((title || ' ' || summary) \"{schema}\".gin_trgm_ops)"
            )


def _pg_trgm_schema() -> str | None:
    """The schema holding pg_trgm, installing it (into `public`) when missing.

    Installed into `public`, not the current schema: an extension lives once per
    database, and dropping the schema it sits in would drop every index using it.
    Without the right to create it, search still works, by a sequential scan.
    """
    bind = op.get_bind()
    find = (
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    )
    schema = bind.exec_driver_sql(find).scalar()
    if schema is None:
        try:
            with bind.begin_nested():
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        except Exception as e:  # any refusal: go on without the index
            log.warning("pg_trgm unavailable (%s); search will scan the items table", e)
            return None
        schema = bind.exec_driver_sql(find).scalar()
    return None if schema is None else str(schema)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("items_fts_ai", "items_fts_ad", "items_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS items_fts")
        op.execute("DROP VIEW IF EXISTS items_fts_source")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_items_search_trgm")
