"""The clustering backtest: its arithmetic, its output, and floors on the labelled data."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from bot.match.backtest import (
    BacktestReport,
    LabelledItem,
    backtest,
    backtest_command,
    load_items,
    predict,
    render_backtest,
    sweep,
)
from bot.match.thresholds import DEFAULT

STORIES = Path(__file__).resolve().parent.parent / "data" / "stories"
T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
KYIV = ("Russian drones hit Kyiv overnight", "Three people were killed in the capital.")
ECB = ("ECB keeps interest rates unchanged", "The deposit rate stays at two percent.")


@pytest.fixture(scope="module")
def items() -> list[LabelledItem]:
    return load_items([STORIES])


@pytest.fixture(scope="module")
def report(items: list[LabelledItem]) -> BacktestReport:
    return backtest(items, DEFAULT, "index")


def make(id: str, group: str, text: tuple[str, str], feed: str, minutes: int) -> LabelledItem:
    return LabelledItem(id, group, "en", feed, T0 + timedelta(minutes=minutes), *text)


# --- floors on tests/data/stories (measured: P 1.000, R 0.884, B-cubed R 0.927) ---


def test_precision_floor(report: BacktestReport) -> None:
    # A wrong merge hides a story from the team: precision is the figure to keep.
    assert report.pairwise.precision >= 0.97
    assert report.bcubed.precision >= 0.98
    for lang, scores in report.by_lang.items():
        assert scores.precision >= 0.95, lang


def test_recall_floor(report: BacktestReport) -> None:
    assert report.pairwise.recall >= 0.85
    assert report.bcubed.recall >= 0.90
    assert min(s.recall for s in report.by_lang.values()) >= 0.75


def test_lsh_costs_little_recall(items: list[LabelledItem], report: BacktestReport) -> None:
    exhaustive = backtest(items, DEFAULT, "exhaustive")
    assert exhaustive.pairwise.precision >= 0.97
    # The index hides candidates to be fast; measured, it loses 2 of the 116 pairs
    # an exhaustive search finds (de-01c, near the low German threshold).
    assert report.pairwise.true_pos <= exhaustive.pairwise.true_pos
    assert exhaustive.pairwise.true_pos - report.pairwise.true_pos <= 4


def test_batch_mode_groups_with_disjoint_set(items: list[LabelledItem]) -> None:
    batch = backtest(items, DEFAULT, "batch")
    assert batch.pairwise.precision >= 0.97
    assert batch.pairwise.recall >= 0.85


# --- the labelled data itself ---


def test_labelled_data_shape(items: list[LabelledItem]) -> None:
    ids = [i.id for i in items]
    assert len(ids) == len(set(ids))
    sizes = Counter(i.group for i in items)
    multi = [g for g, n in sizes.items() if n >= 2]
    assert len(multi) >= 40
    assert max(sizes.values()) <= 6
    assert {i.lang for i in items} == {"en", "de", "uk", "ru", "ja"}
    for group in sizes:
        langs = {i.lang for i in items if i.group == group}
        feeds = [i.feed for i in items if i.group == group]
        assert len(langs) == 1, group
        assert len(feeds) == len(set(feeds)), f"{group}: one report per outlet"
    assert all(i.published_at.tzinfo is not None and i.title for i in items)


# --- the arithmetic, on hand-made cases ---


def test_perfect_grouping() -> None:
    data = [
        make("a", "kyiv", KYIV, "A", 0),
        make("b", "kyiv", KYIV, "B", 10),
        make("c", "ecb", ECB, "C", 20),
    ]
    r = backtest(data)
    assert (r.pairwise.precision, r.pairwise.recall) == (1.0, 1.0)
    assert (r.pairwise.true_pos, r.pairwise.false_pos, r.pairwise.false_neg) == (1, 0, 0)
    assert (r.items, r.groups, r.stories) == (3, 2, 2)
    assert r.wrong_merges == () and r.misses == ()


def test_wrong_merge_is_listed() -> None:
    data = [make("a", "one", KYIV, "A", 0), make("b", "two", KYIV, "B", 10)]
    r = backtest(data)
    assert r.pairwise.precision == 0.0
    assert [(e.a.id, e.b.id) for e in r.wrong_merges] == [("a", "b")]
    assert r.wrong_merges[0].score == pytest.approx(1.0)
    assert r.bcubed.precision == pytest.approx(0.5)


def test_miss_is_listed_and_bcubed_recall() -> None:
    data = [
        make("a", "g", KYIV, "A", 0),
        make("b", "g", KYIV, "B", 10),
        make("c", "g", ECB, "C", 20),
    ]
    r = backtest(data)
    # predicted {a, b} {c}; labelled {a, b, c}: 1 of 3 pairs found
    assert r.pairwise.recall == pytest.approx(1 / 3)
    assert {(e.a.id, e.b.id) for e in r.misses} == {("a", "c"), ("b", "c")}
    assert r.bcubed.precision == 1.0
    assert r.bcubed.recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3) / 3)


def test_replay_is_in_publication_order() -> None:
    late = make("late", "g", KYIV, "A", 60)
    early = make("early", "g", KYIV, "B", 0)
    stories = predict([late, early])
    assert stories == {"early": 0, "late": 0}


def test_window_splits_in_backtest() -> None:
    data = [make("a", "g", KYIV, "A", 0), make("b", "g", KYIV, "B", 49 * 60)]
    assert backtest(data).pairwise.recall == 0.0


def test_sweep_moves_the_line(items: list[LabelledItem]) -> None:
    rows = sweep(items, "en", [0.05, 0.23, 0.60], DEFAULT, "exhaustive")
    (_, loose), (_, tuned), (_, strict) = rows
    assert loose.precision < tuned.precision
    assert strict.recall < tuned.recall
    assert tuned == backtest([i for i in items if i.lang == "en"], DEFAULT, "exhaustive").pairwise


# --- loading and output ---


def test_load_items_from_dir_and_file(tmp_path: Path) -> None:
    row = {
        "id": "x-01a",
        "group": "x",
        "lang": "en",
        "feed": "F",
        "published_at": "2026-11-10T23:10:00Z",
        "title": "T",
    }
    (tmp_path / "x.jsonl").write_text(json.dumps(row) + "\n\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not data", encoding="utf-8")
    from_dir = load_items([tmp_path])
    assert from_dir == load_items([tmp_path / "x.jsonl"])
    assert from_dir[0].published_at == datetime(2026, 11, 10, 23, 10, tzinfo=UTC)
    assert from_dir[0].summary == ""


GOOD = (
    '{"id": "a", "group": "g", "lang": "en", "feed": "F", '
    '"published_at": "2026-11-10T23:10:00Z", "title": "T"}\n'
)


@pytest.mark.parametrize(
    ("second_line", "problem"),
    [
        pytest.param(
            b'{"group": "g"}',
            "`id` is missing; every line needs id, group, lang, feed, published_at, title",
            id="no id",
        ),
        pytest.param(
            GOOD.replace("2026-11-10T23:10:00Z", "yesterday").encode(),
            "`published_at` 'yesterday' is not an ISO 8601 time; write e.g. 2026-11-10T23:10:00Z",
            id="bad date",
        ),
        pytest.param(
            GOOD.replace('"T"', "7").encode(), "`title` must be a string", id="title not text"
        ),
        pytest.param(b"hello", "not valid JSON (Expecting value at column 1)", id="not json"),
        pytest.param(
            b"[1, 2]",
            "expected a JSON object with id, group, lang, feed, published_at, title",
            id="not an object",
        ),
        pytest.param(b"\x00\xff\xfe binary", "not UTF-8 text (byte 0xff at column 2)", id="binary"),
    ],
)
def test_a_bad_line_is_named_and_exits_2(tmp_path: Path, second_line: bytes, problem: str) -> None:
    # These ended in KeyError, ValueError, JSONDecodeError or UnicodeDecodeError tracebacks.
    path = tmp_path / "bad.jsonl"
    path.write_bytes(GOOD.encode() + second_line + b"\n")
    result = CliRunner().invoke(backtest_command, [str(path)])
    assert result.exit_code == 2, result.output
    assert result.output == f"Error: {path}:2: {problem}\n"


def test_a_time_without_a_zone_is_utc(tmp_path: Path) -> None:
    # A naive time among zoned ones made the replay's sort fail (TypeError).
    path = tmp_path / "x.jsonl"
    path.write_text(GOOD + GOOD.replace('"a"', '"b"').replace("Z", ""), encoding="utf-8")
    assert [i.published_at for i in load_items([path])] == [
        datetime(2026, 11, 10, 23, 10, tzinfo=UTC)
    ] * 2


def test_render_shows_figures_and_errors() -> None:
    data = [make("a", "one", KYIV, "A", 0), make("b", "two", KYIV, "B", 10)]
    console = Console(record=True, width=200)
    console.print(render_backtest(backtest(data)))
    text = console.export_text()
    assert "pairwise" in text and "B-cubed" in text
    assert "Wrong merges (1)" in text
    assert "one ≠ two" in text
    assert "2 items, 2 labelled groups, 1 stories found" in text


def test_render_limits_long_lists(report: BacktestReport) -> None:
    console = Console(record=True, width=200)
    console.print(render_backtest(report, limit=3))
    assert f"Misses (first 3 of {len(report.misses)})" in console.export_text()


def test_cli_prints_backtest_and_sweep() -> None:
    runner = CliRunner()
    result = runner.invoke(backtest_command, [str(STORIES), "--mode", "exhaustive"])
    assert result.exit_code == 0, result.output
    assert "Story clustering backtest (exhaustive)" in result.output
    result = runner.invoke(backtest_command, [str(STORIES), "--sweep", "de", "--title-only"])
    assert result.exit_code == 0, result.output
    assert "Threshold sweep (de)" in result.output


def test_cli_requires_a_path() -> None:
    result = CliRunner().invoke(backtest_command, [])
    assert result.exit_code != 0


def test_title_only_is_harder(items: list[LabelledItem], report: BacktestReport) -> None:
    titles = backtest([replace(i, summary="") for i in items])
    assert titles.pairwise.precision >= 0.95
    assert titles.pairwise.recall < report.pairwise.recall


# --- held out: tests/data/stories/holdout, written after the thresholds were set ---


def test_holdout_is_not_in_the_tuning_set(items: list[LabelledItem]) -> None:
    assert not [i.id for i in items if i.id.startswith("ho-")]


def test_holdout_figures() -> None:
    # Measured once, not tuned on: P 0.833, R 1.000. The wrong merge is ho-08a~ho-09a,
    # new port terminals opening in Kaliningrad and in Murmansk (Jaccard 0.38): short
    # texts that differ only in the place name, which stems cannot weigh.
    r = backtest(load_items([STORIES / "holdout"]))
    assert r.pairwise.precision >= 0.8
    assert r.pairwise.recall >= 0.9
    assert {(e.a.id, e.b.id) for e in r.wrong_merges} <= {
        ("ho-08a", "ho-09a"),
        ("ho-08b", "ho-09a"),
    }
