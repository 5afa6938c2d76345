"""Text folding and term syntax: the one place that decides what "the same text" means.

Both the terms users write in feeds.yaml and the titles and summaries of items
go through `fold`, so a term matches whatever folds to the same string:

- NFKC, then casefold: full-width Latin (ＰＡＴＲＩＯＴ), half-width katakana
  (ﾊﾟﾄﾘｵｯﾄ), ligatures and case all disappear; German ß becomes ss.
- ё becomes е (Russian writes both), every apostrophe (’ ' ʼ ‘ `) becomes ',
  a hyphen or dash inside a word becomes a space (air-defense = air defense,
  IRIS‑T = IRIS T), one with a space beside it folds to DASH, a clause dash
  that terms match only between their words ("air – defence") and that ends a
  clause for terms with gaps; the katakana middle dot ・ becomes a space.
- The katakana long vowel mark ー, soft hyphens and zero-width characters are
  dropped (インターセプター = インタセプタ).

Folding changes lengths, so `Folded` keeps, for every folded character, where
it came from; hits are reported at positions in the ORIGINAL text.

Term syntax (see bot/match/spec.py for the whole YAML) is parsed by
`parse_term` into `TermPattern`s, the keys of the automaton plus how their
ends must sit in the text:

    Patriot        a whole word: not inside "patriotic"
    ракет*         a stem: ракета, ракети, ракетами (the word may go on)
    *abwehr*       anywhere inside a word: Flugabwehrsystem
    *abwehr        the end of a word: Flugabwehr, Luftabwehr
    drone(s)       an optional ending; attack(s|ed|ing) lists endings
    defen(c|s)e    inside a term, a choice of spellings
    パトリオット    Japanese and Chinese terms match anywhere (no word boundaries)
    stellt ... ein a term with gaps: `parse_parts` compiles each part, and
                   bot/match/hits.py joins their hits (German separable verbs)
"""

from __future__ import annotations

import functools
import itertools
import re
import sys
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass

#: every hyphen and dash folds to this; between two words it becomes a space
#: (air-defense = air defense), with a space beside it it stays: a clause dash
DASH = "–"
#: one-to-one replacements applied after NFKC + casefold (positions do not move)
_ONE_TO_ONE = {
    "ё": "е",
    "’": "'",
    "‘": "'",
    "ʼ": "'",
    "`": "'",
    "´": "'",
    "ʹ": "'",
    "-": DASH,
    "‐": DASH,
    "‑": DASH,
    "‒": DASH,
    "–": DASH,
    "—": DASH,
    "―": DASH,
    "−": DASH,
    "・": " ",
    "\t": " ",
    "\n": " ",
    "\r": " ",
    "\f": " ",
    "\v": " ",
}
_ONE_TO_ONE_RE = re.compile("[" + re.escape("".join(_ONE_TO_ONE)) + "]")
_JOINING_DASH_RE = re.compile(r"(?<=\S)" + DASH + r"(?=\S)")
#: characters that disappear entirely (positions move: see `Folded`)
_DROP = "ー\u00ad\u200b\u200c\u200d\u2060\ufeff"
_DROP_RE = re.compile("[" + _DROP + "]")
#: the same as str.translate tables, for the short pieces of `_fold_slowly`
_ONE_TO_ONE_TABLE = str.maketrans(_ONE_TO_ONE)
_DROP_TABLE = str.maketrans("", "", _DROP)
#: what `fold` may change in ASCII text (it drops no ASCII character)
_ASCII_REPLACED = tuple(c for c in _ONE_TO_ONE if c.isascii())
assert not any(c.isascii() for c in _DROP), "fold's ASCII path drops nothing"
#: half-width voicing marks combine with the kana before them under NFKC (ｶﾞ -> ガ)
_JOINING = frozenset("\uff9e\uff9f")

#: CJK, kana and other scripts written without spaces start here; below it,
#: letters and digits are "word" characters for boundary checks
UNSPACED_START = 0x2E80
#: the same as a character: the hot loops inline `is_word_char` as
#: `char.isalnum() and char < UNSPACED`, a string comparison instead of `ord`
UNSPACED = chr(UNSPACED_START)


def _replace_one(match: re.Match[str]) -> str:
    return _ONE_TO_ONE[match.group()]


@dataclass(frozen=True, slots=True)
class Folded:
    """Folded text plus, when lengths changed, the original span of each character."""

    text: str
    #: starts[i], ends[i]: the original span that folded character i came from;
    #: None when folding kept every position (the common case, kept cheap)
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span in the original text of the folded span [start, end)."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def fold(text: str) -> Folded:
    """Fold `text` for matching (see the module docstring), keeping positions."""
    folded = fold_any(text)
    return Folded(folded) if isinstance(folded, str) else folded


def fold_any(text: str) -> str | Folded:
    """`fold`, but just the folded string when folding kept every position.

    Most text keeps them, and the matcher looks at most items no further than
    the folded string: a `Folded` built for each cost it a third of `fold`.
    """
    normal = unicodedata.normalize("NFKC", text)
    if normal == text:
        lowered = normal.casefold()
        # casefold only ever expands; equal length means one char per char
        if len(lowered) == len(text):
            if lowered.isascii():
                # No ASCII character is dropped, and ASCII text without the few ASCII
                # characters _ONE_TO_ONE replaces stays as it is: one `in` (a memchr)
                # per character finds them in a fraction of a regex's or translate's time.
                for char in _ASCII_REPLACED:
                    if char in lowered:
                        break
                else:
                    return lowered
            # (not str.translate: a replacement beyond ASCII, such as DASH, sends it
            # through a dict lookup per character, slower than these regexes)
            folded = _fold_dashes(_ONE_TO_ONE_RE.sub(_replace_one, lowered))
            if _DROP_RE.search(folded) is None:
                return folded
            return _drop_with_map(folded)
    return _fold_slowly(text)


def fold_plain(text: str) -> str:
    """Just the folded string (for terms, where positions do not matter)."""
    return fold(text).text


def _drop_with_map(folded: str) -> Folded:
    kept = [i for i, char in enumerate(folded) if char not in _DROP]
    return Folded("".join(folded[i] for i in kept), tuple(kept), tuple(i + 1 for i in kept))


def _fold_slowly(text: str) -> Folded:
    """Fold cluster by cluster (a base character and its combining marks).

    Most clusters are one character, folded through `_PIECES` by str.translate;
    Python only visits the clusters with marks and the characters whose fold is
    not one character (ß -> ss, ー -> nothing), to keep the position maps.
    """
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    done = 0
    for marks in _marks_re(_ASTRAL_RE.search(text) is not None).finditer(text):
        # the marks belong to the character before them (a text may start with marks)
        start, end = max(marks.start() - 1, 0), marks.end()
        _fold_singles(text, done, start, out, starts, ends)
        piece = _fold_piece(text[start:end])
        out.append(piece)
        starts.extend([start] * len(piece))
        ends.extend([end] * len(piece))
        done = end
    _fold_singles(text, done, len(text), out, starts, ends)
    return Folded(_fold_dashes("".join(out)), tuple(starts), tuple(ends))


def _fold_piece(cluster: str) -> str:
    piece = unicodedata.normalize("NFKC", cluster).casefold()
    return piece.translate(_ONE_TO_ONE_TABLE).translate(_DROP_TABLE)


def _fold_singles(
    text: str, start: int, end: int, out: list[str], starts: list[int], ends: list[int]
) -> None:
    """Fold text[start:end], where every character is a cluster of its own."""
    if start == end:
        return
    segment = text[start:end]
    out.append(segment.translate(_PIECES))  # fills _PIECES.uneven with new characters
    done = start
    for found in _PIECES.uneven_re().finditer(segment):
        at = start + found.start()
        starts.extend(range(done, at))
        ends.extend(range(done + 1, at + 1))
        size = len(_PIECES[ord(found.group())])
        starts.extend([at] * size)
        ends.extend([at + 1] * size)
        done = at + 1
    starts.extend(range(done, end))
    ends.extend(range(done + 1, end + 1))


class _PieceTable(dict[int, str]):
    """str.translate table: a character's fold as a cluster of its own, filled on sight.

    `uneven` collects the characters whose fold is not one character long.
    """

    def __init__(self) -> None:
        super().__init__()
        self.uneven: set[str] = set()
        self._uneven_re: re.Pattern[str] | None = None

    def __missing__(self, code: int) -> str:
        piece = self[code] = _fold_piece(chr(code))
        if len(piece) != 1:
            self.uneven.add(chr(code))
            self._uneven_re = None
        return piece

    def uneven_re(self) -> re.Pattern[str]:
        if self._uneven_re is None:
            chars = "".join(sorted(self.uneven)) or "\x00"  # \x00 folds to itself: no match
            self._uneven_re = re.compile("[" + re.escape(chars) + "]")
        return self._uneven_re


_PIECES = _PieceTable()


_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")


@functools.cache
def _marks_re(astral: bool) -> re.Pattern[str]:
    """A run of combining marks (or half-width voicing marks): they join the character before.

    Without `astral`, only the marks below U+10000: a class that reaches above
    it makes the regex ten times slower, and most text has no such character.
    """
    marks = sorted(
        c for c in range(sys.maxunicode + 1 if astral else 0x10000) if unicodedata.combining(chr(c))
    )
    marks += [ord(c) for c in sorted(_JOINING)]
    ranges: list[list[int]] = []
    for code in sorted(marks):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    spans = (re.escape(chr(lo)) + "-" + re.escape(chr(hi)) for lo, hi in ranges)
    return re.compile("[" + "".join(spans) + "]+")


def _fold_dashes(folded: str) -> str:
    """A dash inside a word (air-defense, IRIS‑T) is a space; one beside a space stays DASH."""
    if DASH not in folded:
        return folded
    return _JOINING_DASH_RE.sub(" ", folded)


def is_word_char(char: str) -> bool:
    """A letter or digit of a script written with spaces between words."""
    return char.isalnum() and ord(char) < UNSPACED_START


def has_unspaced_script(text: str) -> bool:
    """True for Japanese, Chinese (...) text, where words have no boundaries."""
    return any(ord(char) >= UNSPACED_START and char.isalnum() for char in text)


@dataclass(frozen=True, slots=True)
class TermPattern:
    """One automaton key and how its two ends must sit in the folded text."""

    key: str
    #: the key may start inside a word (term written `*abwehr`, or Japanese)
    left_free: bool
    #: the key may end inside a word (term written `ракет*`, or Japanese)
    right_free: bool

    def fits(self, text: str, start: int, end: int) -> bool:
        """Whether a hit of this key at [start, end) respects its word boundaries."""
        if not self.left_free and start > 0 and is_word_char(text[start - 1]):
            return False
        return self.right_free or end >= len(text) or not is_word_char(text[end])


#: the shortest stem (`ракет*`) allowed: shorter ones match half the dictionary
MIN_STEM = 3
#: a term with more alternatives than this is a mistake, not a term
MAX_VARIANTS = 64
_GROUP_RE = re.compile(r"\(([^()]*)\)")


def parse_term(raw: str) -> list[TermPattern]:
    """Compile one term as written in feeds.yaml; ValueError says what is wrong."""
    term = raw.strip()
    if not term.strip("*"):
        raise ValueError(f"term {raw!r} is empty")
    left_free = term.startswith("*")
    right_free = term.endswith("*")
    body = term[1 if left_free else 0 : len(term) - 1 if right_free else len(term)]
    if "*" in body:
        raise ValueError(f"term {raw!r}: '*' may only start or end a term (ракет*, *abwehr*)")
    patterns: dict[str, TermPattern] = {}
    for variant in _expand(raw, body):
        key = " ".join(fold_plain(variant).replace(DASH, " ").split())
        if not key:
            raise ValueError(f"term {raw!r} has nothing left to match after folding")
        unspaced = has_unspaced_script(key)
        if right_free and not unspaced and len(key) < MIN_STEM:
            raise ValueError(f"term {raw!r}: a stem needs {MIN_STEM} letters or more before '*'")
        # "air defense" also matches the closed compound "airdefense"
        spellings = {key, key.replace(" ", "")}
        if not unspaced:
            spellings.update(_dashed(key))
        for spelling in spellings:
            patterns[spelling] = TermPattern(
                spelling, left_free or unspaced, right_free or unspaced
            )
    return list(patterns.values())


#: a term of more words than this gets no spaced-dash spellings (2**gaps keys)
MAX_DASHED_WORDS = 4


def _dashed(key: str) -> list[str]:
    """ "air defense" -> "air – defense": a dash with spaces between the words of a term."""
    words = key.split(" ")
    if not 2 <= len(words) <= MAX_DASHED_WORDS:
        return []
    spellings = []
    for gaps in itertools.product((" ", f" {DASH} "), repeat=len(words) - 1):
        if DASH in "".join(gaps):
            spellings.append(
                words[0] + "".join(g + w for g, w in zip(gaps, words[1:], strict=True))
            )
    return spellings


def dash_joins(before: str, after: str) -> bool:
    """Whether a dash with spaces between two words of a term joins them.

    "air – defence" and "IRIS – T" are a term written with a dash; but a word
    in small letters before the dash and a capitalised one after it start a
    new clause ("fired a missile – Defence Ministry says"), which must not
    make "missile defence".
    """
    return not (before[:1].islower() and after[:1].isupper())


def _expand(raw: str, body: str) -> list[str]:
    """`defen(c|s)e(s)` -> defence, defense, defences, defenses; `hit(s|ting)` -> hit, ..."""
    parts = _GROUP_RE.split(body)
    if any(c in part for part in parts[::2] for c in "()|"):
        raise ValueError(
            f"term {raw!r}: unbalanced or nested brackets; write drone(s) or attack(s|ed)"
        )
    choices: list[list[str]] = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            choices.append([part])
            continue
        options = part.split("|")
        # drone(s) and attack(s|ed|ing) read as optional endings; inside a
        # term, defen(c|s)e is a choice between spellings, and so is a whole
        # term in brackets: (nimmt|nehmen)
        at_end = i == len(parts) - 2 and not parts[-1] and any(parts[:i])
        choices.append(["", *options] if len(options) == 1 or at_end else options)
    variants = ["".join(combo) for combo in itertools.product(*choices)]
    if len(variants) > MAX_VARIANTS:
        raise ValueError(f"term {raw!r} expands to {len(variants)} spellings; split it up")
    return variants


#: "stellt ... ein": the words between two parts of a term (… folds to ...)
_GAP_RE = re.compile(r"\s*(?:\.\.\.|…)\s*")
#: parts of a term with gaps: "nimmt ... wieder auf" has two, more is a mistake
MAX_PARTS = 3


def parse_parts(raw: str) -> list[list[TermPattern]]:
    """Compile a term that may have gaps: `stellt ... ein` -> patterns of each part.

    A term without `...` is one part (see `parse_term`). ValueError says what
    is wrong, naming the term.
    """
    if not _GAP_RE.search(raw):
        return [parse_term(raw)]
    parts = _GAP_RE.split(raw.strip())
    if any(not part.strip("*") for part in parts):
        raise ValueError(
            f"term {raw!r}: '...' stands for the words between two parts of a term;"
            " write words on both sides (stellt ... ein)"
        )
    if len(parts) > MAX_PARTS:
        raise ValueError(f"term {raw!r}: at most {MAX_PARTS} parts (nimmt ... wieder auf)")
    compiled = [parse_term(part) for part in parts]
    if any(has_unspaced_script(p.key) for patterns in compiled for p in patterns):
        raise ValueError(
            f"term {raw!r}: '...' needs words with spaces between them; Japanese and"
            " Chinese terms match anywhere (use near: and within: for context)"
        )
    return compiled


def _ends_re(runs: str, singles: str) -> re.Pattern[str]:
    """`[runs]+(?=\\s|$)|[singles]`: a run of `runs` before a space or the end, or one
    of `singles`. Written to start with one class of both, which the regex engine
    skips to in C: four times as fast as the alternation on a summary."""
    return re.compile(f"[{runs}{singles}](?:(?<=[{singles}])|[{runs}]*(?=\\s|$))")


#: where a sentence ends: . ! ? ; before a space, a Japanese full stop, the field separator
_SENTENCE_END_RE = _ends_re(".!?;", "。！？\x00")
#: where a clause ends, for the parts of a term with gaps: a sentence end, a
#: colon, or a dash with spaces (folded to DASH)
_CLAUSE_END_RE = _ends_re(".!?;:", "。！？\x00" + DASH)
#: what may follow the last part of a term with gaps: punctuation...
_CLOSERS = frozenset(".,;:!?)]}»\"'…\x00" + DASH)
#: ...or a word that starts the next clause (folded)
CONJUNCTIONS = frozenset(
    [
        *("und", "oder", "aber", "sondern", "denn", "doch", "weil", "da", "dass", "nachdem"),
        *("bis", "sobald", "wenn", "als", "um", "während", "obwohl"),
        *("and", "or", "but", "as", "after", "while", "until", "because", "amid"),
        *("і", "й", "та", "але", "бо", "поки", "и", "а", "но", "пока"),
    ]
)


def clause_breaks(text: str) -> list[int]:
    """Positions where a clause ends, for `bisect` (like `sentence_breaks`)."""
    return [m.end() for m in _CLAUSE_END_RE.finditer(text)]


def ends_clause(text: str, end: int) -> bool:
    """Whether the word ending at `end` closes its clause (German: "stellt ... ein.")."""
    while end < len(text) and is_word_char(text[end]):
        end += 1  # a stem part (stell*) ends with its word
    rest = text[end : end + 24].lstrip(" ")
    if not rest or rest[0] in _CLOSERS:
        return True
    return rest.split(" ", 1)[0].rstrip(",.;:!?") in CONJUNCTIONS


def sentence_breaks(text: str) -> list[int]:
    """Positions where a sentence ends, for `bisect` (the sentence of a position)."""
    return [m.end() for m in _SENTENCE_END_RE.finditer(text)]


def sentence_of(breaks: list[int], position: int) -> int:
    """The index of the sentence holding `position`."""
    return bisect_right(breaks, position)


def words_between(text: str, end: int, start: int) -> int:
    """How many words separate a span ending at `end` and one starting at `start`."""
    if start <= end:
        return 0
    # a clause dash between them is no word ("Patriot – system")
    return sum(1 for word in text[end:start].split() if word != DASH)
