"""Story assignment, the LSH index and DisjointSet (bot/match/cluster.py), on a fixed clock."""

from __future__ import annotations

import random
import string
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.match.backtest import LabelledItem, load_items
from bot.match.cluster import (
    DisjointSet,
    StoryCandidate,
    StoryIndex,
    assign_story,
    best_story,
    similarity,
)
from bot.match.similarity import Fingerprint, jaccard
from bot.match.thresholds import DEFAULT, ClusterConfig, Thresholds

STORIES = Path(__file__).resolve().parent.parent / "data" / "stories"
T0 = datetime(2026, 11, 10, 23, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def labelled() -> dict[str, LabelledItem]:
    return {i.id: i for i in load_items([STORIES])}


def fp(item: LabelledItem) -> Fingerprint:
    return Fingerprint.of(item.title, item.summary)


def member(item: LabelledItem, story_id: int, feed_id: int = 1) -> StoryCandidate:
    return StoryCandidate.of(story_id, feed_id, item.published_at, fp(item), item.lang)


def assign(
    item: LabelledItem,
    candidates: list[StoryCandidate],
    feed_id: int = 2,
    config: ClusterConfig = DEFAULT,
) -> int | None:
    """Assign `item` as if it arrived the moment it was published."""
    return assign_story(
        fp(item),
        lang=item.lang,
        feed_id=feed_id,
        published_at=item.published_at,
        candidates=candidates,
        now=item.published_at,
        config=config,
    )


# Each case: (first report, later report from another outlet, a distractor story
# from the same night or day that shares the vocabulary).
CROSS_OUTLET = {
    "en-kyiv-drones": ("en-01a", "en-01c", "en-02a"),
    "en-patriot": ("en-03a", "en-03b", "en-04a"),
    "de-drones-odessa": ("de-01a", "de-01b", "de-02a"),
    "de-patriot": ("de-06a", "de-06b", "de-07a"),
    "uk-kyiv-drones": ("uk-01a", "uk-01c", "uk-02a"),
    "uk-rada-votes": ("uk-09a", "uk-09b", "uk-08a"),
    "ru-kyiv-drones": ("ru-01a", "ru-01b", "ru-02a"),
    "ru-sanctions": ("ru-09a", "ru-09c", "ru-10a"),
    "ja-kyiv-drones": ("ja-03a", "ja-03b", "ja-04a"),
    "ja-rates": ("ja-05a", "ja-05b", "ja-06a"),
}


@pytest.mark.parametrize(("first", "later", "distractor"), CROSS_OUTLET.values(), ids=CROSS_OUTLET)
def test_joins_across_outlets_not_distractors(
    labelled: dict[str, LabelledItem], first: str, later: str, distractor: str
) -> None:
    story = member(labelled[first], story_id=7)
    other = member(labelled[distractor], story_id=8, feed_id=3)
    assert assign(labelled[later], [story, other]) == 7
    assert assign(labelled[distractor], [story]) is None


def _pair(hours_apart: float) -> tuple[LabelledItem, LabelledItem]:
    base = LabelledItem(
        "x", "g", "en", "A", T0, "Russian drones hit Kyiv overnight", "Three people were killed."
    )
    later = replace(base, id="y", feed="B", published_at=T0 + timedelta(hours=hours_apart))
    return base, later


@pytest.mark.parametrize(("hours", "joins"), [(1, True), (47.9, True), (48.1, False), (96, False)])
def test_time_window(hours: float, joins: bool) -> None:
    first, later = _pair(hours)
    assert (assign(later, [member(first, 5)]) == 5) is joins


def test_window_also_counts_from_now() -> None:
    # A late-arriving item from the same hour as an old member: close to it, but
    # the member is out of the window at `now`, as if the index had evicted it.
    first, later = _pair(0.5)
    got = assign_story(
        fp(later),
        lang="en",
        feed_id=2,
        published_at=later.published_at,
        candidates=[member(first, 5)],
        now=T0 + 49 * H,
    )
    assert got is None


def test_window_is_configurable() -> None:
    first, later = _pair(30)
    short = replace(DEFAULT, window=timedelta(hours=24))
    assert assign(later, [member(first, 5)]) == 5
    assert assign(later, [member(first, 5)], config=short) is None


def test_prefers_cross_outlet_member_over_equal_same_feed_member() -> None:
    first, later = _pair(1)
    same_feed = member(first, story_id=1, feed_id=2)
    cross = member(first, story_id=2, feed_id=9)
    for candidates in ([same_feed, cross], [cross, same_feed]):
        match = best_story(
            fp(later),
            lang="en",
            feed_id=2,
            published_at=later.published_at,
            candidates=candidates,
            now=later.published_at,
        )
        assert match is not None
        assert (match.story_id, match.same_feed) == (2, False)


def test_same_feed_update_joins_its_own_story() -> None:
    first, later = _pair(2)
    update = replace(later, title="UPDATE: " + later.title, feed="A")
    assert assign(update, [member(first, 5, feed_id=2)], feed_id=2) == 5


def test_same_feed_needs_the_margin(labelled: dict[str, LabelledItem]) -> None:
    # en-01a and en-02a are both Northwind (Kyiv vs Kharkiv drones, 0.22). Drop the
    # language threshold below their score: cross-feed they merge, same-feed not.
    loose = replace(DEFAULT, by_lang={"en": Thresholds(0.20, 0.30, same_feed_margin=0.10)})
    kyiv, kharkiv = labelled["en-01a"], labelled["en-02a"]
    assert assign(kharkiv, [member(kyiv, 1, feed_id=2)], feed_id=3, config=loose) == 1
    assert assign(kharkiv, [member(kyiv, 1, feed_id=2)], feed_id=2, config=loose) is None


def test_other_language_never_joins() -> None:
    first, later = _pair(1)
    german = replace(first, lang="de")
    assert assign(later, [member(german, 5)]) is None
    assert assign(replace(later, lang="en-GB"), [member(first, 5)]) == 5


def test_title_only_compares_titles(labelled: dict[str, LabelledItem]) -> None:
    a, b = labelled["en-12a"], labelled["en-12b"]  # ZNPP power cut, two outlets
    match = best_story(
        Fingerprint.of(b.title),
        lang="en",
        feed_id=2,
        published_at=b.published_at,
        candidates=[member(a, 3)],
        now=b.published_at,
    )
    assert match is not None
    assert match.title_only
    # the same pair with both summaries is compared on all words, not only titles
    full = best_story(
        fp(b),
        lang="en",
        feed_id=2,
        published_at=b.published_at,
        candidates=[member(a, 3)],
        now=b.published_at,
    )
    assert full is not None
    assert not full.title_only


def test_too_few_shared_words_never_match() -> None:
    a = LabelledItem("a", "g", "en", "A", T0, "Kyiv drones", "")
    b = replace(a, id="b", feed="B", published_at=T0 + H)
    assert assign(b, [member(a, 1)]) is None


def test_empty_text_never_matches() -> None:
    a = LabelledItem("a", "g", "en", "A", T0, "!!!", "")
    b = replace(a, id="b", published_at=T0 + H)
    sig_only = StoryCandidate.from_signature(1, 1, T0, fp(a).signature.to_str(), "en")
    assert assign(b, [member(a, 1), sig_only]) is None


def test_member_stems_compare_exactly_as_the_fingerprints(
    labelled: dict[str, LabelledItem],
) -> None:
    # The index keeps a member's stems as a tuple; scores must be the very floats
    # `jaccard` gives on the two fingerprints' sets, or stored decisions would move.
    items = sorted(labelled.values(), key=lambda i: i.id)[:40]
    items.append(replace(items[0], id="bare", summary=""))  # title only, one side
    fps = {i.id: fp(i) for i in items}
    for a in items:
        for b in items:
            x, y = fps[a.id], fps[b.id]
            if x.has_summary and y.has_summary:
                want = (jaccard(x.words, y.words), len(x.words & y.words), False)
            else:
                want = (jaccard(x.title, y.title), len(x.title & y.title), True)
            assert similarity(x, member(b, 1)) == want, (a.id, b.id)


def test_candidate_from_stored_signature(labelled: dict[str, LabelledItem]) -> None:
    first, later = _pair(1)
    stored = StoryCandidate.from_signature(
        4, 1, first.published_at, fp(first).signature.to_str(), "en"
    )
    assert stored.stems is None
    assert stored.signature == fp(first).signature
    assert assign(later, [stored]) == 4
    unrelated = labelled["en-05a"]  # ECB rates, the same week
    assert assign(replace(unrelated, published_at=T0 + H), [stored]) is None


def test_stored_signature_needs_the_estimate_margin() -> None:
    first, later = _pair(1)
    stored = StoryCandidate.from_signature(
        4, 1, first.published_at, fp(first).signature.to_str(), "en"
    )
    exact = member(first, 4)
    strict = replace(DEFAULT, estimate_margin=0.9)
    assert assign(later, [stored], config=strict) is None
    assert assign(later, [exact], config=strict) == 4


def test_malformed_stored_signature() -> None:
    with pytest.raises(ValueError, match="not a MinHash signature"):
        StoryCandidate.from_signature(1, 1, T0, "not base64!", "en")


def test_thresholds_by_language() -> None:
    assert DEFAULT.for_lang("de-AT") is DEFAULT.by_lang["de"]
    assert DEFAULT.for_lang("RU") is DEFAULT.by_lang["ru"]
    assert DEFAULT.for_lang(None) is DEFAULT.default
    assert DEFAULT.for_lang("xx") is DEFAULT.default
    assert isinstance(DEFAULT, ClusterConfig)


# --- StoryIndex -------------------------------------------------------------------


def test_index_finds_near_duplicates_and_not_strangers(labelled: dict[str, LabelledItem]) -> None:
    index = StoryIndex()
    for n, item_id in enumerate(["en-01a", "en-05a", "de-08a", "ja-11a"]):
        index.add(member(labelled[item_id], story_id=n))
    hits = index.query(fp(labelled["en-01b"]).signature)
    assert 0 in {h.story_id for h in hits}
    assert len(hits) < len(index)


def test_index_assign_matches_exhaustive_decision(labelled: dict[str, LabelledItem]) -> None:
    index = StoryIndex()
    first, later = labelled["ru-04a"], labelled["ru-04b"]  # central bank rate cut
    index.add(member(first, 11))
    match = index.assign(
        fp(later), lang="ru", feed_id=2, published_at=later.published_at, now=later.published_at
    )
    assert match is not None
    assert match.story_id == assign(later, index.members()) == 11


def test_index_evicts_by_window() -> None:
    index = StoryIndex()
    first, _ = _pair(0)
    for hours in (0, 10, 30):
        index.add(member(replace(first, published_at=T0 + hours * H), story_id=hours))
    sig = fp(first).signature
    assert len(index.query(sig)) == 3
    assert index.evict(T0 + 50 * H) == 1  # only the 0 h member is over 48 h old
    assert index.evict(T0 + 59 * H) == 1  # now the 10 h one
    assert [c.story_id for c in index.query(sig)] == [30]
    assert index.evict(T0 + 59 * H) == 0
    assert index.evict(T0 + 100 * H) == 1
    assert len(index) == 0
    assert index.query(sig) == []


def test_a_removed_member_is_never_found_nor_evicted_twice() -> None:
    index = StoryIndex()
    first, _ = _pair(0)
    kept = index.add(member(first, story_id=1))
    gone = index.add(member(replace(first, published_at=T0 + H), story_id=2))
    index.remove(gone)
    index.remove(gone)  # idempotent
    assert [c.story_id for c in index.query(fp(first).signature)] == [1]
    assert len(index) == 1
    assert index.evict(T0 + 100 * H) == 1  # the removed one is not counted
    assert len(index) == 0 and kept != gone


def test_members_sharing_every_band_are_removed_one_by_one() -> None:
    # Identical members share all 127 buckets: a bucket goes from a list of
    # handles back to a single handle, then to empty, and the others stay found.
    index = StoryIndex()
    first, _ = _pair(0)
    handles = [index.add(member(first, story_id=s)) for s in (1, 2, 3)]
    sig = fp(first).signature
    index.remove(handles[1])
    assert [c.story_id for c in index.query(sig)] == [1, 3]
    index.remove(handles[0])
    assert [c.story_id for c in index.query(sig)] == [3]
    index.add(member(first, story_id=4))
    assert [c.story_id for c in index.query(sig)] == [3, 4]
    assert index.evict(T0 + 100 * H) == 2
    assert index.query(sig) == []
    index.add(member(first, story_id=5))  # the emptied buckets take new members
    assert [c.story_id for c in index.query(sig)] == [5]


def test_index_rejects_a_band_shape_too_large_for_its_table() -> None:
    with pytest.raises(ValueError, match="lsh_rows=3"):
        StoryIndex(replace(DEFAULT, lsh_rows=3))


def test_index_memory_per_member_stays_small() -> None:
    # The index's own structures (band buckets, member records, age heap), not the
    # fingerprints: 22 KiB per member before band keys were packed into ints and
    # kept in a flat table; 10,000 feeds keep ~12,000 members.
    rng = random.Random(5)
    vocab = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))) for _ in range(3000)]
    fps = [Fingerprint.of(" ".join(rng.choices(vocab, k=12))) for _ in range(300)]
    index = StoryIndex()  # its fixed band table (4 MB) is not what this measures
    tracemalloc.start()
    try:
        for n, fingerprint in enumerate(fps):
            index.add(StoryCandidate.of(n, 1, T0, fingerprint, "en"))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held / len(fps) < 2 * 1024  # ~0.6 KiB now


def test_story_keeps_growing_while_outlets_report_it() -> None:
    # The window runs from each member, not from the story's first item.
    index = StoryIndex()
    first, _ = _pair(0)
    index.add(member(first, 1, feed_id=1))
    for hours, feed in ((40, 2), (80, 3)):
        item = replace(first, published_at=T0 + hours * H)
        now = item.published_at
        match = index.assign(fp(item), lang="en", feed_id=feed, published_at=now, now=now)
        assert match is not None
        assert match.story_id == 1
        index.add(member(item, 1, feed_id=feed))
    assert len(index) == 2  # the 0 h member is gone, the story is not


def test_index_assign_evicts_before_deciding() -> None:
    index = StoryIndex()
    first, later = _pair(60)
    index.add(member(first, 1))
    got = index.assign(
        fp(later), lang="en", feed_id=2, published_at=later.published_at, now=later.published_at
    )
    assert got is None
    assert len(index) == 0


def test_index_rebuilt_from_signatures_finds_the_story() -> None:
    first, later = _pair(3)
    index = StoryIndex()
    index.add(
        StoryCandidate.from_signature(9, 1, first.published_at, fp(first).signature.to_str(), "en")
    )
    match = index.assign(
        fp(later), lang="en", feed_id=2, published_at=later.published_at, now=later.published_at
    )
    assert match is not None
    assert match.story_id == 9


# --- DisjointSet ------------------------------------------------------------------


def test_disjoint_set_groups() -> None:
    ds = DisjointSet(range(6))
    ds.union(0, 1)
    ds.union(2, 3)
    ds.union(1, 3)
    ds.union(3, 0)  # already together
    assert ds.find(0) == ds.find(2)
    assert ds.find(4) != ds.find(0)
    assert sorted(sorted(g) for g in ds.groups()) == [[0, 1, 2, 3], [4], [5]]


def test_disjoint_set_add_is_idempotent() -> None:
    ds: DisjointSet[str] = DisjointSet()
    ds.add("a")
    ds.add("b")
    ds.union("a", "b")
    ds.add("a")
    assert ds.groups() == [{"a", "b"}]


def test_index_verifies_at_most_the_members_sharing_the_most_bands() -> None:
    # Text where everything looks alike (one small vocabulary) makes every member a
    # candidate of every item: the cap keeps the work per item flat, and keeps the
    # members the MinHash estimate ranks closest, the item's near-duplicate first.
    rng = random.Random(11)
    vocab = ["".join(rng.choices(string.ascii_lowercase, k=6)) for _ in range(40)]
    texts = [" ".join(rng.choices(vocab, k=30)) for _ in range(60)]
    config = replace(DEFAULT, lsh_max_candidates=5)
    capped, uncapped = StoryIndex(config), StoryIndex(replace(config, lsh_max_candidates=10**6))
    for n, text in enumerate(texts):
        for index in (capped, uncapped):
            index.add(StoryCandidate.of(n, 1, T0, Fingerprint.of(text), "en"))
    probe = Fingerprint.of(texts[7] + " " + vocab[0])  # texts[7], one word more
    everyone = uncapped.query(probe.signature)
    assert len(everyone) > 5  # the case the cap is for
    kept = capped.query(probe.signature)
    assert len(kept) == 5
    assert 7 in {c.story_id for c in kept}
    shared = {c.story_id: _bands_shared(c, probe) for c in everyone}
    assert min(shared[c.story_id] for c in kept) >= sorted(shared.values())[-5]
    assert [c.story_id for c in kept] == sorted(c.story_id for c in kept)  # oldest first


def _bands_shared(candidate: StoryCandidate, item: Fingerprint) -> int:
    rows = DEFAULT.lsh_rows
    return len(set(candidate.signature.bands(rows)) & set(item.signature.bands(rows)))
