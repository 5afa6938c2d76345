"""next_check_at, cache_max_age and update_rate: tables with a fixed clock and a known rng."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.feeds.schedule import cache_max_age, next_check_at, update_rate

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=2)
MAX = timedelta(hours=6)
INTERVAL = timedelta(minutes=15)


class MidRandom(random.Random):
    """`uniform(a, b)` gives the midpoint: no jitter, and Retry-After's upward jitter is +5 %."""

    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


class EdgeRandom(random.Random):
    """`uniform(a, b)` gives `a` or `b`: the extremes of the jitter."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def delay(rng: random.Random | None = None, **overrides: Any) -> timedelta:
    options: dict[str, Any] = {
        "now": NOW,
        "interval": INTERVAL,
        "min_interval": MIN,
        "max_interval": MAX,
        "rng": rng if rng is not None else MidRandom(),
    }
    options.update(overrides)
    return next_check_at(**options) - NOW


M, H = 60.0, 3600.0

TABLE: dict[str, tuple[dict[str, Any], float]] = {
    "configured interval": ({}, 15 * M),
    "interval below min": ({"interval": timedelta(seconds=30)}, 2 * M),
    "interval above max": ({"interval": timedelta(hours=12)}, 6 * H),
    # update rate: geometric mean of the interval and the gap between items
    "100 items/day keeps about the interval": ({"items_per_day": 96}, 15 * M),
    "24 items/day: 30 min": ({"items_per_day": 24}, 30 * M),
    "1000 items/day: nearer min": ({"items_per_day": 1000}, (900 * 86.4) ** 0.5),
    "10000 items/day: min": ({"items_per_day": 10000}, 2 * M),
    "1 item/day: 2.5 h": ({"items_per_day": 1}, (900 * 86400) ** 0.5),
    "quiet feed: max": ({"items_per_day": 0.01}, 6 * H),
    "no items at all: max": ({"items_per_day": 0}, 6 * H),
    # server hints are lower bounds, within max
    "ttl 60 min": ({"ttl_minutes": 60}, 1 * H),
    "ttl shorter than interval": ({"ttl_minutes": 5}, 15 * M),
    "ttl beyond max": ({"ttl_minutes": 24 * 60}, 6 * H),
    "max-age 1 h": ({"max_age_s": 3600}, 1 * H),
    "max-age 0": ({"max_age_s": 0}, 15 * M),
    "ttl and max-age: the longer": ({"ttl_minutes": 30, "max_age_s": 7200}, 2 * H),
    "ttl beats a busy feed": ({"items_per_day": 10000, "ttl_minutes": 60}, 1 * H),
    # backoff
    "1 error": ({"consecutive_errors": 1}, 30 * M),
    "3 errors": ({"consecutive_errors": 3}, 2 * H),
    "5 errors: capped at max": ({"consecutive_errors": 5}, 6 * H),
    "1000 errors: still max": ({"consecutive_errors": 1000}, 6 * H),
    "errors on a min-rate feed": (
        {"interval": timedelta(minutes=1), "consecutive_errors": 2},
        4 * M,
    ),
    # retry-after: a floor, with +5 % (mid) upward jitter, may pass max, capped at 24 h
    "retry-after 120 s": ({"retry_after_s": 120}, 15 * M),
    "retry-after 1 h": ({"retry_after_s": 3600}, 3600 * 1.05),
    "retry-after 10 h passes max": ({"retry_after_s": 36000}, 36000 * 1.05),
    "retry-after 2 days: 24 h": ({"retry_after_s": 2 * 86400}, 24 * H),
    "retry-after just under 24 h: still capped": ({"retry_after_s": 86000}, 24 * H),
    "retry-after below the backoff": (
        {"retry_after_s": 60, "consecutive_errors": 3},
        2 * H,
    ),
    "retry-after 0": ({"retry_after_s": 0}, 15 * M),
}


@pytest.mark.parametrize(("overrides", "seconds"), TABLE.values(), ids=TABLE.keys())
def test_next_check_at(overrides: dict[str, Any], seconds: float) -> None:
    assert delay(**overrides).total_seconds() == pytest.approx(seconds, rel=0.01)


@pytest.mark.parametrize(
    ("overrides", "low", "high"),
    [
        ({}, 0.9 * 15 * M, 1.1 * 15 * M),
        ({"interval": timedelta(minutes=1)}, 2 * M, 1.1 * 2 * M),  # never below min
        ({"consecutive_errors": 10}, 0.9 * 6 * H, 6 * H),  # never past max
        ({"retry_after_s": 3600}, 3600, 1.1 * 3600),  # never before Retry-After
    ],
    ids=["plain", "at min", "at max", "retry-after"],
)
def test_jitter_extremes_stay_in_bounds(overrides: dict[str, Any], low: float, high: float) -> None:
    smallest = delay(EdgeRandom(high=False), **overrides).total_seconds()
    largest = delay(EdgeRandom(high=True), **overrides).total_seconds()
    assert smallest == pytest.approx(low)
    assert largest == pytest.approx(high)


def test_seeded_jitter_spreads_feeds_within_ten_percent() -> None:
    rng = random.Random(42)
    delays = [delay(rng).total_seconds() for _ in range(200)]

    assert all(810 <= d <= 990 for d in delays)
    assert min(delays) < 840 and max(delays) > 960  # it really spreads
    assert len(set(delays)) == len(delays)


def test_same_seed_same_schedule() -> None:
    first = [delay(random.Random(7), items_per_day=n) for n in (1, 10, 100)]
    again = [delay(random.Random(7), items_per_day=n) for n in (1, 10, 100)]
    assert first == again


def test_default_rng_jitters_within_bounds() -> None:
    got = next_check_at(now=NOW, interval=INTERVAL, min_interval=MIN, max_interval=MAX)
    assert timedelta(seconds=810) <= got - NOW <= timedelta(seconds=990)


def test_keeps_the_timezone_of_now() -> None:
    assert next_check_at(
        now=NOW, interval=INTERVAL, min_interval=MIN, max_interval=MAX, rng=MidRandom()
    ) == datetime(2026, 11, 27, 12, 15, tzinfo=UTC)


def test_min_longer_than_max_is_refused() -> None:
    with pytest.raises(ValueError, match="min_interval"):
        delay(min_interval=timedelta(hours=7))


# -- cache_max_age ---------------------------------------------------------------------

CACHE_CONTROL = {
    "max-age": ({"cache-control": "max-age=300"}, 300.0),
    "with others": ({"cache-control": "public, max-age=60, must-revalidate"}, 60.0),
    "upper case": ({"cache-control": "Public, MAX-AGE=60"}, 60.0),
    "quoted": ({"cache-control": 'max-age="120"'}, 120.0),
    "spaces": ({"cache-control": " max-age = 90 "}, 90.0),
    "zero": ({"cache-control": "max-age=0"}, 0.0),
    "header name in any case": ({"Cache-Control": "max-age=30"}, 30.0),
    "no-cache wins": ({"cache-control": "no-cache, max-age=600"}, None),
    "no-store wins": ({"cache-control": "max-age=600, no-store"}, None),
    "s-maxage is for shared caches": ({"cache-control": "s-maxage=600"}, None),
    "negative": ({"cache-control": "max-age=-5"}, None),
    "not a number": ({"cache-control": "max-age=soon"}, None),
    "fraction": ({"cache-control": "max-age=1.5"}, None),
    "empty": ({"cache-control": ""}, None),
    "absent": ({"etag": '"x"'}, None),
}


@pytest.mark.parametrize(("headers", "expected"), CACHE_CONTROL.values(), ids=CACHE_CONTROL.keys())
def test_cache_max_age(headers: dict[str, str], expected: float | None) -> None:
    assert cache_max_age(headers) == expected


# -- update_rate -----------------------------------------------------------------------

DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("previous", "new_items", "elapsed", "expected"),
    [
        pytest.param(None, 10, DAY, 10.0, id="first observation is taken as is"),
        pytest.param(None, 5, timedelta(hours=12), 10.0, id="first, scaled to a day"),
        pytest.param(10.0, 10, DAY, 10.0, id="steady"),
        pytest.param(10.0, 0, DAY, 10.0 * 0.36788, id="a quiet day: x 1/e"),
        pytest.param(0.0, 20, DAY, 20.0 * 0.63212, id="a busy day after quiet ones"),
        pytest.param(10.0, 0, timedelta(minutes=2), 10.0 * (1 - 0.00139), id="a short quiet poll"),
        pytest.param(10.0, 1, timedelta(minutes=2), 10.0 + 0.00139 * 710, id="one item in 2 min"),
        pytest.param(10.0, 3, timedelta(0), 10.0, id="no time passed"),
        pytest.param(None, 3, timedelta(0), 0.0, id="no time, no history"),
    ],
)
def test_update_rate(
    previous: float | None, new_items: int, elapsed: timedelta, expected: float
) -> None:
    assert update_rate(previous, new_items, elapsed) == pytest.approx(expected, rel=0.01)


def test_update_rate_does_not_depend_on_poll_frequency() -> None:
    """A day of 2-minute polls lands where one daily poll does (same items, same day)."""
    often = 10.0
    for i in range(720):
        often = update_rate(often, 1 if i % 36 == 0 else 0, timedelta(minutes=2))
    daily = update_rate(10.0, 20, DAY)

    assert often == pytest.approx(daily, rel=0.1)
    assert often > 14  # and both moved from 10 toward 20


def test_update_rate_refuses_negative_counts() -> None:
    with pytest.raises(ValueError, match="negative"):
        update_rate(1.0, -1, DAY)
