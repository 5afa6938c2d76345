"""Benchmark: story assignment into a 48 h StoryIndex vs naive all-pairs exact Jaccard.

Generates N items (default 10,000) spread over 48 hours: stories of 1 to 6
reports, each report drawing most of its words from its story's vocabulary and
the rest from a Zipf-like common vocabulary, so unrelated items share frequent
words as real headlines do. Both methods see the same items in the same order,
with the same thresholds; the baseline compares each item with every earlier one.

    .venv/bin/python bench/bench_cluster.py [--items 10000] [--baseline-items 10000]

Prints items/s for each, the ratio, the mean number of candidates the index
verified per item, how often the two methods put a pair together alike, and the
memory the index holds for the items of one window (tracemalloc: the Python
objects the index keeps, fingerprints included).
Times are CPU seconds of this process (time.process_time): the machine is shared,
and wall time moved by a factor of two with the load of other jobs.
"""

from __future__ import annotations

import argparse
import itertools
import random
import string
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.match.cluster import StoryCandidate, StoryIndex, best_story
from bot.match.similarity import Fingerprint, jaccard
from bot.match.thresholds import DEFAULT

T0 = datetime(2026, 11, 10, tzinfo=UTC)
WINDOW_S = 48 * 3600


@dataclass(frozen=True, slots=True)
class Gen:
    story: int
    feed: int
    at: datetime
    title: str
    summary: str


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 10)))


def generate(n: int, seed: int = 7) -> list[Gen]:
    """N items over 48 h; stories of 1-6 reports from different feeds within a few hours."""
    rng = random.Random(seed)
    common = [_word(rng) for _ in range(3000)]
    weights = [1 / (rank + 1) for rank in range(len(common))]
    items: list[Gen] = []
    story = 0
    while len(items) < n:
        vocab = [_word(rng) for _ in range(14)]
        start = rng.uniform(0, WINDOW_S - 6 * 3600)
        for feed in rng.sample(range(200), rng.randint(1, 6)):
            own = rng.sample(vocab, 9)
            noise = rng.choices(common, weights, k=7)
            words = own + noise
            rng.shuffle(words)
            at = T0 + timedelta(seconds=start + rng.uniform(0, 6 * 3600))
            items.append(Gen(story, feed, at, " ".join(words[:7]), " ".join(words[7:])))
        story += 1
    items = items[:n]
    items.sort(key=lambda g: g.at)
    return items


def run_index(items: Sequence[Gen], min_hits: int) -> tuple[list[int], float, float]:
    """Assign with StoryIndex: (story per item, seconds, mean candidates per query)."""
    index = StoryIndex(replace(DEFAULT, lsh_min_hits=min_hits))
    out: list[int] = []
    candidates = 0
    t = time.process_time()
    for g in items:
        fp = Fingerprint.of(g.title, g.summary)
        index.evict(g.at)
        found = index.query(fp.signature)
        candidates += len(found)
        match = best_story(
            fp, lang="en", feed_id=g.feed, published_at=g.at, candidates=found, now=g.at
        )
        story = match.story_id if match else len(out)
        out.append(story)
        index.add(StoryCandidate.of(story, g.feed, g.at, fp, "en"))
    return out, time.process_time() - t, candidates / max(1, len(items))


def run_naive(items: Sequence[Gen]) -> tuple[list[int], float]:
    """Every earlier item in the window is compared with exact Jaccard."""
    limits = DEFAULT.for_lang("en")
    # (timestamp, feed, words, story): plain floats and ints, so the baseline is not
    # slowed down by datetime arithmetic in its inner loop
    seen: list[tuple[float, int, frozenset[str], int]] = []
    out: list[int] = []
    t = time.process_time()
    for g in items:
        words = Fingerprint.of(g.title, g.summary).words
        at = g.at.timestamp()
        best, story = limits.min_similarity, len(out)
        for other_at, other_feed, other_words, other_story in seen:
            if at - other_at > WINDOW_S:
                continue
            margin = limits.same_feed_margin if other_feed == g.feed else 0.0
            score = jaccard(words, other_words) - margin
            if score >= best and len(words & other_words) >= limits.min_shared:
                best, story = score, other_story
        out.append(story)
        seen.append((at, g.feed, words, story))
    return out, time.process_time() - t


def index_memory(items: Sequence[Gen]) -> int:
    """Bytes held by a StoryIndex of all the items (one window), as the pipeline fills it."""
    tracemalloc.start()
    try:
        index = StoryIndex()
        for n, g in enumerate(items):
            fp = Fingerprint.of(g.title, g.summary)
            index.add(StoryCandidate.of(n, g.feed, g.at, fp, "en"))
        del fp
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return held


def pair_scores(items: Sequence[Gen], stories: Sequence[int]) -> tuple[float, float]:
    """Pairwise precision and recall against the generated story labels."""
    both = Counter((g.story, s) for g, s in zip(items, stories, strict=True))
    tp = sum(n * (n - 1) // 2 for n in both.values())
    predicted = sum(n * (n - 1) // 2 for n in Counter(stories).values())
    labelled = sum(n * (n - 1) // 2 for n in Counter(g.story for g in items).values())
    return tp / max(1, predicted), tp / max(1, labelled)


def agreement(a: Sequence[int], b: Sequence[int]) -> float:
    """Share of item pairs grouped together by either method that both group together."""
    together_a = {p for p in _pairs(a)}
    together_b = {p for p in _pairs(b)}
    union = together_a | together_b
    return len(together_a & together_b) / len(union) if union else 1.0


def _pairs(stories: Sequence[int]) -> set[tuple[int, int]]:
    by_story: dict[int, list[int]] = {}
    for i, s in enumerate(stories):
        by_story.setdefault(s, []).append(i)
    return {p for members in by_story.values() for p in itertools.combinations(members, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--baseline-items", type=int, default=10_000)
    args = parser.parse_args()
    items = generate(args.items)
    t = time.process_time()
    for g in items:
        Fingerprint.of(g.title, g.summary)
    fp_rate = len(items) / (time.process_time() - t)
    print(f"fingerprint only: {fp_rate:,.0f} items/s")
    runs = {hits: run_index(items, hits) for hits in (DEFAULT.lsh_min_hits, 1, 2) if hits}
    for hits, (stories, secs, cands) in runs.items():
        p, r = pair_scores(items, stories)
        print(f"index, {hits} band hit(s): {len(items)} items in {secs:.2f} s")
        print(
            f"        = {len(items) / secs:,.0f} items/s, {cands:.1f} candidates verified per item,"
        )
        print(f"        pairwise P {p:.3f} R {r:.3f}")
    stories, secs, _ = runs[DEFAULT.lsh_min_hits]
    base_items = items[: args.baseline_items]
    base, base_secs = run_naive(base_items)
    bp, br = pair_scores(base_items, base)
    rate = len(base_items) / base_secs
    print(f"naive all-pairs exact Jaccard: {len(base_items)} items in {base_secs:.2f} s")
    print(f"        = {rate:,.0f} items/s, pairwise P {bp:.3f} R {br:.3f}")
    print(
        f"ratio : the default index ({DEFAULT.lsh_min_hits} hits) runs at "
        f"{len(items) / secs / rate:.1f}x the naive rate"
    )
    print(f"agreement with naive on pairs grouped: {agreement(stories[: len(base)], base):.3f}")
    held = index_memory(items)
    print(
        f"index memory: {held / 1e6:.1f} MB for {len(items)} members"
        f" = {held / len(items) / 1024:.1f} KiB/member, band table included"
    )


if __name__ == "__main__":
    main()
