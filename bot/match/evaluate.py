"""Evaluation of topic rules against labelled examples (the devset format).

    load_labelled(path)         JSONL -> examples, or LabelledDataError naming file:line
    evaluate(matcher, examples) -> EvalReport: per-topic precision / recall / F1,
                                   micro F1, every miss, hard negatives that got a label
    render_report(report)       -> rich tables for `skywatch eval FILE`

An example is a mapping with `title`, optional `summary`, `lang` and `id`,
`labels` (the topics it belongs to) and `hard_negative` (off-topic but sharing
vocabulary with a topic). See /work/shared/devset/README.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from bot.errors import BotError
from bot.match.topics import TopicMatcher


class LabelledDataError(BotError):
    """A labelled examples file cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class TopicScore:
    """Counts and scores of one topic."""

    topic: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def support(self) -> int:
        """How many examples carry this label."""
        return self.true_positives + self.false_negatives

    @property
    def precision(self) -> float:
        return _ratio(self.true_positives, self.true_positives + self.false_positives)

    @property
    def recall(self) -> float:
        return _ratio(self.true_positives, self.true_positives + self.false_negatives)

    @property
    def f1(self) -> float:
        return _f1(self.true_positives, self.false_positives, self.false_negatives)


@dataclass(frozen=True, slots=True)
class Miss:
    """An example whose predicted topics differ from its labels."""

    id: str
    expected: tuple[str, ...]
    got: tuple[str, ...]
    hard_negative: bool
    title: str
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class EvalReport:
    """The outcome of `evaluate`."""

    examples: int
    topics: tuple[TopicScore, ...]
    misclassified: tuple[Miss, ...]

    @property
    def hard_negatives_flagged(self) -> tuple[Miss, ...]:
        """Hard negatives that got any topic: the costliest kind of error."""
        return tuple(m for m in self.misclassified if m.hard_negative and m.got)

    @property
    def micro_f1(self) -> float:
        tp = sum(t.true_positives for t in self.topics)
        fp = sum(t.false_positives for t in self.topics)
        fn = sum(t.false_negatives for t in self.topics)
        return _f1(tp, fp, fn)

    def topic(self, name: str) -> TopicScore:
        """The score of one topic; KeyError when it was not evaluated."""
        for score in self.topics:
            if score.topic == name:
                return score
        raise KeyError(name)


def _ratio(part: int, whole: int) -> float:
    # a topic never predicted and never expected is perfect, not undefined
    return part / whole if whole else 1.0


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def evaluate(matcher: TopicMatcher, examples: Iterable[Mapping[str, Any]]) -> EvalReport:
    """Run the matcher over labelled examples and score it per topic."""
    names = list(matcher.topics)
    counts: dict[str, list[int]] = {}
    misses: list[Miss] = []
    total = 0
    for example in examples:
        total += 1
        expected = set(example.get("labels") or ())
        found = matcher.match(example["title"], example.get("summary") or "", example.get("lang"))
        got = {m.topic for m in found}
        names += [label for label in sorted(expected) if label not in names]
        for name in expected | got:
            tp_fp_fn = counts.setdefault(name, [0, 0, 0])
            tp_fp_fn[0 if name in expected and name in got else 1 if name in got else 2] += 1
        if expected != got:
            misses.append(_miss(example, expected, got, total))
    scores = tuple(TopicScore(name, *counts.get(name, [0, 0, 0])) for name in names)
    return EvalReport(total, scores, tuple(misses))


def _miss(example: Mapping[str, Any], expected: set[str], got: set[str], number: int) -> Miss:
    return Miss(
        id=str(example.get("id", f"#{number}")),
        expected=tuple(sorted(expected)),
        got=tuple(sorted(got)),
        hard_negative=bool(example.get("hard_negative")),
        title=str(example["title"]),
        lang=example.get("lang"),
    )


def load_labelled(path: Path | str) -> list[dict[str, Any]]:
    """Read a labelled JSONL file; LabelledDataError says which line is wrong and why."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LabelledDataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LabelledDataError(f"{path}: cannot read: {e}") from None
    examples = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                examples.append(_check_example(json.loads(line)))
            except (json.JSONDecodeError, ValueError) as e:
                raise LabelledDataError(f"{path}:{number}: {e}") from None
    return examples


def _check_example(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("each line must be a JSON object with title and labels")
    if not isinstance(data.get("title"), str):
        raise ValueError("`title` is missing or not a string")
    if not isinstance(data.get("summary", ""), str):
        raise ValueError("`summary` must be a string")
    labels = data.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError("`labels` must be a list of topic names ([] for off-topic)")
    return data


def render_report(report: EvalReport) -> RenderableType:
    """Tables for the terminal: scores per topic, then every misclassified example."""
    scores = Table(title=f"Topic rules on {report.examples} examples")
    for column in ("topic", "support", "TP", "FP", "FN", "precision", "recall", "F1"):
        scores.add_column(column, justify="left" if column == "topic" else "right")
    for t in report.topics:
        scores.add_row(
            t.topic,
            str(t.support),
            str(t.true_positives),
            str(t.false_positives),
            str(t.false_negatives),
            f"{t.precision:.3f}",
            f"{t.recall:.3f}",
            _f1_cell(t.f1),
        )
    scores.add_section()
    scores.add_row("micro", "", "", "", "", "", "", _f1_cell(report.micro_f1))
    flagged = len(report.hard_negatives_flagged)
    summary = Text(f"hard negatives flagged: {flagged}", style="bold red" if flagged else "green")
    if not report.misclassified:
        return Group(scores, summary, Text("no misclassified examples", style="green"))
    misses = Table(title="Misclassified")
    for column in ("id", "lang", "expected", "got", "hard neg.", "title"):
        misses.add_column(column, overflow="fold")
    for m in report.misclassified:
        misses.add_row(
            m.id,
            m.lang or "",
            ", ".join(m.expected) or "—",
            ", ".join(m.got) or "—",
            "yes" if m.hard_negative else "",
            m.title,
            style="red" if m.hard_negative and m.got else None,
        )
    return Group(scores, summary, misses)


def _f1_cell(value: float) -> Text:
    return Text(
        f"{value:.3f}", style="green" if value >= 0.95 else "yellow" if value >= 0.8 else "red"
    )
