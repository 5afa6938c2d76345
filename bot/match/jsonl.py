"""The JSON-lines matching contract used by `skywatch match` and by tools outside the project.

    match_stream(matcher, lines, explain=False) -> one JSON document per input line

Each input line is a JSON object with at least `title` (and optionally
`summary`, `lang`, `id`, anything else). It comes back with every original
field kept and `topics` added (the names of matching topics, in configuration
order); with `explain`, also `why`, the list of `Match.explanation()`s.

A line that cannot be matched does not stop the stream: it yields
`{"line": N, "error": "line N: ..."}` in its place, so a consumer can count and
report bad input without losing the rest. Blank lines are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from bot.match.topics import TopicMatcher


def match_stream(matcher: TopicMatcher, lines: Iterable[str], *, explain: bool) -> Iterator[str]:
    """Yield one JSON document (no trailing newline) per non-blank input line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = _read_item(line)
        except ValueError as e:
            yield _dump({"line": number, "error": f"line {number}: {e}"})
            continue
        matches = matcher.match(item["title"], item.get("summary") or "", item.get("lang"))
        item["topics"] = [m.topic for m in matches]
        if explain:
            item["why"] = [m.explanation() for m in matches]
        yield _dump(item)


def _read_item(line: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object with a title")
    if not isinstance(data.get("title"), str):
        raise ValueError("`title` is missing or not a string")
    for key in ("summary", "lang"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f"`{key}` must be a string")
    return data


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)
