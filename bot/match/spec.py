"""The shape of a topic in feeds.yaml, validated by pydantic at start-up.

A topic is built from **concepts**. A concept is one idea written every way
people write it, in any language; the topic then says which concepts must
appear together (`all`), which of a set is enough (`any`) and which veto an
item (`not`):

    topics:
      air_defense:
        description: Air and missile defence systems, supply and intercepts.
        threshold: 2              # score needed (default 1, see "Score" below)
        concepts:
          system: [air defen(c|s)e, NASAMS, IRIS-T, 防空システム, ППО, *abwehr*]
          patriot:
            terms: [Patriot(s), MIM-104, PAC-3, パトリオット, Петріот*, Пэтриот*]
            near: [military]      # counts only with a military word...
            within: sentence      # ...in the same sentence
          military: [missile(s), batter(y|ies), launcher(s), ракет*]
          nfl: [New England, NFL, quarterback, touchdown(s)]
        any: [system, patriot]
        not: [nfl]

**Terms** are written plainly; case, width (full-width Latin, half-width
katakana), ё/е, apostrophes (’ ' ʼ), dashes and the katakana long vowel mark
do not matter (bot/match/text.py folds them). A few marks say how a term sits
in a word:

    Patriot        a whole word: does not match "patriotic" or "Patriots"
    Patriot(s)     an optional ending: Patriot, Patriots
    attack(s|ed)   optional endings: attack, attacks, attacked
    defen(c|s)e    inside a term, a choice of spellings: defence, defense
    ракет*         a stem: ракета, ракети, ракетами (3 letters or more)
    *abwehr*       anywhere inside a word (German compounds: Flugabwehrsystem)
    *abwehr        the end of a word: Flugabwehr, Luftabwehr
    air defense    also matches air-defense, airdefense and "air – defense"
                   (a dash with spaces; but not "the air – Defense Ministry
                   says": a small word before the dash and a capital after
                   it start a new clause)
    パトリオット    Japanese and Chinese terms match anywhere: no word boundaries
    stellt ... ein a gap: German separable verbs ("stellt die Lieferungen ein")
    (nimmt|nehmen) ... wieder auf
                   a whole term in brackets is a choice: nimmt, nehmen

A term with gaps (`...` or `…`, up to three parts) matches when its parts
come in order in one clause (a sentence end, a colon or a dash with spaces
ends a clause), at most 12 words apart, and the last part closes the clause:
punctuation, the end of the title or summary, or a conjunction (und, oder,
and...) follows it. So "stellt ... ein" finds "Die USA stellen die Lieferungen
vorerst ein." but not "stellt ein neues Paket vor". Each part is a term of
its own (stems and endings work); Japanese and Chinese parts are refused,
since those terms match anywhere anyway (use `near:` for context).

**Concepts** are either a list of terms or a mapping with `terms` and:

- `near: [concepts]` and `within:` — a hit counts only when one of those
  concepts also hits close by. `within` is `sentence` (default), `8 words`,
  `40 chars`, `field` (same title or summary) or `item` (anywhere).
- `weight:` — how much the concept adds to the score (default 1).

When hits overlap, the longest wins: list `attack drone(s)` under a weapon
concept and the "attack" inside it no longer counts as an attack. A concept
that no `all`/`any`/`not` names does nothing else, which is how to say "this
longer phrase is something else": `other: [Patriot Act, cyber attack]`. Hits
are compared as whole words, so a compound carries every concept it holds
(`*lieferstopp` as a supply and `*stopp` as a halt both count in
"US-Lieferstopp").

Windows in words count the words written between the two hits (a dash is no
word); Japanese and Chinese have no spaces, so there `8 words` reaches the end
of the sentence.

**Score**: every concept of `all` and `any` that hits adds its weight times
`title_weight` (default 2) when it hits in the title, else times
`summary_weight` (default 1). The topic matches when every `all` concept hits,
at least one `any` concept hits (when `any` is given), no `not` concept hits,
and the score reaches `threshold` (default 1).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.match.text import parse_parts

Window = tuple[Literal["sentence", "words", "chars", "field", "item"], int]

_WITHIN_RE = re.compile(r"^\s*(\d+)\s*(words?|chars?|characters?)\s*$")


def parse_within(value: str) -> Window:
    """`sentence`, `field`, `item`, `8 words` or `40 chars` -> (unit, size)."""
    text = value.strip().lower()
    if text in ("sentence", "field", "item"):
        return (text, 0)  # type: ignore[return-value]
    match = _WITHIN_RE.match(text)
    if match is None or int(match.group(1)) <= 0:
        raise ValueError(
            f"within: {value!r} is not a window; write sentence, field, item, 8 words or 40 chars"
        )
    unit: Literal["words", "chars"] = "words" if match.group(2).startswith("w") else "chars"
    return (unit, int(match.group(1)))


class ConceptSpec(BaseModel):
    """A set of terms and aliases, in any language, that mean one thing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    terms: list[str] = Field(min_length=1)
    #: the concept counts only when one of these concepts hits within `within`
    near: list[str] = Field(default_factory=list)
    within: str = "sentence"
    weight: float = Field(default=1.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _terms_alone(cls, data: Any) -> Any:
        # `system: [NASAMS, IRIS-T]` is short for `system: {terms: [NASAMS, IRIS-T]}`
        return {"terms": data} if isinstance(data, list) else data

    @field_validator("terms")
    @classmethod
    def _compile_terms(cls, terms: list[str]) -> list[str]:
        for term in terms:
            parse_parts(term)  # raises ValueError naming the term
        return terms

    @field_validator("within")
    @classmethod
    def _check_within(cls, value: str) -> str:
        parse_within(value)
        return value

    @property
    def window(self) -> Window:
        return parse_within(self.within)


class TopicSpec(BaseModel):
    """A topic: concepts combined with all / any / not, and a score threshold."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    description: str = ""
    concepts: dict[str, ConceptSpec] = Field(min_length=1)
    all_of: list[str] = Field(default_factory=list, alias="all")
    any_of: list[str] = Field(default_factory=list, alias="any")
    none_of: list[str] = Field(default_factory=list, alias="not")
    threshold: float = Field(default=1.0, ge=0)
    title_weight: float = Field(default=2.0, gt=0)
    summary_weight: float = Field(default=1.0, gt=0)

    @field_validator("concepts")
    @classmethod
    def _check_near(cls, concepts: dict[str, ConceptSpec]) -> dict[str, ConceptSpec]:
        for name, concept in concepts.items():
            for other in concept.near:
                if other not in concepts:
                    raise ValueError(f"concept {name!r}: near: {_unknown(other, concepts)}")
                if other == name:
                    raise ValueError(f"concept {name!r}: near: a concept cannot be near itself")
        return concepts

    @model_validator(mode="after")
    def _check_references(self) -> TopicSpec:
        if not self.all_of and not self.any_of:
            raise ValueError("a topic needs `all` or `any` (which concepts make a match)")
        for key, names in (("all", self.all_of), ("any", self.any_of), ("not", self.none_of)):
            for name in names:
                if name not in self.concepts:
                    raise ValueError(f"{key}: {_unknown(name, self.concepts)}")
        return self


def _unknown(name: str, concepts: dict[str, ConceptSpec]) -> str:
    known = ", ".join(sorted(concepts))
    return f"{name!r} is not a concept of this topic (known: {known})"
