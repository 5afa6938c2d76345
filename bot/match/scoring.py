"""A compiled topic's rules, applied to its hits in one item. Pure.

    compile_topic   TopicSpec -> CompiledTopic (concept names become indexes)
    could_match     the required concepts are all among the hits (a cheap first look)
    evaluate_topic  context (`near`/`within`) filters, then all / any / not, the
                    score, and the Match with its hits in the original text
    snippet         the text around the hits, marked «like this»

bot/match/topics.py finds the hits (one scan for every topic) and calls these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.errors import RuleError
from bot.match.hits import RawHit
from bot.match.spec import TopicSpec, Window
from bot.match.text import Folded, clause_breaks, sentence_breaks, sentence_of, words_between
from bot.types import Hit, Match

__all__ = [
    "SNIPPET_CHARS",
    "CompiledTopic",
    "Scan",
    "compile_topic",
    "could_match",
    "evaluate_topic",
    "snippet",
]

Field = Literal["title", "summary"]
#: the snippet is about this long, cut around the first hit
SNIPPET_CHARS = 160
_MARK_OPEN, _MARK_CLOSE = "«", "»"


@dataclass(frozen=True, slots=True)
class Concept:
    name: str
    weight: float
    near: frozenset[int]
    window: Window


@dataclass(frozen=True, slots=True)
class CompiledTopic:
    name: str
    concepts: tuple[Concept, ...]
    all_of: frozenset[int]
    any_of: frozenset[int]
    none_of: frozenset[int]
    threshold: float
    title_weight: float
    summary_weight: float
    #: all_of | any_of: the concepts that count towards the score
    positive: frozenset[int]
    #: per concept, whether it has `near` (only those hits need a context look)
    has_near: tuple[bool, ...]


@dataclass(slots=True)
class Scan:
    """One item, folded and joined, with lazily computed sentence breaks."""

    folded: Folded
    #: where the separator is in the folded text, and where the summary starts
    #: in the original joined text
    title_len: int
    summary_offset: int
    _breaks: list[int] | None = None
    _clauses: list[int] | None = None

    def field_of(self, position: int) -> Field:
        return "title" if position < self.title_len else "summary"

    def sentence(self, position: int) -> int:
        if self._breaks is None:
            self._breaks = sentence_breaks(self.folded.text)
        return sentence_of(self._breaks, position)

    def clause(self, position: int) -> int:
        if self._clauses is None:
            self._clauses = clause_breaks(self.folded.text)
        return sentence_of(self._clauses, position)


def compile_topic(name: str, spec: TopicSpec) -> CompiledTopic:
    order = {concept: i for i, concept in enumerate(spec.concepts)}

    def indexes(names: list[str], key: str) -> frozenset[int]:
        for concept in names:
            if concept not in order:
                raise RuleError(f"topic {name!r}: {key}: {concept!r} is not a concept")
        return frozenset(order[concept] for concept in names)

    concepts = []
    for concept_name, concept in spec.concepts.items():
        try:
            window = concept.window
        except ValueError as e:
            raise RuleError(f"topic {name!r}: concept {concept_name!r}: {e}") from None
        near = indexes(concept.near, f"concept {concept_name!r}: near")
        concepts.append(Concept(concept_name, concept.weight, near, window))
    all_of, any_of = indexes(spec.all_of, "all"), indexes(spec.any_of, "any")
    return CompiledTopic(
        name=name,
        concepts=tuple(concepts),
        all_of=all_of,
        any_of=any_of,
        none_of=indexes(spec.none_of, "not"),
        threshold=spec.threshold,
        title_weight=spec.title_weight,
        summary_weight=spec.summary_weight,
        positive=all_of | any_of,
        has_near=tuple(bool(concept.near) for concept in concepts),
    )


def could_match(topic: CompiledTopic, hits: list[RawHit]) -> bool:
    """A second look, once gaps are joined: context and overlaps only ever remove hits."""
    present = {hit.concept for hit in hits}
    if not topic.all_of <= present:
        return False
    return not topic.any_of or not topic.any_of.isdisjoint(present)


def in_context(topic: CompiledTopic, hit: RawHit, hits: list[RawHit], scan: Scan) -> bool:
    """Whether a hit of a concept with `near` has a context hit within its window."""
    concept = topic.concepts[hit.concept]
    unit, size = concept.window
    field = scan.field_of(hit.start)
    for other in hits:
        if other.concept not in concept.near:
            continue
        if unit == "item":
            return True
        if scan.field_of(other.start) != field:
            continue
        if unit == "field":
            return True
        if unit == "sentence":
            if scan.sentence(other.start) == scan.sentence(hit.start):
                return True
            continue
        first, second = (hit, other) if hit.start <= other.start else (other, hit)
        if unit == "chars" and second.start - first.end <= size:
            return True
        if unit == "words" and words_between(scan.folded.text, first.end, second.start) <= size:
            return True
    return False


def evaluate_topic(
    topic: CompiledTopic, scan: Scan, hits: list[RawHit], title: str, summary: str
) -> Match | None:
    """Apply all / any / not / threshold to one topic's hits."""
    has_near = topic.has_near
    counted = [
        hit for hit in hits if not has_near[hit.concept] or in_context(topic, hit, hits, scan)
    ]
    present = {hit.concept for hit in counted}
    if present & topic.none_of or not topic.all_of <= present:
        return None
    if topic.any_of and not topic.any_of & present:
        return None
    positive = topic.positive
    best: dict[int, float] = {}
    for hit in counted:
        if hit.concept in positive:
            weight = topic.title_weight if hit.start < scan.title_len else topic.summary_weight
            best[hit.concept] = max(best.get(hit.concept, 0.0), weight)
    score = sum(topic.concepts[c].weight * weight for c, weight in best.items())
    if score < topic.threshold:
        return None
    shown = tuple(to_hit(topic, hit, scan) for hit in counted if hit.concept in positive)
    return Match(topic.name, score, shown, snippet(title, summary, shown))


def to_hit(topic: CompiledTopic, hit: RawHit, scan: Scan) -> Hit:
    start, end = scan.folded.original_span(hit.start, hit.end)
    field: Field = "title"
    if hit.start > scan.title_len:
        field = "summary"
        # offsets in the joined text count the title and the separator
        start, end = start - scan.summary_offset, end - scan.summary_offset
    return Hit(topic.concepts[hit.concept].name, hit.term, field, start, end)


def snippet(title: str, summary: str, hits: tuple[Hit, ...]) -> str:
    """About SNIPPET_CHARS of the title (or summary) with the hits marked «like this»."""
    field: Field = "title" if any(h.field == "title" for h in hits) else "summary"
    text = title if field == "title" else summary
    spans = sorted({(h.start, h.end) for h in hits if h.field == field})
    if not spans:
        return text[:SNIPPET_CHARS]
    lo = max(0, min(spans[0][0] - SNIPPET_CHARS // 3, len(text) - SNIPPET_CHARS))
    hi = min(len(text), lo + SNIPPET_CHARS)
    out, cursor = [], lo
    for start, end in spans:
        if start < cursor or end > hi:
            continue  # overlapping or cut off by the window: leave unmarked
        out += [text[cursor:start], _MARK_OPEN, text[start:end], _MARK_CLOSE]
        cursor = end
    out.append(text[cursor:hi])
    return ("…" if lo > 0 else "") + "".join(out) + ("…" if hi < len(text) else "")
