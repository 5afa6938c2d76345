"""The JSON-lines contract of `skywatch match`: fields kept, topics added, bad lines reported."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.match.jsonl import match_stream
from bot.match.spec import TopicSpec
from bot.match.topics import TopicMatcher

MATCHER = TopicMatcher.compile(
    {"drones": TopicSpec.model_validate({"concepts": {"d": ["drone(s)"]}, "any": ["d"]})}
)


def run(lines: list[str], explain: bool = False) -> list[dict[str, Any]]:
    return [json.loads(out) for out in match_stream(MATCHER, lines, explain=explain)]


def test_every_field_is_kept_and_topics_added() -> None:
    line = json.dumps({"id": "x1", "title": "Drones seen", "lang": "en", "source": {"a": 1}})
    assert run([line]) == [
        {"id": "x1", "title": "Drones seen", "lang": "en", "source": {"a": 1}, "topics": ["drones"]}
    ]


def test_off_topic_items_get_an_empty_list() -> None:
    assert run(['{"title": "Weather"}'])[0]["topics"] == []


def test_summary_counts_and_explain_adds_why() -> None:
    (out,) = run(['{"title": "News", "summary": "A drone flew."}'], explain=True)
    assert out["topics"] == ["drones"]
    assert out["why"][0]["hits"] == [
        {"concept": "d", "term": "drone(s)", "field": "summary", "at": [2, 7]}
    ]


def test_without_explain_there_is_no_why() -> None:
    assert "why" not in run(['{"title": "Drones"}'])[0]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param("{not json", "not valid JSON", id="broken json"),
        pytest.param('["a list"]', "JSON object", id="not an object"),
        pytest.param('{"summary": "x"}', "`title` is missing", id="no title"),
        pytest.param('{"title": 3}', "`title` is missing or not a string", id="title not text"),
        pytest.param(
            '{"title": "a", "summary": 5}', "`summary` must be a string", id="bad summary"
        ),
    ],
)
def test_bad_lines_become_error_objects_and_the_stream_goes_on(line: str, message: str) -> None:
    out = run(['{"title": "Drones"}', "", line, '{"title": "drone"}'])
    assert out[0]["topics"] == ["drones"]
    assert out[1]["line"] == 3
    assert out[1]["error"].startswith("line 3: ")
    assert message in out[1]["error"]
    assert out[2]["topics"] == ["drones"]


def test_output_keeps_non_ascii_text_readable() -> None:
    (raw,) = match_stream(MATCHER, ['{"title": "Дрони над Києвом"}'], explain=False)
    assert "Києвом" in raw
