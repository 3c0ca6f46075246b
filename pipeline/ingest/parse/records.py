"""What the parsers produce: rows ready for insert, grouped per batch."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(1970, 1, 1)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}


class ShapeError(ValueError):
    """A JSON value that is not any message this pipeline knows."""


def from_millis(ms: int | str) -> datetime:
    """Naive UTC from milliseconds since the epoch (v1.1 ``timestamp_ms``)."""
    return EPOCH + timedelta(milliseconds=int(ms))


def from_v1_time(text: str) -> datetime:
    """Naive UTC from ``Wed Oct 10 20:19:24 +0000 2018``; 10x cheaper than strptime."""
    if text[20:25] != "+0000":
        return (
            datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y").astimezone(UTC).replace(tzinfo=None)
        )
    return datetime(
        int(text[26:30]), _MONTHS[text[4:7]], int(text[8:10]),
        int(text[11:13]), int(text[14:16]), int(text[17:19]),
    )  # fmt: skip


def from_iso(text: str) -> datetime:
    """Naive UTC from an ISO-8601 time such as ``2021-04-01T15:52:31.000Z``."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


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
