"""Hyphens and dashes: inside a term they join its words, between clauses they do not."""

from __future__ import annotations

from typing import Any

import pytest

from bot.match.spec import TopicSpec
from bot.match.text import DASH, fold_plain, parse_term
from bot.match.topics import TopicMatcher

from .test_topics import matched, one_concept

TERMS = ("air defen(c|s)e", "missile defen(c|s)e", "IRIS-T", "ППО систем*", "ракетно ударн*")


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        pytest.param("air-defense", "air defense", id="hyphen"),
        pytest.param("IRIS\u2011T", "iris t", id="non-breaking hyphen"),
        pytest.param("air\u2013defense", "air defense", id="en dash inside a word"),
        pytest.param("air – defense", f"air {DASH} defense", id="en dash with spaces"),
        pytest.param("Patriot — system", f"patriot {DASH} system", id="em dash with spaces"),
        pytest.param("Kyiv -- live", f"kyiv {DASH}{DASH} live", id="double hyphen"),
        pytest.param("air\u00a0– defense", f"air {DASH} defense", id="no-break space"),
        pytest.param("ＰＡＣ－３", "pac 3", id="full-width hyphen"),
    ],
)
def test_fold_dashes(raw: str, folded: str) -> None:
    assert fold_plain(raw) == folded


@pytest.mark.parametrize(
    ("title", "hit"),
    [
        pytest.param("New air-defense push", True, id="hyphen"),
        pytest.param("New air defence push", True, id="space"),
        pytest.param("New airdefence push", True, id="closed"),
        pytest.param("New air – defence push", True, id="spaced en dash"),
        pytest.param("Air — Defence Systems Arrive", True, id="spaced em dash, title case"),
        pytest.param("IRIS\u2011T arrives", True, id="non-breaking hyphen"),
        pytest.param("IRIS – T arrives", True, id="spaced dash in a name"),
        pytest.param("Нові ППО – системи", True, id="cyrillic spaced dash"),
        pytest.param("ракетно – ударний комплекс", True, id="cyrillic stems"),
        pytest.param("Russia fired a missile – Defence Ministry says", False, id="attribution"),
        pytest.param("Росія атакувала ППО – Системи зв'язку", True, id="capitals both sides"),
        pytest.param("Drones came from the air. – Defence chiefs met", False, id="sentence end"),
        pytest.param("From the air – – defence", False, id="two dashes"),
    ],
)
def test_dashes_in_terms(title: str, hit: bool) -> None:
    assert bool(matched(one_concept(*TERMS), title)) is hit


def test_a_dashed_hit_is_highlighted_whole_in_the_summary() -> None:
    (match,) = one_concept(*TERMS).match("Kyiv", "New air – defence units.")
    (hit,) = match.hits
    assert ("New air – defence units."[hit.start : hit.end], hit.field) == (
        "air – defence",
        "summary",
    )


def test_terms_written_with_a_dash_are_the_same_term() -> None:
    keys = {p.key for p in parse_term("air – defense")}
    assert (
        keys
        == {p.key for p in parse_term("air-defense")}
        == {p.key for p in parse_term("air defense")}
    )
    assert keys == {"air defense", "airdefense", f"air {DASH} defense"}


def test_long_terms_get_no_dashed_spellings() -> None:
    keys = {p.key for p in parse_term("a b c d e")}
    assert keys == {"a b c d e", "abcde"}


PATRIOT: dict[str, Any] = {
    "concepts": {
        "patriot": {"terms": ["Patriot"], "near": ["system"], "within": "1 word"},
        "system": ["system(s)", "систем*"],
    },
    "any": ["patriot"],
}


@pytest.mark.parametrize(
    ("title", "hit"),
    [
        pytest.param("Patriot — system", True, id="dash is no word"),
        pytest.param("Patriot – new system", True, id="one word and a dash"),
        pytest.param("Patriot fans – the system", False, id="two words"),
    ],
)
def test_a_dash_is_not_a_word_in_windows(title: str, hit: bool) -> None:
    m = TopicMatcher.compile({"t": TopicSpec.model_validate(PATRIOT)})
    assert bool(matched(m, title)) is hit


@pytest.mark.parametrize(
    ("title", "hit"),
    [
        pytest.param("Berlin stellt Lieferungen – vorerst – ein", False, id="dash ends clause"),
        pytest.param("Berlin stellt Forderungen – Lieferungen ein", False, id="dash before"),
        pytest.param("Berlin stellt Lieferungen ein – Kiew reagiert", True, id="dash after"),
        pytest.param("Berlin stellt Waffen-Lieferungen ein", True, id="hyphen is no dash"),
    ],
)
def test_a_clause_dash_bounds_terms_with_gaps(title: str, hit: bool) -> None:
    assert bool(matched(one_concept("stellt ... ein"), title)) is hit
