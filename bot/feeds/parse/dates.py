"""Feed dates as aware UTC datetimes: feedparser's answer, cheaper for the common shapes.

Why: feedparser's `_parse_date` tries a chain of handlers (w3dtf, rfc822,
iso8601, asctime, ...), each splitting and lowercasing the string its own way;
in a parser worker this was about a tenth of all its time. Nearly every feed
writes one of two shapes, and one precompiled regex each matches them here:

    RFC 822   "Thu, 26 Nov 2026 09:00:00 +0000"  (or GMT, EST, any +hhmm; day name
              optional, two-digit years; exactly one space between the parts)
    W3C-DTF   "2026-11-26T09:00:00Z"  (or +hh:mm / -hh:mm below 24h; up to 9 decimals)

The rule: the same answer as `struct_to_utc(feedparser.datetimes._parse_date(text))`,
or defer to it. Anything that is not exactly one of those shapes, and any
match whose datetime or offset arithmetic fails (Feb 30, a year pushed below 1
or past 9999 by its offset), goes through the whole chain, since a later
handler might still read it. Why the fast answers are feedparser's:

- w3dtf.py is the first handler. For this shape (one "t", no space) it reads
  the fields as written, seconds as `int(float(s))` (which with at most 9
  decimals is the whole seconds), "z" as +0, "-hh:mm" as minus the whole
  offset, and gives `stamp - offset`: what `fromisoformat(...).astimezone(UTC)`
  gives once the decimals are cut. Hours, minutes and seconds are held to their
  ranges by the regex, so `fromisoformat` refuses only what `datetime()` would.
- rfc822.py is the second handler, and w3dtf.py declines every string the
  RFC 822 regex takes: its date part (the text before the first "t", or the
  first word when there is none), cut before the first "-", must be 4
  characters that `int` reads, and here it starts with a day name ("mon,") or a
  1-2 digit day followed by a month name: too short, or holding a letter.
  rfc822.py then reads day, month (first 3 letters), year (2 digits: below 90
  is 20xx, else 19xx), time, and zone ("+hhmm"/"-hhmm" with any digits, or a
  name from its own table, unknown names as +0 and "gmtX" as "X") as below.

Both handlers are checked to still be the first two of the chain at every call
(`registerDateHandler` puts new ones in front). feedparser is pinned in
pyproject.toml; tests/feeds/test_dates.py compares this module with the chain
on 40,000 generated strings.

Cost per call (timeit, best of many runs, dev machine): 0.9-1.5 us for W3C-DTF
and about 1.9 us for RFC 822, against 6-9 us for the chain; strings the fast
path does not take pay about 0.5 us more than before. The RFC 822 pattern
captures nothing (capture groups were half its cost): once it matches, the
parts are the text split at its single spaces.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from feedparser.datetimes import _date_handlers as _FP_HANDLERS
from feedparser.datetimes import _parse_date as _fp_parse_date
from feedparser.datetimes.rfc822 import _parse_date_rfc822 as _fp_rfc822
from feedparser.datetimes.rfc822 import day_names as _FP_DAY_NAMES
from feedparser.datetimes.rfc822 import months as _FP_MONTHS
from feedparser.datetimes.rfc822 import timezone_names as _FP_ZONE_NAMES
from feedparser.datetimes.w3dtf import _parse_date_w3dtf as _fp_w3dtf

from bot.feeds.parse.reference import struct_to_utc

__all__ = ["fast_date", "parse_date"]

# [0-9], never \d: `int` reads other scripts' digits, and the arguments above
# were made for ASCII only.
_HOUR = r"(?:[01][0-9]|2[0-3])"
_HMS = rf"{_HOUR}:[0-5][0-9]:[0-5][0-9]"
_W3DTF = re.compile(
    rf"[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T{_HMS}(\.[0-9]{{1,9}})?(Z|[+-]{_HOUR}:[0-5][0-9])"
)
# No groups: the parts are split at the single spaces the pattern allows (half the cost)
_RFC822 = re.compile(
    rf"(?:[A-Za-z]{{3}}, )?[0-9]{{1,2}} [A-Za-z]{{3}} (?:[0-9]{{4}}|[0-9]{{2}}) {_HMS} "
    r"(?:[+-][0-9]{4}|[A-Za-z]{1,5})"
)


def _spellings(word: str) -> list[str]:
    """`word` in every mix of upper and lower case ("nov", "Nov", "NOV", "nOv" ...)."""
    found = [""]
    for char in word:
        found = [start + c for start in found for c in {char.lower(), char.upper()}]
    return found


#: "nov", "Nov", "NOV" ... -> "-11-": the middle of an ISO date (rfc822.py lower-cases)
_MONTHS = {
    spelling: f"-{number:02d}-"
    for name, number in _FP_MONTHS.items()
    for spelling in _spellings(name)
}
#: the day names rfc822.py takes, in any case
_DAY_NAMES = frozenset(spelling for name in _FP_DAY_NAMES for spelling in _spellings(name))
#: RFC 822 zone -> offset east of UTC, as rfc822.py reads it; filled as met
_ZONES: dict[str, timedelta] = {}


def parse_date(text: str) -> datetime | None:
    """The UTC datetime feedparser reads from a feed's date text, or None."""
    found = fast_date(text)
    return found if found is not None else struct_to_utc(_fp_parse_date(text))


def fast_date(text: str) -> datetime | None:
    """feedparser's answer for the two common shapes, or None: ask feedparser."""
    try:
        if _FP_HANDLERS[0] is _fp_w3dtf:
            # W3C-DTF starts with a digit: an RFC 822 date with its day name need not try it
            if not text[:1].isalpha():
                m = _W3DTF.fullmatch(text)
                if m is not None:
                    return _w3dtf(text, m)
            if _FP_HANDLERS[1] is _fp_rfc822 and _RFC822.fullmatch(text) is not None:
                return _rfc822(text)
    except (ValueError, OverflowError):
        pass  # no such day, or beyond datetime's range: a later handler may still read it
    return None


def _w3dtf(text: str, m: re.Match[str]) -> datetime:
    fraction, zone = m.groups()
    if fraction:
        # int(float("09.5")) is 9; with at most 9 decimals float() never rounds up a second
        text = text[:19] + zone
    # fromisoformat: a fifth of the cost of int() on each field and datetime(..., tzinfo=UTC)
    return datetime.fromisoformat(text).astimezone(UTC)


def _rfc822(text: str) -> datetime | None:
    parts = text.split(" ")
    if len(parts) == 6:
        day_name, day, month_name, year, hms, zone = parts
        if day_name[:3] not in _DAY_NAMES:
            return None  # rfc822.py would read it as the day, and give up
    else:
        day, month_name, year, hms, zone = parts
    month = _MONTHS.get(month_name)
    if month is None:
        return None
    if len(year) == 2:
        year = ("20" if year < "90" else "19") + year
    if len(day) == 1:
        day = "0" + day
    stamp = datetime.fromisoformat(f"{year}{month}{day}T{hms}+00:00")  # one string, not five
    offset = _ZONES.get(zone)
    if offset is None:
        offset = _zone_offset(zone)
        if len(_ZONES) < 1024:
            _ZONES[zone] = offset
    return stamp - offset if offset else stamp  # "+00:00" already: the common UTC date


def _zone_offset(zone: str) -> timedelta:
    """rfc822.py's offset for "+hhmm", "-hhmm" (any digits) or a name (unknown ones are +0)."""
    if zone[0] in "+-":
        seconds = int(zone[1:3]) * 3600 + int(zone[3:]) * 60
        return timedelta(0, seconds if zone[0] == "+" else -seconds)
    name = zone.lower()
    if name.startswith("gmt"):
        name = name[3:] or "gmt"  # "GMTx" is read as zone "x"
    return timedelta(0, _FP_ZONE_NAMES.get(name, 0) * 3600)
