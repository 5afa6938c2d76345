"""normalize_text's shortcuts give the text the plain rules give, on generated input.

The plain rules, written out here the slow way: HTMLParser's visible text,
NFKC, invisible and control characters dropped, and every whitespace run folded (to a line
break where it holds one, with `keep_lines`).
"""

from __future__ import annotations

import random
import unicodedata

import pytest

from bot.feeds import normalize as normalize_module
from bot.feeds.normalize import normalize_text

#: pieces of summaries: words, every kind of whitespace, entities, markup and non-ASCII
PIECES = [
    "Air", "defence", "x", "  ", " ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f",
    "\u00a0", "\u2003", "\u200b", "\u00ad", "caf\u00e9", "\ufb01", "&amp;", "&nbsp;", "&#9;",
    "&lt;p&gt;", "<p>", "</p>", "<br/>", "<b>", "</b>", "<p class='x'>", "<", ">", "&",
    "\x01", "\x1b[2J", "\x7f", "\x9b", "\x00",
]  # fmt: skip


def _reference(value: str, keep_lines: bool) -> str:
    parser = normalize_module._TextExtractor()
    parser.feed(value)
    parser.close()
    text = unicodedata.normalize("NFKC", "".join(parser.parts))
    dropped = normalize_module._INVISIBLE_CHARS + normalize_module._CONTROL_CHARS
    text = "".join(c for c in text if c not in dropped)
    if keep_lines and "\n" in text.strip():
        lines = (" ".join(line.split()) for line in text.split("\n"))
        return "\n".join(line for line in lines if line)
    return " ".join(text.split())


def _summary(rng: random.Random) -> str:
    text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12)))
    if rng.random() < 0.5:  # the commonest summary: one paragraph
        text = f"<p>{text}</p>"
    return text


@pytest.mark.parametrize("keep_lines", [False, True])
def test_normalize_text_folds_as_the_plain_rules_do(keep_lines: bool) -> None:
    rng = random.Random(3)
    for _ in range(20_000):
        value = _summary(rng)
        assert normalize_text(value, keep_lines=keep_lines) == _reference(value, keep_lines), value


def test_one_paragraph_takes_the_quick_path_to_the_same_text() -> None:
    rng = random.Random(5)
    quick = 0
    for _ in range(5_000):
        value = "<p>" + "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8))) + "</p>"
        found = normalize_module._simple_html_to_text(value)
        if found is not None:
            parser = normalize_module._TextExtractor()
            parser.feed(value)
            parser.close()
            assert found == "".join(parser.parts), value
            quick += value.count("<") == 2
    assert quick > 1_000
