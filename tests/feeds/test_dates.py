"""parse_date: feedparser's answer for every string, and cheaply for the common shapes.

The reference is `struct_to_utc(feedparser.datetimes._parse_date(text))`, the
chain of handlers the fast path skips. Strings are generated around the shapes
the fast path reads (RFC 822 and W3C-DTF), near them (impossible days, second
60, two-digit years, odd offsets, other cases and spacing, fractions, years 1
and 9999 pushed over the edge by an offset) and far from them (edits, junk).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from feedparser.datetimes import _date_handlers, _parse_date, registerDateHandler

from bot.feeds.parse.dates import fast_date, parse_date
from bot.feeds.parse.reference import struct_to_utc

SEEDS = [1, 2, 3, 4]
PER_SEED = 10_000


def reference(text: str) -> datetime | None:
    return struct_to_utc(_parse_date(text))


def gen_day_name(rng: random.Random) -> str:
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    odd = ["mon", "THU", "sAt", "Foo", "Nov", "Thursday", "Tue.", "Mo", "1"]
    name = rng.choice(names) if rng.random() < 0.8 else rng.choice(odd)
    return name + rng.choice([",", ",", ",", ",", "", ";"])


def gen_month_name(rng: random.Random) -> str:
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    odd = ["jan", "FEB", "oCt", "Sept", "March", "Foo", "Mai", "Nov.", "N0v", "Ma"]
    return rng.choice(names) if rng.random() < 0.85 else rng.choice(odd)


def gen_day(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        day = rng.randint(1, 28)
        return str(day) if rng.random() < 0.5 else f"{day:02d}"
    if r < 0.85:
        return str(rng.randint(28, 31))  # with a random month: many impossible days
    return rng.choice(["0", "00", "32", "99", "007", "123", "", "1st", "+5"])


def gen_year(rng: random.Random, *, two_digits: bool) -> str:
    r = rng.random()
    if r < 0.45:
        return str(rng.choice([1969, 1970, 1989, 1990, 1999, 2000, 2024, 2026, 2089, 2090]))
    if r < 0.6:
        return f"{rng.randint(0, 9999):04d}"
    if r < 0.75:
        return rng.choice(["0000", "0001", "9999", "1900"])  # years 1 and 9999 meet offsets
    if r < 0.92 and two_digits:
        return f"{rng.randint(0, 99):02d}"
    return rng.choice(["9", "123", "02026", "20266", "2O26", "-2026"])


def gen_hms(rng: random.Random) -> str:
    r = rng.random()
    hour = rng.randint(0, 23) if r < 0.8 else rng.choice([24, 25, 99])
    minute = rng.randint(0, 59) if rng.random() < 0.9 else rng.choice([60, 61, 99])
    second = rng.randint(0, 59) if rng.random() < 0.9 else rng.choice([60, 61, 99])
    shape = rng.random()
    if shape < 0.85:
        return f"{hour:02d}:{minute:02d}:{second:02d}"
    if shape < 0.9:
        return f"{hour}:{minute}:{second}"
    if shape < 0.95:
        return f"{hour:02d}:{minute:02d}"
    return rng.choice([f"{hour:02d}", f"{hour:02d}:{minute:02d}:{second:02d}:00", "::", "ab:cd:ef"])


def gen_fraction(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.6:
        return ""
    if r < 0.85:
        return "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 12)))
    # rounds up to the next second in float(): "59.99999999999999999" is 60.0
    return rng.choice([".9", ".999999", ".999999999", ".99999999999999999", ",5", ".", ".5e1"])


def gen_numeric_offset(rng: random.Random, *, colon: bool) -> str:
    sign = rng.choice("+-")
    hours = rng.choice([0, 0, 0, 1, 2, 5, 8, 9, 10, 12, 13, 14, 23, 24, 25, 99])
    minutes = rng.choice([0, 0, 0, 15, 30, 45, 59, 60, 75, 99])
    sep = ":" if colon else ""
    return f"{sign}{hours:02d}{sep}{minutes:02d}"


RFC_ZONES = [
    "GMT", "gmt", "UT", "UTC", "Z", "z", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST",
    "PDT", "AST", "ADT", "AT", "ET", "CT", "MT", "PT", "A", "N", "M", "Y", "MET", "MEST",
    "CEST", "BST", "IST", "GMTA", "gmtz", "GMT+1", "GMT-05:00", "GMT+0530", "Etc/GMT",
    "etc/gmt+5", "XYZABC", "+5", "-05:00", "+05:30", "Q",
]  # fmt: skip


def gen_rfc822(rng: random.Random) -> str:
    parts = []
    if rng.random() < 0.7:
        parts.append(gen_day_name(rng))
    date = [gen_day(rng), gen_month_name(rng)]
    if rng.random() < 0.05:
        date.reverse()  # rfc822.py also reads "Nov 26"
    parts += [*date, gen_year(rng, two_digits=True)]
    if rng.random() < 0.95:
        parts.append(gen_hms(rng) + (gen_fraction(rng) if rng.random() < 0.1 else ""))
    if rng.random() < 0.95:
        if rng.random() < 0.6:
            parts.append(gen_numeric_offset(rng, colon=rng.random() < 0.1))
        else:
            parts.append(rng.choice(RFC_ZONES))
    if rng.random() < 0.05:
        parts.append(rng.choice(["(UTC)", "+0000", "extra", "2026"]))
    text = parts[0]
    for part in parts[1:]:
        text += (" " if rng.random() < 0.95 else rng.choice(["  ", "\t", ", ", "-", ""])) + part
    return recase_and_pad(rng, text)


def gen_w3dtf(rng: random.Random) -> str:
    year = gen_year(rng, two_digits=rng.random() < 0.1)
    month = f"{rng.randint(1, 12):02d}" if rng.random() < 0.9 else rng.choice(["00", "13", "2"])
    text = f"{year}-{month}-{gen_day(rng).zfill(2)}"
    r = rng.random()
    if r < 0.04:
        text = text.rsplit("-", 1)[0]  # "2026-11"
    if r < 0.08:
        return recase_and_pad(rng, text)  # date only
    text += rng.choice("T" * 16 + "t ")
    text += gen_hms(rng) + gen_fraction(rng)
    r = rng.random()
    if r < 0.35:
        text += rng.choice(["Z", "Z", "Z", "z", ""])
    elif r < 0.9:
        text += gen_numeric_offset(rng, colon=rng.random() < 0.9)
    else:
        text += rng.choice([" +02:00", "+02", "+2:00", "EST", " GMT", "+02:00Z", "Z+02:00"])
    return recase_and_pad(rng, text)


def recase_and_pad(rng: random.Random, text: str) -> str:
    r = rng.random()
    if r < 0.05:
        text = text.lower()
    elif r < 0.1:
        text = text.upper()
    if rng.random() < 0.03:
        text = rng.choice([" ", "\t", "\n"]) + text
    if rng.random() < 0.03:
        text += rng.choice([" ", "\t", "\n", "\x00"])
    return text


# ASCII that matters to the handlers, and look-alikes: Arabic-Indic two, long s, Kelvin, NBSP
EDIT_ALPHABET = " 0123456789-:+.,/TtZzGMTESUCmonvctsa\u0662\u017f\u212a\u00a0"


def gen_edited(rng: random.Random) -> str:
    text = list(gen_rfc822(rng) if rng.random() < 0.5 else gen_w3dtf(rng))
    for _ in range(rng.randint(1, 3)):
        i = rng.randint(0, len(text))
        op = rng.random()
        if op < 0.33 or not text:
            text.insert(i, rng.choice(EDIT_ALPHABET))
        elif op < 0.66:
            del text[min(i, len(text) - 1)]
        else:
            text[min(i, len(text) - 1)] = rng.choice(EDIT_ALPHABET)
    return "".join(text)


def gen_junk(rng: random.Random) -> str:
    return "".join(rng.choice(EDIT_ALPHABET) for _ in range(rng.randint(0, 32)))


def gen_clean(rng: random.Random) -> str:
    """The exact shapes of the fast path, any year, day up to 31, any offset it reads."""
    when = (rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 31))
    hms = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    hours, minutes, sign = rng.randint(0, 23), rng.randint(0, 59), rng.choice("+-")
    if rng.random() < 0.5:
        zone = rng.choice(["Z", f"{sign}{hours:02d}:{minutes:02d}"])
        return f"{when[0]:04d}-{when[1]:02d}-{when[2]:02d}T{hms}{gen_fraction(rng)}{zone}"
    day_name = gen_day_name(rng) + " " if rng.random() < 0.7 else ""
    year = f"{when[0]:04d}" if rng.random() < 0.8 else f"{when[0] % 100:02d}"
    zone = rng.choice([f"{sign}{hours:02d}{minutes:02d}", rng.choice(RFC_ZONES)])
    return f"{day_name}{when[2]} {gen_month_name(rng)} {year} {hms} {zone}"


GENERATORS: list[tuple[float, Callable[[random.Random], str]]] = [
    (0.25, gen_clean),
    (0.50, gen_rfc822),
    (0.75, gen_w3dtf),
    (0.92, gen_edited),
    (1.00, gen_junk),
]


def generated(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        r = rng.random()
        gen = next(g for bound, g in GENERATORS if r < bound)
        out.append(gen(rng))
    return out


def mismatches(texts: list[str], parse: Callable[[str], datetime | None]) -> list[str]:
    # repr, not ==: the same instant with another tzinfo would be a difference too
    return [
        f"{t!r}: {parse(t)!r} != feedparser {reference(t)!r}"
        for t in texts
        if repr(parse(t)) != repr(reference(t))
    ]


@pytest.mark.parametrize("seed", SEEDS)
def test_agrees_with_feedparser_on_generated_strings(seed: int) -> None:
    texts = generated(seed, PER_SEED)
    wrong = mismatches(texts, parse_date)
    assert not wrong, f"{len(wrong)} of {len(texts)} differ:\n" + "\n".join(wrong[:20])


@pytest.mark.parametrize("seed", SEEDS)
def test_fast_path_answers_often_and_only_as_feedparser(seed: int) -> None:
    texts = generated(seed, PER_SEED)
    answered = [t for t in texts if fast_date(t) is not None]
    # the generators aim at the fast shapes: a fast path that declined everything would make
    # the test above pass on feedparser alone
    assert len(answered) > PER_SEED // 6
    assert any("T" in t for t in answered) and any(" " in t for t in answered)
    wrong = [t for t in answered if fast_date(t) != reference(t)]
    assert not wrong, wrong[:20]


#: what the fast path must read itself (the shapes of ../shared/feeds), with the answer
FAST = {
    "Fri, 10 Feb 2023 21:40:02 GMT": datetime(2023, 2, 10, 21, 40, 2, tzinfo=UTC),
    "Fri, 24 Nov 2023 17:22:40 +0000": datetime(2023, 11, 24, 17, 22, 40, tzinfo=UTC),
    "Thu, 26 Nov 2026 09:00:00 -0500": datetime(2026, 11, 26, 14, 0, tzinfo=UTC),
    "Thu, 26 Nov 2026 09:00:00 +0530": datetime(2026, 11, 26, 3, 30, tzinfo=UTC),
    "26 Nov 2026 09:00:00 -0000": datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    "Sun, 10 Dec 17 13:01:36 -0800": datetime(2017, 12, 10, 21, 1, 36, tzinfo=UTC),
    "Sun, 10 Dec 95 13:01:36 UT": datetime(1995, 12, 10, 13, 1, 36, tzinfo=UTC),
    "Thu, 26 Nov 26 09:00:00 EST": datetime(2026, 11, 26, 14, 0, tzinfo=UTC),
    "thu, 26 nov 2026 09:00:00 pdt": datetime(2026, 11, 26, 16, 0, tzinfo=UTC),
    "Thu, 26 Nov 2026 09:00:00 CEST": datetime(2026, 11, 26, 9, 0, tzinfo=UTC),  # unknown: +0
    "Thu, 26 Nov 2026 09:00:00 +2400": datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
    "2018-01-31T20:15:15Z": datetime(2018, 1, 31, 20, 15, 15, tzinfo=UTC),
    "2016-02-01T17:54:50+01:00": datetime(2016, 2, 1, 16, 54, 50, tzinfo=UTC),
    "2017-11-08T18:15:58-05:00": datetime(2017, 11, 8, 23, 15, 58, tzinfo=UTC),
    "2017-11-08T18:15:58-00:30": datetime(2017, 11, 8, 18, 45, 58, tzinfo=UTC),
    "2026-11-26T09:00:00.999Z": datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    "2024-02-29T23:30:00-01:00": datetime(2024, 3, 1, 0, 30, tzinfo=UTC),
    "9999-12-31T23:00:00+01:00": datetime(9999, 12, 31, 22, 0, tzinfo=UTC),
}


@pytest.mark.parametrize("text", FAST)
def test_common_shapes_take_the_fast_path(text: str) -> None:
    assert fast_date(text) == FAST[text]
    assert repr(parse_date(text)) == repr(reference(text)) == repr(FAST[text])


#: what it must leave to feedparser, which may still read them with a later handler
DEFERRED = [
    "Fri, 30 Feb 2026 09:00:00 GMT",  # no such day
    "Thu, 26 Nov 2026 09:00:60 GMT",  # second 60
    "Thu, 26 Nov 2026 24:00:00 GMT",
    "2026-11-26T24:00:00Z",
    "2026-11-26T09:00:00+24:00",  # feedparser takes it; fromisoformat would not
    "2026-11-26T09:00:00.99999999999999999Z",  # float() makes it second 60
    "0001-01-01T00:00:00+00:01",  # a minute before year 1
    "Mon, 01 Jan 0001 00:30:00 +0100",
    "9999-12-31T23:59:59-00:01",
    "2026-11-26 09:00:00 -0800",  # MSSQL style
    "2026-11-26T09:00:00+0530",  # w3dtf.py reads "+0530" as +05:00
    "Thu Nov 26 09:00:00 2026",  # asctime
    "Foo, 26 Nov 2026 09:00:00 GMT",
    " Thu, 26 Nov 2026 09:00:00 GMT",
    "2026-11-26",
    "",
]


@pytest.mark.parametrize("text", DEFERRED)
def test_other_strings_go_to_feedparser(text: str) -> None:
    assert fast_date(text) is None
    assert repr(parse_date(text)) == repr(reference(text))


def test_a_registered_handler_is_asked_first() -> None:
    """registerDateHandler puts a handler in front of w3dtf: feedparser would ask it first."""

    def handler(text: str) -> tuple[int, ...]:
        return (2001, 2, 3, 4, 5, 6, 5, 34, 0)

    planted = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    registerDateHandler(handler)
    try:
        assert parse_date("2026-11-26T09:00:00Z") == planted
        assert parse_date("Thu, 26 Nov 2026 09:00:00 GMT") == planted
    finally:
        _date_handlers.remove(handler)
    assert parse_date("2026-11-26T09:00:00Z") == datetime(2026, 11, 26, 9, tzinfo=UTC)
