"""The dedup stage as a table: items + stored keys -> intents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.feeds.decide import decide_items
from bot.types import Item

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def item(key: str, *, age: timedelta = timedelta(hours=1), content: str = "v1") -> Item:
    return Item(
        key=key,
        title=f"title {key}",
        link=f"https://news.example.org/{key}",
        summary="",
        published_at=NOW - age,
        content_hash=f"hash-{key}-{content}",
    )


@dataclass(frozen=True)
class Case:
    items: Sequence[Item]
    known: Mapping[str, str] = field(default_factory=dict)
    first_poll: bool = False
    feed_added_at: datetime | None = NOW - 30 * DAY
    backlog_age: timedelta = DAY
    #: (key, action, alert) per intent, in order
    expected: list[tuple[str, str, bool]] = field(default_factory=list)


CASES = {
    "new fresh item alerts": Case(items=[item("a")], expected=[("a", "insert", True)]),
    "new old item is stored quietly": Case(
        items=[item("a", age=2 * DAY)], expected=[("a", "insert", False)]
    ),
    "exactly backlog_age old is quiet": Case(
        items=[item("a", age=DAY)], expected=[("a", "insert", False)]
    ),
    "known unchanged: nothing": Case(items=[item("a")], known={"a": "hash-a-v1"}, expected=[]),
    "known retitled: quiet update": Case(
        items=[item("a", content="v2")],
        known={"a": "hash-a-v1"},
        expected=[("a", "update", False)],
    ),
    "known with a new date: nothing": Case(
        items=[item("a", age=timedelta(minutes=1))], known={"a": "hash-a-v1"}, expected=[]
    ),
    "reordered feed: only the new key": Case(
        items=[item("b"), item("a"), item("c")],
        known={"a": "hash-a-v1", "b": "hash-b-v1"},
        expected=[("c", "insert", True)],
    ),
    "same key twice in a document: once": Case(
        items=[item("a"), item("a", content="v2"), item("b")],
        expected=[("a", "insert", True), ("b", "insert", True)],
    ),
    "same known key twice with an edit: one update": Case(
        items=[item("a", content="v2"), item("a", content="v3")],
        known={"a": "hash-a-v1"},
        expected=[("a", "update", False)],
    ),
    "first poll: backlog stays quiet": Case(
        items=[item("a", age=3 * DAY), item("b", age=2 * DAY)],
        first_poll=True,
        feed_added_at=NOW,
        expected=[("a", "insert", False), ("b", "insert", False)],
    ),
    "first poll: fresh items alert": Case(
        items=[item("a", age=timedelta(hours=2))],
        first_poll=True,
        feed_added_at=NOW - timedelta(minutes=5),
        expected=[("a", "insert", True)],
    ),
    "first poll long after the add: news since the add alerts": Case(
        items=[item("a", age=timedelta(hours=2)), item("b", age=2 * DAY)],
        first_poll=True,
        feed_added_at=NOW - 3 * DAY,
        expected=[("a", "insert", True), ("b", "insert", False)],
    ),
    "first poll, clock skew: not before the add minus backlog": Case(
        items=[item("a", age=timedelta(hours=2))],
        first_poll=True,
        feed_added_at=NOW + DAY,
        expected=[("a", "insert", False)],
    ),
    "first poll without an added time: quiet": Case(
        items=[item("a")], first_poll=True, feed_added_at=None, expected=[("a", "insert", False)]
    ),
    "first poll, dateless item (stamped now): quiet": Case(
        items=[item("a", age=timedelta(0))],
        first_poll=True,
        feed_added_at=NOW,
        expected=[("a", "insert", False)],
    ),
    "later poll, dateless item (stamped now): alerts": Case(
        items=[item("a", age=timedelta(0))], expected=[("a", "insert", True)]
    ),
    "longer backlog lets older items alert": Case(
        items=[item("a", age=2 * DAY)], backlog_age=3 * DAY, expected=[("a", "insert", True)]
    ),
    "empty document": Case(items=[], known={"a": "hash-a-v1"}, expected=[]),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_decide(case: Case) -> None:
    intents = decide_items(
        case.items,
        case.known,
        now=NOW,
        feed_added_at=case.feed_added_at,
        backlog_age=case.backlog_age,
        first_poll=case.first_poll,
    )
    assert [(i.item.key, i.action, i.alert) for i in intents] == case.expected


def test_intent_carries_the_first_occurrence() -> None:
    first, second = item("a"), replace(item("a"), title="later duplicate")
    (intent,) = decide_items(
        [first, second], {}, now=NOW, feed_added_at=None, backlog_age=DAY, first_poll=False
    )
    assert intent.item is first


def test_polling_the_same_document_twice_alerts_once() -> None:
    document = [item("a"), item("b"), item("c", age=5 * DAY)]
    known: dict[str, str] = {}
    alerts = 0
    for _ in range(2):
        intents = decide_items(
            document, known, now=NOW, feed_added_at=None, backlog_age=DAY, first_poll=False
        )
        alerts += sum(i.alert for i in intents)
        known.update({i.item.key: i.item.content_hash for i in intents})
    assert alerts == 2
