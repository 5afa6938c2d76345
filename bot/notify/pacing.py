"""Pacing: keep outgoing messages below the chat platforms' rate limits.

Slack allows about one message per second per channel
(https://docs.slack.dev/apis/web-api/rate-limits); Telegram about 20 messages
per minute in one group and 30 per second overall
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
Staying below them is cheaper than being told off with a 429, which pauses the
whole channel (see bot.notify.sender).

A `SlidingWindow` admits at most `limit` events in any `period` seconds; a
`Pacer` combines one window per channel with an optional global one. The clock
and the sleep are injected, so tests run on a fake clock without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class SlidingWindow:
    """At most `limit` acquisitions in any window of `period` seconds."""

    def __init__(
        self,
        limit: int,
        period: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("a window needs limit >= 1 and period > 0")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._times: deque[float] = deque()
        # One waiter at a time, so concurrent senders are admitted in arrival order.
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until one more event would be admitted (0 when it would be now)."""
        now = self._clock()
        while self._times and self._times[0] <= now - self.period:
            self._times.popleft()
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.period - now

    async def acquire(self) -> None:
        """Wait until the window admits one more event, then record it."""
        async with self._lock:
            while (wait := self.delay()) > 0:
                await self._sleep(wait)
            self._times.append(self._clock())


class Pacer:
    """A window per key (channel) plus an optional window shared by all keys."""

    def __init__(
        self,
        per_key: tuple[int, float],
        overall: tuple[int, float] | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._per_key = per_key
        self._clock = clock
        self._sleep = sleep
        self._windows: dict[str, SlidingWindow] = {}
        self._overall = (
            SlidingWindow(*overall, clock=clock, sleep=sleep) if overall is not None else None
        )

    @classmethod
    def slack(cls, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> Pacer:
        """About one message per second per channel."""
        return cls((1, 1.0), clock=clock, sleep=sleep)

    @classmethod
    def telegram(cls, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> Pacer:
        """20 per minute per chat, 30 per second overall."""
        return cls((20, 60.0), (30, 1.0), clock=clock, sleep=sleep)

    @classmethod
    def unlimited(cls) -> Pacer:
        """No pacing (the console, tests that are not about pacing)."""
        return _Unlimited()

    async def wait(self, key: str) -> None:
        """Wait until one more message to `key` keeps every window within its limit."""
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = SlidingWindow(
                *self._per_key, clock=self._clock, sleep=self._sleep
            )
        # The per-key window first: a busy channel must not hold global slots while it waits.
        await window.acquire()
        if self._overall is not None:
            await self._overall.acquire()


class _Unlimited(Pacer):
    def __init__(self) -> None:
        super().__init__((1, 1.0))

    async def wait(self, key: str) -> None:
        return None
