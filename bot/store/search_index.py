"""SQLite: index the pending new items for search, in chunks, off the ingestion path.

Why: indexing a new item in the FTS5 trigram table was ~45% of a first poll's
CPU when `Database.write` did it before every commit (one tiny index segment
per feed's transaction). Now a write only notes the new item in
`items_fts_pending` (migration 0004's trigger, same transaction: a crash loses
nothing), and this runs after each poll (bot.app.App.index): a few large
sorted chunks instead of one small batch per feed. Until then, search finds
pending items by scanning them (bot.store.search), so it never misses one.

Each chunk is one short write transaction: index the rows in sort-key order
(FTS5 then appends; a smaller rowid than the last one forces a flush), then
forget them. A crash or error rolls the whole chunk back, index and pending rows
alike: an item is always either indexed or pending, never both or neither.

PostgreSQL has nothing to do: the server maintains its GIN index itself.
"""

from __future__ import annotations

from sqlalchemy import Connection

from bot.store.db import Database
from bot.store.search import HAS_PENDING_TABLE, ID_MASK

#: items per chunk: ~0.5 s of write lock; 2,000 cost 10% more CPU (more segments to merge), 500 40%
BATCH = 5000

# No ORDER BY: SQLite would compute the key of every pending row for every chunk.
# Any `batch` rows will do; they are sorted in Python, inside the transaction.
_NEXT_CHUNK = "SELECT sort_key, title, summary FROM items_fts_pending_rows LIMIT ?"
_INDEX = "INSERT INTO items_fts(rowid, title, summary) VALUES (?, ?, ?)"
_FORGET = "DELETE FROM items_fts_pending WHERE id = ?"


def index_pending(db: Database, *, batch: int = BATCH, limit: int | None = None) -> int:
    """Index pending items, `batch` per transaction, at most `limit`; how many were indexed.

    A no-op on PostgreSQL, and on SQLite before migration 0004 (whose triggers
    index at once).
    """
    if not db.is_sqlite or batch < 1:
        return 0
    done = 0
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        with db.write() as session:
            indexed = _index_chunk(session.connection(), size)
        done += indexed
        if indexed < size:
            break
    return done


def _index_chunk(connection: Connection, size: int) -> int:
    # Asked every time (microseconds): a downgrade may drop the table under a running bot.
    if connection.execute(HAS_PENDING_TABLE).first() is None:
        return 0
    rows = sorted(tuple(row) for row in connection.exec_driver_sql(_NEXT_CHUNK, (size,)))
    if rows:
        connection.exec_driver_sql(_INDEX, rows)
        connection.exec_driver_sql(_FORGET, [(key & ID_MASK,) for key, _, _ in rows])
    return len(rows)
