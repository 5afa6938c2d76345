"""Channels and their subscriptions in the store.

Channels come from two places, told apart by `Channel.origin`:

* `config`: listed in feeds.yaml, synced in at start-up (`sync_channels`).
  The file's `follows` is applied to the subscriptions only when it differs
  from the one applied last time (`Channel.config_follows`): on the first
  sync, or after the file was edited. So a chat `follow`/`unfollow` survives
  restarts, and editing the file still wins. Quiet hours work the same way
  (`Channel.config_quiet`), so a chat `quiet` survives restarts too. The mode,
  time zone, digest time and admin role come from the file at every sync. A channel
  removed from the file keeps its subscriptions and loses only the admin role.
* `chat`: first seen through a chat command (bot.store.subscriptions); sync
  never touches its subscriptions.

The runtime state the bot learns on its own is kept across restarts and
config edits:

* `paused_reason`/`paused_at`: a permanent delivery failure (channel gone, bot
  removed). Nothing is delivered to a paused channel and nothing is dropped:
  its outbox rows stay pending until `resume_channel`.
* `muted_until` and `quiet` hours (chat commands set them): alerts wait
  until the window ends (`delivery_window`; applied by bot.notify.sender).
* a Telegram group that became a supergroup is followed by `rename_channel`;
  primary-key updates cascade to the outbox and subscriptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.config import ChannelSpec
from bot.store.schema import Channel, Digest, OutboxRow, Subscription

#: the subscription topic that follows every topic (`follows: []` in feeds.yaml)
ALL_TOPICS = "*"
#: `Channel.origin`: listed in feeds.yaml, or first seen through a chat command
ORIGIN_CONFIG = "config"
ORIGIN_CHAT = "chat"


def sync_channels(session: Session, channels: Sequence[ChannelSpec], now: datetime) -> None:
    """Upsert the configured channels; apply each one's `follows` when the file changed it.

    A channel listed in the file becomes (or stays) a `config` channel, also
    one first made from chat. Channels the file does not list keep their
    subscriptions; only the admin role, which comes from the file alone, is
    taken from them, and a re-listed one gets the file's `follows` again.
    """
    stored = {c.id: c for c in session.scalars(select(Channel))}
    wanted = {spec.id for spec in channels}
    for spec in channels:
        row = stored.get(spec.id)
        if row is None:
            row = Channel(id=spec.id, platform=spec.platform)
            session.add(row)
        row.platform, row.mode, row.timezone = spec.platform, spec.mode, spec.timezone
        row.digest_at, row.is_admin = spec.digest_at, spec.admin
        if row.config_quiet is None or row.config_quiet != (spec.quiet or ""):
            # First sync, or feeds.yaml was edited: the file wins over a chat `quiet`.
            row.quiet, row.config_quiet = spec.quiet, spec.quiet or ""
        row.origin = ORIGIN_CONFIG
        follows = sorted(set(spec.follows))
        if row.config_follows is None or sorted(row.config_follows) != follows:
            # First sync, or feeds.yaml was edited: the file wins over chat changes.
            session.flush()
            _set_subscriptions(session, spec.id, follows or [ALL_TOPICS])
            row.config_follows = follows
    for channel_id, row in stored.items():
        if channel_id not in wanted:
            row.is_admin = False
            if row.origin == ORIGIN_CONFIG:
                row.config_follows = row.config_quiet = None


def _set_subscriptions(session: Session, channel_id: str, topics: Iterable[str]) -> None:
    wanted = set(topics)
    have = set(
        session.scalars(select(Subscription.topic).where(Subscription.channel_id == channel_id))
    )
    if stale := have - wanted:
        session.execute(
            delete(Subscription).where(
                Subscription.channel_id == channel_id, Subscription.topic.in_(stale)
            )
        )
    session.add_all(Subscription(channel_id=channel_id, topic=t) for t in sorted(wanted - have))


@dataclass(frozen=True, slots=True)
class Followers:
    """Which unpaused instant channels follow which topics: read once, asked many times
    (the poll's writer reads it once per transaction, not once per set of topics)."""

    by_topic: Mapping[str, frozenset[str]]

    def channels_for(self, topics: Iterable[str]) -> list[str]:
        """Ids of the channels following any of `topics` (or every topic), sorted."""
        found = set(self.by_topic.get(ALL_TOPICS, ()))
        for topic in topics:
            found.update(self.by_topic.get(topic, ()))
        return sorted(found)


#: built once: the poll's writer runs it for every write transaction
_INSTANT_FOLLOWS = (
    select(Subscription.topic, Channel.id)
    .join(Channel, Subscription.channel_id == Channel.id)
    .where(Channel.mode == "instant", Channel.paused_reason.is_(None))
)


def instant_followers(session: Session) -> Followers:
    """Every topic's unpaused instant followers, in one query."""
    by_topic: dict[str, set[str]] = {}
    for topic, channel_id in session.execute(_INSTANT_FOLLOWS):
        by_topic.setdefault(topic, set()).add(channel_id)
    return Followers({topic: frozenset(ids) for topic, ids in by_topic.items()})


def channels_for_topics(session: Session, topics: Iterable[str]) -> list[str]:
    """Ids of unpaused instant channels following any of `topics` (or every topic)."""
    return instant_followers(session).channels_for(topics)


def admin_channel_ids(session: Session, *, exclude: str | None = None) -> list[str]:
    """Channels that receive operational reports; unpaused ones only (a report there would wait)."""
    query = select(Channel.id).where(Channel.is_admin.is_(True), Channel.paused_reason.is_(None))
    if exclude is not None:
        query = query.where(Channel.id != exclude)
    return list(session.scalars(query.order_by(Channel.id)))


def pause_channel(session: Session, channel_id: str, reason: str, now: datetime) -> bool:
    """Stop delivering to a channel; True when it was running (so report it once)."""
    result = session.execute(
        update(Channel)
        .where(Channel.id == channel_id, Channel.paused_reason.is_(None))
        .values(paused_reason=reason[:1000] or "paused", paused_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def resume_channel(session: Session, channel_id: str, now: datetime) -> bool:
    """Deliver to a paused channel again; its kept rows become due now. True if it was paused."""
    result = session.execute(
        update(Channel)
        .where(Channel.id == channel_id, Channel.paused_reason.is_not(None))
        .values(paused_reason=None, paused_at=None)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.channel_id == channel_id, OutboxRow.status == "pending")
        .values(due_at=now)
    )
    return True


def rename_channel(session: Session, old_id: str, new_id: str) -> None:
    """Follow a channel to its new id (Telegram group → supergroup), keeping its rows.

    When the new id is configured too (or was renamed before, then the old id
    came back from feeds.yaml at a restart), the two are merged into the new one.
    """
    if old_id == new_id or session.get(Channel, old_id) is None:
        return
    if session.get(Channel, new_id) is None:
        # ON UPDATE CASCADE carries the outbox, subscriptions and digests along.
        session.execute(update(Channel).where(Channel.id == old_id).values(id=new_id))
        session.expire_all()
        return
    session.execute(
        update(OutboxRow).where(OutboxRow.channel_id == old_id).values(channel_id=new_id)
    )
    # Digest periods are unique per channel; the new id's own history wins.
    session.execute(delete(Digest).where(Digest.channel_id == old_id))
    topics = set(
        session.scalars(select(Subscription.topic).where(Subscription.channel_id == old_id))
    )
    _set_subscriptions(
        session,
        new_id,
        topics
        | set(session.scalars(select(Subscription.topic).where(Subscription.channel_id == new_id))),
    )
    session.execute(delete(Subscription).where(Subscription.channel_id == old_id))
    session.execute(delete(Channel).where(Channel.id == old_id))
    session.expire_all()


def is_paused(session: Session, channel_id: str) -> bool:
    reason = session.scalar(select(Channel.paused_reason).where(Channel.id == channel_id))
    return reason is not None


@dataclass(frozen=True, slots=True)
class DeliveryWindow:
    """What decides whether a channel may be pinged now."""

    timezone: str
    quiet: str | None
    muted_until: datetime | None


def delivery_window(session: Session, channel_id: str) -> DeliveryWindow | None:
    row = session.get(Channel, channel_id)
    if row is None:
        return None
    return DeliveryWindow(row.timezone or "UTC", row.quiet, row.muted_until)
