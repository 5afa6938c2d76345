"""SQLite search index: new items are indexed once per transaction, sorted, not row by row

Why: a trigger that writes to an FTS5 table runs inside a statement savepoint,
and FTS5 flushes its pending terms to disk at every savepoint. So each new
item became a tiny index segment of its own, merged again and again: about
400 µs of CPU per item, 15× the cost of the row itself, and the bulk of a
first poll (bench/bench_ingest.py). Now the insert trigger only notes the
item's id in `items_fts_pending`; `bot.store.db.Database.write` indexes the
noted items in one statement, in sort-key order, just before the transaction
commits (about 90 µs per item). Readers only see committed data, so they never
see an item that is stored but not yet searchable.

An item updated or deleted while still pending has no index entry to remove:
the triggers skip the FTS5 'delete' for it (a 'delete' of text that is not in
an external-content index corrupts it), and the final indexing reads the
item's current text.

PostgreSQL is unchanged (its GIN index is maintained by the server). The new
names start with `items_fts`, so `alembic check` leaves them alone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 04:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: copied from 0002 (migrations never import each other): published minute, then id
SORT_KEY = (
    "MIN(MAX(COALESCE(CAST(strftime('%s', {row}.published_at) AS INTEGER) / 60, 0),"
    " -2147483648), 2147483647) * 4294967296 + {row}.id"
)
NOT_PENDING = "NOT EXISTS (SELECT 1 FROM items_fts_pending WHERE id = {row}.id)"

UPGRADE = (
    "CREATE TABLE items_fts_pending (id INTEGER PRIMARY KEY)",
    # what Database.write indexes before committing (it only reads this view)
    f"""CREATE VIEW items_fts_pending_rows AS
        SELECT {SORT_KEY.format(row="items")} AS sort_key, items.title, items.summary
        FROM items_fts_pending JOIN items ON items.id = items_fts_pending.id""",
    "DROP TRIGGER items_fts_ai",
    "DROP TRIGGER items_fts_ad",
    "DROP TRIGGER items_fts_au",
    """CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN
        INSERT INTO items_fts_pending(id) VALUES (new.id);
    END""",
    f"""CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary)
        SELECT 'delete', {SORT_KEY.format(row="old")}, old.title, old.summary
        WHERE {NOT_PENDING.format(row="old")};
        DELETE FROM items_fts_pending WHERE id = old.id;
    END""",
    f"""CREATE TRIGGER items_fts_au AFTER UPDATE OF title, summary, published_at ON items
    WHEN {NOT_PENDING.format(row="old")} BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary)
        VALUES ('delete', {SORT_KEY.format(row="old")}, old.title, old.summary);
        INSERT INTO items_fts(rowid, title, summary)
        VALUES ({SORT_KEY.format(row="new")}, new.title, new.summary);
    END""",
)

#: 0002's triggers, as they were
DOWNGRADE = (
    """INSERT INTO items_fts(rowid, title, summary)
        SELECT sort_key, title, summary FROM items_fts_pending_rows ORDER BY sort_key""",
    "DROP TRIGGER items_fts_ai",
    "DROP TRIGGER items_fts_ad",
    "DROP TRIGGER items_fts_au",
    "DROP VIEW items_fts_pending_rows",
    "DROP TABLE items_fts_pending",
    f"""CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN
        INSERT INTO items_fts(rowid, title, summary)
        VALUES ({SORT_KEY.format(row="new")}, new.title, new.summary);
    END""",
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
    if op.get_bind().dialect.name == "sqlite":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in DOWNGRADE:
            op.execute(statement)
