"""What command results look like: pure functions from stored data to a `Reply`.

The command core (bot/chat/commands.py) parses, checks and reads or writes
the store; these turn what it found into lines and tables, with no I/O, so
they can be read (and tested) on their own. Escaping happens later, when a
reply is rendered for its platform (bot/chat/replies.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.chat.replies import Line, Reply, Span, Table, line
from bot.config import format_duration
from bot.match.spec import TopicSpec
from bot.store.channels import ALL_TOPICS
from bot.store.feeds import POLLED, FeedHealth
from bot.store.items import StoredItem
from bot.store.subscriptions import ChannelState

#: failing feeds listed by `status`
STATUS_FAILING_ROWS = 15


def search_reply(
    items: Sequence[StoredItem], shown: str, zone: ZoneInfo, note: str | None = None
) -> Reply:
    """Search results: a linked title, then outlet, local time, language and item id."""
    notes = [line(note)] if note else []
    if not items:
        return Reply((line(f"No stored item matches {shown}."), *notes))
    count = len(items)
    lines: list[Line] = [
        line(
            f"The {count} newest item{'s' if count != 1 else ''} matching ", Span(shown, bold=True)
        )
    ]
    for item in items:
        lines.append(line("• ", Span(item.title or "(untitled)", link=item.link, bold=True)))
        when = item.published_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        meta = " · ".join(p for p in (item.feed, when, item.lang or "", f"#{item.id}") if p)
        lines.append(line("   " + meta))
    return Reply((*lines, *notes))


def following(follows: frozenset[str]) -> str:
    if ALL_TOPICS in follows:
        return "This channel follows every topic."
    if not follows:
        return "This channel follows no topic."
    return "This channel follows: " + ", ".join(sorted(follows)) + "."


def topics_reply(topics: Mapping[str, TopicSpec], follows: frozenset[str]) -> Reply:
    """Every topic, a ✓ on those the channel follows."""
    if not topics:
        return Reply.text("No topics are configured (feeds.yaml, topics:).")
    everything = ALL_TOPICS in follows
    lines: list[Line] = [line(following(follows))]
    for name, spec in sorted(topics.items()):
        mark = "✓ " if everything or name in follows else "· "
        desc = f" — {spec.description}" if spec.description else ""
        lines.append(line(mark, Span(name, code=True), desc))
    return Reply(tuple(lines))


def why_reply(item: StoredItem, explanations: Sequence[Mapping[str, Any]]) -> Reply:
    """The stored explanation of each topic an item matched: score, then term and field."""
    lines: list[Line] = [line(Span(item.title or "(untitled)", link=item.link, bold=True))]
    lines.append(line(f"{item.feed} · #{item.id}"))
    if not explanations:
        lines.append(line("It matched no topic (it is stored and searchable)."))
    for ex in explanations:
        lines.append(
            line(Span(str(ex.get("topic", "?")), bold=True), f" score {ex.get('score', 0)}")
        )
        for hit in ex.get("hits") or []:
            term = Span(str(hit.get("term")), code=True)
            lines.append(line(f"   {hit.get('concept')}: ", term, f" in the {hit.get('field')}"))
        if ex.get("snippet"):
            lines.append(line(f"   “{ex['snippet']}”"))
    return Reply(tuple(lines))


def feeds_reply(health: Sequence[FeedHealth], now: datetime) -> Reply:
    """Feed health as a table."""
    if not health:
        return Reply.text("No feeds yet. An admin can add one: feeds add URL")
    rows = tuple(
        (
            str(f.id),
            f.name or f.url,
            f.status,
            str(f.item_count),
            ago(f.last_success_at, now),
            str(f.consecutive_errors) if f.consecutive_errors else "",
        )
        for f in health
    )
    table = Table(("id", "feed", "status", "items", "last ok", "errors"), rows)
    return Reply((line(f"{len(rows)} feeds"), table))


def status_reply(
    health: Sequence[FeedHealth],
    queue: Mapping[str, int],
    channel: ChannelState | None,
    now: datetime,
) -> Reply:
    """Last poll, queue depth, failing feeds, and this channel's settings."""
    last = max((f.last_success_at for f in health if f.last_success_at), default=None)
    waiting = sum(n for s, n in queue.items() if s in ("pending", "sending", "held"))
    failing = [f for f in health if f.consecutive_errors and f.status in POLLED]
    polled = sum(f.status in POLLED for f in health)
    body: list[Line | Table] = [
        line(f"Last successful poll: {ago(last, now)}"),
        line(f"Feeds: {polled} polled, {len(failing)} failing"),
        line(f"Queue: {waiting} deliveries waiting, {queue.get('dead', 0)} given up"),
        line("This channel: " + channel_summary(channel, now)),
    ]
    if failing:
        rows = tuple(
            (str(f.id), f.name or f.url, str(f.consecutive_errors), f.last_error or "")
            for f in failing[:STATUS_FAILING_ROWS]
        )
        body.append(Table(("id", "feed", "errors", "last error"), rows))
    return Reply(tuple(body))


def channel_summary(state: ChannelState | None, now: datetime) -> str:
    if state is None:
        return "not set up yet (follow a topic to start)"
    parts = [following(state.follows).removeprefix("This channel ").rstrip(".")]
    if state.muted_until and state.muted_until > now:
        parts.append(f"muted until {state.muted_until:%Y-%m-%d %H:%M} UTC")
    if state.quiet:
        parts.append(f"quiet {state.quiet} ({state.timezone})")
    if state.paused_reason:
        parts.append(f"paused: {state.paused_reason}")
    return "; ".join(parts)


def ago(when: datetime | None, now: datetime) -> str:
    """`5m ago`, `2h5m ago` (seconds dropped past an hour), or `never`."""
    if when is None:
        return "never"
    seconds = max(0, int((now - when).total_seconds()))
    if seconds >= 3600:
        seconds -= seconds % 60
    return format_duration(timedelta(seconds=seconds)) + " ago"
