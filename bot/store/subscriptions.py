"""What a channel follows and its chat-set delivery settings (mute, quiet hours).

Chat commands change these at run time. A channel the bot first hears of in a
command (a Slack channel it was invited to, a Telegram group) gets a row with
default settings on its first change, scoped to its workspace, with origin
`chat` (bot.store.channels: a restart never resets its subscriptions).

Subscriptions and `*` (every topic, `ALL_TOPICS`):

* `follow *` follows every topic, replacing any list;
* `follow T` on a channel following `*` *narrows* it to T alone: asking for one
  topic means "this one", and a no-op would leave no way to narrow from chat;
* `unfollow T` on a channel following `*` turns `*` into the explicit list of
  every other known topic (topics added to feeds.yaml later are then not
  followed; `follow *` restores "everything");
* `unfollow *` follows nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.errors import StoreError
from bot.store.channels import ALL_TOPICS, ORIGIN_CHAT
from bot.store.db import insert_ignoring_conflicts
from bot.store.schema import Channel, Subscription


@dataclass(frozen=True, slots=True)
class FollowChange:
    """A channel's topics before and after a follow or unfollow."""

    before: frozenset[str]
    after: frozenset[str]

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True, slots=True)
class ChannelState:
    """A channel's delivery settings, for `topics` and `status`."""

    id: str
    follows: frozenset[str]
    mode: str
    timezone: str
    quiet: str | None
    muted_until: datetime | None
    paused_reason: str | None


def ensure_channel(
    session: Session, channel_id: str, *, platform: str, workspace: str | None
) -> None:
    """Create the channel row with default settings unless it exists; check its workspace.

    A row without a workspace (configured in feeds.yaml) takes the first one a
    command comes from; a row of another workspace is refused.
    """
    # A new row is a chat channel: sync_channels leaves its subscriptions alone.
    row = {"id": channel_id, "platform": platform, "workspace": workspace, "origin": ORIGIN_CHAT}
    insert_ignoring_conflicts(session, Channel.__table__, row)
    stored = session.scalar(select(Channel.workspace).where(Channel.id == channel_id))
    if workspace is None or stored == workspace:
        return
    if stored is None:
        session.execute(update(Channel).where(Channel.id == channel_id).values(workspace=workspace))
        return
    raise StoreError("this channel belongs to another workspace")


def followed(session: Session, channel_id: str) -> frozenset[str]:
    """The channel's subscriptions as stored (`*` means every topic)."""
    return frozenset(
        session.scalars(select(Subscription.topic).where(Subscription.channel_id == channel_id))
    )


def follow(session: Session, channel_id: str, topic: str) -> FollowChange:
    """Follow `topic` (or `*`); the channel row must exist (see `ensure_channel`)."""
    before = followed(session, channel_id)
    narrow = topic == ALL_TOPICS or ALL_TOPICS in before
    after = frozenset({topic}) if narrow else before | {topic}
    return _replace(session, channel_id, before, after)


def unfollow(session: Session, channel_id: str, topic: str, known: Collection[str]) -> FollowChange:
    """Stop following `topic` (or everything, for `*`); `known` is every configured topic."""
    before = followed(session, channel_id)
    if topic == ALL_TOPICS:
        after: frozenset[str] = frozenset()
    elif ALL_TOPICS in before:
        after = frozenset(known) - {topic}
    else:
        after = before - {topic}
    return _replace(session, channel_id, before, after)


def _replace(
    session: Session, channel_id: str, before: frozenset[str], after: frozenset[str]
) -> FollowChange:
    if stale := before - after:
        session.execute(
            delete(Subscription).where(
                Subscription.channel_id == channel_id, Subscription.topic.in_(stale)
            )
        )
    for topic in sorted(after - before):
        # A concurrent identical follow is harmless: the primary key keeps one row.
        insert_ignoring_conflicts(
            session, Subscription.__table__, {"channel_id": channel_id, "topic": topic}
        )
    return FollowChange(before, after)


def set_muted_until(session: Session, channel_id: str, until: datetime | None) -> None:
    """Hold deliveries until `until` (None: unmute). Held alerts are kept, never dropped."""
    session.execute(update(Channel).where(Channel.id == channel_id).values(muted_until=until))


def set_quiet(session: Session, channel_id: str, quiet: str | None) -> None:
    """Daily quiet hours `HH:MM-HH:MM` in the channel's time zone (None: none)."""
    session.execute(update(Channel).where(Channel.id == channel_id).values(quiet=quiet))


def channel_state(session: Session, channel_id: str) -> ChannelState | None:
    row = session.get(Channel, channel_id)
    if row is None:
        return None
    return ChannelState(
        id=row.id,
        follows=followed(session, channel_id),
        mode=row.mode,
        timezone=row.timezone,
        quiet=row.quiet,
        muted_until=row.muted_until,
        paused_reason=row.paused_reason,
    )
