"""What the parsers produce: rows ready for insert, grouped per batch."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


class ShapeError(ValueError):
    """A JSON value that is not any message this pipeline knows."""


@dataclass(slots=True)
class TweetRecord:
    """One tweet to store: its row, its children, and where it came from."""

    row: dict[str, Any]
    hashtags: tuple[str, ...]
    mentions: tuple[int, ...]
    rules: tuple[str, ...]
    embedded: bool
    payload: dict[str, Any]
    terms: tuple[int, ...] = ()

    @property
    def id(self) -> int:
        return int(self.row["id"])


@dataclass(slots=True)
class LineResult:
    """Everything one line yielded; merged into the batch only if the whole line parsed."""

    tweets: list[TweetRecord] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ParsedBatch:
    """A batch after parsing and in-batch dedupe."""

    tweets: dict[int, TweetRecord] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    deletes: dict[int, dict[str, Any]] = field(default_factory=dict)
    notices: Counter[str] = field(default_factory=Counter)
    dead: list[tuple[str, bytes]] = field(default_factory=list)
    lines: int = 0
    duplicates: int = 0

    def merge(self, result: LineResult) -> None:
        for record in result.tweets:
            known = self.tweets.get(record.id)
            if known is None or (known.embedded and not record.embedded):
                self.tweets[record.id] = record
            elif not record.embedded:
                self.duplicates += 1
        for user in result.users:
            seen = self.users.get(user["id"])
            if seen is None or seen["profile_at"] <= user["profile_at"]:
                self.users[user["id"]] = user
        for delete in result.deletes:
            self.deletes.setdefault(delete["tweet_id"], delete)
        self.notices.update(result.notices)
