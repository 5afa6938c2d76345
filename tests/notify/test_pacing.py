"""The send pacer on a fake clock: no real waiting, exact schedules."""

from __future__ import annotations

import asyncio

import pytest

from bot.notify.pacing import Pacer, SlidingWindow


class FakeClock:
    """A monotonic clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


async def stamps(clock: FakeClock, pacer: Pacer, keys: list[str]) -> list[tuple[str, float]]:
    out = []
    for key in keys:
        await pacer.wait(key)
        out.append((key, round(clock.t - 1000.0, 6)))
    return out


async def test_slack_paces_one_message_per_second_per_channel() -> None:
    clock = FakeClock()
    pacer = Pacer.slack(clock=clock, sleep=clock.sleep)
    got = await stamps(clock, pacer, ["C1", "C1", "C2", "C1"])
    # C2 is not held back by C1's window.
    assert got == [("C1", 0.0), ("C1", 1.0), ("C2", 1.0), ("C1", 2.0)]


async def test_telegram_allows_20_per_minute_per_chat() -> None:
    clock = FakeClock()
    pacer = Pacer.telegram(clock=clock, sleep=clock.sleep)
    got = await stamps(clock, pacer, ["-1"] * 21)
    assert [t for _, t in got[:20]] == [0.0] * 20
    assert got[20] == ("-1", 60.0)


async def test_telegram_allows_30_per_second_overall() -> None:
    clock = FakeClock()
    pacer = Pacer.telegram(clock=clock, sleep=clock.sleep)
    got = await stamps(clock, pacer, [str(-i) for i in range(31)])
    assert [t for _, t in got[:30]] == [0.0] * 30
    assert got[30][1] == 1.0


async def test_window_slides_instead_of_resetting() -> None:
    clock = FakeClock()
    window = SlidingWindow(2, 10.0, clock=clock, sleep=clock.sleep)
    await window.acquire()
    clock.t += 6
    await window.acquire()
    assert window.delay() == pytest.approx(4.0)  # the first event leaves the window at 10 s
    await window.acquire()
    assert clock.t - 1000.0 == pytest.approx(10.0)
    assert window.delay() == pytest.approx(6.0)


async def test_concurrent_waiters_are_admitted_in_turn() -> None:
    clock = FakeClock()
    pacer = Pacer.slack(clock=clock, sleep=clock.sleep)
    times: list[float] = []

    async def one() -> None:
        await pacer.wait("C1")
        times.append(clock.t - 1000.0)

    await asyncio.gather(*(one() for _ in range(4)))
    assert times == [0.0, 1.0, 2.0, 3.0]


def test_window_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError, match="limit"):
        SlidingWindow(0, 1.0)
