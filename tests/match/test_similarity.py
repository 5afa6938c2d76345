"""Text folding, tokens, exact measures and MinHash signatures (bot/match/similarity.py)."""

from __future__ import annotations

import pytest

from bot.match.similarity import (
    BITS,
    NUM_PERM,
    STOPWORDS,
    Fingerprint,
    MinHash,
    features,
    fold,
    jaccard,
    overlap,
    shingles,
    stem,
    tokens,
)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        pytest.param("ＫＹＩＶ", "kyiv", id="nfkc-fullwidth"),
        pytest.param("Präsident Selenskyj", "prasident selenskyj", id="latin-accents"),
        pytest.param("Straße", "strasse", id="casefold-sharp-s"),
        pytest.param("п'ять ракет", "пять ракет", id="uk-apostrophe-joined"),
        pytest.param("Russia’s drones", "russias drones", id="curly-apostrophe"),
        pytest.param("ガス", "ガス", id="ja-voiced-kana-kept"),
        pytest.param("Київ, Й!", "київ  й ", id="cyrillic-kept-punct-spaced"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("attacks", "attacked", id="en"),
        pytest.param("Angriffe", "Angriffs", id="de"),
        pytest.param("Киева", "Киеве", id="ru-case"),
        pytest.param("Харкова", "Харкові", id="uk-case"),
        pytest.param("обстрілу", "обстріли", id="uk-long"),
    ],
)
def test_inflections_meet(a: str, b: str) -> None:
    assert tokens(a) == tokens(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("Kyiv", "Kharkiv", id="cities"),
        pytest.param("Poland", "Polish", id="en-prefix-6"),
        pytest.param("Киев", "Китай", id="ru-short"),
    ],
)
def test_different_words_stay_apart(a: str, b: str) -> None:
    assert tokens(a) != tokens(b)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("The drones of the night", ["drones", "night"], id="en"),
        pytest.param("Die Drohnen in der Nacht", ["drohne", "nacht"], id="de"),
        pytest.param("Дрони над Києвом і Харковом", ["дрон", "києв", "харко"], id="uk"),
        pytest.param("Дроны над Киевом и Харьковом", ["дрон", "киев", "харьк"], id="ru"),
        pytest.param("ロシア軍がキーウに攻撃", ["ロシア", "軍", "キーウ", "攻", "撃"], id="ja"),
        pytest.param("M6.8の地震", ["m", "6", "8", "地", "震"], id="ja-latin-digits"),
    ],
)
def test_tokens_drop_stopwords_and_split_scripts(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def test_stopword_lists_cover_each_language() -> None:
    assert {"the", "der", "та", "что"} <= STOPWORDS


def test_stem_truncates_by_script() -> None:
    assert stem("infrastructure") == "infras"
    assert stem("инфраструктура") == "инфра"


def test_shingles_sizes() -> None:
    assert shingles(["a", "b", "c"], (1, 2)) == {"a", "b", "c", "a b", "b c"}
    assert shingles(["a"], (2,)) == frozenset()


def test_features_do_not_span_title_and_summary() -> None:
    feats = features("Kyiv drones", "Night attack", sizes=(2,))
    assert feats == {"kyiv drones", "night attack"}


@pytest.mark.parametrize(
    ("a", "b", "j", "o"),
    [
        pytest.param({"x", "y"}, {"y", "z"}, 1 / 3, 1 / 2, id="partial"),
        pytest.param({"x"}, {"x", "y", "z", "w"}, 1 / 4, 1.0, id="contained"),
        pytest.param(set(), set(), 0.0, 0.0, id="empty"),
    ],
)
def test_exact_measures(a: set[str], b: set[str], j: float, o: float) -> None:
    assert jaccard(frozenset(a), frozenset(b)) == pytest.approx(j)
    assert overlap(frozenset(a), frozenset(b)) == pytest.approx(o)


def _words(prefix: str, n: int) -> frozenset[str]:
    return frozenset(f"{prefix}{i}" for i in range(n))


@pytest.mark.parametrize("shared", [0, 10, 20, 30, 40])
def test_minhash_estimate_tracks_jaccard(shared: int) -> None:
    a = _words("s", shared) | _words("a", 40 - shared)
    b = _words("s", shared) | _words("b", 40 - shared)
    exact = jaccard(a, b)
    # 128 permutations: standard error at most 0.045; 0.15 is over three of them
    assert MinHash.of(a).jaccard(MinHash.of(b)) == pytest.approx(exact, abs=0.15)


def test_minhash_is_deterministic_and_order_free() -> None:
    feats = ["kyiv", "drones", "night", "three"]
    assert MinHash.of(feats) == MinHash.of(reversed(feats))
    assert MinHash.of(feats).values == MinHash.of(list(feats)).values


def test_minhash_values_use_all_bits() -> None:
    # Guards against keeping the biased top bits of a minimum (all near 0).
    values = MinHash.of(_words("w", 30)).values
    assert len(values) == NUM_PERM
    assert max(values) >= (1 << BITS) // 2
    assert len(set(values)) > 20


def test_signature_round_trip() -> None:
    sig = MinHash.of(features("Russian drones hit Kyiv", "Three people were killed."))
    text = sig.to_str()
    assert len(text) == NUM_PERM
    assert text.isascii()
    assert MinHash.from_str(text) == sig


def test_signature_prefix_fits_story_column_and_still_estimates() -> None:
    a = _words("s", 30) | _words("a", 10)
    b = _words("s", 30) | _words("b", 10)
    prefix = MinHash.from_str(MinHash.of(a).to_str(64))
    assert len(prefix.to_str()) == 64
    assert prefix.jaccard(MinHash.of(b)) == pytest.approx(jaccard(a, b), abs=0.2)
    assert len(prefix.bands(2)) == 63


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("", id="empty"),
        pytest.param("A" * (NUM_PERM + 1), id="too-long"),
        pytest.param("A" * 10 + "=", id="padding-char"),
        pytest.param("Ж" * 8, id="non-ascii"),
    ],
)
def test_signature_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError, match="not a MinHash signature"):
        MinHash.from_str(bad)


def test_bands_are_overlapping_numbered_runs() -> None:
    sig = MinHash.of(["a", "b", "c"])
    v = sig.values
    bands = sig.bands(2)
    assert len(bands) == NUM_PERM - 1
    assert len(set(bands)) == NUM_PERM - 1  # numbered: equal runs at two places differ
    assert [b >> (2 * BITS) for b in bands] == list(range(NUM_PERM - 1))
    assert bands[1] == (1 << 2 * BITS) | v[1] << BITS | v[2]
    assert sig.bands(3)[5] == (5 << 3 * BITS) | v[5] << 2 * BITS | v[6] << BITS | v[7]


def test_bands_match_exactly_where_runs_match() -> None:
    a = MinHash(bytes(i % (1 << BITS) for i in range(NUM_PERM)))
    b = MinHash(a.values[:10] + bytes(NUM_PERM - 10))
    shared = set(a.bands(2)) & set(b.bands(2))
    # runs 0-1 … 8-9 are equal; from 9-10 on, b's runs are (9, 0) and (0, 0), a's never
    assert shared == set(a.bands(2)[:9])


def test_minhash_values_are_compact_bytes() -> None:
    sig = MinHash.of(["a", "b"])
    assert isinstance(sig.values, bytes)
    assert MinHash.of([]).values == bytes(NUM_PERM)


def test_fingerprint() -> None:
    fp = Fingerprint.of("Drones hit Kyiv", "Three killed in the capital")
    assert fp.has_summary
    assert fp.title == {"drones", "hit", "kyiv"}
    assert fp.title < fp.words
    assert fp.signature == MinHash.of(fp.words)
    assert not Fingerprint.of("Drones hit Kyiv").has_summary


def test_repeated_words_share_one_stem_object() -> None:
    # The story index keeps every member's stems: a word seen before must give the
    # same string object, not a copy (see STEM_CACHE).
    text = "Interceptors launched over Kharkiv overnight"
    a, b = (sorted(tokens(text)) for _ in range(2))
    assert a == b
    assert all(x is y for x, y in zip(a, b, strict=True))
