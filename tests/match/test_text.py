"""Folding and term syntax: what the matcher considers the same text."""

from __future__ import annotations

import pytest

from bot.match.text import TermPattern, fold, fold_plain, parse_term


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        pytest.param("PATRIOT", "patriot", id="case"),
        pytest.param("ＰＡＴＲＩＯＴ", "patriot", id="full-width latin"),
        pytest.param("ﾊﾟﾄﾘｵｯﾄ", "パトリオット", id="half-width katakana with voicing mark"),
        pytest.param("インターセプター", "インタセプタ", id="long vowel mark dropped"),
        pytest.param("Straße", "strasse", id="german sharp s"),
        pytest.param("Ёлка", "елка", id="russian yo"),
        pytest.param("об’єкт об'єкт обʼєкт", "об'єкт об'єкт об'єкт", id="ukrainian apostrophes"),
        pytest.param("air-defense air–defense", "air defense air defense", id="dashes"),
        pytest.param(
            "ニューイングランド・ペイトリオッツ", "ニュイングランド ペイトリオッツ", id="middle dot"
        ),
        pytest.param("soft\u00adhyphen", "softhyphen", id="soft hyphen dropped"),
    ],
)
def test_fold(raw: str, folded: str) -> None:
    assert fold_plain(raw) == folded


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        pytest.param("Die Straße nach Kiew", "kiew", id="expansion before the hit"),
        pytest.param("ＡＩＲ－ＤＥＦＥＮＳＥ now", "now", id="width folding"),
        pytest.param("ドローンで攻撃", "攻撃", id="dropped long vowel before the hit"),
        pytest.param("ﾊﾟﾄﾘｵｯﾄ配備", "配備", id="half-width kana before the hit"),
        pytest.param("plain text here", "here", id="identity"),
    ],
)
def test_folded_positions_map_back_to_the_original(text: str, needle: str) -> None:
    folded = fold(text)
    start = folded.text.index(needle)
    original_start, original_end = folded.original_span(start, start + len(needle))
    assert fold_plain(text[original_start:original_end]) == needle


@pytest.mark.parametrize(
    ("term", "keys"),
    [
        pytest.param("Patriot", {"patriot"}, id="plain"),
        pytest.param("drone(s)", {"drone", "drones"}, id="optional ending"),
        pytest.param("attack(s|ed)", {"attack", "attacks", "attacked"}, id="endings"),
        pytest.param("defen(c|s)e", {"defence", "defense"}, id="choice inside"),
        pytest.param(
            "air-defense",
            {"air defense", "airdefense", "air – defense"},
            id="hyphen: space or closed",
        ),
        pytest.param(
            "air  defense", {"air defense", "airdefense", "air – defense"}, id="spaces collapse"
        ),
        pytest.param("ракет*", {"ракет"}, id="stem"),
    ],
)
def test_term_keys(term: str, keys: set[str]) -> None:
    assert {p.key for p in parse_term(term)} == keys


@pytest.mark.parametrize(
    ("term", "left_free", "right_free"),
    [
        pytest.param("Patriot", False, False, id="whole word"),
        pytest.param("ракет*", False, True, id="stem"),
        pytest.param("*abwehr", True, False, id="word end"),
        pytest.param("*abwehr*", True, True, id="infix"),
        pytest.param("迎撃", True, True, id="japanese has no boundaries"),
    ],
)
def test_term_ends(term: str, left_free: bool, right_free: bool) -> None:
    (pattern,) = parse_term(term)
    assert (pattern.left_free, pattern.right_free) == (left_free, right_free)


@pytest.mark.parametrize(
    ("term", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("  ", "empty", id="blank"),
        pytest.param("*", "empty", id="star alone"),
        pytest.param("Pat*riot", "may only start or end", id="star inside"),
        pytest.param("ра*", "stem needs 3 letters", id="stem too short"),
        pytest.param("drone(s", "unbalanced", id="open bracket"),
        pytest.param("drone((s))", "unbalanced", id="nested brackets"),
        pytest.param("ー", "nothing left", id="folds to nothing"),
        pytest.param("(a|b)(c|d)(e|f)(g|h)(i|j)(k|l)(m|n)", "spellings", id="too many variants"),
    ],
)
def test_bad_terms_say_what_is_wrong(term: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_term(term)
    assert repr(term) in str(info.value)


@pytest.mark.parametrize(
    ("text", "start", "end", "fits"),
    [
        pytest.param("patriot missile", 0, 7, True, id="word"),
        pytest.param("patriotic song", 0, 7, False, id="inside a longer word"),
        pytest.param("a patriot", 2, 9, True, id="at the end"),
        pytest.param("xpatriot", 1, 8, False, id="glued on the left"),
        pytest.param("patriotミサイル", 0, 7, True, id="next to japanese"),
        pytest.param("ukraine's", 0, 7, True, id="before an apostrophe"),
    ],
)
def test_whole_word_boundaries(text: str, start: int, end: int, fits: bool) -> None:
    assert (
        TermPattern("patriot" if "patriot" in text else "ukraine", False, False).fits(
            text, start, end
        )
        is fits
    )
