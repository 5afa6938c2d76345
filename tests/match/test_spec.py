"""Topic rules in feeds.yaml: a bad rule fails at load with file, line, topic and term."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from bot.errors import ConfigError
from bot.match.spec import TopicSpec, parse_within

HEADER = "feeds: []\ntopics:\n  air:\n"


def error_of(tmp_path: Path, topic_body: str) -> str:
    path = tmp_path / "feeds.yaml"
    path.write_text(HEADER + topic_body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    return str(info.value)


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        pytest.param(
            "    concepts:\n      sys: [NASAMS, 'Pat*riot']\n    any: [sys]\n",
            5, ["topics.air.concepts.sys", "'Pat*riot'", "start or end"],
            id="star in the middle",
        ),
        pytest.param(
            "    concepts:\n      halt:\n        - stellt ein\n        - stellt ...\n"
            "    any: [halt]\n",
            5, ["topics.air.concepts.halt", "'stellt ...'", "words on both sides"],
            id="gap with nothing after it",
        ),
        pytest.param(
            "    concepts:\n      halt: ['迎撃 ... 成功']\n    any: [halt]\n",
            5, ["topics.air.concepts.halt", "'迎撃 ... 成功'", "Japanese"],
            id="gap in japanese",
        ),
        pytest.param(
            "    concepts:\n      sys: {terms: ['']}\n    any: [sys]\n",
            5, ["topics.air.concepts.sys", "empty"],
            id="empty term",
        ),
        pytest.param(
            "    concepts:\n      sys: [NASAMS]\n    any: [system]\n",
            3, ["topics.air", "any: 'system' is not a concept", "known: sys"],
            id="unknown concept in any",
        ),
        pytest.param(
            "    concepts:\n      sys: [NASAMS]\n    all: [sys]\n    not: [nfl]\n",
            3, ["topics.air", "not: 'nfl'"],
            id="unknown concept in not",
        ),
        pytest.param(
            "    concepts:\n      p: {terms: [Patriot], near: [mil]}\n    any: [p]\n",
            4, ["topics.air.concepts", "concept 'p': near: 'mil'"],
            id="unknown context concept",
        ),
        pytest.param(
            "    concepts:\n      p: {terms: [Patriot], near: [p]}\n    any: [p]\n",
            4, ["topics.air.concepts", "near itself"],
            id="context is itself",
        ),
        pytest.param(
            "    concepts:\n      p: {terms: [Patriot], within: soon}\n    any: [p]\n",
            5, ["topics.air.concepts.p.within", "'soon' is not a window"],
            id="bad window",
        ),
        pytest.param(
            "    concepts:\n      p: [Patriot]\n",
            3, ["topics.air", "needs `all` or `any`"],
            id="no all or any",
        ),
        pytest.param(
            "    concepts:\n      p: [Patriot]\n    any: [p]\n    treshold: 2\n",
            7, ["topics.air.treshold", "not a known setting"],
            id="misspelt key",
        ),
    ],
)  # fmt: skip
def test_bad_rules_name_file_line_topic_and_term(
    tmp_path: Path, body: str, line: int, words: list[str]
) -> None:
    message = error_of(tmp_path, body)
    assert message.startswith(f"{tmp_path / 'feeds.yaml'}:{line}: ")
    for word in words:
        assert word in message


def test_terms_alone_are_short_for_a_concept_mapping() -> None:
    short = TopicSpec.model_validate({"concepts": {"c": ["a", "b"]}, "any": ["c"]})
    long = TopicSpec.model_validate({"concepts": {"c": {"terms": ["a", "b"]}}, "any": ["c"]})
    assert short == long
    assert short.concepts["c"].window == ("sentence", 0)


@pytest.mark.parametrize(
    ("text", "window"),
    [
        pytest.param("sentence", ("sentence", 0), id="sentence"),
        pytest.param("8 words", ("words", 8), id="words"),
        pytest.param("1 word", ("words", 1), id="one word"),
        pytest.param("40 chars", ("chars", 40), id="chars"),
        pytest.param(" Item ", ("item", 0), id="item, any case"),
    ],
)
def test_windows(text: str, window: tuple[str, int]) -> None:
    assert parse_within(text) == window


@pytest.mark.parametrize("text", ["0 words", "near", "8 lines", "-3 chars"])
def test_bad_windows(text: str) -> None:
    with pytest.raises(ValueError, match="not a window"):
        parse_within(text)
