"""Items, their matches and the stories they belong to, in the store.

An item is inserted once per `(feed_id, key)`; the unique constraint, not a
prior read, is what guarantees "alerts at most once, ever". A matched item is
also placed in a story (bot/stories.py decides which): `Story` rows count
their items, and `ItemRow.story_id` links the members.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from bot.store import fastsql
from bot.store.db import (
    insert_ignoring_conflicts,
    insert_many_ignoring_conflicts,
    update_rows,
)
from bot.store.schema import Feed, ItemRow, MatchRow, Story
from bot.types import Item, Match

#: SQLite caps bound parameters per statement; query known keys in chunks
_CHUNK = 500

_STORIES = cast(Table, Story.__table__)
_ITEMS = cast(Table, ItemRow.__table__)
_MATCHES = cast(Table, MatchRow.__table__)
#: the columns of an item's row (`insert_items`) and a match's, in their tuples' order
_ITEM_KEYS = ("key", "title", "link", "summary", "lang", "content_hash", "published_at", "alerted")
_MATCH_KEYS = ("item_id", "topic", "score", "explanation")
#: run once per fetched feed; built once, so the compiled cache serves it as is
_KNOWN_KEYS = select(_ITEMS.c.key, _ITEMS.c.content_hash).where(
    _ITEMS.c.feed_id == bindparam("feed_id_"),
    _ITEMS.c.key.in_(bindparam("keys_", expanding=True)),
)


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item as read back for search, `why` and digests."""

    id: int
    feed_id: int
    feed: str
    title: str
    link: str | None
    summary: str
    lang: str | None
    published_at: datetime
    topics: tuple[str, ...] = ()


def known_keys(session: Session, feed_id: int, keys: Iterable[str]) -> dict[str, str]:
    """Stored item key → content hash, for the given keys of one feed."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, str] = {}
    if not wanted:
        return found
    session.flush()  # the prebuilt statement below bypasses the ORM's autoflush
    connection = session.connection()
    for start in range(0, len(wanted), _CHUNK):
        rows = connection.execute(
            _KNOWN_KEYS, {"feed_id_": feed_id, "keys_": wanted[start : start + _CHUNK]}
        )
        found.update((key, content_hash) for key, content_hash in rows)
    return found


def insert_item(
    session: Session, feed_id: int, item: Item, *, now: datetime, alerted: bool
) -> int | None:
    """Insert a new item; None when `(feed_id, key)` exists already (a racing writer won)."""
    (item_id,) = insert_items(session, feed_id, [(item, alerted)], now=now)
    return item_id


def insert_items(
    session: Session, feed_id: int, items: Sequence[tuple[Item, bool]], *, now: datetime
) -> list[int | None]:
    """Insert a feed's new items, each with its `alerted` flag, in one statement.

    Per item, in order: its new id, or None when `(feed_id, key)` exists already
    (a racing writer won, or an earlier item in `items` has the same stored key).
    Ids are assigned in list order, as one insert per item would.
    """
    rows: list[tuple[Any, ...]] = []
    first: dict[str, int] = {}  # stored (cut) key -> index of the item that inserts it
    for index, (item, alerted) in enumerate(items):
        key = item.key[:512]
        if key in first:
            continue
        first[key] = index
        rows.append(
            (
                key,
                item.title,
                item.link,
                item.summary,
                item.lang,
                item.content_hash,
                item.published_at,
                alerted,
            )
        )
    shared = {"feed_id": feed_id, "first_seen_at": now}
    inserted = _insert_many(session, _ITEMS, _ITEM_KEYS, rows, shared, returning=("id", "key"))
    ids = {key: item_id for item_id, key in inserted}
    result: list[int | None] = [None] * len(items)
    for key, index in first.items():
        result[index] = ids.get(key)
    return result


def update_item(session: Session, feed_id: int, item: Item) -> None:
    """A known item changed its text: keep it current, quietly (no new alert)."""
    session.execute(
        update(ItemRow)
        .where(ItemRow.feed_id == feed_id, ItemRow.key == item.key[:512])
        .values(
            title=item.title, link=item.link, summary=item.summary, content_hash=item.content_hash
        )
    )


def insert_matches(
    session: Session, item_id: int, matches: Sequence[Match], *, now: datetime
) -> None:
    insert_all_matches(session, [(item_id, matches)], now=now)


def insert_all_matches(
    session: Session, matched: Sequence[tuple[int, Sequence[Match]]], *, now: datetime
) -> None:
    """The matches of many items, in one statement (a pair already stored is kept)."""
    rows = [
        (item_id, match.topic, match.score, match.explanation())
        for item_id, matches in matched
        for match in matches
    ]
    _insert_many(session, _MATCHES, _MATCH_KEYS, rows, {"matched_at": now})


def _insert_many(
    session: Session,
    table: Table,
    keys: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    shared: dict[str, Any],
    *,
    returning: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """`insert_many_ignoring_conflicts` of rows given as tuples of `keys`, plus `shared`
    in each: on SQLite without a dict per row (fastsql), elsewhere as dicts through Core."""
    if not rows:
        return []
    found = fastsql.insert_tuples(
        session.connection(), table, keys, rows, shared=shared, returning=returning
    )
    if found is not None:
        return found
    dicts = [{**shared, **dict(zip(keys, row, strict=True))} for row in rows]
    return insert_many_ignoring_conflicts(session, table, dicts, returning=returning)


@dataclass(frozen=True, slots=True)
class StoryMember:
    """A stored member of a story, with the text clustering compares."""

    story_id: int
    feed_id: int
    published_at: datetime
    title: str
    summary: str
    lang: str | None


#: statements built once: these run for every matched item, and SQLAlchemy's compiled
#: cache serves a prebuilt Core statement without rebuilding or re-keying it
_JOIN_STORY = (
    update(_STORIES)
    .where(_STORIES.c.id == bindparam("story_id_"))
    .values(item_count=_STORIES.c.item_count + bindparam("joined_"), updated_at=bindparam("now_"))
)
_SET_STORY = (
    update(_ITEMS)
    .where(_ITEMS.c.id == bindparam("item_id_"))
    .values(story_id=bindparam("story_id_"))
)


def create_story(session: Session, *, now: datetime, signature: str) -> int:
    """A new story of one item; `signature` is the item's full `MinHash.to_str()`."""
    session.flush()  # ORM rows still pending keep their order before this one
    values = {"created_at": now, "updated_at": now, "signature": signature[:128], "item_count": 1}
    story_id: int = insert_ignoring_conflicts(session, _STORIES, values)  # nothing to conflict
    return story_id


def link_stories(
    session: Session,
    links: Sequence[tuple[int, int]],
    joined: Mapping[int, tuple[int, datetime]],
) -> None:
    """Many items' stories at once: `links` are (item id, story id) pairs, `joined`
    how many items joined each earlier story, and when the last one did (two
    statements for a whole transaction instead of two per matched item)."""
    update_rows(
        session,
        _SET_STORY,
        [{"item_id_": item_id, "story_id_": story_id} for item_id, story_id in links],
        ItemRow,
        [item_id for item_id, _ in links],
    )
    update_rows(
        session,
        _JOIN_STORY,
        [{"story_id_": sid, "joined_": n, "now_": at} for sid, (n, at) in joined.items()],
        Story,
        list(joined),
    )


def story_members(session: Session, since: datetime) -> list[StoryMember]:
    """Every item published since `since` that belongs to a story, oldest first."""
    rows = session.execute(
        select(
            ItemRow.story_id,
            ItemRow.feed_id,
            ItemRow.published_at,
            ItemRow.title,
            ItemRow.summary,
            ItemRow.lang,
        )
        .where(ItemRow.story_id.is_not(None), ItemRow.published_at >= since)
        .order_by(ItemRow.published_at, ItemRow.id)
    )
    return [
        StoryMember(story_id, feed_id, published_at, title, summary, lang)
        for story_id, feed_id, published_at, title, summary, lang in rows
        if story_id is not None
    ]


#: the largest row id SQLite and Postgres store; binding a larger one raises OverflowError
MAX_ROW_ID = 2**63 - 1


def row_id(text: str) -> int | None:
    """`text` as a row id: None when it is not ASCII digits, 0 (no row) when it is too large."""
    if not (text.isascii() and text.isdigit()):
        return None
    # the length test first: int() of thousands of digits is slow, then refused
    value = int(text) if len(text) <= 19 else 0
    return value if value <= MAX_ROW_ID else 0


def get_item(session: Session, item_id: int) -> StoredItem | None:
    if not 0 < item_id <= MAX_ROW_ID:
        return None
    row = session.execute(
        select(ItemRow, Feed.name, Feed.title, Feed.url)
        .join(Feed, Feed.id == ItemRow.feed_id)
        .where(ItemRow.id == item_id)
    ).first()
    if row is None:
        return None
    item, name, title, url = row
    topics = tuple(session.scalars(select(MatchRow.topic).where(MatchRow.item_id == item_id)))
    return StoredItem(
        id=item.id,
        feed_id=item.feed_id,
        feed=name or title or url,
        title=item.title,
        link=item.link,
        summary=item.summary,
        lang=item.lang,
        published_at=item.published_at,
        topics=topics,
    )


def explanations(session: Session, item_id: int) -> list[dict[str, Any]]:
    """The stored explanation of every topic an item matched, best score first."""
    if not 0 < item_id <= MAX_ROW_ID:
        return []
    rows = session.scalars(
        select(MatchRow).where(MatchRow.item_id == item_id).order_by(MatchRow.score.desc())
    )
    return [row.explanation for row in rows]
