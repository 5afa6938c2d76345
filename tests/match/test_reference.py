"""The fast paths of bot/match against straightforward references, on randomized input.

`MinHash.of`, `Fingerprint.of`, `StoryIndex.query`, `best_story` and
`StoryIndex.assign` take shortcuts (lane arithmetic, memos, a stable sort for the
top candidates, a bound checked before the window); each reference below computes
the same thing the plain way, and must give the very same values.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.match.cluster import (
    StoryCandidate,
    StoryIndex,
    StoryMatch,
    best_story,
    similarity,
    stem_bits,
)
from bot.match.similarity import _SEED, BITS, NUM_PERM, Fingerprint, MinHash, features
from bot.match.thresholds import DEFAULT, ClusterConfig, Thresholds, base_lang

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
SEEDS = range(12)
#: few words, so that items share many of them and every threshold is crossed
VOCAB = [
    *("drone", "strike", "kyiv", "kharkiv", "patriot", "battery", "missile", "power"),
    *("grid", "winter", "talks", "summit", "minister", "border", "port", "rail", "budget"),
    *("shells", "radar", "brigade", "region", "attack", "damage"),
]
LANGS = (None, "en", "en-GB", "de", "ru", "ja")


def reference_minhash(feats: list[str]) -> bytes:
    """Per hash function, the low BITS bits of the least 32-bit value."""
    if not feats:
        return bytes(NUM_PERM)
    digests = [hashlib.shake_128(_SEED + f.encode()).digest(4 * NUM_PERM) for f in feats]
    return bytes(
        min(int.from_bytes(d[4 * k : 4 * k + 4], "little") for d in digests) & ((1 << BITS) - 1)
        for k in range(NUM_PERM)
    )


def reference_best_story(
    item: Fingerprint,
    *,
    lang: str | None,
    feed_id: int,
    published_at: datetime,
    candidates: list[StoryCandidate],
    now: datetime,
    config: ClusterConfig,
) -> StoryMatch | None:
    """`best_story` as its docstring says it: every candidate tested in full, in order."""
    limits = config.for_lang(lang)
    best: StoryMatch | None = None
    best_rank = 0.0
    for cand in candidates:
        if cand.published_at < now - config.window:
            continue
        if abs(published_at - cand.published_at) > config.window:
            continue
        if lang and cand.lang and base_lang(lang) != base_lang(cand.lang):
            continue
        score, shared, title_only = similarity(item, cand)
        floor = limits.min_similarity_title_only if title_only else limits.min_similarity
        if cand.stems is None:
            floor += config.estimate_margin
        same_feed = cand.feed_id == feed_id
        rank = score - (limits.same_feed_margin if same_feed else 0.0)
        if rank < floor or shared < limits.min_shared:
            continue
        if best is None or rank > best_rank:
            best_rank, best = rank, StoryMatch(cand.story_id, score, same_feed, title_only)
    return best


def reference_query(index: StoryIndex, signature: MinHash) -> list[StoryCandidate]:
    """The members sharing `lsh_min_hits` bands, at most `lsh_max_candidates` of them.

    Those sharing the most bands; among equal counts, those sharing an earlier band,
    then the older (the order the buckets are read in); returned oldest first.
    """
    config = index.config
    width = BITS * config.lsh_rows
    mine = set(signature.bands(config.lsh_rows))
    ranked = []
    for age, member in enumerate(index.members()):
        shared = mine.intersection(member.signature.bands(config.lsh_rows))
        if len(shared) >= config.lsh_min_hits:
            ranked.append((-len(shared), min(shared) >> width, age, member))
    kept = sorted(ranked, key=lambda r: r[:3])[: config.lsh_max_candidates]
    return [member for _, _, _, member in sorted(kept, key=lambda r: r[2])]


def _text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(VOCAB, k=rng.randint(low, high)))


def _fingerprint(rng: random.Random) -> Fingerprint:
    summary = _text(rng, 3, 20) if rng.random() < 0.8 else ""
    return Fingerprint.of(_text(rng, 1, 8), summary)


def _config(rng: random.Random) -> ClusterConfig:
    loose = Thresholds(
        min_similarity=rng.choice((0.05, 0.2, 0.35, 0.5)),
        min_similarity_title_only=rng.choice((0.1, 0.3, 0.6)),
        same_feed_margin=rng.choice((0.0, 0.1, 0.3)),
        min_shared=rng.randint(1, 5),
    )
    return replace(
        DEFAULT,
        by_lang={"en": loose, "de": replace(loose, min_similarity=0.15)},
        default=loose,
        lsh_min_hits=rng.randint(1, 4),
        lsh_max_candidates=rng.choice((1, 3, 8, 100)),
        estimate_margin=rng.choice((0.0, 0.05)),
    )


def _candidate(rng: random.Random, story_id: int, fp: Fingerprint) -> StoryCandidate:
    at = NOW - rng.uniform(0, 60) * H
    feed, lang = rng.randint(1, 3), rng.choice(LANGS)
    if rng.random() < 0.15:  # rebuilt from its stored signature: no stems
        return StoryCandidate.from_signature(story_id, feed, at, fp.signature.to_str(), lang)
    return StoryCandidate.of(story_id, feed, at, fp, lang)


@pytest.mark.parametrize("seed", SEEDS)
def test_minhash_of_is_the_least_value_per_function(seed: int) -> None:
    rng = random.Random(seed)
    words = VOCAB + ["".join(rng.choices("абвгдежзик日本語ab", k=4)) for _ in range(20)]
    for size in (0, 1, 2, 3, 10, 60):
        feats = rng.choices(words, k=size)  # repeats too: a feature counts once
        assert MinHash.of(feats).values == reference_minhash(feats)
        assert MinHash.of(iter(feats)) == MinHash.of(frozenset(feats))


@pytest.mark.parametrize("seed", SEEDS)
def test_fingerprint_of_is_features_of_title_and_summary(seed: int) -> None:
    rng = random.Random(seed)
    extra = ["", "the of and", "東京で地震 ウクライナ", "Київ атакували дрони", "!!!", "a 12 b"]
    for _ in range(30):
        title = rng.choice((_text(rng, 0, 8), rng.choice(extra)))
        summary = rng.choice((_text(rng, 0, 20), rng.choice(extra), ""))
        got = Fingerprint.of(title, summary)
        words = features(title, summary)
        want = Fingerprint(features(title), words, MinHash.of(words), bool(features(summary)))
        assert got == want


@pytest.mark.parametrize("seed", SEEDS)
def test_candidate_mask_is_its_stems_mask(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(20):
        fp = _fingerprint(rng)
        # hand-built, with title stems missing from `words`: the mask still covers both
        odd = replace(fp, title=fp.title | {"zzzzz"})
        for f in (fp, odd):
            cand = StoryCandidate.of(1, 1, NOW, f, "en")
            assert cand.stems is not None
            assert cand.bits == stem_bits(cand.stems)


@pytest.mark.parametrize("seed", SEEDS)
def test_best_story_decides_as_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        config = _config(rng)
        base = _fingerprint(rng)
        # near copies of one text make scores close to each other and to the lines
        fps = [rng.choice((base, _fingerprint(rng))) for _ in range(rng.randint(0, 25))]
        candidates = [_candidate(rng, rng.randint(1, 6), fp) for fp in fps]
        item = rng.choice((base, _fingerprint(rng), Fingerprint.of("!!!", "")))
        lang, feed, at = rng.choice(LANGS), rng.randint(1, 3), NOW - rng.uniform(0, 10) * H
        fast, plain = (
            decide(
                item,
                lang=lang,
                feed_id=feed,
                published_at=at,
                candidates=candidates,
                now=NOW,
                config=config,
            )
            for decide in (best_story, reference_best_story)
        )
        assert fast == plain


@pytest.mark.parametrize("seed", SEEDS)
def test_index_query_keeps_the_reference_members(seed: int) -> None:
    rng = random.Random(seed)
    config = _config(rng)
    index = StoryIndex(config)
    base = [_fingerprint(rng) for _ in range(4)]
    handles = []
    for n in range(120):
        fp = rng.choice(base) if rng.random() < 0.3 else _fingerprint(rng)  # exact ties too
        handles.append(index.add(_candidate(rng, n, fp)))
        if rng.random() < 0.1:
            index.remove(rng.choice(handles))
        if n % 10 == 9:
            probe = rng.choice([*base, _fingerprint(rng)])
            assert index.query(probe.signature) == reference_query(index, probe.signature)
    index.evict(NOW - 10 * H)
    for probe in base:
        assert index.query(probe.signature) == reference_query(index, probe.signature)


@pytest.mark.parametrize("seed", SEEDS)
def test_index_assign_decides_as_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    config = _config(rng)
    index = StoryIndex(config)
    base = [_fingerprint(rng) for _ in range(6)]
    next_story = 1
    at = NOW - 70 * H
    for n in range(150):
        at += rng.uniform(0, 1) * H
        fp = rng.choice(base) if rng.random() < 0.4 else _fingerprint(rng)
        lang, feed = rng.choice(LANGS), rng.randint(1, 4)
        index.evict(at)
        want = reference_best_story(
            fp,
            lang=lang,
            feed_id=feed,
            published_at=at,
            candidates=reference_query(index, fp.signature),
            now=at,
            config=config,
        )
        got = index.assign(fp, lang=lang, feed_id=feed, published_at=at, now=at)
        assert got == want, n
        if got is None:
            story, next_story = next_story, next_story + 1
        else:
            story = got.story_id
        handle = index.add(StoryCandidate.of(story, feed, at, fp, lang))
        if rng.random() < 0.05:
            index.remove(handle)  # its transaction rolled back
