"""Quiet hours, mute and digest timing across time zones and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.notify.timing import QuietHours, digest_period, hold_until, local_instant, period_start

KYIV = ZoneInfo("Europe/Kyiv")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected_end"),
    [
        (utc(2026, 11, 26, 20, 30), utc(2026, 11, 27, 5, 0)),  # 22:30 Kyiv (UTC+2): inside
        (utc(2026, 11, 26, 19, 59), None),  # 21:59 Kyiv: not yet
        (utc(2026, 11, 27, 4, 59), utc(2026, 11, 27, 5, 0)),  # 06:59 Kyiv: ends at 07:00
        (utc(2026, 11, 27, 5, 0), None),  # 07:00 Kyiv: over
        (utc(2026, 11, 26, 12, 0), None),  # midday
    ],
)
def test_quiet_hours_spanning_midnight(now: datetime, expected_end: datetime | None) -> None:
    assert QuietHours.parse("22:00-07:00").ends_at(now, KYIV) == expected_end


def test_quiet_hours_within_one_day() -> None:
    quiet = QuietHours.parse("12:00-13:30")
    assert quiet.ends_at(utc(2026, 11, 26, 3, 15), TOKYO) == utc(2026, 11, 26, 4, 30)
    assert quiet.ends_at(utc(2026, 11, 26, 4, 30), TOKYO) is None


def test_hold_until_combines_mute_and_quiet() -> None:
    now = utc(2026, 11, 26, 10, 0)
    assert hold_until(now, KYIV, None, None) is None
    assert hold_until(now, KYIV, None, now + timedelta(hours=1)) == now + timedelta(hours=1)
    assert hold_until(now, KYIV, None, now - timedelta(hours=1)) is None  # mute expired
    # muted until 21:00 UTC = 23:00 Kyiv, inside quiet hours that end 07:00 Kyiv = 05:00 UTC
    until = hold_until(now, KYIV, "22:00-07:00", utc(2026, 11, 26, 21, 0))
    assert until == utc(2026, 11, 27, 5, 0)


def test_digest_is_due_at_local_time_in_each_zone() -> None:
    # 08:00 in Kyiv is 06:00 UTC in winter; in New York 13:00 UTC.
    assert digest_period(utc(2026, 11, 26, 5, 59), KYIV, "08:00") is None
    assert digest_period(utc(2026, 11, 26, 6, 0), KYIV, "08:00") == "2026-11-26"
    assert digest_period(utc(2026, 11, 26, 12, 59), NEW_YORK, "08:00") is None
    assert digest_period(utc(2026, 11, 26, 13, 0), NEW_YORK, "08:00") == "2026-11-26"
    # Just after midnight in Tokyo it is already the 27th there, but before 08:00.
    assert digest_period(utc(2026, 11, 26, 15, 30), TOKYO, "08:00") is None


def test_digest_keeps_local_time_across_dst() -> None:
    # Berlin: UTC+1 in winter, UTC+2 from 2026-03-29.
    assert period_start("2026-03-28", BERLIN, "08:00") == utc(2026, 3, 28, 7, 0)
    assert period_start("2026-03-29", BERLIN, "08:00") == utc(2026, 3, 29, 6, 0)
    # New York falls back on 2026-11-01.
    assert period_start("2026-10-31", NEW_YORK, "08:00") == utc(2026, 10, 31, 12, 0)
    assert period_start("2026-11-01", NEW_YORK, "08:00") == utc(2026, 11, 1, 13, 0)


def test_nonexistent_and_ambiguous_local_times() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29: the first instant after the gap (03:00 CEST).
    gap = local_instant(datetime(2026, 3, 29).date(), datetime(2000, 1, 1, 2, 30).time(), BERLIN)
    assert gap == utc(2026, 3, 29, 1, 0)
    # 01:30 happens twice in New York on 2026-11-01: the first (EDT, UTC-4).
    twice = local_instant(
        datetime(2026, 11, 1).date(), datetime(2000, 1, 1, 1, 30).time(), NEW_YORK
    )
    assert twice == utc(2026, 11, 1, 5, 30)


def test_quiet_hours_on_the_dst_night() -> None:
    # 22:00-07:00 Berlin over the spring-forward night is one hour shorter in UTC.
    quiet = QuietHours.parse("22:00-07:00")
    assert quiet.ends_at(utc(2026, 3, 28, 23, 0), BERLIN) == utc(2026, 3, 29, 5, 0)
    assert quiet.ends_at(utc(2026, 3, 28, 20, 59), BERLIN) is None


@pytest.mark.parametrize("window", ["00:00-00:00", "22:00-22:00"])
def test_a_window_that_starts_where_it_ends_holds_nothing(window: str) -> None:
    """Refused by the configuration and the quiet command; a row stored before they
    refused it held every alert of its channel forever (hold_until recursed)."""
    now = utc(2026, 11, 26, 20, 0)  # 22:00 in Kyiv
    assert QuietHours.parse(window).ends_at(now, KYIV) is None
    assert hold_until(now, KYIV, window, None) is None
    muted = now + timedelta(hours=1)
    assert hold_until(now, KYIV, window, muted) == muted
