"""The dedup stage: which normalized items to insert, update or alert. Pure.

Owns the rule that keeps a channel quiet when nothing is new: identity is the
item key (see normalize.py), an edit is a changed content hash, and only new
keys can alert. It reads nothing and writes nothing; update.py turns the
intents into rows in one transaction (STYLE.md, "Pure core").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.types import Item, ItemIntent

__all__ = ["AlertWindow", "decide_items", "should_alert"]


def decide_items(
    items: Sequence[Item],
    known: Mapping[str, str],
    *,
    now: datetime,
    feed_added_at: datetime | None,
    backlog_age: timedelta,
    first_poll: bool,
) -> list[ItemIntent]:
    """Decide what to do with the items of one feed document.

    `known` maps the keys already stored for this feed to their content hash.

    - A key seen twice in one document counts once (the first, usually newest, wins).
    - A new key is inserted; it alerts only when `should_alert` says so.
    - A known key with another content hash is updated, never alerted: a
      retitled or corrected story is not news twice.
    - A known key with the same hash produces nothing, whatever its date or
      position in the feed.
    """
    # should_alert's rule, its cut-off times computed once per feed
    window = AlertWindow.of(
        now=now, feed_added_at=feed_added_at, backlog_age=backlog_age, first_poll=first_poll
    )
    intents: list[ItemIntent] = []
    seen: set[str] = set()
    for item in items:
        key = item.key
        if key in seen:
            continue
        seen.add(key)
        stored_hash = known.get(key)
        if stored_hash is None:
            intents.append(ItemIntent(item, "insert", window.alerts(item.published_at)))
        elif stored_hash != item.content_hash:
            intents.append(ItemIntent(item, "update", False))
    return intents


def should_alert(
    item: Item,
    *,
    now: datetime,
    feed_added_at: datetime | None,
    backlog_age: timedelta,
    first_poll: bool,
) -> bool:
    """Whether a *new* item may alert. The exact rule:

        published_at > now - backlog_age
        and (not first_poll
             or (feed_added_at is not None
                 and published_at > feed_added_at - backlog_age
                 and published_at < now))

    So old items never alert, and adding a feed does not flood a channel
    with its backlog: on the first poll only items published within
    `backlog_age` before the feed was added can alert. Items stamped with
    the fetch time on a first poll (no date, or a date in the future, which
    normalize clamps to `now`) have an unknown age, so they stay quiet too;
    on later polls a dateless new item is news and alerts.
    """
    window = AlertWindow.of(
        now=now, feed_added_at=feed_added_at, backlog_age=backlog_age, first_poll=first_poll
    )
    return window.alerts(item.published_at)


@dataclass(frozen=True, slots=True)
class AlertWindow:
    """`should_alert`'s rule for one feed's poll, its cut-off times computed once."""

    now: datetime
    #: a new item published at or before this never alerts
    oldest: datetime
    first_poll: bool
    #: on a first poll, only items published after this (and before `now`) alert;
    #: None: none does (the feed's added time is unknown)
    backlog_start: datetime | None

    @classmethod
    def of(
        cls,
        *,
        now: datetime,
        feed_added_at: datetime | None,
        backlog_age: timedelta,
        first_poll: bool,
    ) -> AlertWindow:
        start = None if feed_added_at is None else feed_added_at - backlog_age
        return cls(now, now - backlog_age, first_poll, start)

    def alerts(self, published: datetime) -> bool:
        if published <= self.oldest:
            return False
        if not self.first_poll:
            return True
        start = self.backlog_start
        return start is not None and start < published < self.now
