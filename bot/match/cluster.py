"""Story clustering: which earlier story, if any, a new item reports.

This module owns the decision and the in-memory index of recent story members;
it does no I/O and reads no clock (`now` is passed in). The pipeline keeps one
`StoryIndex` (through bot/stories.py, which also writes the `Story` rows and
`remove`s members whose transaction rolled back) and, for each new matched item:

    fp = Fingerprint.of(title, summary)
    match = index.assign(fp, lang=..., feed_id=..., published_at=..., now=now)
    story_id = match.story_id if match else <insert a Story, signature=fp.signature.to_str()>
    index.add(StoryCandidate.of(story_id, feed_id, published_at, fp, lang))

At start-up it rebuilds the index by adding `StoryCandidate.of(...)` for every
item of the last window that has a story_id: the items table holds title and
summary, so the rebuilt index decides exactly as the live one did.
`StoryCandidate.from_signature` is the fallback when only `Story.signature` is
at hand (then similarity is the MinHash estimate).

Joining is single-link: an item joins a story when it is similar enough to any
one member, so a story can be found through the outlet whose wording is
closest. Precision comes from the per-language thresholds (bot/match/thresholds.py)
and the time window, both checked here on every candidate, whatever the index
returned. `DisjointSet` does the same grouping in batch, for the backtest.
"""

from __future__ import annotations

import functools
import heapq
import zlib
from array import array
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain, count
from typing import Generic, TypeVar

from bot.match.similarity import BITS, NUM_PERM, Fingerprint, MinHash
from bot.match.thresholds import DEFAULT, ClusterConfig, base_lang

T = TypeVar("T", bound=Hashable)

#: the largest band table `StoryIndex` allocates: 2 rows of 6 bits need 520,192 slots
_MAX_SLOTS = 1 << 21


@dataclass(frozen=True, slots=True)
class StoryCandidate:
    """One member item of a recent story, as the index keeps it.

    The member's stems are a tuple, not its Fingerprint's two frozensets: the
    index keeps one candidate per member for a whole window (12,000 with 10,000
    feeds), and a tuple takes a quarter of the room. The comparison needs only
    their intersection with the new item's sets, which a tuple gives as well.
    """

    story_id: int
    feed_id: int
    published_at: datetime
    signature: MinHash
    lang: str | None = None
    #: the member's stems, its title's first; None when rebuilt from
    #: `Story.signature` alone, and then similarity is the MinHash estimate
    #: (std. error ≈ 0.04 at J = 0.25)
    stems: tuple[str, ...] | None = None
    #: how many of `stems` are the title's
    title_len: int = 0
    has_summary: bool = False
    #: `stem_bits(stems)`, for `best_story`'s bound on the shared stems; -1: unknown
    bits: int = field(default=-1, repr=False, compare=False)

    @classmethod
    def of(
        cls,
        story_id: int,
        feed_id: int,
        published_at: datetime,
        fingerprint: Fingerprint,
        lang: str | None = None,
    ) -> StoryCandidate:
        """A candidate from a member item whose text is known (the normal case)."""
        title = tuple(fingerprint.title)
        stems = title + tuple(fingerprint.words - fingerprint.title)
        bits = _words_bits(fingerprint.words)
        if not fingerprint.title <= fingerprint.words:  # = stem_bits(stems), as below
            bits |= stem_bits(fingerprint.title)
        return cls(
            story_id,
            feed_id,
            published_at,
            fingerprint.signature,
            lang,
            stems,
            len(title),
            fingerprint.has_summary,
            # = stem_bits(stems); the title's are in `words` unless built by hand
            bits,
        )

    @classmethod
    def from_signature(
        cls,
        story_id: int,
        feed_id: int,
        published_at: datetime,
        signature: str,
        lang: str | None = None,
    ) -> StoryCandidate:
        """A candidate from a stored `Story.signature` string (ValueError if malformed)."""
        return cls(story_id, feed_id, published_at, MinHash.from_str(signature), lang)


@dataclass(frozen=True, slots=True)
class StoryMatch:
    """The story an item joins, and why."""

    story_id: int
    #: the similarity to the closest member
    score: float
    #: the closest member came from the same feed as the item
    same_feed: bool
    #: only titles were compared (one side had no summary)
    title_only: bool


#: width of `stem_bits`: 1,024 bits (160 bytes a member) leave about 5 chance
#: coincidences between two sets of 75 stems, so the bound stays close to the truth
STEM_BITS = 1 << 10


def stem_bits(stems: Iterable[str]) -> int:
    """A bitmask with one bit per stem (CRC-32, the same in every process).

    Two sets share no stem whose bit is missing from either mask, so the common
    bits bound the shared stems from above (see `best_story`).
    """
    bits = 0
    for stem in stems:
        bits |= 1 << (zlib.crc32(stem.encode()) % STEM_BITS)
    return bits


#: `stem_bits` of a fingerprint's stems: `best_story` makes the item's mask, then the
#: item is added to the index with the same (the set's hash is computed once, and kept)
_words_bits = functools.lru_cache(maxsize=1)(stem_bits)


def similarity(item: Fingerprint, member: StoryCandidate) -> tuple[float, int, bool]:
    """(Jaccard, shared stems, title only) between an item and a story member.

    Titles alone are compared when either side lacks a summary: a bare title
    against a title+summary would be diluted by words the title could never have.
    Without the member's fingerprint, the MinHash estimate stands in, and the
    shared-stem count is not known (reported as a large number so it never vetoes).
    """
    stems = member.stems
    if not item.words:
        # Nothing to compare (emoji or punctuation only): never "the same story".
        return 0.0, 0, not item.has_summary
    if stems is None:
        return item.signature.jaccard(member.signature), 1 << 30, not item.has_summary
    # |A ∪ B| = |A| + |B| - |A ∩ B|: the member's stems are distinct, so this is
    # `jaccard` on the same counts, to the last bit of the float.
    if item.has_summary and member.has_summary:
        shared = len(item.words.intersection(stems))
        return shared / (len(item.words) + len(stems) - shared), shared, False
    title = stems[: member.title_len]
    shared = len(item.title.intersection(title))
    union = len(item.title) + len(title) - shared
    return (shared / union if union else 0.0), shared, True


def best_story(
    item: Fingerprint,
    *,
    lang: str | None,
    feed_id: int,
    published_at: datetime,
    candidates: Iterable[StoryCandidate],
    now: datetime,
    config: ClusterConfig = DEFAULT,
) -> StoryMatch | None:
    """The story whose closest member clears the item's thresholds, or None.

    A candidate counts only inside the window: published within `config.window`
    of the item, and not older than `now - window` (so the answer does not depend
    on when the index last evicted). Ties and near-ties go to other outlets,
    because same-feed members are ranked by their score minus the margin.

    Stories stay within one language when both languages are known: a German and
    an English report of the same event share only names ("Patriot", "Ukraine"),
    and at the German threshold that also joins different events with those names
    (the batch backtest merged de-06c with en-04a and, through them, more).
    """
    limits = config.for_lang(lang)
    window = config.window
    oldest = now - window
    # `similarity`, the window and the language test inlined for the common case
    # (both sides have a summary): the index hands over hundreds of candidates per
    # item, and per candidate the calls cost as much as the set intersection. The
    # expressions are `similarity`'s, so the floats and the choice are the same.
    # Before the intersection, a bound: every shared stem sets a bit both stem masks
    # have, so the common bits, plus the item's stems whose bit another of its stems
    # set already, are at least the shared stems. The score grows with the shared
    # count, so a bound below the floor rules the candidate out exactly; with the
    # bench farm's text, that is nearly every candidate. So the bound comes first,
    # before the window and the language, which read more of the candidate's objects:
    # each test only rules candidates out, so their order changes no answer.
    words = item.words
    size = len(words)
    exact = size > 0 and item.has_summary
    bits = doubled = -1  # the item's mask, made at the first candidate that needs it
    base = base_lang(lang) if lang else None
    margin, min_shared = limits.same_feed_margin, limits.min_shared
    min_similarity = limits.min_similarity
    best_rank = 0.0
    best: StoryMatch | None = None
    for cand in candidates:
        stems = cand.stems
        same_feed = cand.feed_id == feed_id
        # the stems to compare inline, else None: then `similarity` decides
        inline = stems if exact and cand.has_summary else None
        if inline is not None and cand.bits >= 0:
            if bits < 0:
                bits = _words_bits(words)
                doubled = size - bits.bit_count()
            # the score's expression on the bound: no greater float
            length = len(inline)
            bound = (bits & cand.bits).bit_count() + doubled
            if bound > length:
                bound = length
            if bound < min_shared:
                continue
            if bound / (size + length - bound) - (margin if same_feed else 0.0) < min_similarity:
                continue
        when = cand.published_at
        if when < oldest or abs(published_at - when) > window:
            continue
        if base is not None and cand.lang and base != _base_lang(cand.lang):
            continue
        if inline is not None:
            shared = len(words.intersection(inline))
            score = shared / (size + len(inline) - shared)
            title_only = False
            floor = min_similarity
        else:
            score, shared, title_only = similarity(item, cand)
            floor = limits.min_similarity_title_only if title_only else limits.min_similarity
            if stems is None:
                floor += config.estimate_margin
        rank = score - (margin if same_feed else 0.0)
        if rank < floor or shared < min_shared:
            continue
        if best is None or rank > best_rank:
            best_rank, best = rank, StoryMatch(cand.story_id, score, same_feed, title_only)
    return best


#: `MinHash.bands` of the last signature: `StoryIndex.assign` queries the item's, then
#: `add` indexes the same (read only: the list is shared)
_bands = functools.lru_cache(maxsize=1)(MinHash.bands)

#: base_lang of the few language tags candidates carry (a dict lookup, not two splits)
_base_lang = functools.lru_cache(maxsize=256)(base_lang)


def assign_story(
    item: Fingerprint,
    *,
    lang: str | None = None,
    feed_id: int,
    published_at: datetime,
    candidates: Sequence[StoryCandidate],
    now: datetime,
    config: ClusterConfig = DEFAULT,
) -> int | None:
    """The id of the story the item joins, or None when it starts a new story."""
    match = best_story(
        item,
        lang=lang,
        feed_id=feed_id,
        published_at=published_at,
        candidates=candidates,
        now=now,
        config=config,
    )
    return match.story_id if match else None


class StoryIndex:
    """Recent story members, bucketed by LSH bands of their MinHash.

    A query returns the members that share at least `config.lsh_min_hits` (3)
    LSH bands with the item; a band is a run of `config.lsh_rows` (2)
    consecutive MinHash values, and the runs overlap, so 128 values give 127
    bands. A member at Jaccard J matches a band with probability about J²: at
    J = 0.25 it shares about 8 bands, while a member sharing one common word
    (J ≈ 0.05) rarely shares 3. Every candidate is then verified on exact
    features by `best_story`, so the index trades recall, never precision.

    Measured with bench/bench_cluster.py (10,000 items in 48 h, CPU time) and
    `backtest --mode index` against `--mode exhaustive` on tests/data/stories:

        hits  candidates/item  items/s  generated recall  labelled pairs (of 116)
        3           63          1,543        0.865              114
        2          239            930        0.871              114
        1          930            443        0.872              116

    `best_story` first bounds each candidate's shared stems with 1,024-bit stem
    masks (`stem_bits`), which rules out most candidates without a set
    intersection; with that and the faster `Fingerprint.of`, 3 hits ran at 3,670
    items/s where the table's code ran at 2,379 in the same session. Counting the
    handles straight from the buckets, a stable sort in place of heapq.nlargest,
    the bound before the window and a cheaper `MinHash.of` then took 3 hits from
    2,762 to 3,386 items/s (one session, the same decisions).

    The two pairs lost at 3 hits are German (de-01c, near the low German
    threshold). Members are evicted once older than the window, so memory is
    bounded by one window of items: 2.5 to 3.5 KiB per member (160 bytes of it
    the stem mask), and the 4 MB band table (tracemalloc, 12,000 members of the
    bench farm's text: 32 MB, where tuple band keys, sets per bucket and whole
    fingerprints took 350 MB).
    """

    def __init__(self, config: ClusterConfig = DEFAULT) -> None:
        self.config = config
        self._members: dict[int, StoryCandidate] = {}
        # Slot per band key (see MinHash.bands): None, the member handle, or an
        # array of handles when several share the band (4 bytes each, where a
        # list takes 8 and a set 30; 2**32 handles would take a century of news).
        # With 2 rows there are 127 × 4,096 keys, most in use once a window holds
        # 10,000 members, so a flat list (4 MB) beats a dict, which also keeps an
        # int object per key. A set per bucket and the keys kept per member cost
        # 22 KiB per member; keys are now recomputed from the signature by
        # `remove` and `evict`.
        slots = (NUM_PERM - config.lsh_rows + 1) << (BITS * config.lsh_rows)
        if slots > _MAX_SLOTS:
            raise ValueError(f"lsh_rows={config.lsh_rows} needs {slots:,} band slots")
        self._buckets: list[int | array[int] | None] = [None] * slots
        self._by_age: list[tuple[datetime, int]] = []
        self._ids = count()

    def __len__(self) -> int:
        return len(self._members)

    def add(self, member: StoryCandidate) -> int:
        """Index a story member (the caller evicts; see `evict`); a handle for `remove`."""
        n = next(self._ids)
        self._members[n] = member
        buckets = self._buckets
        for key in _bands(member.signature, self.config.lsh_rows):
            slot = buckets[key]
            if slot is None:
                buckets[key] = n
            elif isinstance(slot, int):
                buckets[key] = array("I", (slot, n))
            else:
                slot.append(n)
        heapq.heappush(self._by_age, (member.published_at, n))
        return n

    def remove(self, handle: int) -> None:
        """Forget one member, e.g. when the transaction that stored it rolled back.

        Its age-heap entry stays and is skipped by `evict`, so this is O(bands).
        """
        member = self._members.pop(handle, None)
        if member is not None:
            self._unbucket(handle, member)

    def _unbucket(self, n: int, member: StoryCandidate) -> None:
        buckets = self._buckets
        for key in _bands(member.signature, self.config.lsh_rows):
            slot = buckets[key]
            if isinstance(slot, int):
                buckets[key] = None  # n was its only member
            elif slot is not None:
                slot.remove(n)
                if len(slot) == 1:
                    buckets[key] = slot[0]

    def evict(self, now: datetime) -> int:
        """Forget members published before `now - window`; returns how many."""
        oldest = now - self.config.window
        evicted = 0
        while self._by_age and self._by_age[0][0] < oldest:
            _, n = heapq.heappop(self._by_age)
            member = self._members.pop(n, None)
            if member is None:
                continue  # removed already
            self._unbucket(n, member)
            evicted += 1
        return evicted

    def query(self, signature: MinHash) -> list[StoryCandidate]:
        """Members sharing at least `config.lsh_min_hits` LSH bands with the signature,
        at most `config.lsh_max_candidates` of them (those sharing the most).

        Not filtered by time: `best_story` applies the window to every candidate.
        """
        # Counter counts the buckets' handles straight from the arrays: a list extended
        # with them first was one more pass over them (1,300 per item on the farm's
        # on-topic text), a tenth of the counting's time.
        found: list[Iterable[int]] = []
        buckets = self._buckets
        for slot in map(buckets.__getitem__, _bands(signature, self.config.lsh_rows)):
            if slot is None:
                continue
            found.append((slot,) if isinstance(slot, int) else slot)
        hits = Counter(chain.from_iterable(found))
        need, most = self.config.lsh_min_hits, self.config.lsh_max_candidates
        # most handles share a band or two: drop them before sorting
        chosen = [n for n, c in hits.items() if c >= need]
        if len(chosen) > most:
            # what heapq.nlargest keeps, in under half its time: sorted() is stable, so
            # among equal counts the handles found first stay
            chosen = sorted(chosen, key=hits.__getitem__, reverse=True)[:most]
        chosen.sort()
        return list(map(self._members.__getitem__, chosen))

    def members(self) -> list[StoryCandidate]:
        """Every indexed member, oldest first (for tests and exhaustive comparison)."""
        return [self._members[n] for n in sorted(self._members)]

    def assign(
        self,
        item: Fingerprint,
        *,
        lang: str | None,
        feed_id: int,
        published_at: datetime,
        now: datetime,
    ) -> StoryMatch | None:
        """Evict, look up and decide: the story the item joins, or None for a new one."""
        self.evict(now)
        return best_story(
            item,
            lang=lang,
            feed_id=feed_id,
            published_at=published_at,
            candidates=self.query(item.signature),
            now=now,
            config=self.config,
        )


class DisjointSet(Generic[T]):
    """Union-find with path halving and union by size, for batch grouping."""

    def __init__(self, elements: Iterable[T] = ()) -> None:
        self._parent: dict[T, T] = {}
        self._size: dict[T, int] = {}
        for e in elements:
            self.add(e)

    def add(self, e: T) -> None:
        """Make `e` a group of its own, unless it is known already."""
        if e not in self._parent:
            self._parent[e] = e
            self._size[e] = 1

    def find(self, e: T) -> T:
        """The representative of `e`'s group."""
        parent = self._parent
        while parent[e] != e:
            parent[e] = parent[parent[e]]
            e = parent[e]
        return e

    def union(self, a: T, b: T) -> None:
        """Merge the groups of `a` and `b`."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size.pop(rb)

    def groups(self) -> list[set[T]]:
        """The groups, each a set of elements."""
        out: dict[T, set[T]] = {}
        for e in self._parent:
            out.setdefault(self.find(e), set()).add(e)
        return list(out.values())
