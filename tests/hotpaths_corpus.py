"""Corpora and stage outputs for tests/test_hotpaths_equivalence.py.

The pure hot paths of ingestion (normalize, fold, topic matching, fingerprints,
story assignment) were made faster without changing a single output. To hold
them to that, tests/data/hotpaths/expected.json keeps, for every corpus and
stage, a digest of all outputs of the implementation before the speed-up, plus
one hash byte per record so a mismatch names the record that differs.

    .venv/bin/python -m tests.hotpaths_corpus --write   # re-record (only from trusted code)

Corpora: the bench farm's feeds (the cold cycle's text), the parse fixtures,
the real-world feeds of ../shared/feeds and the labelled sets of
../shared/devset (when present), the labelled stories and topic examples, and
seeded random text and links built to hit every branch of the fast paths
(markup, entities, NFKC, dashes, invisible characters, casefold surprises).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench import farm
from bot.feeds.normalize import canonical_url, html_to_text, normalize_item, normalize_text
from bot.feeds.parse import parse_feed
from bot.match import similarity, text
from bot.match.cluster import StoryCandidate, StoryIndex
from bot.match.spec import TopicSpec
from bot.match.topics import TopicMatcher
from bot.types import Item, RawItem

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
SHARED = REPO.parent / "shared"
EXPECTED = DATA / "hotpaths" / "expected.json"
#: a frozen copy of feeds.yaml's topics, so editing the defaults does not move the reference
TOPICS = DATA / "hotpaths" / "topics.yaml"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FARM_FEEDS = 40
FUZZ_TEXTS = 800
FUZZ_URLS = 1000


@dataclass(frozen=True, slots=True)
class Record:
    """One input: a raw item as the parser gives it, and the feed it came from."""

    label: str
    raw: RawItem
    feed_url: str
    feed_id: int
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class Outputs:
    """Per stage, one repr per record, in corpus order."""

    stages: dict[str, list[str]]
    labels: list[str]


def matcher() -> TopicMatcher:
    topics = yaml.safe_load(TOPICS.read_text(encoding="utf-8"))["topics"]
    return TopicMatcher.compile({k: TopicSpec.model_validate(v) for k, v in topics.items()})


# --- corpora ---------------------------------------------------------------------------------


def farm_records() -> list[Record]:
    records = []
    for feed in range(FARM_FEEDS):
        url = f"http://127.0.0.1:8080/f/{feed}.xml"
        parsed = parse_feed(farm.render_feed(feed, feed % 3), {}, url)
        records += [
            Record(f"farm {feed}/{i}", raw, url, feed) for i, raw in enumerate(parsed.items)
        ]
    return records


def _feed_records(paths: list[Path], headers: dict[str, dict[str, str]]) -> list[Record]:
    records = []
    for feed_id, path in enumerate(paths):
        url = f"https://feeds.example.com/path/{path.name}"
        try:
            parsed = parse_feed(path.read_bytes(), headers.get(path.name, {}), url)
        except Exception:  # not a feed, or nothing recoverable: not this harness's business
            continue
        records += [
            Record(f"{path.name}/{i}", raw, url, feed_id, parsed.lang)
            for i, raw in enumerate(parsed.items)
        ]
    return records


def fixture_records() -> list[Record]:
    folder = DATA / "feeds"
    headers = {
        k: v
        for k, v in json.loads((folder / "headers.json").read_text()).items()
        if not k.startswith("_")
    }
    paths = sorted(p for p in folder.iterdir() if p.suffix in (".xml", ".rdf", ".json", ".html"))
    return _feed_records([p for p in paths if p.name != "headers.json"], headers)


def shared_feed_records() -> list[Record]:
    return _feed_records(sorted((SHARED / "feeds").iterdir()), {})


def _jsonl_records(paths: list[Path]) -> list[Record]:
    records = []
    feeds: dict[str, int] = {}
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            data = json.loads(line)
            when = data.get("published_at")
            raw = RawItem(
                title=data.get("title"),
                summary=data.get("summary"),
                guid=data.get("id"),
                published=datetime.fromisoformat(when.replace("Z", "+00:00")) if when else None,
            )
            feed = feeds.setdefault(data.get("feed", path.name), len(feeds))
            records.append(Record(f"{path.name}:{n + 1}", raw, "", feed, data.get("lang")))
    return records


def labelled_records() -> list[Record]:
    stories = DATA / "stories"
    paths = sorted(stories.glob("*.jsonl")) + sorted((stories / "holdout").glob("*.jsonl"))
    paths += [*sorted((DATA / "topics").glob("*.jsonl")), DATA / "topics-heldout.jsonl"]
    return _jsonl_records(paths)


def devset_records() -> list[Record]:
    return _jsonl_records(sorted((SHARED / "devset").glob("*.jsonl")))


#: pieces random text is built from: each one exercises a branch of normalize or fold
_PIECES = [
    "abcxyz", "ABC", "", ".", ",", ";", ":", "!", "?", "(", ")", '"', "'", "…", "0", "7", "42",
    " ", " ", " ", "\n", "\n\n", "\t", "\r\n", "\x00", "\u00a0", "\u3000", "\u2028",
    "<p>", "</p>", "<P >", "<br/>", "<br>", "</ br>", "<div>", "<li>", "<b>", "</b>", "<em>",
    '<a href="https://x.example/?a=1&amp;b=2">', "</a>", "<script>var a = '<p>';</script>",
    "<style>p{}</style>", "<!-- note -->", "<![CDATA[x]]>", "<img src=x />", "<", ">", "< p>",
    "<title>t</title>", "<svg><text>s</text></svg>", "<p/>", "</p/>", "<h2>", "<tr><td>",
    "&amp;", "&lt;p&gt;", "&#8212;", "&#x2013;", "&nbsp;", "&bogus;", "&", "&amp;lt;", "&quot;",
    "&#39;", "&hellip;", "&shy;", "&#0;", "&#xD800;", "&amp", "&ZeroWidthSpace;",
    "ＰＡＴＲＩＯＴ", "ﾊﾟﾄﾘｵｯﾄ", "ｶﾞ", "ﬁ", "ﬃ", "ß", "ẞ", "ё", "Ё", "İ", "ı", "ς", "Σ", "ŉ",
    "é", "e\u0301", "\u0301", "a\u0308\u0323", "ǅ", "Å", "ﬅ", "㎞", "①", "½", "™", "ｱ", "\uff9e",
    "’", "‘", "ʼ", "`", "´", "ʹ", "-", "‐", "‑", "‒", "–", "—", "―", "−", " – ", " - ", "・",
    "ー", "\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u0085", "\x0b", "\x0c",
    "Patriot", "patriotic", "IRIS-T", "IRIS‑T", "NASAMS", "air defence", "air – defence",
    "air-defense", "drones", "drone strike", "missile", "ракетами", "ракета", "Київ", "Харкові",
    "ППО", "Flugabwehr", "Luftabwehrsystem", "stellt", "ein", "Lieferungen", "パトリオット",
    "迎撃", "ミサイル", "インターセプター", "防空", "ウクライナ", "青森県沖", "の", "が",
    "shipment", "pause", "halt", "joint venture", "co-production", "attack", "Kyiv", "Odesa",
    "Russia's", "п'ять", "п’ять", "don't", "l'été", "Ärger", "Straße", "Ωmega", "😀", "🇺🇦",
]  # fmt: skip


def _fuzz_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(size))


def fuzz_text_records() -> list[Record]:
    rng = random.Random(20261127)
    records = []
    for n in range(FUZZ_TEXTS):
        raw = RawItem(
            title=_fuzz_text(rng, rng.randint(0, 30)),
            summary=_fuzz_text(rng, rng.choice((0, 5, 40, 120, 250))),
            guid=f"fuzz-{n}" if n % 3 else None,
        )
        records.append(Record(f"fuzz text {n}", raw, "https://fuzz.example/feed.xml", n % 7))
    return records


_SCHEMES = [
    "https://",
    "http://",
    "HTTPS://",
    "Http://",
    "ftp://",
    "//",
    "",
    "mailto:",
    "javascript:",
]
_HOSTS = [
    "news.example.org", "News.Example.ORG", "example.com.", "user:pw@h.example", "@h.example",
    "[::1]", "[2001:DB8::1]", "[::1", "127.0.0.1", "xn--bcher-kva.example", "bücher.example",
    "h.example:443", "h.example:80", "h.example:8080", "h.example:", "h.example:99999",
    "h.example:abc", "", "h.example%2F",
]  # fmt: skip
_PATHS = ["", "/", "/a/1", "/A/b c", "/a;p=1", "/a/../b", "/%7Euser", "a/rel", "../up", "/ü"]
_QUERY = [
    "utm_source=rss", "UTM_Medium=x", "fbclid=1", "gclid", "a=1", "b=2", "ref=home", "x=",
    "=y", "", "wt.mc_id=7", "WT.mc_id=8", "utm%5Fsource=z", "at_medium=RSS", "q=a+b", "c=%20",
    "_ga=2", "ns_source=x", "cmp=1", "ref_src=t", "smid=tw", "ok=1&", "a=1#x",
]  # fmt: skip
_BASES = [
    None, "", "https://feeds.example.com/path/feed.xml", "http://Base.Example:80/dir/",
    "https://base.example/a;b?c#d", "feed.xml", "  https://b.example/x  ",
]  # fmt: skip


def _fuzz_url(rng: random.Random) -> str:
    url = rng.choice(_SCHEMES) + rng.choice(_HOSTS) + rng.choice(_PATHS)
    if rng.random() < 0.7:
        url += "?" + "&".join(rng.choice(_QUERY) for _ in range(rng.randint(0, 5)))
    if rng.random() < 0.3:
        url += rng.choice(["#frag", "#", "#a?b"])
    if rng.random() < 0.2:
        url = rng.choice([" ", "\t", "\n "]) + url + rng.choice(["", " ", "\n"])
    return url


def fuzz_url_records() -> list[Record]:
    rng = random.Random(71)
    records = []
    for n in range(FUZZ_URLS):
        raw = RawItem(title=f"t{n % 5}", link=_fuzz_url(rng), guid=None if n % 2 else f"g{n}")
        base = rng.choice(_BASES)
        records.append(Record(f"fuzz url {n}", raw, base or "", 0))
    return records


def corpora() -> dict[str, Callable[[], list[Record]]]:
    """Every corpus, by name; the optional ones only when ../shared holds them."""
    found: dict[str, Callable[[], list[Record]]] = {
        "farm": farm_records,
        "fixtures": fixture_records,
        "labelled": labelled_records,
        "fuzz-text": fuzz_text_records,
        "fuzz-url": fuzz_url_records,
    }
    if (SHARED / "feeds").is_dir():
        found["shared-feeds"] = shared_feed_records
    if (SHARED / "devset").is_dir():
        found["devset"] = devset_records
    return found


# --- stages ----------------------------------------------------------------------------------


def _item_repr(item: Item | None, epoch: datetime | None) -> str:
    if item is not None and epoch is not None:
        # the farm dates its items from when it was imported: keep only the offset
        return repr((replace(item, published_at=NOW), item.published_at - epoch))
    return repr(item)


def _fingerprint_repr(fp: similarity.Fingerprint) -> str:
    return repr((sorted(fp.title), sorted(fp.words), fp.signature.values.hex(), fp.has_summary))


def outputs(name: str, records: list[Record]) -> Outputs:
    """Every stage's output for every record of one corpus."""
    epoch = farm.BASE_TIME if name == "farm" else None
    now = farm.BASE_TIME + timedelta(hours=6) if name == "farm" else NOW
    topic_matcher = matcher()
    index = StoryIndex()
    stages: dict[str, list[str]] = {
        k: [] for k in ("normalize", "text", "url", "fold", "match", "fingerprint", "assign")
    }
    latest = now - timedelta(days=30)
    for record in records:
        raw = record.raw
        item = normalize_item(raw, feed_url=record.feed_url, now=now, lang=record.lang)
        stages["normalize"].append(_item_repr(item, epoch))
        title, summary = raw.title or "", raw.summary or ""
        stages["text"].append(
            repr((normalize_text(title), normalize_text(summary, keep_lines=True)))
            + repr(html_to_text(summary) if summary else None)
        )
        stages["url"].append(repr(canonical_url(raw.link, record.feed_url or None)))
        stages["fold"].append(
            repr(text.fold(f"{title}\x00{summary}"))
            + repr((similarity.fold(title), similarity.tokens(summary)))
        )
        # the raw text (fuzz: every oddity) and the normalized item (what the bot matches)
        found = topic_matcher.match(title, summary, record.lang)
        if item is not None:
            found += topic_matcher.match_item(item)
        stages["match"].append(repr(found))
        if item is None or name == "fuzz-url":  # fuzz-url: five titles, one big story
            stages["fingerprint"].append("")
            stages["assign"].append("")
            continue
        fp = similarity.Fingerprint.of(item.title, item.summary)
        stages["fingerprint"].append(_fingerprint_repr(fp))
        # story assignment, in corpus order, as the pipeline does it
        latest = max(latest, item.published_at)
        when = latest + timedelta(minutes=1)
        story = index.assign(
            fp, lang=item.lang, feed_id=record.feed_id, published_at=item.published_at, now=when
        )
        story_id = story.story_id if story else len(stages["assign"])
        member = StoryCandidate.of(story_id, record.feed_id, item.published_at, fp, item.lang)
        index.add(member)
        stages["assign"].append(repr(story))
    return Outputs(stages, [r.label for r in records])


# --- digests ---------------------------------------------------------------------------------


def digests(out: list[str]) -> dict[str, object]:
    """A digest of all outputs, and one hash byte per output (base64) to find a mismatch."""
    hashes = [hashlib.sha256(o.encode("utf-8", "surrogatepass")).digest() for o in out]
    whole = hashlib.sha256(b"".join(hashes)).hexdigest()
    return {
        "n": len(out),
        "sha256": whole,
        "bytes": base64.b64encode(bytes(h[0] for h in hashes)).decode(),
    }


def mismatches(expected: dict[str, object], out: list[str]) -> Iterator[int]:
    """Indexes of outputs whose hash byte differs from the recorded one."""
    recorded = base64.b64decode(str(expected["bytes"]))
    for i, (want, o) in enumerate(zip(recorded, out, strict=False)):
        if hashlib.sha256(o.encode("utf-8", "surrogatepass")).digest()[0] != want:
            yield i


def record_all() -> dict[str, dict[str, dict[str, object]]]:
    result = {}
    for name, build in corpora().items():
        out = outputs(name, build())
        result[name] = {stage: digests(values) for stage, values in out.stages.items()}
        print(f"{name}: {len(out.labels)} records", file=sys.stderr)
    return result


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    EXPECTED.write_text(json.dumps(record_all(), indent=1, sort_keys=True) + "\n")
