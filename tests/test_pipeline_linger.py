"""The writer's transactions: what has arrived, plus what arrives within the linger,
up to MIN_BATCH (update._next_batch on a real asyncio queue)."""

from __future__ import annotations

import asyncio

import pytest

from bot import update
from bot.types import FeedForUpdate
from bot.update import _next_batch, _Result


def result(n: int) -> _Result:
    return _Result(FeedForUpdate(id=n, url=f"https://f{n}.example/rss"))


async def later(queue: asyncio.Queue[_Result | None], *items: _Result | None) -> None:
    for item in items:
        await asyncio.sleep(0.01)
        await queue.put(item)


@pytest.fixture
def linger(monkeypatch: pytest.MonkeyPatch) -> None:
    """A linger no test waits out: a test that finishes was not held by it."""
    monkeypatch.setattr(update, "WRITE_LINGER_S", 30.0)
    monkeypatch.setattr(update, "MIN_BATCH", 3)


async def test_late_arrivals_join_until_min_batch(linger: None) -> None:
    queue: asyncio.Queue[_Result | None] = asyncio.Queue()
    await queue.put(result(1))
    producer = asyncio.create_task(later(queue, result(2), result(3), result(4), None))
    batch, done = await asyncio.wait_for(_next_batch(queue), 10)
    assert [r.feed.id for r in batch] == [1, 2, 3] and not done
    assert await asyncio.wait_for(_next_batch(queue), 10) == ([result(4)], True)
    await producer


async def test_the_end_of_the_poll_ends_the_wait(linger: None) -> None:
    queue: asyncio.Queue[_Result | None] = asyncio.Queue()
    await queue.put(result(1))
    producer = asyncio.create_task(later(queue, None))
    assert await asyncio.wait_for(_next_batch(queue), 10) == ([result(1)], True)
    await producer


async def test_what_waits_already_is_taken_up_to_write_batch(
    linger: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(update, "WRITE_BATCH", 4)
    queue: asyncio.Queue[_Result | None] = asyncio.Queue()
    for n in range(6):
        await queue.put(result(n))
    batch, done = await asyncio.wait_for(_next_batch(queue), 10)
    assert [r.feed.id for r in batch] == [0, 1, 2, 3] and not done


async def test_without_a_linger_a_lone_result_is_written_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(update, "WRITE_LINGER_S", 0.0)
    queue: asyncio.Queue[_Result | None] = asyncio.Queue()
    await queue.put(result(1))
    producer = asyncio.create_task(later(queue, result(2)))
    assert await _next_batch(queue) == ([result(1)], False)
    await producer
