"""Terms with gaps: German separable verbs ("stellt die Lieferungen ein") as plain terms."""

from __future__ import annotations

import pytest

from bot.errors import RuleError
from bot.match.spec import TopicSpec
from bot.match.text import ends_clause, fold_plain, parse_parts
from bot.match.topics import TopicMatcher

from .test_topics import matched, one_concept, unchecked

SEPARABLE = (
    "stell(t|en|te|ten) ... ein",
    "setz(t|en|te|ten) ... aus",
    "(nimmt|nehmen|nahm|nahmen) ... wieder auf",
    "(fängt|fangen|fing|fingen) ... ab",
)


@pytest.mark.parametrize(
    ("title", "hit"),
    [
        pytest.param("USA stellen Waffenlieferungen an Kiew ein", True, id="particle ends title"),
        pytest.param("Die USA stellen die Lieferungen vorerst ein.", True, id="before full stop"),
        pytest.param("Berlin setzt die Ausfuhr aus, sagt Scholz", True, id="before comma"),
        pytest.param("USA setzen Lieferungen aus und prüfen Bestände", True, id="before und"),
        pytest.param("Pentagon nimmt die Lieferungen wieder auf", True, id="two-word particle"),
        pytest.param("Flugabwehr fing 30 von 40 Drohnen ab", True, id="past tense"),
        pytest.param("USA setzen Lieferungen aus Sorge aus", True, id="second particle closes"),
        pytest.param("Stellen Sie ein neues System vor", False, id="article is no particle"),
        pytest.param("USA setzen Lieferungen aus Deutschland fort", False, id="preposition"),
        pytest.param("Kiew stellt Forderungen. Ein Treffen ein", False, id="other sentence"),
        pytest.param("Kiew stellt Forderungen: Lieferungen ein", False, id="colon ends clause"),
        pytest.param("Ein Werk stellt Waffen her", False, id="particle before the verb"),
        pytest.param("Die Ukraine nimmt Kredite auf", False, id="wieder is part of the term"),
        pytest.param(
            "USA stellen " + "sehr " * 13 + "viele Lieferungen ein", False, id="gap too long"
        ),
    ],
)
def test_separable_verbs(title: str, hit: bool) -> None:
    assert bool(matched(one_concept(*SEPARABLE), title)) is hit


def test_the_parts_are_highlighted_not_the_words_between() -> None:
    (match,) = one_concept(*SEPARABLE).match("USA stellen Lieferungen ein", "")
    spans = [(h.start, h.end) for h in match.hits]
    assert spans == [(4, 11), (24, 27)]
    assert {h.term for h in match.hits} == {"stell(t|en|te|ten) ... ein"}


def test_words_between_the_parts_still_count_for_other_concepts() -> None:
    topic = {
        "concepts": {"halt": ["stellt ... ein"], "supply": ["*lieferung(en)"]},
        "all": ["halt", "supply"],
    }
    m = TopicMatcher.compile({"t": TopicSpec.model_validate(topic)})
    assert matched(m, "Berlin stellt Waffenlieferungen ein") == ["t"]
    assert matched(m, "Berlin stellt Waffenlieferungen vor") == []


def test_a_gap_term_with_context_counts_near_its_context() -> None:
    topic = {
        "concepts": {
            "intercept": {"terms": ["fing ... ab"], "near": ["threat"], "within": "sentence"},
            "threat": ["*drohne(n)"],
        },
        "any": ["intercept"],
    }
    m = TopicMatcher.compile({"t": TopicSpec.model_validate(topic)})
    assert matched(m, "Die Flugabwehr fing 30 Drohnen ab") == ["t"]
    assert matched(m, "Der Torwart fing den Ball ab") == []


def test_a_gap_term_in_several_topics_and_a_plain_term_share_keys() -> None:
    m = TopicMatcher.compile(
        {
            "a": TopicSpec.model_validate({"concepts": {"c": ["stellt ... ein"]}, "any": ["c"]}),
            "b": TopicSpec.model_validate({"concepts": {"c": ["ein"]}, "any": ["c"]}),
            "c": TopicSpec.model_validate({"concepts": {"c": ["setzt ... aus"]}, "any": ["c"]}),
        }
    )
    assert matched(m, "Berlin stellt Lieferungen ein") == ["a", "b"]
    assert matched(m, "Berlin setzt Lieferungen aus") == ["c"]


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        pytest.param("stellt ... ein", [["stellt"], ["ein"]], id="three dots"),
        pytest.param("stellt…ein", [["stellt"], ["ein"]], id="ellipsis character"),
        pytest.param(
            "nimmt ... wieder auf",
            [["nimmt"], ["wieder auf", "wiederauf", "wieder – auf"]],
            id="words",
        ),
        pytest.param("stell* ... ein", [["stell"], ["ein"]], id="stem part"),
        pytest.param("Patriot", [["patriot"]], id="no gap"),
    ],
)
def test_parse_parts(raw: str, parts: list[list[str]]) -> None:
    assert [sorted(p.key for p in part) for part in parse_parts(raw)] == [
        sorted(keys) for keys in parts
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param("... ein", "words on both sides", id="nothing before"),
        pytest.param("stellt ...", "words on both sides", id="nothing after"),
        pytest.param("stellt ... ... ein", "words on both sides", id="two gaps in a row"),
        pytest.param("a ... b ... c ... d", "at most 3 parts", id="too many parts"),
        pytest.param("迎撃 ... 成功", "Japanese", id="japanese has no words"),
        pytest.param("st* ... ein", "3 letters", id="short stem in a part"),
    ],
)
def test_bad_gap_terms(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_parts(raw)


def test_a_bad_gap_term_names_topic_concept_and_term() -> None:
    with pytest.raises(RuleError) as info:
        TopicMatcher.compile({"t": unchecked({"halt": ["stellt ..."]}, ["halt"])})
    assert all(word in str(info.value) for word in ("'t'", "'halt'", "'stellt ...'"))


@pytest.mark.parametrize(
    ("text", "end", "closes"),
    [
        pytest.param("stellt ein", 10, True, id="end of text"),
        pytest.param("stellt ein, sagt", 10, True, id="comma"),
        pytest.param("stellt ein und", 10, True, id="conjunction"),
        pytest.param("stellt ein neues", 10, False, id="next word"),
        pytest.param("stell einstellung", 8, True, id="a stem ends with its word"),
    ],
)
def test_ends_clause(text: str, end: int, closes: bool) -> None:
    assert ends_clause(fold_plain(text), end) is closes
