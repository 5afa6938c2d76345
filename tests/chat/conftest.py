"""Chat test fixtures: topics, a loopback site, a real Fetcher, the command core on a real DB."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest

from bot.chat.commands import CommandContext, Commands
from bot.chat.feed_add import make_add_feed
from bot.feeds.fetch import Fetcher
from bot.match.spec import TopicSpec
from bot.store.db import Database
from tests.chat.sites import SiteServer

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

TOPICS = {
    "air-defense": TopicSpec.model_validate(
        {
            "description": "Air defense systems",
            "concepts": {"system": ["Patriot", "ППО", "Flugabwehr", "パトリオット"]},
            "any": ["system"],
        }
    ),
    "energy": TopicSpec.model_validate(
        {"description": "Energy prices", "concepts": {"gas": ["gas", "Gas"]}, "any": ["gas"]}
    ),
}


def clock() -> datetime:
    return NOW


def make_ctx(
    channel: str = "slack:C1",
    *,
    admin: bool = False,
    platform: str | None = None,
    workspace: str | None = "T1",
    user: str = "U1",
) -> CommandContext:
    """A context whose admin check answers `admin` and counts how often it was asked."""
    calls: list[str] = []

    async def is_admin() -> bool:
        calls.append(user)
        return admin

    ctx = CommandContext(
        platform=platform or channel.split(":", 1)[0],
        channel_id=channel,
        user_id=user,
        workspace=workspace,
        is_admin=is_admin,
    )
    ctx.admin_checks = calls  # type: ignore[attr-defined]
    return ctx


@pytest.fixture
async def site() -> AsyncIterator[SiteServer]:
    async with SiteServer() as server:
        yield server


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    """The real guarded Fetcher; of private hosts only `localhost` is allowed (the site)."""
    async with Fetcher(timeout_s=10, allow_private_hosts=("localhost",)) as opened:
        yield opened


DigestNow = Callable[[str], Awaitable[object]]


@pytest.fixture
def commands(database: Database, fetcher: Fetcher) -> Commands:
    return Commands(
        db=database,
        topics=TOPICS,
        add_feed=make_add_feed(database, fetcher, clock),
        clock=clock,
    )
