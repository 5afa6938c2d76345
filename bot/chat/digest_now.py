"""`digest` from chat: this channel's digest so far, shown now and recorded nowhere.

It covers what the next scheduled digest will (the stories since the channel's
last digest, or the last day for a channel that never had one), built by
`bot.notify.digest.build_digest`. Nothing is written: the scheduled digest
still comes, and asking twice shows the same stories.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from bot.chat.replies import Line, Reply, Span, line
from bot.notify.digest import FIRST_DIGEST_SPAN, build_digest
from bot.store.db import Database
from bot.store.schema import Channel


def make_digest_now(
    db: Database, clock: Callable[[], datetime]
) -> Callable[[str], Awaitable[Reply]]:
    """The `digest_now` service of `Commands`."""

    async def digest_now(channel_id: str) -> Reply:
        payload = await asyncio.to_thread(_build, db, channel_id, clock())
        return digest_reply(payload)

    return digest_now


def _build(db: Database, channel_id: str, now: datetime) -> dict[str, Any]:
    with db.read() as session:
        channel = session.get(Channel, channel_id)
        since = (channel.last_digest_at if channel else None) or now - FIRST_DIGEST_SPAN
        return build_digest(session, channel_id, since=since, until=now)


def digest_reply(payload: dict[str, Any]) -> Reply:
    """A digest payload (see bot/notify/digest.py) as a reply."""
    sections = payload.get("sections") or []
    if not sections:
        return Reply.text("Nothing for this channel's topics since its last digest.")
    lines: list[Line] = [line(Span(str(payload.get("title") or "Digest"), bold=True))]
    for section in sections:
        lines.append(line(Span(str(section.get("topic") or ""), bold=True)))
        for item in section.get("items") or []:
            sources = int(item.get("sources") or 1)
            extra = f" — {item.get('feed') or ''}" + (
                f" · {sources} sources" if sources > 1 else ""
            )
            lines.append(
                line(
                    "• ", Span(str(item.get("title") or "(untitled)"), link=item.get("link")), extra
                )
            )
        if more := int(section.get("more") or 0):
            lines.append(line(f"…and {more} more"))
    return Reply(tuple(lines))
