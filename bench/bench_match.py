"""Benchmark of the topic matcher: items per second on one core.

    .venv/bin/python bench/bench_match.py [--items 20000] [--topics 1000]

Two rule sets: the default topics of feeds.yaml, and that plus generated
topics (1,000 in all by default). Each is measured with the real matcher
(one Aho-Corasick scan per item) and with a naive matcher that runs one
regular expression per concept of every topic over the same folded text, the
approach the automaton replaces. Targets: 50,000 items/s with the default
topics, 20,000 items/s with 1,000 topics.

The items are the labelled examples of tests/data/topics plus generated
headlines mixing topic vocabulary and filler, so most items hit some term and
some hit none. Nothing is timed in the test suite; this script is the measure.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.config import load_config  # noqa: E402
from bot.match.spec import TopicSpec  # noqa: E402
from bot.match.text import fold_plain, parse_term  # noqa: E402
from bot.match.topics import TopicMatcher  # noqa: E402

_FILLER = [
    "the", "of", "and", "city", "officials", "said", "on", "Monday", "after", "talks", "with",
    "government", "new", "plan", "report", "weather", "market", "prices", "rise", "fall", "local",
    "council", "school", "road", "bridge", "festival", "team", "wins", "Kyiv", "Berlin", "Tokyo",
    "Moscow", "minister", "president", "region", "morning", "week", "year", "people",
]  # fmt: skip
_SYLLABLES = [
    "ka", "ri", "to", "mo", "na", "se", "lu", "vi", "de", "po",
    "ga", "zu", "he", "bo", "ki", "ra", "ne", "su", "ta", "mi",
]  # fmt: skip


def labelled_items() -> list[tuple[str, str]]:
    items = []
    for path in sorted((REPO / "tests" / "data" / "topics").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            items.append((data["title"], data.get("summary", "")))
    return items


def generated_items(count: int, vocabulary: list[str], rng: random.Random) -> list[tuple[str, str]]:
    """Headlines of filler words; about a third carry one or two topic words.

    A real stream is mostly off-topic, but off-topic items still share words
    with topics ("strike", "pause", "defense"), so many items reach the rules.
    """
    items = []
    for _ in range(count):
        title = rng.choices(_FILLER, k=rng.randint(6, 11))
        summary = rng.choices(_FILLER, k=rng.randint(15, 25))
        for words in (title, summary):
            if rng.random() < 0.35:
                for _ in range(rng.randint(1, 2)):
                    words.insert(rng.randrange(len(words) + 1), rng.choice(vocabulary))
        items.append((" ".join(title).capitalize(), " ".join(summary).capitalize() + "."))
    return items


def made_up_word(rng: random.Random) -> str:
    # 3-4 syllables: 168,000 words, so topics share a term now and then, as real ones do
    return "".join(rng.choices(_SYLLABLES, k=rng.randint(3, 4)))


def generated_topics(count: int, rng: random.Random) -> dict[str, TopicSpec]:
    """Topics shaped like real ones: 3 concepts of 4-8 terms, all + any + not."""
    topics = {}
    for index in range(count):
        concepts = {
            name: {
                "terms": [
                    made_up_word(rng) + rng.choice(["", "*"]) for _ in range(rng.randint(4, 8))
                ]
            }
            for name in ("subject", "event", "noise")
        }
        topics[f"generated_{index}"] = TopicSpec.model_validate(
            {"concepts": concepts, "all": ["subject"], "any": ["event"], "not": ["noise"]}
        )
    return topics


class NaiveMatcher:
    """One regex per concept per topic, every topic tried on every item."""

    def __init__(self, topics: Mapping[str, TopicSpec]) -> None:
        self._topics = []
        for name, spec in topics.items():
            regexes = {
                concept_name: re.compile("|".join(_regex(term) for term in concept.terms))
                for concept_name, concept in spec.concepts.items()
            }
            self._topics.append((name, spec, regexes))

    def match(self, title: str, summary: str = "") -> list[str]:
        text = fold_plain(f"{title}\n{summary}")
        found = []
        for name, spec, regexes in self._topics:
            present = {c for c, regex in regexes.items() if regex.search(text)}
            if present & set(spec.none_of) or not set(spec.all_of) <= present:
                continue
            if not spec.any_of or present & set(spec.any_of):
                found.append(name)
        return found


def _regex(term: str) -> str:
    parts = []
    for pattern in parse_term(term):
        left = "" if pattern.left_free else r"(?<!\w)"
        right = "" if pattern.right_free else r"(?!\w)"
        parts.append(f"{left}{re.escape(pattern.key)}{right}")
    return "|".join(parts)


def items_per_second(match: Callable[[str, str], object], items: list[tuple[str, str]]) -> float:
    for title, summary in items[:200]:  # warm caches
        match(title, summary)
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for title, summary in items:
            match(title, summary)
        best = max(best, len(items) / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000, help="generated items per run")
    parser.add_argument("--topics", type=int, default=1_000, help="topics in the large rule set")
    args = parser.parse_args()
    rng = random.Random(4)
    defaults = dict(load_config(REPO / "feeds.yaml", env={}).file.topics)
    vocabulary = [
        term.strip("*").split("(")[0]
        for spec in defaults.values()
        for concept in spec.concepts.values()
        for term in concept.terms
    ]
    large = {**defaults, **generated_topics(args.topics - len(defaults), rng)}
    vocabulary += [
        t.strip("*")
        for s in list(large.values())[-50:]
        for c in s.concepts.values()
        for t in c.terms
    ]
    items = labelled_items() + generated_items(args.items, vocabulary, rng)
    rng.shuffle(items)
    print(f"{len(items)} items, one core, best of 3 runs")
    hit_rate = sum(bool(TopicMatcher.compile(defaults).match(*item)) for item in items) / len(items)
    print(f"{hit_rate:.0%} of the items match a default topic")
    # worst case: only the labelled examples, nearly all on-topic or near misses
    dense = items_per_second(TopicMatcher.compile(defaults).match, labelled_items() * 20)
    print(f"labelled examples only (dense, default topics): {dense:,.0f} items/s")
    for label, topics, target in (
        ("default topics", defaults, 50_000),
        (f"{len(large)} topics", large, 20_000),
    ):
        start = time.perf_counter()
        matcher = TopicMatcher.compile(topics)
        compile_s = time.perf_counter() - start
        fast = items_per_second(matcher.match, items)
        naive_items = items[: max(500, len(items) // (20 if len(topics) > 100 else 1))]
        naive = items_per_second(NaiveMatcher(topics).match, naive_items)
        verdict = "ok" if fast >= target else f"BELOW TARGET {target:,}"
        print(
            f"{label:>16}: automaton {fast:>9,.0f} items/s ({verdict}), "
            f"naive regex {naive:>8,.0f} items/s, ratio {fast / naive:5.1f}x, "
            f"compile {compile_s * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
