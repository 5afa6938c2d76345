"""The matcher's shortcuts change no result: gates, the automaton's key order, folding.

A topic is only looked at when the scan saw every concept it needs (`_Gate`);
the reference here is the same matcher made to look at every topic, as it did
before the gates, on random topics and text built from terms that hit, miss by
a word boundary, or need their parts joined.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from bench import farm
from bot.config import load_config
from bot.feeds.normalize import normalize_item
from bot.feeds.parse import parse_feed
from bot.feeds.prepare import UNCLAMPED
from bot.match.evaluate import load_labelled
from bot.match.hits import whole_word
from bot.match.spec import TopicSpec
from bot.match.text import _fold_slowly, fold, is_word_char
from bot.match.topics import _SPACE_KEY, TopicMatcher
from bot.types import Match

from ..conftest import REPO, SHARED

TERMS = [
    *("drone(s)", "missile(s)", "attack(s|ed)", "strike(s)", "ракет*", "*abwehr*", "*abwehr"),
    *("パトリオット", "迎撃", "stellt ... ein", "(nimmt|nehmen) ... wieder auf", "fing ... ab"),
    *("air defen(c|s)e", "Patriot(s)", "Patriot Act", "aid", "sale(s)", "shot down", "IRIS-T"),
    *("hit(s)", "no damage", "*lieferung(en)", "Lieferstopp", "*stopp", "system(s)"),
]
WORDS = [
    *("drones", "drone", "missiles", "attacked", "strikes", "ракетами", "Тракетор", "Patriot"),
    *("Flugabwehrsystem", "Luftabwehr", "パトリオット", "迎撃した", "stellt", "ein", "nehmen"),
    *("wieder", "auf", "fing", "ab", "about", "air", "defence", "air-defense", "Patriots"),
    *("patriotic", "Act", "aid", "said", "sales", "shot", "down", "IRIS‑T", "hit", "no"),
    *("damage", "Waffenlieferungen", "Lieferstopp", "systems", "the", "and", "und", "in"),
]
GLUE = [" ", " ", " ", " ", ". ", ", ", " – ", ": ", "-", "\n"]
WINDOWS = ["sentence", "3 words", "20 chars", "field", "item"]
DEVSET = SHARED / "devset" / "topics-dev.jsonl"


def random_topics(rng: random.Random) -> dict[str, TopicSpec]:
    topics = {}
    for n in range(rng.randint(1, 4)):
        names = [f"c{i}" for i in range(rng.randint(2, 5))]
        concepts: dict[str, Any] = {}
        for name in names:
            terms = rng.sample(TERMS, rng.randint(1, 3))
            if rng.random() < 0.3:
                near = rng.sample([c for c in names if c != name], 1)
                concepts[name] = {"terms": terms, "near": near, "within": rng.choice(WINDOWS)}
            else:
                concepts[name] = terms
        shuffled = rng.sample(names, len(names))
        cut = rng.randint(0, len(names) - 1)
        spec: dict[str, Any] = {"concepts": concepts, "threshold": rng.choice([0, 1, 2, 3])}
        if cut or rng.random() < 0.5:
            spec["all"] = shuffled[: max(cut, 1)]
        rest = shuffled[max(cut, 1) :]
        if rest and ("all" not in spec or rng.random() < 0.5):
            spec["any"] = rest[: rng.randint(1, len(rest))]
            rest = rest[len(spec["any"]) :]
        if rest and rng.random() < 0.5:
            spec["not"] = rest[:1]
        topics[f"t{n}"] = TopicSpec.model_validate(spec)
    return topics


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(WORDS) + rng.choice(GLUE) for _ in range(rng.randint(1, 30)))


def ungated(topics: dict[str, TopicSpec]) -> TopicMatcher:
    """The reference: a matcher that looks at every topic, whatever the scan saw (as
    before the gates, which looked at every topic with a hit: a topic needs `all` or
    `any`, so one without a hit never matches)."""
    reference = TopicMatcher.compile(topics)
    everyone = tuple(range(len(topics)))
    reference._candidates = lambda seen: everyone  # type: ignore[method-assign]
    return reference


def compare(topics: dict[str, TopicSpec], texts: list[tuple[str, str]]) -> list[list[Match]]:
    gated, reference = TopicMatcher.compile(topics), ungated(topics)
    results = [gated.match(title, summary) for title, summary in texts]
    assert results == [reference.match(title, summary) for title, summary in texts]
    return results


def test_gates_change_no_result_on_random_topics() -> None:
    rng = random.Random(11)
    matches = rejected = 0
    for _ in range(300):
        topics = random_topics(rng)
        texts = [(random_text(rng), random_text(rng)) for _ in range(20)]
        results = compare(topics, texts)
        matches += sum(map(len, results))
        gated = TopicMatcher.compile(topics)
        for title, summary in texts:
            _, seen = gated._scan(fold(f"{title}\x00{summary}"), f"{title}\x00{summary}")
            rejected += seen != 0 and not gated._candidates(seen)
    # the comparison can fail: both outcomes are frequent
    assert matches > 1000
    assert rejected > 500


@pytest.fixture(scope="module")
def default_topics() -> dict[str, TopicSpec]:
    return load_config(REPO / "feeds.yaml", env={}).file.topics


def farm_texts(feeds: int) -> list[tuple[str, str]]:
    """(title, summary) of the bench farm's first `feeds` feeds' items, normalized."""
    texts = []
    for feed in range(feeds):
        url = f"http://127.0.0.1:8080/f/{feed}.xml"
        for raw in parse_feed(farm.render_feed(feed, 0), {}, url).items:
            item = normalize_item(raw, feed_url=url, now=UNCLAMPED)
            assert item is not None
            texts.append((item.title, item.summary))
    return texts


def test_gates_change_no_result_on_the_farms_items(default_topics: dict[str, TopicSpec]) -> None:
    assert sum(map(len, compare(default_topics, farm_texts(40)))) > 20


def test_gates_change_no_result_on_the_devset(default_topics: dict[str, TopicSpec]) -> None:
    paths = [REPO / "tests" / "data" / "topics-heldout.jsonl"]
    if DEVSET.exists():  # ../shared, when the checkout has it
        paths.append(DEVSET)
    texts = [(e["title"], e["summary"]) for path in paths for e in load_labelled(path)]
    assert sum(map(len, compare(default_topics, texts))) > 50


def test_the_space_key_never_hits(default_topics: dict[str, TopicSpec]) -> None:
    automaton = TopicMatcher.compile(default_topics)._automaton
    assert automaton.exists(_SPACE_KEY)
    rng = random.Random(3)
    texts = ["A A", "Air ALARM", " A", "ＡＢ Ａ", *(random_text(rng) for _ in range(200))]
    for text in texts:
        assert all(shapes for _, (_, _, shapes) in automaton.iter(fold(text).text))


ASCII_PIECES = ["air", "Defense", " ", "-", " - ", "`", "\t", "\n", "\r", "\f", "\v", "'", "."]


def test_the_ascii_path_of_fold_folds_as_the_slow_path() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        text = "".join(rng.choice(ASCII_PIECES) for _ in range(rng.randint(0, 12)))
        fast = fold(text)
        assert fast.text == _fold_slowly(text).text, text
        assert fast.starts is None


def test_whole_word_widens_as_is_word_char_says() -> None:
    rng = random.Random(9)
    for _ in range(2000):
        text = random_text(rng)
        start = rng.randrange(len(text))
        end = rng.randint(start, len(text))
        lo, hi = start, end
        while lo > 0 and is_word_char(text[lo - 1]):
            lo -= 1
        while hi < len(text) and is_word_char(text[hi]):
            hi += 1
        assert whole_word(text, start, end) == (lo, hi)


def test_each_matcher_remembers_its_own_topics() -> None:
    rng = random.Random(13)
    first, second = random_topics(rng), random_topics(rng)
    texts = [(random_text(rng), random_text(rng)) for _ in range(50)]
    one, other, reference = (
        TopicMatcher.compile(first),
        TopicMatcher.compile(second),
        ungated(second),
    )
    for title, summary in texts:
        one.match(title, summary)
    assert [other.match(t, s) for t, s in texts] == [reference.match(t, s) for t, s in texts]
