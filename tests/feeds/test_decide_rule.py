"""decide_items (its alert cut-offs computed once per feed) against the rule written plainly:
the first item of each key, `should_alert`'s documented rule per new item, updates for
changed hashes."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from bot.feeds.decide import decide_items, should_alert
from bot.types import Item

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _reference(
    items: Sequence[Item],
    known: Mapping[str, str],
    *,
    feed_added_at: datetime | None,
    backlog_age: timedelta,
    first_poll: bool,
) -> list[tuple[Item, str, bool]]:
    out: list[tuple[Item, str, bool]] = []
    seen: set[str] = set()
    for item in items:
        if item.key in seen:
            continue
        seen.add(item.key)
        if item.key not in known:
            published = item.published_at
            alert = published > NOW - backlog_age and (  # as should_alert's docstring has it
                not first_poll
                or (
                    feed_added_at is not None
                    and published > feed_added_at - backlog_age
                    and published < NOW
                )
            )
            out.append((item, "insert", alert))
        elif known[item.key] != item.content_hash:
            out.append((item, "update", False))
    return out


def test_actions_follow_the_rule_on_varied_feeds() -> None:
    rng = random.Random(11)
    hour = timedelta(hours=1)
    # times on and around every boundary of the rule: now, now - backlog, added - backlog
    offsets = [timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1), hour]
    for _ in range(400):
        backlog_age = rng.choice([hour, 24 * hour, 72 * hour])
        feed_added_at = rng.choice([None, NOW, NOW - 12 * hour, NOW - 200 * hour, NOW + hour])
        anchors = [NOW, NOW - backlog_age, NOW + 3 * hour]
        if feed_added_at is not None:
            anchors.append(feed_added_at - backlog_age)
        items = [
            Item(
                key=f"k{rng.randrange(15)}",
                title="t",
                link=None,
                summary="",
                published_at=rng.choice(anchors) + rng.choice(offsets) * rng.choice([1, -1]),
                content_hash=f"h{rng.randrange(2)}",
            )
            for _ in range(rng.randrange(25))
        ]
        known = {f"k{k}": f"h{rng.randrange(2)}" for k in rng.sample(range(15), rng.randrange(8))}
        args = {
            "feed_added_at": feed_added_at,
            "backlog_age": backlog_age,
            "first_poll": rng.random() < 0.5,
        }
        expected = _reference(items, known, **args)  # type: ignore[arg-type]
        intents = decide_items(items, known, now=NOW, **args)  # type: ignore[arg-type]
        assert [(id(i.item), i.action, i.alert) for i in intents] == [
            (id(i), a, al) for i, a, al in expected
        ]
        for item, action, alert in expected:
            if action == "insert":
                assert should_alert(item, now=NOW, **args) == alert  # type: ignore[arg-type]
