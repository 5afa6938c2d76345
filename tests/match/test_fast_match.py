"""The matcher's fast paths change no result: the ASCII automaton, the key order, fold_any.

The reference is the same matcher with the keys in plain sorted order and one
automaton for all text, on the farm's items, the devset and random text.
"""

from __future__ import annotations

import random
import re

import pytest

from bot.config import load_config
from bot.match import topics as topics_module
from bot.match.evaluate import load_labelled
from bot.match.hits import RawHit, part_code, whole_word, widen
from bot.match.spec import TopicSpec
from bot.match.text import (
    DASH,
    Folded,
    clause_breaks,
    fold,
    fold_any,
    parse_parts,
    sentence_breaks,
)
from bot.match.topics import TopicMatcher, _dashes_join

from ..conftest import REPO
from .test_gates import DEVSET, WORDS, farm_texts, random_text, random_topics


def plain(topics: dict[str, TopicSpec], monkeypatch: pytest.MonkeyPatch) -> TopicMatcher:
    """The reference: keys in sorted order, every text scanned by the full automaton."""
    with monkeypatch.context() as patch:
        patch.setattr(topics_module, "_key_order", lambda key: key)
        reference = TopicMatcher.compile(topics)
    reference._ascii_automaton = reference._automaton
    return reference


@pytest.fixture(scope="module")
def default_topics() -> dict[str, TopicSpec]:
    return load_config(REPO / "feeds.yaml", env={}).file.topics


def devset_texts() -> list[tuple[str, str]]:
    paths = [REPO / "tests" / "data" / "topics-heldout.jsonl"]
    if DEVSET.exists():
        paths.append(DEVSET)
    return [(e["title"], e["summary"]) for path in paths for e in load_labelled(path)]


def test_fast_paths_match_as_the_plain_matcher(
    default_topics: dict[str, TopicSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, reference = TopicMatcher.compile(default_topics), plain(default_topics, monkeypatch)
    texts = farm_texts(60) + devset_texts()
    results = [fast.match(title, summary) for title, summary in texts]
    assert results == [reference.match(title, summary) for title, summary in texts]
    assert sum(map(len, results)) > 100
    # both automata are used: most farm text is ASCII, most of the devset is not
    ascii_text = sum(f"{t}\0{s}".isascii() for t, s in texts)
    assert 100 < ascii_text < len(texts) - 100


def test_the_ascii_automaton_hits_ascii_text_as_the_full_one(
    default_topics: dict[str, TopicSpec],
) -> None:
    matcher = TopicMatcher.compile(default_topics)
    rng = random.Random(5)
    ascii_words = [word.lower() for word in WORDS if word.isascii()]
    texts = [fold(f"{t}\0{s}").text for t, s in farm_texts(60)]
    texts += [" ".join(rng.choices(ascii_words, k=rng.randint(1, 40))) for _ in range(500)]
    hits = 0
    for text in texts:
        if not text.isascii():
            continue
        found = list(matcher._ascii_automaton.iter(text))
        assert found == list(matcher._automaton.iter(text)), text
        hits += len(found)
    assert hits > 1000
    assert len(matcher._ascii_automaton) < len(matcher._automaton)


def test_fast_paths_match_as_the_plain_matcher_on_random_topics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(17)
    matches = 0
    for _ in range(150):
        topics = random_topics(rng)
        fast, reference = TopicMatcher.compile(topics), plain(topics, monkeypatch)
        for _ in range(20):
            title, summary = random_text(rng), random_text(rng)
            if rng.random() < 0.5:  # ASCII text, the other automaton
                title, summary = (t.encode("ascii", "ignore").decode() for t in (title, summary))
            result = fast.match(title, summary)
            assert result == reference.match(title, summary), (title, summary)
            matches += len(result)
    assert matches > 500


def test_fold_any_folds_as_fold() -> None:
    rng = random.Random(23)
    pieces = ["Air", "ß", "ＰＡＴ", "ｶﾞ", "ー", "\u00ad", "-", " – ", "`", "\t", "Ё", "e\u0301", "x"]
    kept = 0
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        folded = fold_any(text)
        whole = fold(text)
        if isinstance(folded, str):
            kept += 1
            assert whole == Folded(folded)
            assert len(folded) == len(text)
        else:
            assert whole == folded
    assert 100 < kept < 2900


def test_widen_widens_as_whole_word() -> None:
    rng = random.Random(29)
    changed = 0
    for _ in range(2000):
        text = fold(random_text(rng)).text
        hits = []
        for _ in range(rng.randint(0, 5)):
            start = rng.randrange(len(text))
            hits.append(RawHit(start, rng.randint(start + 1, len(text)), rng.randint(0, 3), "t"))
        expected = [RawHit(*whole_word(text, h.start, h.end), h.concept, h.term) for h in hits]
        assert widen(text, hits) == expected
        changed += expected != hits
    assert 100 < changed < 1900


#: the sentence and clause ends as first written, an alternation the engine scans slowly
SENTENCE_END = re.compile(r"[.!?;]+(?=\s|$)|[。！？\x00]")
CLAUSE_END = re.compile(r"[.!?;:]+(?=\s|$)|[。！？\x00" + DASH + "]")


def test_sentence_and_clause_breaks_are_the_alternations() -> None:
    rng = random.Random(31)
    alphabet = [*"ab .!?;:。！？\x00\n\t", DASH]
    texts = [fold(f"{t}\x00{s}").text for t, s in devset_texts()[:300]]
    texts += ["".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(20000)]
    breaks = 0
    for text in texts:
        expected = [m.end() for m in SENTENCE_END.finditer(text)]
        assert sentence_breaks(text) == expected, repr(text)
        assert clause_breaks(text) == [m.end() for m in CLAUSE_END.finditer(text)], repr(text)
        breaks += len(expected)
    assert breaks > 10000


def reference_hits(
    topics: dict[str, TopicSpec], text: str, original: str
) -> set[tuple[int, int, int, int, str]]:
    """Every (start, end, topic, concept or part code, term) the scan must find: each
    term's patterns searched one by one, their ends checked by TermPattern.fits."""
    expected = set()
    gaps = 0
    for index, spec in enumerate(topics.values()):
        for concept_index, concept in enumerate(spec.concepts.values()):
            for term in concept.terms:
                parts = parse_parts(term)
                gap = gaps
                gaps += len(parts) > 1
                for part, patterns in enumerate(parts):
                    code = concept_index if len(parts) == 1 else part_code(gap, part)
                    for pattern in patterns:
                        start = text.find(pattern.key)
                        while start >= 0:
                            end = start + len(pattern.key)
                            if pattern.fits(text, start, end) and (
                                DASH not in pattern.key
                                or _dashes_join(Folded(text), original, start, end)
                            ):
                                expected.add((start, end, index, code, term))
                            start = text.find(pattern.key, start + 1)
    return expected


def test_the_scan_finds_what_each_pattern_finds_alone() -> None:
    rng = random.Random(37)
    found_hits = 0
    for _ in range(100):
        topics = random_topics(rng)
        matcher = TopicMatcher.compile(topics)
        for _ in range(10):
            original = f"{random_text(rng)}\x00{random_text(rng)}"
            if rng.random() < 0.5:
                original = original.encode("ascii", "ignore").decode()
            folded = fold(original)
            if folded.starts is not None:
                continue
            found, _ = matcher._scan(folded, original)
            got = [(s, e, *entry) for s, e, entries in found for entry in entries]
            assert len(got) == len(set(got))
            assert set(got) == reference_hits(topics, folded.text, original), original
            found_hits += len(got)
    assert found_hits > 1000
