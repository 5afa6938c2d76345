"""The topic matcher: every term of every topic in one automaton, rules evaluated on hits.

    compile   TopicSpecs -> one Aho-Corasick automaton over folded term keys
    match     fold title + summary once, scan once, keep hits whose word
              boundaries fit, then per topic that was hit: longest hits win,
              context (`near`/`within`) filters, then all / any / not and score

Scanning cost does not grow with the number of topics, only with the text and
the hits; topics without a hit are never looked at, and neither are topics
whose required concepts were not all seen (`_Gate`: most news matches nothing,
and its hits are words like "aid" or "sales"). Hit positions are in the
original title or summary, so renderers can highlight them. A topic's rules
are applied to its hits by bot/match/scoring.py.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick

from bot.errors import RuleError
from bot.match.hits import Gap, RawHit, join_gaps, longest, part_code, widen
from bot.match.scoring import (
    CompiledTopic,
    Scan,
    compile_topic,
    could_match,
    evaluate_topic,
)
from bot.match.spec import TopicSpec
from bot.match.text import (
    DASH,
    UNSPACED,
    Folded,
    dash_joins,
    fold_any,
    parse_parts,
)
from bot.types import Item, Match

#: joins title and summary into one scan; no key contains it, so no hit spans both
_SEPARATOR = "\x00"
#: pyahocorasick finds a character among a node's children by a linear search, in
#: the order the keys were added; a space starts no key, so each space searched
#: all the first characters of all keys: this key puts the space first ("A" is
#: never in folded text, and it carries no entries)
_SPACE_KEY = " A"
#: `_new_hit(RawHit, (start, end, concept, term))` makes a RawHit in half the time
#: of `RawHit(...)`, whose __new__ is Python code
_new_hit = tuple.__new__
#: how many sets of bits a matcher remembers the passing topics of
_CANDIDATE_CACHE = 4096
#: the same linear search makes the order of a node's children matter: Latin
#: letters go in the order of how often news uses them (English's), the space
#: before them and other characters after them, in code point order; the bench
#: farm's English text scans in 7-9% less time than with the keys sorted
_LETTER_ORDER = " etaoinsrhldcumfpgwybvkxjqz"
_RANK = {char: rank for rank, char in enumerate(_LETTER_ORDER)}


class _Entry(NamedTuple):
    """What one automaton key means for one topic's concept."""

    topic: int
    #: the concept's index, or a part of a term with gaps (hits.part_code)
    concept: int
    term: str


class _Shape(NamedTuple):
    """The entries of one automaton key whose ends sit the same way in a word."""

    left_free: bool
    right_free: bool
    entries: tuple[_Entry, ...]
    #: the bits (see `_Bits`) of the entries' topics and concepts or parts
    bits: int


#: per key, the (entries, bits) of its shapes that fit where a hit's ends sit, at
#: [2 * (a word character before it) + (one after it)]: the scan looks them up
#: instead of testing each shape
_Fits = tuple[tuple[tuple[tuple[_Entry, ...], int], ...], ...]


def _fits(shapes: tuple[_Shape, ...]) -> _Fits:
    return tuple(
        tuple(
            (shape.entries, shape.bits)
            for shape in shapes
            if (shape.left_free or not before) and (shape.right_free or not after)
        )
        for before in (False, True)
        for after in (False, True)
    )


@dataclass(frozen=True, slots=True)
class _Gate:
    """Which bits a topic's hits must have set before they are worth building.

    A cheap first look, like `could_match` but before any RawHit exists: a
    concept is seen when its bit is, or every part of one of its terms with gaps.
    """

    #: every bit of the topic: none set, no hit
    bits: int
    #: one group per `all` concept, and one for all of `any`: some mask of each
    #: group must have all its bits set
    needs: tuple[tuple[int, ...], ...]

    def passes(self, seen: int) -> bool:
        if not seen & self.bits:
            return False
        return all(any(seen & mask == mask for mask in group) for group in self.needs)


class _Bits:
    """Numbers every (topic, concept or part) that has a term, for `_Gate`."""

    def __init__(self) -> None:
        self._bits: dict[tuple[int, int], int] = {}
        #: (topic, concept) -> the masks that each mean the concept was seen
        self._masks: dict[tuple[int, int], list[int]] = {}

    def of(self, topic: int, code: int) -> int:
        """The bit of a concept (`code` >= 0) or of a part of a term with gaps."""
        return self._bits.setdefault((topic, code), 1 << len(self._bits))

    def add_term(self, topic: int, concept: int, codes: list[int]) -> None:
        """A term of `concept`: seen when all its `codes` (one, or its parts) are."""
        mask = 0
        for code in codes:
            mask |= self.of(topic, code)
        masks = self._masks.setdefault((topic, concept), [])
        if mask not in masks:
            masks.append(mask)

    def gate(self, index: int, topic: CompiledTopic) -> _Gate:
        bits = 0
        for (owner, _), bit in self._bits.items():
            bits |= bit if owner == index else 0
        needs = [self._seen_as(index, concept) for concept in sorted(topic.all_of)]
        if topic.any_of:
            needs.append(tuple(m for c in sorted(topic.any_of) for m in self._seen_as(index, c)))
        return _Gate(bits, tuple(needs))

    def _seen_as(self, topic: int, concept: int) -> tuple[int, ...]:
        return tuple(self._masks.get((topic, concept), ()))


class TopicMatcher:
    """Matches items against every configured topic in one pass."""

    def __init__(
        self,
        topics: tuple[CompiledTopic, ...],
        automata: tuple[ahocorasick.Automaton, ahocorasick.Automaton],
        gaps: tuple[Gap, ...],
        gap_topics: frozenset[int],
        gates: tuple[_Gate, ...],
    ) -> None:
        self._topics = topics
        #: every key, and the ASCII keys only: ASCII text (most English news)
        #: scans the smaller automaton in less time, with the same hits
        self._automaton, self._ascii_automaton = automata
        self._empty = len(self._automaton) == 0
        #: terms with gaps, numbered across topics (see hits.part_code)
        self._gaps = gaps
        #: the topics that have terms with gaps (the others skip join_gaps)
        self._gap_topics = gap_topics
        #: per topic, what the scan must have seen for it to be worth a look
        self._gates = gates
        # news repeats the same few sets of bits ("aid", "sales"...): remember their topics
        self._candidates = functools.lru_cache(maxsize=_CANDIDATE_CACHE)(self._passing)

    @property
    def topics(self) -> tuple[str, ...]:
        """Topic names, in configuration order."""
        return tuple(topic.name for topic in self._topics)

    @classmethod
    def compile(cls, topics: Mapping[str, TopicSpec]) -> TopicMatcher:
        """Build the matcher; RuleError names the topic and term that cannot compile."""
        compiled: list[CompiledTopic] = []
        gaps: list[Gap] = []
        gap_topics: set[int] = set()
        bits = _Bits()
        keys: dict[str, dict[tuple[bool, bool], list[_Entry]]] = {}
        for index, (name, spec) in enumerate(topics.items()):
            compiled.append(compile_topic(name, spec))
            for concept_index, (concept_name, concept) in enumerate(spec.concepts.items()):
                for term in concept.terms:
                    try:
                        parts = parse_parts(term)
                    except ValueError as e:
                        raise RuleError(f"topic {name!r}: concept {concept_name!r}: {e}") from None
                    if len(parts) > 1:
                        gaps.append(Gap(concept_index, term, len(parts)))
                        gap_topics.add(index)
                    # a part of a term with gaps counts once join_gaps settles it
                    codes = (
                        [concept_index]
                        if len(parts) == 1
                        else [part_code(len(gaps) - 1, part) for part in range(len(parts))]
                    )
                    bits.add_term(index, concept_index, codes)
                    for code, patterns in zip(codes, parts, strict=True):
                        for pattern in patterns:
                            shape = (pattern.left_free, pattern.right_free)
                            shapes = keys.setdefault(pattern.key, {})
                            shapes.setdefault(shape, []).append(_Entry(index, code, term))
        gates = tuple(bits.gate(index, topic) for index, topic in enumerate(compiled))
        automata = _automata(keys, bits)
        return cls(tuple(compiled), automata, tuple(gaps), frozenset(gap_topics), gates)

    def match_item(self, item: Item) -> list[Match]:
        """Match a normalized item (title and summary)."""
        return self.match(item.title, item.summary, item.lang)

    def match(self, title: str, summary: str = "", lang: str | None = None) -> list[Match]:
        """Every topic the text matches, in configuration order, each with its hits.

        `lang` is accepted as a hint; terms carry their own script rules, so
        mixed-language items (a Latin "Patriot" in Japanese text) work without it.
        """
        if self._empty:
            return []
        if _SEPARATOR in title:  # a stray NUL would move the field boundary
            title = title.replace(_SEPARATOR, " ")
        joined = f"{title}{_SEPARATOR}{summary}"
        folded = fold_any(joined)
        text = folded if isinstance(folded, str) else folded.text
        found, seen = self._hits(text, folded, joined)
        if not seen:
            return []
        candidates = self._candidates(seen)
        if not candidates:
            return []
        if isinstance(folded, str):  # only now worth building (most items stop above)
            folded = Folded(folded)
        per_topic = _group(found, candidates)
        scan = Scan(folded, folded.text.index(_SEPARATOR), len(title) + 1)
        matches = []
        for topic_index, hits in per_topic.items():
            topic = self._topics[topic_index]
            if topic_index in self._gap_topics:
                hits = join_gaps(folded.text, hits, self._gaps, scan.clause)
            if not could_match(topic, hits):
                continue
            hits = widen(folded.text, hits)
            match = evaluate_topic(topic, scan, longest(hits), title, summary)
            if match is not None:
                matches.append(match)
        return matches

    def _passing(self, seen: int) -> tuple[int, ...]:
        """The topics whose gates pass with the bits `seen`."""
        return tuple(index for index, gate in enumerate(self._gates) if gate.passes(seen))

    def _scan(self, folded: Folded, original: str) -> tuple[list[_Found], int]:
        """Every key hit whose word boundaries fit, and the bits of all their entries."""
        return self._hits(folded.text, folded, original)

    def _hits(self, text: str, folded: str | Folded, original: str) -> tuple[list[_Found], int]:
        """`_scan` of `text`, folded from `original` (`folded`: see text.fold_any)."""
        # only ASCII keys can hit ASCII text (most English news): a smaller automaton
        automaton = self._ascii_automaton if text.isascii() else self._automaton
        # the hot loop: word-boundary checks are inlined (see text.is_word_char)
        found: list[_Found] = []
        seen = 0
        size = len(text)
        for last, (length, dashed, fits) in automaton.iter(text):
            end = last + 1
            start = end - length
            if dashed and not _dashes_join(folded, original, start, end):
                continue
            char = text[start - 1] if start else " "
            index = 2 if char.isalnum() and char < UNSPACED else 0
            char = text[end] if end < size else " "
            if char.isalnum() and char < UNSPACED:
                index += 1
            for entries, bits in fits[index]:
                seen |= bits
                found.append((start, end, entries))
        return found, seen


#: a key hit that fits its word boundaries: start, end and the entries it stands for
_Found = tuple[int, int, tuple[_Entry, ...]]


def _group(found: list[_Found], topics: tuple[int, ...]) -> dict[int, list[RawHit]]:
    """The hits of `topics` (in order), each topic's in the order they were found."""
    per_topic: dict[int, list[RawHit]] = {topic: [] for topic in topics}
    get = per_topic.get
    for start, end, entries in found:
        for topic, concept, term in entries:
            hits = get(topic)
            if hits is not None:
                hits.append(_new_hit(RawHit, (start, end, concept, term)))
    return per_topic


def _automata(
    keys: dict[str, dict[tuple[bool, bool], list[_Entry]]], bits: _Bits
) -> tuple[ahocorasick.Automaton, ahocorasick.Automaton]:
    """An automaton over every key and one over the ASCII keys, which alone can hit
    ASCII text; each has the space first (see _SPACE_KEY), then the keys in
    `_key_order`. The bench farm's English text scans in 16% less time than with
    one automaton of sorted keys (which took a quarter less than feeds.yaml's order)."""
    values = {}
    for key in sorted(keys, key=_key_order):
        shapes = tuple(
            _Shape(left, right, tuple(entries), _bits_of(entries, bits))
            for (left, right), entries in keys[key].items()
        )
        values[key] = (len(key), DASH in key, _fits(shapes))
    ascii_values = {key: value for key, value in values.items() if key.isascii()}
    return _build(values), _build(ascii_values)


def _key_order(key: str) -> tuple[int, ...]:
    """Sorts keys so that each node of the trie lists its children in `_RANK` order."""
    return tuple(_RANK.get(char, len(_RANK) + ord(char)) for char in key)


def _build(values: dict[str, tuple[int, bool, _Fits]]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    if not values:
        return automaton
    automaton.add_word(_SPACE_KEY, (len(_SPACE_KEY), False, ()))
    for key, value in values.items():
        automaton.add_word(key, value)
    automaton.make_automaton()
    return automaton


def _bits_of(entries: list[_Entry], bits: _Bits) -> int:
    mask = 0
    for entry in entries:
        mask |= bits.of(entry.topic, entry.concept)
    return mask


def _dashes_join(folded: str | Folded, original: str, start: int, end: int) -> bool:
    """Whether every clause dash inside a hit of "air – defence" joins words of the term."""
    if isinstance(folded, str):
        folded = Folded(folded)
    for position in range(start, end):
        if folded.text[position] == DASH:
            at = folded.original_span(position, position + 1)[0]
            before, after = original[:at].split(), original[at + 1 :].split()
            if not before or not after or not dash_joins(before[-1], after[0]):
                return False
    return True
