"""Daily digests: the stories since a channel's last digest, grouped by topic.

    period = digest_period(now, channel zone, digest_at)       # pure, bot/notify/timing.py
    if period and no digest row for (channel, period):          # UNIQUE(channel_id, period)
        insert the digest row + one outbox row, in ONE transaction

So each channel gets exactly one digest per local day, also across restarts,
and a digest missed while the bot was down is sent once when it comes back.

A story is the set of items clustered together (items without a story stand
alone). Within a topic, stories rank by number of sources, then best score,
then recency; the top N are listed with their sources and the rest counted.
Alerts and follow-ups held by quiet hours or a mute under the "digest" policy
(status `held`, see bot.notify.sender) are folded into the digest: their items
are in it, so they are marked `folded` instead of being sent one by one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.notify.timing import digest_period, period_start
from bot.store import outbox
from bot.store.db import insert_ignoring_conflicts
from bot.store.schema import Channel, Digest, Feed, ItemRow, MatchRow, Subscription

#: stories listed per topic before "and K more"
TOP_N = 5
#: the first digest of a new channel covers this much
FIRST_DIGEST_SPAN = timedelta(days=1)


@dataclass
class StoryLine:
    """One story in a digest: its best item and every outlet that reported it."""

    title: str
    link: str | None
    published_at: datetime
    score: float
    sources: list[str] = field(default_factory=list)

    def rank(self) -> tuple[int, float, datetime]:
        return (len(self.sources), self.score, self.published_at)


def followed_topics(session: Session, channel_id: str) -> set[str] | None:
    """The channel's topics; None means every topic."""
    topics = set(
        session.scalars(select(Subscription.topic).where(Subscription.channel_id == channel_id))
    )
    return None if "*" in topics else topics


def collect_stories(
    session: Session, topics: set[str] | None, since: datetime, until: datetime
) -> dict[str, list[StoryLine]]:
    """Topic → stories matched in (since, until], each story under its best-scoring topic."""
    query = (
        select(
            MatchRow.topic,
            MatchRow.score,
            ItemRow.id,
            ItemRow.story_id,
            ItemRow.title,
            ItemRow.link,
            ItemRow.published_at,
            func.coalesce(Feed.name, Feed.title, Feed.url).label("source"),
        )
        .join(ItemRow, ItemRow.id == MatchRow.item_id)
        .join(Feed, Feed.id == ItemRow.feed_id)
        .where(MatchRow.matched_at > since, MatchRow.matched_at <= until)
        .order_by(ItemRow.published_at)
    )
    if topics is not None:
        query = query.where(MatchRow.topic.in_(sorted(topics)))
    best_topic: dict[tuple[str, int], tuple[float, str]] = {}
    stories: dict[tuple[str, int], StoryLine] = {}
    for row in session.execute(query):
        key = ("story", row.story_id) if row.story_id is not None else ("item", row.id)
        line = stories.get(key)
        if line is None:
            stories[key] = StoryLine(row.title, row.link, row.published_at, row.score, [row.source])
        else:
            if row.source not in line.sources:
                line.sources.append(row.source)
            line.score = max(line.score, row.score)
        if row.score > best_topic.get(key, (-1.0, ""))[0]:
            best_topic[key] = (row.score, row.topic)
    grouped: dict[str, list[StoryLine]] = defaultdict(list)
    for story_key, line in stories.items():
        grouped[best_topic[story_key][1]].append(line)
    for lines in grouped.values():
        lines.sort(key=StoryLine.rank, reverse=True)
    return dict(sorted(grouped.items()))


#: what an item without a title is called, as alerts call it
UNTITLED = "(untitled)"


def digest_payload(
    grouped: dict[str, list[StoryLine]], *, title: str, top_n: int = TOP_N
) -> dict[str, Any]:
    """The outbox payload the notifiers render (see bot/notify/render.py)."""
    sections = []
    for topic, lines in grouped.items():
        sections.append(
            {
                "topic": topic,
                "items": [
                    {
                        # every renderer and the --dry-run table show it as alerts do
                        "title": s.title or UNTITLED,
                        "link": s.link,
                        "feed": s.sources[0],
                        "published_at": s.published_at.isoformat(),
                        "sources": len(s.sources),
                        "source_names": s.sources,
                    }
                    for s in lines[:top_n]
                ],
                "more": max(len(lines) - top_n, 0),
            }
        )
    return {"title": title, "sections": sections}


def build_digest(
    session: Session, channel_id: str, *, since: datetime, until: datetime, top_n: int = TOP_N
) -> dict[str, Any]:
    """The digest of one channel for (since, until], not recorded anywhere (`digest --dry-run`)."""
    channel = session.get(Channel, channel_id)
    zone = _zone(channel.timezone if channel else None)
    grouped = collect_stories(session, followed_topics(session, channel_id), since, until)
    day = until.astimezone(zone).strftime("%a %d %b %Y")
    count = sum(len(v) for v in grouped.values())
    title = f"Skywatch digest — {day}: {count} {'story' if count == 1 else 'stories'}"
    return digest_payload(grouped, title=title, top_n=top_n)


def digest_since(channel: Channel, period: str, zone: ZoneInfo) -> datetime:
    start = period_start(period, zone, channel.digest_at)
    return channel.last_digest_at or (start - FIRST_DIGEST_SPAN)


def enqueue_due_digests(session: Session, now: datetime, top_n: int = TOP_N) -> list[str]:
    """Queue the digest of every channel whose local digest time has passed today.

    Returns the channel ids that got one. Idempotent: the unique (channel,
    period) row makes a second call in the same period a no-op.
    """
    queued = []
    channels = session.scalars(select(Channel).where(Channel.paused_reason.is_(None))).all()
    for channel in channels:
        zone = _zone(channel.timezone)
        period = digest_period(now, zone, channel.digest_at)
        if period is None:
            continue
        since = digest_since(channel, period, zone)
        payload = build_digest(session, channel.id, since=since, until=now, top_n=top_n)
        count = sum(len(s["items"]) + s["more"] for s in payload["sections"])
        digest_id = insert_ignoring_conflicts(
            session,
            Digest.__table__,
            {
                "channel_id": channel.id,
                "period": period,
                "created_at": now,
                "item_count": count,
            },
        )
        if digest_id is None:
            continue  # this period's digest exists already
        channel.last_digest_at = now
        fold_held_alerts(session, channel.id, now)
        if count:
            outbox.enqueue(
                session,
                channel_id=channel.id,
                kind="digest",
                dedup_key=f"digest:{channel.id}:{period}",
                payload=payload,
                now=now,
            )
            queued.append(channel.id)
    return queued


def fold_held_alerts(session: Session, channel_id: str, now: datetime) -> int:
    """Alerts held by quiet hours or a mute (policy "digest") are now covered by the digest."""
    return outbox.fold_held(session, channel_id, now)


def _zone(name: str | None) -> ZoneInfo:
    """The channel's zone; UTC for a name this system does not know (never a crash)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def digest_preview_rows(payload: dict[str, Any]) -> Sequence[tuple[str, str, str, str]]:
    """(topic, sources, title, outlets) rows, for `skywatch digest --dry-run` tables."""
    rows = []
    for section in payload["sections"]:
        for entry in section["items"]:
            names = entry.get("source_names") or [entry["feed"]]
            rows.append((section["topic"], str(entry["sources"]), entry["title"], ", ".join(names)))
        if section["more"]:
            rows.append((section["topic"], "", f"… and {section['more']} more", ""))
    return rows
