"""prepare's `_unseen` gives the items and digest blob of its plain form, written out
here as it was before it was made faster (the general normalizing path, one blake2b
per key, `encode` over the pairs), for feeds with nothing, some, all and other
versions' items seen, duplicate keys and empty items, on both digest paths.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from hashlib import blake2b
from pathlib import Path

import pytest

from bench import farm
from bot.feeds import normalize as normalize_module
from bot.feeds.parse import parse_feed
from bot.feeds.prepare import UNCLAMPED, _unseen
from bot.feeds.seen import (
    NEVER,
    NO_KEY,
    SIZE,
    SeenItems,
    encode,
    key_digest,
    raw_item_digest,
)
from bot.types import Item, ParsedFeed, RawItem

DATA = Path(__file__).resolve().parent.parent / "data" / "feeds"
URL = "http://127.0.0.1:8080/f/{}.xml"


def _reference(
    parsed: ParsedFeed, url: str, lang: str | None, seen: SeenItems
) -> tuple[list[Item], bytes]:
    lang = lang or parsed.lang
    raws: list[RawItem | None]
    if parsed.digests is None:
        context = f"{parsed.version}\0{parsed.lang}".encode()
        digests = [raw_item_digest(seen.salt, context, raw) for raw in parsed.items]
        raws = [
            None if d in seen.keys else raw for d, raw in zip(digests, parsed.items, strict=True)
        ]
    else:
        digests = list(parsed.digests)
        unread = iter(parsed.items)
        raws = [None if d in seen.keys else next(unread) for d in digests]
    items: list[Item] = []
    entries: list[tuple[bytes, bytes]] = []
    first: set[bytes] = set()
    skipped: set[bytes] = set()
    for digest, raw in zip(digests, raws, strict=True):
        if raw is None:
            key = seen.keys[digest]
            skipped.add(key)
        else:
            item = normalize_module._general_item(raw, url, UNCLAMPED, lang)
            key = (
                NO_KEY
                if item is None
                else blake2b(item.key.encode("utf-8", "surrogatepass"), digest_size=SIZE).digest()
            )
            if item is not None and key not in skipped:
                items.append(item)
        if key == NO_KEY:
            entries.append((digest, key))
        elif key in first:
            entries.append((NEVER, key))
        else:
            first.add(key)
            entries.append((digest, key))
    return items, encode(entries)


def _same(parsed: ParsedFeed, url: str, lang: str | None, seen: SeenItems) -> bytes:
    items, blob = _unseen(parsed, url, lang, seen)
    expected_items, expected_blob = _reference(parsed, url, lang, seen)
    assert blob == expected_blob
    assert items == expected_items
    assert [repr(i) for i in items] == [repr(i) for i in expected_items]
    return blob


def _seen_variants(rng: random.Random, blob: bytes, url: str) -> list[SeenItems]:
    """Nothing, all, some, and a blob with its pairs shuffled and some never-skip."""
    pairs = [blob[at : at + 2 * SIZE] for at in range(0, len(blob), 2 * SIZE)]
    some = [p for p in pairs if rng.random() < 0.5]
    marked = [NEVER + p[SIZE:] if rng.random() < 0.3 else p for p in pairs]
    rng.shuffle(marked)
    blobs = [None, blob, b"".join(some), b"".join(marked)]
    return [SeenItems.load(b, url, None) for b in blobs]


@pytest.mark.parametrize("feed", range(0, 60, 7))
def test_farm_feeds_on_both_digest_paths(feed: int) -> None:
    rng = random.Random(feed)
    url = URL.format(feed)
    for version in range(3):
        body = farm.render_feed(feed, version)
        blob = _same(parse_feed(body, {}, url), url, None, SeenItems.load(None, url, None))
        previous = farm.render_feed(feed, version + 1)  # another version's digests
        old = _same(parse_feed(previous, {}, url), url, None, SeenItems.load(None, url, None))
        for seen in [*_seen_variants(rng, blob, url), SeenItems.load(old, url, None)]:
            _same(parse_feed(body, {}, url, seen=seen), url, "en", seen)  # the parser skips
            _same(parse_feed(body, {}, url), url, None, seen)  # _unseen digests


def test_duplicate_keys_and_empty_items() -> None:
    url = URL.format(1)
    parsed = parse_feed(farm.render_feed(1, 0), {}, url)
    items = list(parsed.items)
    rng = random.Random(2)
    odd = [
        RawItem(),  # normalizes to nothing
        RawItem(title=" ", summary="<p></p>"),
        replace(items[3], summary="<p>other text</p>"),  # an earlier item's key
        replace(items[5], guid=None),  # keyed by its link
        replace(items[5], guid=None, link=None),  # keyed by its content hash
        items[7],
    ]
    for _ in range(20):
        mixed = items + odd
        rng.shuffle(mixed)
        doc = replace(parsed, items=tuple(mixed))
        blob = _same(doc, url, None, SeenItems.load(None, url, None))
        for seen in _seen_variants(rng, blob, url):
            _same(doc, url, None, seen)


def test_fixture_feeds() -> None:
    headers = json.loads((DATA / "headers.json").read_text())
    paths = sorted(p for p in DATA.iterdir() if p.suffix in (".xml", ".rdf", ".json", ".html"))
    checked = 0
    for path in paths:
        url = f"https://feeds.example.com/path/{path.name}"
        try:
            parsed = parse_feed(path.read_bytes(), headers.get(path.name, {}), url)
        except Exception:  # not a feed: the parse tests' business
            continue
        blob = _same(parsed, url, None, SeenItems.load(None, url, None))
        seen = SeenItems.load(blob[: len(blob) // 2], url, None)
        _same(
            parse_feed(path.read_bytes(), headers.get(path.name, {}), url, seen=seen),
            url,
            None,
            seen,
        )
        checked += 1
    assert checked > 10


def test_key_digest_is_blake2b_of_the_key() -> None:
    rng = random.Random(3)
    keys = ["", "a", "farm-0-29", "https://news.example/a/1", "\ud800", "é" * 300]
    keys += [
        "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(0, 90)))
        for _ in range(2_000)
    ]
    for key in keys:
        expected = blake2b(key.encode("utf-8", "surrogatepass"), digest_size=SIZE).digest()
        assert key_digest(key) == expected
