"""Backtest story clustering against labelled story groups.

This module owns the measurement: it replays labelled items (tests/data/stories/*.jsonl,
one JSON object a line: id, group, lang, feed, published_at, title, summary) in
publication order through the same code the bot runs, and scores the grouping
against the labels:

    pairwise   precision = same story and same label / same story, recall = … / same label
    B-cubed    per item, the overlap of its predicted and its labelled group, averaged

It lists the wrong merges (a wrong merge hides a story, so precision matters
most) and the misses. Three modes: `index` (StoryIndex with LSH, as in production),
`exhaustive` (every member in the window is a candidate: what LSH costs in recall)
and `batch` (all pairs, grouped with a DisjointSet).

    python -m bot.match.backtest tests/data/stories [--mode index] [--title-only]
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import click
from rich.console import Console, Group, RenderableType
from rich.table import Table

from bot.match.cluster import DisjointSet, StoryCandidate, StoryIndex, best_story, similarity
from bot.match.similarity import Fingerprint
from bot.match.thresholds import DEFAULT, ClusterConfig

Mode = Literal["index", "exhaustive", "batch"]
MODES: tuple[Mode, ...] = ("index", "exhaustive", "batch")


@dataclass(frozen=True, slots=True)
class LabelledItem:
    """One line of a labelled file: an item and the story (`group`) it belongs to."""

    id: str
    group: str
    lang: str
    feed: str
    published_at: datetime
    title: str
    summary: str = ""


@dataclass(frozen=True, slots=True)
class Scores:
    """Precision, recall and F1, with the pair counts behind pairwise figures."""

    precision: float
    recall: float
    true_pos: int = 0
    false_pos: int = 0
    false_neg: int = 0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class PairError:
    """Two items grouped wrongly: merged across labels, or split within one."""

    a: LabelledItem
    b: LabelledItem
    #: their direct similarity (they may have been joined, or kept apart, via others)
    score: float


@dataclass(frozen=True, slots=True)
class BacktestReport:
    """The figures of one backtest run."""

    mode: Mode
    items: int
    groups: int
    stories: int
    pairwise: Scores
    bcubed: Scores
    by_lang: Mapping[str, Scores]
    wrong_merges: tuple[PairError, ...]
    misses: tuple[PairError, ...]


class LabelledFileError(ValueError):
    """A labelled file that cannot be read; the message names the file and the line."""


#: the fields every labelled line has, all strings (summary is optional)
_FIELDS = ("id", "group", "lang", "feed", "published_at", "title")


def load_items(paths: Iterable[Path]) -> list[LabelledItem]:
    """Read labelled items from .jsonl files, or from every .jsonl in a directory.

    Raises LabelledFileError, naming the file and line, on the first bad line.
    """
    items: list[LabelledItem] = []
    for path in paths:
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        for file in files:
            items.extend(_read_file(file))
    return items


def _read_file(file: Path) -> list[LabelledItem]:
    items = []
    try:
        with file.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8")
                    if line.strip():
                        items.append(_parse(line))
                except (ValueError, UnicodeDecodeError) as e:
                    raise LabelledFileError(f"{file}:{number}: {_problem(e)}") from None
    except OSError as e:
        raise LabelledFileError(f"{file}: cannot read: {e.strerror}") from None
    return items


def _problem(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return (
            f"not UTF-8 text (byte 0x{error.object[error.start]:02x} at column {error.start + 1})"
        )
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON ({error.msg} at column {error.colno})"
    return str(error)


def _parse(line: str) -> LabelledItem:
    raw = json.loads(line)
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object with " + ", ".join(_FIELDS))
    if missing := [key for key in _FIELDS if key not in raw]:
        raise ValueError(f"`{missing[0]}` is missing; every line needs " + ", ".join(_FIELDS))
    for key in (*_FIELDS, "summary"):
        if key in raw and not isinstance(raw[key], str):
            raise ValueError(f"`{key}` must be a string")
    return LabelledItem(
        id=raw["id"],
        group=raw["group"],
        lang=raw["lang"],
        feed=raw["feed"],
        published_at=_published(raw["published_at"]),
        title=raw["title"],
        summary=raw.get("summary", ""),
    )


def _published(text: str) -> datetime:
    """An ISO 8601 time; one without a zone is UTC (items are compared with each other)."""
    try:
        published = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"`published_at` {text!r} is not an ISO 8601 time; write e.g. 2026-11-10T23:10:00Z"
        ) from None
    return published if published.tzinfo else published.replace(tzinfo=UTC)


def predict(
    items: Sequence[LabelledItem], config: ClusterConfig = DEFAULT, mode: Mode = "index"
) -> dict[str, int]:
    """Item id → story id, replaying the items in publication order."""
    ordered = sorted(items, key=lambda i: (i.published_at, i.id))
    feeds: dict[str, int] = {}
    fps = {i.id: Fingerprint.of(i.title, i.summary) for i in ordered}
    if mode == "batch":
        return _predict_batch(ordered, fps, feeds, config)
    index = StoryIndex(config)
    stories: dict[str, int] = {}
    new_story = itertools.count()
    for item in ordered:
        feed_id = feeds.setdefault(item.feed, len(feeds))
        fp = fps[item.id]
        index.evict(item.published_at)
        candidates = index.query(fp.signature) if mode == "index" else index.members()
        match = best_story(
            fp,
            lang=item.lang,
            feed_id=feed_id,
            published_at=item.published_at,
            candidates=candidates,
            now=item.published_at,
            config=config,
        )
        story_id = match.story_id if match else next(new_story)
        stories[item.id] = story_id
        index.add(StoryCandidate.of(story_id, feed_id, item.published_at, fp, item.lang))
    return stories


def _predict_batch(
    ordered: Sequence[LabelledItem],
    fps: Mapping[str, Fingerprint],
    feeds: dict[str, int],
    config: ClusterConfig,
) -> dict[str, int]:
    groups = DisjointSet(i.id for i in ordered)
    for a, b in itertools.combinations(ordered, 2):
        member = StoryCandidate.of(
            0, feeds.setdefault(a.feed, len(feeds)), a.published_at, fps[a.id], a.lang
        )
        joined = best_story(
            fps[b.id],
            lang=b.lang,
            feed_id=feeds.setdefault(b.feed, len(feeds)),
            published_at=b.published_at,
            candidates=[member],
            now=b.published_at,
            config=config,
        )
        if joined:
            groups.union(a.id, b.id)
    return {i: n for n, group in enumerate(groups.groups()) for i in group}


def backtest(
    items: Sequence[LabelledItem], config: ClusterConfig = DEFAULT, mode: Mode = "index"
) -> BacktestReport:
    """Cluster the items and score the result against their labels."""
    predicted = predict(items, config, mode)
    pairs = _pair_outcomes(items, predicted)
    by_lang = {
        lang: _pair_scores([p for p in pairs if p[0].lang == lang])
        for lang in sorted({i.lang for i in items})
    }
    return BacktestReport(
        mode=mode,
        items=len(items),
        groups=len({i.group for i in items}),
        stories=len(set(predicted.values())),
        pairwise=_pair_scores(pairs),
        bcubed=_bcubed(items, predicted),
        by_lang=by_lang,
        wrong_merges=_errors([p for p in pairs if p[2] and not p[3]]),
        misses=_errors([p for p in pairs if p[3] and not p[2]]),
    )


# (a, b, predicted together, labelled together)
_Pair = tuple[LabelledItem, LabelledItem, bool, bool]


def _pair_outcomes(items: Sequence[LabelledItem], predicted: Mapping[str, int]) -> list[_Pair]:
    return [
        (a, b, predicted[a.id] == predicted[b.id], a.group == b.group)
        for a, b in itertools.combinations(items, 2)
    ]


def _pair_scores(pairs: Sequence[_Pair]) -> Scores:
    tp = sum(1 for _, _, p, g in pairs if p and g)
    fp = sum(1 for _, _, p, g in pairs if p and not g)
    fn = sum(1 for _, _, p, g in pairs if g and not p)
    # No predicted pairs means no wrong merge: precision 1, as is usual for pairwise scores.
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return Scores(precision, recall, tp, fp, fn)


def _bcubed(items: Sequence[LabelledItem], predicted: Mapping[str, int]) -> Scores:
    both = Counter((i.group, predicted[i.id]) for i in items)
    gold = Counter(i.group for i in items)
    pred = Counter(predicted[i.id] for i in items)
    p = sum(both[i.group, predicted[i.id]] / pred[predicted[i.id]] for i in items)
    r = sum(both[i.group, predicted[i.id]] / gold[i.group] for i in items)
    n = len(items) or 1
    return Scores(p / n, r / n)


def _errors(pairs: Sequence[_Pair]) -> tuple[PairError, ...]:
    fps = {i.id: Fingerprint.of(i.title, i.summary) for a, b, _, _ in pairs for i in (a, b)}
    out = []
    for a, b, _, _ in pairs:
        score, _, _ = similarity(fps[b.id], StoryCandidate.of(0, 0, a.published_at, fps[a.id]))
        out.append(PairError(a, b, score))
    return tuple(sorted(out, key=lambda e: (-e.score, e.a.id, e.b.id)))


def sweep(
    items: Sequence[LabelledItem],
    lang: str,
    values: Iterable[float],
    config: ClusterConfig = DEFAULT,
    mode: Mode = "index",
    *,
    title_only: bool = False,
) -> list[tuple[float, Scores]]:
    """Pairwise scores of one language's items as its threshold varies (for tuning)."""
    mine = [i for i in items if i.lang == lang]
    base = config.for_lang(lang)
    out = []
    for value in values:
        if title_only:
            limits = replace(base, min_similarity_title_only=value)
        else:
            limits = replace(base, min_similarity=value)
        trial = replace(config, by_lang={**config.by_lang, lang: limits})
        out.append((value, backtest(mine, trial, mode).pairwise))
    return out


def render_backtest(report: BacktestReport, *, limit: int = 15) -> RenderableType:
    """The report as rich tables: totals, per language, wrong merges, misses."""
    totals = Table(title=f"Story clustering backtest ({report.mode})")
    for col in ("measure", "precision", "recall", "F1", "pairs tp/fp/fn"):
        totals.add_column(col, justify="left" if col == "measure" else "right")
    totals.add_row("pairwise", *_fmt(report.pairwise, pairs=True))
    totals.add_row("B-cubed", *_fmt(report.bcubed, pairs=False))
    langs = Table(title="Pairwise, per language")
    for col in ("lang", "precision", "recall", "F1", "pairs tp/fp/fn"):
        langs.add_column(col, justify="left" if col == "lang" else "right")
    for lang, scores in report.by_lang.items():
        langs.add_row(lang, *_fmt(scores, pairs=True))
    summary = (
        f"{report.items} items, {report.groups} labelled groups, {report.stories} stories found"
    )
    return Group(
        summary,
        totals,
        langs,
        _error_table("Wrong merges", report.wrong_merges, limit),
        _error_table("Misses", report.misses, limit),
    )


def _fmt(s: Scores, *, pairs: bool) -> list[str]:
    counts = f"{s.true_pos}/{s.false_pos}/{s.false_neg}" if pairs else ""
    return [f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", counts]


def _error_table(title: str, errors: Sequence[PairError], limit: int) -> Table:
    more = f" (first {limit} of {len(errors)})" if len(errors) > limit else f" ({len(errors)})"
    table = Table(title=title + more)
    for col in ("a", "b", "similarity", "groups", "titles"):
        table.add_column(col)
    for e in errors[:limit]:
        groups = e.a.group if e.a.group == e.b.group else f"{e.a.group} ≠ {e.b.group}"
        table.add_row(e.a.id, e.b.id, f"{e.score:.2f}", groups, f"{e.a.title}\n{e.b.title}")
    return table


def render_sweep(lang: str, rows: Sequence[tuple[float, Scores]]) -> RenderableType:
    """A sweep as a table: threshold, precision, recall, pair counts."""
    table = Table(title=f"Threshold sweep ({lang})")
    for col in ("threshold", "precision", "recall", "F1", "pairs tp/fp/fn"):
        table.add_column(col, justify="right")
    for value, scores in rows:
        table.add_row(f"{value:.2f}", *_fmt(scores, pairs=True))
    return table


def _title_only(items: Sequence[LabelledItem]) -> list[LabelledItem]:
    return [replace(i, summary="") for i in items]


class _BadInput(click.ClickException):
    """A labelled file that cannot be read: its message, exit 2 like other bad input."""

    exit_code = 2


@click.command("backtest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="index",
    show_default=True,
    help="index: LSH as in production; exhaustive: no LSH; batch: all pairs.",
)
@click.option(
    "--title-only", is_flag=True, help="Drop summaries (tunes the title-only thresholds)."
)
@click.option("--sweep", "sweep_lang", metavar="LANG", help="Vary LANG's threshold instead.")
def backtest_command(
    paths: tuple[Path, ...], mode: Mode, title_only: bool, sweep_lang: str | None
) -> None:
    """Print precision and recall of story clustering on labelled story groups (JSONL)."""
    try:
        items = load_items(paths)
    except LabelledFileError as e:
        raise _BadInput(str(e)) from None
    if title_only:
        items = _title_only(items)
    if sweep_lang:
        values = [n / 100 for n in range(10, 61)]
        rows = sweep(items, sweep_lang, values, DEFAULT, mode, title_only=title_only)
        Console(markup=False).print(render_sweep(sweep_lang, rows))
        return
    Console(markup=False).print(render_backtest(backtest(items, DEFAULT, mode)))


if __name__ == "__main__":
    backtest_command()
