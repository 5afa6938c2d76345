"""Fixtures for fetch tests: the hostile loopback server and fetchers with small, fast limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.feeds.fetch import Fetcher
from tests.feeds.servers import HostileFeedServer

#: small limits keep the hostile routes fast: a trickle is cut after 1 s, a bomb after 256 KiB
TEST_TIMEOUT_S = 1.0
TEST_MAX_BYTES = 256 * 1024

FetcherFactory = Callable[..., Fetcher]


@pytest.fixture
async def feed_server() -> AsyncIterator[HostileFeedServer]:
    """The hostile feed server on 127.0.0.1, addressed as http://localhost:<port>/."""
    async with HostileFeedServer(trickle_interval=0.2) as server:
        yield server


@pytest.fixture
def make_fetcher() -> FetcherFactory:
    """A Fetcher with test limits that may reach `localhost` (only); keywords override."""

    def make(**overrides: Any) -> Fetcher:
        options: dict[str, Any] = {
            "timeout_s": TEST_TIMEOUT_S,
            "max_bytes": TEST_MAX_BYTES,
            "allow_private_hosts": ("localhost",),
        }
        options.update(overrides)
        return Fetcher(**options)

    return make


@pytest.fixture
async def fetcher(make_fetcher: FetcherFactory) -> AsyncIterator[Fetcher]:
    async with make_fetcher() as opened:
        yield opened
