"""Evaluation: counts, scores, misses, hard negatives, file errors and the rendered report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bot.match.evaluate import (
    EvalReport,
    LabelledDataError,
    evaluate,
    load_labelled,
    render_report,
)
from bot.match.spec import TopicSpec
from bot.match.topics import TopicMatcher

MATCHER = TopicMatcher.compile(
    {
        "drones": TopicSpec.model_validate({"concepts": {"d": ["drone(s)"]}, "any": ["d"]}),
        "pause": TopicSpec.model_validate({"concepts": {"p": ["pause"]}, "any": ["p"]}),
    }
)
EXAMPLES: list[dict[str, Any]] = [
    {"id": "1", "title": "Drones attack", "labels": ["drones"]},  # TP drones
    {"id": "2", "title": "Drone show", "labels": [], "hard_negative": True},  # FP, flagged
    {"id": "3", "title": "UAV strike", "labels": ["drones"]},  # FN drones
    {"id": "4", "title": "Arms pause", "labels": ["pause"]},  # TP pause
    {"id": "5", "title": "Rain", "labels": []},  # TN
    {"id": "6", "title": "Quiet", "labels": ["coproduction"]},  # label the matcher lacks
]


@pytest.fixture
def report() -> EvalReport:
    return evaluate(MATCHER, EXAMPLES)


def test_counts_per_topic(report: EvalReport) -> None:
    drones = report.topic("drones")
    assert (drones.true_positives, drones.false_positives, drones.false_negatives) == (1, 1, 1)
    assert drones.support == 2
    assert drones.precision == drones.recall == drones.f1 == 0.5
    assert report.topic("pause").f1 == 1.0


def test_labels_unknown_to_the_matcher_count_as_misses(report: EvalReport) -> None:
    assert report.topic("coproduction").false_negatives == 1
    assert report.topic("coproduction").f1 == 0.0


def test_micro_f1_pools_all_topics(report: EvalReport) -> None:
    # TP 2, FP 1, FN 2 -> 4 / (4 + 1 + 2)
    assert report.micro_f1 == pytest.approx(4 / 7)
    assert report.examples == 6


def test_misses_and_hard_negatives(report: EvalReport) -> None:
    assert [(m.id, m.expected, m.got) for m in report.misclassified] == [
        ("2", (), ("drones",)),
        ("3", ("drones",), ()),
        ("6", ("coproduction",), ()),
    ]
    assert [m.id for m in report.hard_negatives_flagged] == ["2"]


def test_render_report_shows_scores_and_misses(report: EvalReport) -> None:
    console = Console(width=160, record=True)
    console.print(render_report(report))
    text = console.export_text()
    assert "drones" in text and "0.500" in text
    assert "hard negatives flagged: 1" in text
    assert "Drone show" in text


def test_render_a_clean_report() -> None:
    console = Console(width=120, record=True)
    console.print(render_report(evaluate(MATCHER, EXAMPLES[:1])))
    assert "no misclassified examples" in console.export_text()


def write_lines(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_labelled_reads_and_skips_blank_lines(tmp_path: Path) -> None:
    path = write_lines(tmp_path, json.dumps(EXAMPLES[0]), "", json.dumps(EXAMPLES[1]))
    assert [e["id"] for e in load_labelled(path)] == ["1", "2"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param("{oops", "Expecting", id="not json"),
        pytest.param("[1]", "JSON object", id="not an object"),
        pytest.param('{"labels": []}', "`title`", id="no title"),
        pytest.param('{"title": "x"}', "`labels`", id="no labels"),
        pytest.param('{"title": "x", "labels": "drones"}', "list of topic names", id="labels text"),
        pytest.param('{"title": "x", "summary": 1, "labels": []}', "`summary`", id="bad summary"),
    ],
)
def test_load_labelled_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write_lines(tmp_path, json.dumps(EXAMPLES[0]), line)
    with pytest.raises(LabelledDataError, match=message) as info:
        load_labelled(path)
    assert str(info.value).startswith(f"{path}:2: ")


def test_load_labelled_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LabelledDataError, match="no such file"):
        load_labelled(tmp_path / "absent.jsonl")
