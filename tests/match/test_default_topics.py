"""The default topics of feeds.yaml, measured on labelled examples in five languages.

tests/data/topics/*.jsonl are written for this project (devset format);
the shared development set is read in place when the checkout has it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from bot.match.evaluate import EvalReport, evaluate, load_labelled
from bot.match.topics import TopicMatcher

from ..conftest import REPO, SHARED

DATA = REPO / "tests" / "data" / "topics"
DEVSET = SHARED / "devset" / "topics-dev.jsonl"
TOPICS = ("air_defense", "drone_strike", "weapons_pause", "coproduction")
LANGS = ("en", "ja", "uk", "de", "ru")


@pytest.fixture(scope="module")
def matcher() -> TopicMatcher:
    return TopicMatcher.compile(load_config(REPO / "feeds.yaml", env={}).file.topics)


def scores(report: EvalReport) -> dict[str, float]:
    return {t.topic: round(t.f1, 3) for t in report.topics}


def test_labelled_examples_cover_every_language_and_topic() -> None:
    examples = [e for path in DATA.glob("*.jsonl") for e in load_labelled(path)]
    for lang in LANGS:
        mine = [e for e in examples if e["lang"] == lang]
        assert len(mine) >= 60, lang
        assert any(e["hard_negative"] for e in mine), lang
        assert {label for e in mine for label in e["labels"]} == set(TOPICS), lang


@pytest.mark.parametrize("lang", LANGS)
def test_default_topics_per_language(matcher: TopicMatcher, lang: str) -> None:
    report = evaluate(matcher, load_labelled(DATA / f"{lang}.jsonl"))
    assert report.hard_negatives_flagged == ()
    assert all(f1 >= 0.9 for f1 in scores(report).values()), scores(report)


def test_default_topics_on_all_labelled_examples(matcher: TopicMatcher) -> None:
    examples = [e for path in sorted(DATA.glob("*.jsonl")) for e in load_labelled(path)]
    report = evaluate(matcher, examples)
    assert report.hard_negatives_flagged == ()
    assert all(t.precision >= 0.97 for t in report.topics), scores(report)
    assert all(t.f1 >= 0.95 for t in report.topics), scores(report)


def test_default_topics_on_the_shared_devset(matcher: TopicMatcher) -> None:
    if not Path(DEVSET).exists():
        pytest.skip(f"shared devset not found at {DEVSET} (it lives outside the repository)")
    report = evaluate(matcher, load_labelled(DEVSET))
    assert report.hard_negatives_flagged == ()
    assert all(f1 >= 0.95 for f1 in scores(report).values()), scores(report)
