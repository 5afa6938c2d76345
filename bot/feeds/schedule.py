"""When to check a feed next: a pure function of what we know about it (STYLE.md §9).

The scheduler decides nothing; it asks the store for feeds whose
`next_check_at` has passed. This module computes that time from:

1. the configured interval, adapted to the observed update rate: the geometric
   mean of the interval and the mean gap between items, so a feed with ~100
   items a day keeps its interval, a busier one is polled nearer
   `min_interval` and a quiet one stretches toward `max_interval`;
2. the server's own hints, RSS ``<ttl>`` and Cache-Control ``max-age``, as
   lower bounds (never beyond `max_interval`: a feed may not silence itself);
3. exponential backoff after consecutive errors, capped at `max_interval`;
4. ±10 % jitter, so feeds added together do not stay in lockstep;
5. Retry-After last, as a floor nothing may undercut, itself capped at 24 h
   (RELIABILITY.md B4); it is the one value allowed past `max_interval`.

Everything is passed in (`now`, the intervals, the rng), like reader's
`next_update_after`, so the tests are tables with a fixed clock and seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from datetime import datetime, timedelta

DAY_S = 86400.0
#: the longest any Retry-After may keep a feed quiet (RELIABILITY.md B4)
RETRY_AFTER_CAP_S = DAY_S
#: relative spread of the jitter: the delay is multiplied by a factor in [0.9, 1.1]
JITTER = 0.10
#: the time constant of the update-rate average: observations older than about
#: this much count for less than 1/e. Weighting by elapsed time (not per poll)
#: keeps the average right whether a feed is polled every 2 minutes or 6 hours.
RATE_TIME_CONSTANT_S = DAY_S

#: the default jitter source; seeding a new Random per call reads os.urandom each time
_RNG = random.Random()


def next_check_at(
    *,
    now: datetime,
    interval: timedelta,
    min_interval: timedelta,
    max_interval: timedelta,
    items_per_day: float | None = None,
    ttl_minutes: int | None = None,
    max_age_s: float | None = None,
    retry_after_s: float | None = None,
    consecutive_errors: int = 0,
    rng: random.Random | None = None,
) -> datetime:
    """The time a feed should next be checked; see the module docstring for the rules."""
    low, high = min_interval.total_seconds(), max_interval.total_seconds()
    if low > high:
        raise ValueError("min_interval is longer than max_interval")
    rng = rng if rng is not None else _RNG
    delay = adapted_interval(interval.total_seconds(), items_per_day)
    delay = max(delay, server_floor(ttl_minutes, max_age_s, high))
    delay = _clamp(backoff(delay, consecutive_errors), low, high)
    delay = _clamp(delay * rng.uniform(1 - JITTER, 1 + JITTER), low, high)
    if retry_after_s is not None and retry_after_s > 0:
        # Jitter only upward: never earlier than the server asked.
        wait = min(retry_after_s, RETRY_AFTER_CAP_S)
        delay = max(delay, min(wait * rng.uniform(1, 1 + JITTER), RETRY_AFTER_CAP_S))
    return now + timedelta(seconds=delay)


def adapted_interval(interval_s: float, items_per_day: float | None) -> float:
    """The configured interval moved toward the observed gap between items (seconds).

    The geometric mean keeps the operator's interval in charge while letting the
    feed's pace pull it: 15 min at 1000 items/day gives ~4.6 min, at 24/day 30 min,
    and a feed with no items at all goes to the maximum.
    """
    if items_per_day is None:
        return interval_s
    if items_per_day <= 0:
        return math.inf
    return math.sqrt(interval_s * (DAY_S / items_per_day))


def server_floor(ttl_minutes: int | None, max_age_s: float | None, max_s: float) -> float:
    """The longest of RSS TTL and Cache-Control max-age, but no more than `max_s`."""
    hints = [h for h in ((ttl_minutes or 0) * 60.0, max_age_s or 0.0) if h > 0]
    return min(max(hints), max_s) if hints else 0.0


def backoff(delay_s: float, consecutive_errors: int) -> float:
    """Double the delay for each error in a row (the caller caps it)."""
    # 2**32 times any interval is beyond every cap; stop there to stay finite.
    return delay_s * 2.0 ** min(max(consecutive_errors, 0), 32)


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def cache_max_age(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``Cache-Control: max-age``, or None when absent, invalid or no-cache.

    ``no-cache`` and ``no-store`` ask for revalidation every time, so they give
    no lower bound. ``s-maxage`` is for shared caches, which we are not.
    """
    value = _header(headers, "cache-control")
    if value is None:
        return None
    directives: dict[str, str] = {}
    for part in value.split(","):
        name, _, argument = part.strip().partition("=")
        directives[name.strip().lower()] = argument.strip().strip('"')
    if "no-cache" in directives or "no-store" in directives:
        return None
    max_age = directives.get("max-age", "")
    return float(max_age) if max_age.isdigit() else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    if name in headers:
        return headers[name]
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def update_rate(previous: float | None, new_items: int, elapsed: timedelta) -> float:
    """The smoothed number of new items per day, after `new_items` arrived in `elapsed`.

    An exponential moving average weighted by time: an observation over
    `elapsed` moves the average by ``1 - exp(-elapsed / 1 day)`` of the way, so
    a day of 2-minute polls and one daily poll end up in the same place.
    `elapsed` is the time since the previous successful fetch.
    """
    if new_items < 0:
        raise ValueError("new_items is negative")
    seconds = elapsed.total_seconds()
    if seconds <= 0:
        return previous if previous is not None else 0.0
    observed = new_items * DAY_S / seconds
    if previous is None:
        return observed
    weight = 1.0 - math.exp(-seconds / RATE_TIME_CONSTANT_S)
    return previous + weight * (observed - previous)
