"""The shape of a topic in feeds.yaml (validated by pydantic at start-up).

Placeholder schema: the matcher (issue 4) extends it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConceptSpec(BaseModel):
    """A set of terms and aliases, in any language, that mean one thing."""

    model_config = ConfigDict(extra="forbid")

    terms: list[str] = Field(min_length=1)


class TopicSpec(BaseModel):
    """A topic: concepts combined with all / any / not."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str = ""
    concepts: dict[str, ConceptSpec] = Field(default_factory=dict)
    all_of: list[str] = Field(default_factory=list, alias="all")
    any_of: list[str] = Field(default_factory=list, alias="any")
    none_of: list[str] = Field(default_factory=list, alias="not")
    threshold: float = 1.0
