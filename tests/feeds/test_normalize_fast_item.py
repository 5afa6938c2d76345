"""normalize_item's one-pass path for the commonest entry gives the very items of the
general path (`_general_item`), field by field, on every corpus and on entries built
to sit on each edge of that path's shape.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.feeds import normalize as normalize_module
from bot.feeds.identity import ParsedItem
from bot.feeds.normalize import SUMMARY_MAX, TITLE_MAX, new_item, normalize_item
from bot.feeds.prepare import UNCLAMPED
from bot.types import Item, RawItem
from tests import hotpaths_corpus as corpus

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
#: `now` as callers may pass it: the worker's, the pipeline's, naive, in another zone
NOWS = [UNCLAMPED, NOW, NOW.replace(tzinfo=None), NOW.astimezone(timezone(timedelta(hours=2)))]


def _fields(item: Item | None) -> object:
    """Every field's type and spelling (repr shows a datetime's zone as well)."""
    if item is None:
        return None
    return [(type(v), repr(v)) for v in (getattr(item, f.name) for f in fields(Item))]


def _check(raw: RawItem, feed_url: str, now: datetime, lang: str | None) -> bool:
    """Asserts both paths agree on `raw`; True when the one-pass path took it."""
    expected = normalize_module._general_item(raw, feed_url, now, lang)
    plain = normalize_module._plain_item(raw, now, lang)
    found = normalize_item(raw, feed_url=feed_url, now=now, lang=lang)
    assert found == expected, raw
    assert _fields(found) == _fields(expected), raw
    if plain is not None:
        assert _fields(plain) == _fields(expected), raw
    return plain is not None


@pytest.mark.parametrize("name", sorted(corpus.corpora()))
def test_every_corpus_item_is_the_general_paths(name: str) -> None:
    records = corpus.corpora()[name]()
    taken = sum(_check(r.raw, r.feed_url, now, r.lang) for r in records for now in NOWS[:2])
    if name == "farm":  # the benchmark's feeds: the one-pass path takes every item
        assert taken == 2 * len(records) > 0


# --- entries on the edges of the one-pass shape ---------------------------------------------

#: pieces of titles and summaries: words, and each thing the one-pass path must refuse
PIECES = [
    "Air", "defence", "x", "0", ".", " ", " ", " ", "  ", "\t", "\n", "\r", "\r\n", "\x0b",
    "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x00", "\x01", "\x7f", "\x85", "\u00a0", "\u2003",
    "\u200b", "\u00ad", "\ufeff", "café", "ﬁ", "Ｘ", "&", "&amp;", "&lt;p&gt;", "&nbsp;", "&#32;",
    "<", ">", "<p>", "</p>", "<P>", "<p >", "<br>", "<br/>", "<b>", "</b>", "<p class=x>",
    "<!-- c -->", "<script>s</script>", "p>", "</p", "/p>", ";", "'", '"',
]  # fmt: skip
LINKS = [
    None, "", " ", "https://news.example/a/1", "http://news.example/a", "https://news.example/",
    "https://news.example", "https://News.example/a", "https://news.example/a?x=1",
    "https://news.example/a#f", "https://news.example:443/a", " https://news.example/a",
    "https://news.example/a ", "https://news.example/a\n", "https://news.example/a;b",
    "https://news.example/a b", "https://news.example/ü", "/relative/1", "42",
    "ftp://news.example/a", "https://user@news.example/a", "HTTPS://news.example/a",
]  # fmt: skip
GUIDS = [None, "", " ", "g-1", " g-1 ", "g\u00a0", "https://news.example/a/1"]
PARIS = timezone(timedelta(hours=1))
DATES = [
    None, NOW, NOW - timedelta(days=3), NOW + timedelta(days=3), NOW.replace(tzinfo=None),
    NOW.astimezone(PARIS), NOW.replace(tzinfo=timezone(timedelta(0))), UNCLAMPED,
    datetime(9999, 12, 31, tzinfo=UTC),
]  # fmt: skip


def _text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(PIECES) for _ in range(size))


def _words(rng: random.Random, size: int) -> str:
    """Folded ASCII text, the shape the one-pass path takes, of about `size` characters."""
    words = []
    while sum(map(len, words)) + len(words) < size:
        words.append(rng.choice(("air", "defence", "Patriot", "x", "42.", "(b)", "a-b")))
    return " ".join(words)[:size].strip()


def _near_miss(rng: random.Random, text: str) -> str:
    """`text` with one piece put in at a random place (at either end, often)."""
    at = rng.choice((0, len(text), rng.randint(0, len(text))))
    return text[:at] + rng.choice(PIECES) + text[at:]


def _summary(rng: random.Random) -> str | None:
    kind = rng.random()
    if kind < 0.1:
        return rng.choice((None, "", "<p></p>", "<p>", "</p>", "<p></p></p>", "<p><p></p>"))
    size = rng.choice((0, 5, 40, 300, SUMMARY_MAX - 1, SUMMARY_MAX, SUMMARY_MAX + 1))
    text = _words(rng, size) if kind < 0.7 else _text(rng, rng.randint(0, 12))
    if rng.random() < 0.4:
        text = _near_miss(rng, text)
    return f"<p>{text}</p>" if rng.random() < 0.6 else text


def _title(rng: random.Random) -> str | None:
    if rng.random() < 0.05:
        return rng.choice((None, ""))
    size = rng.choice((0, 1, 30, TITLE_MAX - 1, TITLE_MAX, TITLE_MAX + 1))
    text = _words(rng, size) if rng.random() < 0.7 else _text(rng, rng.randint(0, 8))
    return _near_miss(rng, text) if rng.random() < 0.4 else text


def _raw(rng: random.Random) -> RawItem:
    raw = RawItem(
        title=_title(rng),
        link=rng.choice(LINKS),
        guid=rng.choice(GUIDS),
        published=rng.choice(DATES),
        updated=rng.choice(DATES),
        summary=_summary(rng),
    )
    if rng.random() < 0.1:  # identity as the document writes it (identity.py)
        ref = rng.choice((None, "", "/42", "/a?utm_source=x&b=1#f"))
        return ParsedItem(**{f.name: getattr(raw, f.name) for f in fields(raw)}, relative_ref=ref)
    return raw


def _generated(seed: int, count: int) -> Iterator[RawItem]:
    rng = random.Random(seed)
    return (_raw(rng) for _ in range(count))


def test_edge_entries_are_the_general_paths() -> None:
    taken = 0
    for n, raw in enumerate(_generated(11, 30_000)):
        taken += _check(raw, "https://feeds.example.com/path/feed.xml", NOWS[n % 4], "en")
    # the one-pass path takes a good share, so the comparison is not an empty one
    assert taken > 800


def test_each_refusal_is_needed() -> None:
    """Each one-character change to a taken entry either keeps it taken or gives the
    general path's item: the one-pass path refuses what would change the result."""
    rng = random.Random(12)
    taken = 0
    for _ in range(3_000):
        title, summary = _words(rng, 60), _words(rng, 400)
        base = RawItem(title, "https://news.example/a/1", "g-1", NOW, None, f"<p>{summary}</p>")
        assert _check(base, "", UNCLAMPED, None)
        for field in ("title", "summary"):
            value = _near_miss(rng, title if field == "title" else summary)
            if field == "summary" and rng.random() < 0.5:
                value = f"<p>{value}</p>"
            changed = RawItem(
                **{**{f.name: getattr(base, f.name) for f in fields(base)}, field: value}
            )
            taken += _check(changed, "", UNCLAMPED, None)
    assert 0 < taken < 6_000


def test_the_item_maker_makes_the_dataclasses_item() -> None:
    assert new_item is not Item, "Item's fields changed: update normalize._ITEM_FIELDS"
    values = ("k", "t", None, "s", NOW, "c" * 64, "en")
    made, expected = new_item(*values), Item(*values)
    assert made == expected and hash(made) == hash(expected)
    assert _fields(made) == _fields(expected) and type(made) is Item
    with pytest.raises(AttributeError):
        made.key = "other"  # type: ignore[misc]


def test_as_utc_is_astimezone_for_every_zone() -> None:
    for when in DATES[1:]:
        old = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        new = normalize_module._as_utc(when)
        assert (new, repr(new)) == (old, repr(old))
