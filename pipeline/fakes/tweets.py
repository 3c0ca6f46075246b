"""Format-free tweets, as both simulators build them before rendering them as v1.1 or v2 JSON:
the tweet, its entities and the clipping of a text to a length limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.fakes.people import User

__all__ = ["ELLIPSIS", "V1_LIMIT", "V2_LIMIT", "Link", "Span", "Tweet", "clip"]

V1_LIMIT = 140
V2_LIMIT = 280
ELLIPSIS = "…"


@dataclass(slots=True, frozen=True)
class Span:
    """An entity's [start, end) in code points; value is a tag, a User or a Link."""

    start: int
    end: int
    kind: str
    value: Any


@dataclass(slots=True, frozen=True)
class Link:
    """A t.co link with what it expands to."""

    url: str
    expanded_url: str
    display_url: str


@dataclass(slots=True, eq=False)
class Tweet:
    """A format-free tweet; its counters grow as later tweets reply to, retweet or quote it."""

    id: int
    ms: int
    user: User
    text: str
    spans: list[Span]
    lang: str
    conversation_id: int
    source: str = ""  # only v1.1 shows it
    reply_to: Tweet | None = None
    retweet_of: Tweet | None = None
    quote_of: Tweet | None = None
    retweet_count: int = 0
    reply_count: int = 0
    quote_count: int = 0
    favorite_count: int = 0
    deleted: bool = False


def clip(text: str, spans: list[Span], limit: int) -> tuple[str, list[Span]]:
    """Cut text to `limit` code points ending in "…", keeping only entities that still fit."""
    if len(text) <= limit:
        return text, spans
    cut = limit - 1
    return text[:cut] + ELLIPSIS, [s for s in spans if s.end <= cut]
