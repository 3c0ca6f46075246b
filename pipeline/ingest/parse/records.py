"""What the parsers produce: rows ready for insert, grouped per batch."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

# Ids go into BIGINT columns: 0 to 2**63 - 1.
ID_LIMIT = 2**63


class ShapeError(ValueError):
    """A JSON value that is not any message this pipeline knows."""


def fit_id(value: int, what: str, key: str) -> int:
    """``value`` if it can be a tweet or user id; else a ShapeError naming ``what``'s ``key``."""
    if 0 <= value < ID_LIMIT:
        return value
    raise ShapeError(f"{what} '{key}' {value} is out of range: ids run from 0 to 2**63 - 1")


@dataclass(slots=True)
class TweetRecord:
    """One tweet to store: its row, its children, and where it came from.

    ``source`` is the tweet's JSON object: its bytes (decoded only when ``payload`` is read) or,
    from a parser that decoded it whole anyway, the object itself.
    """

    row: dict[str, Any]
    hashtags: tuple[str, ...]
    mentions: tuple[int, ...]
    rules: tuple[str, ...]
    embedded: bool
    source: bytes | dict[str, Any]
    terms: tuple[int, ...] = ()

    @property
    def id(self) -> int:
        return int(self.row["id"])

    @property
    def payload(self) -> dict[str, Any]:
        """The tweet's JSON object, decoded (again, on each read) from ``source``."""
        source = self.source
        if not isinstance(source, bytes):
            return source
        try:
            decoded: dict[str, Any] = orjson.loads(source)
        except orjson.JSONDecodeError:
            # A number beyond a double (1e400) in a field msgspec skipped: orjson refuses it.
            decoded = json.loads(source)
        return decoded


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
