"""Payload builders for notifier tests (the shapes of bot/store/outbox.py)."""

from __future__ import annotations

from typing import Any


def alert(
    title: str = "Drone strike on Kyiv power plant",
    link: str | None = "https://news.example/kyiv?id=1&lang=en",
    **over: Any,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "title": title,
        "link": link,
        "feed": "Example News",
        "published_at": "2026-11-27T07:30:00+00:00",
        "lang": "en",
        "topics": ["energy", "war"],
        "why": [
            {
                "topic": "energy",
                "score": 2.5,
                "hits": [
                    {"concept": "plant", "term": "power plant", "field": "title", "at": [21, 32]},
                    {"concept": "city", "term": "Kyiv", "field": "title", "at": [15, 19]},
                ],
                "snippet": "…a drone hit the power plant in Kyiv overnight…",
            }
        ],
        "summary": "A drone hit the power plant in Kyiv overnight.",
    }
    payload.update(over)
    return payload


def digest(
    items_per_topic: int, *, topics: tuple[str, ...] = ("war",), title: str = "x"
) -> dict[str, Any]:
    return {
        "title": "Daily digest, 27 Nov",
        "sections": [
            {
                "topic": topic,
                "items": [
                    {
                        "title": f"{title} {topic} {i}",
                        "link": f"https://news.example/{topic}/{i}",
                        "feed": "Example News",
                        "published_at": "2026-11-27T07:30:00+00:00",
                        "sources": 1 + i % 3,
                    }
                    for i in range(items_per_topic)
                ],
                "more": 3,
            }
            for topic in topics
        ],
    }
