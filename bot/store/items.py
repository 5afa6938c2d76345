"""Items, their matches and the stories they belong to, in the store.

An item is inserted once per `(feed_id, key)`; the unique constraint, not a
prior read, is what guarantees "alerts at most once, ever". A matched item is
also placed in a story (bot/stories.py decides which): `Story` rows count
their items, and `ItemRow.story_id` links the members.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.store.db import insert_ignoring_conflicts
from bot.store.schema import Feed, ItemRow, MatchRow, Story
from bot.types import Item, Match

#: SQLite caps bound parameters per statement; query known keys in chunks
_CHUNK = 500


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
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = session.execute(
            select(ItemRow.key, ItemRow.content_hash).where(
                ItemRow.feed_id == feed_id, ItemRow.key.in_(chunk)
            )
        )
        found.update((key, content_hash) for key, content_hash in rows)
    return found


def insert_item(
    session: Session, feed_id: int, item: Item, *, now: datetime, alerted: bool
) -> int | None:
    """Insert a new item; None when `(feed_id, key)` exists already (a racing writer won)."""
    item_id: int | None = insert_ignoring_conflicts(
        session,
        ItemRow.__table__,
        {
            "feed_id": feed_id,
            "key": item.key[:512],
            "title": item.title,
            "link": item.link,
            "summary": item.summary,
            "lang": item.lang,
            "content_hash": item.content_hash,
            "published_at": item.published_at,
            "first_seen_at": now,
            "alerted": alerted,
        },
    )
    return item_id


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
    for match in matches:
        insert_ignoring_conflicts(
            session,
            MatchRow.__table__,
            {
                "item_id": item_id,
                "topic": match.topic,
                "score": match.score,
                "explanation": match.explanation(),
                "matched_at": now,
            },
        )


@dataclass(frozen=True, slots=True)
class StoryMember:
    """A stored member of a story, with the text clustering compares."""

    story_id: int
    feed_id: int
    published_at: datetime
    title: str
    summary: str
    lang: str | None


def create_story(session: Session, *, now: datetime, signature: str) -> int:
    """A new story of one item; `signature` is the item's full `MinHash.to_str()`."""
    story = Story(created_at=now, updated_at=now, signature=signature[:128], item_count=1)
    session.add(story)
    session.flush()
    return story.id


def join_story(session: Session, story_id: int, *, now: datetime) -> None:
    """One more item reports the story."""
    session.execute(
        update(Story)
        .where(Story.id == story_id)
        .values(item_count=Story.item_count + 1, updated_at=now)
    )


def set_story(session: Session, item_id: int, story_id: int) -> None:
    session.execute(update(ItemRow).where(ItemRow.id == item_id).values(story_id=story_id))


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


def get_item(session: Session, item_id: int) -> StoredItem | None:
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
    rows = session.scalars(
        select(MatchRow).where(MatchRow.item_id == item_id).order_by(MatchRow.score.desc())
    )
    return [row.explanation for row in rows]
