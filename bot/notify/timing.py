"""When a channel may be pinged, and when its daily digest is due (pure, clock passed in).

Times of day are the channel's local time (its IANA time zone), so a digest at
08:00 stays at 08:00 across DST changes, and quiet hours may span midnight
(22:00-07:00). On the spring-forward day a local time that does not exist
(02:30 in Europe/Berlin) means the first instant after the gap; on the
fall-back day an ambiguous time means its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def parse_hhmm(text: str) -> time:
    hours, minutes = text.strip().split(":")
    return time(int(hours), int(minutes))


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`day` at local time `at`, as UTC; times in a DST gap move forward past it."""
    naive = datetime.combine(day, at)
    # A non-existent local time does not survive the round trip through UTC;
    # step forward to the first local minute that does (gaps are at most 2 h).
    for minutes in range(0, 24 * 60):
        local = naive + timedelta(minutes=minutes)
        candidate = local.replace(tzinfo=zone, fold=0)
        if candidate.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local:
            return candidate.astimezone(UTC)
    raise ValueError(f"no valid local time near {naive} in {zone}")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily local window `start-end`; `end <= start` means it spans midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        start, _, end = text.partition("-")
        return cls(parse_hhmm(start), parse_hhmm(end))

    def ends_at(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """If `now` is inside the window, when it ends (UTC); else None.

        A window that starts and ends at the same time is empty (configuration and
        commands refuse one; a row stored before they did must not hold alerts forever).
        """
        if self.start == self.end:
            return None
        local = now.astimezone(zone)
        today = local.date()
        # The window that may contain `now` started today or, spanning midnight, yesterday.
        for start_day in (today, today - timedelta(days=1)):
            start = local_instant(start_day, self.start, zone)
            end_day = start_day if self.end > self.start else start_day + timedelta(days=1)
            end = local_instant(end_day, self.end, zone)
            if start <= now < end:
                return end
        return None


def hold_until(
    now: datetime, zone: ZoneInfo, quiet: str | None, muted_until: datetime | None
) -> datetime | None:
    """When alerts to this channel may go out again, or None when they may go out now."""
    ends = []
    if muted_until is not None and muted_until > now:
        ends.append(muted_until)
    if quiet:
        end = QuietHours.parse(quiet).ends_at(now, zone)
        if end is not None:
            ends.append(end)
    if not ends:
        return None
    # A mute that ends inside quiet hours (or the reverse) holds until both are over.
    until = max(ends)
    again = hold_until(until, zone, quiet, muted_until) if until != now else None
    return again or until


def digest_period(now: datetime, zone: ZoneInfo, digest_at: str) -> str | None:
    """The period (local date) whose digest is due at `now`, or None before today's time.

    A bot that was down at digest time sends that day's digest once when it
    comes back: the caller stores sent periods and skips those already sent.
    """
    local_day = now.astimezone(zone).date()
    if now >= local_instant(local_day, parse_hhmm(digest_at), zone):
        return local_day.isoformat()
    return None


def period_start(period: str, zone: ZoneInfo, digest_at: str) -> datetime:
    """The instant the digest of `period` was due (UTC)."""
    return local_instant(date.fromisoformat(period), parse_hhmm(digest_at), zone)
