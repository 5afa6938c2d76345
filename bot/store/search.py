"""Full-text search over every stored item, in every language, newest first.

Matching is case-insensitive *substring* matching of every term (AND), so
Japanese and Chinese, written without spaces, work like any other language:
`パトリオット`, `ППО` and `Flugabwehr` each find the items containing them.

* SQLite: the FTS5 table `items_fts` with the trigram tokenizer (migration
  0002), kept in sync with `items` by triggers; a new item waits in
  `items_fts_pending` until bot.store.search_index indexes it (after each
  poll), and search scans the pending items besides. Its rowid is a sort key,
  `published minute << 32 | item id`, so the index yields matches newest first
  and a query stops after `limit` hits, whether the term is rare or in every
  other item. A trigram index cannot look up a term shorter than three
  characters (two-kanji words such as 防空): such terms filter the candidates
  with LIKE, and a query made only of them scans the newest `SHORT_SCAN_ITEMS`
  items (newest first, stopping at `limit` hits).
* PostgreSQL: ILIKE, served by the pg_trgm GIN index `ix_items_search_trgm`
  on `title || ' ' || summary`.

SQLite's LIKE folds ASCII case only, so a short Cyrillic term is case-sensitive
there; FTS5 and PostgreSQL fold every script.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    column,
    exists,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from bot.store.items import StoredItem
from bot.store.schema import Feed, ItemRow, MatchRow

#: the shortest term the trigram index can look up
MIN_INDEXED = 3
MAX_LIMIT = 50
#: a query made only of terms shorter than MIN_INDEXED searches this many newest items
SHORT_SCAN_ITEMS = 100_000
#: the FTS rowid is `published minute << 32 | item id` (migrations/versions/0002_search.py)
ID_BITS = 32
ID_MASK = (1 << ID_BITS) - 1

_fts = table("items_fts", column("rowid", Integer))
#: new items not indexed yet (migration 0004)
_pending = table("items_fts_pending", column("id", Integer))
HAS_PENDING_TABLE = text(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'items_fts_pending'"
)


@dataclass(frozen=True, slots=True)
class Filters:
    """What narrows a search besides its terms."""

    #: items that matched this topic
    topic: str | None = None
    #: items published at or after this time
    since: datetime | None = None
    #: ISO 639-1 code, case-insensitive; `en` also finds `en-GB`
    lang: str | None = None


def search(
    session: Session,
    query: str | Sequence[str],
    *,
    topic: str | None = None,
    since: datetime | None = None,
    lang: str | None = None,
    limit: int = 10,
) -> list[StoredItem]:
    """The newest items containing every term of `query` (a string is split on spaces)."""
    terms = split_terms(query) if isinstance(query, str) else [t for t in query if t.strip()]
    filters = Filters(topic=topic, since=since, lang=lang.strip().lower() if lang else None)
    limit = max(1, min(limit, MAX_LIMIT))
    if session.get_bind().dialect.name == "sqlite" and any(len(t) >= MIN_INDEXED for t in terms):
        ids = _sqlite_fts(session, terms, filters, limit)
    else:
        ids = _scan(session, terms, filters, limit)
    return _load(session, ids)


def only_short_terms(terms: Sequence[str]) -> bool:
    """True when no term is long enough for the index (the search is bounded)."""
    return bool(terms) and all(len(t) < MIN_INDEXED for t in terms)


def split_terms(query: str) -> list[str]:
    """Whitespace-separated terms; `"two words"` stays one phrase."""
    terms: list[str] = []
    for i, part in enumerate(query.split('"')):
        if i % 2:
            if part.strip():
                terms.append(" ".join(part.split()))
        else:
            terms.extend(part.split())
    return terms


# -- SQLite: the trigram index, newest first --------------------------------------------


def _sqlite_fts(session: Session, terms: Sequence[str], filters: Filters, limit: int) -> list[int]:
    """Item ids of the newest matches, exactly ordered by (published_at, id) descending."""
    keys: list[int] = list(session.scalars(fts_query(terms, filters).limit(limit)))
    if len(keys) == limit:
        # The key orders by minute, then id: other matches published in the last
        # key's minute may be newer to the second. Fetch that minute whole.
        minute = keys[-1] >> ID_BITS
        keys += session.scalars(
            fts_query(terms, filters).where(
                _fts.c.rowid >= minute << ID_BITS, _fts.c.rowid < (minute + 1) << ID_BITS
            )
        )
    ids = {key & ID_MASK for key in keys} | set(_pending_matches(session, terms, filters, limit))
    if not ids:
        return []
    ordered = session.scalars(
        select(ItemRow.id)
        .where(ItemRow.id.in_(ids))
        .order_by(ItemRow.published_at.desc(), ItemRow.id.desc())
        .limit(limit)
    )
    return list(ordered)


def fts_query(terms: Sequence[str], filters: Filters) -> Select[Any]:
    # Each term a quoted FTS5 string, which with trigrams is a substring match; AND-ed.
    match = " AND ".join('"' + t.replace('"', '""') + '"' for t in terms if len(t) >= MIN_INDEXED)
    stmt = (
        select(_fts.c.rowid)
        .select_from(_fts)
        .where(column("items_fts").op("MATCH")(match))
        .order_by(_fts.c.rowid.desc())
    )
    if filters.since is not None:
        minute = int(filters.since.astimezone(UTC).timestamp()) // 60
        minute = max(-(2**31), min(minute, 2**31 - 1))  # clamped like the key itself
        stmt = stmt.where(_fts.c.rowid >= minute << ID_BITS)
    conditions = [*_filter_conditions(filters), *_short_term_conditions(terms)]
    if conditions:
        # A correlated lookup by primary key per candidate, in the index's order.
        stmt = stmt.where(exists().where(ItemRow.id == _fts.c.rowid.op("&")(ID_MASK), *conditions))
    return stmt


def _pending_matches(
    session: Session, terms: Sequence[str], filters: Filters, limit: int
) -> list[int]:
    """The newest `limit` matches among the items not indexed yet (bot.store.search_index).

    Why a scan here rather than indexing them before the query: it reads the index
    and the pending rows in one snapshot, and the insert trigger notes an item as
    pending in the item's own transaction, so every item this search can see is in
    one or the other, with no race against a poll committing meanwhile. A search
    stays read-only (it never waits for the write lock nor indexes a backlog for
    a chat user), and every caller of `search` is covered. The scan is short: the
    index catches up after each poll (a cold poll of 1,000 feeds leaves 30,000
    rows for about 3 s; a search scans them in about 0.1 s).

    Long terms are matched with `str.casefold`, which folds every pair of
    characters the trigram tokenizer folds (checked over all of Unicode on SQLite
    3.40, bar the noncharacters U+FFFE/FFFF; it folds a few more, e.g. ß = ss):
    a pending item is never missed, at worst one more is found until indexed.
    """
    if session.execute(HAS_PENDING_TABLE).first() is None:
        return []  # before migration 0004, the triggers index at once
    stmt = (
        select(ItemRow.id, ItemRow.title, ItemRow.summary)
        .join(_pending, _pending.c.id == ItemRow.id)
        .where(*_filter_conditions(filters), *_short_term_conditions(terms))
        .order_by(ItemRow.published_at.desc(), ItemRow.id.desc())
    )
    folded = [t.casefold() for t in terms if len(t) >= MIN_INDEXED]
    found: list[int] = []
    for item_id, title, summary in session.execute(stmt):
        title, summary = (title or "").casefold(), (summary or "").casefold()
        if all(t in title or t in summary for t in folded):
            found.append(item_id)
            if len(found) == limit:
                break
    return found


def _short_term_conditions(terms: Sequence[str]) -> list[ColumnElement[bool]]:
    return [
        ItemRow.title.like(_pattern(t), escape="\\")
        | ItemRow.summary.like(_pattern(t), escape="\\")
        for t in terms
        if len(t) < MIN_INDEXED
    ]


# -- a scan newest first: PostgreSQL (trigram index), SQLite short terms -----------------


def _scan(session: Session, terms: Sequence[str], filters: Filters, limit: int) -> list[int]:
    cutoff = None
    if only_short_terms(terms):
        # No index can look these up: bound the scan to the newest items (measured:
        # ~1.5 s for a rare two-character term over 1,000,000 items unbounded).
        cutoff = session.scalar(
            select(ItemRow.published_at)
            .order_by(ItemRow.published_at.desc())
            .offset(SHORT_SCAN_ITEMS - 1)
            .limit(1)
        )
    dialect = session.get_bind().dialect.name
    return list(session.scalars(scan_query(dialect, terms, filters, limit, cutoff)))


def scan_query(
    dialect: str,
    terms: Sequence[str],
    filters: Filters,
    limit: int,
    cutoff: datetime | None = None,
) -> Select[Any]:
    """Newest items matching every term: ILIKE on PostgreSQL, LIKE for short terms on SQLite."""
    stmt = select(ItemRow.id).where(*_filter_conditions(filters))
    if cutoff is not None:
        stmt = stmt.where(ItemRow.published_at >= cutoff)
    if dialect == "sqlite":
        stmt = stmt.where(*_short_term_conditions(terms))
    else:
        # Exactly the indexed expression (a bound ' ' would not match it).
        haystack = ItemRow.title.op("||")(literal_column("' '")).op("||")(ItemRow.summary)
        stmt = stmt.where(*(haystack.ilike(_pattern(t), escape="\\") for t in terms))
    return stmt.order_by(ItemRow.published_at.desc(), ItemRow.id.desc()).limit(limit)


def _filter_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.topic is not None:
        conditions.append(
            exists().where(MatchRow.item_id == ItemRow.id, MatchRow.topic == filters.topic)
        )
    if filters.since is not None:
        conditions.append(ItemRow.published_at >= filters.since)
    if filters.lang:
        lang = func.lower(ItemRow.lang)
        conditions.append(
            (lang == filters.lang) | lang.like(_escape(filters.lang) + "-%", escape="\\")
        )
    return conditions


def _pattern(term: str) -> str:
    return f"%{_escape(term)}%"


def _escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- results ------------------------------------------------------------------------------


def _load(session: Session, ids: Sequence[int]) -> list[StoredItem]:
    """StoredItems for `ids`, in that order, with the topics each matched."""
    if not ids:
        return []
    rows = session.execute(
        select(ItemRow, Feed.name, Feed.title, Feed.url)
        .join(Feed, Feed.id == ItemRow.feed_id)
        .where(ItemRow.id.in_(ids))
    ).all()
    topics: dict[int, list[str]] = {}
    for item_id, topic in session.execute(
        select(MatchRow.item_id, MatchRow.topic)
        .where(MatchRow.item_id.in_(ids))
        .order_by(MatchRow.score.desc())
    ):
        topics.setdefault(item_id, []).append(topic)
    by_id: dict[int, StoredItem] = {}
    for item, name, title, url in rows:
        by_id[item.id] = StoredItem(
            id=item.id,
            feed_id=item.feed_id,
            feed=name or title or url,
            title=item.title,
            link=item.link,
            summary=item.summary,
            lang=item.lang,
            published_at=item.published_at,
            topics=tuple(topics.get(item.id, ())),
        )
    return [by_id[i] for i in ids if i in by_id]
