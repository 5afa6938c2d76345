"""The matcher: language features, context windows, scoring and rule errors, as table tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.errors import RuleError
from bot.match.spec import ConceptSpec, TopicSpec
from bot.match.topics import TopicMatcher
from bot.types import Item


def matcher(**topics: dict[str, Any]) -> TopicMatcher:
    return TopicMatcher.compile({name: TopicSpec.model_validate(t) for name, t in topics.items()})


def one_concept(*terms: str) -> TopicMatcher:
    return matcher(t={"concepts": {"c": list(terms)}, "any": ["c"]})


def matched(m: TopicMatcher, title: str, summary: str = "") -> list[str]:
    return [match.topic for match in m.match(title, summary)]


@pytest.mark.parametrize(
    ("terms", "title", "hit"),
    [
        # case and width
        pytest.param(["Patriot"], "PATRIOT missiles", True, id="case"),
        pytest.param(["Patriot"], "ＰＡＴＲＩＯＴ配備", True, id="full-width latin in japanese"),
        # Japanese: substring, katakana variants, long vowels, half-width
        pytest.param(["迎撃"], "防空部隊が迎撃に成功", True, id="japanese substring"),
        pytest.param(
            ["パトリオット", "ペトリオット"], "地対空誘導弾ペトリオット", True, id="katakana alias"
        ),
        pytest.param(["パトリオット"], "ﾊﾟﾄﾘｵｯﾄの追加", True, id="half-width katakana"),
        pytest.param(["インターセプター"], "新型インタセプタを配備", True, id="long vowel mark"),
        pytest.param(
            ["パトリオット"], "ペイトリオッツが勝利", False, id="nfl team is another word"
        ),
        # German compounds
        pytest.param(
            ["*flugabwehr*"], "Neue Flugabwehrsysteme für Kiew", True, id="infix in compound"
        ),
        pytest.param(["*abwehr"], "Die Luftabwehr meldet", True, id="word end"),
        pytest.param(["*abwehr"], "Abwehrsystem geliefert", False, id="word end is not a prefix"),
        pytest.param(["Flugabwehr"], "Flugabwehrsystem", False, id="plain term is a whole word"),
        # Ukrainian and Russian stems, ё/е, apostrophes
        pytest.param(["ракет*"], "Росія випустила ракетами", True, id="stem ukrainian"),
        pytest.param(["ракет*"], "Ракета попала в дом", True, id="stem russian capital"),
        pytest.param(["ракет*"], "Тракетор", False, id="stem starts a word"),
        pytest.param(
            ["перехватчик*"], "перехватчиков стало больше", True, id="stem genitive plural"
        ),
        pytest.param(["все"], "Всё решено", True, id="yo folds to e"),
        pytest.param(["об'єкт*"], "удар по обʼєкту", True, id="ukrainian modifier apostrophe"),
        pytest.param(["об’єкт*"], "удар по об'єкту", True, id="typographic apostrophe in term"),
        # Latin word boundaries
        pytest.param(["Patriot"], "A patriotic song", False, id="not inside a word"),
        pytest.param(["Patriot"], "Two Patriots arrive", False, id="plural needs (s)"),
        pytest.param(["Patriot(s)"], "Two Patriots arrive", True, id="optional plural"),
        pytest.param(["Patriot"], "Ukraine's Patriot, again", True, id="punctuation is a boundary"),
        # hyphen and space variants
        pytest.param(["air defense"], "New air-defense push", True, id="hyphen in text"),
        pytest.param(["air-defense"], "New air defense push", True, id="hyphen in term"),
        pytest.param(["air defense"], "Airdefense gaps", True, id="closed compound"),
        pytest.param(["air defense"], "air – defense", True, id="dash with spaces"),
        pytest.param(["air defen(c|s)e"], "Air Defence Command", True, id="spelling choice"),
        pytest.param(["IRIS-T"], "IRIS T SLM delivered", True, id="hyphenated name with space"),
    ],
)
def test_language_features(terms: list[str], title: str, hit: bool) -> None:
    assert bool(matched(one_concept(*terms), title)) is hit


def test_hits_point_into_the_original_fields() -> None:
    m = one_concept("ракет*", "パトリオット")
    title = "Straße: ＰＡＴ ﾊﾟﾄﾘｵｯﾄ"
    summary = "Росія випустила ракети."
    (match,) = m.match(title, summary)
    spans = {(h.field, h.term): (h.start, h.end) for h in match.hits}
    start, end = spans["title", "パトリオット"]
    assert title[start:end] == "ﾊﾟﾄﾘｵｯﾄ"
    start, end = spans["summary", "ракет*"]
    assert summary[start:end] == "ракети"  # widened to the whole word


def test_snippet_marks_the_hits_in_the_title() -> None:
    (match,) = one_concept("drone(s)").match("Drones over the harbor", "Nothing here.")
    assert match.snippet == "«Drones» over the harbor"


def test_snippet_from_a_long_summary_is_cut_around_the_hit() -> None:
    summary = "word " * 80 + "missile strike " + "word " * 80
    (match,) = one_concept("missile").match("Headline", summary)
    assert "«missile»" in match.snippet
    assert match.snippet.startswith("…") and match.snippet.endswith("…")
    assert len(match.snippet) <= 170


def test_explanation_names_terms_fields_positions_and_score() -> None:
    (match,) = one_concept("Patriot").match("Patriot here", "")
    assert match.explanation() == {
        "topic": "t",
        "score": 2.0,
        "hits": [{"concept": "c", "term": "Patriot", "field": "title", "at": [0, 7]}],
        "snippet": "«Patriot» here",
    }


def test_match_item_uses_title_and_summary() -> None:
    item = Item(
        key="k", title="Nothing", link=None, summary="A drone was seen",
        published_at=datetime(2026, 1, 1, tzinfo=UTC), content_hash="h", lang="en",
    )  # fmt: skip
    assert [m.topic for m in one_concept("drone").match_item(item)] == ["t"]


CONTEXT: dict[str, Any] = {
    "patriot": {"terms": ["Patriot"], "near": ["military"]},
    "military": ["missile(s)", "battery"],
}


@pytest.mark.parametrize(
    ("within", "title", "summary", "hit"),
    [
        pytest.param("sentence", "Patriot battery arrives", "", True, id="sentence: same"),
        pytest.param(
            "sentence", "Patriot fans cheer. Missiles tested", "", False, id="sentence: next"
        ),
        pytest.param(
            "sentence", "Patriot arrives", "A missile test.", False, id="sentence: other field"
        ),
        pytest.param("3 words", "Patriot air defence missile", "", True, id="words: 2 between"),
        pytest.param("1 words", "Patriot air defence missile", "", False, id="words: too far"),
        pytest.param("1 word", "missile and Patriot", "", True, id="words: before the term"),
        pytest.param("12 chars", "Patriot and a missile", "", True, id="chars: near"),
        pytest.param("5 chars", "Patriot and a missile", "", False, id="chars: far"),
        pytest.param("field", "Patriot fans. Then a missile", "", True, id="field: same field"),
        pytest.param("field", "Patriot fans", "A missile.", False, id="field: other field"),
        pytest.param("item", "Patriot fans", "A missile.", True, id="item: anywhere"),
        pytest.param("item", "Patriot fans", "Touchdown.", False, id="item: absent"),
    ],
)
def test_context_windows(within: str, title: str, summary: str, hit: bool) -> None:
    concepts = {**CONTEXT, "patriot": {**CONTEXT["patriot"], "within": within}}
    m = matcher(t={"concepts": concepts, "any": ["patriot"]})
    assert bool(matched(m, title, summary)) is hit


def test_a_context_concept_alone_does_not_match() -> None:
    m = matcher(t={"concepts": CONTEXT, "any": ["patriot"]})
    assert matched(m, "Missile battery") == []


def test_japanese_sentences_end_at_the_full_stop() -> None:
    concepts = {"p": {"terms": ["パトリオット"], "near": ["m"]}, "m": ["ミサイル"]}
    m = matcher(t={"concepts": concepts, "any": ["p"]})
    assert matched(m, "パトリオットのミサイル") == ["t"]
    assert matched(m, "映画パトリオット。ミサイル") == []


BOOLEAN = {
    "concepts": {
        "weapon": ["drone(s)", "missile(s)"],
        "attack": ["attack(s|ed)", "strike(s)"],
        "show": ["light show"],
        "extra": ["Kyiv"],
    },
    "all": ["weapon"],
    "any": ["attack", "extra"],
    "not": ["show"],
}


@pytest.mark.parametrize(
    ("title", "summary", "hit"),
    [
        pytest.param("Drone attack on port", "", True, id="all + any"),
        pytest.param("Drones over Kyiv", "", True, id="all + other any"),
        pytest.param("Attack on port", "", False, id="all missing"),
        pytest.param("Drones seen", "", False, id="any missing"),
        pytest.param("Drone attack", "A light show followed.", False, id="not vetoes"),
        pytest.param("Missile", "It was a strike.", True, id="across fields"),
    ],
)
def test_all_any_not(title: str, summary: str, hit: bool) -> None:
    assert bool(matched(matcher(t=BOOLEAN), title, summary)) is hit


@pytest.mark.parametrize(
    ("title", "summary", "score"),
    [
        pytest.param("Drone attack", "", 4.0, id="both in title"),
        pytest.param("Drone", "An attack.", 3.0, id="one in title"),
        pytest.param("News", "A drone attack.", 2.0, id="both in summary"),
        pytest.param("Drone attack", "Drone attack again.", 4.0, id="best field counts once"),
    ],
)
def test_title_hits_weigh_more_than_summary_hits(title: str, summary: str, score: float) -> None:
    topic = {"concepts": {"w": ["drone"], "a": ["attack"]}, "all": ["w", "a"]}
    (match,) = matcher(t=topic).match(title, summary)
    assert match.score == score


@pytest.mark.parametrize(
    ("threshold", "title", "summary", "hit"),
    [
        pytest.param(3, "Drone", "An attack.", True, id="reached"),
        pytest.param(3, "News", "A drone attack.", False, id="summary only is below"),
        pytest.param(1, "News", "A drone attack.", True, id="low threshold"),
    ],
)
def test_threshold(threshold: float, title: str, summary: str, hit: bool) -> None:
    topic = {"concepts": {"w": ["drone"], "a": ["attack"]}, "all": ["w", "a"]}
    m = matcher(t={**topic, "threshold": threshold})
    assert bool(matched(m, title, summary)) is hit


def test_concept_weight_and_field_weights_change_the_score() -> None:
    topic = {
        "concepts": {"w": {"terms": ["drone"], "weight": 0.5}},
        "any": ["w"],
        "title_weight": 3,
        "summary_weight": 0.5,
        "threshold": 0.1,
    }
    m = matcher(t=topic)
    assert m.match("drone", "")[0].score == 1.5
    assert m.match("x", "drone")[0].score == 0.25


def test_longest_hit_hides_the_shorter_inside_it() -> None:
    topic = {
        "concepts": {"weapon": ["drone(s)", "attack drone(s)"], "attack": ["attack(s)"]},
        "all": ["weapon", "attack"],
    }
    m = matcher(t=topic)
    assert matched(m, "Interceptors stop attack drones") == []
    assert matched(m, "Attack by drones") == ["t"]


def test_a_compound_carries_several_concepts() -> None:
    topic = {
        "concepts": {"halt": ["*stopp"], "supply": ["*lieferstopp"]},
        "all": ["halt", "supply"],
    }
    assert matched(matcher(t=topic), "Der US-Lieferstopp trifft Kiew") == ["t"]


def test_many_topics_share_one_scan_and_keep_config_order() -> None:
    m = matcher(
        b={"concepts": {"c": ["drone"]}, "any": ["c"]},
        a={"concepts": {"c": ["drone(s)"], "x": ["show"]}, "any": ["c"], "not": ["x"]},
        c={"concepts": {"c": ["missile"]}, "any": ["c"]},
    )
    assert m.topics == ("b", "a", "c")
    assert matched(m, "drone and missile") == ["b", "a", "c"]
    assert matched(m, "drone show") == ["b"]


def test_a_nul_in_the_title_does_not_move_the_field_boundary() -> None:
    (match,) = one_concept("drone").match("a\x00b", "drone")
    assert [(h.field, h.start) for h in match.hits] == [("summary", 0)]


def test_no_topics_match_nothing() -> None:
    assert TopicMatcher.compile({}).match("anything") == []


def unchecked(concepts: dict[str, list[str]], any_of: list[str]) -> TopicSpec:
    """A TopicSpec built in code without validation, as a caller bypassing feeds.yaml might."""
    return TopicSpec.model_construct(
        description="",
        concepts={
            name: ConceptSpec.model_construct(terms=terms, near=[], within="sentence", weight=1.0)
            for name, terms in concepts.items()
        },
        all_of=[],
        any_of=any_of,
        none_of=[],
        threshold=1.0,
        title_weight=2.0,
        summary_weight=1.0,
    )


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        pytest.param(unchecked({"c": ["Pat*riot"]}, ["c"]), ["'t'", "'c'", "'Pat*riot'"],
                     id="star inside"),
        pytest.param(unchecked({"c": [""]}, ["c"]), ["'t'", "'c'", "empty"], id="empty term"),
        pytest.param(unchecked({"c": ["ok"]}, ["x"]), ["'t'", "'x'", "any"], id="unknown concept"),
    ],
)  # fmt: skip
def test_compile_errors_name_topic_and_term(spec: TopicSpec, words: list[str]) -> None:
    with pytest.raises(RuleError) as info:
        TopicMatcher.compile({"t": spec})
    for word in words:
        assert word in str(info.value)
