"""Raw hits of the automaton and what turns them into hits a rule can count.

    join_gaps   parts of "stellt ... ein" -> hits of the term, when the parts sit
                in order in one clause and the last part closes it
    widen       stems and infixes -> whole words (a compound is one unit)
    longest     hits inside a longer hit drop out ("attack drones" hides "attack")

Everything here works on the folded text of one item (title, NUL, summary).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from bot.match.text import MAX_PARTS, UNSPACED, ends_clause, words_between

#: the most words a gap may hold: a German verb and its particle frame the
#: whole clause ("stellen die Lieferung von Patriot-Raketen an Kiew vorerst ein")
MAX_GAP_WORDS = 12


class RawHit(NamedTuple):
    """A hit in the folded, joined text (tuples: the scan makes many of these).

    `concept` is the concept's index in its topic, or, for one part of a term
    with gaps, `part_code(gap, part)` (negative) until `join_gaps` settles it.
    """

    start: int
    end: int
    concept: int
    term: str


#: `_new_hit(RawHit, (start, end, concept, term))` makes a RawHit in half the time
#: of `RawHit(...)`, whose __new__ is Python code
_new_hit = tuple.__new__


@dataclass(frozen=True, slots=True)
class Gap:
    """A term with gaps (`stellt ... ein`) of one topic's concept."""

    concept: int
    term: str
    parts: int


def part_code(gap: int, part: int) -> int:
    """The negative `RawHit.concept` of part `part` of gap term number `gap`."""
    return -1 - (gap * MAX_PARTS + part)


def join_gaps(
    text: str, hits: list[RawHit], gaps: Sequence[Gap], clause_of: Callable[[int], int]
) -> list[RawHit]:
    """Replace the parts of terms with gaps by hits of their concepts (or drop them)."""
    kept = [hit for hit in hits if hit.concept >= 0]
    if len(kept) == len(hits):
        return hits
    parts: dict[int, list[list[RawHit]]] = {}
    for hit in hits:
        if hit.concept < 0:
            gap, part = divmod(-1 - hit.concept, MAX_PARTS)
            found = parts.setdefault(gap, [[] for _ in range(gaps[gap].parts)])
            found[part].append(hit)
    for gap_index, found in parts.items():
        concept = gaps[gap_index].concept
        for chain in _chains(text, found, clause_of):
            kept.extend(hit._replace(concept=concept) for hit in chain)
    return kept


def _chains(
    text: str, found: list[list[RawHit]], clause_of: Callable[[int], int]
) -> list[list[RawHit]]:
    """Every first part that the other parts follow, in order, in its clause."""
    for options in found:
        options.sort()
    chains = []
    for first in found[0]:
        chain = [first]
        for index, options in enumerate(found[1:], start=2):
            last = index == len(found)
            following = (h for h in options if _follows(text, chain[-1], h, last, clause_of))
            nearest = next(following, None)
            if nearest is None:
                break
            chain.append(nearest)
        else:
            chains.append(chain)
    return chains


def _follows(
    text: str, before: RawHit, hit: RawHit, last: bool, clause_of: Callable[[int], int]
) -> bool:
    if hit.start < before.end or clause_of(hit.start) != clause_of(before.start):
        return False
    if words_between(text, before.end, hit.start) > MAX_GAP_WORDS:
        return False
    return not last or ends_clause(text, hit.end)


def widen(text: str, hits: list[RawHit]) -> list[RawHit]:
    """Widen every hit to whole words before overlaps are settled.

    A compound is one unit: "Lieferstopp" is a supply hit and a halt hit of
    the same span, so neither hides the other; and highlights cover ракетами,
    not ракет.
    """
    widened = []
    for hit in hits:
        start, end = whole_word(text, hit.start, hit.end)
        if start == hit.start and end == hit.end:
            widened.append(hit)  # most hits are whole words: no new tuple
        else:
            widened.append(_new_hit(RawHit, (start, end, hit.concept, hit.term)))
    return widened


def whole_word(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a stem or infix hit to its whole word (ракет* -> ракетами), for highlighting."""
    # is_word_char inlined: most hits are whole words already, and this runs for each
    while start > 0 and text[start - 1].isalnum() and text[start - 1] < UNSPACED:
        start -= 1
    size = len(text)
    while end < size and text[end].isalnum() and text[end] < UNSPACED:
        end += 1
    return start, end


def _longest_first(hit: RawHit) -> tuple[int, int]:
    return hit.start, hit.start - hit.end


def longest(hits: list[RawHit]) -> list[RawHit]:
    """Drop hits inside a longer hit: "attack drones" (a weapon) hides "attack"."""
    if len(hits) < 2:
        return hits
    hits.sort(key=_longest_first)
    kept: list[RawHit] = []
    reach_start, reach_end = -1, -1
    for hit in hits:
        inside = reach_start <= hit.start and hit.end <= reach_end
        if inside and (hit.end - hit.start) < (reach_end - reach_start):
            continue
        kept.append(hit)
        if hit.end > reach_end:
            reach_start, reach_end = hit.start, hit.end
    return kept
